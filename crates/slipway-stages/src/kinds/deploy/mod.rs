//! `deploy`: a zero-downtime rolling deploy in the Capistrano layout. Every host
//! gets the release first, while it still serves (`prepare`); then, batch by
//! batch, each host leaves the load balancer, switches `current`, restarts,
//! passes its health check and comes back (`rollout`); a failure takes the
//! hosts on the new release back to their previous one. See `docs/stages/deploy.md`.

mod balancer;
mod fleet;
mod health;
mod layout;
mod plan;
mod prepare;
mod rollout;
mod run;
mod step;

pub use plan::Plan;
pub use run::{Run, rollback};
