//! One file per outside service: its requests, its error classes, its types.
//! A client never knows which stage called it; a kind never builds a URL or
//! reads a status line itself.

pub mod adf;
pub mod datadog;
pub mod deployment_info;
pub mod elasticsearch;
pub mod git;
pub mod github;
pub mod grafana;
pub mod haproxy;
pub mod jira;
pub mod mattermost;
pub mod redis;
pub mod request;
pub mod slack;
pub mod teams;
pub mod webhook;
