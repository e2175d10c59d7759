//! Runs in `slipway_runs` (the content of `run.json`) and what they did, read
//! back from `slipway_events`: replay for `resume`, summaries for `runs`, the
//! last good run for `changelog`.

use std::collections::BTreeMap;

use slipway_engine::event::{Event, RunStatus, StageStatus};
use slipway_engine::journal::{Replay, RunMeta, RunSummary};
use slipway_engine::state::Fence;
use tokio_postgres::Client;

/// Records a new run, under the lock's current generation; false when it is not current.
pub(crate) async fn insert(client: &Client, meta: &RunMeta, fence: &Fence) -> Result<bool, tokio_postgres::Error> {
    let text = serde_json::to_string(meta).unwrap_or_default();
    let sql = "INSERT INTO slipway_runs (run_id, pipeline, environment, lock_name, meta, pipeline_path, pipeline_hash, last_seen)
               SELECT $1, $2, $3, $4, $5, $6, $7, now()
               WHERE EXISTS (SELECT 1 FROM slipway_locks WHERE name = $4 AND generation = $8 FOR SHARE)";
    let env = meta.params.get("environment");
    let n = client
        .execute(sql, &[&meta.run_id, &meta.pipeline, &env, &fence.lock, &text, &meta.file_in_project, &meta.file_hash, &fence.generation])
        .await?;
    Ok(n == 1)
}

/// Replaces a resumed run's record, under the lock's current generation.
pub(crate) async fn update(client: &Client, meta: &RunMeta, fence: &Fence) -> Result<bool, tokio_postgres::Error> {
    let text = serde_json::to_string(meta).unwrap_or_default();
    let sql = "UPDATE slipway_runs SET meta = $2, pipeline_path = $3, pipeline_hash = $4, lock_name = $5, last_seen = now()
               WHERE run_id = $1 AND EXISTS (SELECT 1 FROM slipway_locks WHERE name = $5 AND generation = $6 FOR SHARE)";
    let n = client.execute(sql, &[&meta.run_id, &text, &meta.file_in_project, &meta.file_hash, &fence.lock, &fence.generation]).await?;
    Ok(n == 1)
}

/// The number the run's next event gets.
pub(crate) async fn next_seq(client: &Client, run_id: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(client.query_one("SELECT coalesce(max(seq), 0) + 1 FROM slipway_events WHERE run_id = $1", &[&run_id]).await?.get(0))
}

pub(crate) async fn meta(client: &Client, run_id: &str) -> Result<Option<RunMeta>, tokio_postgres::Error> {
    let rows = client.query("SELECT meta FROM slipway_runs WHERE run_id = $1", &[&run_id]).await?;
    Ok(rows.first().and_then(|r| serde_json::from_str(r.get::<_, &str>(0)).ok()))
}

/// Every event of a run, in order, and how many could not be read.
pub(crate) async fn events(client: &Client, run_id: &str) -> Result<(Vec<Event>, usize), tokio_postgres::Error> {
    let rows = client.query("SELECT body FROM slipway_events WHERE run_id = $1 ORDER BY seq", &[&run_id]).await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut unreadable = 0;
    for r in rows {
        match serde_json::from_str::<Event>(r.get::<_, &str>(0)) {
            Ok(e) => out.push(e),
            Err(_) => unreadable += 1,
        }
    }
    Ok((out, unreadable))
}

pub(crate) async fn replay(client: &Client, run_id: &str) -> Result<Replay, tokio_postgres::Error> {
    let (events, unreadable) = events(client, run_id).await?;
    Ok(Replay { unreadable_lines: unreadable, ..Replay::from_events(events) })
}

/// Events that decide how a run stands (not its output lines).
const SUMMARY_KINDS: &str = "('run_started', 'stage_finished', 'stage_reused', 'run_finished')";

/// Every run, newest first. An unfinished run is `running` while a live
/// session holds its lock for it; otherwise it cannot be running: `crashed`.
pub(crate) async fn list(client: &Client) -> Result<Vec<RunSummary>, tokio_postgres::Error> {
    let runs = client
        .query(
            "SELECT r.run_id, r.meta,
                    to_char(r.last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    EXISTS (SELECT 1 FROM slipway_locks l JOIN pg_locks p ON p.pid = l.backend_pid
                            AND p.locktype = 'advisory' AND p.granted
                            WHERE l.name = r.lock_name AND l.run_id = r.run_id)
             FROM slipway_runs r",
            &[],
        )
        .await?;
    let sql = format!("SELECT run_id, body FROM slipway_events WHERE kind IN {SUMMARY_KINDS} ORDER BY run_id, seq");
    let mut events: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for r in client.query(&sql, &[]).await? {
        if let Ok(e) = serde_json::from_str::<Event>(r.get::<_, &str>(1)) {
            events.entry(r.get(0)).or_default().push(e);
        }
    }
    let mut out: Vec<(u64, RunSummary)> = runs
        .iter()
        .map(|row| {
            let run_id: String = row.get(0);
            let meta: Option<RunMeta> = serde_json::from_str(row.get::<_, &str>(1)).ok();
            let r = Replay::from_events(events.remove(&run_id).unwrap_or_default());
            let live: bool = row.get(3);
            let status = match r.finished {
                Some(s) => s.as_str().to_owned(),
                None if live => "running".to_owned(),
                None => "crashed".to_owned(),
            };
            let done = r.statuses.values().filter(|s| **s == StageStatus::Succeeded).count();
            let summary = RunSummary {
                pipeline: meta.as_ref().map_or("?".into(), |m| m.pipeline.clone()),
                started_at: meta.as_ref().map_or("?".into(), |m| m.started_at.clone()),
                user: meta.as_ref().map_or("?".into(), |m| m.user.clone()),
                stages: format!("{done}/{} succeeded", meta.as_ref().map_or(0, |m| m.digests.len())),
                status,
                run_id,
                last_seen: row.get(2),
            };
            (r.started_ms.unwrap_or(0), summary)
        })
        .collect();
    out.sort_by(|(at_a, a), (at_b, b)| (at_b, &b.run_id).cmp(&(at_a, &a.run_id)));
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

/// Output `output` of `stage` in the newest run of `pipeline` and
/// `environment` (other than `current`) that succeeded with it unmasked.
pub(crate) async fn last_succeeded(
    client: &Client,
    pipeline: &str,
    environment: Option<&str>,
    current: &str,
    stage: &str,
    output: &str,
) -> Result<Option<serde_json::Value>, tokio_postgres::Error> {
    let sql = "SELECT r.run_id FROM slipway_runs r
               JOIN slipway_events s ON s.run_id = r.run_id AND s.kind = 'run_started'
               WHERE r.pipeline = $1 AND r.environment IS NOT DISTINCT FROM $2 AND r.run_id <> $3
                 AND EXISTS (SELECT 1 FROM slipway_events f WHERE f.run_id = r.run_id AND f.kind = 'run_finished')
               GROUP BY r.run_id ORDER BY min((s.body::jsonb ->> 'at')::bigint) DESC";
    for row in client.query(sql, &[&pipeline, &environment, &current]).await? {
        let run_id: String = row.get(0);
        let r = replay(client, &run_id).await?;
        let masked = r.masked_outputs.get(stage).is_some_and(|m| m.iter().any(|n| n == output));
        let value = r.succeeded.get(stage).and_then(|(outputs, _)| outputs.get(output));
        if let (Some(RunStatus::Succeeded), false, Some(value)) = (r.finished, masked, value) {
            return Ok(Some(value.clone()));
        }
    }
    Ok(None)
}
