//! What a report shows, rebuilt from a run's journal events alone: each
//! stage's attempts on one clock, its outcome, outputs, error, hosts and log.
//! Nothing here reads the pipeline file or the environment, so a report can
//! only ever show what the journal kept (masked as the journal masked it).

use std::collections::BTreeMap;

use serde_json::Value;
use slipway_engine::event::{Event, RunStatus, StageStatus};
use slipway_engine::journal::RunMeta;

/// Log lines kept per stage in the page: the journal caps them too, this keeps
/// the file small enough to open.
pub const LOG_LINES: usize = 200;

#[derive(Debug, Default)]
pub struct Run {
    pub meta: Option<RunMeta>,
    /// First and last instant seen (ms since the epoch).
    pub start: u64,
    pub end: u64,
    /// Stages in the order they first appear (the journal's order), then the
    /// ones the run never reached.
    pub stages: Vec<Stage>,
    pub status: Option<RunStatus>,
    /// How many times the run was started (1, plus one per resume).
    pub starts: u32,
    pub unreadable_lines: usize,
    /// Where each stage is in `stages`.
    index: BTreeMap<String, usize>,
}

#[derive(Debug)]
pub struct Stage {
    pub id: String,
    pub status: StageStatus,
    pub attempts: Vec<Attempt>,
    pub outputs: Vec<(String, Value)>,
    pub masked: Vec<String>,
    /// Why it ended as it did (skipped, cancelled, failed).
    pub reason: Option<String>,
    pub hosts: Vec<Host>,
    pub log: Vec<(String, String)>,
    pub log_dropped: usize,
    /// Reused from an earlier run attempt (resume): not run again.
    pub reused: bool,
    /// When it settled without any attempt (skipped, cancelled): a marker.
    pub settled_at: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Attempt {
    /// Attempt number within its stage run (1, 2, …).
    pub number: u32,
    pub start: u64,
    pub end: Option<u64>,
    pub outcome: Outcome,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Failed and was retried (or would have been: a later one exists).
    Retried,
    Succeeded,
    Failed,
    Cancelled,
    /// No end in the journal: the run crashed or still runs.
    Unfinished,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Retried => "retried",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Unfinished => "unfinished",
        }
    }
}

/// One host of a fleet stage, from the stage's `hosts` (converge, shell on
/// hosts), `host_releases` (deploy) or `host` (migrate) output.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    pub status: String,
    pub detail: Option<String>,
    pub duration_ms: Option<u64>,
}

impl Stage {
    fn new(id: &str) -> Self {
        Stage {
            id: id.to_owned(),
            status: StageStatus::Pending,
            attempts: Vec::new(),
            outputs: Vec::new(),
            masked: Vec::new(),
            reason: None,
            hosts: Vec::new(),
            log: Vec::new(),
            log_dropped: 0,
            reused: false,
            settled_at: None,
        }
    }

    /// The attempt still open, if any.
    fn open(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut().filter(|a| a.end.is_none())
    }
}

impl Run {
    pub fn new(meta: Option<RunMeta>) -> Run {
        Run { meta, ..Run::default() }
    }

    /// Takes in one event, in journal order: a journal is read as a stream,
    /// never held whole (a run's whole output can be in it).
    pub fn apply(&mut self, e: &Event) {
        let at = event_at(e);
        if at > 0 {
            self.start = if self.start == 0 { at } else { self.start.min(at) };
            self.end = self.end.max(at);
        }
        let Some(id) = e.stage() else {
            match e {
                Event::RunStarted { .. } => {
                    self.starts += 1;
                    self.status = None;
                }
                Event::RunFinished { status, .. } => self.status = Some(*status),
                _ => {}
            }
            return;
        };
        let i = match self.index.get(id) {
            Some(i) => *i,
            None => {
                self.stages.push(Stage::new(id));
                self.index.insert(id.to_owned(), self.stages.len() - 1);
                self.stages.len() - 1
            }
        };
        apply(&mut self.stages[i], e);
    }

    /// Adds the stages the pipeline had that never started.
    pub fn finish(mut self, unreadable_lines: usize) -> Run {
        self.unreadable_lines = unreadable_lines;
        let ids: Vec<String> = self.meta.iter().flat_map(|m| m.digests.keys().chain(m.needs.keys())).cloned().collect();
        for id in ids {
            if !self.index.contains_key(&id) {
                self.index.insert(id.clone(), self.stages.len());
                self.stages.push(Stage::new(&id));
            }
        }
        self
    }

    #[cfg(test)]
    pub fn from_events(meta: Option<RunMeta>, events: &[Event], unreadable_lines: usize) -> Run {
        let mut run = Run::new(meta);
        events.iter().for_each(|e| run.apply(e));
        run.finish(unreadable_lines)
    }

    #[cfg(test)]
    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }
}

fn apply(stage: &mut Stage, e: &Event) {
    match e {
        Event::StageStarted { .. } => {
            stage.status = StageStatus::Running;
            stage.reused = false;
        }
        Event::AttemptStarted { attempt, at, .. } => {
            if let Some(open) = stage.open() {
                // An attempt that never ended before the next began: the run crashed and was resumed.
                open.end = Some(*at);
            }
            stage.attempts.push(Attempt { number: *attempt, start: *at, end: None, outcome: Outcome::Unfinished, error: None });
        }
        Event::AttemptFailed { error, retry_in_ms, at, .. } => {
            if let Some(open) = stage.open() {
                open.end = Some(*at);
                // The last failed attempt (no retry follows) is the stage's failure.
                open.outcome = if retry_in_ms.is_some() { Outcome::Retried } else { Outcome::Failed };
                open.error = Some(error.clone());
            }
        }
        Event::Log { stream, line, .. } => {
            if stage.log.len() < LOG_LINES {
                stage.log.push((stream.clone(), line.clone()));
            } else {
                stage.log_dropped += 1;
            }
        }
        Event::StageFinished { status, outputs, reason, masked, at, .. } => {
            stage.status = *status;
            stage.reason = reason.clone();
            stage.masked = masked.clone();
            stage.outputs = outputs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            stage.hosts = hosts(outputs.iter());
            let outcome = match status {
                StageStatus::Succeeded => Outcome::Succeeded,
                StageStatus::Cancelled => Outcome::Cancelled,
                _ => Outcome::Failed,
            };
            if let Some(open) = stage.open() {
                open.end = Some(*at);
                open.outcome = outcome;
                if outcome != Outcome::Succeeded {
                    open.error = reason.clone();
                }
            }
            if stage.attempts.is_empty() {
                stage.settled_at = Some(*at);
            }
        }
        Event::StageReused { at, .. } => {
            stage.status = StageStatus::Succeeded;
            stage.reused = true;
            stage.settled_at.get_or_insert(*at);
        }
        Event::CommandStarted { .. } | Event::RunStarted { .. } | Event::RunFinished { .. } => {}
    }
}

/// Per-host rows from the outputs fleet stages declare.
fn hosts<'a>(outputs: impl Iterator<Item = (&'a String, &'a Value)>) -> Vec<Host> {
    let mut out = Vec::new();
    for (name, value) in outputs {
        match (name.as_str(), value) {
            ("hosts" | "host_releases", Value::Array(items)) => {
                for item in items {
                    let Value::Object(o) = item else { continue };
                    let Some(host) = o.get("name").and_then(Value::as_str) else { continue };
                    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
                    let detail = match (o.get("exit_code").and_then(Value::as_u64), text("release")) {
                        (Some(code), _) => Some(format!("exit {code}")),
                        (None, Some(release)) => Some(format!("release {release}")),
                        (None, None) => None,
                    };
                    out.retain(|h: &Host| h.name != host);
                    out.push(Host {
                        name: host.to_owned(),
                        status: text("status").unwrap_or_else(|| "?".into()),
                        detail,
                        duration_ms: o.get("duration_ms").and_then(Value::as_u64),
                    });
                }
            }
            ("host", Value::String(host)) if !host.is_empty() => {
                out.push(Host { name: host.clone(), status: "ran".into(), detail: None, duration_ms: None });
            }
            _ => {}
        }
    }
    out
}

pub fn event_at(e: &Event) -> u64 {
    match e {
        Event::RunStarted { at, .. }
        | Event::StageStarted { at, .. }
        | Event::AttemptStarted { at, .. }
        | Event::AttemptFailed { at, .. }
        | Event::Log { at, .. }
        | Event::CommandStarted { at, .. }
        | Event::StageFinished { at, .. }
        | Event::StageReused { at, .. }
        | Event::RunFinished { at, .. } => *at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finished(stage: &str, status: StageStatus, outputs: Value, at: u64) -> Event {
        let outputs = serde_json::from_value(outputs).unwrap();
        Event::StageFinished { stage: stage.into(), status, attempts: 2, duration_ms: 1, outputs, reason: None, masked: vec![], at }
    }

    #[test]
    fn retries_become_attempts_and_fleet_outputs_become_host_rows() {
        let events = vec![
            Event::StageStarted { stage: "c".into(), at: 10 },
            Event::AttemptStarted { stage: "c".into(), attempt: 1, at: 10 },
            Event::AttemptFailed { stage: "c".into(), attempt: 1, error: "boom".into(), transient: true, retry_in_ms: Some(5), at: 20 },
            Event::AttemptStarted { stage: "c".into(), attempt: 2, at: 25 },
            finished(
                "c",
                StageStatus::Succeeded,
                json!({"hosts": [{"name": "web-1", "status": "succeeded", "exit_code": 0, "duration_ms": 4}], "host": "db-1"}),
                40,
            ),
        ];
        let run = Run::from_events(None, &events, 0);
        let c = run.stage("c").unwrap();
        let outcomes: Vec<_> = c.attempts.iter().map(|a| (a.number, a.outcome, a.end)).collect();
        assert_eq!(outcomes, [(1, Outcome::Retried, Some(20)), (2, Outcome::Succeeded, Some(40))]);
        assert_eq!(c.attempts[0].error.as_deref(), Some("boom"));
        let names: Vec<_> = c.hosts.iter().map(|h| (h.name.as_str(), h.detail.as_deref())).collect();
        assert_eq!(names, [("web-1", Some("exit 0")), ("db-1", None)]);
        assert_eq!((run.start, run.end), (10, 40));
    }

    #[test]
    fn a_stage_whose_retries_ran_out_ends_failed_on_its_last_attempt() {
        let events = vec![
            Event::AttemptStarted { stage: "b".into(), attempt: 1, at: 1 },
            Event::AttemptFailed { stage: "b".into(), attempt: 1, error: "e1".into(), transient: true, retry_in_ms: Some(1), at: 2 },
            Event::AttemptStarted { stage: "b".into(), attempt: 2, at: 3 },
            Event::AttemptFailed { stage: "b".into(), attempt: 2, error: "e2".into(), transient: true, retry_in_ms: None, at: 4 },
            finished("b", StageStatus::Failed, json!({}), 4),
        ];
        let run = Run::from_events(None, &events, 0);
        let b = run.stage("b").unwrap();
        assert_eq!(b.attempts.iter().map(|a| a.outcome).collect::<Vec<_>>(), [Outcome::Retried, Outcome::Failed]);
        assert_eq!(b.attempts[1].error.as_deref(), Some("e2"));
    }
}
