//! End-to-end tests of the `slipway` binary: one test binary, a module per concern.

mod chat_standin;
mod durability;
mod fixtures;
mod graph;
mod notify;
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
