//! One host through a switch: drain, switch `current`, restart, health check,
//! ready, finish. A deploy and a rollback go through the same steps; only the
//! release, the revision to expect, and what is recorded differ.

use std::time::Duration;

use super::fleet::{Deploy, Node, short, timed};
use super::layout;

/// Where a host goes.
#[derive(Debug, Clone)]
pub struct Goal {
    pub release: String,
    /// What the health check must see (`revision_pointer`); `None`: not checked.
    pub revision: Option<String>,
    /// A rollback: the release need not be Slipway's, and nothing is recorded as previous.
    pub back: bool,
}

/// How a host's switch went.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Why it failed, naming the step.
    pub error: Option<String>,
    /// `current` points at the goal's release now.
    pub switched: bool,
    /// Still out of the load balancer.
    pub drained: bool,
    pub took: Vec<(&'static str, Duration)>,
}

impl Outcome {
    /// `drain 12ms, switch 9ms, restart 8ms, health 412ms, ready 105ms`.
    pub fn timings(&self) -> String {
        self.took.iter().map(|(step, d)| format!("{step} {}", short(*d))).collect::<Vec<_>>().join(", ")
    }
}

impl Deploy<'_> {
    /// Moves one host to `goal`. Stops at the first step that fails and says
    /// which; what was done is in the outcome (`switched`, `drained`).
    pub async fn switch_host(&self, node: &Node, goal: &Goal) -> Outcome {
        let mut out = Outcome::default();
        let balanced = self.has_balancer();
        let fail = |out: &mut Outcome, step: &str, why: String| out.error = Some(format!("{step}: {why}"));

        out.drained = balanced;
        if let Err(e) = timed(&mut out.took, "drain", self.drain(node)).await {
            fail(&mut out, "drain", e.message);
            return out;
        }
        let script = layout::switch(&node.root, &goal.release, !goal.back, !goal.back);
        if let Err(e) = timed(&mut out.took, "switch", self.exec(node, "the switch", script, None, false)).await {
            fail(&mut out, "switch", e.message);
            return out;
        }
        out.switched = true;
        if let Some(restart) = &self.c.restart {
            let ran = async {
                let command = self.render(&restart.source, node)?;
                let script = layout::in_dir(&format!("{}/current", node.root), &command);
                self.exec(node, "`restart`", script, Some(&goal.release), false).await
            };
            if let Err(e) = timed(&mut out.took, "restart", ran).await {
                fail(&mut out, "restart", e.message);
                return out;
            }
        }
        if self.c.health_check.is_some()
            && let Err(why) = timed(&mut out.took, "health", self.healthy(node, goal.revision.as_deref())).await
        {
            fail(&mut out, "health check", why);
            return out;
        }
        if let Err(e) = timed(&mut out.took, "ready", self.ready(node, self.health_timeout())).await {
            fail(&mut out, "ready", e.message);
            return out;
        }
        out.drained = false;
        let (line, keep) = match goal.back {
            false => {
                let rev = goal.revision.as_deref().unwrap_or("?");
                (
                    format!("Revision {rev} deployed as release {} by {}", goal.release, self.user()),
                    Some(self.c.keep_releases.map_or(5, |k| k.0)),
                )
            }
            true => (format!("{} rolled back to release {}", self.user(), goal.release), None),
        };
        if let Err(e) =
            timed(&mut out.took, "finish", self.exec(node, "recording the release", layout::finish(&node.root, &line, keep), None, false))
                .await
        {
            fail(&mut out, "finish", e.message);
        }
        out
    }
}
