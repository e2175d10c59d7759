//! The typed pipeline model, decoded from YAML.

mod hosts;
mod json_template;
mod pipeline;
mod ssh;
mod stage;

pub use hosts::{HostEntry, HostLimit, HostSpec, Transport};
pub use json_template::JsonTemplate;
pub use pipeline::{Defaults, Param, Pipeline, Retry, Secret};
pub use ssh::{HostKeyChecking, SshSettings};
pub use stage::{Stage, StageCommon, When};
