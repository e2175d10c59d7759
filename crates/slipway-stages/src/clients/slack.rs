//! Slack: an incoming webhook (answers a bare `ok`, or an error string with a
//! 4xx) and `chat.postMessage` with a bot token (answers HTTP 200 even on
//! errors, with `ok: false` and an error code). Neither has idempotency: a
//! message whose answer is lost may be posted twice when it is sent again.

use serde_json::{Map, Value};
use slipway_engine::runtime::StageError;
use slipway_engine::secrets::Masker;

use super::request::{Reply, Request};

pub const DEFAULT_API_BASE: &str = "https://slack.com/api";

/// A message as both endpoints take it.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// The text; with `blocks`, the notification's fallback.
    pub text: String,
    pub blocks: Option<Value>,
    /// A channel id (`C0123456789`) or `#name`; incoming webhooks made by a
    /// Slack app post to their own channel and ignore it.
    pub channel: Option<String>,
    /// The `ts` of the message to reply under.
    pub thread_ts: Option<String>,
}

impl Message {
    fn body(&self) -> Value {
        let mut body = Map::new();
        if let Some(channel) = &self.channel {
            body.insert("channel".into(), Value::String(channel.clone()));
        }
        body.insert("text".into(), Value::String(self.text.clone()));
        if let Some(blocks) = &self.blocks {
            body.insert("blocks".into(), blocks.clone());
        }
        if let Some(ts) = &self.thread_ts {
            body.insert("thread_ts".into(), Value::String(ts.clone()));
        }
        Value::Object(body)
    }
}

/// The POST to an incoming webhook URL.
pub fn webhook(url: String, message: &Message) -> Request {
    Request::post(url).json(message.body())
}

/// The POST to `chat.postMessage` under `api_base`, with the bot token.
pub fn post_message(api_base: &str, token: &str, message: &Message) -> Request {
    Request::post(format!("{}/chat.postMessage", api_base.trim_end_matches('/')))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json; charset=utf-8")
        .json(message.body())
}

/// Whether an incoming webhook took the message. 429 and 5xx are transient;
/// a 4xx carries an error string (`no_service`, `channel_not_found`, …) that
/// will not change on a retry. `url_origin` names where the URL comes from.
pub fn webhook_reply(reply: &Reply, masker: &Masker, url_origin: &str) -> Result<(), StageError> {
    reply.check(masker).map_err(|e| {
        let code = reply.body.trim();
        let hint = match code {
            "no_service" | "invalid_token" | "no_team" | "team_disabled" | "no_active_hooks" => {
                format!("the webhook URL is wrong or was revoked: check {url_origin}")
            }
            "channel_not_found" | "channel_is_archived" => "the webhook's channel is gone or archived: make a new webhook".into(),
            "action_prohibited" | "posting_to_general_channel_denied" => {
                "a workspace admin restricts posting to this channel: ask them, or use another channel".into()
            }
            "invalid_payload" | "no_text" | "invalid_blocks" | "invalid_blocks_format" => {
                "Slack refused the message's shape: check `message` and `slack.blocks`".into()
            }
            _ => String::new(),
        };
        with_hint(e, &hint)
    })?;
    Ok(())
}

/// Where `chat.postMessage` put a message: the `ts` that threads replies, and
/// the channel id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub ts: String,
    pub channel: String,
}

/// The answer of `chat.postMessage`: `ok: true` with `ts` and `channel`, or
/// `ok: false` with an error code. `ratelimited` is transient (with the
/// answer's `Retry-After`); every other code is permanent, with a hint for
/// the usual ones. `token_origin` names where the token comes from.
pub fn post_message_reply(reply: &Reply, masker: &Masker, token_origin: &str) -> Result<Posted, StageError> {
    reply.check(masker)?;
    let json = reply.json()?;
    if json["ok"] == Value::Bool(true) {
        let field = |name: &str| json[name].as_str().map(str::to_owned);
        return match (field("ts"), field("channel")) {
            (Some(ts), Some(channel)) => Ok(Posted { ts, channel }),
            _ => {
                Err(StageError::permanent(format!("{}: the answer has no `ts` and `channel`: is `slack.api_base` Slack's API?", reply.url)))
            }
        };
    }
    let code = json["error"].as_str().unwrap_or("(no error code)");
    // `invalid_blocks` and friends say what is wrong here.
    let details: Vec<&str> = json["response_metadata"]["messages"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut message = format!("{}: chat.postMessage answered `{code}`", reply.url);
    if !details.is_empty() {
        message.push_str(&format!(" ({})", details.join("; ")));
    }
    let message = masker.mask(&message);
    if code == "ratelimited" {
        let wait = reply.header("retry-after").and_then(|v| slipway_engine::retry::parse_retry_after(v, slipway_engine::runid::now_secs()));
        return Err(StageError::transient(message).retry_after(wait));
    }
    let hint = match code {
        "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked" | "token_expired" | "not_allowed_token_type" => {
            format!("the bot token is missing, wrong or revoked: check {token_origin} (a bot token starts with `xoxb-`)")
        }
        "missing_scope" | "no_permission" => {
            format!("the token in {token_origin} needs the `chat:write` scope: add it and reinstall the app")
        }
        "channel_not_found" => "check `slack.channel`: a channel id (`C0123456789`) or a name the bot can see".into(),
        "not_in_channel" => "invite the app to the channel (`/invite @app`), or give it the `chat:write.public` scope".into(),
        "is_archived" => "the channel is archived: unarchive it or pick another `slack.channel`".into(),
        "msg_too_long" => "the message is longer than Slack takes (40,000 characters): shorten `message`".into(),
        "no_text" | "invalid_blocks" | "invalid_blocks_format" | "too_many_attachments" => "check `message` and `slack.blocks`".into(),
        "thread_not_found" | "invalid_thread_ts" => "check `slack.thread_ts`: the `ts` of a message in this channel".into(),
        _ => String::new(),
    };
    Err(with_hint(StageError::permanent(message), &hint))
}

fn with_hint(e: StageError, hint: &str) -> StageError {
    if hint.is_empty() { e } else { StageError { message: format!("{}: {hint}", e.message), ..e } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use slipway_engine::runtime::ErrorClass;

    fn reply(status: u16, body: &str, retry_after: Option<&str>) -> Reply {
        let mut headers = HeaderMap::new();
        if let Some(v) = retry_after {
            headers.insert("retry-after", v.parse().unwrap());
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.into(),
            url: "https://slack.test/api/chat.postMessage".into(),
        }
    }

    #[test]
    fn post_message_answers_are_classified() {
        let m = Masker::default();
        let ok = reply(200, r#"{"ok":true,"channel":"C1","ts":"1503435956.000247","message":{}}"#, None);
        assert_eq!(post_message_reply(&ok, &m, "x").unwrap(), Posted { ts: "1503435956.000247".into(), channel: "C1".into() });
        let limited = post_message_reply(&reply(200, r#"{"ok":false,"error":"ratelimited"}"#, Some("2")), &m, "x").unwrap_err();
        assert_eq!((limited.class, limited.retry_after), (ErrorClass::Transient, Some(std::time::Duration::from_secs(2))));
        let auth =
            post_message_reply(&reply(200, r#"{"ok":false,"error":"invalid_auth"}"#, None), &m, "the secret `SLACK_BOT`").unwrap_err();
        assert_eq!(auth.class, ErrorClass::Permanent);
        assert!(auth.message.contains("`invalid_auth`") && auth.message.contains("the secret `SLACK_BOT`"), "{}", auth.message);
        let blocks = r#"{"ok":false,"error":"invalid_blocks","response_metadata":{"messages":["[ERROR] missing required field: text [json-pointer:/blocks/0/text]"]}}"#;
        let e = post_message_reply(&reply(200, blocks, None), &m, "x").unwrap_err();
        assert!(e.message.contains("/blocks/0/text"), "{}", e.message);
        assert_eq!(post_message_reply(&reply(429, "", Some("1")), &m, "x").unwrap_err().class, ErrorClass::Transient);
        assert_eq!(post_message_reply(&reply(200, r#"{"ok":true}"#, None), &m, "x").unwrap_err().class, ErrorClass::Permanent);
    }

    #[test]
    fn webhook_error_strings_are_permanent_with_a_hint() {
        let m = Masker::default();
        assert!(webhook_reply(&reply(200, "ok", None), &m, "u").is_ok());
        let e = webhook_reply(&reply(404, "no_service", None), &m, "the secret `HOOK`").unwrap_err();
        assert_eq!(e.class, ErrorClass::Permanent);
        assert!(e.message.contains("no_service") && e.message.contains("the secret `HOOK`"), "{}", e.message);
        assert_eq!(webhook_reply(&reply(503, "", None), &m, "u").unwrap_err().class, ErrorClass::Transient);
        assert_eq!(webhook_reply(&reply(429, "", Some("1")), &m, "u").unwrap_err().retry_after, Some(std::time::Duration::from_secs(1)));
    }

    #[test]
    fn the_body_holds_what_is_set() {
        let msg = Message { text: "hi".into(), channel: Some("C1".into()), thread_ts: Some("1.2".into()), blocks: None };
        let req = post_message("https://slack.test/api/", "xoxb-1", &msg);
        assert_eq!(req.url, "https://slack.test/api/chat.postMessage");
        assert_eq!(req.body.as_deref(), Some(r#"{"channel":"C1","text":"hi","thread_ts":"1.2"}"#));
        assert!(req.headers.contains(&("Content-Type".into(), "application/json; charset=utf-8".into())));
        assert_eq!(
            webhook("https://hooks.test/x".into(), &Message { text: "hi".into(), ..Message::default() }).body.as_deref(),
            Some(r#"{"text":"hi"}"#)
        );
    }
}
