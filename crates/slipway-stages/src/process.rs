//! Local processes: `bash -euo pipefail -c` (a script holding a secret goes on stdin), in a process group of their own so
//! that cancelling a stage stops everything the command started, with output
//! streamed line by line.

use std::path::Path;
use std::process::Stdio;

use slipway_engine::runtime::{StageEnv, StageError};
use slipway_engine::secrets::Masker;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// Kills the command's whole process group if the stage is dropped while it
/// runs (an attempt's timeout, or a cancelled stage past its grace period).
struct GroupGuard {
    pgid: Option<i32>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: signalling a process group this stage created; errors (already gone) are ignored.
    unsafe { libc::kill(-pgid, signal) };
}

/// How long output may keep coming once the command has exited.
const OUTPUT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// How long a command may take to exit after SIGTERM before it gets SIGKILL.
const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

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
    // A script holding a secret goes to bash on stdin, not on its command line,
    // which `/proc` shows to every user.
    let holds_secret = env.masker.mask(script) != script;
    let direct = direct_argv(script.trim()).filter(|_| !holds_secret);
    let mut child = match direct.as_deref().map(|argv| spawn(Command::new(argv[0]).args(&argv[1..]), vars, workdir, Stdio::null())) {
        // not on PATH, not executable, or a script without a shebang: bash runs it,
        // or says why not (exit 126/127) like any other failure
        Some(Err(e))
            if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::PermissionDenied
                || e.raw_os_error() == Some(libc::ENOEXEC) =>
        {
            None
        }
        Some(other) => Some(other),
        None => None,
    }
    .unwrap_or_else(|| match holds_secret {
        true => spawn(Command::new("bash").args(["-e", "-u", "-o", "pipefail", "-s"]), vars, workdir, Stdio::piped()),
        false => spawn(Command::new("bash").args(["-e", "-u", "-o", "pipefail", "-c", script]), vars, workdir, Stdio::null()),
    })
    .map_err(|e| {
        let mut message = format!("cannot start the command in {}: {e}", workdir.display());
        if e.kind() == std::io::ErrorKind::InvalidInput && e.to_string().contains("nul byte") {
            message = "the command or one of its `env` values holds a NUL byte, which no program can receive: remove it".into();
        }
        // Out of processes, file descriptors or memory for now: that passes.
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM) => StageError::transient(message),
            _ => StageError::permanent(message),
        }
    })?;
    let mut guard = GroupGuard { pgid: child.id().map(|p| p as i32) };
    if let Some(mut stdin) = child.stdin.take() {
        // One brace group: bash reads all of it before running any, so what the
        // command reads from stdin is end-of-file, as with `-c`.
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(format!("{{\n{script}\n}}\n").as_bytes()).await;
    }
    if let Some(pid) = child.id() {
        env.command_started(pid);
    }
    let out = child.stdout.take().map(|s| pump(env, "stdout", s));
    let err = child.stderr.take().map(|s| pump(env, "stderr", s));
    // Both streams in one task, stdout polled first each time (`biased`): lines
    // that reach the pipes at once (`echo out; echo err >&2`) keep the order they
    // were written in. tokio's plain `join!` rotates which it polls first.
    let drain = async {
        tokio::join!(
            biased;
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
        )
    };
    let interrupted = env.interrupted();
    let mut finished = std::pin::pin!(async {
        let mut drain = std::pin::pin!(drain);
        let mut drained = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                _ = &mut drain, if !drained => drained = true,
            }
        };
        // What the command wrote is in the pipes by now. Something it left running
        // in the background may hold them open for hours: the stage ends with
        // the command, not with that.
        if !drained && tokio::time::timeout(OUTPUT_GRACE, &mut drain).await.is_err() {
            env.log(
                "stderr",
                "slipway: the command exited, but a process it started still holds its output, which is no longer shown \
                 (send a background process's output to a file: `cmd > cmd.log 2>&1 &`)",
            );
        }
        status
    });
    let status = tokio::select! {
        status = &mut finished => status,
        () = interrupted => {
            // Stop the whole group: SIGTERM, a grace period, then SIGKILL; the stage
            // settles only once nothing of it runs any more.
            if let Some(pgid) = guard.pgid {
                signal_group(pgid, libc::SIGTERM);
                if tokio::time::timeout(TERM_GRACE, &mut finished).await.is_err() {
                    signal_group(pgid, libc::SIGKILL);
                }
                while slipway_engine::lock::group_alive(pgid as u32) {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            guard.pgid = None;
            return Err(StageError::permanent("stopped: the run was interrupted"));
        }
    };
    guard.pgid = None; // finished on its own
    let status = status.map_err(|e| StageError::permanent(format!("waiting for the command: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(-1),
    })
}

/// Starts a command in a process group of its own, output piped.
fn spawn(cmd: &mut Command, vars: &[(String, String)], workdir: &Path, stdin: Stdio) -> std::io::Result<tokio::process::Child> {
    cmd.current_dir(workdir)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = die_with_runner(cmd).spawn()?;
    if let Some(pid) = child.id() {
        crate::watchdog::register(pid as i32);
    }
    Ok(child)
}

/// Makes the commands started from now on die with their runner (`true`):
/// for a state shared by many machines (PostgreSQL), where a run resumed or
/// started elsewhere cannot see this machine's processes. `false` once the run
/// has ended as it should. With the file state, a crashed run's commands may
/// finish (a migration records itself) and `resume` waits for them instead.
/// See `watchdog.rs`.
pub fn set_commands_die_with_runner(on: bool) -> std::io::Result<()> {
    match on {
        true => crate::watchdog::start(),
        false => {
            crate::watchdog::finish();
            Ok(())
        }
    }
}

/// Marks the command for the run's watchdog, when commands are watched: it is
/// killed, with everything it started, if the runner dies.
pub(crate) fn die_with_runner(cmd: &mut Command) -> &mut Command {
    if let Some((name, token)) = crate::watchdog::marker() {
        cmd.env(name, token);
    }
    cmd
}

/// A line longer than this is shown in pieces of this size: memory stays bounded
/// whatever a command prints (a minified bundle, a binary on stdout).
const MAX_LINE: usize = 64 * 1024;

/// Forwards output line by line, reading to the end whatever the bytes are (a
/// reader that stopped early would kill the command with SIGPIPE).
async fn pump(env: &StageEnv<'_>, stream: &str, source: impl AsyncRead + Unpin) {
    lines(source, env.masker, |line| env.log(stream, line)).await
}

/// Calls `each` with every line of `source` (without its line ending), in pieces
/// of at most [`MAX_LINE`] bytes, reading to the end whatever the bytes are. A
/// long line is cut where `masker` says no secret is cut
/// ([`Masker::showable_prefix`]): the rest starts the next piece.
pub async fn lines(source: impl AsyncRead + Unpin, masker: &Masker, mut each: impl FnMut(&str)) {
    use tokio::io::AsyncReadExt;
    let mut reader = BufReader::new(source);
    let mut line = Vec::new();
    loop {
        // A piece cut from a long line may end inside a character: that tail is
        // kept for the next piece.
        let carried = line.len();
        match (&mut reader).take(MAX_LINE.saturating_sub(carried).max(1) as u64).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let complete = line.ends_with(b"\n");
        let keep = match std::str::from_utf8(&line) {
            Err(e) if e.error_len().is_none() && !complete && e.valid_up_to() > 0 => line.len() - e.valid_up_to(),
            _ => 0,
        };
        let text = String::from_utf8_lossy(&line[..line.len() - keep]).into_owned();
        if complete {
            each(text.trim_end_matches(['\n', '\r']));
            line.clear();
            continue;
        }
        let shown = masker.showable_prefix(&text);
        each(&text[..shown]);
        let tail = line.split_off(line.len() - keep);
        line = [&text.as_bytes()[shown..], &tail].concat();
    }
    if !line.is_empty() {
        each(&String::from_utf8_lossy(&line));
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_LINE, Masker, direct_argv, lines};

    /// A long line is cut into pieces, each masked on its own: a secret at any
    /// offset across a cut still arrives whole in one piece, and is masked.
    #[test]
    fn a_secret_across_a_piece_boundary_is_never_shown() {
        let secret = "Zq9#xK2!mP4$wL7&";
        let masker = Masker::new([secret]);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for k in 0..=secret.len() + 1 {
            let line = format!("{}{secret}{}\n", "a".repeat(MAX_LINE - k), "b".repeat(MAX_LINE + 7));
            let mut pieces = Vec::new();
            rt.block_on(lines(line.as_bytes(), &masker, |piece| pieces.push(masker.mask(piece))));
            assert!(pieces.len() >= 3, "{k}: the line was not cut");
            assert_eq!(
                pieces.iter().map(|p| p.replace("***", "")).collect::<String>().len(),
                line.len() - 1 - secret.len(),
                "{k}: bytes lost"
            );
            for piece in &pieces {
                for window in secret.as_bytes().windows(4) {
                    let w = std::str::from_utf8(window).unwrap();
                    assert!(!piece.contains(w), "offset {k}: a piece shows `{w}` of the secret");
                }
            }
        }
    }

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
