//! Where a run's shared state lives: the deploy lock, the journal (run record
//! and events) and the run history. [`FileState`], files under a state folder,
//! is the default; `slipway-pgstate` keeps the same things in PostgreSQL so that
//! every CI runner sees one lock and one history. The CLI works through
//! [`State`] and never knows which one it has.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::event::Event;
use crate::journal::{self, Journal, JournalHistory, Replay, RunMeta, RunSummary};
use crate::lock::{self, DeployLock, Holder, LockError};
use crate::runtime::History;
use crate::secrets::Masker;

/// An fsync (or commit) running beside the run, and the record number it covers.
pub type SyncTask = (u64, tokio::task::JoinHandle<io::Result<()>>);

/// Where the scheduler writes a run's events. A boundary event's record number
/// comes back from [`JournalSink::append`]; the scheduler starts no stage before
/// the records of its dependencies are durable ([`JournalSink::synced`]).
pub trait JournalSink: Send {
    /// Appends one event (masked); returns the number of boundary events so far.
    fn append(&mut self, event: &Event) -> io::Result<u64>;
    /// Hands what was appended to the store (not yet durable).
    fn flush(&mut self) -> io::Result<()>;
    fn written(&self) -> u64;
    fn synced(&self) -> u64;
    /// Records that a sync covering records up to `upto` completed.
    fn mark_synced(&mut self, upto: u64);
    /// Starts making everything appended so far durable, beside the run.
    fn start_sync(&mut self) -> io::Result<SyncTask>;
    /// Makes everything appended so far durable, now (the end of a run).
    fn sync(&mut self) -> io::Result<()>;
    /// Whether a write was refused because another run took the deploy lock
    /// (its fencing token is newer): the run must start nothing more.
    fn lock_lost(&self) -> bool {
        false
    }
}

/// A deploy lock held by this run; dropping it releases it.
pub trait HeldLock: Send {
    /// The holder whose stale record this lock replaced, if any.
    fn took_over(&self) -> Option<&Holder>;
    /// Lets go without taking over: the stale record stays as it was found.
    fn put_back(self: Box<Self>);
    /// The lock's fencing token, for a state that checks it: journal writes
    /// carrying an older one are refused.
    fn fence(&self) -> Option<Fence> {
        None
    }
    /// Set to true when the lock is lost while the run holds it (its database
    /// session ended, or a write was refused for an old fencing token): the run
    /// must stop as an interrupt would.
    fn lost(&self) -> Option<watch::Sender<bool>> {
        None
    }
}

/// A lock's fencing token: its name and the generation of this acquisition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lock: String,
    pub generation: i64,
}

/// What `slipway unlock` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlocked {
    NotHeld,
    /// The record was removed; its holder may still run (a file lock).
    Broke(Holder),
    /// The holder's session is alive: only `--force` ends it.
    Live(Holder),
    /// The holder's database session was terminated, which freed the lock.
    Terminated(Holder),
    /// A record left by a holder that is gone was cleared.
    Stale(Holder),
}

/// The lock, the journal and the history, in one place.
pub trait State: Send + Sync {
    /// Where the state is, for messages: a folder or a URL with its password masked.
    fn describe(&self) -> String;
    fn acquire(&self, name: &str, me: &Holder, wait: Option<Duration>) -> Result<Box<dyn HeldLock>, LockError>;
    fn current_holder(&self, name: &str) -> Option<Holder>;
    fn unlock(&self, name: &str, force: bool) -> io::Result<Unlocked>;
    /// Starts the journal of a new run, under `lock`.
    fn create(&self, meta: &RunMeta, masker: Masker, lock: &dyn HeldLock) -> io::Result<Box<dyn JournalSink>>;
    /// Continues run `meta.run_id`'s journal, under `lock`; `meta` replaces its record.
    fn reopen(&self, meta: &RunMeta, masker: Masker, lock: &dyn HeldLock) -> io::Result<Box<dyn JournalSink>>;
    fn meta(&self, run_id: &str) -> io::Result<RunMeta>;
    fn replay(&self, run_id: &str) -> io::Result<Replay>;
    /// Calls `f` with every event of a run, in order; returns how many could
    /// not be read (a report shows what the journal holds, and says how much
    /// it could not).
    fn events(&self, run_id: &str, f: &mut dyn FnMut(Event)) -> io::Result<usize>;
    fn list_runs(&self) -> io::Result<Vec<RunSummary>>;
    fn history(&self, pipeline: &str, environment: Option<String>, current_run: &str) -> Box<dyn History>;
    /// Whether `resume` needs to say where the state is (a folder other than the default).
    fn is_shared(&self) -> bool {
        false
    }
}

/// The state in files under a folder (`.slipway` by default).
#[derive(Debug, Clone)]
pub struct FileState {
    pub dir: PathBuf,
}

impl FileState {
    pub fn new(dir: &Path) -> Self {
        FileState { dir: dir.to_path_buf() }
    }
}

impl HeldLock for DeployLock {
    fn took_over(&self) -> Option<&Holder> {
        self.took_over.as_ref()
    }

    fn put_back(self: Box<Self>) {
        DeployLock::put_back(*self)
    }
}

impl JournalSink for Journal {
    fn append(&mut self, event: &Event) -> io::Result<u64> {
        Journal::append(self, event)
    }

    fn flush(&mut self) -> io::Result<()> {
        Journal::flush(self)
    }

    fn written(&self) -> u64 {
        Journal::written(self)
    }

    fn synced(&self) -> u64 {
        Journal::synced(self)
    }

    fn mark_synced(&mut self, upto: u64) {
        Journal::mark_synced(self, upto)
    }

    fn start_sync(&mut self) -> io::Result<SyncTask> {
        let file = self.sync_handle()?;
        Ok((self.written(), tokio::task::spawn_blocking(move || file.sync_data())))
    }

    fn sync(&mut self) -> io::Result<()> {
        Journal::sync(self)
    }
}

impl State for FileState {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn acquire(&self, name: &str, me: &Holder, wait: Option<Duration>) -> Result<Box<dyn HeldLock>, LockError> {
        Ok(Box::new(lock::acquire(&self.dir, name, me, wait)?))
    }

    fn current_holder(&self, name: &str) -> Option<Holder> {
        lock::current_holder(&self.dir, name)
    }

    fn unlock(&self, name: &str, _force: bool) -> io::Result<Unlocked> {
        Ok(lock::unlock(&self.dir, name)?.map_or(Unlocked::NotHeld, Unlocked::Broke))
    }

    fn create(&self, meta: &RunMeta, masker: Masker, _lock: &dyn HeldLock) -> io::Result<Box<dyn JournalSink>> {
        Ok(Box::new(Journal::create(&self.dir, meta, masker)?))
    }

    fn reopen(&self, meta: &RunMeta, masker: Masker, _lock: &dyn HeldLock) -> io::Result<Box<dyn JournalSink>> {
        let (j, _) = Journal::reopen(&self.dir, &meta.run_id, masker)?;
        j.update_meta(meta)?;
        Ok(Box::new(j))
    }

    fn meta(&self, run_id: &str) -> io::Result<RunMeta> {
        Journal::meta(&self.dir, run_id)
    }

    fn replay(&self, run_id: &str) -> io::Result<Replay> {
        journal::replay_dir(&Journal::runs_dir(&self.dir).join(run_id))
    }

    fn events(&self, run_id: &str, f: &mut dyn FnMut(Event)) -> io::Result<usize> {
        journal::events_dir(&Journal::runs_dir(&self.dir).join(run_id), f)
    }

    fn list_runs(&self) -> io::Result<Vec<RunSummary>> {
        Ok(journal::list_runs(&self.dir))
    }

    fn history(&self, pipeline: &str, environment: Option<String>, current_run: &str) -> Box<dyn History> {
        Box::new(JournalHistory {
            state_dir: self.dir.clone(),
            pipeline: pipeline.to_owned(),
            environment,
            current_run: current_run.to_owned(),
        })
    }
}
