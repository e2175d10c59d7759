//! What a deploy would do, host by host: the scripts a run sends (built by the
//! same functions), the load balancer's commands, the health check's request.

use slipway_core::kinds::{DeployConfig, DeployPhase, OnFailure};
use slipway_engine::runtime::{Effect, Planner, StageEnv, StageError, StagePlan};

use super::balancer::server;
use super::fleet::{Fields, Node, batch_size, release_id};
use super::health::{self, DEFAULT_TIMEOUT};
use super::layout;
use super::prepare::fill_steps;
use crate::clients::haproxy::{State, set_state_command};

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let d = Fields::new(env);
        let c = d.c;
        let mut nodes = d.nodes()?;
        let release = match c.phase {
            DeployPhase::Switch => c.release.as_ref().map(|t| env.render(t)).transpose()?.unwrap_or_default(),
            _ => release_id(env.run_id).unwrap_or_else(|| "<release>".into()),
        };
        let revision = env.render(&c.revision)?;
        let mut effects = vec![Effect::Note { text: overview(c, &nodes, &release) }];
        let mut prepare = Vec::new();
        for node in &mut nodes {
            node.root = planned_root(node, env.project_root);
            if c.phase != DeployPhase::Switch {
                let on = vec![node.name().to_owned()];
                let cmd = |command: String| Effect::Command { command, on: on.clone(), env: node.env.clone(), workdir: None };
                let mut steps = vec![cmd(layout::begin(&node.dir, &release, env.run_id))];
                steps.extend(fill_steps(&d, node, &release, &revision)?.into_iter().map(|(_, script)| cmd(script)));
                prepare.push(steps);
            }
        }
        effects.extend(merged(prepare));
        if c.phase != DeployPhase::Prepare {
            for node in &nodes {
                effects.extend(switch_steps(&d, c, node, &release, &revision)?);
            }
        }
        Ok(StagePlan { effects })
    }
}

/// `deploy_to` as the plan can know it: a run reads the absolute path from
/// the host. A local path is resolved here; a remote one under the login's
/// home is shown as `<home>/…`, since only the host knows where that is.
fn planned_root(node: &Node, project_root: &std::path::Path) -> String {
    let d = node.deploy_to.as_str();
    if d.starts_with('/') {
        return d.to_owned();
    }
    let under_home = d.strip_prefix("~/").or((d == "~").then_some(""));
    match (node.info.transport == slipway_core::model::Transport::Ssh, under_home) {
        (true, home) => format!("<home>/{}", home.unwrap_or(d)).trim_end_matches('/').to_owned(),
        (false, Some(rest)) => match std::env::var("HOME") {
            Ok(h) => format!("{h}/{rest}").trim_end_matches('/').to_owned(),
            Err(_) => format!("<home>/{rest}").trim_end_matches('/').to_owned(),
        },
        (false, None) => project_root.join(d).display().to_string(),
    }
}

fn overview(c: &DeployConfig, nodes: &[Node], release: &str) -> String {
    let batches: Vec<String> =
        nodes.chunks(batch_size(c.batch_size, nodes.len())).map(|b| b.iter().map(|n| n.name()).collect::<Vec<_>>().join(", ")).collect();
    let phase = match c.phase {
        DeployPhase::All => "prepare it on every host first, while they serve, then switch",
        DeployPhase::Prepare => "prepare it on every host (nothing running is touched; a later `phase: switch` stage switches)",
        DeployPhase::Switch => "switch to it (a `phase: prepare` stage made it)",
    };
    let switching = match c.phase {
        DeployPhase::Prepare => String::new(),
        _ => format!(
            "; batches: [{}]; on failure: {}",
            batches.join("], ["),
            match c.on_failure {
                OnFailure::Rollback => "switch every host on the new release back to its previous release",
                OnFailure::Halt => "stop and leave hosts as they are (a failed host stays out of the load balancer)",
            }
        ),
    };
    let named = match c.phase {
        DeployPhase::Switch => String::new(),
        _ => " (named after the run's start: YYYYMMDDHHMMSS, UTC)".to_owned(),
    };
    format!("release {release}{named} on {} hosts of `{}`: {phase}{switching}", nodes.len(), c.hosts.value)
}

/// Each host's steps; the same steps on every host (rendered alike) shown once, on all of them.
fn merged(per_host: Vec<Vec<Effect>>) -> Vec<Effect> {
    let strip = |e: &Effect| match e {
        Effect::Command { command, env, workdir, .. } => {
            Effect::Command { command: command.clone(), on: Vec::new(), env: env.clone(), workdir: workdir.clone() }
        }
        other => other.clone(),
    };
    let alike = per_host.windows(2).all(|w| w[0].len() == w[1].len() && w[0].iter().zip(&w[1]).all(|(a, b)| strip(a) == strip(b)));
    if !alike || per_host.len() < 2 {
        return per_host.into_iter().flatten().collect();
    }
    let hosts: Vec<String> = per_host
        .iter()
        .filter_map(|steps| match steps.first() {
            Some(Effect::Command { on, .. }) => on.first().cloned(),
            _ => None,
        })
        .collect();
    per_host
        .into_iter()
        .next()
        .unwrap_or_default()
        .into_iter()
        .map(|e| match e {
            Effect::Command { command, env, workdir, .. } => Effect::Command { command, on: hosts.clone(), env, workdir },
            other => other,
        })
        .collect()
}

fn switch_steps(d: &Fields<'_>, c: &DeployConfig, node: &Node, release: &str, revision: &str) -> Result<Vec<Effect>, StageError> {
    let on = vec![node.name().to_owned()];
    let cmd = |command: String, on: &Vec<String>| Effect::Command { command, on: on.clone(), env: node.env.clone(), workdir: None };
    let here = vec!["local".to_owned()];
    let mut steps = Vec::new();
    let lb = c.load_balancer.as_ref();
    if let Some(h) = lb.and_then(|lb| lb.haproxy.as_ref()) {
        let s = server(d, h, node)?;
        steps.push(Effect::Note {
            text: format!(
                "haproxy {}: `{}`, then wait until `show stat` shows no sessions (up to {}s)",
                d.render(&h.socket.source, node)?,
                set_state_command(&s.backend, &s.server, State::Drain),
                h.drain_timeout.map_or(30, |t| t.0.as_secs())
            ),
        });
    }
    if let Some(cmds) = lb.and_then(|lb| lb.commands.as_ref()) {
        steps.push(cmd(d.render(&cmds.drain.source, node)?, &here));
    }
    steps.push(cmd(layout::switch(&node.root, release, true, true), &on));
    if let Some(restart) = &c.restart {
        steps.push(cmd(layout::in_dir(&format!("{}/current", node.root), &d.render(&restart.source, node)?), &on));
    }
    if let Some(h) = &c.health_check {
        steps.push(health::request(d, h, node)?.effect());
        let expect = match &h.revision_pointer {
            Some(p) => format!("status {} and `{}` matching {revision}", h.expect_status.map_or(200, |s| s.0), p.value),
            None => format!("status {}", h.expect_status.map_or(200, |s| s.0)),
        };
        let (timeout, interval) = (h.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0), h.interval.map_or(1000, |i| i.0.as_millis()));
        steps.push(Effect::Note { text: format!("{}: until {expect}, every {interval}ms, up to {}s", node.name(), timeout.as_secs()) });
    }
    if let Some(h) = lb.and_then(|lb| lb.haproxy.as_ref()) {
        let s = server(d, h, node)?;
        steps.push(Effect::Note {
            text: format!("haproxy: `{}`, then wait until it is UP", set_state_command(&s.backend, &s.server, State::Ready)),
        });
    }
    if let Some(cmds) = lb.and_then(|lb| lb.commands.as_ref()) {
        steps.push(cmd(d.render(&cmds.ready.source, node)?, &here));
    }
    let line = format!("Revision {revision} deployed as release {release} by <user>");
    steps.push(cmd(layout::finish(&node.root, &line, Some(c.keep_releases.map_or(5, |k| k.0))), &on));
    Ok(steps)
}
