//! `marker`: deploy events for dashboards (planned here; sent in a later version).

use serde_json::{Value, json};
use slipway_core::kinds::{MarkerEvent, RedisDataType, StageConfig};
use slipway_engine::runtime::{Effect, Planner, StageEnv, StageError, StagePlan};

use crate::clients::request::{http_effect, pretty};

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let StageConfig::Marker(c) = &env.stage.config else { unreachable!("registry maps kinds to files") };
        let title = env.render(&c.title)?;
        let text = c.text.as_ref().map(|t| env.render(t)).transpose()?.unwrap_or_default();
        let tags: Vec<String> = c.tags.iter().map(|t| env.render(t)).collect::<Result<_, _>>()?;
        let event = c.event.as_str();
        let doc_id = format!("slipway-{}", env.idempotency_key.replace(':', "-"));
        let document = json!({
            "@timestamp": "<time of the event>", "event": event, "title": title, "text": text, "tags": tags,
            "pipeline": env.pipeline.name.value, "run_id": env.run_id, "stage": env.stage.id.value,
        });
        let mut effects = Vec::new();
        if let Some(d) = &c.datadog {
            let base = match &d.api_base {
                Some(b) => env.render(b)?,
                None => format!("https://api.{}", d.site.as_str()),
            };
            let mut body = json!({
                "title": title, "text": text, "tags": tags, "source_type_name": "slipway",
                "alert_type": d.alert_type.as_ref().map(|a| env.render(a)).transpose()?.unwrap_or_else(|| "info".into()),
                "date_happened": "<unix seconds of the event>",
            });
            if let Some(k) = &d.aggregation_key {
                body["aggregation_key"] = Value::String(env.render(k)?);
            }
            let headers = vec![("DD-API-KEY".into(), env.render(&d.api_key)?), ("Content-Type".into(), "application/json".into())];
            effects.push(http_effect("POST", format!("{}/api/v1/events", base.trim_end_matches('/')), headers, pretty(&body)));
        }
        if let Some(g) = &c.grafana {
            let base = env.render(&g.url)?.trim_end_matches('/').to_owned();
            let mut headers = vec![
                ("Authorization".into(), format!("Bearer {}", env.render(&g.token)?)),
                ("Content-Type".into(), "application/json".into()),
            ];
            if let Some(org) = g.org_id {
                headers.push(("X-Grafana-Org-Id".into(), org.0.to_string()));
            }
            match (&g.annotation_id, c.event) {
                (Some(id), MarkerEvent::End) => {
                    let id = env.render(id)?;
                    effects.push(http_effect(
                        "PATCH",
                        format!("{base}/api/annotations/{id}"),
                        headers,
                        pretty(&json!({"timeEnd": "<epoch ms of the end>"})),
                    ));
                }
                _ => {
                    let mut body =
                        json!({"time": "<epoch ms of the event>", "tags": tags, "text": format!("{title}\n{text}").trim().to_owned()});
                    if let Some(uid) = &g.dashboard_uid {
                        body["dashboardUID"] = Value::String(env.render(uid)?);
                    }
                    if let Some(panel) = g.panel_id {
                        body["panelId"] = Value::from(panel.0);
                    }
                    effects.push(http_effect("POST", format!("{base}/api/annotations"), headers, pretty(&body)));
                }
            }
        }
        if let Some(e) = &c.elasticsearch {
            let base = env.render(&e.url)?.trim_end_matches('/').to_owned();
            let auth = match (&e.api_key, &e.username) {
                (Some(k), _) => format!("ApiKey {}", env.render(k)?),
                (None, Some(_)) => "Basic base64(username:password)".into(),
                (None, None) => String::new(),
            };
            let mut headers = vec![("Content-Type".into(), "application/json".into())];
            if !auth.is_empty() {
                headers.insert(0, ("Authorization".into(), auth));
            }
            effects.push(http_effect("PUT", format!("{base}/{}/_doc/{doc_id}", env.render(&e.index)?), headers, pretty(&document)));
        }
        if let Some(r) = &c.redis {
            let verb = match r.data_type {
                RedisDataType::List => "RPUSH",
                RedisDataType::Channel => "PUBLISH",
            };
            let line = serde_json::to_string(&document).unwrap_or_default();
            effects.push(Effect::Redis { url: env.render(&r.url)?, command: format!("{verb} {} '{line}'", env.render(&r.key)?) });
        }
        if let Some(w) = &c.webhook {
            let body = match &w.body {
                Some(b) => env.render_json(b)?,
                None => document.clone(),
            };
            let mut headers: Vec<(String, String)> = env.render_map(&w.headers)?;
            headers.push(("Content-Type".into(), "application/json".into()));
            headers.push(("Idempotency-Key".into(), env.idempotency_key.clone()));
            if w.secret.is_some() {
                headers.push(("X-Slipway-Signature-256".into(), "sha256=<HMAC-SHA256 of the body>".into()));
            }
            effects.push(http_effect("POST", env.render(&w.url)?, headers, pretty(&body)));
        }
        Ok(StagePlan { effects })
    }
}

/// Whether this version runs the kind (false: it only plans).
pub const RUNS: bool = false;

pub struct Run {
    pub http: crate::caps::HttpCap,
}

impl slipway_engine::runtime::Runner for Run {
    fn run<'a>(
        &'a self,
        env: &'a StageEnv<'a>,
    ) -> slipway_engine::runtime::BoxFuture<'a, Result<slipway_engine::runtime::Outputs, StageError>> {
        Box::pin(async move { Err(StageError::permanent(format!("kind `{}`: not written yet", env.stage.kind.value))) })
    }
}
