//! `slipway serve`: deploys from chat. Slack and Mattermost slash commands come
//! in over HTTP (axum), are verified (`verify`), parsed (`command`), checked
//! against the config's rules, and run as `slipway run` child processes, so a
//! chat run takes the same deploy lock and writes the same journal as the CLI
//! (`deploy`). What happens is posted back to the chat (`post`).

mod command;
mod deploy;
mod dispatch;
mod http;
mod metrics;
mod post;
mod server;
mod verify;

use std::path::PathBuf;

use super::exit;
use super::report::OutputFormat;
use super::run::StateArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The chat-ops config (e.g. `deploy/chatops.yaml`): aliases, who may deploy what, confirmations.
    #[arg(long)]
    pub config: PathBuf,
    /// Where to listen for Slack's and Mattermost's requests.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub state: StateArgs,
}

pub fn run(args: Args) -> i32 {
    let server = match server::Server::load(&args) {
        Ok(s) => s,
        Err(f) => return f.report(OutputFormat::Human),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the server: {e}");
            return exit::USAGE;
        }
    };
    rt.block_on(http::serve(server, &args.listen))
}
