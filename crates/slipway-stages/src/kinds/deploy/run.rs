//! Running a deploy stage: `phase: all` prepares the release on every host
//! and then rolls it out; `prepare` and `switch` do one half each, so that a
//! migration can run between them. `slipway rollback` goes through the same
//! rollout, backwards.

use serde_json::{Value, json};
use slipway_core::kinds::DeployPhase;
use slipway_engine::runtime::{BoxFuture, Outputs, Runner, StageEnv, StageError};

use super::fleet::{Deploy, Node, batch_size, release_id};
use super::layout::View;
use super::rollout::{HostReport, before_current, previous, summary};
use crate::HttpCap;
use crate::transport::Fleet;

pub struct Run {
    pub fleet: Fleet,
    pub http: HttpCap,
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            if self.fleet.is_read_only() {
                return Err(StageError::permanent("a deploy changes hosts: it does not run while planning"));
            }
            let d = Deploy::new(env, &self.fleet, &self.http);
            let revision = env.render(&d.c.revision)?;
            let mut nodes = d.nodes()?;
            if nodes.is_empty() {
                return Err(StageError::permanent(format!("host role `{}` has no hosts (after `--limit`)", d.c.hosts.value)));
            }
            let release = match d.c.phase {
                DeployPhase::All | DeployPhase::Prepare => release_id(env.run_id)
                    .ok_or_else(|| StageError::permanent(format!("run id `{}` holds no start time to name the release", env.run_id)))?,
                DeployPhase::Switch => switch_release(&d)?,
            };
            if d.c.phase != DeployPhase::Switch {
                d.prepare(&mut nodes, &release, &revision).await?;
            }
            let views = d.inspect_all(&mut nodes, Some(&release)).await?;
            if d.c.phase == DeployPhase::Prepare {
                let hosts = nodes
                    .iter()
                    .zip(&views)
                    .map(|(n, v)| HostReport { name: n.name().to_owned(), release: v.current.clone(), status: "prepared", error: None })
                    .collect::<Vec<_>>();
                return Ok(outputs(&nodes, &views, &release, &revision, &hosts, |_| true));
            }
            check_prepared(&nodes, &views, &release, &revision)?;
            d.check_balancer(&nodes).await?;
            let rolled = d.roll_out(&nodes, &views, &release, &revision).await;
            let out = outputs(&nodes, &views, &release, &revision, &rolled.hosts, |h| h.release.as_deref() == Some(&release));
            match rolled.error {
                // A failed rollout still says where every host ended and
                // whether it rolled back, for the `failure`/`always` stages
                // that page someone or post to chat.
                Some(e) => Err(StageError::permanent(e).with_outputs(out)),
                None => Ok(out),
            }
        })
    }
}

/// `release` of a `phase: switch` stage: a release folder's name.
fn switch_release(d: &Deploy<'_>) -> Result<String, StageError> {
    let Some(t) = &d.c.release else { return Err(StageError::permanent("`phase: switch` needs `release`")) };
    let release = d.env.render(t)?.trim().to_owned();
    let plain = !release.is_empty() && !release.starts_with('.') && release.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    match plain {
        true => Ok(release),
        false => Err(StageError::permanent(format!(
            "`release` is `{release}`, not a release folder's name: give the `release` output of the stage with `phase: prepare`"
        ))),
    }
}

/// Before anything moves: the release is complete on every host, with the revision this stage deploys.
fn check_prepared(nodes: &[Node], views: &[View], release: &str, revision: &str) -> Result<(), StageError> {
    let mut problems = Vec::new();
    for (n, v) in nodes.iter().zip(views) {
        if !v.prepared {
            problems.push(format!("{}: release {release} is not prepared there", n.name()));
        } else if let Some(got) = v.release_revision.as_deref().filter(|got| *got != revision) {
            problems.push(format!("{}: release {release} holds revision `{got}`, not `{revision}`", n.name()));
        }
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(StageError::permanent(format!(
            "nothing was switched: {}; run the `phase: prepare` stage for this release first, with the same `revision`",
            problems.join("; ")
        ))),
    }
}

fn outputs(
    nodes: &[Node],
    views: &[View],
    release: &str,
    revision: &str,
    hosts: &[HostReport],
    on_release: impl Fn(&HostReport) -> bool,
) -> Outputs {
    let first = previous(&views[0], release);
    let mut out = Outputs::new();
    out.insert("release".into(), Value::String(release.to_owned()));
    out.insert("release_path".into(), Value::String(format!("{}/releases/{release}", nodes[0].root)));
    out.insert("revision".into(), Value::String(revision.to_owned()));
    out.insert("previous_revision".into(), Value::String(first.and_then(|g| g.revision).unwrap_or_default()));
    out.insert("hosts".into(), Value::Array(hosts.iter().filter(|h| on_release(h)).map(|h| json!(h.name)).collect()));
    out.insert("rolled_back".into(), Value::Bool(hosts.iter().any(|h| h.status == "rolled_back")));
    out.insert("host_releases".into(), Value::Array(hosts.iter().map(HostReport::to_json).collect()));
    out
}

/// `slipway rollback`: every host of the stage's role back to the release
/// before the one it is on, with the same drain, restart, health check and
/// ready as a deploy. `Ok` with the report when every host is back and
/// healthy; `Err` with the report otherwise.
pub fn rollback<'a>(env: &'a StageEnv<'a>, fleet: &'a Fleet, http: &'a HttpCap) -> BoxFuture<'a, Result<String, String>> {
    Box::pin(async move {
        let d = Deploy::new(env, fleet, http);
        if d.c.phase == DeployPhase::Prepare {
            return Err(format!(
                "stage `{}` only prepares releases (`phase: prepare`): roll back the stage that switches them",
                env.stage.id.value
            ));
        }
        let mut nodes = d.nodes().map_err(|e| e.message)?;
        if nodes.is_empty() {
            return Err(format!("host role `{}` has no hosts", d.c.hosts.value));
        }
        let views = d.inspect_all(&mut nodes, None).await.map_err(|e| e.message)?;
        d.check_balancer(&nodes).await.map_err(|e| e.message)?;
        let goals: Vec<_> = views.iter().map(before_current).collect();
        let mut hosts: Vec<HostReport> = nodes
            .iter()
            .zip(&views)
            .map(|(n, v)| HostReport { name: n.name().to_owned(), release: v.current.clone(), status: "not_reached", error: None })
            .collect();
        let all: Vec<usize> = (0..nodes.len()).collect();
        let (stuck, stopped) = d.rollback_hosts(&nodes, &all, batch_size(d.c.batch_size, nodes.len()), &mut hosts, &goals).await;
        let report = summary(&hosts);
        match (stuck, stopped) {
            (false, None) => Ok(report),
            (_, Some(why)) => Err(format!("{why}. Hosts: {report}")),
            (true, None) => {
                let why: Vec<String> = hosts.iter().filter_map(|h| h.error.as_ref().map(|e| format!("{}: {e}", h.name))).collect();
                Err(format!("not every host is back: {}. Hosts: {report}", why.join("; ")))
            }
        }
    })
}
