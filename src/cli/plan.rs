//! `slipway plan`: every request and command a run would make, changing
//! nothing, shown for people, as JSON or as a pull-request comment; with
//! `--out`, also saved for `slipway run --plan`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use slipway_core::Checked;
use slipway_engine::context::RunInfo;
use slipway_engine::lock;
use slipway_engine::secrets::{Masker, resolve};
use slipway_engine::{PlannedStage, RunOptions};
use slipway_stages::{Live, Planning};
use tokio::sync::{mpsc, watch};

use super::failure::Failure;
use super::plan_view::PlanFormat;
use super::run::{StateArgs, project_root_of, runtime, with_params};
use super::{exit, load, plan_markdown, plan_view, saved_plan};

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The pipeline file.
    pub file: PathBuf,
    /// A param: `--param version=1.2.3` (repeatable).
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Run read-only stages for real (HTTP GETs, the changelog) so the plan shows real values.
    #[arg(long)]
    pub live_reads: bool,
    /// How to show the plan (errors too, as JSON for `json`, else as text).
    #[arg(long, value_enum, default_value_t)]
    pub format: PlanFormat,
    /// Only these hosts: comma-separated host names or roles, `*` globs (`web-1,worker*`).
    #[arg(long, value_name = "PATTERN")]
    pub limit: Option<String>,
    /// Where SSH connections are kept for `--live-reads` (as for `run`), and
    /// where live reads find earlier runs (a changelog starts where the last
    /// good run ended).
    #[command(flatten)]
    pub state: StateArgs,
    /// Also save the plan to this file for `slipway run --plan` (reads live,
    /// as `--live-reads`, so what read-only stages read is pinned).
    #[arg(long, value_name = "PLAN")]
    pub out: Option<PathBuf>,
}

pub fn run(args: PlanArgs) -> i32 {
    let format = args.format.failures();
    planned(args).unwrap_or_else(|f| f.report(format))
}

fn planned(args: PlanArgs) -> Result<i32, Failure> {
    // A saved plan pins the hash of the very bytes it was planned from.
    let (checked, sha256) = match &args.out {
        Some(_) => saved_plan::load_pinned(&args.file).map(|(c, sha)| (c, Some(sha)))?,
        None => (load::pipeline(&args.file)?, None),
    };
    let (checked, params) = with_params(checked, &args.file, &args.params, args.limit.as_deref())?;
    let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
    // A saved plan pins what read-only stages read: it reads them live.
    let live_reads = args.live_reads || args.out.is_some();
    let (planned, masker) = plan_stages(&args.file, &checked, &params, live_reads, &args.state)?;
    let text = match args.format {
        PlanFormat::Json => {
            let json = serde_json::json!({ "pipeline": pipeline.name.value, "stages": planned });
            format!("{}\n", serde_json::to_string_pretty(&json).unwrap_or_default())
        }
        PlanFormat::Human => plan_view::human(&pipeline.name.value, &planned),
        PlanFormat::Markdown => plan_markdown::markdown(pipeline, &checked.dag, &planned),
    };
    // A reader that went away (`| head`) is no error of the plan's.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    if planned.iter().any(|p| p.error.is_some()) {
        if let Some(out) = &args.out {
            eprintln!("error: the plan has errors, so it was not saved to {}", out.display());
        }
        return Ok(exit::INVALID);
    }
    if let (Some(out), Some(sha256)) = (&args.out, sha256) {
        let pinned = saved_plan::Pins::new(&args.file, sha256, &checked, &params, &masker, &planned);
        saved_plan::write(out, args.limit.as_deref(), &pinned, &planned)?;
    }
    Ok(exit::OK)
}

/// Every stage's plan (read-only stages read for real with `live_reads`), and
/// the masker that hid the secrets in it.
pub(super) fn plan_stages(
    file: &Path,
    checked: &Checked,
    params: &BTreeMap<String, String>,
    live_reads: bool,
    state: &StateArgs,
) -> Result<(Vec<PlannedStage>, Masker), Failure> {
    let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
    // A plan shows secrets as `***`. Live reads use the real values when they are
    // set (an authenticated GET needs its token); output is masked either way.
    let placeholders = || pipeline.secrets.keys().map(|k| (k.value.clone(), "***".to_owned())).collect();
    let secrets: BTreeMap<String, String> = match (live_reads, resolve(pipeline, &load::base_dir(file))) {
        (true, Ok(real)) => real,
        (true, Err(e)) => {
            eprintln!("warning: {e}; live reads send `***` in its place");
            placeholders()
        }
        (false, _) => placeholders(),
    };
    // The state URL's password is masked as secrets are.
    let password = state.url().ok().flatten().and_then(|u| u.password().map(str::to_owned));
    let masker = Masker::new(secrets.values().map(String::as_str).filter(|v| *v != "***").chain(password.as_deref()));
    super::log_mask::mask_with(&masker);
    let live = live_reads.then(|| Live::with_state_dir(&state.for_pipeline(file), true));
    // Live reads find earlier runs (a changelog's last good deploy) in the state, files or PostgreSQL.
    let store = match live_reads {
        true => Some(state.open(&state.for_pipeline(file)).map_err(|f| f.file(file))?),
        false => None,
    };
    let history = store.as_ref().map(|s| s.history(&pipeline.name.value, params.get("environment").map(|e| masker.mask(e)), ""));
    let (_cancel_tx, cancel) = watch::channel(false);
    let (events, _rx) = mpsc::unbounded_channel();
    let opts = RunOptions {
        run: RunInfo {
            id: "<run-id>".into(),
            user: lock::username(),
            trigger: "plan".into(),
            started_at: "<start time>".into(),
            dry_run: true,
        },
        params: params.clone(),
        secrets,
        masker: masker.clone(),
        base_dir: load::base_dir(file),
        project_root: project_root_of(file),
        max_parallel: 1,
        resumed: false,
        reuse: BTreeMap::new(),
        reruns: BTreeMap::new(),
        cancel: cancel.clone(),
        abort: cancel,
        events,
        journal: None,
        history: history.as_deref(),
    };
    let planned = runtime().block_on(slipway_engine::plan(
        pipeline,
        &checked.dag,
        &Planning,
        live.as_ref().map(|l| l as &dyn slipway_engine::runtime::Runners),
        &opts,
    ));
    Ok((planned, masker))
}
