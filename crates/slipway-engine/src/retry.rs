//! Retry policy: how many tries, how long between them, how long each may take.

use std::time::Duration;

use slipway_core::model::{Pipeline, Retry, Stage};

/// One attempt may take this long unless the pipeline says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// The longest `Retry-After` a stage with no `timeout` waits for.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub attempts: u32,
    pub backoff: Duration,
    pub factor: f64,
    pub max_backoff: Duration,
    pub jitter: f64,
    pub timeout: Duration,
    /// The longest `Retry-After` worth waiting for: the stage's `timeout` when
    /// set, else [`DEFAULT_PATIENCE`]. A service asking for more fails the
    /// attempt at once rather than hold the deploy lock for it.
    pub patience: Duration,
}

impl Policy {
    /// The stage's settings, else the pipeline's defaults, else built-in defaults.
    pub fn for_stage(stage: &Stage, pipeline: &Pipeline) -> Self {
        let defaults = pipeline.defaults.as_ref();
        let pick = |f: fn(&Retry) -> Option<f64>| -> Option<f64> {
            stage.common.retry.as_ref().and_then(f).or_else(|| defaults.and_then(|d| d.retry.as_ref()).and_then(f))
        };
        let pick_d = |f: fn(&Retry) -> Option<Duration>| -> Option<Duration> {
            stage.common.retry.as_ref().and_then(f).or_else(|| defaults.and_then(|d| d.retry.as_ref()).and_then(f))
        };
        let timeout =
            stage.common.timeout.as_ref().map(|t| t.value.0).or_else(|| defaults.and_then(|d| d.timeout.as_ref()).map(|t| t.value.0));
        Policy {
            attempts: pick(|r| r.attempts.map(|a| a.0 as f64)).map_or(1, |a| a as u32),
            backoff: pick_d(|r| r.backoff.as_ref().map(|b| b.value.0)).unwrap_or(Duration::from_secs(1)),
            factor: pick(|r| r.factor.map(|f| f.0)).unwrap_or(2.0),
            max_backoff: pick_d(|r| r.max_backoff.as_ref().map(|b| b.value.0)).unwrap_or(Duration::from_secs(60)),
            jitter: pick(|r| r.jitter.map(|j| j.0)).unwrap_or(0.0),
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            patience: timeout.unwrap_or(DEFAULT_PATIENCE),
        }
    }

    /// Why a service's `Retry-After` is not worth waiting for, if it is not.
    pub fn refuse_wait(&self, retry_after: Option<Duration>) -> Option<String> {
        let asked = retry_after.filter(|w| *w > self.patience)?;
        Some(format!(
            "the service asked to wait {} before trying again (Retry-After), longer than {}: not retried",
            humantime::format_duration(asked),
            match self.patience == self.timeout {
                true => format!("the stage's timeout of {}", humantime::format_duration(self.timeout)),
                false => format!("{} (a stage with no `timeout` waits no longer)", humantime::format_duration(self.patience)),
            }
        ))
    }

    /// The wait after failed attempt `attempt` (1-based). A service's `Retry-After`
    /// is a floor: jitter never shortens it.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        let exp = self.backoff.as_secs_f64() * self.factor.powi(attempt.saturating_sub(1) as i32);
        let capped = exp.min(self.max_backoff.as_secs_f64());
        let jittered = capped * (1.0 - self.jitter * random.clamp(0.0, 1.0));
        let wait = Duration::try_from_secs_f64(jittered.max(0.0)).unwrap_or(Duration::MAX);
        match retry_after {
            Some(floor) => wait.max(floor),
            None => wait,
        }
    }
}

/// The longest `Retry-After` read as it is written (a week); longer ones are
/// read as this. A stage never waits longer than its own timeout anyway
/// ([`Policy::refuse_wait`]).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// `Retry-After`: delta-seconds or an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now_secs: u64) -> Option<Duration> {
    let v = value.trim();
    let wait = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => Duration::from_secs(parse_http_date(v)?.saturating_sub(now_secs)),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// IMF-fixdate to seconds since the epoch.
pub fn parse_http_date(v: &str) -> Option<u64> {
    let rest = v.split_once(", ").map_or(v, |(_, r)| r);
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, zone] = parts.as_slice() else { return None };
    if *zone != "GMT" {
        return None;
    }
    let month =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day) || !(1970..=9999).contains(&year) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    // days from civil (Howard Hinnant)
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).ok().map(|d| d * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            attempts: 5,
            backoff: Duration::from_secs(2),
            factor: 2.0,
            max_backoff: Duration::from_secs(5),
            jitter: 0.5,
            timeout: DEFAULT_TIMEOUT,
            patience: DEFAULT_PATIENCE,
        }
    }

    #[test]
    fn a_wait_longer_than_the_stage_may_take_is_refused() {
        let p = policy();
        assert_eq!(p.refuse_wait(Some(Duration::from_secs(300))), None);
        assert_eq!(p.refuse_wait(None), None);
        let why = p.refuse_wait(Some(Duration::from_secs(999_999))).unwrap();
        assert!(why.contains("wait 11days 13h 46m 39s") && why.contains("5m (a stage with no `timeout`"), "{why}");
        let timed = Policy { timeout: Duration::from_secs(60), patience: Duration::from_secs(60), ..policy() };
        assert!(timed.refuse_wait(Some(Duration::from_secs(61))).unwrap().contains("the stage's timeout of 1m"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy();
        assert_eq!(p.delay(1, None, 0.0), Duration::from_secs(2));
        assert_eq!(p.delay(2, None, 0.0), Duration::from_secs(4));
        assert_eq!(p.delay(3, None, 0.0), Duration::from_secs(5));
        assert_eq!(p.delay(1, None, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_a_floor() {
        assert_eq!(policy().delay(1, Some(Duration::from_secs(30)), 1.0), Duration::from_secs(30));
    }

    #[test]
    fn parses_retry_after_in_both_forms() {
        assert_eq!(parse_retry_after("7", 0), Some(Duration::from_secs(7)));
        let at = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(at, 784_111_777);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 3), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("999999999", 0), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Sun, 99 Nov 99999999999 99:99:99 GMT", 0), None);
    }
}
