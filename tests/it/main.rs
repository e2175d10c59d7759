//! End-to-end tests of the `slipway` binary: one test binary, a module per concern.

mod durability;
mod fixtures;
mod graph;
mod pipelines;
mod plan;
mod property;
mod run;
mod sandbox;
mod schema;
mod secrets;
mod server;
mod standin;
mod support;
mod validate;
mod changelog;
mod github_standin;
