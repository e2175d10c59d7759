//! Saved plans: `slipway plan --out plan.json`, reviewed, then `slipway run
//! --plan plan.json`. The plan pins what decides what a run does: the
//! pipeline file (its SHA-256), the params, the hosts (after `--limit`), and
//! the revisions each changelog resolved (read live when the plan was made).
//! `run --plan` reads them all again and refuses, naming each one that
//! changed, rather than run something other than what was reviewed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use slipway_core::kinds::Kind;
use slipway_core::{Checked, check_bytes};
use slipway_engine::runtime::{BoxFuture, Runner, Runners, StageEnv, StageError};
use slipway_engine::secrets::Masker;
use slipway_engine::{Outputs, PlannedStage};

use super::failure::{Failure, Why};
use super::files;
use super::plan::plan_stages;
use super::run::{ExecArgs, run_checked, with_params};

/// Per changelog stage, the revisions it resolved, by output (`from`, `to`).
pub type Revisions = BTreeMap<String, BTreeMap<String, String>>;

/// The format of the file; a plan from another format is refused.
const FORMAT: u32 = 1;
/// The changelog outputs that name revisions.
const REVISIONS: &[&str] = &["from", "to"];

/// The file `plan --out` writes.
#[derive(Debug, Serialize, Deserialize)]
struct SavedPlan {
    slipway_saved_plan: u32,
    /// `--limit` as given, applied again by `run --plan`.
    limit: Option<String>,
    #[serde(flatten)]
    pins: Pins,
    /// What the plan showed, for people and tools; `run --plan` does not read it.
    #[serde(default)]
    stages: serde_json::Value,
}

/// What a saved plan pins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pins {
    pipeline: String,
    /// The pipeline file, absolute.
    file: String,
    file_sha256: String,
    /// Every param's value (defaults too); a value holding secret text is kept
    /// only as `sha256:HEX`, so the plan file never holds a secret.
    params: BTreeMap<String, String>,
    /// Host names by role, after `--limit`.
    hosts: BTreeMap<String, Vec<String>>,
    /// Per changelog stage, the revisions it resolved (`from`, `to`).
    resolved: Revisions,
}

impl Pins {
    /// `sha256` is the file's, taken before it was read for `checked`: a file
    /// that changes meanwhile then shows as changed, never the other way round.
    pub fn new(
        file: &Path,
        sha256: String,
        checked: &Checked,
        params: &BTreeMap<String, String>,
        masker: &Masker,
        planned: &[PlannedStage],
    ) -> Pins {
        let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
        let hosts =
            pipeline.hosts.iter().map(|(role, list)| (role.value.clone(), list.iter().map(|h| h.name().value.clone()).collect())).collect();
        let resolved = planned
            .iter()
            .filter(|s| s.kind == "changelog" && s.live && s.error.is_none())
            .map(|s| {
                let revs = REVISIONS.iter().filter_map(|r| Some((r.to_string(), s.outputs.get(*r)?.as_str()?.to_owned()))).collect();
                (s.id.clone(), revs)
            })
            .collect();
        Pins {
            pipeline: pipeline.name.value.clone(),
            file: std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()).display().to_string(),
            file_sha256: sha256,
            params: params.iter().map(|(k, v)| (k.clone(), pinned_value(v, masker))).collect(),
            hosts,
            resolved,
        }
    }

    /// What changed from `self` (the plan) to `now`, one line each.
    fn stale(&self, now: &Pins, planned: &[PlannedStage]) -> Vec<String> {
        let mut out = Vec::new();
        if self.file_sha256 != now.file_sha256 {
            out.push(format!("the pipeline file {} changed since the plan was made", self.file));
        }
        for (name, then) in &self.params {
            match now.params.get(name) {
                None => out.push(format!("param `{name}` is no longer declared")),
                Some(v) if v != then && (then.starts_with("sha256:") || v.starts_with("sha256:")) => {
                    out.push(format!("param `{name}` changed (it held secret text, so neither value is shown)"))
                }
                Some(v) if v != then => out.push(format!("param `{name}`: `{then}` in the plan, `{v}` now")),
                Some(_) => {}
            }
        }
        out.extend(now.params.keys().filter(|k| !self.params.contains_key(*k)).map(|k| format!("param `{k}` is new")));
        let roles: std::collections::BTreeSet<&String> = self.hosts.keys().chain(now.hosts.keys()).collect();
        for role in roles {
            let (then, is) = (self.hosts.get(role), now.hosts.get(role));
            if then != is {
                let list = |h: Option<&Vec<String>>| h.filter(|h| !h.is_empty()).map_or("none".to_owned(), |h| h.join(", "));
                out.push(format!("hosts of role `{role}`: {} in the plan, {} now", list(then), list(is)));
            }
        }
        for (stage, revs) in &self.resolved {
            let failed = planned.iter().find(|s| &s.id == stage).and_then(|s| s.error.as_deref());
            match (now.resolved.get(stage), failed) {
                (_, Some(err)) => out.push(format!("stage `{stage}`: cannot resolve its revisions again: {err}")),
                (None, None) => out.push(format!("stage `{stage}`: no longer resolves revisions")),
                (Some(now_revs), None) => {
                    for (name, then) in revs {
                        let is = now_revs.get(name).map_or("nothing", String::as_str);
                        if is != then {
                            out.push(format!("stage `{stage}`: `{name}` resolved to {} in the plan, {} now", short(then), short(is)));
                        }
                    }
                }
            }
        }
        out.extend(
            now.resolved
                .keys()
                .filter(|k| !self.resolved.contains_key(*k))
                .map(|k| format!("stage `{k}`: resolves revisions the plan did not pin")),
        );
        out
    }
}

/// Saves the plan; `limit` as the command line gave it.
pub fn write(out: &Path, limit: Option<&str>, pins: &Pins, planned: &[PlannedStage]) -> Result<(), Failure> {
    let saved =
        SavedPlan { slipway_saved_plan: FORMAT, limit: limit.map(str::to_owned), pins: pins.clone(), stages: serde_json::json!(planned) };
    let text = serde_json::to_string_pretty(&saved).unwrap_or_default();
    std::fs::write(out, format!("{text}\n")).map_err(|e| {
        Failure::new(Why::Io, format!("cannot write the plan to {}: {e}", out.display())).help("name a file in a folder you can write to")
    })?;
    eprintln!("saved the plan to {}: `slipway run --plan {}` runs it, unless what it pinned changed", out.display(), out.display());
    Ok(())
}

/// `slipway run --plan PLAN`: runs the pipeline the plan names, as planned,
/// or refuses with `stale-plan`, naming what changed.
pub fn run(plan: &Path, given: &[String], exec: &ExecArgs) -> Result<i32, Failure> {
    let saved = read(plan)?;
    let file = PathBuf::from(&saved.pins.file);
    let made_from = format!("the plan {} was made from this file", plan.display());
    let (checked, sha256) = load_pinned(&file).map_err(|f| f.or_help(made_from))?;
    let declared = |k: &str| checked.pipeline.as_ref().is_some_and(|p| p.params.contains_key(k));
    let given = with_plan_params(&saved.pins.params, given, declared).map_err(|f| f.file(&file))?;
    let limit = exec.limit.clone().or(saved.limit.clone());
    let (checked, params) = with_params(checked, &file, &given, limit.as_deref())?;
    let (planned, masker) = plan_stages(&file, &checked, &params, true, &exec.state)?;
    let now = Pins::new(&file, sha256, &checked, &params, &masker, &planned);
    let stale = saved.pins.stale(&now, &planned);
    if !stale.is_empty() {
        return Err(Failure::new(Why::StalePlan, format!("refusing to run the saved plan {}: it is stale:", plan.display()))
            .file(&file)
            .details(stale)
            .help(format!("make and review a new plan: `slipway plan {} --out {}`", file.display(), plan.display())));
    }
    // What was checked is what runs: the file is not read again.
    run_checked(&file, &checked, params, &ExecArgs { limit, ..exec.clone() }, &saved.pins.resolved, &Default::default())
}

/// A run's runners, each pinned changelog checked again as it runs: a ref
/// that moved after the check above (a push in the meantime) fails that stage,
/// permanently, before any stage that reads it starts.
pub struct PinnedRevisions<'a> {
    live: &'a dyn Runners,
    changelog: CheckedChangelog<'a>,
}

struct CheckedChangelog<'a> {
    inner: &'a dyn Runner,
    pinned: &'a Revisions,
}

impl<'a> PinnedRevisions<'a> {
    pub fn new(live: &'a dyn Runners, pinned: &'a Revisions) -> Self {
        PinnedRevisions { live, changelog: CheckedChangelog { inner: live.runner(Kind::Changelog), pinned } }
    }
}

impl Runners for PinnedRevisions<'_> {
    fn runner(&self, kind: Kind) -> &dyn Runner {
        match kind {
            Kind::Changelog => &self.changelog,
            other => self.live.runner(other),
        }
    }

    fn can_run(&self, kind: Kind) -> bool {
        self.live.can_run(kind)
    }
}

impl Runner for CheckedChangelog<'_> {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            let outputs = self.inner.run(env).await?;
            for (name, then) in self.pinned.get(&env.stage.id.value).into_iter().flatten() {
                let now = outputs.get(name).and_then(|v| v.as_str()).unwrap_or("nothing");
                if now != then {
                    let message = format!(
                        "stale plan: `{name}` resolved to {} now, the plan pinned {}: make and review a new plan",
                        short(now),
                        short(then)
                    );
                    return Err(StageError::permanent(message));
                }
            }
            Ok(outputs)
        })
    }
}

/// A valid pipeline, and the SHA-256 of the bytes it was read from.
pub fn load_pinned(file: &Path) -> Result<(Checked, String), Failure> {
    let name = file.display().to_string();
    let checked_and_hash = match files::read(file).map_err(|e| Failure::new(Why::Io, e).file(file))? {
        files::Contents::Bytes(bytes) => (check_bytes(&name, &bytes), hex(&Sha256::digest(&bytes))),
        files::Contents::TooLarge => (Checked::too_large(&name), String::new()),
    };
    match checked_and_hash {
        (checked, sha) if checked.is_valid() => Ok((checked, sha)),
        (checked, _) => Err(Failure::invalid(checked)),
    }
}

/// The params to run with: the plan's, each replaced by a `--param` given
/// now (compared with the plan below, like everything else). A param the
/// file no longer declares is left out here and named as stale. One the plan
/// kept only as a hash must be given again.
fn with_plan_params(pinned: &BTreeMap<String, String>, given: &[String], declared: impl Fn(&str) -> bool) -> Result<Vec<String>, Failure> {
    let named_now = |k: &str| given.iter().any(|g| g.split_once('=').is_some_and(|(n, _)| n == k));
    let mut out = Vec::new();
    for (k, v) in pinned.iter().filter(|(k, _)| declared(k) && !named_now(k)) {
        if v.starts_with("sha256:") {
            let message = format!("param `{k}` held secret text, which the plan does not keep");
            return Err(Failure::new(Why::InvalidArgument, message).help(format!("give it again with `--param {k}=VALUE`")));
        }
        out.push(format!("{k}={v}"));
    }
    out.extend(given.iter().cloned());
    Ok(out)
}

fn read(plan: &Path) -> Result<SavedPlan, Failure> {
    let bytes = std::fs::read(plan).map_err(|e| Failure::new(Why::Io, format!("cannot read the plan {}: {e}", plan.display())))?;
    let saved: SavedPlan = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::new(Why::InvalidArgument, format!("{} is not a saved plan: {e}", plan.display()))
            .help("make one with `slipway plan FILE --out PLAN`")
    })?;
    if saved.slipway_saved_plan != FORMAT {
        let message =
            format!("{} is a saved plan of format {}, this version reads format {FORMAT}", plan.display(), saved.slipway_saved_plan);
        return Err(Failure::new(Why::InvalidArgument, message).help("make a new plan with this version: `slipway plan FILE --out PLAN`"));
    }
    Ok(saved)
}

/// A param as the plan keeps it: as is, or its SHA-256 when it holds secret text.
fn pinned_value(value: &str, masker: &Masker) -> String {
    match masker.mask(value) == value {
        true => value.to_owned(),
        false => format!("sha256:{}", hex(&Sha256::digest(value.as_bytes()))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A revision for a message: a full SHA cut to 12 characters.
fn short(rev: &str) -> &str {
    match rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => &rev[..12],
        false => rev,
    }
}
