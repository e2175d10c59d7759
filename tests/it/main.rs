//! End-to-end tests of the `slipway` binary: one test binary, a module per concern.

mod fixtures;
mod graph;
mod pipelines;
mod property;
mod schema;
mod support;
mod validate;
