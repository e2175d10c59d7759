//! Subcommands and the exit codes they share.

mod chatops_config;
mod completions;
mod diff;
mod failure;
mod files;
mod graph;
mod help;
mod html_report;
mod init;
mod load;
mod log_mask;
mod plan;
mod plan_markdown;
mod plan_view;
mod report;
mod rollback;
mod run;
mod runs;
mod saved_plan;
mod schema;
mod serve;
mod state;
mod style;
mod unlock;
mod validate;

use clap::{Parser, Subcommand};

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    /// The pipeline is invalid (or, with `--deny-warnings`, has warnings).
    pub const INVALID: i32 = 1;
    /// Bad arguments, or a file that cannot be read.
    pub const USAGE: i32 = 2;
    /// Another run holds the deploy lock (EX_TEMPFAIL).
    pub const LOCKED: i32 = 75;
    /// The run was interrupted (SIGINT or SIGTERM).
    pub const INTERRUPTED: i32 = 130;
}

/// Options whose value must be joined with `=` (their value is optional, so a
/// separate word would be read as the next argument).
const EQUALS_ONLY: &[&str] = &["--wait-lock"];

/// A hint for `--wait-lock 5m`: clap would call `5m` an unexpected argument.
pub fn spaced_value_hint(args: impl Iterator<Item = std::ffi::OsString>) -> Option<String> {
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    args.windows(2).find_map(|pair| {
        let (flag, value) = (pair[0].as_str(), pair[1].as_str());
        (EQUALS_ONLY.contains(&flag) && humantime::parse_duration(value).is_ok()).then(|| {
            format!("error: `{flag} {value}`: this option takes its value after `=`\nhelp: write `{flag}={value}` (`{flag}` alone waits up to 1h)")
        })
    })
}

#[derive(Parser, Debug)]
#[command(name = "slipway", version, about = "Declarative deployment pipelines: validate, plan and run them", after_help = help::SLIPWAY)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output (-v debug, -vv trace); `RUST_LOG` also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log lines as text or JSON (logs go to stderr).
    #[arg(long, value_enum, default_value_t, global = true)]
    pub log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per log record.
    #[default]
    Text,
    /// One JSON object per log record.
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check pipeline files and report every problem at once.
    #[command(after_help = help::VALIDATE)]
    Validate(validate::Args),
    /// Print the stage graph as Mermaid or Graphviz DOT.
    #[command(after_help = help::GRAPH)]
    Graph(graph::Args),
    /// Print the JSON Schema of pipeline files.
    #[command(after_help = help::SCHEMA)]
    Schema,
    /// Run a pipeline.
    #[command(after_help = help::RUN)]
    Run(run::RunArgs),
    /// Show every request and command a run would make, changing nothing.
    #[command(after_help = help::PLAN)]
    Plan(plan::PlanArgs),
    /// Continue a failed, interrupted or crashed run.
    #[command(after_help = help::RESUME)]
    Resume(run::ResumeArgs),
    /// List runs.
    #[command(after_help = help::RUNS)]
    Runs(runs::Args),
    /// Break a pipeline's deploy lock.
    #[command(after_help = help::UNLOCK)]
    Unlock(unlock::Args),
    /// Switch a deploy stage's hosts back to their previous release.
    #[command(after_help = help::ROLLBACK)]
    Rollback(rollback::Args),
    /// Write a self-contained HTML page of a past run: its graph, timeline, hosts, outputs and errors.
    #[command(after_help = help::REPORT)]
    Report(html_report::Args),
    /// Write a starter pipeline and a CI job that validates and plans it on every pull request.
    #[command(after_help = help::INIT)]
    Init(init::Args),
    /// Print a shell completion script.
    #[command(after_help = help::COMPLETIONS)]
    Completions(completions::Args),
    /// Show what a change does to a pipeline: stages, edges, params, secrets, hosts.
    #[command(after_help = help::DIFF)]
    Diff(diff::Args),
    /// Take deploys from Slack and Mattermost slash commands.
    #[command(after_help = help::SERVE)]
    Serve(serve::Args),
    /// Manage the shared state database (`--state-url`).
    #[command(after_help = help::STATE)]
    State(state::Args),
}

pub fn run(cli: Cli) -> i32 {
    // A server's log is its record of what it was asked: `serve` logs at info.
    let serving = matches!(cli.command, Command::Serve(_));
    init_logging(cli.verbose, cli.log_format, serving);
    if !matches!(cli.command, Command::Run(_) | Command::Resume(_) | Command::Rollback(_) | Command::Serve(_)) {
        // Like other Unix tools: `slipway runs | head` ends quietly when head has
        // read enough. A run ignores that signal instead: a reader that goes away
        // must not stop a deploy halfway (nor a server the deploys it waits for).
        // SAFETY: restoring the default action of a signal, before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Schema => schema::run(),
        Command::Run(args) => run::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Resume(args) => run::resume(args),
        Command::Runs(args) => runs::run(args),
        Command::Unlock(args) => unlock::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::Report(args) => html_report::run(args),
        Command::Init(args) => init::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Serve(args) => serve::run(args),
        Command::State(args) => state::run(args),
    }
}

/// tracing to stderr, masked: warnings by default, `-v` debug, `-vv` trace, `RUST_LOG` wins.
fn init_logging(verbose: u8, format: LogFormat, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 if serving => "info",
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    log_mask::mask_panics();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(log_mask::MaskedStderr).with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
