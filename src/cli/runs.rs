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
    let state = args.state.resolve(std::path::Path::new("."));
    let runs = slipway_engine::journal::list_runs(&state);
    if args.json {
        for r in &runs {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        }
        return exit::OK;
    }
    if runs.is_empty() {
        println!("no runs under {}", state.display());
        return exit::OK;
    }
    println!("{:<24} {:<20} {:<12} {:<21} {:<10} stages", "run", "pipeline", "status", "started", "user");
    for r in runs {
        println!("{:<24} {:<20} {:<12} {:<21} {:<10} {}", r.run_id, r.pipeline, r.status, r.started_at, r.user, r.stages);
    }
    exit::OK
}
