//! The typed pipeline model, decoded from YAML.

mod hosts;
mod json_template;
mod pipeline;
mod stage;

pub use hosts::{HostEntry, HostSpec};
pub use json_template::JsonTemplate;
pub use pipeline::{Defaults, Param, Pipeline, Retry, Secret};
pub use stage::{Stage, StageCommon, When};
