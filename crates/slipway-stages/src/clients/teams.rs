//! Microsoft Teams through a Workflows webhook ("When a Teams webhook request
//! is received"): a message holding one Adaptive Card. The flow runs later, so
//! success is `202 Accepted` with an empty body (any 2xx counts), and a
//! failure inside the flow is never reported back. No idempotency: a message
//! whose answer is lost may be posted twice when it is sent again.

use serde_json::{Value, json};
use slipway_engine::runtime::StageError;
use slipway_engine::secrets::Masker;

use super::request::{Reply, Request};

pub const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// An Adaptive Card (version 1.4, which Teams renders) holding `text`, wrapped.
pub fn default_card(text: &str) -> Value {
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{ "type": "TextBlock", "text": text, "wrap": true }]
    })
}

/// The POST of `card` in a message envelope. A card that is not an Adaptive
/// Card is refused here: Teams would accept it with a 202 and show nothing.
pub fn request(url: String, card: Value) -> Result<Request, StageError> {
    if card.get("type").and_then(Value::as_str) != Some("AdaptiveCard") {
        let help = if card.get("type").and_then(Value::as_str) == Some("message") {
            "give only the card (`type: AdaptiveCard`); Slipway wraps it in the message"
        } else {
            "add `type: AdaptiveCard` and `version: \"1.4\"`"
        };
        return Err(StageError::permanent(format!("`teams.card` is not an Adaptive Card: {help}")));
    }
    let body = json!({
        "type": "message",
        "attachments": [{ "contentType": CARD_CONTENT_TYPE, "contentUrl": null, "content": card }]
    });
    Ok(Request::post(url).json(body))
}

/// Whether the flow took the message: any 2xx. 429 and 5xx are transient;
/// 401, 403 and 404 mean the URL (its signature) is wrong or the flow is off.
pub fn reply(reply: &Reply, masker: &Masker, url_origin: &str) -> Result<(), StageError> {
    reply.check(masker).map_err(|e| match reply.status.as_u16() {
        401 | 403 | 404 => StageError {
            message: format!("{}: the workflow URL is wrong, or the flow is turned off or deleted: check {url_origin}", e.message),
            ..e
        },
        _ => e,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_goes_in_the_message_envelope() {
        let req = request("https://flow.test/x".into(), default_card("Deployed")).unwrap();
        let body: Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["type"], "message");
        assert_eq!(body["attachments"][0]["contentType"], CARD_CONTENT_TYPE);
        assert_eq!(body["attachments"][0]["content"]["body"][0]["text"], "Deployed");
    }

    #[test]
    fn what_is_not_a_card_is_refused() {
        let e = request("u".into(), json!({"type": "message", "attachments": []})).unwrap_err();
        assert!(e.message.contains("Slipway wraps it"), "{}", e.message);
        assert!(request("u".into(), json!({"body": []})).unwrap_err().message.contains("type: AdaptiveCard"));
    }
}
