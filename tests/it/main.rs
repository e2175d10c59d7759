//! End-to-end tests of the `slipway` binary: one test binary, a module per concern.

mod audit_ticket;
mod dashboards_standin;
mod deploy;
mod durability;
mod fixtures;
mod fleet;
mod fleet_harness;
mod graph;
mod haproxy_harness;
mod jira_standin;
mod marker;
mod marker_redis;
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
