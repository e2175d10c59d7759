//! Stand-ins for the dashboards a `marker` writes to: Datadog (events v1),
//! Grafana (annotations: create, find by tags, patch) and Elasticsearch
//! (document index). Each checks the method, path, auth header, content type
//! and the documented required fields, answers with the documented shapes, and
//! keeps what it was given; faults (429, 5xx, slow, dropped) come from
//! [`StandIn::fault`].

#![allow(dead_code)] // each test uses part of it

use serde_json::{Value, json};

use crate::standin::{Recorded, Reply, StandIn, json};

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The JSON body of a request, or the 400 a strict service gives.
fn body(req: &Recorded) -> Result<Value, Reply> {
    req.json().filter(Value::is_object).ok_or_else(|| json(400, json!({"message": "bad request data: the body is not a JSON object"})))
}

fn string_list(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
}

// --- Datadog ---------------------------------------------------------------

pub struct Datadog {
    pub api_key: String,
    /// Each event posted, as sent.
    pub events: Vec<Value>,
}

/// Datadog's events intake: `POST /api/v1/events` with `DD-API-KEY`.
pub fn datadog(api_key: &str) -> StandIn<Datadog> {
    StandIn::start(Datadog { api_key: api_key.to_owned(), events: Vec::new() }, |req, st| datadog_answer(req, st).unwrap_or_else(|e| e))
}

fn datadog_answer(req: &Recorded, st: &mut Datadog) -> Result<Reply, Reply> {
    if req.route() != "/api/v1/events" {
        return Err(json(404, json!({"errors": ["Not found"]})));
    }
    if req.method != "POST" {
        return Err(json(405, json!({"errors": ["Method Not Allowed"]})));
    }
    if req.header("dd-api-key") != Some(st.api_key.as_str()) {
        return Err(json(403, json!({"errors": ["Forbidden"]})));
    }
    if !req.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        return Err(json(415, json!({"errors": ["Unsupported Media Type"]})));
    }
    let e = body(req)?;
    let bad = |why: &str| Err(json(400, json!({"errors": [why]})));
    if e["title"].as_str().is_none_or(str::is_empty) || !e["text"].is_string() {
        return bad("Event title and text are required");
    }
    if e["text"].as_str().is_some_and(|t| t.chars().count() > 4000) {
        return bad("text is longer than 4000 characters");
    }
    // POSIX seconds, within 18 hours past and 2 hours future.
    match e["date_happened"].as_i64() {
        Some(t) if t > now_secs() - 18 * 3600 && t < now_secs() + 2 * 3600 => {}
        _ => return bad("date_happened must be POSIX seconds within 18 hours past and 2 hours future"),
    }
    let alert_types = ["error", "warning", "info", "success", "user_update", "recommendation", "snapshot"];
    if !e["alert_type"].is_null() && !e["alert_type"].as_str().is_some_and(|a| alert_types.contains(&a)) {
        return bad("invalid alert_type");
    }
    if e["aggregation_key"].as_str().is_some_and(|k| k.len() > 100) || !(e["tags"].is_null() || string_list(&e["tags"])) {
        return bad("invalid aggregation_key or tags");
    }
    st.events.push(e.clone());
    // Ids above 2^53: a float parser would round them, hence `id_str`.
    let id = 9_007_199_254_740_993u64 + st.events.len() as u64;
    Ok(json(
        202,
        json!({"status": "ok", "event": {
            "id": id, "id_str": id.to_string(), "title": e["title"], "text": e["text"],
            "date_happened": e["date_happened"], "tags": e["tags"], "priority": null,
            "url": format!("https://app.datadoghq.com/event/event?id={id}"),
        }}),
    ))
}

// --- Grafana ---------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Annotation {
    pub id: u64,
    pub time: i64,
    pub time_end: i64,
    pub text: String,
    pub tags: Vec<String>,
    pub dashboard_uid: Option<String>,
    pub panel_id: Option<i64>,
}

pub struct Grafana {
    pub token: String,
    /// The org the token belongs to; requests naming another are refused.
    pub org_id: Option<u64>,
    pub annotations: Vec<Annotation>,
}

/// Grafana's annotations API: create, find (by tags), patch.
pub fn grafana(token: &str, org_id: Option<u64>) -> StandIn<Grafana> {
    StandIn::start(Grafana { token: token.to_owned(), org_id, annotations: Vec::new() }, |req, st| {
        grafana_answer(req, st).unwrap_or_else(|e| e)
    })
}

fn grafana_answer(req: &Recorded, st: &mut Grafana) -> Result<Reply, Reply> {
    if req.header("authorization") != Some(format!("Bearer {}", st.token).as_str()) {
        return Err(json(401, json!({"message": "Invalid API key"})));
    }
    if let Some(org) = st.org_id
        && req.header("x-grafana-org-id") != Some(org.to_string().as_str())
    {
        return Err(json(401, json!({"message": "User not a member of organization"})));
    }
    let route = req.route().to_owned();
    let json_body = || {
        if req.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
            body(req)
        } else {
            Err(json(400, json!({"message": "bad request data"})))
        }
    };
    let ms = |v: &Value| v.as_i64().filter(|t| *t > 1_000_000_000_000); // epoch milliseconds, not seconds
    match (req.method.as_str(), route.as_str()) {
        ("POST", "/api/annotations") => {
            let b = json_body()?;
            let (Some(text), Some(time)) = (b["text"].as_str().filter(|t| !t.is_empty()), ms(&b["time"])) else {
                return Err(json(400, json!({"message": "Failed to save annotation: text and time (epoch ms) are required"})));
            };
            if !(b["tags"].is_null() || string_list(&b["tags"])) || !(b["panelId"].is_null() || b["panelId"].is_i64()) {
                return Err(json(400, json!({"message": "bad request data"})));
            }
            let id = st.annotations.len() as u64 + 1;
            st.annotations.push(Annotation {
                id,
                time,
                time_end: ms(&b["timeEnd"]).unwrap_or(time),
                text: text.to_owned(),
                tags: b["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
                dashboard_uid: b["dashboardUID"].as_str().map(str::to_owned),
                panel_id: b["panelId"].as_i64(),
            });
            Ok(json(200, json!({"message": "Annotation added", "id": id})))
        }
        ("GET", "/api/annotations") => {
            let wanted: Vec<String> = req
                .path
                .split_once('?')
                .map(|(_, q)| q)
                .unwrap_or("")
                .split('&')
                .filter_map(|kv| kv.strip_prefix("tags="))
                .map(crate::standin::percent_decode)
                .collect();
            let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
            let found: Vec<Value> = st
                .annotations
                .iter()
                .filter(|a| wanted.iter().all(|t| a.tags.contains(t)))
                .take(limit)
                .map(|a| {
                    json!({"id": a.id, "alertId": 0, "dashboardUID": a.dashboard_uid, "panelId": a.panel_id.unwrap_or(0),
                           "time": a.time, "timeEnd": a.time_end, "text": a.text, "tags": a.tags, "login": "sa-slipway"})
                })
                .collect();
            Ok(json(200, Value::Array(found)))
        }
        ("PATCH", r) if r.starts_with("/api/annotations/") => {
            let b = json_body()?;
            let allowed = ["text", "tags", "time", "timeEnd"];
            if b.as_object().is_some_and(|o| o.keys().any(|k| !allowed.contains(&k.as_str()))) {
                return Err(json(400, json!({"message": "bad request data"})));
            }
            let id: u64 = r["/api/annotations/".len()..].parse().map_err(|_| json(400, json!({"message": "annotationId is invalid"})))?;
            let Some(a) = st.annotations.iter_mut().find(|a| a.id == id) else {
                return Err(json(404, json!({"message": "Could not find annotation to update"})));
            };
            if let Some(end) = b.get("timeEnd") {
                a.time_end = ms(end).filter(|e| *e >= a.time).ok_or_else(|| json(400, json!({"message": "timeEnd is invalid"})))?;
            }
            Ok(json(200, json!({"message": "Annotation patched"})))
        }
        _ => Err(json(404, json!({"message": "Not found"}))),
    }
}

// --- Elasticsearch ---------------------------------------------------------

/// The credentials the cluster accepts, as the `Authorization` header.
pub struct Elasticsearch {
    pub authorization: String,
    /// (index, id) → (document, version), in the order first indexed.
    pub documents: Vec<(String, String, Value, u64)>,
}

/// Elasticsearch's document API: `PUT /{index}/_doc/{id}`.
pub fn elasticsearch(authorization: &str) -> StandIn<Elasticsearch> {
    StandIn::start(Elasticsearch { authorization: authorization.to_owned(), documents: Vec::new() }, |req, st| {
        elasticsearch_answer(req, st).unwrap_or_else(|e| e)
    })
}

fn es_error(status: u16, kind: &str, reason: &str) -> Reply {
    json(status, json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}))
}

fn elasticsearch_answer(req: &Recorded, st: &mut Elasticsearch) -> Result<Reply, Reply> {
    if req.header("authorization") != Some(st.authorization.as_str()) {
        return Err(es_error(401, "security_exception", "unable to authenticate user for REST request"));
    }
    let parts: Vec<String> = req.route().trim_start_matches('/').split('/').map(crate::standin::percent_decode).collect();
    let [index, doc, id] = parts.as_slice() else {
        return Err(es_error(400, "illegal_argument_exception", "no handler found for uri"));
    };
    if doc != "_doc" || req.method != "PUT" {
        return Err(es_error(405, "illegal_argument_exception", "only PUT /{index}/_doc/{id} here"));
    }
    if !req.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        return Err(es_error(406, "illegal_argument_exception", "Content-Type header is not supported"));
    }
    if index.is_empty()
        || index.starts_with(['_', '-', '+'])
        || index.chars().any(|c| c.is_ascii_uppercase() || "\\/*?\"<>| ,#:".contains(c))
    {
        return Err(es_error(400, "invalid_index_name_exception", "Invalid index name"));
    }
    let document = body(req).map_err(|_| es_error(400, "mapper_parsing_exception", "failed to parse"))?;
    let seq = st.documents.len();
    let (result, status, version) = match st.documents.iter_mut().find(|(i, d, _, _)| i == index && d == id) {
        Some(existing) => {
            existing.2 = document;
            existing.3 += 1;
            ("updated", 200, existing.3)
        }
        None => {
            st.documents.push((index.clone(), id.clone(), document, 1));
            ("created", 201, 1)
        }
    };
    Ok(json(
        status,
        json!({"_index": index, "_id": id, "_version": version, "result": result,
               "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": seq, "_primary_term": 1}),
    ))
}
