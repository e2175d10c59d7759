//! `slipway serve` under test: a sandbox with a chat-ops config and a small
//! pipeline, the server on a loopback port, requests signed exactly as Slack
//! documents, and a Slack stand-in that records what is posted to
//! `chat.postMessage` and to `response_url`s.

#![allow(dead_code)] // each test uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::sandbox::Sandbox;
use crate::standin::{Recorded, Reply, StandIn, require};

pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const BOT_TOKEN: &str = "xoxb-test-bot-token-1234";
pub const MM_TOKEN: &str = "mattermost-command-token";

/// The pipeline: a ticket output, and a wait long enough for a second command to meet the lock.
pub const PIPELINE: &str = r#"version: 1
name: restaurant-api
params:
  environment: { required: true, choices: [staging, production] }
  build_id: { default: "1" }
  wait: { default: "0" }
stages:
  ticket:
    kind: shell
    env: { B: "{{ params.build_id }}", E: "{{ params.environment }}", W: "{{ params.wait }}" }
    run: |
      sleep "$W"
      echo "ticket_key=OPS-$B" >> "$SLIPWAY_OUTPUT"
    outputs: [ticket_key]
"#;

pub fn config(slack_api: &str, token: bool) -> String {
    let token = if token { "  token: { env: SLACK_BOT_TOKEN }\n" } else { "" };
    format!(
        "version: 1\nslack:\n  signing_secret: {{ env: SLACK_SIGNING_SECRET }}\n{token}  api_base: {slack_api}\n\
         mattermost:\n  token: {{ env: MATTERMOST_COMMAND_TOKEN }}\n\
         aliases:\n  restaurant-api:\n    pipeline: ../pipelines/api.yaml\n    environments: [staging, production]\n    chat_params: [build_id, wait]\n\
         allow:\n  - users: [U024BE7LH, U0BOB, carol]\n    channels: [C0DEPLOYS, mmchan]\n    aliases: [restaurant-api]\n    environments: [staging, production]\n  - users: [U0STAGING]\n    aliases: [restaurant-api]\n    environments: [staging]\n\
         confirm:\n  - aliases: [restaurant-api]\n    environments: [production]\n"
    )
}

/// What the Slack stand-in keeps: each message posted, in order.
#[derive(Default)]
pub struct Posted {
    pub messages: Vec<Value>,
}

/// Slack: `chat.postMessage` checks the bot token, the JSON body and its
/// required `channel` and `text`, and answers `ok` with a `ts`; `/response/*`
/// stands for response_urls.
pub fn slack_standin() -> StandIn<Posted> {
    StandIn::start(Posted::default(), |req: &Recorded, st: &mut Posted| {
        if req.route() == "/api/chat.postMessage" {
            if let Err(r) = require(req, "POST", Some("application/json"), Some(("authorization", &format!("Bearer {BOT_TOKEN}")))) {
                return r;
            }
            let Some(body) = req.json().filter(|b| b["channel"].is_string() && b["text"].is_string()) else {
                return crate::standin::json(200, json!({ "ok": false, "error": "invalid_arguments" }));
            };
            let ts = format!("1700000000.{:06}", st.messages.len() + 1);
            let channel = body["channel"].clone();
            st.messages.push(body);
            return crate::standin::json(200, json!({ "ok": true, "ts": ts, "channel": channel }));
        }
        if req.route().starts_with("/response/") {
            if let Err(r) = require(req, "POST", Some("application/json"), None) {
                return r;
            }
            st.messages.push(req.json().unwrap_or(Value::Null));
            return Reply::new(200, "ok");
        }
        Reply::new(404, "no such route")
    })
}

pub struct Served {
    pub sb: Sandbox,
    pub slack: StandIn<Posted>,
    child: Child,
    pub addr: String,
    stopped: bool,
}

impl Served {
    pub fn start(name: &str, token: bool) -> Served {
        Served::start_with(name, token, PIPELINE, &[])
    }

    /// With another pipeline (its params as [`PIPELINE`]'s) and more environment variables.
    pub fn start_with(name: &str, token: bool, pipeline: &str, env: &[(&str, &str)]) -> Served {
        let sb = Sandbox::new(name);
        std::fs::create_dir_all(sb.path("pipelines")).unwrap();
        std::fs::create_dir_all(sb.path("deploy")).unwrap();
        sb.write("pipelines/api.yaml", pipeline);
        let slack = slack_standin();
        sb.write("deploy/chatops.yaml", &config(&slack.url("/api"), token));
        let state = sb.path(".slipway");
        let mut cmd =
            sb.command(&["serve", "--config", "deploy/chatops.yaml", "--listen", "127.0.0.1:0", "--state-dir", state.to_str().unwrap()]);
        cmd.env("SLACK_SIGNING_SECRET", SECRET).env("SLACK_BOT_TOKEN", BOT_TOKEN).env("MATTERMOST_COMMAND_TOKEN", MM_TOKEN);
        cmd.envs(env.iter().copied()).env("RUST_LOG", "warn");
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start slipway serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("no listening line: {line:?}")).to_owned();
        Served { sb, slack, child, addr, stopped: false }
    }

    /// A slash command's form body, as Slack sends it.
    pub fn command_body(&self, user: &str, channel: &str, text: &str, response: &str) -> String {
        form(&[
            ("token", "unused-legacy-token"),
            ("team_id", "T0001"),
            ("channel_id", channel),
            ("user_id", user),
            ("user_name", &name_of(user)),
            ("command", "/deploy"),
            ("text", text),
            ("response_url", &self.slack.url(&format!("/response/{response}"))),
            ("trigger_id", &trigger_id()),
        ])
    }

    /// A signed `/deploy` from Slack: (status, body).
    pub fn slack(&self, user: &str, channel: &str, text: &str) -> (u16, String) {
        let body = self.command_body(user, channel, text, "cmd");
        self.signed("/slack/commands", &body, &now().to_string())
    }

    /// A button press from Slack's interactive message.
    pub fn press(&self, user: &str, action: &str, value: &str) -> (u16, String) {
        let payload = json!({
            "type": "block_actions",
            "trigger_id": trigger_id(),
            "user": { "id": user, "username": name_of(user) },
            "channel": { "id": "C0DEPLOYS" },
            "response_url": self.slack.url("/response/button"),
            "actions": [{ "action_id": action, "value": value, "type": "button" }]
        });
        let body = form(&[("payload", &payload.to_string())]);
        self.signed("/slack/interactions", &body, &now().to_string())
    }

    pub fn signed(&self, path: &str, body: &str, timestamp: &str) -> (u16, String) {
        let signature = sign(SECRET, timestamp, body);
        self.post(path, body, &[("X-Slack-Request-Timestamp", timestamp), ("X-Slack-Signature", &signature)])
    }

    pub fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
        http(&self.addr, "POST", path, body, headers)
    }

    /// Messages posted to Slack so far, once at least `n` are there.
    pub fn posted(&self, n: usize) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got = self.slack.with_state(|s| s.messages.clone());
            if got.len() >= n || start.elapsed() > Duration::from_secs(30) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until no run from chat is going (per `/metrics`).
    pub fn idle(&self) {
        let start = Instant::now();
        while !http(&self.addr, "GET", "/metrics", "", &[]).1.contains("slipway_serve_runs_running 0") {
            assert!(start.elapsed() < Duration::from_secs(30), "runs never ended");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Served {
    /// SIGTERM, as a supervisor stops the server; its exit code once it has ended.
    pub fn stop(&mut self) -> Option<i32> {
        self.stopped = true;
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Slack gives every request a trigger id of its own: two commands alike are two requests.
fn trigger_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!("13345224609.738474920.{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

pub fn name_of(user: &str) -> String {
    match user {
        "U024BE7LH" => "alice".into(),
        "U0BOB" => "bob".into(),
        other => other.to_lowercase(),
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`, as Slack documents it.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!("v0={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One HTTP/1.1 request on its own connection: (status, body).
pub fn http(addr: &str, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to slipway serve");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if method == "POST" {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The JSON answer's `text`.
pub fn text_of(body: &str) -> String {
    serde_json::from_str::<Value>(body).ok().and_then(|v| v["text"].as_str().map(str::to_owned)).unwrap_or_else(|| body.to_owned())
}
