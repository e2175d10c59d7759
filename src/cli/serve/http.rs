//! The HTTP side: routes, verification before anything else, and the answers'
//! shapes. Unverified requests get 401 and run nothing; every verified command
//! gets 200 (Slack shows any other status as a failure), with an ephemeral
//! message when it is refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::dispatch::{self, Reply};
use super::post;
use super::server::{Server, Who, locked};
use super::verify;
use crate::cli::exit;

type Shared = State<Arc<Server>>;

pub async fn serve(server: Server, listen: &str) -> i32 {
    let server = Arc::new(server);
    let app = Router::new()
        .route("/slack/commands", post(slack_command))
        .route("/slack/interactions", post(slack_interaction))
        .route("/mattermost/commands", post(mattermost_command))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(server.clone());
    let listener = match bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return exit::USAGE;
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| listen.to_owned());
    // Tests and supervisors read this line to learn the port (`--listen 127.0.0.1:0`).
    println!("listening on http://{addr}");
    tracing::info!(%addr, "slipway serve listening");
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await {
        eprintln!("error: the server stopped: {e}");
    }
    // Graceful: the runs started from chat end before the server does.
    let mut said = false;
    while !locked(&server.runs).is_empty() {
        if !said {
            eprintln!("waiting for {} deploy(s) started from chat to end", locked(&server.runs).len());
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    exit::OK
}

/// Connections waiting to be accepted. A burst past the queue loses SYNs, which
/// clients resend only after a second: measured with 200 commands at once, the
/// default queue overflowed now and then and those answers took 1 s.
const BACKLOG: u32 = 4096;

async fn bind(listen: &str) -> std::io::Result<tokio::net::TcpListener> {
    let addr = tokio::net::lookup_host(listen)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the address resolves to nothing"))?;
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    eprintln!("stopping: no new commands; running deploys go on to their end");
}

async fn metrics(State(server): Shared) -> Response {
    let running = locked(&server.runs).len();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], server.metrics.render(running)).into_response()
}

fn unverified(server: &Server, why: impl std::fmt::Display) -> Response {
    server.metrics.unverified();
    tracing::warn!("refused a request: {why}");
    (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

fn now_secs() -> u64 {
    slipway_engine::runid::now_secs()
}

async fn slack_command(State(server): Shared, headers: HeaderMap, body: Bytes) -> Response {
    server.metrics.request("slack_commands");
    let Some(secret) = &server.slack_secret else { return unverified(&server, "slack is not configured") };
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(why) = verify::slack(secret, h("x-slack-request-timestamp"), h("x-slack-signature"), &body, now_secs(), &server.seen) {
        return unverified(&server, why);
    }
    let f = form(&body);
    let who = who("slack", &f);
    let text = f.get("text").cloned().unwrap_or_default();
    answer(dispatch::command(&server, who, &text).await, true)
}

async fn mattermost_command(State(server): Shared, body: Bytes) -> Response {
    server.metrics.request("mattermost_commands");
    let Some(token) = &server.mattermost_token else { return unverified(&server, "mattermost is not configured") };
    let f = form(&body);
    if let Err(why) = verify::mattermost(token, f.get("token").map(String::as_str)) {
        return unverified(&server, why);
    }
    // Mattermost names users by name; allow rules list those names.
    let mut who = who("mattermost", &f);
    who.user_id = who.user_name.clone();
    let text = f.get("text").cloned().unwrap_or_default();
    answer(dispatch::command(&server, who, &text).await, false)
}

async fn slack_interaction(State(server): Shared, headers: HeaderMap, body: Bytes) -> Response {
    server.metrics.request("slack_interactions");
    let Some(secret) = &server.slack_secret else { return unverified(&server, "slack is not configured") };
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(why) = verify::slack(secret, h("x-slack-request-timestamp"), h("x-slack-signature"), &body, now_secs(), &server.seen) {
        return unverified(&server, why);
    }
    let payload: Value = form(&body).get("payload").and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let user = &payload["user"];
    let who = Who {
        platform: "slack",
        user_id: text(&user["id"]),
        user_name: text(user.get("username").or_else(|| user.get("name")).unwrap_or(&Value::Null)),
        channel: text(&payload["channel"]["id"]),
        response_url: payload["response_url"].as_str().map(str::to_owned),
    };
    let action = &payload["actions"][0];
    let reply = dispatch::button(&server, who, &text(&action["action_id"]), &text(&action["value"])).await;
    if reply.refused {
        server.metrics.refused();
    }
    answer(reply, true)
}

fn who(platform: &'static str, f: &HashMap<String, String>) -> Who {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    Who {
        platform,
        user_id: get("user_id"),
        user_name: get("user_name"),
        channel: get("channel_id"),
        response_url: f.get("response_url").filter(|u| u.starts_with("https://") || u.starts_with("http://")).cloned(),
    }
}

/// The JSON answer; Slack's text escaped (see [`post::escape`]).
fn answer(reply: Reply, slack: bool) -> Response {
    let text = if slack { post::escape(&reply.text) } else { reply.text };
    let mut body = json!({
        "response_type": if reply.public { "in_channel" } else { "ephemeral" },
        "text": text,
    });
    if let Some(blocks) = reply.blocks {
        body["blocks"] = blocks;
    }
    if reply.replace {
        body["replace_original"] = Value::Bool(true);
    }
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
