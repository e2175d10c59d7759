//! Runs a pipeline over its stage graph: a stage starts once everything it
//! depends on has settled and its `when`/`if` allow; up to `max_parallel` run at
//! once; transient failures are retried; an interrupt stops scheduling, cancels
//! what runs and still runs `when: always` stages.
//!
//! Every stage boundary is written to the journal (and fsynced) before any stage
//! that depends on it starts, so a resumed run never repeats a stage that
//! finished.

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::path::PathBuf;

use std::task::Poll;
use std::time::{Duration, Instant};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use serde::Serialize;
use serde_json::Value;
use slipway_core::dag::Dag;
use slipway_core::model::{Pipeline, Stage, When};
use tokio::sync::{mpsc, watch};

use crate::context::{RunInfo, StageFacts, template_context};
use crate::event::{Event, RunStatus, StageStatus, now_ms};
use crate::render::Renderer;
use crate::retry::Policy;
use crate::runid::random_u64;
use crate::runtime::{BoxFuture, Effect, History, Outputs, Planners, Runners, StageEnv, StageError, placeholder_outputs, raised};
use crate::secrets::Masker;
use crate::state::JournalSink;

/// Everything a run needs besides the pipeline and the kinds.
pub struct RunOptions<'j> {
    pub run: RunInfo,
    pub params: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub masker: Masker,
    pub base_dir: PathBuf,
    /// Where local commands run (see [`StageEnv::project_root`]).
    pub project_root: PathBuf,
    pub max_parallel: usize,
    /// This run continues an earlier one (`slipway resume`).
    pub resumed: bool,
    /// Stages that already succeeded in this run (resume): their outputs are reused.
    pub reuse: BTreeMap<String, (Outputs, u32)>,
    /// Stages that succeeded earlier in this run and run again (resume): how many
    /// times. Their idempotency key says so, or a service would take the new
    /// action (a notification of how the run ended) for a repeat of the old one.
    pub reruns: BTreeMap<String, u32>,
    /// Set to true on the first interrupt.
    pub cancel: watch::Receiver<bool>,
    /// Set to true on a second interrupt: `always` stages are cancelled too.
    pub abort: watch::Receiver<bool>,
    pub events: mpsc::UnboundedSender<Event>,
    pub journal: Option<&'j mut dyn JournalSink>,
    /// Earlier runs, for stages that carry on from the last good one.
    pub history: Option<&'j dyn History>,
}

pub struct RunOutcome {
    pub status: RunStatus,
    pub stages: BTreeMap<String, StageFacts>,
    pub journal_error: Option<String>,
}

/// Writes events to the journal and to the reporters, masked, and keeps track
/// of which journal records are durable.
struct Recorder<'j> {
    journal: Option<&'j mut dyn JournalSink>,
    events: mpsc::UnboundedSender<Event>,
    masker: Masker,
    error: Option<String>,
    /// An fsync running on a blocking thread, covering records up to the number.
    in_flight: Option<Fsync>,
}

impl Recorder<'_> {
    /// Records an event; returns its durability number (0 without a journal:
    /// nothing to wait for).
    fn record(&mut self, event: Event) -> u64 {
        let mut seq = 0;
        if let Some(j) = self.journal.as_deref_mut() {
            match j.append(&event) {
                Ok(n) => seq = n,
                Err(e) => {
                    self.error.get_or_insert_with(|| format!("journal write failed: {e}"));
                }
            }
        }
        let _ = self.events.send(event.masked(&self.masker));
        seq
    }

    /// Whether record `seq` is on disk. Once the journal has failed nothing will
    /// be, and waiting would hang the run: what still runs (the `always` stages,
    /// which tell people the run failed) goes ahead, and the run ends failed.
    fn is_durable(&self, seq: u64) -> bool {
        self.error.is_some() || self.journal.as_deref().is_none_or(|j| j.synced() >= seq)
    }

    /// Whether the journal refused a write because the run no longer holds its
    /// deploy lock (another run took it): nothing more may start, not even
    /// `always` stages.
    fn lock_lost(&self) -> bool {
        self.journal.as_deref().is_some_and(|j| j.lock_lost())
    }

    /// Starts an fsync of everything written so far, unless one is running.
    fn start_sync(&mut self) {
        let Some(j) = self.journal.as_deref_mut() else { return };
        if self.in_flight.is_some() || self.error.is_some() || j.synced() >= j.written() {
            return;
        }
        tracing::trace!(upto = j.written(), "journal fsync started");
        match j.start_sync() {
            Ok(task) => self.in_flight = Some(task),
            Err(e) => {
                self.error.get_or_insert_with(|| format!("journal sync failed: {e}"));
            }
        }
    }

    /// Writes out what was recorded: called before the run waits, so the file
    /// is never more than one burst of work behind.
    fn flush(&mut self) {
        if let Some(j) = self.journal.as_deref_mut()
            && let Err(e) = j.flush()
        {
            self.error.get_or_insert_with(|| format!("journal write failed: {e}"));
        }
    }

    /// Records what stages said so far (attempts, log lines).
    fn drain(&mut self, from: &mut mpsc::UnboundedReceiver<Event>) {
        while let Ok(event) = from.try_recv() {
            self.record(event);
        }
    }

    /// Records what a finished fsync made durable.
    fn mark_synced(&mut self, upto: u64, result: std::io::Result<()>) {
        tracing::trace!(upto, ok = result.is_ok(), "journal fsync finished");
        if let Err(e) = result {
            // Carry on rather than stall the run; the failure is reported at the end.
            self.error.get_or_insert_with(|| format!("journal sync failed: {e}"));
        }
        if let Some(j) = self.journal.as_deref_mut() {
            j.mark_synced(upto);
        }
    }

    /// Makes everything recorded durable before returning.
    async fn sync_now(&mut self) {
        if self.in_flight.is_some() {
            let (upto, result) = synced(&mut self.in_flight).await;
            self.mark_synced(upto, result);
        }
        if let Some(j) = self.journal.as_deref_mut()
            && let Err(e) = j.sync()
        {
            self.error.get_or_insert_with(|| format!("journal sync failed: {e}"));
        }
    }
}

type StageFuture<'a> = BoxFuture<'a, (Result<Outputs, StageError>, u32)>;

/// Runs every stage for real.
pub async fn execute(pipeline: &Pipeline, dag: &Dag, runners: &dyn Runners, mut opts: RunOptions<'_>) -> RunOutcome {
    let renderer = Renderer::new();
    renderer.teach(&opts.masker);
    let started = Instant::now();
    // What stages say while they run (attempts, log lines) comes back here, to be
    // recorded in the journal and shown, in order, before their `stage_finished`.
    let (stage_tx, mut stage_rx) = mpsc::unbounded_channel::<Event>();
    let shared = Shared {
        pipeline,
        runners,
        renderer: &renderer,
        run_id: &opts.run.id,
        base_dir: &opts.base_dir,
        project_root: &opts.project_root,
        masker: &opts.masker,
        events: &stage_tx,
        abort: opts.abort.clone(),
        history: opts.history,
    };
    let ids: Vec<String> = dag.graph.node_indices().map(|i| dag.graph[i].id.clone()).collect();
    let mut rec =
        Recorder { journal: opts.journal.take(), events: opts.events.clone(), masker: opts.masker.clone(), error: None, in_flight: None };
    rec.record(Event::RunStarted {
        run_id: opts.run.id.clone(),
        pipeline: pipeline.name.value.clone(),
        params: opts.params.clone(),
        resumed: opts.resumed,
        at: now_ms(),
    });

    let mut progress = Progress::new(dag);
    let mut facts: BTreeMap<String, StageFacts> = BTreeMap::new();
    let mut running: Vec<(usize, Instant, StageFuture<'_>)> = Vec::new();
    // Decided to run, waiting for the records of their dependencies to be durable.
    let mut held: Vec<(usize, u64, StageFuture<'_>)> = Vec::new();
    // Each stage's `stage_finished` record number (0: durable from an earlier run).
    let mut finished_seq = vec![0u64; ids.len()];
    let mut cancel = opts.cancel.clone();
    // False once the interrupt sender is gone: then nothing can cancel any more.
    let mut cancel_open = true;
    let mut any_failed = false;

    loop {
        // Start what can start.
        let mut deferred = VecDeque::new();
        let mut starting: Vec<(usize, u64, StageFuture<'_>)> = Vec::new();
        while let Some(i) = progress.ready.pop_front() {
            let id = &ids[i];
            let Some(stage) = pipeline.stage(id) else { continue };
            if let Some((outputs, attempts)) = opts.reuse.get(id) {
                rec.record(Event::StageReused { stage: id.clone(), at: now_ms() });
                facts.insert(id.clone(), StageFacts { status: StageStatus::Succeeded, outputs: outputs.clone(), attempts: *attempts });
                progress.settle(dag, i, StageStatus::Succeeded);
                continue;
            }
            // A journal that cannot be written stops the run like an interrupt: a
            // stage whose result cannot be recorded would run again on resume.
            let cancelled = *opts.cancel.borrow() || rec.error.is_some();
            let aborted = *opts.abort.borrow() || rec.lock_lost();
            // How the run stands so far: what an `always` stage at the end reports.
            let run_status = if cancelled {
                "cancelled"
            } else if any_failed {
                "failed"
            } else {
                "succeeded"
            };
            let blocked_by = progress.blocked[i].map(|(b, st)| (dag.graph[NodeIndex::new(b)].id.as_str(), st));
            let decision = decide(stage, cancelled, aborted, progress.failed_upstream[i], blocked_by);
            // Skipped or cancelled for what happened upstream: its dependents are blocked
            // too. (Skipped by its own `if` is set below: that counts as done.)
            progress.passes_block[i] = !matches!(decision, Decision::Run);
            if matches!(decision, Decision::Run) && running.len() + held.len() + starting.len() >= opts.max_parallel.max(1) {
                deferred.push_back(i);
                continue;
            }
            // Only what the stage depends on: a template can read no other stage.
            let context = dependency_context(pipeline, &opts, run_status, &facts, dag, i);
            let decision = match decision {
                Decision::Run => match condition(stage, &renderer, &context) {
                    Ok(true) => Decision::Run,
                    Ok(false) => {
                        progress.passes_block[i] = false;
                        Decision::Skip(crate::event::SKIPPED_BY_IF.into())
                    }
                    Err(e) => Decision::Fail(e),
                },
                other => other,
            };
            tracing::debug!(stage = %id, decision = ?decision_status(&decision), "stage decided");
            match &decision {
                Decision::Run => {
                    rec.record(Event::StageStarted { stage: id.clone(), at: now_ms() });
                    // `always` stages ignore the first interrupt; a second one stops them.
                    let stop = if stage.common.when == When::Always { opts.abort.clone() } else { opts.cancel.clone() };
                    let key = match opts.reruns.get(id) {
                        Some(n) => format!("{}:{id}:{n}", opts.run.id),
                        None => format!("{}:{id}", opts.run.id),
                    };
                    let fut = run_stage(&shared, stage, context, key, stop);
                    let need = dag.dependencies(NodeIndex::new(i)).map(|d| finished_seq[d.index()]).max().unwrap_or(0);
                    starting.push((i, need, Box::pin(fut)));
                }
                Decision::Skip(reason) | Decision::Cancel(reason) | Decision::Fail(reason) => {
                    let final_status = decision_status(&decision);
                    any_failed |= final_status == StageStatus::Failed;
                    finished_seq[i] = rec.record(Event::StageFinished {
                        stage: id.clone(),
                        status: final_status,
                        attempts: 0,
                        duration_ms: 0,
                        outputs: Outputs::new(),
                        reason: Some(reason.clone()),
                        masked: Vec::new(),
                        at: now_ms(),
                    });
                    facts.insert(id.clone(), StageFacts { status: final_status, outputs: Outputs::new(), attempts: 0 });
                    progress.settle(dag, i, final_status);
                }
            }
        }
        progress.ready = deferred;
        // A stage runs once the records of the stages it depends on are on disk;
        // one fsync, running beside the stages, covers everything written so far.
        held.extend(starting);
        if rec.lock_lost() {
            // Never polled, so never started: their records could not be kept.
            for (i, _, fut) in held.drain(..) {
                drop(fut);
                let reason = "the deploy lock was taken by another run".to_owned();
                let event = Event::StageFinished {
                    stage: ids[i].clone(),
                    status: StageStatus::Cancelled,
                    attempts: 0,
                    duration_ms: 0,
                    outputs: Outputs::new(),
                    reason: Some(reason),
                    masked: Vec::new(),
                    at: now_ms(),
                };
                finished_seq[i] = rec.record(event);
                facts.insert(ids[i].clone(), StageFacts { status: StageStatus::Cancelled, outputs: Outputs::new(), attempts: 0 });
                progress.settle(dag, i, StageStatus::Cancelled);
            }
        }
        let mut k = 0;
        while k < held.len() {
            if rec.is_durable(held[k].1) {
                let (i, _, fut) = held.swap_remove(k);
                running.push((i, Instant::now(), fut));
            } else {
                k += 1;
            }
        }
        if !held.is_empty() {
            rec.start_sync();
        }
        if running.is_empty() && held.is_empty() {
            break;
        }
        rec.flush();
        // Wait for a stage to finish or say something, an fsync to complete, or an interrupt.
        let listen = cancel_open && !*cancel.borrow();
        let syncing = rec.in_flight.is_some();
        let done = tokio::select! {
            done = next_done(&mut running), if !running.is_empty() => Some(done),
            Some(event) = stage_rx.recv() => {
                rec.record(event);
                rec.drain(&mut stage_rx); // the rest of the burst, written out in one go
                None
            }
            (upto, result) = synced(&mut rec.in_flight), if syncing => {
                rec.mark_synced(upto, result);
                None
            }
            changed = cancel.changed(), if listen => {
                cancel_open = changed.is_ok();
                None
            }
        };
        let Some((i, started_at, (result, attempts))) = done else { continue };
        rec.drain(&mut stage_rx);
        let id = ids[i].clone();
        let duration_ms = started_at.elapsed().as_millis() as u64;
        let (st, outputs, reason) = match result {
            Ok(outputs) => (StageStatus::Succeeded, outputs, None),
            Err(e) if e.message == CANCELLED => (StageStatus::Cancelled, Outputs::new(), Some("run interrupted".to_owned())),
            // What it produced before failing: a rollback after it reads it.
            Err(e) => (StageStatus::Failed, e.outputs, Some(e.message)),
        };
        any_failed |= st == StageStatus::Failed;
        finished_seq[i] = rec.record(Event::StageFinished {
            stage: id.clone(),
            status: st,
            attempts,
            duration_ms,
            outputs: outputs.clone(),
            reason,
            masked: Vec::new(),
            at: now_ms(),
        });
        facts.insert(id, StageFacts { status: st, outputs, attempts });
        progress.settle(dag, i, st);
    }

    let run_status = if rec.error.is_some() {
        RunStatus::Failed
    } else if *opts.cancel.borrow() {
        RunStatus::Interrupted
    } else if progress.status.iter().any(|s| matches!(s, StageStatus::Failed | StageStatus::Cancelled)) {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    rec.record(Event::RunFinished { status: run_status, duration_ms: started.elapsed().as_millis() as u64, at: now_ms() });
    rec.sync_now().await;
    RunOutcome { status: run_status, stages: facts, journal_error: rec.error }
}

/// Where each stage stands, and which stages are ready to be decided.
struct Progress {
    status: Vec<StageStatus>,
    /// A stage this one depends on, directly or not, failed.
    failed_upstream: Vec<bool>,
    /// The first stage this one depends on, directly or not, that did not
    /// succeed (and was not skipped by its own `if`), with how it ended.
    blocked: Vec<Option<(usize, StageStatus)>>,
    /// This stage, if skipped, was skipped for what happened upstream, not by its own `if`.
    passes_block: Vec<bool>,
    /// Dependencies not yet settled.
    waiting: Vec<usize>,
    ready: VecDeque<usize>,
}

impl Progress {
    fn new(dag: &Dag) -> Self {
        let g = &dag.graph;
        let n = g.node_count();
        let waiting: Vec<usize> = g.node_indices().map(|i| g.neighbors(i).count()).collect();
        Progress {
            status: vec![StageStatus::Pending; n],
            failed_upstream: vec![false; n],
            blocked: vec![None; n],
            passes_block: vec![true; n],
            ready: (0..n).filter(|&i| waiting[i] == 0).collect(),
            waiting,
        }
    }

    /// Records how stage `i` ended and readies the stages waiting only for it.
    fn settle(&mut self, dag: &Dag, i: usize, st: StageStatus) {
        self.status[i] = st;
        // In file order (the graph lists them backwards): what becomes ready
        // together starts in the order it was written.
        let mut dependents: Vec<NodeIndex> = dag.graph.neighbors_directed(NodeIndex::new(i), Direction::Incoming).collect();
        dependents.sort();
        for dependent in dependents {
            let d = dependent.index();
            self.failed_upstream[d] |= st == StageStatus::Failed || self.failed_upstream[i];
            // A stage its own `if` skipped counts as done; one skipped because it was
            // blocked passes the block on.
            let origin = match st {
                StageStatus::Succeeded => None,
                StageStatus::Skipped if !self.passes_block[i] => None,
                // Skipped for what happened upstream: name where it started.
                StageStatus::Skipped => self.blocked[i].or(Some((i, st))),
                _ => Some((i, st)),
            };
            if self.blocked[d].is_none() {
                self.blocked[d] = origin;
            }
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                self.ready.push_back(d);
            }
        }
    }
}

/// How long a cancelled stage may take to stop its work before it is dropped.
const STOP_GRACE: Duration = Duration::from_secs(15);

const CANCELLED: &str = "\u{0}cancelled";

enum Decision {
    Run,
    Skip(String),
    Cancel(String),
    Fail(String),
}

fn decision_status(d: &Decision) -> StageStatus {
    match d {
        Decision::Run => StageStatus::Running,
        Decision::Skip(_) => StageStatus::Skipped,
        Decision::Cancel(_) => StageStatus::Cancelled,
        Decision::Fail(_) => StageStatus::Failed,
    }
}

fn decide(stage: &Stage, cancelled: bool, aborted: bool, failed_upstream: bool, blocked_by: Option<(&str, StageStatus)>) -> Decision {
    match (stage.common.when, cancelled) {
        _ if aborted => Decision::Cancel("run interrupted twice".into()),
        (When::Always, _) => Decision::Run,
        (_, true) => Decision::Cancel("run interrupted".into()),
        (When::Success, false) if blocked_by.is_some() => {
            let (id, st) = blocked_by.unwrap_or(("?", StageStatus::Failed));
            Decision::Skip(format!("`{id}`, which it depends on, did not succeed ({})", st.as_str()))
        }
        (When::Success, false) => Decision::Run,
        (When::Failure, false) if failed_upstream => Decision::Run,
        (When::Failure, false) => Decision::Skip("nothing it depends on failed".into()),
    }
}

/// Renders `if`; empty, `false`, `0` and `null` are false.
fn condition(stage: &Stage, renderer: &Renderer, context: &Value) -> Result<bool, String> {
    let Some(t) = &stage.common.r#if else { return Ok(true) };
    let text = renderer.render(&t.source, context).map_err(|e| format!("`if`: {e}"))?;
    Ok(truthy(&text))
}

/// A rendered condition is false when it is empty, a number equal to zero, or
/// (in any case) `false`, `no`, `off`, `null` or `none`: what a param or a
/// command's output says when it means no.
fn truthy(text: &str) -> bool {
    let t = text.trim().to_ascii_lowercase();
    let zero = t.parse::<f64>().is_ok_and(|n| n == 0.0);
    !(zero || matches!(t.as_str(), "" | "false" | "no" | "off" | "null" | "none"))
}

/// The template context of stage `node`: the run, and the facts of the stages it
/// depends on directly (reading `stages.X` makes X a dependency, so nothing else
/// is readable). Built per stage in O(dependencies), not O(stages).
fn dependency_context(
    pipeline: &Pipeline,
    opts: &RunOptions<'_>,
    run_status: &str,
    facts: &BTreeMap<String, StageFacts>,
    dag: &Dag,
    node: usize,
) -> Value {
    let deps: BTreeMap<String, StageFacts> = dag
        .dependencies(NodeIndex::new(node))
        .filter_map(|d| {
            let id = &dag.graph[d].id;
            facts.get(id).map(|f| (id.clone(), f.clone()))
        })
        .collect();
    template_context(pipeline, &opts.params, &opts.secrets, &opts.run, run_status, &deps)
}

type Fsync = (u64, tokio::task::JoinHandle<std::io::Result<()>>);

/// Waits for the running fsync; returns what it covers and how it went. Dropped
/// before the end, it leaves the fsync running and in place.
async fn synced(in_flight: &mut Option<Fsync>) -> (u64, std::io::Result<()>) {
    let Some((upto, handle)) = in_flight else { return std::future::pending().await };
    let result = handle.await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
    let upto = *upto;
    *in_flight = None;
    (upto, result)
}

/// Polls the running stages; resolves with the first to finish.
async fn next_done<'a, T>(running: &mut Vec<(usize, Instant, BoxFuture<'a, T>)>) -> (usize, Instant, T) {
    poll_fn(|cx| {
        for k in 0..running.len() {
            if let Poll::Ready(out) = running[k].2.as_mut().poll(cx) {
                let (i, started, _) = running.swap_remove(k);
                return Poll::Ready((i, started, out));
            }
        }
        Poll::Pending
    })
    .await
}

/// What every stage of a run shares.
struct Shared<'a> {
    pipeline: &'a Pipeline,
    runners: &'a dyn Runners,
    renderer: &'a Renderer,
    run_id: &'a str,
    base_dir: &'a std::path::Path,
    project_root: &'a std::path::Path,
    masker: &'a Masker,
    /// Back to the scheduler, which records them.
    events: &'a mpsc::UnboundedSender<Event>,
    /// The second interrupt: stop at once, without waiting for a graceful end.
    abort: watch::Receiver<bool>,
    history: Option<&'a dyn History>,
}

/// One stage: attempts with timeouts and backoff until success, a permanent
/// failure, the last attempt, or `stop`.
async fn run_stage<'a>(
    shared: &'a Shared<'a>,
    stage: &'a Stage,
    context: Value,
    idempotency_key: String,
    mut stop: watch::Receiver<bool>,
) -> (Result<Outputs, StageError>, u32) {
    let Shared { pipeline, runners, renderer, run_id, base_dir, project_root, masker, events, history, .. } = *shared;
    let policy = Policy::for_stage(stage, pipeline);
    let env = StageEnv {
        stage,
        pipeline,
        context,
        renderer,
        run_id,
        idempotency_key,
        base_dir,
        project_root,
        dry_run: false,
        masker,
        events: Some(events),
        cancel: stop.clone(),
        history,
    };
    let runner = runners.runner(stage.kind.value);
    let id = &stage.id.value;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let _ = events.send(Event::AttemptStarted { stage: id.clone(), attempt, at: now_ms() });
        let mut attempt_fut = std::pin::pin!(tokio::time::timeout(policy.timeout, runner.run(&env)));
        let result = tokio::select! {
            r = &mut attempt_fut => match r {
                Ok(r) => r,
                Err(_) => Err(StageError::transient(format!("timed out after {}", humantime::format_duration(policy.timeout)))),
            },
            _ = raised(&mut stop) => {
                // The runner sees the same signal: give it time to stop its command
                // gracefully (SIGTERM, then SIGKILL) before the stage settles; a
                // second interrupt cuts that short.
                let mut abort = shared.abort.clone();
                tokio::select! {
                    _ = tokio::time::timeout(STOP_GRACE, &mut attempt_fut) => {}
                    _ = raised(&mut abort) => {}
                }
                return (Err(StageError::permanent(CANCELLED)), attempt);
            }
        };
        if result.is_err() && *stop.borrow() {
            // The runner noticed the interrupt first and stopped: cancelled, not failed.
            return (Err(StageError::permanent(CANCELLED)), attempt);
        }
        let error = match result {
            Ok(outputs) => {
                tracing::debug!(stage = %id, attempt, outputs = outputs.len(), "attempt succeeded");
                return (Ok(outputs), attempt);
            }
            Err(e) => e,
        };
        let mut error = error;
        if error.class == crate::runtime::ErrorClass::Transient
            && attempt < policy.attempts
            && let Some(why) = policy.refuse_wait(error.retry_after)
        {
            error = StageError { class: crate::runtime::ErrorClass::Permanent, message: format!("{}; {why}", error.message), ..error };
        }
        let retry = error.class == crate::runtime::ErrorClass::Transient && attempt < policy.attempts;
        tracing::debug!(stage = %id, attempt, class = ?error.class, retry, "attempt failed");
        let wait = retry.then(|| policy.delay(attempt, error.retry_after, (random_u64() % 10_000) as f64 / 10_000.0));
        let _ = events.send(Event::AttemptFailed {
            stage: id.clone(),
            attempt,
            error: masker.mask(&error.message),
            transient: error.class == crate::runtime::ErrorClass::Transient,
            retry_in_ms: wait.map(|w| w.as_millis() as u64),
            at: now_ms(),
        });
        let Some(wait) = wait else { return (Err(error), attempt) };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = raised(&mut stop) => return (Err(StageError::permanent(CANCELLED)), attempt),
        }
    }
}

/// One stage as `slipway plan` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStage {
    pub id: String,
    pub kind: String,
    pub needs: Vec<String>,
    pub when: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The condition reads what only the run will know (a stage's status, an
    /// output not read live): `condition` is then its template, not its value.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub decided_at_run: bool,
    /// Run for real because the kind is read-only and `--live-reads` was given.
    pub live: bool,
    pub effects: Vec<Effect>,
    pub outputs: Outputs,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PlannedStage {
    /// The same, with secrets masked everywhere they could appear.
    fn masked(self, m: &Masker) -> Self {
        let text = |s: String| m.mask(&s);
        let pairs = |v: Vec<(String, String)>| v.into_iter().map(|(k, val)| (k, m.mask(&val))).collect();
        PlannedStage {
            condition: self.condition.map(text),
            effects: self
                .effects
                .into_iter()
                .map(|e| match e {
                    Effect::Http { method, url, headers, body } => {
                        Effect::Http { method, url: m.mask(&url), headers: pairs(headers), body: body.map(text) }
                    }
                    Effect::Command { command, on, env, workdir } => {
                        Effect::Command { command: m.mask(&command), on, env: pairs(env), workdir: workdir.map(text) }
                    }
                    Effect::Redis { url, command } => Effect::Redis { url: m.mask(&url), command: m.mask(&command) },
                    Effect::Note { text: t } => Effect::Note { text: m.mask(&t) },
                })
                .collect(),
            outputs: match m.mask_json(&Value::Object(self.outputs)) {
                Value::Object(o) => o,
                _ => Outputs::new(),
            },
            error: self.error.map(text),
            ..self
        }
    }
}

/// A dry run: each stage describes what it would do. Only `planners` are given,
/// which cannot act; `live_reads`, if given, runs read-only kinds through
/// read-only capabilities.
pub async fn plan(
    pipeline: &Pipeline,
    dag: &Dag,
    planners: &dyn Planners,
    live_reads: Option<&dyn Runners>,
    opts: &RunOptions<'_>,
) -> Vec<PlannedStage> {
    let renderer = Renderer::new();
    renderer.teach(&opts.masker);
    let order = dag.topological().unwrap_or_default();
    let mut stages_cx: BTreeMap<String, StageFacts> = BTreeMap::new();
    // Stages read live: their outputs are real values, not placeholders.
    let mut live_done: std::collections::BTreeSet<String> = Default::default();
    let mut out = Vec::new();
    for node in order {
        let id = dag.graph[node].id.clone();
        let Some(stage) = pipeline.stage(&id) else { continue };
        let mut context = dependency_context(pipeline, opts, "<run.status: known after run>", &stages_cx, dag, node.index());
        placeholder_statuses(&mut context, &stages_cx);
        let decided_at_run = stage.common.r#if.as_ref().is_some_and(|t| reads_unknowns(&t.source, &live_done));
        let condition = stage.common.r#if.as_ref().map(|t| match decided_at_run {
            true => t.source.trim().to_owned(),
            false => renderer.render_lenient(&t.source, &context).unwrap_or_else(|e| format!("<{e}>")),
        });
        let env = StageEnv {
            stage,
            pipeline,
            context,
            renderer: &renderer,
            run_id: &opts.run.id,
            idempotency_key: format!("{}:{id}", opts.run.id),
            base_dir: &opts.base_dir,
            project_root: &opts.project_root,
            dry_run: true,
            masker: &opts.masker,
            events: None,
            cancel: opts.cancel.clone(),
            history: opts.history,
        };
        // Read for real only what a run would read, as a run would: a read-only
        // kind this version runs, that is not left to a failure, whose condition
        // is known to hold and whose fields read nothing only the run will know.
        let would_run = stage.common.when != When::Failure
            && !decided_at_run
            && condition.as_deref().is_none_or(truthy)
            && !reads_unknowns_anywhere(stage, &live_done);
        let live = live_reads.filter(|r| would_run && stage.config.spec().read_only() && r.can_run(stage.kind.value));
        let mut planned = PlannedStage {
            id: id.clone(),
            kind: stage.kind.value.as_str().to_owned(),
            needs: dag.dependencies(node).map(|d| dag.graph[d].id.clone()).collect(),
            when: stage.common.when.as_str().to_owned(),
            condition,
            decided_at_run,
            live: live.is_some(),
            effects: Vec::new(),
            outputs: placeholder_outputs(stage),
            error: None,
        };
        planned.needs.sort();
        match planners.planner(stage.kind.value).plan(&env) {
            Ok(p) => planned.effects = p.effects,
            Err(e) => planned.error = Some(e.message),
        }
        if let Some(runners) = live {
            let timeout = Policy::for_stage(stage, pipeline).timeout.min(Duration::from_secs(60));
            let real_env = StageEnv { dry_run: false, ..env };
            match tokio::time::timeout(timeout, runners.runner(stage.kind.value).run(&real_env)).await {
                Ok(Ok(outputs)) => {
                    planned.outputs = outputs;
                    live_done.insert(id.clone());
                }
                Ok(Err(e)) => planned.error = Some(format!("live read failed: {}", e.message)),
                Err(_) => planned.error = Some("live read timed out".into()),
            }
        }
        stages_cx.insert(id, StageFacts { status: StageStatus::Pending, outputs: planned.outputs.clone(), attempts: 0 });
        out.push(planned.masked(&opts.masker));
    }
    out
}

/// Whether a template reads something a plan cannot know: any stage's status,
/// or an output of a stage that was not read live.
fn reads_unknowns(source: &str, live: &std::collections::BTreeSet<String>) -> bool {
    slipway_core::template::read_paths(source).iter().any(|path| {
        let parts: Vec<&str> = path.split('.').collect();
        match parts.as_slice() {
            ["stages", id, "outputs", ..] => !live.contains(*id),
            ["stages", ..] | ["run", "status"] => true,
            _ => false,
        }
    })
}

/// Whether any field of the stage reads what a plan cannot know.
fn reads_unknowns_anywhere(stage: &Stage, live: &std::collections::BTreeSet<String>) -> bool {
    use slipway_core::template::Templates;
    let mut fields = Vec::new();
    stage.config.each_template(&mut fields);
    fields.iter().any(|f| reads_unknowns(f.source, live))
}

/// In a plan, a stage's status is not known yet: say so instead of guessing.
fn placeholder_statuses(context: &mut Value, stages: &BTreeMap<String, StageFacts>) {
    if let Some(Value::Object(map)) = context.get_mut("stages") {
        for id in stages.keys() {
            if let Some(Value::Object(s)) = map.get_mut(id) {
                s.insert("status".into(), Value::String(format!("<stages.{id}.status: known after run>")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::truthy;

    #[test]
    fn conditions_read_no_as_no() {
        for no in ["", "  ", "false", "False", "FALSE", "no", "No", "off", "0", "0.0", "-0", " 0 ", "null", "None"] {
            assert!(!truthy(no), "{no:?} should be false");
        }
        for yes in ["true", "yes", "1", "0.5", "production", "falsey", "x"] {
            assert!(truthy(yes), "{yes:?} should be true");
        }
    }
}
