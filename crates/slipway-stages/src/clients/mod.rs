//! One file per outside service: its requests, its error classes, its types.
//! A client never knows which stage called it; a kind never builds a URL or
//! reads a status line itself.

pub mod deployment_info;
pub mod git;
pub mod github;
pub mod request;
pub mod webhook;
