//! `/metrics` in Prometheus' text format: requests, refusals and runs.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<&'static str, u64>>,
    unverified: AtomicU64,
    refused: AtomicU64,
    started: AtomicU64,
    finished: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn request(&self, endpoint: &'static str) {
        *super::server::locked(&self.requests).entry(endpoint).or_default() += 1;
    }
    pub fn unverified(&self) {
        self.unverified.fetch_add(1, Ordering::Relaxed);
    }
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
    pub fn started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }
    pub fn finished(&self, status: &str) {
        *super::server::locked(&self.finished).entry(status.to_owned()).or_default() += 1;
    }

    pub fn render(&self, running: usize) -> String {
        let mut out = String::from("# TYPE slipway_serve_requests_total counter\n");
        for (endpoint, n) in super::server::locked(&self.requests).iter() {
            out.push_str(&format!("slipway_serve_requests_total{{endpoint=\"{endpoint}\"}} {n}\n"));
        }
        out.push_str(&format!(
            "# TYPE slipway_serve_unverified_total counter\nslipway_serve_unverified_total {}\n\
             # TYPE slipway_serve_refused_total counter\nslipway_serve_refused_total {}\n\
             # TYPE slipway_serve_runs_started_total counter\nslipway_serve_runs_started_total {}\n\
             # TYPE slipway_serve_runs_running gauge\nslipway_serve_runs_running {running}\n\
             # TYPE slipway_serve_runs_finished_total counter\n",
            self.unverified.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.started.load(Ordering::Relaxed)
        ));
        for (status, n) in super::server::locked(&self.finished).iter() {
            out.push_str(&format!("slipway_serve_runs_finished_total{{status=\"{status}\"}} {n}\n"));
        }
        out
    }
}
