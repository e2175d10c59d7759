//! The deploy lock in PostgreSQL: a session-level advisory lock on a connection
//! of its own, so a holder that dies or loses its network frees it without
//! anyone's help. `slipway_locks` names the holder (run, user, host, CI job,
//! backend pid) and keeps the fencing token: a generation incremented at each
//! acquisition, which every journal write must carry (see `journal.rs`).
//! Waiters (`--wait-lock`) queue in PostgreSQL's lock queue, which grants in
//! arrival order; a run that does not wait tries once and never jumps it.

use std::sync::Arc;
use std::time::Duration;

use slipway_engine::lock::{Holder, LockError};
use slipway_engine::state::{Fence, HeldLock, Unlocked};
use tokio::sync::watch;
use tokio_postgres::Client;

use crate::conn::{self, Conn, call, describe};
use crate::url::StateUrl;

/// The advisory lock key of a lock name: 63 bits of its SHA-256.
pub(crate) fn key(name: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("slipway-lock:{name}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes) & i64::MAX
}

/// Whether backend `pid` holds the advisory lock `key` (pg_locks splits a
/// bigint key into two oids).
const HOLDS: &str = "EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 1
    AND p.pid = l.backend_pid AND p.classid::bigint = ($2::bigint >> 32) AND p.objid::bigint = ($2::bigint & 4294967295))";

/// How often a holder says it is alive.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);

/// A heartbeat unanswered this long means the session is gone (the network
/// went): the server drops it about as soon, by the keepalives set below.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(20);

/// The server ends the lock's session, and frees the lock, about 20 s after
/// the holder's network goes (10 s idle, then 3 probes 3 s apart), whatever
/// the server's own defaults (often 2 hours).
const SERVER_KEEPALIVES: &str = "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 3; SET tcp_keepalives_count = 3";

/// How long releasing may take before the session is simply dropped (which frees the lock too).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PgLock {
    name: String,
    key: i64,
    generation: i64,
    client: Arc<Client>,
    lost: watch::Sender<bool>,
    took_over: Option<Holder>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    url: StateUrl,
    /// Released with the stale record put back (see [`HeldLock::put_back`]).
    keep_record: bool,
}

fn io_err(name: &str, message: String) -> LockError {
    LockError::Io { name: name.to_owned(), error: std::io::Error::other(message) }
}

/// Takes lock `name` for `me`; see [`slipway_engine::lock::acquire`] for the semantics.
pub(crate) async fn acquire(url: StateUrl, name: String, me: Holder, wait: Option<Duration>) -> Result<PgLock, LockError> {
    let Conn { client, closed } = conn::connect(&url).await.map_err(|e| io_err(&name, e))?;
    let key = key(&name);
    let db = |e: tokio_postgres::Error| io_err(&name, describe(&url, &e));
    client.batch_execute(SERVER_KEEPALIVES).await.map_err(db)?;
    match wait {
        None => {
            let got: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).await.map_err(db)?.get(0);
            if !got {
                return Err(refusal(&client, &name, key).await);
            }
        }
        Some(limit) => {
            if let Some(holder) = current(&client, &name).await.map_err(db)? {
                tracing::warn!("waiting for deploy lock `{name}`, held by {holder}");
            }
            let ms = limit.as_millis().clamp(1, i32::MAX as u128);
            client.batch_execute(&format!("SET lock_timeout = {ms}")).await.map_err(db)?;
            let turn = wait_turn(&client, &name, key).await;
            if turn.is_none() {
                return Err(LockError::Interrupted { name });
            }
            if let Some(Err(e)) = turn {
                if e.code() != Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                    return Err(db(e));
                }
                let blocker = match current(&client, &name).await.ok().flatten() {
                    Some(holder) => format!("it is held by {holder}"),
                    None => "runs queued earlier go first".to_owned(),
                };
                return Err(LockError::Timeout { name, blocker, waited: Duration::from_millis(ms as u64) });
            }
            client.batch_execute("SET lock_timeout = 0").await.map_err(db)?;
        }
    }
    // Ours now. A record still naming a holder was left by one that died holding it.
    let rows = client.query("SELECT holder FROM slipway_locks WHERE name = $1 AND run_id IS NOT NULL", &[&name]).await.map_err(db)?;
    let took_over = rows.first().and_then(|r| serde_json::from_str::<Holder>(r.get::<_, &str>(0)).ok());
    let holder = serde_json::to_string(&me).map_err(|e| io_err(&name, e.to_string()))?;
    let row = client
        .query_one(
            "INSERT INTO slipway_locks (name, generation, run_id, holder, backend_pid, acquired_at, last_seen)
             VALUES ($1, 1, $2, $3, pg_backend_pid(), now(), now())
             ON CONFLICT (name) DO UPDATE SET generation = slipway_locks.generation + 1, run_id = $2, holder = $3,
               backend_pid = pg_backend_pid(), acquired_at = now(), last_seen = now()
             RETURNING generation",
            &[&name, &me.run_id, &holder],
        )
        .await
        .map_err(db)?;
    let generation: i64 = row.get(0);
    tracing::debug!(lock = name, generation, "deploy lock taken");
    let (lost, _) = watch::channel(false);
    let heartbeat = tokio::spawn(beat(client.clone(), closed, lost.clone(), name.clone(), generation, me.run_id.clone()));
    Ok(PgLock { name, key, generation, client, lost, took_over, heartbeat: Some(heartbeat), url, keep_record: false })
}

/// Waits in PostgreSQL's queue for the lock, saying once a minute who holds
/// it: a silent hour in a CI log looks hung. `None`: SIGINT or SIGTERM ended
/// the wait ([`slipway_engine::lock::stop_waiting`]); leaving drops this
/// session's place in the queue.
async fn wait_turn(client: &Client, name: &str, key: i64) -> Option<Result<u64, tokio_postgres::Error>> {
    let started = std::time::Instant::now();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&key];
    let wait = client.execute("SELECT pg_advisory_lock($1)", &params);
    tokio::pin!(wait);
    let mut minute = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), Duration::from_secs(60));
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            done = &mut wait => return Some(done),
            _ = minute.tick() => {
                tracing::warn!("still waiting for deploy lock `{name}` (waited {}s)", started.elapsed().as_secs());
            }
            _ = poll.tick() => if slipway_engine::lock::waiting_stopped() {
                return None;
            }
        }
    }
}

/// Says every [`HEARTBEAT`] that the holder is alive; when the session ends,
/// the lock is gone with it: `lost` becomes true.
async fn beat(
    client: Arc<Client>,
    mut closed: watch::Receiver<bool>,
    lost: watch::Sender<bool>,
    name: String,
    generation: i64,
    run: String,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let sql = "UPDATE slipway_locks SET last_seen = now() WHERE name = $1 AND generation = $2";
                let alive = tokio::time::timeout(HEARTBEAT_TIMEOUT, client.execute(sql, &[&name, &generation])).await;
                let _ = client.execute("UPDATE slipway_runs SET last_seen = now() WHERE run_id = $1", &[&run]).await;
                match alive {
                    Err(_) => break, // unanswered: the network is gone
                    Ok(Err(e)) if conn::is_connection_lost(&e) => break,
                    Ok(Ok(0)) => break, // another run took the lock
                    _ => {}
                }
            }
            changed = closed.changed() => if changed.is_err() || *closed.borrow() { break },
        }
    }
    let _ = lost.send(true);
}

/// Why a lock that could not be taken at once is busy: its holder, or the runs
/// queued for it.
async fn refusal(client: &Client, name: &str, key: i64) -> LockError {
    // The holder writes its record right after taking the lock: look again for a moment.
    for _ in 0..50 {
        if let Ok(Some(holder)) = current(client, name).await {
            return LockError::Held { name: name.to_owned(), holder: Box::new(holder) };
        }
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_locks p WHERE p.locktype = 'advisory' AND NOT p.granted AND p.objsubid = 1
                   AND p.classid::bigint = ($1::bigint >> 32) AND p.objid::bigint = ($1::bigint & 4294967295)",
                &[&key],
            )
            .await
            .map_or(0, |r| r.get(0));
        if waiting > 0 {
            return LockError::Queued { name: name.to_owned(), waiting: waiting as usize };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unknown = Holder { run_id: "?".into(), user: "?".into(), host: "?".into(), pid: 0, started_at: "?".into(), ci_job: None };
    LockError::Held { name: name.to_owned(), holder: Box::new(unknown) }
}

/// The holder of `name`, if a live session holds it.
pub(crate) async fn current(client: &Client, name: &str) -> Result<Option<Holder>, tokio_postgres::Error> {
    Ok(record(client, name).await?.and_then(|(holder, _, alive)| alive.then_some(holder)))
}

/// The record of `name`: holder, backend pid, and whether that backend holds the lock.
async fn record(client: &Client, name: &str) -> Result<Option<(Holder, i32, bool)>, tokio_postgres::Error> {
    let sql = format!("SELECT l.holder, l.backend_pid, {HOLDS} FROM slipway_locks l WHERE l.name = $1 AND l.run_id IS NOT NULL");
    let rows = client.query(&sql, &[&name, &key(name)]).await?;
    Ok(rows.first().and_then(|r| {
        let holder = serde_json::from_str::<Holder>(r.get::<_, &str>(0)).ok()?;
        Some((holder, r.get::<_, Option<i32>>(1).unwrap_or(0), r.get(2)))
    }))
}

/// `slipway unlock`: clears a record its holder left behind; with `force`,
/// ends a live holder's session, which frees the lock.
pub(crate) async fn unlock(client: &Client, name: &str, force: bool) -> Result<Unlocked, tokio_postgres::Error> {
    let Some((holder, pid, alive)) = record(client, name).await? else { return Ok(Unlocked::NotHeld) };
    if alive && !force {
        return Ok(Unlocked::Live(holder));
    }
    if alive {
        client.execute("SELECT pg_terminate_backend($1)", &[&pid]).await?;
        // The lock goes with the session, a moment after the signal.
        for _ in 0..100 {
            if current(client, name).await?.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let sql = "UPDATE slipway_locks SET run_id = NULL, holder = NULL, backend_pid = NULL WHERE name = $1 AND backend_pid = $2";
    client.execute(sql, &[&name, &pid]).await?;
    Ok(if alive { Unlocked::Terminated(holder) } else { Unlocked::Stale(holder) })
}

impl HeldLock for PgLock {
    fn took_over(&self) -> Option<&Holder> {
        self.took_over.as_ref()
    }

    fn put_back(mut self: Box<Self>) {
        if let Some(stale) = self.took_over.take() {
            let (client, name) = (self.client.clone(), self.name.clone());
            let holder = serde_json::to_string(&stale).unwrap_or_default();
            call(async move {
                let sql = "UPDATE slipway_locks SET run_id = $2, holder = $3 WHERE name = $1";
                let _ = client.execute(sql, &[&name, &stale.run_id, &holder]).await;
            });
            self.keep_record = true;
        }
    }

    fn fence(&self) -> Option<Fence> {
        Some(Fence { lock: self.name.clone(), generation: self.generation })
    }

    fn lost(&self) -> Option<watch::Sender<bool>> {
        Some(self.lost.clone())
    }
}

impl Drop for PgLock {
    /// Empties the record and lets go of the lock (ending the session would free
    /// it too; saying so keeps `runs` from waiting for the server to notice).
    fn drop(&mut self) {
        if let Some(beat) = self.heartbeat.take() {
            beat.abort();
        }
        let (client, name, key, generation) = (self.client.clone(), self.name.clone(), self.key, self.generation);
        let (url, keep) = (self.url.clone(), self.keep_record);
        call(async move {
            let release = async {
                let sql = "UPDATE slipway_locks SET run_id = NULL, holder = NULL, backend_pid = NULL WHERE name = $1 AND generation = $2";
                if !keep && let Err(e) = client.execute(sql, &[&name, &generation]).await {
                    tracing::debug!("releasing deploy lock `{name}`: {}", describe(&url, &e));
                }
                let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&key]).await;
            };
            let _ = tokio::time::timeout(RELEASE_TIMEOUT, release).await;
        });
    }
}
