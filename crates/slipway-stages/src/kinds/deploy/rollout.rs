//! The rolling switch: batches of `batch_size` hosts, each through drain,
//! switch, restart, health check and ready; the first failed batch stops the
//! rollout. Then `on_failure: rollback` takes every host on the new release
//! back to the release it came from, the same way; `halt` leaves them.
//!
//! Where each host stands is read from the host before anything moves, so a
//! retry or a resume after a crash never switches a host that is done, and
//! finishes a host that was left between its switch and its health check.

use serde_json::{Value, json};
use slipway_core::kinds::OnFailure;
use slipway_engine::runtime::{BoxFuture, ErrorClass, StageError};

use super::fleet::{Deploy, Node, batch_size};
use super::layout::{self, View};
use super::step::{Goal, Outcome};
use crate::transport::run_limited;

/// Where a host ended, and how.
#[derive(Debug, Clone)]
pub struct HostReport {
    pub name: String,
    /// The release `current` points to.
    pub release: Option<String>,
    /// `updated`, `unchanged` (it was on the release already), `failed`,
    /// `rolled_back`, `rollback_failed`, `not_reached`.
    pub status: &'static str,
    pub error: Option<String>,
}

impl HostReport {
    pub fn to_json(&self) -> Value {
        json!({ "name": self.name, "release": self.release, "status": self.status })
    }

    /// `web-3 on 20260101000000 (rolled back)`.
    pub fn brief(&self) -> String {
        let on = self.release.as_deref().unwrap_or("no release");
        format!("{} on {on} ({})", self.name, self.status.replace('_', " "))
    }
}

/// How a rollout (or a rollback) ended.
pub struct Rolled {
    pub hosts: Vec<HostReport>,
    /// What failed, with where every host is; `None`: every host got there.
    pub error: Option<String>,
}

impl Deploy<'_> {
    /// Reads where every host stands (and sets each node's `root`). A host that
    /// cannot be read fails the whole step: nothing has moved yet.
    pub async fn inspect_all(&self, nodes: &mut [Node], release: Option<&str>) -> Result<Vec<View>, StageError> {
        let results = {
            let nodes_ref: &[Node] = nodes;
            let look = |i: usize| -> BoxFuture<'_, Result<View, StageError>> {
                let node = &nodes_ref[i];
                Box::pin(async move {
                    let said = self.exec(node, "looking at the host", layout::inspect(&node.dir, release), None, true).await?;
                    Ok(View::parse(&said))
                })
            };
            run_limited(nodes_ref.len(), nodes_ref.len(), look, |_, _| true).await
        };
        let mut views = Vec::new();
        let mut failed = Vec::new();
        for (node, result) in nodes.iter_mut().zip(results) {
            match result.unwrap_or_else(|| Err(StageError::transient("not started"))) {
                Ok(view) if view.root.is_empty() => failed.push(format!("{}: {} does not exist", node.name(), node.deploy_to)),
                Ok(view) => {
                    node.root = view.root.clone();
                    views.push(view);
                }
                Err(e) if e.class == ErrorClass::Transient => return Err(StageError::transient(format!("{}: {}", node.name(), e.message))),
                Err(e) => failed.push(format!("{}: {}", node.name(), e.message)),
            }
        }
        match failed.is_empty() {
            true => Ok(views),
            false => Err(StageError::permanent(format!("nothing was switched: {}", failed.join("; ")))),
        }
    }

    /// Switches every host to `release`, batch by batch.
    pub async fn roll_out(&self, nodes: &[Node], views: &[View], release: &str, revision: &str) -> Rolled {
        let goal = Goal { release: release.to_owned(), revision: Some(revision.to_owned()), back: false };
        let mut hosts: Vec<HostReport> = nodes
            .iter()
            .zip(views)
            .map(|(n, v)| HostReport { name: n.name().to_owned(), release: v.current.clone(), status: "not_reached", error: None })
            .collect();
        let mut todo = Vec::new();
        for (i, v) in views.iter().enumerate() {
            if v.current.as_deref() == Some(release) && v.switching.is_none() {
                hosts[i].status = "unchanged";
                self.env.log("stdout", &format!("[{}] already on release {release}: not switched again", nodes[i].name()));
            } else {
                todo.push(i);
            }
        }
        let size = batch_size(self.c.batch_size, nodes.len());
        let (failed, stopped) = self.batches(nodes, &todo, size, &mut hosts, |_| goal.clone(), ("updated", "failed")).await;
        let Some(failed) = failed else {
            return Rolled { hosts, error: stopped };
        };
        let what = failed.iter().map(|(i, o)| format!("{} ({})", nodes[*i].name(), o.error.as_deref().unwrap_or("?"))).collect::<Vec<_>>();
        let mut error = format!("release {release} failed on {}", what.join(", "));
        if self.c.on_failure == OnFailure::Halt {
            let drained: Vec<&str> = failed.iter().filter(|(_, o)| o.drained).map(|(i, _)| nodes[*i].name()).collect();
            error.push_str("; `on_failure: halt`: nothing was switched back");
            if !drained.is_empty() {
                error.push_str(&format!(", and {} stays out of the load balancer", drained.join(", ")));
            }
            return Rolled { error: Some(format!("{error}. Hosts: {}", summary(&hosts))), hosts };
        }
        // Back, failed batch first: every host that is on the new release now.
        for (i, o) in &failed {
            if !o.switched
                && o.drained
                && let Err(e) = self.ready(&nodes[*i], self.health_timeout()).await
            {
                hosts[*i].error = Some(format!("{}; putting it back: {}", hosts[*i].error.as_deref().unwrap_or(""), e.message));
            }
        }
        let mut back: Vec<usize> = failed.iter().filter(|(_, o)| o.switched).map(|(i, _)| *i).collect();
        back.extend(hosts.iter().enumerate().rev().filter(|(_, h)| matches!(h.status, "updated" | "unchanged")).map(|(i, _)| i));
        let goals: Vec<Option<Goal>> = (0..nodes.len()).map(|i| previous(&views[i], release)).collect();
        let (stuck, _) = self.rollback_hosts(nodes, &back, size, &mut hosts, &goals).await;
        match stuck {
            true => {
                // Say why each host that did not come back did not: that is what someone fixes next.
                let why: Vec<String> = hosts
                    .iter()
                    .filter(|h| h.status == "rollback_failed")
                    .filter_map(|h| h.error.as_ref().map(|e| format!("{}: {e}", h.name)))
                    .collect();
                error.push_str("; rolling back did not bring every host back");
                if !why.is_empty() {
                    error.push_str(&format!(" ({})", why.join("; ")));
                }
            }
            false => error.push_str("; rolled back to the previous release"),
        }
        Rolled { error: Some(format!("{error}. Hosts: {}", summary(&hosts))), hosts }
    }

    /// Switches `which` hosts back to their goals (`None`: nowhere to go back
    /// to), batch by batch, going on past a failure: every host back is one more
    /// on a release known to work. True when some host did not get back.
    pub async fn rollback_hosts(
        &self,
        nodes: &[Node],
        which: &[usize],
        size: usize,
        hosts: &mut [HostReport],
        goals: &[Option<Goal>],
    ) -> (bool, Option<String>) {
        let (mut can, mut stuck) = (Vec::new(), false);
        for &i in which {
            match &goals[i] {
                Some(_) => can.push(i),
                None => {
                    stuck = true;
                    hosts[i].status = "rollback_failed";
                    hosts[i].error = Some("no previous release to go back to".into());
                    self.env.log("stderr", &format!("[{}] no previous release to go back to: left as it is", nodes[i].name()));
                }
            }
        }
        let mut start = 0;
        while start < can.len() {
            let chunk = &can[start..(start + size).min(can.len())];
            let (failed, stopped) = self
                .batches(
                    nodes,
                    chunk,
                    size,
                    hosts,
                    |i| goals[i].clone().expect("`can` holds only hosts with a goal"),
                    ("rolled_back", "rollback_failed"),
                )
                .await;
            stuck |= failed.is_some();
            if stopped.is_some() {
                return (true, stopped);
            }
            start += size;
        }
        (stuck, None)
    }

    /// Runs `which` in batches of `size`, each host to `goal(i)`, until a
    /// batch has a failure: returns that batch's failures, or why it stopped
    /// early (an interrupt).
    async fn batches(
        &self,
        nodes: &[Node],
        which: &[usize],
        size: usize,
        hosts: &mut [HostReport],
        goal: impl Fn(usize) -> Goal,
        (ok_status, failed_status): (&'static str, &'static str),
    ) -> (Option<Vec<(usize, Outcome)>>, Option<String>) {
        for chunk in which.chunks(size) {
            if self.env.is_cancelled() {
                return (None, Some("stopped: the run was interrupted".into()));
            }
            let goals: Vec<Goal> = chunk.iter().map(|&i| goal(i)).collect();
            let outcomes =
                run_limited(chunk.len(), chunk.len(), |k| Box::pin(self.switch_host(&nodes[chunk[k]], &goals[k])), |_, _| true).await;
            let mut failed = Vec::new();
            for ((&i, goal), outcome) in chunk.iter().zip(&goals).zip(outcomes) {
                let outcome = outcome.unwrap_or_else(|| Outcome { error: Some("not started".into()), ..Outcome::default() });
                let name = nodes[i].name();
                if outcome.switched {
                    hosts[i].release = Some(goal.release.clone());
                }
                match &outcome.error {
                    None => {
                        hosts[i].status = ok_status;
                        self.env.log(
                            "stdout",
                            &format!("[{name}] on release {} ({}): {}", goal.release, ok_status.replace('_', " "), outcome.timings()),
                        );
                    }
                    Some(e) => {
                        hosts[i].status = failed_status;
                        hosts[i].error = Some(e.clone());
                        self.env.log("stderr", &format!("[{name}] {}: {e} ({})", failed_status.replace('_', " "), outcome.timings()));
                        failed.push((i, outcome));
                    }
                }
            }
            if !failed.is_empty() {
                return (Some(failed), None);
            }
        }
        (None, None)
    }
}

/// Where a host goes back to from `release`: the release it was on before
/// (as it was found), or the one `release` replaced.
pub fn previous(view: &View, release: &str) -> Option<Goal> {
    let (to, revision) = match view.current.as_deref() {
        Some(current) if current != release => (Some(current.to_owned()), view.current_revision.clone()),
        _ => (view.release_previous.clone().or(view.previous.clone()), view.previous_revision.clone()),
    };
    to.map(|release| Goal { release, revision, back: true })
}

/// Where a host goes back to from the release it is on (`slipway rollback`).
pub fn before_current(view: &View) -> Option<Goal> {
    view.current.as_ref()?;
    view.previous.clone().map(|release| Goal { release, revision: view.previous_revision.clone(), back: true })
}

/// `web-1 on 20260101000000 (rolled back), web-2 on …`.
pub fn summary(hosts: &[HostReport]) -> String {
    hosts.iter().map(HostReport::brief).collect::<Vec<_>>().join(", ")
}
