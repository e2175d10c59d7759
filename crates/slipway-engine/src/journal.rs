//! The run journal: `<state>/runs/<run-id>/` holds `run.json` (what was run, with
//! which params, and each stage's fingerprint) and `events.jsonl`, an append-only
//! log fsynced at every stage boundary, secrets masked, each stage's output kept
//! up to a cap (see `journal/cap.rs`). Resume replays it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use slipway_core::dag::Dag;

use crate::event::{Event, RunStatus, StageStatus};
use crate::runtime::{BoxFuture, History, Outputs};
use crate::secrets::Masker;

pub mod cap;
mod read;

pub use cap::STAGE_LOG_CAP;
use read::each_event;

/// What was run: written when the run starts, rewritten when it is resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub run_id: String,
    pub pipeline: String,
    /// The pipeline file, absolute.
    pub file: String,
    pub params: BTreeMap<String, String>,
    pub digests: BTreeMap<String, String>,
    pub user: String,
    pub host: String,
    /// The process driving the run now.
    pub pid: u32,
    pub started_at: String,
    /// Params that held secret text: `params` keeps them masked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_params: Vec<String>,
    /// Each stage's dependencies, as the pipeline had them when the run
    /// started: `slipway report` draws the run's DAG from the journal alone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub needs: BTreeMap<String, Vec<String>>,
    /// What started the run when not a person at a terminal or CI: `chat` for
    /// `slipway serve` (whose runs record the chat user as `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The pipeline file relative to the project root, and its content's hash:
    /// how a resume in another checkout (another CI runner) finds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_in_project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_hash: Option<String>,
}

impl RunMeta {
    /// What [`RunMeta::needs`] records for `dag`.
    pub fn needs_of(dag: &Dag) -> BTreeMap<String, Vec<String>> {
        dag.graph
            .node_indices()
            .map(|n| {
                let mut deps: Vec<String> = dag.dependencies(n).map(|d| dag.graph[d].id.clone()).collect();
                deps.sort();
                deps.dedup();
                (dag.graph[n].id.clone(), deps)
            })
            .collect()
    }
}

pub struct Journal {
    dir: PathBuf,
    events: File,
    masker: Masker,
    /// Appended, not yet written: events go to the file in one write when the
    /// run is about to wait (see [`Journal::flush`]), and always before an fsync.
    pending: Vec<u8>,
    /// Boundary events written so far (their sequence numbers are 1..=written).
    written: u64,
    /// Boundary events known to be on disk.
    synced: u64,
    /// How much of each stage's output is kept.
    cap: cap::LogCap,
}

impl Journal {
    pub fn runs_dir(state_dir: &Path) -> PathBuf {
        state_dir.join("runs")
    }

    /// Starts the journal of a new run.
    pub fn create(state_dir: &Path, meta: &RunMeta, masker: Masker) -> io::Result<Self> {
        let dir = Self::runs_dir(state_dir).join(&meta.run_id);
        crate::private::create_dir_all(&dir)?;
        write_meta(&dir, meta)?;
        let events = crate::private::options().create_new(true).append(true).open(dir.join("events.jsonl"))?;
        // The new file's directory entry must survive a power loss as its content does.
        File::open(&dir)?.sync_all()?;
        Ok(Journal { dir, events, masker, pending: Vec::new(), written: 0, synced: 0, cap: Default::default() })
    }

    /// What run `run_id` was, from its `run.json`; nothing is opened for writing.
    pub fn meta(state_dir: &Path, run_id: &str) -> io::Result<RunMeta> {
        read_meta(&Self::runs_dir(state_dir).join(run_id))
    }

    /// Reopens a run's journal to continue it.
    pub fn reopen(state_dir: &Path, run_id: &str, masker: Masker) -> io::Result<(Self, RunMeta)> {
        let dir = Self::runs_dir(state_dir).join(run_id);
        let meta = read_meta(&dir)?;
        let path = dir.join("events.jsonl");
        let mut file = OpenOptions::new().read(true).append(true).open(&path).map_err(|e| named(&path, e))?;
        // A crash can leave a torn last line: start the next event on a line of its own.
        let mut last = [0u8; 1];
        let len = file.metadata()?.len();
        if len > 0 && std::os::unix::fs::FileExt::read_at(&file, &mut last, len - 1)? == 1 && last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
        Ok((Journal { dir, events: file, masker, pending: Vec::new(), written: 0, synced: 0, cap: Default::default() }, meta))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn update_meta(&self, meta: &RunMeta) -> io::Result<()> {
        write_meta(&self.dir, meta)
    }

    /// Appends one event, masked, and returns the number of boundary events
    /// written so far: a boundary event is durable once [`Journal::synced`]
    /// reaches its number. The scheduler starts no stage before the records of
    /// the stages it depends on are durable (group commit, pipelined with runs).
    pub fn append(&mut self, event: &Event) -> io::Result<u64> {
        match event {
            // Past the stage's cap: counted, not kept.
            Event::Log { stage, line, .. } if !self.cap.keep(stage, line) => return Ok(self.written),
            Event::StageFinished { stage, at, .. } => {
                if let Some(note) = self.cap.finish(stage, *at) {
                    self.write(&note)?;
                }
            }
            _ => {}
        }
        self.write(event)?;
        if event.is_boundary() {
            self.written += 1;
        }
        Ok(self.written)
    }

    /// Adds one event, masked, to what is pending.
    fn write(&mut self, event: &Event) -> io::Result<()> {
        let written = if self.masker.is_empty() {
            serde_json::to_writer(&mut self.pending, event)
        } else {
            serde_json::to_writer(&mut self.pending, &event.masked(&self.masker))
        };
        written.map_err(io::Error::other)?;
        self.pending.push(b'\n');
        if self.pending.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what was appended to the file (the page cache: it survives the
    /// process being killed, not a power loss; [`Journal::sync`] is for that).
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let result = self.events.write_all(&self.pending);
            self.pending.clear();
            result?;
        }
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn synced(&self) -> u64 {
        self.synced
    }

    /// Records that an fsync covering events up to `upto` completed.
    pub fn mark_synced(&mut self, upto: u64) {
        self.synced = self.synced.max(upto);
    }

    /// A second handle on the events file, to fsync from another thread while
    /// this one keeps appending; what was appended so far is written first.
    pub fn sync_handle(&mut self) -> io::Result<File> {
        self.flush()?;
        self.events.try_clone()
    }

    /// Makes every boundary event appended so far durable, now.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        if self.synced < self.written {
            self.events.sync_data()?;
            self.synced = self.written;
        }
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Appended events are written out once this much is pending, whatever else
/// happens: a command printing fast does not grow memory.
const FLUSH_AT: usize = 64 * 1024;

fn write_meta(dir: &Path, meta: &RunMeta) -> io::Result<()> {
    let tmp = dir.join("run.json.tmp");
    let mut f = crate::private::options().write(true).create(true).truncate(true).open(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(meta).map_err(io::Error::other)?)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join("run.json"))?;
    File::open(dir)?.sync_all()
}

/// An IO error that names its file.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn read_meta(dir: &Path) -> io::Result<RunMeta> {
    let path = dir.join("run.json");
    let text = fs::read_to_string(&path).map_err(|e| named(&path, e))?;
    let meta: RunMeta = serde_json::from_str(&text).map_err(|e| named(&path, io::Error::new(io::ErrorKind::InvalidData, e)))?;
    // A folder copied or renamed by hand would have one run write into another's journal.
    if dir.file_name().is_some_and(|name| *name != *meta.run_id) {
        let why = format!("it belongs to run {}, not to this folder's run", meta.run_id);
        return Err(named(&path, io::Error::new(io::ErrorKind::InvalidData, why)));
    }
    Ok(meta)
}

/// Calls `f` with every event of the journal in `dir`, as a stream (a run's
/// whole output can be in it); returns how many lines could not be read.
pub fn events_dir(dir: &Path, f: &mut dyn FnMut(Event)) -> io::Result<usize> {
    Ok(each_event(dir, |_, e| f(e))?.unreadable)
}

/// What the journal in `dir` says happened, read as a stream.
pub fn replay_dir(dir: &Path) -> io::Result<Replay> {
    let mut r = Replay::default();
    let this_run = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut foreign = None;
    let stats = each_event(dir, |line, e| {
        if let Event::RunStarted { run_id, .. } = &e
            && *run_id != this_run
        {
            foreign.get_or_insert_with(|| format!("line {line} of events.jsonl starts run {run_id}, in the journal of run {this_run}"));
        }
        r.apply(line, &e)
    })?;
    r.unreadable_lines = stats.unreadable;
    let unreadable = stats.damaged_line.map(|n| format!("line {n} of events.jsonl cannot be read, and no crash explains it"));
    r.damage = match (unreadable, foreign) {
        (Some(a), Some(b)) if a < b => Some(a),
        (a, b) => b.or(a),
    };
    Ok(r)
}

/// What the journal says happened, stage by stage.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    /// Stages that succeeded, with their outputs and attempts.
    pub succeeded: BTreeMap<String, (Outputs, u32)>,
    pub statuses: BTreeMap<String, StageStatus>,
    pub finished: Option<RunStatus>,
    /// How many times each stage succeeded in this run (a `when: always` stage
    /// can succeed once per attempt of the run).
    pub successes: BTreeMap<String, u32>,
    /// Per stage, the outputs the journal kept only masked.
    pub masked_outputs: BTreeMap<String, Vec<String>>,
    /// Stages skipped by their own `if` (done, as far as what follows is concerned).
    pub skipped_by_if: std::collections::BTreeSet<String>,
    /// When the run first started (ms since the epoch), from its first event.
    pub started_ms: Option<u64>,
    /// Lines of the events file that could not be read.
    pub unreadable_lines: usize,
    /// Why the journal cannot be trusted, naming the line: damage a crash
    /// cannot explain (see `journal/read.rs`).
    pub damage: Option<String>,
    /// The line of each stage's last `stage_finished`.
    pub finished_line: BTreeMap<String, usize>,
    /// Commands started by stages that never finished (the run crashed): stage,
    /// process group, boot.
    pub unfinished_commands: BTreeMap<String, (u32, String)>,
}

impl Replay {
    /// What a stream of events says happened (a journal kept elsewhere than in files).
    pub fn from_events(events: impl IntoIterator<Item = Event>) -> Replay {
        let mut r = Replay::default();
        for (i, e) in events.into_iter().enumerate() {
            r.apply(i + 1, &e);
        }
        r
    }

    /// Commands of stages that never finished and still run on this machine:
    /// (stage, process group).
    pub fn commands_still_running(&self) -> Vec<(String, u32)> {
        let boot = crate::lock::boot_id();
        self.unfinished_commands
            .iter()
            .filter(|(_, (pgid, b))| *b == boot && crate::lock::group_alive(*pgid))
            .map(|(stage, (pgid, _))| (stage.clone(), *pgid))
            .collect()
    }

    fn apply(&mut self, line: usize, e: &Event) {
        let r = self; // the state being rebuilt
        if let Event::StageFinished { stage, .. } = e {
            r.finished_line.insert(stage.clone(), line);
        }
        match e {
            Event::RunStarted { at, .. } => {
                r.finished = None;
                r.started_ms.get_or_insert(*at);
            }
            Event::StageStarted { stage, .. } => {
                r.statuses.insert(stage.clone(), StageStatus::Running);
            }
            Event::CommandStarted { stage, pgid, boot_id, .. } => {
                r.unfinished_commands.insert(stage.clone(), (*pgid, boot_id.clone()));
            }
            Event::StageFinished { stage, status, outputs, attempts, masked, reason, .. } => {
                r.unfinished_commands.remove(stage);
                r.statuses.insert(stage.clone(), *status);
                if *status == StageStatus::Skipped && reason.as_deref() == Some(crate::event::SKIPPED_BY_IF) {
                    r.skipped_by_if.insert(stage.clone());
                } else {
                    r.skipped_by_if.remove(stage);
                }
                r.masked_outputs.insert(stage.clone(), masked.clone());
                if *status != StageStatus::Succeeded {
                    r.succeeded.remove(stage); // it ran again, and ended otherwise
                } else {
                    r.succeeded.insert(stage.clone(), (outputs.clone(), *attempts));
                    *r.successes.entry(stage.clone()).or_default() += 1;
                }
            }
            Event::StageReused { stage, .. } => {
                r.statuses.insert(stage.clone(), StageStatus::Succeeded);
            }
            Event::RunFinished { status, .. } => r.finished = Some(*status),
            _ => {}
        }
    }

    /// What a resumed run reuses: the stages that succeeded and everything they
    /// depend on was reused too. A stage that ran after something upstream failed
    /// or was cancelled (`when: always`, `when: failure`) runs again, so that the
    /// end notification tells how the run ends this time.
    pub fn reusable(&self, dag: &Dag) -> BTreeMap<String, (Outputs, u32)> {
        let mut out = BTreeMap::new();
        // Reused, or skipped by their own `if` with everything before them reused
        // (the same inputs decide the same way again).
        let mut settled = std::collections::BTreeSet::new();
        for node in dag.topological().unwrap_or_default() {
            let id = &dag.graph[node].id;
            if !dag.dependencies(node).all(|d| settled.contains(&dag.graph[d].id)) {
                continue;
            }
            if let Some(done) = self.succeeded.get(id) {
                out.insert(id.clone(), done.clone());
                settled.insert(id.clone());
            } else if self.skipped_by_if.contains(id) {
                settled.insert(id.clone());
            }
        }
        out
    }
}

impl Replay {
    /// Outputs that stages about to run read from a reused stage, but that its
    /// recorded success lacks (the journal was edited): resuming on it would
    /// fail the same way every time. One line each, naming the journal's line.
    pub fn missing_reads(&self, dag: &Dag, reuse: &BTreeMap<String, (Outputs, u32)>) -> Vec<(String, String)> {
        use petgraph::visit::EdgeRef;
        let mut out = Vec::new();
        for edge in dag.graph.edge_references() {
            let (reader, read) = (&dag.graph[edge.source()].id, &dag.graph[edge.target()].id);
            let Some((outputs, _)) = reuse.get(read).filter(|_| !reuse.contains_key(reader)) else { continue };
            for name in edge.weight().reads.iter().filter_map(|r| r.strip_prefix("outputs.")) {
                if !outputs.contains_key(name) {
                    let line = self.finished_line.get(read).map_or_else(String::new, |l| format!("line {l} of events.jsonl: "));
                    let why = format!("{line}stage `{read}` succeeded without its output `{name}`, which stage `{reader}` reads");
                    out.push((read.clone(), why));
                }
            }
        }
        out
    }
}

/// One line of `slipway runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub pipeline: String,
    pub status: String,
    pub started_at: String,
    pub user: String,
    pub stages: String,
    /// When a run kept in a shared state last said it was alive (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

/// Every run under the state folder, newest first.
pub fn list_runs(state_dir: &Path) -> Vec<RunSummary> {
    let Ok(entries) = fs::read_dir(Journal::runs_dir(state_dir)) else { return Vec::new() };
    let mut runs: Vec<(u64, RunSummary)> = entries.filter_map(Result::ok).map(|e| summarize(&e.path())).collect();
    runs.sort_by(|(at_a, a), (at_b, b)| (at_b, &b.run_id).cmp(&(at_a, &a.run_id)));
    runs.into_iter().map(|(_, run)| run).collect()
}

/// One run's line, and when it started (ms); a damaged journal is listed as
/// such, not left out.
fn summarize(dir: &Path) -> (u64, RunSummary) {
    let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let damaged = |why: String| RunSummary {
        run_id: id.clone(),
        pipeline: "?".into(),
        status: "damaged".into(),
        started_at: "?".into(),
        user: "?".into(),
        stages: why,
        last_seen: None,
    };
    let meta = match read_meta(dir) {
        Ok(meta) => meta,
        Err(e) => return (0, damaged(e.to_string())),
    };
    let r = match replay_dir(dir) {
        Ok(r) => r,
        Err(e) => return (0, damaged(e.to_string())),
    };
    if let Some(why) = r.damage {
        let mut run = damaged(why);
        (run.pipeline, run.started_at, run.user) = (meta.pipeline, meta.started_at, meta.user);
        return (r.started_ms.unwrap_or(0), run);
    }
    let status = match r.finished {
        Some(s) => s.as_str().to_owned(),
        None if crate::lock::pid_alive(meta.pid) && meta.host == crate::lock::hostname() => "running".to_owned(),
        None => "crashed".to_owned(),
    };
    let done = r.statuses.values().filter(|s| **s == StageStatus::Succeeded).count();
    let summary = RunSummary {
        run_id: meta.run_id,
        pipeline: meta.pipeline,
        status,
        started_at: meta.started_at,
        user: meta.user,
        stages: format!("{done}/{} succeeded", meta.digests.len()),
        last_seen: None,
    };
    // Run ids name the second only: the first event has the millisecond.
    (r.started_ms.unwrap_or(0), summary)
}

/// Earlier runs of one pipeline and `environment` under a state folder: what
/// [`History`] reads.
#[derive(Debug, Clone)]
pub struct JournalHistory {
    pub state_dir: PathBuf,
    pub pipeline: String,
    /// The `environment` param as `run.json` keeps it (masked like the rest).
    pub environment: Option<String>,
    /// The run asking: never its own history.
    pub current_run: String,
}

impl History for JournalHistory {
    fn last_succeeded<'a>(&'a self, stage: &'a str, output: &'a str) -> BoxFuture<'a, Option<serde_json::Value>> {
        let (me, stage, output) = (self.clone(), stage.to_owned(), output.to_owned());
        Box::pin(async move { tokio::task::spawn_blocking(move || me.find(&stage, &output)).await.ok().flatten() })
    }
}

impl JournalHistory {
    /// The output in the newest run (by start) that succeeded and in which the
    /// stage succeeded with that output unmasked. Only the small `run.json`
    /// files are read for every run; journals are replayed newest first, and
    /// only until the answer is known.
    fn find(&self, stage: &str, output: &str) -> Option<serde_json::Value> {
        let mut runs: Vec<(String, PathBuf)> = fs::read_dir(Journal::runs_dir(&self.state_dir))
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let meta = read_meta(&entry.path()).ok()?;
                let same = meta.pipeline == self.pipeline
                    && meta.params.get("environment") == self.environment.as_ref()
                    && meta.run_id != self.current_run;
                same.then(|| (meta.started_at, entry.path()))
            })
            .collect();
        runs.sort_by(|a, b| b.0.cmp(&a.0));
        // `started_at` names the second: within it, the first event says which run started last.
        let mut best: Option<(String, u64, serde_json::Value)> = None;
        for (started_at, dir) in runs {
            if best.as_ref().is_some_and(|(second, ..)| *second != started_at) {
                break;
            }
            let Ok(r) = replay_dir(&dir) else { continue };
            let masked = r.masked_outputs.get(stage).is_some_and(|m| m.iter().any(|n| n == output));
            let value = r.succeeded.get(stage).and_then(|(outputs, _)| outputs.get(output));
            if let (Some(RunStatus::Succeeded), false, Some(value)) = (r.finished, masked, value) {
                let at = r.started_ms.unwrap_or(0);
                if best.as_ref().is_none_or(|(_, best_at, _)| at > *best_at) {
                    best = Some((started_at, at, value.clone()));
                }
            }
        }
        best.map(|(_, _, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every complete event line; a line torn by a crash (even mid-character) is ignored.
    fn read_events(dir: &Path) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        each_event(dir, |_, e| out.push(e))?;
        Ok(out)
    }

    fn meta(id: &str) -> RunMeta {
        RunMeta {
            run_id: id.into(),
            pipeline: "p".into(),
            file: "/p.yaml".into(),
            params: BTreeMap::new(),
            digests: BTreeMap::from([("a".into(), "1".into())]),
            user: "u".into(),
            host: "h".into(),
            pid: u32::MAX,
            started_at: "t".into(),
            masked_params: Vec::new(),
            needs: BTreeMap::new(),
            trigger: None,
            file_in_project: None,
            file_hash: None,
        }
    }

    #[test]
    fn journal_masks_and_replays() {
        let dir = std::env::temp_dir().join(format!("slipway-journal-{}", crate::runid::new_run_id()));
        let mut j = Journal::create(&dir, &meta("r1"), Masker::new(["hunter22"])).unwrap();
        let mut outputs = Outputs::new();
        outputs.insert("token".into(), "x-hunter22-y".into());
        j.append(&Event::StageFinished {
            stage: "a".into(),
            status: StageStatus::Succeeded,
            attempts: 2,
            duration_ms: 5,
            outputs,
            reason: None,
            masked: Vec::new(),
            at: 1,
        })
        .unwrap();
        j.flush().unwrap();
        let text = fs::read_to_string(j.dir().join("events.jsonl")).unwrap();
        assert!(!text.contains("hunter22") && text.contains("x-***-y"));
        let (_, m) = Journal::reopen(&dir, "r1", Masker::default()).unwrap();
        assert_eq!(m.run_id, "r1");
        assert_eq!(replay_dir(j.dir()).unwrap().succeeded["a"].1, 2);
        let runs = list_runs(&dir);
        assert_eq!(runs[0].status, "crashed");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn torn_lines_are_skipped_and_appends_start_a_new_line() {
        let dir = std::env::temp_dir().join(format!("slipway-torn2-{}", crate::runid::new_run_id()));
        let mut j = Journal::create(&dir, &meta("r3"), Masker::default()).unwrap();
        j.append(&Event::StageStarted { stage: "a".into(), at: 1 }).unwrap();
        j.flush().unwrap();
        let mut f = OpenOptions::new().append(true).open(j.dir().join("events.jsonl")).unwrap();
        f.write_all(b"{\"event\":\"stage_finished\",\"reason\":\"caf\xc3").unwrap(); // cut inside a character
        drop(j);
        assert_eq!(read_events(&dir.join("runs/r3")).unwrap().len(), 1);
        let (mut j, _) = Journal::reopen(&dir, "r3", Masker::default()).unwrap();
        j.append(&Event::StageStarted { stage: "b".into(), at: 2 }).unwrap();
        j.flush().unwrap();
        assert_eq!(read_events(j.dir()).unwrap().len(), 2, "the event after a torn line was lost");
        assert_eq!(replay_dir(j.dir()).unwrap().unreadable_lines, 1, "the torn line is counted");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn damaged_journals_are_named_not_trusted_or_hidden() {
        let dir = std::env::temp_dir().join(format!("slipway-damaged-{}", crate::runid::new_run_id()));
        drop(Journal::create(&dir, &meta("r5"), Masker::default()).unwrap());
        // A run folder copied by hand still holds the other run's run.json.
        fs::create_dir_all(dir.join("runs/r6")).unwrap();
        fs::copy(dir.join("runs/r5/run.json"), dir.join("runs/r6/run.json")).unwrap();
        let e = Journal::meta(&dir, "r6").unwrap_err().to_string();
        assert!(e.contains("r6/run.json") && e.contains("belongs to run r5"), "{e}");
        // An empty run.json: named, and the run still listed.
        fs::write(dir.join("runs/r5/run.json"), "").unwrap();
        assert!(Journal::meta(&dir, "r5").unwrap_err().to_string().contains("r5/run.json"));
        let runs = list_runs(&dir);
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().all(|r| r.status == "damaged"), "{runs:?}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn masking_never_touches_names() {
        let dir = std::env::temp_dir().join(format!("slipway-names-{}", crate::runid::new_run_id()));
        let mut j = Journal::create(&dir, &meta("r4"), Masker::new(["deploy", "stage"])).unwrap();
        j.append(&Event::StageFinished {
            stage: "deploy-web".into(),
            status: StageStatus::Succeeded,
            attempts: 1,
            duration_ms: 1,
            outputs: Outputs::new(),
            reason: Some("deploy ok".into()),
            masked: Vec::new(),
            at: 1,
        })
        .unwrap();
        j.flush().unwrap();
        let events = read_events(j.dir()).unwrap();
        assert_eq!(events[0].stage(), Some("deploy-web"));
        match &events[0] {
            Event::StageFinished { reason, .. } => assert_eq!(reason.as_deref(), Some("*** ok")),
            other => panic!("{other:?}"),
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn runs_are_listed_newest_first_to_the_millisecond() {
        let dir = std::env::temp_dir().join(format!("slipway-order-{}", crate::runid::new_run_id()));
        // Started in the same second: the ids' random suffixes sort the wrong way.
        for (id, at) in [("20260101T000000Z-000000", 2_000), ("20260101T000000Z-ffffff", 1_000)] {
            let mut j = Journal::create(&dir, &meta(id), Masker::default()).unwrap();
            let event = Event::RunStarted { run_id: id.into(), pipeline: "p".into(), params: BTreeMap::new(), resumed: false, at };
            j.append(&event).unwrap();
        }
        let ids: Vec<String> = list_runs(&dir).into_iter().map(|r| r.run_id).collect();
        assert_eq!(ids, ["20260101T000000Z-000000", "20260101T000000Z-ffffff"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn history_is_the_newest_successful_run_of_the_same_pipeline_and_environment() {
        let dir = std::env::temp_dir().join(format!("slipway-history-{}", crate::runid::new_run_id()));
        // (run, pipeline, environment, started, run status, the stage's `to`)
        let runs = [
            ("r1", "p", "prod", 1_000, RunStatus::Succeeded, "aaa"),
            ("r2", "p", "prod", 2_000, RunStatus::Succeeded, "bbb"),
            ("r3", "p", "prod", 3_000, RunStatus::Failed, "ccc"),
            ("r4", "p", "staging", 4_000, RunStatus::Succeeded, "ddd"),
            ("r5", "other", "prod", 5_000, RunStatus::Succeeded, "eee"),
        ];
        for (id, pipeline, env, at, status, to) in runs {
            let m = RunMeta {
                pipeline: pipeline.into(),
                params: BTreeMap::from([("environment".into(), env.into())]),
                started_at: "2026-01-01T00:00:00Z".into(), // the same second: the events order them
                ..meta(id)
            };
            let mut j = Journal::create(&dir, &m, Masker::default()).unwrap();
            j.append(&Event::RunStarted { run_id: id.into(), pipeline: pipeline.into(), params: m.params.clone(), resumed: false, at })
                .unwrap();
            let outputs = Outputs::from_iter([("to".to_owned(), serde_json::Value::from(to))]);
            let finished = Event::StageFinished {
                stage: "changes".into(),
                status: StageStatus::Succeeded,
                attempts: 1,
                duration_ms: 1,
                outputs,
                reason: None,
                masked: Vec::new(),
                at,
            };
            j.append(&finished).unwrap();
            j.append(&Event::RunFinished { status, duration_ms: 1, at }).unwrap();
        }
        let history = |env: &str, current: &str| JournalHistory {
            state_dir: dir.clone(),
            pipeline: "p".into(),
            environment: Some(env.into()),
            current_run: current.into(),
        };
        assert_eq!(history("prod", "r9").find("changes", "to"), Some("bbb".into()), "r3 failed; r4 and r5 are other deploys");
        assert_eq!(history("staging", "r9").find("changes", "to"), Some("ddd".into()));
        assert_eq!(history("staging", "r4").find("changes", "to"), None, "a run is not its own history");
        assert_eq!(history("prod", "r9").find("changes", "from"), None);
        assert_eq!(history("dev", "r9").find("changes", "to"), None);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn torn_last_line_is_ignored() {
        let dir = std::env::temp_dir().join(format!("slipway-torn-{}", crate::runid::new_run_id()));
        let mut j = Journal::create(&dir, &meta("r2"), Masker::default()).unwrap();
        j.append(&Event::StageStarted { stage: "a".into(), at: 1 }).unwrap();
        j.flush().unwrap();
        let mut f = OpenOptions::new().append(true).open(j.dir().join("events.jsonl")).unwrap();
        f.write_all(b"{\"event\":\"stage_fin").unwrap();
        assert_eq!(read_events(j.dir()).unwrap().len(), 1);
        fs::remove_dir_all(dir).unwrap();
    }
}
