//! What happens during a run, as data: reporters print events, the journal
//! stores them, resume replays them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::runtime::Outputs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl StageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Running => "running",
            StageStatus::Succeeded => "succeeded",
            StageStatus::Failed => "failed",
            StageStatus::Skipped => "skipped",
            StageStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_settled(self) -> bool {
        !matches!(self, StageStatus::Pending | StageStatus::Running)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// One thing that happened. `at` is milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        pipeline: String,
        params: BTreeMap<String, String>,
        resumed: bool,
        at: u64,
    },
    StageStarted {
        stage: String,
        at: u64,
    },
    AttemptStarted {
        stage: String,
        attempt: u32,
        at: u64,
    },
    AttemptFailed {
        stage: String,
        attempt: u32,
        error: String,
        transient: bool,
        retry_in_ms: Option<u64>,
        at: u64,
    },
    Log {
        stage: String,
        stream: String,
        line: String,
        at: u64,
    },
    /// A stage started a command in process group `pgid` (on the machine whose
    /// boot is `boot_id`): a resume checks that nothing of it still runs.
    CommandStarted {
        stage: String,
        pgid: u32,
        boot_id: String,
        at: u64,
    },
    StageFinished {
        stage: String,
        status: StageStatus,
        attempts: u32,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Outputs::is_empty")]
        outputs: Outputs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Outputs that held secret text: they are kept masked, so a resumed run
        /// cannot reuse them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        masked: Vec<String>,
        at: u64,
    },
    /// A stage that succeeded in an earlier attempt of this run (resume): not run again.
    StageReused {
        stage: String,
        at: u64,
    },
    RunFinished {
        status: RunStatus,
        duration_ms: u64,
        at: u64,
    },
}

impl Event {
    pub fn stage(&self) -> Option<&str> {
        match self {
            Event::StageStarted { stage, .. }
            | Event::AttemptStarted { stage, .. }
            | Event::AttemptFailed { stage, .. }
            | Event::Log { stage, .. }
            | Event::CommandStarted { stage, .. }
            | Event::StageFinished { stage, .. }
            | Event::StageReused { stage, .. } => Some(stage),
            Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        }
    }

    /// The same event with secrets masked in its free text: params, errors, log
    /// lines, outputs and reasons. Names (stage ids, event and status names)
    /// are left alone, so masking can never change what the event refers to.
    pub fn masked(&self, m: &crate::secrets::Masker) -> Event {
        if m.is_empty() {
            return self.clone();
        }
        let mut e = self.clone();
        match &mut e {
            Event::RunStarted { params, .. } => params.values_mut().for_each(|v| *v = m.mask(v)),
            Event::AttemptFailed { error, .. } => *error = m.mask(error),
            Event::Log { line, .. } => *line = m.mask(line),
            Event::StageFinished { outputs, reason, masked, .. } => {
                for (name, v) in outputs.iter_mut() {
                    let hidden = m.mask_json(v);
                    if hidden != *v {
                        masked.push(name.clone());
                        *v = hidden;
                    }
                }
                if let Some(r) = reason {
                    *r = m.mask(r);
                }
            }
            Event::StageStarted { .. }
            | Event::AttemptStarted { .. }
            | Event::CommandStarted { .. }
            | Event::StageReused { .. }
            | Event::RunFinished { .. } => {}
        }
        e
    }

    /// Stage boundaries: the journal fsyncs after these.
    pub fn is_boundary(&self) -> bool {
        matches!(self, Event::RunStarted { .. } | Event::StageStarted { .. } | Event::StageFinished { .. } | Event::RunFinished { .. })
    }
}

/// The reason of a stage skipped by its own `if`: that counts as done, for the
/// stages after it and for resume.
pub const SKIPPED_BY_IF: &str = "its `if` condition is false";

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}
