//! The template context: what `{{ … }}` can read while a stage is rendered.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use slipway_core::model::Pipeline;

use crate::event::StageStatus;
use crate::runtime::Outputs;

/// Facts about the run itself (`{{ run.id }}`, …).
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub id: String,
    pub user: String,
    pub trigger: String,
    pub started_at: String,
    pub dry_run: bool,
}

/// What templates can read of a stage that has settled.
#[derive(Debug, Clone, PartialEq)]
pub struct StageFacts {
    pub status: StageStatus,
    pub outputs: Outputs,
    pub attempts: u32,
}

pub fn template_context(
    pipeline: &Pipeline,
    params: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
    run: &RunInfo,
    run_status: &str,
    stages: &BTreeMap<String, StageFacts>,
) -> Value {
    let stages: serde_json::Map<String, Value> = stages
        .iter()
        .map(|(id, f)| (id.clone(), json!({ "status": f.status.as_str(), "outputs": f.outputs, "attempts": f.attempts })))
        .collect();
    json!({
        "params": params,
        "secrets": secrets,
        "pipeline": { "name": pipeline.name.value, "description": pipeline.description.clone().unwrap_or_default() },
        "run": { "id": run.id, "status": run_status, "started_at": run.started_at, "user": run.user, "trigger": run.trigger, "dry_run": run.dry_run },
        "stages": stages,
    })
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParamError {
    #[error("unknown param `{0}`{1}")]
    Unknown(String, String),
    #[error("param `{0}` is required: pass `--param {0}=VALUE`")]
    Missing(String),
    #[error("param `{name}` is `{value}`, not one of: {choices}")]
    NotAChoice { name: String, value: String, choices: String },
    #[error("`{0}` is not `name=value`")]
    Malformed(String),
    #[error("param `{0}` is given twice (`{1}` and `{2}`): pass it once")]
    Repeated(String, String, String),
}

/// Merges `--param k=v` with the pipeline's declarations: defaults, required, choices.
pub fn resolve_params(pipeline: &Pipeline, given: &[String]) -> Result<BTreeMap<String, String>, ParamError> {
    let mut out = BTreeMap::new();
    for pair in given {
        let (k, v) = pair.split_once('=').ok_or_else(|| ParamError::Malformed(pair.clone()))?;
        if !pipeline.params.contains_key(k) {
            let hint = slipway_core::diagnostic::did_you_mean(k, pipeline.params.keys().map(|p| p.as_str()))
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            return Err(ParamError::Unknown(k.to_owned(), hint));
        }
        if let Some(first) = out.insert(k.to_owned(), v.to_owned()) {
            return Err(ParamError::Repeated(k.to_owned(), first, v.to_owned()));
        }
    }
    for (name, decl) in &pipeline.params {
        if !out.contains_key(name.as_str()) {
            match &decl.default {
                Some(d) => {
                    out.insert(name.value.clone(), d.value.clone());
                }
                None if decl.required => return Err(ParamError::Missing(name.value.clone())),
                None => {
                    out.insert(name.value.clone(), String::new());
                }
            }
        }
        let value = &out[name.as_str()];
        if !decl.choices.is_empty() && !decl.choices.iter().any(|c| c.value == *value) {
            let choices = decl.choices.iter().map(|c| c.value.as_str()).collect::<Vec<_>>().join(", ");
            return Err(ParamError::NotAChoice { name: name.value.clone(), value: value.clone(), choices });
        }
    }
    Ok(out)
}
