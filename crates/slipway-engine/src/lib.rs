//! Slipway's executor: runs (or plans) a validated pipeline. Scheduling over the
//! stage graph, retries, timeouts, templating, the run journal, the deploy lock
//! and secret masking live here; what each stage kind does lives in
//! `slipway-stages`, behind the traits in [`runtime`].

pub mod context;
pub mod digest;
pub mod event;
pub mod freeze;
pub mod fuzzing;
pub mod journal;
pub mod lock;
pub mod private;
pub mod render;
pub mod retry;
pub mod runid;
pub mod runtime;
pub mod scheduler;
pub mod secrets;
pub mod state;

pub use event::{Event, StageStatus};
pub use runtime::{Effect, ErrorClass, Outputs, StageEnv, StageError, StagePlan};
pub use scheduler::{PlannedStage, RunOptions, RunOutcome, execute, plan};
