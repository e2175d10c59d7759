//! Stand-ins for the chat services `notify` posts to: a Slack incoming
//! webhook, Slack's Web API (`chat.postMessage`), a Teams Workflows webhook
//! and a Mattermost incoming webhook. Each checks the method, the path, the
//! credential, the content type and the fields the service requires, and
//! answers with the service's documented shapes, errors included.

#![allow(dead_code)] // each test uses part of it

use serde_json::{Value, json};

use crate::standin::{Recorded, Reply, StandIn, json};

/// What a stand-in accepted: each message's body, in order.
#[derive(Debug, Default)]
pub struct Posts {
    pub messages: Vec<Value>,
}

impl Posts {
    fn take(&mut self, body: Value) -> usize {
        self.messages.push(body);
        self.messages.len()
    }
}

/// The messages a stand-in accepted.
pub fn posted(s: &StandIn<Posts>) -> Vec<Value> {
    s.with_state(|p| p.messages.clone())
}

fn text_reply(status: u16, body: &str) -> Reply {
    Reply::new(status, body).header("Content-Type", "text/plain")
}

fn has_text(v: &Value) -> bool {
    v.as_str().is_some_and(|t| !t.trim().is_empty())
}

// ---------------------------------------------------------------- Slack

/// Slack needs `text`, or `blocks` with at least one block.
fn has_text_or_blocks(body: &Value) -> bool {
    has_text(&body["text"]) || body["blocks"].as_array().is_some_and(|b| !b.is_empty())
}

/// The path of the one incoming webhook the Slack stand-in knows.
pub const SLACK_HOOK_PATH: &str = "/services/T0SLIPWAY/B0NOTIFY/hookSecret42";

/// A Slack incoming webhook: `POST` of JSON with `text` or `blocks`; `ok` in
/// plain text; error strings with a 4xx (`no_service` for an unknown URL,
/// `invalid_payload`, `no_text`).
pub fn slack_webhook() -> StandIn<Posts> {
    StandIn::start(Posts::default(), |req: &Recorded, posts: &mut Posts| {
        if req.route() != SLACK_HOOK_PATH {
            return text_reply(404, "no_service");
        }
        if req.method != "POST" {
            return text_reply(405, "invalid_method");
        }
        if !req.header("content-type").is_some_and(|v| v.starts_with("application/json")) {
            return text_reply(400, "invalid_payload");
        }
        let Some(body) = req.json() else { return text_reply(400, "invalid_payload") };
        if !has_text_or_blocks(&body) {
            return text_reply(400, "no_text");
        }
        posts.take(body);
        text_reply(200, "ok")
    })
}

/// The bot token the Web API stand-in takes.
pub const SLACK_TOKEN: &str = "xoxb-1111-2222-standInBotToken";

/// Channels the Web API stand-in knows: by id, and `#name` for the first.
pub const SLACK_CHANNEL: &str = "C0DEPLOYS1";
pub const SLACK_ARCHIVED: &str = "C0ARCHIVED";

fn slack_error(code: &str) -> Reply {
    json(200, json!({ "ok": false, "error": code }))
}

/// Slack's Web API under `/api`: `chat.postMessage` with `Authorization:
/// Bearer`, JSON in UTF-8, a `channel` and `text` or `blocks`. Errors are
/// HTTP 200 with `ok: false` (`not_authed`, `invalid_auth`,
/// `channel_not_found`, `is_archived`, `no_text`, `thread_not_found`).
pub fn slack_api() -> StandIn<Posts> {
    StandIn::start(Posts::default(), |req: &Recorded, posts: &mut Posts| {
        if req.route() != "/api/chat.postMessage" {
            return json(404, json!({ "ok": false, "error": "unknown_method" }));
        }
        if req.method != "POST" {
            return json(405, json!({ "ok": false, "error": "method_not_supported_for_channel_type" }));
        }
        match req.header("authorization") {
            None => return slack_error("not_authed"),
            Some(v) if v != format!("Bearer {SLACK_TOKEN}") => return slack_error("invalid_auth"),
            Some(_) => {}
        }
        // JSON needs its charset said: Slack warns `missing_charset` otherwise.
        if req.header("content-type") != Some("application/json; charset=utf-8") {
            return slack_error("invalid_form_data");
        }
        let Some(mut body) = req.json() else { return slack_error("invalid_json") };
        let channel = match body["channel"].as_str() {
            Some("#deploys") | Some(SLACK_CHANNEL) => SLACK_CHANNEL,
            Some(SLACK_ARCHIVED) => return slack_error("is_archived"),
            _ => return slack_error("channel_not_found"),
        };
        if !has_text_or_blocks(&body) {
            return slack_error("no_text");
        }
        if let Some(ts) = body.get("thread_ts") {
            let known = posts.messages.iter().any(|m| m["ts"] == *ts);
            if !known {
                return slack_error("thread_not_found");
            }
        }
        let ts = format!("1700000000.{:06}", posts.messages.len() + 1);
        body["ts"] = Value::String(ts.clone());
        posts.take(body.clone());
        json(200, json!({ "ok": true, "channel": channel, "ts": ts, "message": { "type": "message", "text": body["text"], "ts": ts } }))
    })
}

// ---------------------------------------------------------------- Teams

/// The path and signature of the one Teams workflow the stand-in knows.
pub const TEAMS_PATH: &str = "/workflows/0f1e2d3c/triggers/manual/paths/invoke";
pub const TEAMS_SIG: &str = "teamsSig-Abc123";

/// The full query a Workflows URL carries.
pub fn teams_url(s: &StandIn<Posts>) -> String {
    s.url(&format!("{TEAMS_PATH}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"))
}

fn teams_error(status: u16, code: &str, message: &str) -> Reply {
    json(status, json!({ "error": { "code": code, "message": message } }))
}

/// A Teams Workflows webhook: `POST` of a `message` whose first attachment is
/// an Adaptive Card; the `sig` query parameter is the credential. Success is
/// `202 Accepted` with an empty body.
pub fn teams() -> StandIn<Posts> {
    StandIn::start(Posts::default(), |req: &Recorded, posts: &mut Posts| {
        if req.route() != TEAMS_PATH {
            return teams_error(404, "TriggerNotFound", "the workflow was not found");
        }
        if req.query("sig").as_deref() != Some(TEAMS_SIG) {
            return teams_error(401, "DirectApiAuthorizationRequired", "the request must be signed");
        }
        if req.method != "POST" {
            return teams_error(405, "MethodNotAllowed", "POST only");
        }
        if !req.header("content-type").is_some_and(|v| v.starts_with("application/json")) {
            return teams_error(415, "UnsupportedMediaType", "expected application/json");
        }
        let Some(body) = req.json() else { return teams_error(400, "InvalidRequestContent", "the body is not JSON") };
        let card = &body["attachments"][0];
        let ok = body["type"] == "message"
            && card["contentType"] == "application/vnd.microsoft.card.adaptive"
            && card["content"]["type"] == "AdaptiveCard"
            && card["content"]["body"].is_array();
        if !ok {
            return teams_error(400, "InvalidRequestContent", "expected a message with an Adaptive Card attachment");
        }
        posts.take(body);
        Reply::new(202, "")
    })
}

// ---------------------------------------------------------------- Mattermost

/// The one hook key the Mattermost stand-in knows, and the channels it may post to.
pub const MATTERMOST_PATH: &str = "/hooks/mmHookKey0123456789";
pub const MATTERMOST_CHANNELS: &[&str] = &["town-square", "deploys"];

fn mattermost_error(status: u16, id: &str, message: &str) -> Reply {
    json(status, json!({ "id": id, "message": message, "detailed_error": "", "request_id": "r1", "status_code": status }))
}

/// A Mattermost incoming webhook: `POST` of JSON with `text`, an optional
/// `channel` (a name or `@user`) and `username`. Success is 200 `ok`.
pub fn mattermost() -> StandIn<Posts> {
    StandIn::start(Posts::default(), |req: &Recorded, posts: &mut Posts| {
        if !req.route().starts_with("/hooks/") {
            return Reply::new(404, "404 page not found");
        }
        if req.route() != MATTERMOST_PATH {
            return mattermost_error(400, "web.incoming_webhook.invalid.app_error", "Invalid webhook.");
        }
        if req.method != "POST" {
            return Reply::new(405, "");
        }
        if !req.header("content-type").is_some_and(|v| v.starts_with("application/json")) {
            return mattermost_error(400, "web.incoming_webhook.parse.app_error", "Unable to parse incoming data.");
        }
        let Some(body) = req.json() else {
            return mattermost_error(400, "web.incoming_webhook.parse.app_error", "Unable to parse incoming data.");
        };
        if !has_text(&body["text"]) {
            return mattermost_error(400, "web.incoming_webhook.text.app_error", "No text specified.");
        }
        if let Some(c) = body["channel"].as_str()
            && !c.starts_with('@')
            && !MATTERMOST_CHANNELS.contains(&c)
        {
            return mattermost_error(400, "web.incoming_webhook.channel.app_error", "Couldn't find the channel.");
        }
        posts.take(body);
        text_reply(200, "ok")
    })
}

// ---------------------------------------------------------------- the stand-ins themselves

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// One request over a plain socket: the status and the body.
    fn send(addr: std::net::SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        s.write_all(format!("{head}\r\n{body}").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
    }

    const JSON: (&str, &str) = ("Content-Type", "application/json");

    #[test]
    fn the_slack_webhook_takes_text_or_blocks_and_says_ok() {
        let s = slack_webhook();
        assert_eq!(send(s.addr, "POST", SLACK_HOOK_PATH, &[JSON], r#"{"text":"hi"}"#), (200, "ok".into()));
        assert_eq!(send(s.addr, "POST", SLACK_HOOK_PATH, &[JSON], r#"{"blocks":[{"type":"divider"}]}"#).0, 200);
        assert_eq!(send(s.addr, "POST", SLACK_HOOK_PATH, &[JSON], r#"{"text":""}"#), (400, "no_text".into()));
        assert_eq!(send(s.addr, "POST", SLACK_HOOK_PATH, &[], r#"{"text":"hi"}"#), (400, "invalid_payload".into()));
        assert_eq!(send(s.addr, "POST", "/services/T0/B0/wrong", &[JSON], r#"{"text":"hi"}"#), (404, "no_service".into()));
        assert_eq!(posted(&s).len(), 2);
    }

    #[test]
    fn the_slack_api_checks_token_charset_channel_and_text() {
        let s = slack_api();
        let auth = format!("Bearer {SLACK_TOKEN}");
        let ok_headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json; charset=utf-8")];
        let error = |r: (u16, String)| serde_json::from_str::<Value>(&r.1).unwrap()["error"].as_str().map(str::to_owned);
        let path = "/api/chat.postMessage";
        let (status, body) = send(s.addr, "POST", path, &ok_headers, r##"{"channel":"#deploys","text":"hi"}"##);
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((status, &answer["ok"], &answer["channel"]), (200, &json!(true), &json!(SLACK_CHANNEL)));
        let ts = answer["ts"].as_str().unwrap();
        let reply = format!(r#"{{"channel":"{SLACK_CHANNEL}","text":"re","thread_ts":"{ts}"}}"#);
        assert_eq!(send(s.addr, "POST", path, &ok_headers, &reply).0, 200);
        assert_eq!(
            error(send(s.addr, "POST", path, &[ok_headers[1]], r#"{"channel":"C0DEPLOYS1","text":"hi"}"#)).as_deref(),
            Some("not_authed")
        );
        let bad = [("Authorization", "Bearer xoxb-nope"), ok_headers[1]];
        assert_eq!(error(send(s.addr, "POST", path, &bad, r#"{"channel":"C0DEPLOYS1","text":"hi"}"#)).as_deref(), Some("invalid_auth"));
        let plain = [ok_headers[0], JSON];
        assert_eq!(
            error(send(s.addr, "POST", path, &plain, r#"{"channel":"C0DEPLOYS1","text":"hi"}"#)).as_deref(),
            Some("invalid_form_data")
        );
        assert_eq!(error(send(s.addr, "POST", path, &ok_headers, r#"{"text":"hi"}"#)).as_deref(), Some("channel_not_found"));
        assert_eq!(error(send(s.addr, "POST", path, &ok_headers, r#"{"channel":"C0DEPLOYS1"}"#)).as_deref(), Some("no_text"));
        let lost = r#"{"channel":"C0DEPLOYS1","text":"x","thread_ts":"1.2"}"#;
        assert_eq!(error(send(s.addr, "POST", path, &ok_headers, lost)).as_deref(), Some("thread_not_found"));
        assert_eq!(posted(&s).len(), 2);
    }

    #[test]
    fn teams_wants_a_signed_message_with_an_adaptive_card_and_accepts_with_202() {
        let s = teams();
        let path = teams_url(&s).split_once(&s.addr.to_string()).unwrap().1.to_owned();
        let card = r#"{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"type":"AdaptiveCard","version":"1.4","body":[]}}]}"#;
        assert_eq!(send(s.addr, "POST", &path, &[JSON], card), (202, String::new()));
        assert_eq!(send(s.addr, "POST", TEAMS_PATH, &[JSON], card).0, 401);
        assert_eq!(send(s.addr, "POST", &path, &[JSON], r#"{"type":"message","attachments":[]}"#).0, 400);
        assert_eq!(send(s.addr, "POST", &path, &[], card).0, 415);
        assert_eq!(posted(&s).len(), 1);
    }

    #[test]
    fn mattermost_wants_text_and_a_channel_it_knows() {
        let s = mattermost();
        assert_eq!(send(s.addr, "POST", MATTERMOST_PATH, &[JSON], r#"{"text":"hi","channel":"deploys"}"#), (200, "ok".into()));
        assert_eq!(send(s.addr, "POST", MATTERMOST_PATH, &[JSON], r#"{"text":"hi","channel":"@alice"}"#).0, 200);
        assert!(send(s.addr, "POST", MATTERMOST_PATH, &[JSON], r#"{"channel":"deploys"}"#).1.contains("No text"));
        assert!(send(s.addr, "POST", MATTERMOST_PATH, &[JSON], r#"{"text":"hi","channel":"nope"}"#).1.contains("channel"));
        assert!(send(s.addr, "POST", "/hooks/other", &[JSON], r#"{"text":"hi"}"#).1.contains("Invalid webhook"));
        assert_eq!(posted(&s).len(), 2);
    }
}
