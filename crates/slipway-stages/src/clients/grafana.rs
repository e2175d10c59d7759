//! Grafana annotations (`/api/annotations`).
//!
//! Creating an annotation is not idempotent, and its answer can be lost. So
//! each annotation carries a tag made from the stage's idempotency key, and the
//! client looks for that tag before creating: a retry or a resume finds the
//! annotation the lost answer named instead of drawing a second one. Closing a
//! region is a PATCH of `timeEnd`, which is idempotent by itself.

use reqwest::Url;
use serde_json::{Value, json};
use slipway_engine::runtime::StageError;
use slipway_engine::secrets::Masker;

use super::request::{Reply, Request};

/// A Grafana instance and the credentials to write annotations.
pub struct Grafana {
    pub base: String,
    /// A service-account token.
    pub token: String,
    /// `X-Grafana-Org-Id`, for multi-org instances.
    pub org_id: Option<u64>,
}

/// A new annotation.
pub struct Annotation {
    /// Epoch milliseconds, or a placeholder in a plan.
    pub time: Value,
    pub text: String,
    pub tags: Vec<String>,
    pub dashboard_uid: Option<String>,
    pub panel_id: Option<u64>,
}

impl Grafana {
    fn request(&self, req: Request) -> Request {
        let mut req = req.header("Authorization", format!("Bearer {}", self.token)).header("Accept", "application/json");
        if let Some(org) = self.org_id {
            req = req.header("X-Grafana-Org-Id", org.to_string());
        }
        req
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches('/'))
    }

    /// Annotations carrying `tag` (an exact match on the whole tag).
    pub fn find(&self, tag: &str) -> Result<Request, StageError> {
        let mut url =
            Url::parse(&self.url("/api/annotations")).map_err(|e| StageError::permanent(format!("`{}` is not a URL: {e}", self.base)))?;
        url.query_pairs_mut().append_pair("tags", tag).append_pair("type", "annotation").append_pair("limit", "10");
        Ok(self.request(Request::get(url.as_str())))
    }

    pub fn create(&self, a: &Annotation) -> Request {
        let mut body = json!({ "time": a.time, "tags": a.tags, "text": a.text });
        if let Some(uid) = &a.dashboard_uid {
            body["dashboardUID"] = Value::String(uid.clone());
        }
        if let Some(panel) = a.panel_id {
            body["panelId"] = Value::from(panel);
        }
        self.request(Request::post(self.url("/api/annotations"))).json(body)
    }

    /// Sets `timeEnd` on annotation `id`: a point becomes a region.
    pub fn close(&self, id: &str, time_end: Value) -> Request {
        self.request(Request::patch(self.url(&format!("/api/annotations/{id}")))).json(json!({ "timeEnd": time_end }))
    }
}

fn checked<'a>(reply: &'a Reply, masker: &Masker) -> Result<&'a Reply, StageError> {
    reply.check(masker).map_err(|e| match reply.status.as_u16() {
        401 | 403 => StageError {
            message: format!("{}: Grafana refused the token: check `token` (a service account with annotations:write)", e.message),
            ..e
        },
        _ => e,
    })
}

/// The id of an annotation that [`Grafana::find`] found, if any.
pub fn found_id(reply: &Reply, masker: &Masker) -> Result<Option<String>, StageError> {
    let v = checked(reply, masker)?.json()?;
    let Value::Array(items) = v else {
        return Err(StageError::permanent(format!("{}: expected a list of annotations", reply.url)));
    };
    Ok(items.iter().find_map(|a| id_text(&a["id"])))
}

/// The id of the annotation [`Grafana::create`] made.
pub fn created_id(reply: &Reply, masker: &Masker) -> Result<String, StageError> {
    let v = checked(reply, masker)?.json()?;
    id_text(&v["id"]).ok_or_else(|| StageError::permanent(format!("{}: the answer holds no annotation `id`", reply.url)))
}

/// Whether [`Grafana::close`] worked; a missing annotation is said plainly.
pub fn closed(reply: &Reply, masker: &Masker, id: &str) -> Result<(), StageError> {
    if reply.status.as_u16() == 404 {
        return Err(StageError::permanent(format!(
            "{}: annotation {id} does not exist (deleted, or another org): check `annotation_id` and `org_id`",
            reply.url
        )));
    }
    checked(reply, masker).map(|_| ())
}

/// Whether `id` can name an annotation (Grafana's ids are integers).
pub fn is_annotation_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if is_annotation_id(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grafana() -> Grafana {
        Grafana { base: "https://grafana.example/".into(), token: "t".into(), org_id: Some(2) }
    }

    #[test]
    fn the_search_is_by_the_whole_tag_encoded() {
        let req = grafana().find("slipway.run 1/a&b").unwrap();
        assert_eq!(req.url, "https://grafana.example/api/annotations?tags=slipway.run+1%2Fa%26b&type=annotation&limit=10");
        assert!(req.headers.contains(&("X-Grafana-Org-Id".into(), "2".into())));
        assert!(req.headers.contains(&("Authorization".into(), "Bearer t".into())));
    }

    #[test]
    fn create_and_close_send_documented_bodies() {
        let a = Annotation {
            time: Value::from(5u64),
            text: "x".into(),
            tags: vec!["deploy".into()],
            dashboard_uid: Some("d".into()),
            panel_id: Some(2),
        };
        let body: Value = serde_json::from_str(grafana().create(&a).body.as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({"time": 5, "tags": ["deploy"], "text": "x", "dashboardUID": "d", "panelId": 2}));
        let patch = grafana().close("17", Value::from(9u64));
        assert_eq!((patch.method.as_str(), patch.url.as_str()), ("PATCH", "https://grafana.example/api/annotations/17"));
        assert_eq!(patch.body.as_deref(), Some(r#"{"timeEnd":9}"#));
    }

    #[test]
    fn ids_are_integers() {
        assert!(is_annotation_id("123"));
        assert!(!is_annotation_id(""));
        assert!(!is_annotation_id("../admin"));
        assert_eq!(id_text(&json!(42)), Some("42".into()));
        assert_eq!(id_text(&json!("x")), None);
    }
}
