//! The contract between the executor and the stage kinds.
//!
//! A kind has two halves. Its [`Planner`] only describes: it gets no way to reach
//! the network or start a process, so a dry run cannot have side effects, by
//! construction. Its [`Runner`] acts, through the capabilities its registry was
//! built with (for `plan --live-reads`, read-only ones).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use slipway_core::kinds::{Kind, OutputType};
use slipway_core::model::{HostEntry, JsonTemplate, Pipeline, Stage, Transport};
use slipway_core::template::{Command, Template};
use tokio::sync::{mpsc, watch};

use crate::event::{Event, now_ms};
use crate::render::{Escape, Renderer};
use crate::secrets::Masker;

pub type Outputs = serde_json::Map<String, Value>;
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether trying again may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// Timeouts, refused or reset connections, HTTP 408/429/5xx, unreachable hosts.
    Transient,
    /// Everything else: retrying would fail the same way.
    Permanent,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageError {
    pub class: ErrorClass,
    pub message: String,
    /// The service asked for this wait (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// What the stage produced before it failed (what a command wrote to
    /// `$SLIPWAY_OUTPUT`, its exit code): the stage's outputs once it has failed,
    /// for the `when: failure` and `always` stages that clean up after it.
    pub outputs: Outputs,
}

impl StageError {
    pub fn transient(message: impl Into<String>) -> Self {
        StageError { class: ErrorClass::Transient, message: message.into(), retry_after: None, outputs: Outputs::new() }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        StageError { class: ErrorClass::Permanent, message: message.into(), retry_after: None, outputs: Outputs::new() }
    }

    pub fn retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// The same error, carrying what the stage produced before it failed.
    pub fn with_outputs(mut self, outputs: Outputs) -> Self {
        self.outputs = outputs;
        self
    }
}

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Something a stage would do, as `slipway plan` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    Http {
        method: String,
        url: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        headers: Vec<(String, String)>,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    Command {
        command: String,
        /// Where it runs: `local`, or host names.
        on: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        env: Vec<(String, String)>,
        #[serde(skip_serializing_if = "Option::is_none")]
        workdir: Option<String>,
    },
    Redis {
        url: String,
        command: String,
    },
    Note {
        text: String,
    },
}

/// A kind's dry-run description of a stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StagePlan {
    pub effects: Vec<Effect>,
}

/// A host as templates see it (`{{ host.name }}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostInfo {
    pub name: String,
    pub address: String,
    /// Unset: as ssh_config says.
    pub user: Option<String>,
    /// Unset: as ssh_config says.
    pub port: Option<u16>,
    pub role: String,
    /// How commands reach it (not a template variable).
    #[serde(skip)]
    pub transport: Transport,
}

/// What a stage sees while it is planned or run.
pub struct StageEnv<'a> {
    pub stage: &'a Stage,
    pub pipeline: &'a Pipeline,
    /// params, secrets, pipeline, run, stages: the template context.
    pub context: Value,
    pub renderer: &'a Renderer,
    pub run_id: &'a str,
    /// `<run id>:<stage id>`: the same across retries and resume.
    pub idempotency_key: String,
    /// The pipeline file's folder: files the pipeline names (a secret's
    /// `file`, `git.path`, `ssh.config`) are relative to it.
    pub base_dir: &'a Path,
    /// The project's root, the folder holding `.git` or `.slipway` (the one the
    /// state folder is in): local commands run here, as in GitHub Actions, and a
    /// relative `workdir` starts here.
    pub project_root: &'a Path,
    /// Planning: outputs of earlier stages are placeholders.
    pub dry_run: bool,
    pub masker: &'a Masker,
    pub events: Option<&'a mpsc::UnboundedSender<Event>>,
    pub cancel: watch::Receiver<bool>,
    /// Earlier runs of this pipeline and environment, read-only (`None` when
    /// there is no journal to read, as in a plain plan).
    pub history: Option<&'a dyn History>,
}

impl StageEnv<'_> {
    pub fn render_str(&self, template: &str) -> Result<String, StageError> {
        self.render_in(template, &self.context)
    }

    pub fn render(&self, t: &Template) -> Result<String, StageError> {
        self.render_str(&t.source)
    }

    pub fn render_command(&self, c: &Command) -> Result<String, StageError> {
        self.render_str(&c.source)
    }

    /// Renders with `host` in the context, for per-host fields.
    pub fn render_for_host(&self, template: &str, host: &HostInfo) -> Result<String, StageError> {
        let mut cx = self.context.clone();
        if let Value::Object(m) = &mut cx {
            m.insert("host".into(), serde_json::to_value(host).unwrap_or_default());
        }
        self.render_in(template, &cx)
    }

    /// A plan never states what it cannot know: a template that decides
    /// something from a value only the run knows is shown as written.
    fn unknowable(&self, template: &str, cx: &Value) -> Option<String> {
        (self.dry_run && crate::render::decided_at_run(template, cx))
            .then(|| format!("{} {}", template.trim(), crate::render::DECIDED_AT_RUN))
    }

    fn render_in(&self, template: &str, cx: &Value) -> Result<String, StageError> {
        if let Some(shown) = self.unknowable(template, cx) {
            return Ok(shown);
        }
        let rendered = if self.dry_run { self.renderer.render_lenient(template, cx) } else { self.renderer.render(template, cx) };
        rendered.map_err(|e| StageError::permanent(format!("stage `{}`: {e}", self.stage.id.value)))
    }

    /// A map of templates (env, headers) rendered, in order.
    pub fn render_map(&self, map: &indexmap::IndexMap<slipway_core::decode::Key, Template>) -> Result<Vec<(String, String)>, StageError> {
        map.iter().map(|(k, v)| Ok((k.value.clone(), self.render(v)?))).collect()
    }

    /// A JSON body with every string rendered.
    pub fn render_json(&self, t: &JsonTemplate) -> Result<Value, StageError> {
        Ok(match t {
            JsonTemplate::Literal(v) => v.clone(),
            JsonTemplate::String(s) => Value::String(self.render(s)?),
            JsonTemplate::Array(items) => Value::Array(items.iter().map(|i| self.render_json(i)).collect::<Result<_, _>>()?),
            JsonTemplate::Object(entries) => {
                Value::Object(entries.iter().map(|(k, v)| Ok((k.clone(), self.render_json(v)?))).collect::<Result<_, StageError>>()?)
            }
        })
    }

    /// `t` rendered for a chat service: every value a `{{ … }}` writes is
    /// escaped for its markup (see [`Escape`]), the author's own text is not.
    pub fn render_escaped(&self, t: &Template, escape: Escape) -> Result<String, StageError> {
        let (source, cx) = (&t.source, &self.context);
        if let Some(shown) = self.unknowable(source, cx) {
            return Ok(shown);
        }
        let rendered = if self.dry_run {
            self.renderer.render_lenient_escaped(source, cx, escape)
        } else {
            self.renderer.render_escaped(source, cx, escape)
        };
        rendered.map_err(|e| StageError::permanent(format!("stage `{}`: {e}", self.stage.id.value)))
    }

    /// As [`StageEnv::render_json`], every string rendered with [`StageEnv::render_escaped`].
    pub fn render_json_escaped(&self, t: &JsonTemplate, escape: Escape) -> Result<Value, StageError> {
        Ok(match t {
            JsonTemplate::Literal(v) => v.clone(),
            JsonTemplate::String(s) => Value::String(self.render_escaped(s, escape)?),
            JsonTemplate::Array(items) => {
                Value::Array(items.iter().map(|i| self.render_json_escaped(i, escape)).collect::<Result<_, _>>()?)
            }
            JsonTemplate::Object(entries) => Value::Object(
                entries.iter().map(|(k, v)| Ok((k.clone(), self.render_json_escaped(v, escape)?))).collect::<Result<_, StageError>>()?,
            ),
        })
    }

    /// The hosts of a role, in the order the pipeline lists them.
    pub fn hosts(&self, role: &str) -> Vec<HostInfo> {
        let Some(entries) = self.pipeline.hosts.get(role) else { return Vec::new() };
        entries
            .iter()
            .map(|h| HostInfo {
                name: h.name().value.clone(),
                address: h.address().to_owned(),
                user: match h {
                    HostEntry::Spec(s) => s.user.clone(),
                    HostEntry::Name(_) => None,
                },
                port: match h {
                    HostEntry::Spec(s) => s.port.map(|p| p.0 as u16),
                    HostEntry::Name(_) => None,
                },
                role: role.to_owned(),
                transport: h.transport(),
            })
            .collect()
    }

    /// Streams a line of a stage's output (masked) to the reporters and journal.
    pub fn log(&self, stream: &str, line: &str) {
        if let Some(tx) = self.events {
            let _ = tx.send(Event::Log {
                stage: self.stage.id.value.clone(),
                stream: stream.to_owned(),
                line: self.masker.mask(line),
                at: now_ms(),
            });
        }
    }

    /// Records that the stage's command runs in process group `pgid`.
    pub fn command_started(&self, pgid: u32) {
        if let Some(tx) = self.events {
            let _ =
                tx.send(Event::CommandStarted { stage: self.stage.id.value.clone(), pgid, boot_id: crate::lock::boot_id(), at: now_ms() });
        }
    }

    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves once the stage is to stop (the run was interrupted; for an
    /// `always` stage, interrupted twice). A runner selects on it around any
    /// wait, so that an interrupt stops the stage at once.
    pub async fn interrupted(&self) {
        raised(&mut self.cancel.clone()).await
    }
}

/// Resolves once `flag` is true; never, if its sender is gone before that.
pub async fn raised(flag: &mut watch::Receiver<bool>) {
    while !*flag.borrow() {
        if flag.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What earlier runs of the same pipeline and `environment` param left: a
/// stage can carry on from where the last good run ended (the changelog starts
/// at the revision the last successful run deployed).
pub trait History: Sync {
    /// Output `output` of stage `stage` in the newest run that succeeded, if that
    /// run has it (and kept it unmasked). Reading a journal is file IO: the
    /// future does it off the run's thread.
    fn last_succeeded<'a>(&'a self, stage: &'a str, output: &'a str) -> BoxFuture<'a, Option<Value>>;
}

/// The describing half of a kind.
pub trait Planner: Sync {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError>;
}

/// The acting half of a kind.
pub trait Runner: Sync {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>>;
}

pub trait Planners: Sync {
    fn planner(&self, kind: Kind) -> &dyn Planner;
}

pub trait Runners: Sync {
    fn runner(&self, kind: Kind) -> &dyn Runner;

    /// Whether this version can run the kind for real (`plan --live-reads`
    /// shows the others as placeholders).
    fn can_run(&self, kind: Kind) -> bool;
}

/// Stand-in outputs for a dry run, each naming where its value will come from.
pub fn placeholder_outputs(stage: &Stage) -> Outputs {
    let id = &stage.id.value;
    let mut out = Outputs::new();
    for decl in stage.config.spec().outputs() {
        let name = &decl.name;
        let text = |suffix: &str| Value::String(format!("<stages.{id}.outputs.{name}{suffix}: known after run>"));
        let value = match (decl.ty, decl.fields) {
            (OutputType::List, []) => Value::Array(vec![text("[0]")]),
            (OutputType::List, fields) => {
                Value::Array(vec![Value::Object(fields.iter().map(|f| (f.to_string(), text(&format!("[0].{f}")))).collect())])
            }
            (OutputType::Object, fields) => Value::Object(fields.iter().map(|f| (f.to_string(), text(&format!(".{f}")))).collect()),
            _ => text(""),
        };
        out.insert(name.clone(), value);
    }
    out
}
