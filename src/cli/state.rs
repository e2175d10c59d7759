//! Where runs and locks are kept: files under the state folder, or with
//! `--state-url postgres://…` (or `SLIPWAY_STATE_URL`) a PostgreSQL database
//! every runner shares. `slipway state migrate` creates or updates the tables
//! explicitly, for teams that do not let runners run DDL.

use std::path::Path;

use slipway_engine::journal::RunMeta;
use slipway_engine::secrets::Masker;
use slipway_engine::state::{FileState, State};
use slipway_pgstate::{PgState, StateUrl};
use tokio::sync::watch;

use super::exit;
use super::failure::{Failure, Why};
use super::run::StateArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum StateCommand {
    /// Create or update the tables of the state database (`--state-url`).
    Migrate {
        #[command(flatten)]
        state: StateArgs,
    },
}

impl StateArgs {
    /// The state URL, parsed, when one is given.
    pub fn url(&self) -> Result<Option<StateUrl>, Failure> {
        let Some(text) = self.state_url.as_deref().filter(|t| !t.is_empty()) else { return Ok(None) };
        StateUrl::parse(text).map(Some).map_err(|e| Failure::new(Why::StateUnavailable, e).help(URL_HELP))
    }

    /// The state's password, to mask in every output.
    pub fn masker(&self) -> Masker {
        let url = self.url().ok().flatten();
        Masker::new(url.as_ref().and_then(StateUrl::password))
    }

    /// The state: in the database of `--state-url`, else under the state folder
    /// `local` (which keeps per-machine things, SSH sockets and scratch files, either way).
    pub fn open(&self, local: &Path) -> Result<Box<dyn State>, Failure> {
        match self.url()? {
            None => Ok(Box::new(FileState::new(local))),
            Some(url) => match PgState::connect(&url, true) {
                Ok(state) => Ok(Box::new(state)),
                Err(e) => Err(Failure::new(Why::StateUnavailable, e.message).help(URL_HELP)),
            },
        }
    }
}

const URL_HELP: &str =
    "check `--state-url` (or `SLIPWAY_STATE_URL`): postgres://USER:PASSWORD@HOST:5432/DATABASE, with `?sslmode=require` for TLS";

pub fn run(args: Args) -> i32 {
    let StateCommand::Migrate { state } = args.command;
    super::log_mask::mask_with(&state.masker());
    let url = match state.url() {
        Ok(Some(url)) => url,
        Ok(None) => {
            eprintln!("error: the file state needs no migration: pass `--state-url postgres://…` (or set SLIPWAY_STATE_URL)");
            return exit::USAGE;
        }
        Err(f) => return f.report(Default::default()),
    };
    match PgState::migrate(&url) {
        Ok(applied) if applied.is_empty() => {
            eprintln!("state database {} is up to date", url.masked());
            exit::OK
        }
        Ok(applied) => {
            let list: Vec<String> = applied.iter().map(ToString::to_string).collect();
            eprintln!("state database {}: applied schema version(s) {}", url.masked(), list.join(", "));
            exit::OK
        }
        Err(e) => Failure::new(Why::StateUnavailable, format!("cannot migrate the state database {}: {e}", url.masked()))
            .help(URL_HELP)
            .report(Default::default()),
    }
}

/// A run started in another checkout (another CI runner): its pipeline file,
/// by its path in the project, here, when the recorded one is not on this machine.
pub(super) fn found_elsewhere(meta: RunMeta) -> RunMeta {
    if Path::new(&meta.file).exists() {
        return meta;
    }
    let Some(rel) = &meta.file_in_project else { return meta };
    let here = super::run::project_root(Path::new(".")).join(rel);
    if !here.exists() {
        return meta;
    }
    let same = std::fs::read(&here).ok().map(|b| slipway_engine::digest::content_digest(&b)) == meta.file_hash;
    if !same {
        eprintln!(
            "warning: {} differs from the pipeline run {} started with; resume checks what is left to run",
            here.display(),
            meta.run_id
        );
    }
    RunMeta { file: here.display().to_string(), ..meta }
}

/// A lock lost while the run holds it (its database session ended, or another
/// run took it over): nothing may run on, not even `always` stages, since
/// another run may be deploying now.
pub(super) async fn lock_lost(mut lost: watch::Receiver<bool>, cancel: watch::Sender<bool>, abort: watch::Sender<bool>) {
    if lost.wait_for(|l| *l).await.is_ok() {
        eprintln!("error: lost the deploy lock (the state database session ended or another run took it over): stopping the run");
        let _ = cancel.send(true);
        let _ = abort.send(true);
    }
}
