//! `slipway unlock`: break a pipeline's deploy lock.

use std::path::PathBuf;

use slipway_engine::lock;
use slipway_engine::state::Unlocked;

use super::run::StateArgs;
use super::{exit, load};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline file whose lock to break.
    pub file: PathBuf,
    /// The `environment` param, when the pipeline declares one.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// With `--state-url`: end the holder's database session (which frees the
    /// lock) even though it is alive. Its run then stops at its next journal write.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

pub fn run(args: Args) -> i32 {
    let checked = match load::valid_pipeline(&args.file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
    let state = args.state.for_pipeline(&args.file);
    // A freeze covers every environment: lifting it needs none.
    let thawed = match slipway_engine::freeze::thaw(&state, &pipeline.name.value) {
        Ok(Some(freeze)) => {
            eprintln!("lifted the freeze on `{}` ({freeze})", pipeline.name.value);
            true
        }
        Ok(None) => false,
        Err(e) => {
            eprintln!("error: cannot lift the freeze on `{}`: {e}", pipeline.name.value);
            return exit::USAGE;
        }
    };
    // Only `environment` names the lock: other params, required to run, are not needed here.
    let given = args.params.iter().rev().find_map(|p| p.strip_prefix("environment=")).map(str::to_owned);
    let declared = pipeline.params.iter().find(|(name, _)| name.as_str() == "environment");
    let environment = match (given, declared) {
        (Some(e), Some(_)) => Some(e),
        (None, Some((_, decl))) => match &decl.default {
            Some(d) => Some(d.value.clone()),
            None if thawed => return exit::OK,
            None => {
                eprintln!("error: the lock is per environment: pass `--param environment=NAME`");
                return exit::USAGE;
            }
        },
        (Some(_), None) => {
            eprintln!("error: this pipeline declares no `environment` param: its lock has none");
            return exit::USAGE;
        }
        (None, None) => None,
    };
    let name = lock::lock_name(&pipeline.name.value, environment.as_deref());
    super::log_mask::mask_with(&args.state.masker());
    let store = match args.state.open(&args.state.for_pipeline(&args.file)) {
        Ok(store) => store,
        Err(f) => return f.file(&args.file).report(Default::default()),
    };
    match store.unlock(&name, args.force) {
        Ok(Unlocked::Broke(holder)) => {
            eprintln!("broke deploy lock `{name}`, held by {holder}");
            if lock::pid_alive(holder.pid) && holder.host == lock::hostname() {
                eprintln!("warning: that process is still running; the next run will not wait for it");
            }
            exit::OK
        }
        Ok(Unlocked::Stale(holder)) => {
            eprintln!("cleared deploy lock `{name}`: its holder, {holder}, is gone");
            exit::OK
        }
        Ok(Unlocked::Terminated(holder)) => {
            eprintln!("broke deploy lock `{name}`: terminated the database session of {holder}; that run stops at its next journal write");
            exit::OK
        }
        Ok(Unlocked::Live(holder)) => {
            eprintln!("error: deploy lock `{name}` is held by {holder}, whose database session is alive");
            eprintln!("help: wait for it, or end its session with `slipway unlock --force`");
            exit::LOCKED
        }
        Ok(Unlocked::NotHeld) => {
            eprintln!("deploy lock `{name}` is not held");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot break deploy lock `{name}`: {e}");
            exit::USAGE
        }
    }
}
