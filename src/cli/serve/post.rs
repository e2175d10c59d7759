//! Posting what a chat run does. With a bot token, every message goes to one
//! thread through `chat.postMessage` (the first starts it); without one, to the
//! command's `response_url`, which Slack accepts for 30 minutes: a message
//! later than that is logged as undeliverable (docs/chatops.md advises the
//! token for long deploys).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::server::{Server, Who};

/// How long Slack takes posts to a `response_url`.
const RESPONSE_URL_LIFE: Duration = Duration::from_secs(30 * 60);

pub struct Thread {
    who: Who,
    asked_at: Instant,
    /// `chat.postMessage`'s `ts` and channel of the first message.
    thread: Option<(String, String)>,
}

impl Thread {
    pub fn new(who: Who) -> Thread {
        Thread { who, asked_at: Instant::now(), thread: None }
    }

    /// Whether this goes to a thread (all messages) or a response_url (start and end only).
    pub fn threaded(&self, server: &Server) -> bool {
        server.slack_token.is_some() && self.who.platform == "slack"
    }

    pub async fn post(&mut self, server: &Server, text: &str) {
        let escaped;
        let text = if self.who.platform == "slack" {
            escaped = escape(text);
            &escaped
        } else {
            text
        };
        match (&server.slack_token, self.who.platform) {
            (Some(token), "slack") => self.post_message(server, token, text).await,
            _ => self.respond(server, text).await,
        }
    }

    async fn post_message(&mut self, server: &Server, token: &str, text: &str) {
        let mut body = json!({ "channel": self.who.channel, "text": text });
        if let Some((ts, channel)) = &self.thread {
            body["thread_ts"] = Value::String(ts.clone());
            body["channel"] = Value::String(channel.clone());
        }
        let url = format!("{}/chat.postMessage", server.slack_api);
        let sent = server
            .http
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(r) => {
                let answer: Value = r.text().await.ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
                if answer["ok"] != Value::Bool(true) {
                    tracing::warn!(error = %answer["error"], "chat.postMessage refused a run message");
                } else if self.thread.is_none() {
                    let field = |k: &str| answer[k].as_str().map(str::to_owned);
                    self.thread = field("ts").zip(field("channel"));
                }
            }
            Err(e) => tracing::warn!("chat.postMessage failed: {e}"),
        }
    }

    async fn respond(&self, server: &Server, text: &str) {
        let Some(url) = &self.who.response_url else {
            tracing::warn!("undeliverable (the command had no response_url): {text}");
            return;
        };
        if self.asked_at.elapsed() > RESPONSE_URL_LIFE {
            tracing::warn!("undeliverable (the response_url expired after 30 minutes; set `slack.token`): {text}");
            return;
        }
        let body = json!({ "response_type": "in_channel", "replace_original": false, "text": text });
        if let Err(e) = server.http.post(url).header("content-type", "application/json").body(body.to_string()).send().await {
            tracing::warn!("posting to the response_url failed: {e}");
        }
    }
}

/// Text as Slack shows it literally: `&`, `<` and `>` escaped, as Slack asks.
/// A commit subject or a typed alias holding `<!channel>` then pings nobody.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
