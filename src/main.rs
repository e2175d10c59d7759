//! `slipway`: the command line. Parsing arguments and dispatching only; each
//! subcommand lives in `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    ExitCode::from(cli::run(args) as u8)
}
