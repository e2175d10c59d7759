//! `slipway report RUN_ID --out report.html`: one self-contained HTML page of a
//! past run (its DAG, a timeline of stages and attempts, hosts, outputs and
//! errors), built from the run's journal alone.

mod model;
mod page;
mod svg;

use std::path::PathBuf;

use super::exit;
use super::run::StateArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run to show (`slipway runs` lists them).
    pub run_id: String,
    /// Where to write the page; `-` for stdout. Default: `slipway-RUN_ID.html`.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub state: StateArgs,
}

pub fn run(args: Args) -> i32 {
    let state = args.state.resolve(std::path::Path::new("."));
    super::log_mask::mask_with(&args.state.masker());
    // The journal where the runs are: files under the state folder, or PostgreSQL (`--state-url`).
    let store = match args.state.open(&state) {
        Ok(store) => store,
        Err(f) => return f.report(Default::default()),
    };
    let cannot = |e: std::io::Error| {
        eprintln!("error: cannot read run `{}` under {}: {e}", args.run_id, store.describe());
        eprintln!("help: `slipway runs` lists the runs there; `--state-dir` or `--state-url` names another state");
        exit::USAGE
    };
    let meta = match store.meta(&args.run_id) {
        Ok(meta) => meta,
        Err(e) => return cannot(e),
    };
    let mut run = model::Run::new(Some(meta));
    let run = match store.events(&args.run_id, &mut |e| run.apply(&e)) {
        Ok(unreadable) => run.finish(unreadable),
        Err(e) => return cannot(e),
    };
    let html = page::render(&run, &args.run_id);
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("slipway-{}.html", args.run_id)));
    if out.as_os_str() == "-" {
        let _ = std::io::Write::write_all(&mut std::io::stdout(), html.as_bytes());
        return exit::OK;
    }
    match std::fs::write(&out, html) {
        Ok(()) => {
            println!("wrote {}", out.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            eprintln!("help: name a writable file with `--out`");
            exit::USAGE
        }
    }
}
