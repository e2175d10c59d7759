//! `slipway`: the command line. Parsing arguments and dispatching only; each
//! subcommand lives in `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if let Some(hint) = cli::spaced_value_hint(std::env::args_os().skip(1)) {
        eprintln!("{hint}");
        return ExitCode::from(cli::exit::USAGE as u8);
    }
    let args = cli::Cli::parse();
    ExitCode::from(cli::run(args) as u8)
}
