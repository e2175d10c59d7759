//! The health check after a restart: `GET url` every `interval` until it
//! answers `expect_status` (and, with `revision_pointer`, the revision the
//! host should now run), or `timeout` passes. Refused connections and errors
//! while the application restarts are expected: they are tried again.

use std::time::{Duration, Instant};

use serde_json::Value;
use slipway_core::kinds::HealthCheck;

use super::fleet::{Deploy, Fields, Node, short};
use crate::clients::request::Request;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// The most one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(10);

/// The request a health check sends to `node`: the plan shows it, the run sends it.
pub fn request(d: &Fields<'_>, h: &HealthCheck, node: &Node) -> Result<Request, slipway_engine::runtime::StageError> {
    Ok(Request::get(d.render(&h.url.source, node)?))
}

impl Deploy<'_> {
    /// How long a host may take to be healthy (and, behind HAProxy, UP).
    pub fn health_timeout(&self) -> Duration {
        self.c.health_check.as_ref().and_then(|h| h.timeout).map_or(DEFAULT_TIMEOUT, |t| t.0)
    }

    /// Checks the host until it is healthy on `revision`; `Err` says what the last try saw.
    pub async fn healthy(&self, node: &Node, revision: Option<&str>) -> Result<(), String> {
        let Some(h) = &self.c.health_check else { return Ok(()) };
        let req = request(self, h, node).map_err(|e| e.message)?;
        let expect = h.expect_status.map_or(200, |s| s.0 as u16);
        let (limit, interval) = (h.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0), h.interval.map_or(DEFAULT_INTERVAL, |t| t.0));
        let start = Instant::now();
        let mut seen = String::new();
        loop {
            let left = limit.saturating_sub(start.elapsed());
            seen = match tokio::time::timeout(left.min(TRY_TIMEOUT), self.http.exchange(self.env, &req)).await {
                // A last try cut short by the deadline says less than the answer before it.
                Err(_) if !seen.is_empty() && left < TRY_TIMEOUT => seen,
                Err(_) => format!("no answer within {}", short(left.min(TRY_TIMEOUT))),
                Ok(Err(e)) if self.env.is_cancelled() => return Err(e.message),
                Ok(Err(e)) => e.message,
                Ok(Ok(reply)) if reply.status.as_u16() != expect => format!("HTTP {}, not {expect}", reply.status.as_u16()),
                Ok(Ok(reply)) => match (&h.revision_pointer, revision) {
                    (Some(pointer), Some(want)) => match reply.json().map(|body| body.pointer(pointer).cloned()) {
                        Ok(Some(got)) if revision_matches(&text(&got), want) => return Ok(()),
                        Ok(Some(got)) => format!("`{}` is `{}`, not `{want}`", pointer.value, text(&got)),
                        Ok(None) => format!("the answer has no `{}`", pointer.value),
                        Err(e) => e.message,
                    },
                    _ => return Ok(()),
                },
            };
            if start.elapsed() + interval >= limit {
                return Err(format!("{seen} (still, after {})", short(start.elapsed())));
            }
            self.pause(interval).await.map_err(|e| e.message)?;
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Equal, or one is an abbreviation of the other of at least 7 characters
/// (Spring Boot's `git.commit.id` is 7).
pub fn revision_matches(got: &str, want: &str) -> bool {
    let (got, want) = (got.trim().to_ascii_lowercase(), want.trim().to_ascii_lowercase());
    got == want || (got.len() >= 7 && want.starts_with(&got)) || (want.len() >= 7 && got.starts_with(&want))
}

#[cfg(test)]
mod tests {
    use super::revision_matches;

    #[test]
    fn abbreviated_revisions_match_from_seven_characters() {
        let sha = "df027cf0a1b2c3d4e5f60718293a4b5c6d7e8f90";
        assert!(revision_matches("df027cf", sha));
        assert!(revision_matches(sha, "DF027CF0"));
        assert!(!revision_matches("df027c", sha), "6 characters could be anything");
        assert!(!revision_matches("df027ce", sha));
        assert!(revision_matches("v1.2.0", "v1.2.0"));
        assert!(!revision_matches("v1", "v1.2.0"));
    }
}
