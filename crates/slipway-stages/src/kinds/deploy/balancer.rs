//! Taking a host out of its load balancer and putting it back: HAProxy's
//! runtime API (drain, wait for its sessions to end, ready, wait for UP), or
//! the pipeline's own `drain` and `ready` commands, run on this machine.

use std::time::{Duration, Instant};

use slipway_core::kinds::HaproxyDrain;
use slipway_engine::runtime::StageError;

use super::fleet::{Deploy, Fields, Node, short};
use crate::clients::haproxy::{Haproxy, Socket, State};

/// How often HAProxy's sessions and status are read while waiting.
const POLL: Duration = Duration::from_millis(20);

/// Default `drain_timeout`.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A host's server in HAProxy: the client and `backend`/`server`, rendered for the host.
pub struct Server {
    pub haproxy: Haproxy,
    pub backend: String,
    pub server: String,
}

/// The HAProxy server of `node`, every field rendered for it.
pub fn server(d: &Fields<'_>, h: &HaproxyDrain, node: &Node) -> Result<Server, StageError> {
    let socket = Socket::parse(&d.render(&h.socket.source, node)?, d.env.base_dir);
    let server = match &h.server {
        Some(s) => d.render(&s.source, node)?,
        None => node.name().to_owned(),
    };
    Ok(Server { haproxy: Haproxy { socket }, backend: d.render(&h.backend.source, node)?, server })
}

impl Deploy<'_> {
    pub fn has_balancer(&self) -> bool {
        self.c.load_balancer.as_ref().is_some_and(|lb| lb.haproxy.is_some() || lb.commands.is_some())
    }

    /// Before anything moves: every host's server is in HAProxy's `show stat`
    /// (a wrong `backend` or `server` found at the third batch would mean a rollback).
    pub async fn check_balancer(&self, nodes: &[Node]) -> Result<(), StageError> {
        let Some(h) = self.c.load_balancer.as_ref().and_then(|lb| lb.haproxy.as_ref()) else { return Ok(()) };
        for node in nodes {
            let s = server(self, h, node)?;
            s.haproxy
                .server(&s.backend, &s.server)
                .await
                .map_err(|e| StageError { message: format!("nothing was switched: {}", e.message), ..e })?;
        }
        Ok(())
    }

    /// Takes the host out of rotation and waits until it serves no one.
    pub async fn drain(&self, node: &Node) -> Result<(), StageError> {
        let Some(lb) = &self.c.load_balancer else { return Ok(()) };
        if let Some(c) = &lb.commands {
            return self.exec_here(node, "the load balancer's `drain` command", self.render(&c.drain.source, node)?).await;
        }
        let Some(h) = &lb.haproxy else { return Ok(()) };
        let s = server(self, h, node)?;
        s.haproxy.set_state(&s.backend, &s.server, State::Drain).await?;
        let limit = h.drain_timeout.map_or(DRAIN_TIMEOUT, |t| t.0);
        let start = Instant::now();
        loop {
            let stat = s.haproxy.server(&s.backend, &s.server).await?;
            if stat.scur == 0 {
                return Ok(());
            }
            if start.elapsed() >= limit {
                self.env.log(
                    "stderr",
                    &format!(
                        "[{}] warning: {} session(s) still open after `drain_timeout` ({}): going on",
                        node.name(),
                        stat.scur,
                        short(limit)
                    ),
                );
                return Ok(());
            }
            self.pause(POLL).await?;
        }
    }

    /// Puts the host back into rotation; with HAProxy, waits (up to `within`)
    /// until HAProxy sees it UP, so that the next batch never leaves the
    /// backend without servers.
    pub async fn ready(&self, node: &Node, within: Duration) -> Result<(), StageError> {
        let Some(lb) = &self.c.load_balancer else { return Ok(()) };
        if let Some(c) = &lb.commands {
            return self.exec_here(node, "the load balancer's `ready` command", self.render(&c.ready.source, node)?).await;
        }
        let Some(h) = &lb.haproxy else { return Ok(()) };
        let s = server(self, h, node)?;
        s.haproxy.set_state(&s.backend, &s.server, State::Ready).await?;
        let start = Instant::now();
        loop {
            let stat = s.haproxy.server(&s.backend, &s.server).await?;
            if stat.is_up() {
                return Ok(());
            }
            if start.elapsed() >= within {
                return Err(StageError::permanent(format!(
                    "HAProxy still shows {}/{} as {} {} after it was set ready",
                    s.backend,
                    s.server,
                    stat.status,
                    short(within)
                )));
            }
            self.pause(POLL).await?;
        }
    }
}
