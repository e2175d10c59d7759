//! The local transport: a host's commands run on this machine, as the user
//! running Slipway. The script goes to `bash -s` on stdin (never `-c`, where
//! `/proc` would show it); variables go in the environment, which only this
//! user can read.

use std::path::PathBuf;

use slipway_engine::runtime::{BoxFuture, StageEnv, StageError};
use tokio::process::Command;

use super::child::{self, Piped, StageGroup};
use super::{Done, Job, Transport, check_env};

pub struct Local<'s> {
    pub host: String,
    /// The project's root: commands run there, and a relative `workdir` starts there.
    pub base_dir: PathBuf,
    pub group: &'s StageGroup,
}

impl Transport for Local<'_> {
    fn describe(&self) -> String {
        "local".into()
    }

    fn exec<'a>(&'a self, env: &'a StageEnv<'a>, job: &'a Job) -> BoxFuture<'a, Result<Done, StageError>> {
        Box::pin(async move {
            check_env(&job.env)?;
            let dir = match &job.workdir {
                Some(w) => self.base_dir.join(w),
                None => self.base_dir.clone(),
            };
            if !dir.is_dir() {
                return Err(StageError::permanent(format!("[{}] workdir {} is not a folder", self.host, dir.display())));
            }
            let mut cmd = Command::new("bash");
            cmd.args(["-e", "-u", "-o", "pipefail", "-s"]).current_dir(&dir).envs(job.env.iter().map(|(k, v)| (k, v)));
            let piped = Piped { label: &self.host, input: script(&job.script), hold_input: false, capture: job.capture, sentinel: None };
            let ran = child::run(env, self.group, &mut cmd, piped).await?;
            Ok(Done { exit: ran.exit, stdout: ran.stdout })
        })
    }
}

/// The script as one brace group: bash reads all of it before running any of
/// it, so a command that reads stdin gets end-of-file, not the script's next lines.
fn script(text: &str) -> Vec<u8> {
    format!("{{\n{text}\n}}\n").into_bytes()
}
