//! The deploy lock: one run per pipeline (and environment) at a time, across
//! processes. It is an `flock` on `<state>/locks/<name>.lock`, whose content names
//! the holder. The kernel releases an `flock` when its process dies; a holder
//! that ends normally empties the record first. So a record under a free lock
//! was left by a dead holder: stale, and taken over with a warning. Waiters
//! (`--wait-lock`) queue by ticket and take the lock in arrival order; a run that
//! does not wait never takes it ahead of them.
//! `slipway unlock` breaks a lock by unlinking the file.

use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub run_id: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub started_at: String,
    /// The CI job running it, when the CI's variables say (see [`ci_job_url`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_job: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {} by {} on {} (pid {}, since {})", self.run_id, self.user, self.host, self.pid, self.started_at)?;
        match &self.ci_job {
            Some(url) => write!(f, ", CI job {url}"),
            None => Ok(()),
        }
    }
}

/// The URL of the CI job this process runs in, from the variables GitHub
/// Actions, GitLab CI, Buildkite and Jenkins set.
pub fn ci_job_url() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        return Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    var("CI_JOB_URL").or_else(|| var("BUILDKITE_BUILD_URL")).or_else(|| var("BUILD_URL"))
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("deploy lock `{name}` is held by {holder}")]
    Held { name: String, holder: Box<Holder> },
    #[error("deploy lock `{name}` is free, but {waiting} run(s) queued with `--wait-lock` take it first")]
    Queued { name: String, waiting: usize },
    #[error("gave up waiting for deploy lock `{name}` after {}; {blocker}", humantime::format_duration(*waited))]
    Timeout { name: String, blocker: String, waited: Duration },
    #[error("deploy lock `{name}`: {error}")]
    Io { name: String, error: io::Error },
    #[error("stopped waiting for deploy lock `{name}`: interrupted; nothing ran")]
    Interrupted { name: String },
}

/// Set from a signal handler while a run waits its turn (`--wait-lock`): the
/// wait then ends with [`LockError::Interrupted`], and leaves the queue.
static STOP_WAITING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ends any wait for a lock (async-signal-safe: one atomic store).
pub fn stop_waiting() {
    STOP_WAITING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`stop_waiting`] was called: a lock kept elsewhere (PostgreSQL) ends its wait too.
pub fn waiting_stopped() -> bool {
    STOP_WAITING.load(std::sync::atomic::Ordering::SeqCst)
}

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct DeployLock {
    file: File,
    /// Released without emptying the record (see [`DeployLock::put_back`]).
    keep_record: bool,
    /// The holder whose stale record this lock replaced, if any.
    pub took_over: Option<Holder>,
}

/// `restaurant-api` or `restaurant-api@production`, made safe as a file name.
pub fn lock_name(pipeline: &str, environment: Option<&str>) -> String {
    let raw = match environment {
        Some(env) if !env.is_empty() => format!("{pipeline}@{env}"),
        _ => pipeline.to_owned(),
    };
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@') { c } else { '_' }).collect()
}

fn lock_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("locks").join(format!("{name}.lock"))
}

/// Takes the lock. Without `wait`, fails at once naming the holder (or the
/// queue, when runs wait for a lock just freed); with it, waits its turn up to
/// that long.
pub fn acquire(state_dir: &Path, name: &str, me: &Holder, wait: Option<Duration>) -> Result<DeployLock, LockError> {
    let io_err = |error| LockError::Io { name: name.to_owned(), error };
    let path = lock_path(state_dir, name);
    crate::private::create_dir_all(path.parent().expect("lock path has a folder")).map_err(io_err)?;
    let ticket = match wait {
        Some(_) => Some(Ticket::take(state_dir, name).map_err(io_err)?),
        None => None,
    };
    let started = Instant::now();
    let mut last_said = None;
    loop {
        let my_turn = ticket.as_ref().is_none_or(|t| t.is_first());
        if my_turn {
            let mut file = crate::private::options().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_err)?;
            match file.try_lock() {
                Ok(()) => {
                    if !same_file(&file, &path) {
                        continue; // unlinked (unlock) between open and lock: try the new file
                    }
                    if ticket.is_none() {
                        // Freed a moment ago, and its waiters poll: they come first.
                        let waiting = live_tickets(&queue_dir(state_dir, name)).len();
                        if waiting > 0 {
                            return Err(LockError::Queued { name: name.to_owned(), waiting });
                        }
                    }
                    let took_over = read_holder(&mut file);
                    write_holder(&mut file, me).map_err(io_err)?;
                    tracing::debug!(
                        lock = name,
                        waited_ms = started.elapsed().as_millis() as u64,
                        stale = took_over.is_some(),
                        "deploy lock taken"
                    );
                    return Ok(DeployLock { file, took_over, keep_record: false });
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(io_err(e)),
            }
        }
        match wait {
            None => return Err(LockError::Held { name: name.to_owned(), holder: Box::new(holder_after_write(&path)) }),
            Some(limit) if started.elapsed() >= limit => {
                let blocker = match current_holder(state_dir, name) {
                    Some(holder) => format!("it is held by {holder}"),
                    None => {
                        let ahead = ticket.as_ref().map_or(0, |t| t.ahead());
                        format!("it is free, but {ahead} run(s) queued earlier go first")
                    }
                };
                let waited = Duration::from_millis(started.elapsed().as_millis() as u64);
                return Err(LockError::Timeout { name: name.to_owned(), blocker, waited });
            }
            Some(_) if STOP_WAITING.load(std::sync::atomic::Ordering::SeqCst) => {
                return Err(LockError::Interrupted { name: name.to_owned() });
            }
            Some(_) => {
                // Say so when the wait starts and once a minute: a silent hour in a CI log looks hung.
                if last_said.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(60)) {
                    let who = current_holder(state_dir, name).map_or_else(|| "runs queued earlier".to_owned(), |h| h.to_string());
                    tracing::warn!("waiting for deploy lock `{name}`, held by {who} (waited {}s)", started.elapsed().as_secs());
                    last_said = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(100))
            }
        }
    }
}

/// Breaks a lock: whoever holds it keeps running, but the next run no longer waits
/// for it. Returns the holder it named, if any.
pub fn unlock(state_dir: &Path, name: &str) -> io::Result<Option<Holder>> {
    let path = lock_path(state_dir, name);
    let holder = holder_of(&path);
    match fs::remove_file(&path) {
        Ok(()) => Ok(holder),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The holder recorded in a lock file, if any.
pub fn holder_of(path: &Path) -> Option<Holder> {
    let mut f = File::open(path).ok()?;
    read_holder(&mut f)
}

/// The current holder of the lock `name`, if it is held by a live process.
pub fn current_holder(state_dir: &Path, name: &str) -> Option<Holder> {
    let path = lock_path(state_dir, name);
    let file = File::open(&path).ok()?;
    match file.try_lock() {
        Ok(()) => None,
        Err(_) => holder_of(&path),
    }
}

impl DeployLock {
    /// Lets go without taking over: the stale record is written back, so the
    /// next taker finds the lock as this one did.
    pub fn put_back(mut self) {
        if let Some(stale) = self.took_over.take() {
            let _ = write_holder(&mut self.file, &stale);
            self.keep_record = true;
        }
    }
}

impl Drop for DeployLock {
    /// Releases the lock: the record is emptied (an empty record under a free
    /// lock means "released"; a record under a free lock means its holder died).
    /// The file is never removed here: `unlock` may have replaced it with another
    /// holder's, and removing by path could delete that one.
    fn drop(&mut self) {
        if !self.keep_record {
            let _ = self.file.set_len(0);
        }
        let _ = self.file.sync_all();
        let _ = self.file.unlock();
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_holder(file: &mut File, me: &Holder) -> io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(&serde_json::to_vec_pretty(me).map_err(io::Error::other)?)?;
    file.sync_all()
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The holder's record. A holder writes it right after taking the lock, so a
/// record still empty is re-read for a moment before giving up on it.
fn holder_after_write(path: &Path) -> Holder {
    for _ in 0..50 {
        if let Some(h) = holder_of(path) {
            return h;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    unknown_holder()
}

fn unknown_holder() -> Holder {
    Holder { run_id: "?".into(), user: "?".into(), host: "?".into(), pid: 0, started_at: "?".into(), ci_job: None }
}

/// A place in the queue of waiters: `<name>.queue/<nanos>-<pid>`.
struct Ticket {
    dir: PathBuf,
    name: String,
}

impl Ticket {
    fn take(state_dir: &Path, lock: &str) -> io::Result<Self> {
        let dir = queue_dir(state_dir, lock);
        crate::private::create_dir_all(&dir)?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let name = format!("{nanos:024}-{}", std::process::id());
        crate::private::options().write(true).create(true).truncate(true).open(dir.join(&name))?;
        Ok(Ticket { dir, name })
    }

    /// First among the waiters still alive.
    fn is_first(&self) -> bool {
        live_tickets(&self.dir).first().is_none_or(|f| *f == self.name)
    }

    /// How many live waiters came before this one.
    fn ahead(&self) -> usize {
        live_tickets(&self.dir).iter().take_while(|t| **t != self.name).count()
    }
}

fn queue_dir(state_dir: &Path, lock: &str) -> PathBuf {
    state_dir.join("locks").join(format!("{lock}.queue"))
}

/// The tickets of waiters still alive, in arrival order; dead waiters' tickets
/// are removed on the way.
fn live_tickets(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut live: Vec<String> = Vec::new();
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.rsplit('-').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if pid_alive(pid) {
            live.push(name);
        } else {
            let _ = fs::remove_file(e.path());
        }
    }
    live.sort();
    live
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.dir.join(&self.name));
    }
}

/// Whether a process with this id exists on this machine.
pub fn pid_alive(pid: u32) -> bool {
    exists(pid, false)
}

/// Whether process `id` (or process group `id`) exists; one of another user counts.
fn exists(id: u32, group: bool) -> bool {
    if id == 0 || id > i32::MAX as u32 {
        return false;
    }
    let target = if group { -(id as i32) } else { id as i32 };
    // SAFETY: signal 0 only checks whether the process or group exists.
    let rc = unsafe { libc::kill(target, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// This boot of this machine: process ids from another boot mean nothing now.
pub fn boot_id() -> String {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|b| b.trim().to_owned()).unwrap_or_default()).clone()
}

/// Whether any process of group `pgid` still runs. `kill(2)` also finds
/// zombies (ended, not yet reaped by a parent that may never do it), which run
/// nothing: where `/proc` tells them apart, they do not count.
pub fn group_alive(pgid: u32) -> bool {
    if !exists(pgid, true) {
        return false;
    }
    let Ok(entries) = fs::read_dir("/proc") else { return true };
    entries.flatten().any(|e| {
        let pid = e.file_name();
        let numeric = pid.to_str().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        numeric && fs::read_to_string(e.path().join("stat")).is_ok_and(|stat| runs_in_group(&stat, pgid))
    })
}

/// From `/proc/PID/stat`: the process is in group `pgid` and not a zombie.
/// The command name, in parentheses, may hold anything: fields follow the last `)`.
fn runs_in_group(stat: &str, pgid: u32) -> bool {
    let Some((_, rest)) = stat.rsplit_once(") ") else { return false };
    let mut fields = rest.split_whitespace();
    let (state, _ppid, group) = (fields.next(), fields.next(), fields.next());
    !matches!(state, Some("Z" | "X")) && group.and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
}

pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "localhost".into())
}

/// Who runs: `$USER`, `$LOGNAME`, else the passwd entry of the real uid (CI
/// containers set neither variable), else `uid-N`.
pub fn username() -> String {
    let from_env = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok().filter(|u| !u.is_empty());
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    from_env.or_else(|| passwd_name(uid)).unwrap_or_else(|| format!("uid-{uid}"))
}

/// The login name of `uid` in the passwd database.
fn passwd_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter; getpwuid_r writes into
    // `pwd` and `buf` (of the length given) and sets `result` to `&pwd` or null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr(pwd.pw_name).to_str().ok().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_comes_from_passwd_when_the_environment_has_none() {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let name = passwd_name(uid).expect("this user has a passwd entry");
        assert!(!name.is_empty() && !name.starts_with("uid-"), "{name}");
    }

    fn me(run: &str) -> Holder {
        Holder { run_id: run.into(), user: "u".into(), host: hostname(), pid: std::process::id(), started_at: "now".into(), ci_job: None }
    }

    fn state() -> PathBuf {
        std::env::temp_dir().join(format!("slipway-lock-{}", crate::runid::new_run_id()))
    }

    #[test]
    fn second_taker_is_refused_with_the_holder_named() {
        let dir = state();
        let held = acquire(&dir, "app", &me("r1"), None).unwrap();
        match acquire(&dir, "app", &me("r2"), None) {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder.run_id, "r1"),
            other => panic!("{other:?}"),
        }
        drop(held);
        let again = acquire(&dir, "app", &me("r3"), None).unwrap();
        assert!(again.took_over.is_none(), "a released lock is not stale");
        assert!(lock_path(&dir, "app").exists(), "release keeps the file");
        drop(again);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn leftover_record_is_taken_over_as_stale() {
        let dir = state();
        let path = lock_path(&dir, "app");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let dead = Holder { pid: 999_999, ..me("crashed") };
        fs::write(&path, serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = acquire(&dir, "app", &me("r1"), None).unwrap();
        assert_eq!(lock.took_over.as_ref().unwrap().run_id, "crashed");
        drop(lock);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unlock_breaks_a_held_lock_and_waiting_times_out() {
        let dir = state();
        let held = acquire(&dir, "app", &me("r1"), None).unwrap();
        let timeout = acquire(&dir, "app", &me("r2"), Some(Duration::from_millis(250))).unwrap_err();
        assert!(matches!(timeout, LockError::Timeout { .. }));
        assert!(timeout.to_string().contains("ms; it is held by run r1 by u"), "{timeout}");
        // Free, but another waiter came first: said so, not an unknown holder.
        let earlier = Ticket::take(&dir, "app").unwrap();
        drop(held);
        let queued = acquire(&dir, "app", &me("r3"), Some(Duration::from_millis(250))).unwrap_err();
        assert!(queued.to_string().contains("it is free, but 1 run(s) queued earlier go first"), "{queued}");
        drop(earlier);
        let held = acquire(&dir, "app", &me("r1"), None).unwrap();
        assert_eq!(unlock(&dir, "app").unwrap().unwrap().run_id, "r1");
        let next = acquire(&dir, "app", &me("r2"), None).unwrap();
        drop(held); // the old holder must not remove the new lock file
        assert_eq!(current_holder(&dir, "app").unwrap().run_id, "r2");
        drop(next);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_run_that_does_not_wait_lets_queued_waiters_go_first() {
        let dir = state();
        let waiter = Ticket::take(&dir, "app").unwrap(); // a live waiter (this process)
        match acquire(&dir, "app", &me("impatient"), None) {
            Err(LockError::Queued { waiting, .. }) => assert_eq!(waiting, 1),
            other => panic!("{other:?}"),
        }
        assert!(current_holder(&dir, "app").is_none(), "refusing leaves the lock free and unrecorded");
        drop(waiter);
        // A dead waiter's ticket holds nobody up, and is cleared away.
        fs::write(dir.join("locks/app.queue/000000000000000000000001-999999"), b"").unwrap();
        let lock = acquire(&dir, "app", &me("next"), None).unwrap();
        assert!(!dir.join("locks/app.queue/000000000000000000000001-999999").exists());
        drop(lock);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_are_file_safe() {
        assert_eq!(lock_name("api", Some("prod/eu")), "api@prod_eu");
        assert_eq!(lock_name("api", None), "api");
    }

    #[test]
    fn a_group_of_zombies_runs_nothing() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("true").process_group(0).spawn().expect("spawn true");
        let pgid = child.id();
        // Not reaped yet: a zombie, which kill(2) still finds.
        let start = std::time::Instant::now();
        while fs::read_to_string(format!("/proc/{pgid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
            assert!(start.elapsed() < Duration::from_secs(5), "true did not end");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(exists(pgid, true), "kill(2) finds the zombie");
        assert!(!group_alive(pgid), "a zombie counted as running");
        let _ = child.wait();
        assert!(
            runs_in_group("12 (a) b) S 1 12 12 0", 12) && !runs_in_group("12 (x) Z 1 12 12", 12) && !runs_in_group("12 (x) S 1 13 13", 12)
        );
    }
}
