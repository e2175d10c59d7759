//! End-to-end tests of the `slipway` binary: one test binary, a module per concern.

mod audit_ticket;
mod changelog;
mod chat_standin;
mod dashboards_standin;
mod durability;
mod fixtures;
mod fleet;
mod fleet_harness;
mod github_standin;
mod graph;
mod jira_standin;
mod marker;
mod marker_redis;
mod notify;
mod pipelines;
mod plan;
mod property;
mod redis_server;
mod run;
mod sandbox;
mod schema;
mod secrets;
mod server;
mod standin;
mod support;
mod validate;
