//! `slipway rollback FILE --stage ID`: a deploy stage's hosts back to the
//! release before the one they are on, with the same drain, restart, health
//! check and ready as a deploy, under the pipeline's deploy lock. Exit 0 when
//! every host is back and healthy, 1 otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use slipway_core::kinds::{DeployPhase, Kind, StageConfig};
use slipway_core::model::Pipeline;
use slipway_engine::context::{RunInfo, template_context};
use slipway_engine::event::Event;
use slipway_engine::lock::{self, Holder, LockError};
use slipway_engine::render::Renderer;
use slipway_engine::runid::{new_run_id, now_secs, rfc3339};
use slipway_engine::runtime::StageEnv;
use slipway_engine::secrets::{Masker, resolve};
use slipway_stages::Live;
use tokio::sync::{mpsc, watch};

use super::run::{StateArgs, limit_hosts, runtime};
use super::{exit, load};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline file that holds the `deploy` stage.
    pub file: PathBuf,
    /// The `deploy` stage whose hosts go back.
    #[arg(long, value_name = "ID")]
    pub stage: String,
    /// A param the stage's fields read: `--param environment=production` (repeatable).
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Only these hosts: comma-separated host names or roles, `*` globs.
    #[arg(long, value_name = "PATTERN")]
    pub limit: Option<String>,
    /// Wait for the deploy lock instead of failing at once (optionally up to TIMEOUT, default 1h).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "1h", value_name = "TIMEOUT")]
    pub wait_lock: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

pub fn run(args: Args) -> i32 {
    let mut checked = match load::valid_pipeline(&args.file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(failure) = limit_hosts(&mut checked, args.limit.as_deref()) {
        return failure.file(&args.file).report(super::report::OutputFormat::Human);
    }
    let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
    let Some(stage) = pipeline.stages.get(args.stage.as_str()) else {
        let deploys: Vec<&str> = pipeline.stages.values().filter(|s| s.kind.value == Kind::Deploy).map(|s| s.id.value.as_str()).collect();
        eprintln!("error: {} has no stage `{}`", args.file.display(), args.stage);
        eprintln!("help: its deploy stages: {}", if deploys.is_empty() { "none".to_owned() } else { deploys.join(", ") });
        return exit::USAGE;
    };
    match &stage.config {
        StageConfig::Deploy(c) if c.phase == DeployPhase::Prepare => {
            eprintln!("error: stage `{}` only prepares releases (`phase: prepare`): roll back the stage that switches them", args.stage);
            return exit::USAGE;
        }
        StageConfig::Deploy(_) => {}
        _ => {
            eprintln!("error: stage `{}` is a `{}` stage: only `deploy` stages roll back", args.stage, stage.kind.value);
            return exit::USAGE;
        }
    }
    let params = match params(pipeline, &args.params) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let base = load::base_dir(&args.file);
    let root = super::run::project_root(&base);
    let secrets = available_secrets(pipeline, &base);
    let masker = Masker::new(secrets.values().map(String::as_str));
    let state = args.state.for_pipeline(&args.file);
    let run_id = new_run_id();
    // With `--state-url`, the deploy lock is the one every runner shares.
    let store = match args.state.open(&state) {
        Ok(store) => store,
        Err(f) => return f.file(&args.file).report(Default::default()),
    };
    let _held = match take_lock(pipeline, &params, &*store, &run_id, args.wait_lock.as_deref(), &args.file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let Err(e) = slipway_stages::set_commands_die_with_runner(store.is_shared()) {
        eprintln!("error: cannot start the watchdog that stops commands if this rollback dies: {e}");
        return exit::USAGE;
    }
    let info =
        RunInfo { id: run_id.clone(), user: lock::username(), trigger: "rollback".into(), started_at: rfc3339(now_secs()), dry_run: false };
    let renderer = Renderer::new();
    let rt = runtime();
    let outcome = rt.block_on(async {
        let (cancel_tx, cancel) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: stopping the rollback");
                let _ = cancel_tx.send(true);
            }
        });
        let (events, mut rx) = mpsc::unbounded_channel();
        let printer = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                match event {
                    Event::Log { stream, line, .. } if stream == "stderr" => eprintln!("{line}"),
                    Event::Log { line, .. } => println!("{line}"),
                    _ => {}
                }
            }
        });
        let env = StageEnv {
            stage,
            pipeline,
            context: template_context(pipeline, &params, &secrets, &info, "running", &BTreeMap::new()),
            renderer: &renderer,
            run_id: &run_id,
            idempotency_key: format!("{run_id}:{}", stage.id.value),
            base_dir: &base,
            project_root: &root,
            dry_run: false,
            masker: &masker,
            history: None,
            events: Some(&events),
            cancel,
        };
        let live = Live::with_state_dir(&state, false);
        let outcome = live.rollback(&env).await;
        let _ = slipway_stages::set_commands_die_with_runner(false);
        drop(env);
        drop(events);
        let _ = printer.await;
        outcome
    });
    match outcome {
        Ok(report) => {
            println!("{}", masker.mask(&format!("rolled back `{}`: {report}", args.stage)));
            exit::OK
        }
        Err(why) => {
            eprintln!("{}", masker.mask(&format!("error: rollback of `{}` failed: {why}", args.stage)));
            if why.contains("which has no value") {
                eprintln!("help: pass what the stage's fields read with `--param NAME=VALUE` (and set its secrets)");
            }
            exit::INVALID
        }
    }
}

/// The params given, defaults for the others; a required param not given is
/// left out: a field that reads it then says so, and fields that do not (the
/// `revision` of the deploy being undone) need nothing.
fn params(pipeline: &Pipeline, given: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in given {
        let (k, v) = pair.split_once('=').ok_or_else(|| format!("`{pair}` is not `name=value`"))?;
        if !pipeline.params.contains_key(k) {
            return Err(format!("unknown param `{k}`"));
        }
        out.insert(k.to_owned(), v.to_owned());
    }
    for (name, decl) in &pipeline.params {
        if !out.contains_key(name.as_str()) {
            match (&decl.default, decl.required) {
                (Some(d), _) => out.insert(name.value.clone(), d.value.clone()),
                (None, false) => out.insert(name.value.clone(), String::new()),
                (None, true) => None,
            };
        }
    }
    Ok(out)
}

/// The secrets that can be resolved here; a field that reads another one says so.
fn available_secrets(pipeline: &Pipeline, base: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, secret) in &pipeline.secrets {
        let mut one = pipeline.clone();
        one.secrets = [(name.clone(), secret.clone())].into_iter().collect();
        out.extend(resolve(&one, base).unwrap_or_default());
    }
    out
}

/// The deploy lock of the pipeline (and its `environment`), as `run` takes it.
fn take_lock(
    pipeline: &Pipeline,
    params: &BTreeMap<String, String>,
    store: &dyn slipway_engine::state::State,
    run_id: &str,
    wait: Option<&str>,
    file: &Path,
) -> Result<Box<dyn slipway_engine::state::HeldLock>, i32> {
    let wait = wait.map(humantime::parse_duration).transpose().map_err(|e| {
        eprintln!("error: --wait-lock: not a duration ({e}): write it like 30s, 10m or 1h");
        exit::USAGE
    })?;
    let name = lock::lock_name(&pipeline.name.value, params.get("environment").map(String::as_str));
    let me = Holder {
        run_id: format!("rollback-{run_id}"),
        user: lock::username(),
        host: lock::hostname(),
        pid: std::process::id(),
        started_at: rfc3339(now_secs()),
        ci_job: lock::ci_job_url(),
    };
    match store.acquire(&name, &me, wait) {
        Ok(l) => {
            if let Some(stale) = l.took_over() {
                eprintln!("warning: took over the stale deploy lock `{name}` of {stale}: that process is gone");
            }
            Ok(l)
        }
        Err(e @ (LockError::Held { .. } | LockError::Timeout { .. } | LockError::Queued { .. })) => {
            eprintln!("error: {e}");
            eprintln!("help: wait with `--wait-lock`, or if that run is gone for good: `slipway unlock {}`", file.display());
            Err(exit::LOCKED)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::USAGE)
        }
    }
}
