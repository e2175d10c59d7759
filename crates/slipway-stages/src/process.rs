//! Local processes: `bash -euo pipefail -c`, in a process group of their own so
//! that cancelling a stage stops everything the command started, with output
//! streamed line by line.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use slipway_engine::runtime::{StageEnv, StageError};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

/// How a command ended.
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// Kills the command's whole process group if the stage is dropped while it
/// runs (cancellation, timeout): SIGTERM now, SIGKILL shortly after.
struct GroupGuard {
    pgid: Option<i32>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: signalling a process group we created; errors are ignored.
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(3));
                // SAFETY: as above.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            });
        }
    }
}

/// Runs `script` with bash and waits for it, streaming its output to the stage log.
pub async fn run_bash(env: &StageEnv<'_>, script: &str, vars: &[(String, String)], workdir: &Path) -> Result<Exit, StageError> {
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-u", "-o", "pipefail", "-c", script])
        .current_dir(workdir)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| StageError::permanent(format!("cannot start bash in {}: {e}", workdir.display())))?;
    let mut guard = GroupGuard { pgid: child.id().map(|p| p as i32) };
    let out = child.stdout.take().map(|s| pump(env, "stdout", s));
    let err = child.stderr.take().map(|s| pump(env, "stderr", s));
    let (status, _, _) = tokio::join!(
        child.wait(),
        async {
            if let Some(o) = out {
                o.await
            }
        },
        async {
            if let Some(e) = err {
                e.await
            }
        }
    );
    guard.pgid = None; // finished on its own
    let status = status.map_err(|e| StageError::permanent(format!("waiting for bash: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(-1),
    })
}

async fn pump(env: &StageEnv<'_>, stream: &str, source: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(source).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        env.log(stream, &line);
    }
}
