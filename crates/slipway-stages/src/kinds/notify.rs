//! `notify`: chat messages (planned here; sent in a later version).

use serde_json::{Value, json};
use slipway_core::kinds::StageConfig;
use slipway_engine::runtime::{Planner, StageEnv, StageError, StagePlan};

use crate::clients::request::{http_effect, pretty};

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let StageConfig::Notify(c) = &env.stage.config else { unreachable!("registry maps kinds to files") };
        let message = env.render(&c.message)?;
        let json_header = || vec![("Content-Type".to_owned(), "application/json".to_owned())];
        let mut effects = Vec::new();
        if let Some(s) = &c.slack {
            let mut body = json!({"text": message});
            if let Some(b) = &s.blocks {
                body["blocks"] = env.render_json(b)?;
            }
            match (&s.webhook_url, &s.token) {
                (Some(url), _) => effects.push(http_effect("POST", env.render(url)?, json_header(), pretty(&body))),
                (None, Some(token)) => {
                    if let Some(ch) = &s.channel {
                        body["channel"] = Value::String(env.render(ch)?);
                    }
                    if let Some(ts) = &s.thread_ts {
                        body["thread_ts"] = Value::String(env.render(ts)?);
                    }
                    let base = s.api_base.as_ref().map(|b| env.render(b)).transpose()?.unwrap_or_else(|| "https://slack.com/api".into());
                    let headers = vec![
                        ("Authorization".into(), format!("Bearer {}", env.render(token)?)),
                        ("Content-Type".into(), "application/json; charset=utf-8".into()),
                    ];
                    effects.push(http_effect("POST", format!("{}/chat.postMessage", base.trim_end_matches('/')), headers, pretty(&body)));
                }
                (None, None) => {}
            }
        }
        if let Some(t) = &c.teams {
            let card = match &t.card {
                Some(card) => env.render_json(card)?,
                None => json!({
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
                    "body": [{"type": "TextBlock", "text": message, "wrap": true}]
                }),
            };
            let body = json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}]});
            effects.push(http_effect("POST", env.render(&t.webhook_url)?, json_header(), pretty(&body)));
        }
        if let Some(m) = &c.mattermost {
            let mut body = json!({"text": message});
            if let Some(ch) = &m.channel {
                body["channel"] = Value::String(env.render(ch)?);
            }
            if let Some(u) = &m.username {
                body["username"] = Value::String(env.render(u)?);
            }
            effects.push(http_effect("POST", env.render(&m.webhook_url)?, json_header(), pretty(&body)));
        }
        if let Some(w) = &c.webhook {
            let body = match &w.body {
                Some(b) => env.render_json(b)?,
                None => json!({"text": message, "pipeline": env.pipeline.name.value, "run_id": env.run_id, "stage": env.stage.id.value}),
            };
            let mut headers: Vec<(String, String)> = env.render_map(&w.headers)?;
            headers.extend(json_header());
            headers.push(("Idempotency-Key".into(), env.idempotency_key.clone()));
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
