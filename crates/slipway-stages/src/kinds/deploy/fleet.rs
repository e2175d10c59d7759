//! One run of a deploy stage over its hosts: each host's rendered fields, and
//! running a script there with the deploy's variables.

use std::time::{Duration, Instant};

use slipway_core::decode::Portion;
use slipway_core::kinds::{DeployConfig, StageConfig};
use slipway_engine::runtime::{HostInfo, StageEnv, StageError};

use crate::HttpCap;
use crate::transport::{Exit, Fleet, Job, Session};

pub fn config<'a>(env: &'a StageEnv<'a>) -> &'a DeployConfig {
    match &env.stage.config {
        StageConfig::Deploy(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

/// The release a run makes: the UTC time in its id (`20261122T031530Z-3f9a1c`
/// gives `20261122031530`), the same on every host, on every retry and after a
/// resume. `None` for a plan's placeholder id.
pub fn release_id(run_id: &str) -> Option<String> {
    let stamp = run_id.get(..16)?;
    let digits: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits.len() == 14 && stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z')).then_some(digits)
}

/// Hosts per batch: a count or a share of the role, at least 1.
pub fn batch_size(portion: Option<Portion>, hosts: usize) -> usize {
    portion.map_or(1, |p| p.of(hosts)).max(1)
}

/// A host of the role with its fields rendered for it.
pub struct Node {
    pub info: HostInfo,
    /// `deploy_to` as written, rendered (relative to the remote home, or locally
    /// to the pipeline's folder); see [`Node::root`] for the absolute path.
    pub deploy_to: String,
    /// `deploy_to` as a shell word (see [`super::layout::dir_word`]).
    pub dir: String,
    /// `deploy_to` as the host resolved it; set once the host has been looked at.
    pub root: String,
    /// The deploy's `env`, rendered for the host.
    pub env: Vec<(String, String)>,
}

impl Node {
    pub fn name(&self) -> &str {
        &self.info.name
    }
}

/// A deploy stage's fields, rendered per host: all a plan needs.
pub struct Fields<'a> {
    pub env: &'a StageEnv<'a>,
    pub c: &'a DeployConfig,
}

impl<'a> Fields<'a> {
    pub fn new(env: &'a StageEnv<'a>) -> Self {
        Fields { env, c: config(env) }
    }

    /// The role's hosts, each with `deploy_to` and `env` rendered for it.
    pub fn nodes(&self) -> Result<Vec<Node>, StageError> {
        self.env
            .hosts(&self.c.hosts)
            .into_iter()
            .map(|info| {
                let deploy_to = self.env.render_for_host(&self.c.deploy_to.source, &info)?;
                let env = self
                    .c
                    .env
                    .iter()
                    .map(|(k, v)| Ok((k.value.clone(), self.env.render_for_host(&v.source, &info)?)))
                    .collect::<Result<_, StageError>>()?;
                let dir = super::layout::dir_word(&deploy_to, info.transport == slipway_core::model::Transport::Ssh);
                Ok(Node { info, deploy_to, dir, root: String::new(), env })
            })
            .collect()
    }

    pub fn render(&self, template: &str, node: &Node) -> Result<String, StageError> {
        self.env.render_for_host(template, &node.info)
    }
}

/// What a deploy stage acts through in one attempt: its fields, the hosts'
/// transports and HTTP (for health checks).
pub struct Deploy<'a> {
    pub fields: Fields<'a>,
    pub http: &'a HttpCap,
    pub session: Session,
}

impl<'a> std::ops::Deref for Deploy<'a> {
    type Target = Fields<'a>;

    fn deref(&self) -> &Fields<'a> {
        &self.fields
    }
}

impl<'a> Deploy<'a> {
    pub fn new(env: &'a StageEnv<'a>, fleet: &Fleet, http: &'a HttpCap) -> Self {
        Deploy { fields: Fields::new(env), http, session: fleet.session() }
    }

    /// Runs `script` on the host; a non-zero exit is a permanent error naming `step`.
    /// The deploy's `env` is exported, with the release's variables when `release` is given.
    pub async fn exec(&self, node: &Node, step: &str, script: String, release: Option<&str>, capture: bool) -> Result<String, StageError> {
        let mut vars = node.env.clone();
        vars.push(("SLIPWAY_HOST".into(), node.name().to_owned()));
        if let Some(id) = release {
            vars.extend(release_vars(node, id));
        }
        let job = Job { script, env: vars, workdir: None, capture };
        let done = self.session.open(self.env, &node.info)?.exec(self.env, &job).await?;
        match done.exit {
            Exit::Code(0) => Ok(String::from_utf8_lossy(&done.stdout).into_owned()),
            Exit::Code(code) => Err(StageError::permanent(format!("{step} exited {code}"))),
            Exit::Signal(sig) => Err(StageError::permanent(format!("{step} was killed by signal {sig}"))),
        }
    }

    /// Runs a command on this machine, for the host (`load_balancer.commands`).
    pub async fn exec_here(&self, node: &Node, step: &str, script: String) -> Result<(), StageError> {
        let here = HostInfo { transport: slipway_core::model::Transport::Local, ..node.info.clone() };
        let mut vars = node.env.clone();
        vars.push(("SLIPWAY_HOST".into(), node.name().to_owned()));
        let job = Job { script, env: vars, workdir: None, capture: false };
        let done = self.session.open(self.env, &here)?.exec(self.env, &job).await?;
        match done.exit {
            Exit::Code(0) => Ok(()),
            Exit::Code(code) => Err(StageError::permanent(format!("{step} exited {code}"))),
            Exit::Signal(sig) => Err(StageError::permanent(format!("{step} was killed by signal {sig}"))),
        }
    }

    /// Waits `wait`, or less if the run is interrupted (then an error).
    pub async fn pause(&self, wait: Duration) -> Result<(), StageError> {
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            () = self.env.interrupted() => Err(StageError::permanent("stopped: the run was interrupted")),
        }
    }

    /// The user running the deploy, for `revisions.log`.
    pub fn user(&self) -> String {
        self.env.context.pointer("/run/user").and_then(|v| v.as_str()).unwrap_or("slipway").to_owned()
    }
}

/// What user commands see of the release: `SLIPWAY_RELEASE`, `SLIPWAY_RELEASE_DIR`, `SLIPWAY_DEPLOY_TO`
/// (every command also sees `SLIPWAY_HOST`).
pub fn release_vars(node: &Node, id: &str) -> Vec<(String, String)> {
    vec![
        ("SLIPWAY_RELEASE".into(), id.to_owned()),
        ("SLIPWAY_RELEASE_DIR".into(), format!("{}/releases/{id}", node.root)),
        ("SLIPWAY_DEPLOY_TO".into(), node.root.clone()),
    ]
}

/// Times a step.
pub async fn timed<T>(took: &mut Vec<(&'static str, Duration)>, name: &'static str, step: impl Future<Output = T>) -> T {
    let start = Instant::now();
    let out = step.await;
    took.push((name, start.elapsed()));
    out
}

/// `12ms`, `1.4s`.
pub fn short(d: Duration) -> String {
    match d.as_millis() {
        ms @ 0..1000 => format!("{ms}ms"),
        ms => format!("{:.1}s", ms as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_comes_from_the_run_id() {
        assert_eq!(release_id("20261122T031530Z-3f9a1c").as_deref(), Some("20261122031530"));
        assert_eq!(release_id("<run-id>"), None);
        assert_eq!(release_id("2026112203153000-x"), None);
    }

    #[test]
    fn batches_are_counts_or_shares_of_at_least_one() {
        assert_eq!(batch_size(None, 4), 1);
        assert_eq!(batch_size(Some(Portion::Count(2)), 4), 2);
        assert_eq!(batch_size(Some(Portion::Percent(50)), 4), 2);
        assert_eq!(batch_size(Some(Portion::Percent(10)), 4), 1);
        assert_eq!(batch_size(Some(Portion::Percent(100)), 4), 4);
    }
}
