//! `slipway`: the command line. Parsing arguments and dispatching only; each
//! subcommand lives in `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The watchdog a run with shared state starts from this binary (see
    // `slipway_stages::watchdog`): not a command for people, so not in clap.
    let mut raw = std::env::args();
    if raw.nth(1).as_deref() == Some("__watchdog") {
        let token = raw.next().unwrap_or_default();
        return ExitCode::from(slipway_stages::watchdog::run(&token) as u8);
    }
    if let Some(hint) = cli::spaced_value_hint(std::env::args_os().skip(1)) {
        eprintln!("{hint}");
        return ExitCode::from(cli::exit::USAGE as u8);
    }
    let args = cli::Cli::parse();
    ExitCode::from(cli::run(args) as u8)
}
