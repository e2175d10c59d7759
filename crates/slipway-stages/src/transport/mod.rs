//! How commands reach a host: [`Transport`], with two of them, [`local`] (this
//! machine) and [`ssh`] (the system's OpenSSH client, multiplexed). A transport
//! runs a script with environment variables and sends nothing but stdin: the
//! script and its variables (rendered secrets among them) never go on a command
//! line, where `/proc` would show them to every user.
//!
//! A transport never knows which kind called it. Kinds reach hosts through a
//! [`Fleet`], the capability their registry was built with: under
//! `plan --live-reads` it lets a stage run only the one read-only command its
//! kind declares, and nothing else.

mod child;
mod local;
mod pool;
mod ssh;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use slipway_core::model::{Stage, Transport as Via};
use slipway_core::template::Command;
use slipway_engine::runtime::{BoxFuture, HostInfo, StageEnv, StageError};

pub use crate::process::Exit;
pub use child::StageGroup;
pub use pool::{Earlier, HostResult, run_limited};

/// A script to run on a host.
#[derive(Debug, Clone, Default)]
pub struct Job {
    /// Run by bash with `-euo pipefail`.
    pub script: String,
    /// Exported to the script.
    pub env: Vec<(String, String)>,
    /// Where the script starts: relative to the remote user's home over SSH, to
    /// the pipeline's folder locally. Default: the home, or the pipeline's folder.
    pub workdir: Option<String>,
    /// Return stdout instead of showing it.
    pub capture: bool,
}

/// A command that ran to its end on the host.
#[derive(Debug)]
pub struct Done {
    pub exit: Exit,
    /// With [`Job::capture`]: what it printed.
    pub stdout: Vec<u8>,
}

/// How commands reach one host. `exec` returns `Ok` once the command ran (its
/// exit code says how that went); a transient error when the host could not be
/// reached, so that nothing ran and trying again is safe; a permanent one when
/// it can never work as configured (a refused key, a changed host key).
pub trait Transport: Send + Sync {
    /// How the host is reached, for messages: `local`, `ssh deploy@10.0.0.1 -p 2222`.
    fn describe(&self) -> String;

    /// Runs a job to its end, streaming its output with the host's name.
    fn exec<'a>(&'a self, env: &'a StageEnv<'a>, job: &'a Job) -> BoxFuture<'a, Result<Done, StageError>>;
}

/// The one command a read-only run of a stage may start on its hosts, if any.
pub type Permitted = fn(&Stage) -> Option<&Command>;

/// The capability to run commands on hosts. Cheap to clone.
#[derive(Clone)]
pub struct Fleet(Arc<Inner>);

struct Inner {
    /// Where SSH control sockets live: `<state dir>/ssh`.
    state_dir: Option<PathBuf>,
    control_dir: OnceLock<Result<PathBuf, String>>,
    masters: ssh::Masters,
    /// Set for `plan --live-reads`.
    read_only: Option<Permitted>,
}

impl Fleet {
    /// Full access (`slipway run`). SSH masters live under `state_dir`.
    pub fn new(state_dir: Option<PathBuf>) -> Self {
        Fleet(Arc::new(Inner { state_dir, control_dir: OnceLock::new(), masters: Default::default(), read_only: None }))
    }

    /// Only the command `permitted` names for the stage, rendered for the host,
    /// may run (`plan --live-reads`).
    pub fn read_only(state_dir: Option<PathBuf>, permitted: Permitted) -> Self {
        Fleet(Arc::new(Inner { state_dir, control_dir: OnceLock::new(), masters: Default::default(), read_only: Some(permitted) }))
    }

    pub fn is_read_only(&self) -> bool {
        self.0.read_only.is_some()
    }

    /// The transports of one run of a stage: their commands share a process group.
    pub fn session(&self) -> Session {
        Session { fleet: self.clone(), group: StageGroup::default() }
    }

    /// The folder of SSH control sockets, created on first use.
    fn control_dir(&self) -> Result<&Path, StageError> {
        self.0
            .control_dir
            .get_or_init(|| ssh::control_dir(self.0.state_dir.as_deref()))
            .as_deref()
            .map_err(|e| StageError::permanent(e.clone()))
    }
}

/// The transports a stage opens in one run.
pub struct Session {
    fleet: Fleet,
    group: StageGroup,
}

impl Session {
    /// The transport for `host`, as its entry says (`transport: ssh` or `local`).
    pub fn open<'s>(&'s self, env: &StageEnv<'_>, host: &HostInfo) -> Result<Box<dyn Transport + 's>, StageError> {
        let inner: Box<dyn Transport + 's> = match host.transport {
            Via::Local => Box::new(local::Local { host: host.name.clone(), base_dir: env.project_root.to_path_buf(), group: &self.group }),
            Via::Ssh => Box::new(ssh::Ssh::new(env, host, self.fleet.control_dir()?, &self.group, &self.fleet.0.masters)),
        };
        Ok(match self.fleet.0.read_only {
            Some(permitted) => Box::new(Gated { inner, host: host.clone(), permitted }),
            None => inner,
        })
    }
}

/// A transport that runs only the stage's permitted command.
struct Gated<'s> {
    inner: Box<dyn Transport + 's>,
    host: HostInfo,
    permitted: Permitted,
}

impl Transport for Gated<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn exec<'a>(&'a self, env: &'a StageEnv<'a>, job: &'a Job) -> BoxFuture<'a, Result<Done, StageError>> {
        Box::pin(async move {
            let allowed = match (self.permitted)(env.stage) {
                Some(command) => env.render_for_host(&command.source, &self.host)? == job.script,
                None => false,
            };
            if !allowed {
                return Err(StageError::permanent(format!(
                    "refused to run a command on `{}` while planning: only a stage's read-only check command may run there",
                    self.host.name
                )));
            }
            self.inner.exec(env, job).await
        })
    }
}

/// `'text'` for the shell, whatever the text holds.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Checks what a job exports: names the shell takes, values a process can hold.
fn check_env(vars: &[(String, String)]) -> Result<(), StageError> {
    for (name, value) in vars {
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(StageError::permanent(format!(
                "`{name}` cannot be an environment variable's name: use letters, digits and `_`, not starting with a digit"
            )));
        }
        if value.contains('\0') {
            return Err(StageError::permanent(format!("the value of `{name}` holds a NUL byte, which no program can receive: remove it")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_any_text_literal() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's $HOME"), r"'it'\''s $HOME'");
        let out =
            std::process::Command::new("bash").arg("-c").arg(format!("printf %s {}", quote("x'y\"z $(id) `id` \\n"))).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x'y\"z $(id) `id` \\n");
    }

    #[test]
    fn env_names_are_checked() {
        assert!(check_env(&[("OK_1".into(), "v".into())]).is_ok());
        assert!(check_env(&[("1X".into(), "v".into())]).is_err());
        assert!(check_env(&[("A-B".into(), "v".into())]).is_err());
        assert!(check_env(&[("A".into(), "v\0".into())]).is_err());
    }
}
