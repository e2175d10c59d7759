//! The local process behind a transport (`bash`, or `ssh`): its script goes in
//! on stdin, its output comes out line by line under the host's name, and it
//! runs in the stage's process group.

use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use slipway_engine::runtime::{StageEnv, StageError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::process::{Exit, lines};

/// One process group for every command a stage runs on its hosts. The journal
/// keeps one group per stage (`command_started`), and `resume` refuses while it
/// lives; an interrupt signals it. A command joins the group while any member
/// lives, and starts a new one (recorded anew) once all have ended.
#[derive(Default)]
pub struct StageGroup {
    pgid: Mutex<Option<i32>>,
}

impl StageGroup {
    /// Starts `cmd` in the group. The lock is held across the spawn, so two
    /// commands started together cannot open two groups.
    fn spawn(&self, env: &StageEnv<'_>, cmd: &mut Command) -> std::io::Result<(Child, i32)> {
        crate::process::die_with_runner(cmd);
        let mut pgid = self.pgid.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(group) = *pgid {
            cmd.process_group(group);
            match cmd.spawn() {
                Ok(child) => return Ok((child, group)),
                // every member has ended: the group is gone
                Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ESRCH)) => {}
                Err(e) => return Err(e),
            }
        }
        cmd.process_group(0);
        let child = cmd.spawn()?;
        let id = child.id().map_or(0, |p| p as i32);
        if id > 0 {
            *pgid = Some(id);
            crate::watchdog::register(id);
            env.command_started(id as u32);
        }
        Ok((child, id))
    }
}

/// What to feed a command and how to read it.
pub struct Piped<'a> {
    /// Put before each output line as `[label] `.
    pub label: &'a str,
    pub input: Vec<u8>,
    /// Keep stdin open until the command ends (a remote watchdog stops the
    /// command when it closes: the connection dropped, or the run was stopped).
    pub hold_input: bool,
    /// Keep stdout (up to [`MAX_CAPTURE`]) instead of showing it.
    pub capture: bool,
    /// A byte the script prints first: until it is seen the command has not
    /// started, and stderr is the transport's own (held back, for the error).
    pub sentinel: Option<u8>,
}

/// How a command ended.
pub struct Ran {
    pub exit: Exit,
    /// The sentinel was seen (always true without one).
    pub started: bool,
    pub stdout: Vec<u8>,
    /// stderr lines from before the command started (only when it never did).
    pub early_stderr: Vec<String>,
}

/// Captured output beyond this fails the command: memory stays bounded.
pub const MAX_CAPTURE: usize = 16 * 1024 * 1024;

/// How long output may keep coming once the command has exited.
const OUTPUT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// How long a command may take to exit after SIGTERM before it gets SIGKILL.
const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Stderr lines kept from before the command started.
const EARLY_LINES: usize = 100;

/// Kills the stage's group if the command is dropped while it runs (an
/// attempt's timeout): every host's command of the stage is being dropped too.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: signalling a group this stage created; an error (gone) is ignored.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

/// Runs `cmd` to its end (or until the run is interrupted).
pub async fn run(env: &StageEnv<'_>, group: &StageGroup, cmd: &mut Command, p: Piped<'_>) -> Result<Ran, StageError> {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let (mut child, pgid) = group.spawn(env, cmd).map_err(|e| spawn_error(&program, e))?;
    let mut guard = GroupGuard(Some(pgid).filter(|g| *g > 0));
    let started = AtomicBool::new(p.sentinel.is_none());
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let label = if p.label.is_empty() { String::new() } else { format!("[{}] ", p.label) };
    let feed = async {
        let mut stdin = stdin?;
        let _ = stdin.write_all(&p.input).await;
        // Dropped here, stdin closes: the script is all there is. Held, it closes
        // when this future is dropped, once the command has ended.
        p.hold_input.then_some(stdin)
    };
    let out = async {
        let Some(mut source) = stdout else { return Ok(Vec::new()) };
        if p.capture {
            let mut bytes = Vec::new();
            (&mut source).take(MAX_CAPTURE as u64 + 1).read_to_end(&mut bytes).await.ok();
            // Drain the rest, so a command that writes more is not killed by SIGPIPE.
            tokio::io::copy(&mut source, &mut tokio::io::sink()).await.ok();
            if let Some(at) = p.sentinel.and_then(|s| bytes.iter().position(|b| *b == s)) {
                bytes.remove(at);
                started.store(true, Ordering::Relaxed);
            }
            if bytes.len() > MAX_CAPTURE {
                return Err(StageError::permanent(format!("{}the command printed more than {} MiB", label, MAX_CAPTURE >> 20)));
            }
            return Ok(bytes);
        }
        lines(source, env.masker, |line| {
            let mut line = std::borrow::Cow::Borrowed(line);
            if let Some(s) = p.sentinel.map(char::from).filter(|_| !started.load(Ordering::Relaxed))
                && let Some(at) = line.find(s)
            {
                started.store(true, Ordering::Relaxed);
                line.to_mut().remove(at);
                if line.is_empty() {
                    return; // the sentinel alone: the command printed nothing on this line
                }
            }
            env.log("stdout", &format!("{label}{line}"));
        })
        .await;
        Ok(Vec::new())
    };
    let err = async {
        let mut held: Vec<String> = Vec::new();
        if let Some(source) = stderr {
            lines(source, env.masker, |line| {
                if started.load(Ordering::Relaxed) {
                    for h in held.drain(..) {
                        env.log("stderr", &format!("{label}{h}"));
                    }
                    env.log("stderr", &format!("{label}{line}"));
                } else if held.len() < EARLY_LINES {
                    held.push(line.to_owned());
                }
            })
            .await;
        }
        held
    };
    // Polled in this order every time (`biased`; tokio's plain `join!` rotates):
    // stdout and stderr lines that reach the pipes at once keep their order.
    let drain = async { tokio::join!(biased; feed, out, err) };
    let interrupted = env.interrupted();
    let mut finished = std::pin::pin!(async {
        let mut drain = std::pin::pin!(drain);
        let mut drained = None;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                d = &mut drain, if drained.is_none() => drained = Some(d),
            }
        };
        // What the command wrote is in the pipes by now; something it left
        // running in the background may hold them open for hours.
        if drained.is_none() {
            drained = tokio::time::timeout(OUTPUT_GRACE, &mut drain).await.ok();
        }
        (status, drained)
    });
    let (status, drained) = tokio::select! {
        done = &mut finished => done,
        () = interrupted => {
            if let Some(pgid) = guard.0 {
                signal(pgid, libc::SIGTERM);
                if tokio::time::timeout(TERM_GRACE, &mut finished).await.is_err() {
                    signal(pgid, libc::SIGKILL);
                }
                while slipway_engine::lock::group_alive(pgid as u32) {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            guard.0 = None;
            return Err(StageError::permanent("stopped: the run was interrupted"));
        }
    };
    guard.0 = None; // ended on its own: what it left in the background is not ours to stop
    let status = status.map_err(|e| StageError::permanent(format!("waiting for the command: {e}")))?;
    let (stdout, early_stderr) = match drained {
        Some((_, out, held)) => (out?, held),
        None => {
            env.log(
                "stderr",
                &format!(
                    "{label}slipway: the command exited, but a process it started still holds its output, which is no longer shown \
                     (send a background process's output to a file: `cmd > cmd.log 2>&1 &`)"
                ),
            );
            (Vec::new(), Vec::new())
        }
    };
    let started = started.load(Ordering::Relaxed);
    if started {
        for line in &early_stderr {
            env.log("stderr", &format!("{label}{line}"));
        }
    }
    use std::os::unix::process::ExitStatusExt;
    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(-1),
    };
    Ok(Ran { exit, started, stdout, early_stderr: if started { Vec::new() } else { early_stderr } })
}

fn signal(pgid: i32, sig: i32) {
    // SAFETY: signalling a process group this stage created; errors (already gone) are ignored.
    unsafe { libc::kill(-pgid, sig) };
}

/// A command that could not start: out of processes or files for now passes.
fn spawn_error(program: &str, e: std::io::Error) -> StageError {
    let mut message = format!("cannot start `{program}`: {e}");
    if e.kind() == std::io::ErrorKind::NotFound {
        message.push_str(": install it, or put it on PATH");
    }
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM) => StageError::transient(message),
        _ => StageError::permanent(message),
    }
}
