//! What the server holds: the config and its resolved secrets, the runs it
//! started, the deploys waiting for a confirmation, and the replay guard.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use slipway_core::chatops::ChatOps;
use slipway_core::decode::Spanned;
use slipway_core::model::Secret;

use super::Args;
use super::metrics::Metrics;
use super::verify::Seen;
use crate::cli::chatops_config;
use crate::cli::failure::{Failure, Why};
use crate::cli::run::StateArgs;

/// An alias's pipeline, read once at start.
pub struct Target {
    pub file: PathBuf,
    /// The pipeline's name: it names the deploy lock and the freeze.
    pub name: String,
    pub state_dir: PathBuf,
}

/// Who sent a command, and where to answer.
#[derive(Debug, Clone)]
pub struct Who {
    pub platform: &'static str,
    pub user_id: String,
    pub user_name: String,
    pub channel: String,
    pub response_url: Option<String>,
}

impl Who {
    /// How runs record the chat user: `slack:U024BE7LH (alice)`.
    pub fn label(&self) -> String {
        format!("{}:{} ({})", self.platform, self.user_id, self.user_name)
    }
}

/// A run the server started and still watches.
#[derive(Debug, Clone)]
pub struct Running {
    pub alias: String,
    pub environment: Option<String>,
    pub lock_name: String,
    pub who: String,
    pub pid: Option<u32>,
    pub since: Instant,
}

/// A deploy waiting for a second person's button press.
#[derive(Debug, Clone)]
pub struct Pending {
    pub who: Who,
    pub alias: String,
    pub environment: Option<String>,
    pub params: Vec<(String, String)>,
    pub at: Instant,
}

pub struct Server {
    pub config: ChatOps,
    pub targets: HashMap<String, Target>,
    pub state: StateArgs,
    pub slack_secret: Option<String>,
    pub slack_token: Option<String>,
    pub slack_api: String,
    pub mattermost_token: Option<String>,
    pub seen: Seen,
    pub runs: Mutex<BTreeMap<String, Running>>,
    pub pending: Mutex<HashMap<String, Pending>>,
    pub http: reqwest::Client,
    pub metrics: Metrics,
}

impl Server {
    pub fn load(args: &Args) -> Result<Server, Failure> {
        let config = chatops_config::load(&args.config)?;
        let base = crate::cli::load::base_dir(&args.config);
        let secret = |s: &Spanned<Secret>, what: &str| resolve(s, &base, what);
        let slack_secret = config.slack.as_ref().map(|s| secret(&s.signing_secret, "slack.signing_secret")).transpose()?;
        let slack_token = config.slack.as_ref().and_then(|s| s.token.as_ref()).map(|t| secret(t, "slack.token")).transpose()?;
        let mattermost_token = config.mattermost.as_ref().map(|m| secret(&m.token, "mattermost.token")).transpose()?;
        let slack_api = config
            .slack
            .as_ref()
            .and_then(|s| s.api_base.as_ref())
            .map_or_else(|| "https://slack.com/api".to_owned(), |b| b.value.trim_end_matches('/').to_owned());
        let mut targets = HashMap::new();
        for (name, alias) in &config.aliases {
            let file = chatops_config::pipeline_path(&args.config, &alias.pipeline.value);
            let checked = crate::cli::load::pipeline(&file)?;
            let pipeline = checked.pipeline.as_ref().expect("valid pipelines decode");
            let state_dir = args.state.for_pipeline(&file);
            targets.insert(name.value.clone(), Target { file, name: pipeline.name.value.clone(), state_dir });
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Failure::new(Why::InvalidArgument, format!("cannot set up the HTTP client: {e}")))?;
        Ok(Server {
            config,
            targets,
            state: StateArgs { state_dir: args.state.state_dir.clone(), state_url: args.state.state_url.clone() },
            slack_secret,
            slack_token,
            slack_api,
            mattermost_token,
            seen: Seen::default(),
            runs: Mutex::default(),
            pending: Mutex::default(),
            http,
            metrics: Metrics::default(),
        })
    }
}

/// A secret of the config: an environment variable, or a file beside the config.
fn resolve(secret: &Secret, base: &Path, what: &str) -> Result<String, Failure> {
    let value = match (&secret.env, &secret.file) {
        (Some(var), _) => std::env::var(&var.value).ok(),
        (None, Some(file)) => std::fs::read_to_string(base.join(&file.value)).ok().map(|v| v.trim_end_matches(['\n', '\r']).to_owned()),
        (None, None) => None,
    };
    let source = secret.env.as_ref().map(|v| format!("environment variable `{}`", v.value));
    let source = source.or_else(|| secret.file.as_ref().map(|f| format!("file `{}`", f.value))).unwrap_or_default();
    value.filter(|v| !v.is_empty()).ok_or_else(|| {
        Failure::new(Why::SecretMissing, format!("`{what}` is not set: its {source} is unset, empty or unreadable"))
            .help(format!("set the {source} before `slipway serve`"))
    })
}

/// Locks a mutex whatever a panicking holder left: the maps stay usable.
pub fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
