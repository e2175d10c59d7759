//! Datadog Events API v1 (`POST /api/v1/events`, answered with 202).
//!
//! The API takes no idempotency key and has no way to look an event up by one,
//! so a response lost after Datadog made the event can lead to a second event
//! on retry: at-least-once. Retries within one run skip the sink once it has
//! answered (the kind remembers that).

use serde_json::{Value, json};
use slipway_engine::runtime::StageError;
use slipway_engine::secrets::Masker;

use super::request::{Reply, Request};

/// Datadog's event alert types.
pub const ALERT_TYPES: &[&str] = &["error", "warning", "info", "success", "user_update", "recommendation", "snapshot"];

/// The longest `text` Datadog takes (characters); longer text is cut.
pub const MAX_TEXT: usize = 4000;

/// An event to post.
pub struct Event {
    pub title: String,
    pub text: String,
    pub tags: Vec<String>,
    /// POSIX seconds, or a placeholder in a plan.
    pub date_happened: Value,
    pub alert_type: String,
    pub aggregation_key: Option<String>,
}

/// `https://api.<site>`, unless `api_base` overrides it (a proxy, a test).
pub fn base(site: &str, api_base: Option<String>) -> String {
    match api_base {
        Some(b) => b.trim_end_matches('/').to_owned(),
        None => format!("https://api.{site}"),
    }
}

/// The request that posts `event`. Datadog requires `text`: an event without
/// one repeats its title.
pub fn post_event(base: &str, api_key: &str, event: &Event) -> Request {
    let text = if event.text.is_empty() { &event.title } else { &event.text };
    let mut body = json!({
        "title": event.title,
        "text": cut(text, MAX_TEXT),
        "tags": event.tags,
        "date_happened": event.date_happened,
        "alert_type": event.alert_type,
        "source_type_name": "slipway",
    });
    if let Some(k) = &event.aggregation_key {
        body["aggregation_key"] = Value::String(k.clone());
    }
    Request::post(format!("{}/api/v1/events", base.trim_end_matches('/'))).header("DD-API-KEY", api_key).json(body)
}

/// The new event's id (`event.id_str`: the integer `id` loses precision in
/// float-based parsers).
pub fn event_id(reply: &Reply, masker: &Masker) -> Result<String, StageError> {
    reply.check(masker).map_err(|e| match reply.status.as_u16() {
        401 | 403 => StageError { message: format!("{}: Datadog refused the API key: check `api_key` (and `site`)", e.message), ..e },
        _ => e,
    })?;
    let v = reply.json()?;
    let event = &v["event"];
    match (&event["id_str"], &event["id"]) {
        (Value::String(s), _) => Ok(s.clone()),
        (_, Value::Number(n)) => Ok(n.to_string()),
        _ => Err(StageError::permanent(format!("{}: the answer holds no `event.id_str`", reply.url))),
    }
}

/// At most `max` characters of `text`.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            title: "Deployed".into(),
            text: String::new(),
            tags: vec!["env:prod".into()],
            date_happened: Value::from(1_718_000_000u64),
            alert_type: "success".into(),
            aggregation_key: Some("deploy-app".into()),
        }
    }

    #[test]
    fn the_site_picks_the_base_unless_overridden() {
        assert_eq!(base("datadoghq.eu", None), "https://api.datadoghq.eu");
        assert_eq!(base("datadoghq.eu", Some("http://127.0.0.1:9/".into())), "http://127.0.0.1:9");
    }

    #[test]
    fn an_event_without_text_repeats_its_title_and_long_text_is_cut() {
        let req = post_event("https://api.datadoghq.com", "k", &event());
        let body: Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(req.url, "https://api.datadoghq.com/api/v1/events");
        assert_eq!((body["text"].as_str(), body["date_happened"].as_u64()), (Some("Deployed"), Some(1_718_000_000)));
        assert_eq!((body["alert_type"].as_str(), body["aggregation_key"].as_str()), (Some("success"), Some("deploy-app")));
        let long = Event { text: "é".repeat(MAX_TEXT + 10), ..event() };
        let body: Value = serde_json::from_str(post_event("b", "k", &long).body.as_deref().unwrap()).unwrap();
        assert_eq!(body["text"].as_str().unwrap().chars().count(), MAX_TEXT);
    }
}
