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

/// Words of a command that needs no shell: no quoting, expansion, redirection,
/// globbing, control operators or assignments, and not a shell builtin. Such a
/// command is exec'd directly, as GNU make does, saving a shell start per stage;
/// anything else runs under `bash -euo pipefail`, with identical results.
pub fn direct_argv(script: &str) -> Option<Vec<&str>> {
    const BUILTINS: &[&str] = &[
        "cd", "export", "exit", "set", "source", ".", "eval", "exec", "read", "ulimit", "umask", "alias", "unset", "shift", "trap", "wait",
        "return", "break", "continue", "declare", "local", "typeset", "readonly", "let", "hash", "type", "command", "builtin", "if", "for",
        "while", "until", "case", "function", "time", "coproc", "select", "!", "[[",
    ];
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:,+@%-= ".contains(c);
    let words: Vec<&str> = script.split(' ').filter(|w| !w.is_empty()).collect();
    let first = *words.first()?;
    let simple = script.chars().all(plain) && !first.contains('=') && !BUILTINS.contains(&first);
    simple.then_some(words)
}

/// Runs `script` (with bash unless it is a plain command) and waits for it,
/// streaming its output to the stage log.
pub async fn run_bash(env: &StageEnv<'_>, script: &str, vars: &[(String, String)], workdir: &Path) -> Result<Exit, StageError> {
    let direct = direct_argv(script.trim());
    let mut child = match direct.as_deref().map(|argv| spawn(Command::new(argv[0]).args(&argv[1..]), vars, workdir)) {
        // not on PATH: let bash say so (exit 127) like any other failure
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        Some(other) => Some(other),
        None => None,
    }
    .unwrap_or_else(|| spawn(Command::new("bash").args(["-e", "-u", "-o", "pipefail", "-c", script]), vars, workdir))
    .map_err(|e| StageError::permanent(format!("cannot start the command in {}: {e}", workdir.display())))?;
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

/// Starts a command in a process group of its own, output piped.
fn spawn(cmd: &mut Command, vars: &[(String, String)], workdir: &Path) -> std::io::Result<tokio::process::Child> {
    cmd.current_dir(workdir)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
}

async fn pump(env: &StageEnv<'_>, stream: &str, source: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(source).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        env.log(stream, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::direct_argv;

    #[test]
    fn only_plain_commands_skip_the_shell() {
        assert_eq!(direct_argv("true"), Some(vec!["true"]));
        assert_eq!(direct_argv("make -j2 release VERSION=1.2"), Some(vec!["make", "-j2", "release", "VERSION=1.2"]));
        for shell in
            ["echo $HOME", "a && b", "a | b", "echo 'x'", "ls *.txt", "cd /tmp", "FOO=1 make", "echo a > f", "exit 3", "a; b", "x\ny"]
        {
            assert_eq!(direct_argv(shell), None, "{shell}");
        }
    }
}
