//! One file per stage kind: its `Plan` (pure) and, where it runs, its `Run`.

pub mod audit_ticket;
pub mod changelog;
pub mod converge;
pub mod deploy;
pub mod http;
pub mod marker;
pub mod migrate;
pub mod notify;
pub mod shell;
