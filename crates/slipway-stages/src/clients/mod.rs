//! One file per outside service: its requests, its error classes, its types.
//! A client never knows which stage called it; a kind never builds a URL or
//! reads a status line itself.

pub mod mattermost;
pub mod request;
pub mod slack;
pub mod teams;
pub mod webhook;
