//! `audit_ticket`: a JIRA change ticket, exactly once per run: the run's
//! idempotency key becomes a label, looked up before anything is created.

use serde_json::{Value, json};
use slipway_core::kinds::StageConfig;
use slipway_engine::runtime::{Planner, StageEnv, StageError, StagePlan};
use slipway_engine::secrets::url_encode;

use crate::clients::request::{http_effect, pretty};

/// The label that marks the ticket of one stage of one run.
pub fn idempotency_label(key: &str) -> String {
    let safe: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("slipway-{safe}")
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let StageConfig::AuditTicket(c) = &env.stage.config else { unreachable!("registry maps kinds to files") };
        let base = env.render(&c.jira.url)?.trim_end_matches('/').to_owned();
        let v3 = c.jira.api_version.is_some_and(|v| v.0 == 3);
        let version = if v3 { 3 } else { 2 };
        let auth = match &c.jira.email {
            Some(_) => "Basic base64(email:token)".to_owned(),
            None => "Bearer token".to_owned(),
        };
        let headers = vec![("Authorization".to_owned(), auth), ("Content-Type".to_owned(), "application/json".to_owned())];
        let label = idempotency_label(&env.idempotency_key);
        let mut labels: Vec<String> = c.labels.iter().map(|l| env.render(l)).collect::<Result<_, _>>()?;
        labels.push(label.clone());
        let body_text = c.body.as_ref().map(|b| env.render(b)).transpose()?.unwrap_or_default();
        let description = if v3 {
            json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": body_text}]}]})
        } else {
            Value::String(body_text)
        };
        let fields = json!({"fields": {
            "project": {"key": c.project.value},
            "issuetype": {"name": c.issue_type.clone().unwrap_or_else(|| "Task".into())},
            "summary": env.render(&c.summary)?,
            "description": description,
            "labels": labels,
        }});
        let search = if v3 { format!("{base}/rest/api/3/search/jql") } else { format!("{base}/rest/api/2/search") };
        let mut effects = vec![
            http_effect("GET", format!("{search}?jql={}&fields=key", url_encode(&format!("labels = \"{label}\""))), headers.clone(), None),
            http_effect("POST", format!("{base}/rest/api/{version}/issue"), headers.clone(), pretty(&fields)),
        ];
        if let Some(t) = &c.transition {
            let name = env.render(t)?;
            effects.push(http_effect("GET", format!("{base}/rest/api/{version}/issue/<key>/transitions"), headers.clone(), None));
            effects.push(http_effect(
                "POST",
                format!("{base}/rest/api/{version}/issue/<key>/transitions"),
                headers,
                pretty(&json!({"transition": {"id": format!("<id of transition `{name}`>")}})),
            ));
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
