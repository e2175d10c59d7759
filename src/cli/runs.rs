//! `slipway runs`: the runs in the journal, newest first.

use super::exit;
use super::run::StateArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub state: StateArgs,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> i32 {
    super::log_mask::mask_with(&args.state.masker());
    let state = args.state.resolve(std::path::Path::new("."));
    let store = match args.state.open(&state) {
        Ok(store) => store,
        Err(f) => return f.report(Default::default()),
    };
    let runs = match store.list_runs() {
        Ok(runs) => runs,
        Err(e) => {
            eprintln!("error: cannot list the runs: {e}");
            return exit::USAGE;
        }
    };
    if args.json {
        for r in &runs {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        }
        return exit::OK;
    }
    if runs.is_empty() {
        println!("no runs under {}", store.describe());
        return exit::OK;
    }
    // A shared state says when each run was last seen: a running run heartbeats.
    let shared = store.is_shared();
    let seen = |r: &slipway_engine::journal::RunSummary| match shared {
        true => format!(" {:<21}", r.last_seen.as_deref().unwrap_or("-")),
        false => String::new(),
    };
    let seen_head = if shared { format!(" {:<21}", "last seen") } else { String::new() };
    println!("{:<24} {:<20} {:<12} {:<21}{seen_head} {:<10} stages", "run", "pipeline", "status", "started", "user");
    for r in &runs {
        println!("{:<24} {:<20} {:<12} {:<21}{} {:<10} {}", r.run_id, r.pipeline, r.status, r.started_at, seen(r), r.user, r.stages);
    }
    exit::OK
}
