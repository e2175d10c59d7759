//! Subcommands and the exit codes they share.

mod files;
mod graph;
mod schema;
mod style;
mod validate;

use clap::{Parser, Subcommand};

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    /// The pipeline is invalid (or, with `--deny-warnings`, has warnings).
    pub const INVALID: i32 = 1;
    /// Bad arguments, or a file that cannot be read.
    pub const USAGE: i32 = 2;
}

#[derive(Parser, Debug)]
#[command(name = "slipway", version, about = "Declarative deployment pipelines: validate, plan and run them")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check pipeline files and report every problem at once.
    Validate(validate::Args),
    /// Print the stage graph as Mermaid or Graphviz DOT.
    Graph(graph::Args),
    /// Print the JSON Schema of pipeline files.
    Schema,
}

pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Schema => schema::run(),
    }
}
