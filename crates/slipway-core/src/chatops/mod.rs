//! The chat-ops config of `slipway serve`: which chat commands may deploy what.
//! It is decoded and checked with the same machinery as pipelines (spans,
//! every problem at once), and recognised by its top-level `aliases` key.

mod check;
mod model;
mod policy;

pub use check::{PipelineFacts, cross_check};
pub use model::{Alias, AllowRule, ChatOps, ConfirmRule, MattermostSettings, SlackSettings};
pub use policy::{Refusal, Request};

pub(crate) use check::check;
