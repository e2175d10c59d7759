//! Slipway's shared state in PostgreSQL: one deploy lock, one journal and one
//! run history for every CI runner that reaches the database. It implements
//! the engine's [`slipway_engine::state::State`]; the CLI picks it when given
//! `--state-url postgres://…`.
//!
//! Architecture invariant: the password of the state URL never leaves
//! [`url::StateUrl`] except to connect and to the masker.

mod conn;
mod journal;
mod lock;
mod runs;
mod schema;
mod state;
mod url;

pub use state::{PgError, PgState};
pub use url::StateUrl;
