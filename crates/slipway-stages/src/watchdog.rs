//! With a state shared by many machines (PostgreSQL), a run resumed or started
//! elsewhere cannot see this machine's processes, so commands must never
//! outlive their runner: a deploy lock freed by a crashed runner must have no
//! command still running behind it.
//!
//! A watchdog process, started once per run, holds the read end of a pipe from
//! the runner. Every command starts with `SLIPWAY_WATCHDOG=<token>` in its
//! environment, and its process group is written to the pipe as it starts.
//! When the pipe closes without the runner saying `done` (the runner died, even
//! by `kill -9`), the watchdog kills every group it was told of, then every
//! process whose environment holds the token: that covers a command started
//! a moment before the runner died, and whatever a command left behind.
//!
//! Why not `PR_SET_PDEATHSIG`: it has to be set between fork and exec, which
//! makes every command start with a full `fork` instead of `posix_spawn`
//! (the 1,000-stage bench took 2.0x the file state's time that way, 1.2x
//! without), and it covers only the command itself, not its children.

use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// The variable that marks a command of a watched run.
pub const VAR: &str = "SLIPWAY_WATCHDOG";

struct Watch {
    pipe: ChildStdin,
    token: String,
}

static WATCH: Mutex<Option<Watch>> = Mutex::new(None);

fn watch() -> std::sync::MutexGuard<'static, Option<Watch>> {
    WATCH.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the watchdog (`slipway __watchdog TOKEN`, from this same binary);
/// from now on, commands are watched.
pub fn start() -> std::io::Result<()> {
    let mut w = watch();
    if w.is_some() {
        return Ok(());
    }
    let token = format!("{:016x}{:016x}", slipway_engine::runid::random_u64(), slipway_engine::runid::random_u64());
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["__watchdog", &token])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Not in the runner's group: an interrupt meant for the run is the run's to handle.
        .process_group(0)
        .spawn()?;
    let pipe = child.stdin.take().ok_or_else(|| std::io::Error::other("the watchdog has no stdin"))?;
    *w = Some(Watch { pipe, token });
    Ok(())
}

/// The run ended as it should: the watchdog leaves everything alone.
pub fn finish() {
    if let Some(mut w) = watch().take() {
        let _ = w.pipe.write_all(b"done\n");
    }
}

/// The marker for a command's environment, while commands are watched.
pub fn marker() -> Option<(&'static str, String)> {
    watch().as_ref().map(|w| (VAR, w.token.clone()))
}

/// Tells the watchdog of a command's process group.
pub fn register(pgid: i32) {
    if let Some(w) = watch().as_mut() {
        let _ = writeln!(w.pipe, "{pgid}");
    }
}

/// The watchdog itself: `slipway __watchdog TOKEN`, its stdin the runner's
/// pipe. Returns its exit code.
pub fn run(token: &str) -> i32 {
    let mut groups = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line == "done" {
            return 0;
        }
        if let Ok(pgid) = line.trim().parse::<i32>()
            && pgid > 1
        {
            groups.push(pgid);
        }
    }
    // The runner is gone without a word: nothing it started may go on.
    for pgid in groups {
        // SAFETY: signalling a process group the runner created for a command.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let marker = format!("{VAR}={token}");
    for pid in marked(&marker) {
        // SAFETY: signalling a process whose environment carries this run's marker.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    0
}

/// Processes whose environment holds `marker` (`NAME=VALUE`).
fn marked(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()))
        })
        .collect()
}
