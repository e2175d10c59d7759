//! `slipway report RUN_ID --out report.html`: one self-contained HTML page of a
//! past run (its DAG, a timeline of stages and attempts, hosts, outputs and
//! errors), built from the run's journal alone.

mod model;
mod page;
mod svg;

use std::path::PathBuf;

use slipway_engine::event::Event;
use slipway_engine::journal::Journal;

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
    let cannot = |e: std::io::Error| {
        eprintln!("error: cannot read run `{}` under {}: {e}", args.run_id, state.display());
        eprintln!("help: `slipway runs` lists the runs there; `--state-dir` names another state folder");
        exit::USAGE
    };
    let meta = match Journal::meta(&state, &args.run_id) {
        Ok(meta) => meta,
        Err(e) => return cannot(e),
    };
    let dir = Journal::runs_dir(&state).join(&meta.run_id);
    let mut run = model::Run::new(Some(meta));
    let run = match each_event(&dir, |e| run.apply(&e)) {
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

/// Reads a run's events file line by line, calling `f` with each event, and
/// returns how many lines could not be read (torn by a crash, or damaged): a
/// report shows what the journal holds, and says how much it could not read.
fn each_event(dir: &std::path::Path, mut f: impl FnMut(Event)) -> std::io::Result<usize> {
    use std::io::BufRead;
    let path = dir.join("events.jsonl");
    let file = std::fs::File::open(&path).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut unreadable = 0;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line?;
        match serde_json::from_slice::<Event>(&line) {
            Ok(event) => f(event),
            Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
            Err(_) => unreadable += 1,
        }
    }
    Ok(unreadable)
}
