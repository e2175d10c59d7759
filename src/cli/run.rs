//! `slipway run` (of a file or of a saved plan) and `slipway resume`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_core::Checked;
use slipway_engine::RunOptions;
use slipway_engine::context::{RunInfo, resolve_params};
use slipway_engine::digest::digests;
use slipway_engine::event::RunStatus;
use slipway_engine::journal::{Replay, RunMeta};
use slipway_engine::lock::{self, Holder, LockError};
use slipway_engine::runid::{new_run_id, now_secs, rfc3339};
use slipway_engine::secrets::{Masker, resolve};
use slipway_engine::state::{HeldLock, State};
use slipway_stages::{Live, unsupported_stages};
use tokio::sync::{mpsc, watch};

use super::failure::{Failure, Why};
use super::plan::PlanArgs;
use super::report::{OutputFormat, report};
use super::{exit, load, plan, saved_plan};

#[derive(clap::Args, Debug, Clone)]
pub struct StateArgs {
    /// Where runs and locks are kept. Default: `.slipway` at the root of the
    /// project, the nearest folder at or above the pipeline file (for `runs` and
    /// `resume`, the current folder) that holds `.slipway` or `.git`; without
    /// one, beside the pipeline file.
    #[arg(long, env = "SLIPWAY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Keep the deploy lock, the journal and run history in PostgreSQL, shared
    /// by every runner: `postgres://USER:PASSWORD@HOST:5432/DB` (`?sslmode=require`
    /// for TLS). The state folder then keeps only per-machine things.
    #[arg(long, env = "SLIPWAY_STATE_URL", value_name = "URL", hide_env_values = true)]
    pub state_url: Option<String>,
}

impl StateArgs {
    /// The state folder for a pipeline in, or a command run from, the folder
    /// `near`. It does not depend on where a pipeline is run from: the deploy
    /// lock must be the same for everyone who runs it.
    pub fn resolve(&self, near: &Path) -> PathBuf {
        match &self.state_dir {
            Some(dir) => dir.clone(),
            None => project_root(near).join(".slipway"),
        }
    }

    /// The state folder of the pipeline `file`.
    pub fn for_pipeline(&self, file: &Path) -> PathBuf {
        let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        self.resolve(file.parent().unwrap_or(Path::new(".")))
    }
}

/// The project's root for a pipeline in, or a command run from, the folder
/// `near`: the nearest folder at or above it holding `.slipway` or `.git`;
/// without one, `near` itself. Local commands run there, as in GitHub Actions.
pub fn project_root(near: &Path) -> PathBuf {
    let near = if near.as_os_str().is_empty() { Path::new(".") } else { near };
    let start = std::path::absolute(near).unwrap_or_else(|_| near.to_path_buf());
    start.ancestors().find(|d| d.join(".slipway").is_dir() || d.join(".git").exists()).unwrap_or(&start).to_path_buf()
}

/// The project's root of the pipeline `file`.
pub(super) fn project_root_of(file: &Path) -> PathBuf {
    project_root(&load::base_dir(file))
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The pipeline file (not with `--plan`: the plan names it).
    #[arg(required_unless_present = "plan")]
    pub file: Option<PathBuf>,
    /// A param: `--param version=1.2.3` (repeatable). With `--plan`, the plan's
    /// params are used, and one given here must equal the plan's.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Show what would happen, change nothing (same as `slipway plan`).
    #[arg(long)]
    pub dry_run: bool,
    /// Run a plan saved by `slipway plan --out`, refusing if anything it pinned
    /// changed (the file, params, hosts, revisions a changelog resolved).
    #[arg(long, value_name = "PLAN", conflicts_with_all = ["file", "dry_run"])]
    pub plan: Option<PathBuf>,
    /// What started the run, for the record (`slipway serve` passes `chat`).
    #[arg(long, hide = true)]
    pub trigger: Option<String>,
    /// Who asked for the run, for the record and the lock (`slipway serve`
    /// passes the chat user, `slack:U024BE7LH (alice)`).
    #[arg(long, hide = true)]
    pub run_user: Option<String>,
    /// The run's id, chosen by `slipway serve` so that it can answer with it at once.
    #[arg(long, hide = true)]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// What `run` and `resume` share.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    /// Stages running at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel: u16,
    /// How to show the run (errors before it starts too).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Wait for the deploy lock instead of failing at once (optionally up to TIMEOUT, default 1h).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "1h", value_name = "TIMEOUT")]
    pub wait_lock: Option<String>,
    /// Only these hosts: comma-separated host names or roles, `*` globs (`web-1,worker*`).
    #[arg(long, value_name = "PATTERN")]
    pub limit: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// The run to continue, as `slipway runs` lists it.
    pub run_id: String,
    /// The pipeline file, when it is no longer where the run started it (a CI
    /// workspace in another folder). Its name and what is left to run must be
    /// unchanged.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Resume even though the journal is damaged (a line that cannot be read,
    /// another run's events, a success missing an output that is read): what
    /// can be read is trusted, and a stage whose success is in doubt runs again.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// One thread: the scheduler polls every stage future itself, so worker threads
/// would only add cross-thread wake-ups (measured on the `cargo xtask bench
/// exec` DAG of 1,000 `true` stages, 2 at a time: 484 ms with two workers, 431 ms
/// with one thread). Journal fsyncs run on the blocking pool beside it.
pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// A valid pipeline and its params, or why not.
fn load_with_params(file: &Path, given: &[String], limit: Option<&str>) -> Result<(Checked, BTreeMap<String, String>), Failure> {
    with_params(load::pipeline(file)?, file, given, limit)
}

/// A valid pipeline narrowed to `--limit`, and its params, or why not.
pub(super) fn with_params(
    mut checked: Checked,
    file: &Path,
    given: &[String],
    limit: Option<&str>,
) -> Result<(Checked, BTreeMap<String, String>), Failure> {
    limit_hosts(&mut checked, limit).map_err(|f| f.file(file))?;
    let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
    let params = resolve_params(pipeline, given).map_err(|e| Failure::param(e).file(file))?;
    Ok((checked, params))
}

/// Keeps only the hosts `--limit` selects: a plan or a run then sees no others.
pub(super) fn limit_hosts(checked: &mut Checked, limit: Option<&str>) -> Result<(), Failure> {
    let (Some(text), Some(pipeline)) = (limit, checked.pipeline.as_mut()) else { return Ok(()) };
    let limit = slipway_core::model::HostLimit::parse(text).map_err(|e| Failure::new(Why::LimitInvalid, e))?;
    let unmatched = limit.apply(&mut pipeline.hosts);
    if !unmatched.is_empty() {
        let known: Vec<String> = pipeline
            .hosts
            .iter()
            .flat_map(|(role, hosts)| std::iter::once(role.value.clone()).chain(hosts.iter().map(|h| h.name().value.clone())))
            .collect();
        return Err(Failure::new(Why::LimitNoMatch, format!("--limit: `{}` matches no host and no role", unmatched.join("`, `")))
            .help(format!("roles and hosts: {}", if known.is_empty() { "none".to_owned() } else { known.join(", ") })));
    }
    Ok(())
}

pub fn run(args: RunArgs) -> i32 {
    let format = args.exec.format;
    let file = match (args.file, &args.plan) {
        (Some(file), None) => file,
        (None, Some(plan)) => return saved_plan::run(plan, &args.params, &args.exec).unwrap_or_else(|f| f.report(format)),
        _ => return Failure::new(Why::InvalidArgument, "name the pipeline file, or a saved plan with `--plan`").report(format),
    };
    if args.dry_run {
        let (limit, state) = (args.exec.limit, args.exec.state);
        let format = format.into();
        return plan::run(PlanArgs { file, params: args.params, live_reads: false, format, limit, state, out: None });
    }
    let origin = Origin { run_id: args.run_id, user: args.run_user, trigger: args.trigger };
    started(&file, &args.params, &args.exec, &origin).unwrap_or_else(|f| f.report(format))
}

/// Who or what started a run, when not the person at the terminal
/// (`slipway serve` passes a chat user, `chat`, and the id it answered with).
#[derive(Debug, Default)]
pub(super) struct Origin {
    pub run_id: Option<String>,
    pub user: Option<String>,
    pub trigger: Option<String>,
}

fn started(file: &Path, given: &[String], exec: &ExecArgs, origin: &Origin) -> Result<i32, Failure> {
    let (checked, params) = load_with_params(file, given, exec.limit.as_deref())?;
    run_checked(file, &checked, params, exec, &BTreeMap::new(), origin)
}

/// Runs a pipeline already loaded, narrowed to `exec.limit`, with its params;
/// `pinned`: revisions changelog stages must resolve to (a saved plan's).
pub(super) fn run_checked(
    file: &Path,
    checked: &Checked,
    params: BTreeMap<String, String>,
    exec: &ExecArgs,
    pinned: &saved_plan::Revisions,
    origin: &Origin,
) -> Result<i32, Failure> {
    let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
    let file = std::fs::canonicalize(file).unwrap_or(file.to_path_buf());
    let root = project_root_of(&file);
    let meta = RunMeta {
        run_id: origin.run_id.clone().filter(|id| is_run_id(id)).unwrap_or_else(new_run_id),
        pipeline: pipeline.name.value.clone(),
        file: file.display().to_string(),
        params,
        digests: digests(pipeline),
        user: origin.user.clone().unwrap_or_else(lock::username),
        host: lock::hostname(),
        pid: std::process::id(),
        started_at: rfc3339(now_secs()),
        masked_params: Vec::new(),
        needs: RunMeta::needs_of(&checked.dag),
        trigger: origin.trigger.clone(),
        file_in_project: file.strip_prefix(&root).ok().map(|p| p.display().to_string()),
        file_hash: std::fs::read(&file).ok().map(|b| slipway_engine::digest::content_digest(&b)),
    };
    let state = exec.state.for_pipeline(&file);
    let store = exec.state.open(&state).map_err(|f| f.file(&file))?;
    let prepared = Prepared { pinned: pinned.clone(), ..prepare(checked, &meta, exec.wait_lock.as_deref(), &*store, &exec.state)? };
    execute(checked, meta, None, prepared, exec, &state, &*store)
}

/// A run id names a folder: only letters, digits and `-`.
fn is_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub fn resume(args: ResumeArgs) -> i32 {
    let format = args.exec.format;
    resumed(args).unwrap_or_else(|f| f.report(format))
}

fn resumed(args: ResumeArgs) -> Result<i32, Failure> {
    let x = &args.exec;
    let state = &x.state.resolve(Path::new("."));
    let store = x.state.open(state)?;
    let meta = match store.meta(&args.run_id) {
        Ok(meta) => match &args.file {
            // Recorded absolute, as `run` records it, so the next resume finds it too.
            Some(f) => RunMeta { file: std::path::absolute(f).unwrap_or_else(|_| f.clone()).display().to_string(), ..meta },
            None => super::state::found_elsewhere(meta),
        },
        Err(e) => {
            let message = format!("cannot open run `{}` under {}: {e}", args.run_id, store.describe());
            return Err(Failure::new(Why::RunNotFound, message).help("`slipway runs` lists the runs there"));
        }
    };
    let file = Path::new(&meta.file);
    let checked = load::pipeline(file).and_then(|mut c| limit_hosts(&mut c, x.limit.as_deref()).map(|()| c)).map_err(|f| {
        let moved = format!(
            "run {} was started from {}; if the file moved, name it: `slipway resume {} --file PATH`",
            meta.run_id, meta.file, meta.run_id
        );
        f.file(file).or_help(moved)
    })?;
    let name = &checked.pipeline.as_ref().expect("valid pipelines decode").name.value;
    if *name != meta.pipeline {
        // The deploy lock is named after the pipeline: another name, another lock.
        let message = format!("refusing to resume run {}: the pipeline was renamed from `{}` to `{name}`", meta.run_id, meta.pipeline);
        return Err(Failure::new(Why::PipelineRenamed, message)
            .file(file)
            .help(format!("start a new run with `slipway run {}`", meta.file)));
    }
    // A run that ended well needs nothing (not even its secrets): a finished run
    // records nothing more, so this read needs no lock.
    let nothing_to_do = |done: &Replay| {
        let succeeded = done.finished == Some(RunStatus::Succeeded);
        if succeeded {
            eprintln!("run {} already succeeded: nothing to resume", meta.run_id);
        }
        succeeded
    };
    if store.replay(&meta.run_id).is_ok_and(|done| nothing_to_do(&done)) {
        return Ok(exit::OK);
    }
    // Take the lock before reading what the run did: the run itself may still be
    // going, and what it records until it ends must not be repeated.
    let prepared = prepare(&checked, &meta, x.wait_lock.as_deref(), &*store, &x.state)?;
    let done = store.replay(&meta.run_id).map_err(|e| {
        Failure::new(Why::JournalUnreadable, format!("cannot read the journal of run {}: {e}", meta.run_id))
            .file(file)
            .help(format!("without its journal a run cannot be resumed: start a new one with `slipway run {}`", meta.file))
    })?;
    let still_running = done.commands_still_running();
    if !still_running.is_empty() {
        // The run died, its commands did not: running them again now would run them twice at once.
        let message = format!("run {} ended while these commands ran, and they still run:", meta.run_id);
        return Err(commands_left(Failure::new(Why::CommandsStillRunning, message).file(file), &still_running));
    }
    let mut done = done;
    let mut reuse = done.reusable(&checked.dag);
    let missing = done.missing_reads(&checked.dag, &reuse);
    let damage: Vec<String> = done.damage.iter().cloned().chain(missing.iter().map(|(_, why)| why.clone())).collect();
    if !damage.is_empty() && !args.force {
        let message = format!("refusing to resume run {}: its journal is damaged, so what it says ran cannot be trusted:", meta.run_id);
        return Err(Failure::new(Why::JournalDamaged, message).file(file).details(damage).help(format!(
            "look at the journal of run {} ({}); `slipway resume {} --force` trusts what can be read and runs again any stage whose success is in doubt, or start a new run with `slipway run {}`",
            meta.run_id,
            store.describe(),
            meta.run_id,
            meta.file
        )));
    }
    for why in &damage {
        eprintln!("warning: resuming despite a damaged journal (--force): {why}");
    }
    if !missing.is_empty() {
        for (stage, _) in &missing {
            done.succeeded.remove(stage);
        }
        reuse = done.reusable(&checked.dag);
    }
    if done.unreadable_lines > 0 && done.damage.is_none() {
        // A crash tears at most the line it was writing; resume trusts what it can read.
        eprintln!("warning: {} line(s) of the journal of run {} were torn by a crash and are ignored", done.unreadable_lines, meta.run_id);
    }
    // Read again under the lock: a run that held it may have finished meanwhile.
    if nothing_to_do(&done) {
        return Ok(exit::OK);
    }
    let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
    let now = digests(pipeline);
    let mut problems = changes_affecting_rest(&meta.digests, &now, &reuse);
    problems.extend(masked_values(&meta, &reuse, &done));
    if !problems.is_empty() {
        return Err(Failure::new(Why::ResumeRefused, format!("refusing to resume run {}:", meta.run_id))
            .file(file)
            .details(problems)
            .help(format!("start a new run with `slipway run {}`", meta.file)));
    }
    // Stages that succeeded before but run again get an idempotency key of their own.
    let reruns = done.successes.iter().filter(|(id, _)| !reuse.contains_key(*id)).map(|(id, n)| (id.clone(), *n)).collect();
    let meta = RunMeta { pid: std::process::id(), digests: now, ..meta };
    execute(&checked, meta, Some(Resumed { reuse, reruns }), prepared, x, state, &*store)
}

/// Values the journal kept only masked (they held secret text), which a resumed
/// run would otherwise use as `***`.
fn masked_values(meta: &RunMeta, reuse: &BTreeMap<String, (slipway_engine::Outputs, u32)>, done: &Replay) -> Vec<String> {
    let mut out: Vec<String> =
        meta.masked_params.iter().map(|k| format!("param `{k}` held secret text, which the journal does not keep")).collect();
    for stage in reuse.keys() {
        if let Some(names) = done.masked_outputs.get(stage).filter(|n| !n.is_empty()) {
            out.push(format!("outputs of stage `{stage}` ({}) held secret text, which the journal does not keep", names.join(", ")));
        }
    }
    out
}

/// Stages left to run whose definition changed, appeared or disappeared.
fn changes_affecting_rest(
    then: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
    succeeded: &BTreeMap<String, (slipway_engine::Outputs, u32)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (id, digest) in now {
        if succeeded.contains_key(id) {
            continue;
        }
        match then.get(id) {
            None => out.push(format!("stage `{id}` was added")),
            Some(old) if old != digest => {
                out.push(format!("stage `{id}` changed (its fields, the defaults it inherits, or its hosts, which `--limit` narrows)"))
            }
            Some(_) => {}
        }
    }
    for id in then.keys().filter(|id| !now.contains_key(*id)) {
        if succeeded.contains_key(id) {
            out.push(format!("stage `{id}` was removed, but later stages may have read its outputs"));
        } else {
            out.push(format!("stage `{id}` was removed"));
        }
    }
    out
}

/// Names the commands a dead run left running, and what to do about them.
fn commands_left(failure: Failure, left: &[(String, u32)]) -> Failure {
    let kill: Vec<String> = left.iter().map(|(_, pgid)| format!("-{pgid}")).collect();
    // `--` first: procps-ng's kill reads `-TERM -12345` as signal options and can
    // end up signalling every process (pid -1).
    failure
        .details(left.iter().map(|(stage, pgid)| format!("stage `{stage}`: process group {pgid}")).collect())
        .help(format!("wait for them to end, or stop them with `kill -TERM -- {}`; then try again", kill.join(" ")))
}

/// What a resumed run takes from the journal.
struct Resumed {
    /// Stages that succeeded, with nothing upstream to run again: their outputs.
    reuse: BTreeMap<String, (slipway_engine::Outputs, u32)>,
    /// Stages that succeeded but run again, and how many times they succeeded.
    reruns: BTreeMap<String, u32>,
}

/// What a run needs before it starts: every stage runnable, secrets resolved,
/// the deploy lock held.
struct Prepared {
    secrets: BTreeMap<String, String>,
    masker: Masker,
    lock: Box<dyn HeldLock>,
    /// Revisions changelog stages must resolve to (a saved plan's); empty otherwise.
    pinned: saved_plan::Revisions,
}

fn prepare(checked: &Checked, meta: &RunMeta, wait_lock: Option<&str>, store: &dyn State, args: &StateArgs) -> Result<Prepared, Failure> {
    let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
    let file = Path::new(&meta.file);
    let unsupported = unsupported_stages(pipeline);
    if !unsupported.is_empty() {
        return Err(Failure::new(Why::KindNotRunnable, format!("this version of Slipway cannot run {}:", meta.file))
            .file(file)
            .details(unsupported.iter().map(ToString::to_string).collect())
            .help(format!("`slipway plan {}` shows what it would do", meta.file)));
    }
    let secrets = resolve(pipeline, file.parent().unwrap_or(Path::new("."))).map_err(|e| Failure::secret(e).file(file))?;
    let masker = Masker::new(secrets.values().map(String::as_str));
    // The state URL's password is masked in logs and output as secrets are.
    let password = args.url().ok().flatten().and_then(|u| u.password().map(str::to_owned));
    super::log_mask::mask_with(&Masker::new(secrets.values().map(String::as_str).chain(password.as_deref())));
    let wait = wait_lock.map(humantime::parse_duration).transpose().map_err(|e| {
        let message = format!("--wait-lock={}: not a duration ({e}): write it like 30s, 10m or 1h", wait_lock.unwrap_or_default());
        Failure::new(Why::InvalidArgument, message).file(file)
    })?;
    if let Some(frozen) = slipway_engine::freeze::current(&args.for_pipeline(file), &pipeline.name.value) {
        return Err(Failure::new(Why::DeployFrozen, format!("deploys of `{}` are {frozen}", pipeline.name.value))
            .file(file)
            .help(format!("once the freeze may end: `slipway unlock {}` (or `/deploy unlock` in chat)", meta.file)));
    }
    let lock_name = lock::lock_name(&pipeline.name.value, meta.params.get("environment").map(String::as_str));
    let me = Holder {
        run_id: meta.run_id.clone(),
        user: meta.user.clone(),
        host: meta.host.clone(),
        pid: meta.pid,
        started_at: meta.started_at.clone(),
        ci_job: lock::ci_job_url(),
    };
    if wait.is_some() {
        stop_waiting_on_signals();
    }
    let lock = store.acquire(&lock_name, &me, wait).map_err(|e| {
        let (why, help) = match e {
            LockError::Timeout { .. } => {
                (Why::DeployLockTimeout, "wait longer, e.g. `--wait-lock=2h` (`--wait-lock` alone waits up to 1h)".to_owned())
            }
            LockError::Queued { .. } => (Why::DeployLocked, "queue behind them with `--wait-lock`".to_owned()),
            LockError::Held { .. } => {
                let env = meta.params.get("environment").map(|e| format!(" --param environment={e}")).unwrap_or_default();
                (
                    Why::DeployLocked,
                    format!("wait with `--wait-lock`, or if that run is gone for good: `slipway unlock {}{env}`", meta.file),
                )
            }
            LockError::Io { .. } => return Failure::new(Why::LockFailed, e.to_string()).file(file),
            LockError::Interrupted { .. } => return Failure::new(Why::LockWaitInterrupted, e.to_string()).file(file),
        };
        Failure::new(why, e.to_string()).file(file).help(help)
    })?;
    if let Some(stale) = lock.took_over() {
        // Its process is gone; what it started may not be: a deploy command of the
        // dead run can still be going. Nothing starts beside it.
        let left = store.replay(&stale.run_id).map(|r| r.commands_still_running()).unwrap_or_default();
        if !left.is_empty() {
            let message = format!("deploy lock `{lock_name}` was held by {stale}, which is gone, but its commands still run:");
            HeldLock::put_back(lock);
            return Err(commands_left(Failure::new(Why::CommandsStillRunning, message).file(file), &left));
        }
        eprintln!("warning: took over the stale deploy lock `{lock_name}` of {stale}: that process is gone");
    }
    Ok(Prepared { secrets, masker, lock, pinned: Default::default() })
}

fn execute(
    checked: &Checked,
    meta: RunMeta,
    resumed: Option<Resumed>,
    prepared: Prepared,
    x: &ExecArgs,
    state: &Path,
    store: &dyn State,
) -> Result<i32, Failure> {
    let (max_parallel, format) = (x.max_parallel, x.format);
    let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
    let Prepared { secrets, masker, lock: held, pinned } = prepared;
    // run.json holds params as given: masked like everything else written.
    let params: BTreeMap<String, String> = meta.params.iter().map(|(k, v)| (k.clone(), masker.mask(v))).collect();
    let masked_params = params.iter().filter(|(k, v)| meta.params.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
    let stored = RunMeta { params, masked_params, ..meta.clone() };
    let history = store.history(&stored.pipeline, stored.params.get("environment").cloned(), &stored.run_id);
    let resuming = resumed.is_some();
    let journal = match resuming {
        true => store.reopen(&stored, masker.clone(), &*held),
        false => store.create(&stored, masker.clone(), &*held),
    };
    let mut journal = journal.map_err(|e| {
        Failure::new(Why::JournalUnwritable, format!("cannot write the run journal under {}: {e}", store.describe()))
            .file(Path::new(&meta.file))
    })?;
    let lost = held.lost();
    // Another machine may resume or take over: it cannot wait for this one's processes.
    slipway_stages::set_commands_die_with_runner(store.is_shared())
        .map_err(|e| Failure::new(Why::LockFailed, format!("cannot start the watchdog that stops commands if this run dies: {e}")))?;
    let (reuse, reruns) = resumed.map(|r| (r.reuse, r.reruns)).unwrap_or_default();
    let rt = runtime();
    let (cancel_tx, cancel) = watch::channel(false);
    let (abort_tx, abort) = watch::channel(false);
    let (events, rx) = mpsc::unbounded_channel();
    let run_id = meta.run_id.clone();
    let outcome = rt.block_on(async {
        if let Some(lost) = lost {
            tokio::spawn(super::state::lock_lost(lost.subscribe(), cancel_tx.clone(), abort_tx.clone()));
        }
        tokio::spawn(interrupts(cancel_tx, abort_tx));
        let reporter = tokio::spawn(report(rx, format));
        let opts = RunOptions {
            run: RunInfo {
                id: meta.run_id.clone(),
                user: meta.user.clone(),
                // CI services set `CI`; a person at a terminal does not.
                trigger: meta
                    .trigger
                    .clone()
                    .unwrap_or_else(|| if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) { "ci" } else { "cli" }.into()),
                started_at: meta.started_at.clone(),
                dry_run: false,
            },
            params: meta.params.clone(),
            secrets,
            masker,
            base_dir: Path::new(&meta.file).parent().map(Path::to_path_buf).unwrap_or_default(),
            project_root: project_root_of(Path::new(&meta.file)),
            max_parallel: max_parallel as usize,
            resumed: resuming,
            reuse,
            reruns,
            cancel,
            abort,
            events,
            journal: Some(&mut *journal),
            history: Some(&*history),
        };
        let live = Live::with_state_dir(state, false);
        let runners = saved_plan::PinnedRevisions::new(&live, &pinned);
        let outcome = slipway_engine::execute(pipeline, &checked.dag, &runners, opts).await;
        let summary = reporter.await.unwrap_or_default();
        (outcome, summary)
    });
    // Ended as it should: what its commands left running is theirs (a server a stage started).
    let _ = slipway_stages::set_commands_die_with_runner(false);
    drop(held);
    let _ = std::fs::remove_dir_all(slipway_stages::scratch_dir());
    let (outcome, summary) = outcome;
    if format == OutputFormat::Human {
        // `resume` looks for the state from where it is started: name it when that would miss it.
        let resume = match x.state.state_dir.is_none() && x.state.resolve(Path::new(".")) == state {
            _ if store.is_shared() => format!("slipway resume {run_id} (with the same --state-url)"),
            true => format!("slipway resume {run_id}"),
            false => format!("slipway resume {run_id} --state-dir {}", state.display()),
        };
        summary.print(outcome.status, &run_id, &resume);
    }
    if let Some(e) = outcome.journal_error {
        eprintln!("warning: {e}");
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(match outcome.status {
        RunStatus::Succeeded => exit::OK,
        RunStatus::Interrupted => exit::INTERRUPTED,
        _ => exit::INVALID,
    })
}

/// While a run waits its turn for the lock, SIGINT and SIGTERM end the wait
/// (exit 130, as an interrupted run) instead of killing the process, so it
/// leaves the queue and says why. The run's own handling replaces this once
/// it starts.
fn stop_waiting_on_signals() {
    extern "C" fn on_signal(_: libc::c_int) {
        lock::stop_waiting();
    }
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only does an atomic store, which is async-signal-safe;
        // a zeroed sigaction with an empty mask is valid.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// First SIGINT/SIGTERM: stop scheduling, cancel running stages, still run
/// `always` stages. Second: cancel those too.
async fn interrupts(cancel: watch::Sender<bool>, abort: watch::Sender<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else { return };
    for (i, tx) in [cancel, abort].into_iter().enumerate() {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!(
            "{}",
            if i == 0 {
                "interrupted: cancelling running stages; `always` stages still run (interrupt again to stop them)"
            } else {
                "interrupted again: stopping everything"
            }
        );
        let _ = tx.send(true);
    }
}
