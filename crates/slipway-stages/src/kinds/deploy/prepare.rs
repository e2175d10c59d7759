//! Preparing a release on every host of the role, all at once, while they
//! still serve: make `releases/<id>`, fill it from `source`, write `REVISION`,
//! link the shared paths, run `build`, mark it complete. Nothing running is
//! touched, so a failed fetch or build costs nothing but the attempt. A host
//! whose release is already complete (an earlier attempt, or the run before a
//! crash) is not prepared again.

use std::time::Instant;

use slipway_engine::runtime::{ErrorClass, StageError};

use super::fleet::{Deploy, Fields, Node, short};
use super::layout;
use crate::transport::run_limited;

/// The scripts that fill a fresh release on `node` (after [`layout::begin`]),
/// in order, each with what it is called in messages.
pub fn fill_steps(d: &Fields<'_>, node: &Node, release: &str, revision: &str) -> Result<Vec<(&'static str, String)>, StageError> {
    let (c, root, rel) = (d.c, node.root.as_str(), format!("{}/releases/{release}", node.root));
    let mut steps = Vec::new();
    let fill = match (&c.source.git, &c.source.artifact, &c.source.command) {
        (Some(g), _, _) => {
            let reference = match &g.r#ref {
                Some(r) => d.render(&r.source, node)?,
                None => revision.to_owned(),
            };
            ("the git checkout", layout::fill_git(root, release, &d.render(&g.repo.source, node)?, &reference))
        }
        (_, Some(a), _) => {
            let sum = a.sha256.as_ref().map(|s| d.render(&s.source, node)).transpose()?;
            ("the artifact download", layout::fill_artifact(root, release, &d.render(&a.url.source, node)?, sum.as_deref()))
        }
        (_, _, Some(command)) => ("`source.command`", layout::in_dir(&rel, &d.render(&command.source, node)?)),
        _ => return Err(StageError::permanent("`source` needs one of `git`, `artifact` or `command`")),
    };
    steps.push(fill);
    let (files, dirs) = c.shared.as_ref().map_or((&[][..], &[][..]), |s| (&s.files[..], &s.dirs[..]));
    steps.push(("linking the shared paths", layout::link(root, release, revision, files, dirs)));
    if let Some(build) = &c.build {
        steps.push(("`build`", layout::in_dir(&rel, &d.render(&build.source, node)?)));
    }
    steps.push(("marking the release complete", layout::seal(root, release, d.env.run_id)));
    Ok(steps)
}

impl Deploy<'_> {
    /// Prepares `release` on every host. Fills in each node's `root`.
    pub async fn prepare(&self, nodes: &mut [Node], release: &str, revision: &str) -> Result<(), StageError> {
        let results = {
            let nodes_ref: &[Node] = nodes;
            run_limited(nodes_ref.len(), nodes_ref.len(), |i| Box::pin(self.prepare_host(&nodes_ref[i], release, revision)), |_, _| true)
                .await
        };
        let mut failed = Vec::new();
        for (node, result) in nodes.iter_mut().zip(results) {
            match result {
                Some(Ok(root)) => node.root = root,
                Some(Err(e)) => failed.push((node.name().to_owned(), e)),
                None => failed.push((node.name().to_owned(), StageError::transient("not started"))),
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        let names = failed.iter().map(|(n, e)| format!("{n} ({})", e.message)).collect::<Vec<_>>().join(", ");
        let message = format!(
            "preparing release {release} failed on {} of {} hosts: {names}; no host was switched, every host still runs its previous release",
            failed.len(),
            nodes.len()
        );
        // Worth another attempt when every failure was a host out of reach.
        Err(match failed.iter().all(|(_, e)| e.class == ErrorClass::Transient) {
            true => StageError::transient(message),
            false => StageError::permanent(message),
        })
    }

    /// Prepares one host; returns `deploy_to` as the host resolved it.
    async fn prepare_host(&self, node: &Node, release: &str, revision: &str) -> Result<String, StageError> {
        let start = Instant::now();
        let said = self.exec(node, "making the release folder", layout::begin(&node.dir, release, self.env.run_id), None, true).await?;
        let (state, root) = said.trim().split_once(' ').unwrap_or(("", ""));
        if root.is_empty() && said.trim().is_empty() {
            return Err(StageError::permanent(
                "making the release folder printed nothing, where it prints the folder: check that `bash -s` on the host runs the script it reads",
            ));
        }
        if root.is_empty() {
            return Err(StageError::permanent(format!("making the release folder said `{}`", said.trim())));
        }
        if state == "prepared" {
            self.env.log("stdout", &format!("[{}] release {release} was prepared by an earlier attempt: kept", node.name()));
            return Ok(root.to_owned());
        }
        let node = Node {
            info: node.info.clone(),
            deploy_to: node.deploy_to.clone(),
            dir: node.dir.clone(),
            root: root.to_owned(),
            env: node.env.clone(),
        };
        for (step, script) in fill_steps(self, &node, release, revision)? {
            self.exec(&node, step, script, Some(release), false).await?;
        }
        self.env.log("stdout", &format!("[{}] prepared release {release} ({revision}) in {}", node.name(), short(start.elapsed())));
        Ok(node.root)
    }
}
