//! Running one job across hosts: at most N at once, stopping early when told
//! to; each host's result; and what earlier attempts of a stage already did.

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::Mutex;
use std::task::Poll;

use serde_json::{Value, json};
use slipway_engine::runtime::{BoxFuture, StageEnv};

/// How one host's part of a stage went.
#[derive(Debug, Clone, PartialEq)]
pub struct HostResult {
    pub name: String,
    /// `ok`, `changed`, `reboot_pending`, `failed`, `unreachable`, `error` or `not_run`.
    pub status: &'static str,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// Trying again may help (the host was unreachable, or the exit code says so).
    pub transient: bool,
    /// Outputs the host's command wrote.
    pub values: Vec<(String, String)>,
}

impl HostResult {
    pub fn not_run(name: &str) -> Self {
        HostResult {
            name: name.to_owned(),
            status: "not_run",
            exit_code: None,
            duration_ms: 0,
            error: None,
            transient: true,
            values: Vec::new(),
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.status, "failed" | "unreachable" | "error" | "not_run")
    }

    /// An entry of the `hosts` output.
    pub fn to_json(&self) -> Value {
        json!({ "name": self.name, "status": self.status, "exit_code": self.exit_code, "duration_ms": self.duration_ms })
    }

    /// `web-2 (exit 3)`, `web-4 (unreachable: …)`, for a stage's error.
    pub fn brief(&self) -> String {
        match (&self.error, self.exit_code) {
            (Some(e), _) => format!("{} ({}: {e})", self.name, self.status),
            (None, Some(code)) => format!("{} (exit {code})", self.name),
            (None, None) => format!("{} ({})", self.name, self.status.replace('_', " ")),
        }
    }

    /// The line logged when the host is done: `[web-1] ok: exit 0 in 1.2s`.
    pub fn log(&self, env: &StageEnv<'_>) {
        let took = match self.duration_ms {
            ms @ 0..1000 => format!("{ms}ms"),
            ms => format!("{:.1}s", ms as f64 / 1000.0),
        };
        let code = self.exit_code.map(|c| format!(": exit {c}")).unwrap_or_default();
        let stream = if self.failed() || self.status == "reboot_pending" { "stderr" } else { "stdout" };
        let why = self.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
        env.log(stream, &format!("[{}] {}{code} in {took}{why}", self.name, self.status.replace('_', " ")));
    }
}

/// Hosts that succeeded in earlier attempts of a stage in this process: a
/// retry runs only the others. Keyed by the stage's idempotency key.
#[derive(Default)]
pub struct Earlier(Mutex<HashMap<String, Vec<HostResult>>>);

impl Earlier {
    /// What earlier attempts of this stage did, by host.
    pub fn take(&self, key: &str) -> HashMap<String, HostResult> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key).unwrap_or_default().into_iter().map(|r| (r.name.clone(), r)).collect()
    }

    /// Keeps the hosts that succeeded, for the next attempt.
    pub fn keep(&self, key: &str, results: &[HostResult]) {
        let done: Vec<HostResult> = results.iter().filter(|r| !r.failed()).cloned().collect();
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_owned(), done);
    }
}

/// Starts `start(i)` for `i` in `0..count`, in order, at most `limit` at once.
/// After each one ends, `go_on(i, &result)` says whether to start more (those
/// already running finish either way). Returns each result; `None` for those
/// never started. All run on the caller's task: the run is one thread.
pub async fn run_limited<'a, T>(
    count: usize,
    limit: usize,
    mut start: impl FnMut(usize) -> BoxFuture<'a, T>,
    mut go_on: impl FnMut(usize, &T) -> bool,
) -> Vec<Option<T>> {
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let mut running: Vec<(usize, BoxFuture<'a, T>)> = Vec::new();
    let (mut next, mut stopped) = (0, false);
    loop {
        while !stopped && next < count && running.len() < limit.max(1) {
            running.push((next, start(next)));
            next += 1;
        }
        if running.is_empty() {
            return results;
        }
        let (i, out) = poll_fn(|cx| {
            for k in 0..running.len() {
                if let Poll::Ready(out) = running[k].1.as_mut().poll(cx) {
                    let (i, _) = running.swap_remove(k);
                    return Poll::Ready((i, out));
                }
            }
            Poll::Pending
        })
        .await;
        stopped |= !go_on(i, &out);
        results[i] = Some(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Duration;

    #[tokio::test]
    async fn at_most_limit_run_at_once_and_a_stop_starts_no_more() {
        let (now, peak) = (std::sync::atomic::AtomicUsize::new(0), std::sync::atomic::AtomicUsize::new(0));
        let results = run_limited(
            6,
            2,
            |i| {
                let (now, peak) = (&now, &peak);
                Box::pin(async move {
                    let n = now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10 * (i as u64 % 3 + 1))).await;
                    now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    i * 10
                })
            },
            |_, _| true,
        )
        .await;
        assert_eq!(results, (0..6).map(|i| Some(i * 10)).collect::<Vec<_>>());
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);

        let ended = Cell::new(0);
        let results = run_limited(
            5,
            1,
            |i| Box::pin(async move { i }),
            |_, _| {
                ended.set(ended.get() + 1);
                ended.get() < 2
            },
        )
        .await;
        assert_eq!(results, vec![Some(0), Some(1), None, None, None]);
    }
}
