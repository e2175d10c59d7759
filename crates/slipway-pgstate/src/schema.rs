//! The tables, created and migrated by version. Each migration runs once, in a
//! transaction holding a transaction-level advisory lock, so runners that start
//! together migrate one after the other. `slipway_schema` says which ran.

use tokio_postgres::Client;

/// Migration `i` brings the schema to version `i + 1`. Append only: never edit one that shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the lock's holder and fencing token, the runs, their events.
    "CREATE TABLE slipway_locks (
        name text PRIMARY KEY,
        generation bigint NOT NULL,
        run_id text,
        holder text,
        backend_pid integer,
        acquired_at timestamptz,
        last_seen timestamptz
    );
    CREATE TABLE slipway_runs (
        run_id text PRIMARY KEY,
        pipeline text NOT NULL,
        environment text,
        lock_name text NOT NULL,
        meta text NOT NULL,
        pipeline_path text,
        pipeline_hash text,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seen timestamptz
    );
    CREATE TABLE slipway_events (
        run_id text NOT NULL REFERENCES slipway_runs (run_id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        kind text NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    CREATE INDEX slipway_events_kind ON slipway_events (run_id, kind);",
];

/// The key of the advisory lock migrations hold (`slipway` in ASCII).
const MIGRATION_LOCK: i64 = 0x0073_6c69_7077_6179;

/// The version this build of Slipway needs.
pub fn latest() -> i32 {
    MIGRATIONS.len() as i32
}

/// The schema's version; 0 before the first migration.
pub async fn version(client: &Client) -> Result<i32, tokio_postgres::Error> {
    let exists: bool = client.query_one("SELECT to_regclass('slipway_schema') IS NOT NULL", &[]).await?.get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_one("SELECT coalesce(max(version), 0) FROM slipway_schema", &[]).await?;
    Ok(row.get(0))
}

/// Brings the schema to [`latest`]; returns the versions applied.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS slipway_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let current: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM slipway_schema", &[]).await?.get(0);
    let mut applied = Vec::new();
    for (i, ddl) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(ddl).await?;
        tx.execute("INSERT INTO slipway_schema (version) VALUES ($1)", &[&version]).await?;
        applied.push(version);
    }
    tx.commit().await?;
    Ok(applied)
}
