//! A Mattermost incoming webhook: `text` (Markdown), with `channel` (a name
//! such as `town-square`, or `@user`) and `username` (honoured when the
//! server allows overrides). Success is 200 with `ok`. No idempotency: a
//! message whose answer is lost may be posted twice when it is sent again.

use serde_json::{Map, Value};
use slipway_engine::runtime::StageError;
use slipway_engine::secrets::Masker;

use super::request::{Reply, Request};

/// The POST of a message.
pub fn request(url: String, text: String, channel: Option<String>, username: Option<String>) -> Request {
    let mut body = Map::new();
    body.insert("text".into(), Value::String(text));
    if let Some(c) = channel {
        body.insert("channel".into(), Value::String(c));
    }
    if let Some(u) = username {
        body.insert("username".into(), Value::String(u));
    }
    Request::post(url).json(Value::Object(body))
}

/// Whether the server took the message: any 2xx. 429 and 5xx are transient;
/// a 4xx is permanent, and Mattermost says why in the body's `message`.
pub fn reply(reply: &Reply, masker: &Masker, url_origin: &str) -> Result<(), StageError> {
    reply.check(masker).map_err(|e| {
        let said = reply.json().ok().and_then(|j| j["id"].as_str().map(str::to_owned)).unwrap_or_default();
        let hint = if said.contains("channel") || reply.status.as_u16() == 403 {
            "this webhook may not post to `mattermost.channel`: use the webhook's own channel, or one it is allowed".to_owned()
        } else if matches!(reply.status.as_u16(), 400 | 401 | 404) {
            format!("check {url_origin} (is the webhook still there?) and `message`")
        } else {
            String::new()
        };
        if hint.is_empty() { e } else { StageError { message: format!("{}: {hint}", e.message), ..e } }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_holds_what_is_set() {
        let req = request("https://mm.test/hooks/k".into(), "hi".into(), Some("town-square".into()), None);
        assert_eq!(req.body.as_deref(), Some(r#"{"text":"hi","channel":"town-square"}"#));
        assert!(req.has_header("content-type"));
    }
}
