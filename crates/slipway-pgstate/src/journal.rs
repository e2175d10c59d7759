//! The journal in PostgreSQL: `slipway_events` holds the lines `events.jsonl`
//! would hold, numbered per run. One writer task commits them in order; all
//! that queued while a commit ran go in the next one (group commit), so a DAG
//! of many short stages costs one round trip per wave, as the file journal's
//! pipelined fsync does.
//!
//! Fencing: each commit is one statement that inserts only while the lock's
//! generation is still the one this run took (the row read `FOR SHARE`, so a
//! takeover waits for the commit, and a commit after a takeover inserts
//! nothing). A refused write fails the journal for good and marks the lock
//! lost: the run stops as an interrupt would.
//!
//! Losing the connection: a commit is retried, with backoff, on a new session
//! for a bounded time. Rows carry their number and a retry inserts `ON
//! CONFLICT DO NOTHING`: a commit whose answer was lost is not duplicated.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use slipway_engine::event::Event;
use slipway_engine::journal::cap::LogCap;
use slipway_engine::secrets::Masker;
use slipway_engine::state::{Fence, JournalSink, SyncTask};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::{Client, Statement};

use crate::conn::{self, describe, handle};
use crate::url::StateUrl;

/// How long a commit is retried while the database cannot be reached.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// How long rows nobody waits for may stay queued before they are committed.
const LINGER: Duration = Duration::from_millis(200);

type Row = (i64, String, String);

enum Msg {
    Rows(Vec<Row>),
    Barrier(oneshot::Sender<Result<(), String>>),
}

pub struct PgJournal {
    masker: Masker,
    cap: LogCap,
    pending: Vec<Row>,
    next_seq: i64,
    written: u64,
    synced: u64,
    writer: mpsc::UnboundedSender<Msg>,
    /// Set by the writer, before it answers, when a write was refused for an old fencing token.
    refused: Arc<AtomicBool>,
}

impl PgJournal {
    /// Starts the journal of `run_id`, whose next event is number `next_seq`.
    pub(crate) fn start(
        url: StateUrl,
        client: Arc<Client>,
        run_id: String,
        next_seq: i64,
        fence: Fence,
        lost: Option<watch::Sender<bool>>,
        masker: Masker,
    ) -> Self {
        let (writer, rx) = mpsc::unbounded_channel();
        let refused = Arc::new(AtomicBool::new(false));
        handle().spawn(Writer { url, client, run_id, fence, lost, failed: None, refused: refused.clone(), statement: None }.run(rx));
        PgJournal { masker, cap: LogCap::default(), pending: Vec::new(), next_seq, written: 0, synced: 0, writer, refused }
    }

    fn push(&mut self, event: &Event) -> io::Result<()> {
        let body = if self.masker.is_empty() { serde_json::to_string(event) } else { serde_json::to_string(&event.masked(&self.masker)) };
        let body = body.map_err(io::Error::other)?;
        self.pending.push((self.next_seq, kind(&body), body));
        self.next_seq += 1;
        if self.pending.len() >= 512 {
            self.flush()?;
        }
        Ok(())
    }

    /// Queues a barrier: it answers once everything queued before it is committed.
    fn barrier(&mut self) -> io::Result<oneshot::Receiver<Result<(), String>>> {
        self.flush()?;
        let (tx, rx) = oneshot::channel();
        self.writer.send(Msg::Barrier(tx)).map_err(|_| io::Error::other("the journal writer stopped"))?;
        Ok(rx)
    }
}

/// The event's name, from its first field (`{"event":"stage_started",…}`).
fn kind(body: &str) -> String {
    body.strip_prefix("{\"event\":\"").and_then(|rest| rest.split('"').next()).unwrap_or("?").to_owned()
}

impl JournalSink for PgJournal {
    fn append(&mut self, event: &Event) -> io::Result<u64> {
        match event {
            Event::Log { stage, line, .. } if !self.cap.keep(stage, line) => return Ok(self.written),
            Event::StageFinished { stage, at, .. } => {
                if let Some(note) = self.cap.finish(stage, *at) {
                    self.push(&note)?;
                }
            }
            _ => {}
        }
        self.push(event)?;
        if event.is_boundary() {
            self.written += 1;
        }
        Ok(self.written)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let rows = std::mem::take(&mut self.pending);
            self.writer.send(Msg::Rows(rows)).map_err(|_| io::Error::other("the journal writer stopped"))?;
        }
        Ok(())
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn synced(&self) -> u64 {
        self.synced
    }

    fn mark_synced(&mut self, upto: u64) {
        self.synced = self.synced.max(upto);
    }

    fn start_sync(&mut self) -> io::Result<SyncTask> {
        let rx = self.barrier()?;
        let wait = async move { rx.await.map_err(|_| "the journal writer stopped".to_owned()).and_then(|r| r).map_err(io::Error::other) };
        // On the caller's runtime: the commit's answer wakes the run's thread directly.
        let task = tokio::runtime::Handle::try_current().unwrap_or_else(|_| handle()).spawn(wait);
        Ok((self.written, task))
    }

    fn sync(&mut self) -> io::Result<()> {
        let rx = self.barrier()?;
        conn::call(async move { rx.await.map_err(|_| "the journal writer stopped".to_owned()).and_then(|r| r) })
            .map_err(io::Error::other)?;
        self.synced = self.written;
        Ok(())
    }

    fn lock_lost(&self) -> bool {
        self.refused.load(Ordering::SeqCst)
    }
}

struct Writer {
    url: StateUrl,
    client: Arc<Client>,
    run_id: String,
    fence: Fence,
    lost: Option<watch::Sender<bool>>,
    /// Once a commit failed for good, every later one fails the same way.
    failed: Option<String>,
    refused: Arc<AtomicBool>,
    /// The insert, prepared once per session: a commit is then one round trip.
    statement: Option<Statement>,
}

impl Writer {
    /// Commits when someone waits for it (a barrier), when much is queued, or
    /// [`LINGER`] after the first row queued: output lines reach the database
    /// soon, without a commit (and a WAL flush) each.
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut rows: Vec<Row> = Vec::new();
        let mut since: Option<tokio::time::Instant> = None;
        loop {
            let next = match since {
                None => rx.recv().await,
                Some(t) => match tokio::time::timeout_at(t + LINGER, rx.recv()).await {
                    Ok(m) => m,
                    Err(_) => {
                        self.commit_all(&mut rows).await;
                        since = None;
                        continue;
                    }
                },
            };
            let Some(first) = next else {
                self.commit_all(&mut rows).await;
                return;
            };
            let mut barriers = Vec::new();
            let mut take = |m: Msg| match m {
                Msg::Rows(r) => rows.extend(r),
                Msg::Barrier(b) => barriers.push(b),
            };
            take(first);
            while let Ok(m) = rx.try_recv() {
                take(m);
            }
            if !barriers.is_empty() || rows.len() >= 512 {
                self.commit_all(&mut rows).await;
                since = None;
            } else if !rows.is_empty() {
                since.get_or_insert_with(tokio::time::Instant::now);
            }
            for b in barriers {
                let _ = b.send(self.failed.clone().map_or(Ok(()), Err));
            }
        }
    }

    async fn commit_all(&mut self, rows: &mut Vec<Row>) {
        if !rows.is_empty()
            && self.failed.is_none()
            && let Err(e) = self.commit(rows).await
        {
            tracing::warn!("{e}");
            self.failed = Some(e);
        }
        rows.clear();
    }

    /// Commits `rows`, retrying on a new session while the database is away.
    async fn commit(&mut self, rows: &[Row]) -> Result<(), String> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.insert(rows).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    self.refused.store(true, Ordering::SeqCst);
                    if let Some(lost) = &self.lost {
                        let _ = lost.send(true);
                    }
                    return Err(format!(
                        "journal write refused: the deploy lock `{}` was taken by another run (fencing token {} is no longer current)",
                        self.fence.lock, self.fence.generation
                    ));
                }
                Err(e) if conn::is_connection_lost(&e) && started.elapsed() < RETRY_FOR => {
                    tracing::warn!("journal write: {}; retrying", describe(&self.url, &e));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    if self.client.is_closed() {
                        match conn::connect(&self.url).await {
                            Ok(c) => (self.client, self.statement) = (c.client, None),
                            Err(e) => tracing::debug!("journal reconnect: {e}"),
                        }
                    }
                }
                Err(e) => return Err(format!("journal write failed: {}", describe(&self.url, &e))),
            }
        }
    }
}

impl Writer {
    /// One statement: the rows go in only while the fence is the lock's
    /// current generation. Ok(false) when it is not.
    async fn insert(&mut self, rows: &[Row]) -> Result<bool, tokio_postgres::Error> {
        let statement = match &self.statement {
            Some(s) => s.clone(),
            None => self.statement.insert(self.client.prepare(INSERT).await?).clone(),
        };
        let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let kinds: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        let bodies: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
        let fence = &self.fence;
        let row = self.client.query_one(&statement, &[&fence.lock, &fence.generation, &self.run_id, &seqs, &kinds, &bodies]).await?;
        let fenced: i64 = row.get(0);
        Ok(fenced > 0)
    }
}

/// The fenced insert: the lock's row read `FOR SHARE`, so a takeover waits for
/// it, and inserts nothing once the generation moved on.
const INSERT: &str = "WITH fence AS (SELECT 1 FROM slipway_locks WHERE name = $1 AND generation = $2 FOR SHARE),
    ins AS (INSERT INTO slipway_events (run_id, seq, kind, body)
            SELECT $3, s, k, b FROM unnest($4::bigint[], $5::text[], $6::text[]) AS t(s, k, b)
            WHERE EXISTS (SELECT 1 FROM fence)
            ON CONFLICT DO NOTHING RETURNING 1)
    SELECT (SELECT count(*) FROM fence), (SELECT count(*) FROM ins)";
