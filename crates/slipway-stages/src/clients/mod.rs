//! One file per outside service: its requests, its error classes, its types.
//! A client never knows which stage called it; a kind never builds a URL or
//! reads a status line itself.

pub mod adf;
pub mod datadog;
pub mod elasticsearch;
pub mod grafana;
pub mod haproxy;
pub mod jira;
pub mod redis;
pub mod request;
pub mod webhook;
