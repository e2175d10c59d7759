//! End-to-end tests of the `slipway` binary: one test binary, a module per concern.

mod audit_ticket;
mod durability;
mod fixtures;
mod graph;
mod jira_standin;
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
