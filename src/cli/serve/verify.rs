//! Whether a request really comes from Slack or Mattermost. Slack signs each
//! request: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` with the app's
//! signing secret. A timestamp more than 5 minutes away is refused, and so is a
//! signature already seen within those 5 minutes: an exact replay runs nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from now, and how long a signature is remembered.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);

/// Signatures remembered at most: past it, the oldest are forgotten early. A
/// forgotten signature is still refused by its timestamp once 5 minutes pass;
/// only within the window could it be replayed, and only after this many
/// newer requests (more than Slack sends a workspace's app in 5 minutes).
const MAX_REMEMBERED: usize = 100_000;

/// Why a request is not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unverified {
    Missing(&'static str),
    Stale,
    BadSignature,
    Replayed,
}

impl std::fmt::Display for Unverified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unverified::Missing(what) => write!(f, "unverified: no {what}"),
            Unverified::Stale => write!(f, "unverified: the timestamp is more than 5 minutes away"),
            Unverified::BadSignature => write!(f, "unverified: the signature does not match"),
            Unverified::Replayed => write!(f, "unverified: this signature was already used"),
        }
    }
}

/// Checks Slack's signature headers over the raw body, then remembers the signature.
pub fn slack(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: u64,
    seen: &Seen,
) -> Result<(), Unverified> {
    let timestamp = timestamp.ok_or(Unverified::Missing("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(Unverified::Missing("X-Slack-Signature"))?;
    let at: u64 = timestamp.trim().parse().map_err(|_| Unverified::Stale)?;
    if now_secs.abs_diff(at) > WINDOW.as_secs() {
        return Err(Unverified::Stale);
    }
    let given = signature.strip_prefix("v0=").and_then(unhex).ok_or(Unverified::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| Unverified::BadSignature)?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    // constant time: how much of a guess matches never shows in the timing
    mac.verify_slice(&given).map_err(|_| Unverified::BadSignature)?;
    if !seen.first_time(signature) {
        return Err(Unverified::Replayed);
    }
    Ok(())
}

/// Mattermost sends the command's token in the body; compared in constant time.
pub fn mattermost(expected: &str, given: Option<&str>) -> Result<(), Unverified> {
    let given = given.ok_or(Unverified::Missing("token"))?;
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let differs = a.len() != b.len() || a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) != 0;
    if differs { Err(Unverified::BadSignature) } else { Ok(()) }
}

/// The signature Slack would send for `body` at `timestamp` (for tests).
#[cfg(test)]
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("v0={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// Signatures seen in the last [`WINDOW`], bounded.
#[derive(Default)]
pub struct Seen(Mutex<SeenInner>);

#[derive(Default)]
struct SeenInner {
    order: VecDeque<(Instant, String)>,
    set: HashMap<String, Instant>,
}

impl Seen {
    /// Whether `signature` is new; it is remembered either way.
    pub fn first_time(&self, signature: &str) -> bool {
        let mut inner = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        while let Some((at, _)) = inner.order.front() {
            if now.duration_since(*at) < WINDOW && inner.order.len() < MAX_REMEMBERED {
                break;
            }
            if let Some((_, old)) = inner.order.pop_front() {
                inner.set.remove(&old);
            }
        }
        if inner.set.contains_key(signature) {
            return false;
        }
        inner.set.insert(signature.to_owned(), now);
        inner.order.push_back((now, signature.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example: secret, timestamp, body and the signature it gives.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_documented_example_verifies() {
        assert_eq!(sign(SECRET, "1531420618", BODY.as_bytes()), SIGNATURE);
        let seen = Seen::default();
        assert_eq!(slack(SECRET, Some("1531420618"), Some(SIGNATURE), BODY.as_bytes(), 1531420618 + 60, &seen), Ok(()));
        assert_eq!(slack(SECRET, Some("1531420618"), Some(SIGNATURE), BODY.as_bytes(), 1531420618 + 61, &seen), Err(Unverified::Replayed));
    }

    #[test]
    fn wrong_stale_or_missing_signatures_are_refused() {
        let seen = Seen::default();
        let at = 1531420618;
        assert_eq!(slack(SECRET, Some("1531420618"), Some(SIGNATURE), b"text=x", at, &seen), Err(Unverified::BadSignature));
        assert_eq!(slack("other", Some("1531420618"), Some(SIGNATURE), BODY.as_bytes(), at, &seen), Err(Unverified::BadSignature));
        assert_eq!(slack(SECRET, Some("1531420618"), Some(SIGNATURE), BODY.as_bytes(), at + 301, &seen), Err(Unverified::Stale));
        assert_eq!(slack(SECRET, Some("1531420618"), Some("v0=zz"), BODY.as_bytes(), at, &seen), Err(Unverified::BadSignature));
        assert!(matches!(slack(SECRET, None, Some(SIGNATURE), BODY.as_bytes(), at, &seen), Err(Unverified::Missing(_))));
    }

    #[test]
    fn mattermost_tokens_must_match_exactly() {
        assert!(mattermost("abcd", Some("abcd")).is_ok());
        assert!(mattermost("abcd", Some("abce")).is_err());
        assert!(mattermost("abcd", Some("abc")).is_err());
        assert!(mattermost("abcd", None).is_err());
    }
}
