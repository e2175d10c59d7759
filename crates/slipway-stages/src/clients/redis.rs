//! Redis, as Logstash's `redis` input reads it: one JSON object per list
//! element (RPUSH, read from the head: FIFO) or per channel message (PUBLISH).
//!
//! Exactly once: one Lua script sets a guard key named after the stage's
//! idempotency key (`SET … NX EX`) and pushes only when that key was new. The
//! script runs atomically, so a retry or a resume whose first push landed (its
//! answer lost) pushes nothing. The guard expires after [`GUARD_TTL_SECS`].

use std::time::Duration;

use redis::{ErrorKind, RedisError, Script};
use reqwest::Url;
use slipway_engine::runtime::{Effect, StageEnv, StageError};

/// How long the guard key lives: a resume within a week pushes nothing twice.
pub const GUARD_TTL_SECS: u64 = 7 * 24 * 3600;

/// KEYS[1] the guard, ARGV: ttl, `list` or `channel`, list key or channel, event.
/// Answers -1 when the guard existed (nothing sent), else the list's length
/// or the number of subscribers that got the message.
const PUSH_ONCE: &str = r"
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  return -1
end
if ARGV[2] == 'channel' then
  return redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return redis.call('RPUSH', ARGV[3], ARGV[4])
";

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// RPUSH onto a list.
    List,
    /// PUBLISH on a channel.
    Channel,
}

/// One event for one list or channel.
pub struct Push {
    /// `redis://[:password@]host:port[/db]` or `rediss://…`.
    pub url: String,
    pub mode: Mode,
    /// The list key or the channel.
    pub target: String,
    /// The event: one line of JSON.
    pub event: String,
    /// The guard key (from the idempotency key).
    pub guard: String,
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Appended; the list is now this long.
    Pushed(i64),
    /// Published to this many subscribers (zero: nobody heard it).
    Published(i64),
    /// The guard key existed: an earlier attempt sent this event.
    Repeat,
}

impl Push {
    /// What `plan` shows: the command, the guard, and the URL without its password.
    pub fn effect(&self) -> Effect {
        let verb = match self.mode {
            Mode::List => "RPUSH",
            Mode::Channel => "PUBLISH",
        };
        Effect::Redis {
            url: redacted(&self.url),
            command: format!(
                "{verb} {} '{}' (once: in one Lua script, only if SET {} 1 NX EX {GUARD_TTL_SECS} succeeds)",
                self.target, self.event, self.guard
            ),
        }
    }

    /// Connects, runs the script, disconnects; stops at once if the run is
    /// interrupted.
    pub async fn send(&self, env: &StageEnv<'_>) -> Result<Sent, StageError> {
        let push = async {
            // rediss:// builds its TLS configuration from the process's provider.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let client = redis::Client::open(self.url.as_str()).map_err(|e| classify(&e))?;
            let config = redis::AsyncConnectionConfig::new().set_connection_timeout(Some(TIMEOUT)).set_response_timeout(Some(TIMEOUT));
            let mut con = client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| classify(&e))?;
            let mode = match self.mode {
                Mode::List => "list",
                Mode::Channel => "channel",
            };
            let answer: i64 = Script::new(PUSH_ONCE)
                .key(&self.guard)
                .arg(GUARD_TTL_SECS)
                .arg(mode)
                .arg(&self.target)
                .arg(&self.event)
                .invoke_async(&mut con)
                .await
                .map_err(|e| classify(&e))?;
            Ok(match (answer, self.mode) {
                (n, _) if n < 0 => Sent::Repeat,
                (n, Mode::List) => Sent::Pushed(n),
                (n, Mode::Channel) => Sent::Published(n),
            })
        };
        tokio::select! {
            result = push => result.map_err(|e: StageError| {
                StageError { message: env.masker.mask(&format!("{}: {}", redacted(&self.url), e.message)), ..e }
            }),
            () = env.interrupted() => Err(StageError::permanent("stopped: the run was interrupted")),
        }
    }
}

/// Transient: the connection (refused, reset, timed out) and a server that is
/// loading, failing over or read-only for now. Permanent: credentials, ACLs,
/// a bad URL, a key of another type.
fn classify(e: &RedisError) -> StageError {
    let text = e.to_string();
    let code = e.code().unwrap_or("");
    let auth = e.kind() == ErrorKind::AuthenticationFailed || matches!(code, "WRONGPASS" | "NOAUTH") || text.contains("NOAUTH");
    if auth {
        return StageError::permanent(format!(
            "the server refused the credentials ({text}): check the password in `url` (`redis://:{{{{ secrets.REDIS_PASSWORD }}}}@host:6379/0`)"
        ));
    }
    if code == "NOPERM" {
        return StageError::permanent(format!("{text}: the Redis user may not run EVAL, SET, RPUSH or PUBLISH here: check its ACL"));
    }
    if e.kind() == ErrorKind::InvalidClientConfig {
        return StageError::permanent(format!("{text}: check `url` (`redis://[:password@]host:port[/db]`)"));
    }
    if text.contains("switch database") {
        return StageError::permanent(format!("{text}: check the database number at the end of `url`"));
    }
    if code == "WRONGTYPE" {
        return StageError::permanent(format!("{text}: `key` names a Redis key that is not a list: pick another `key`"));
    }
    let passing = matches!(code, "LOADING" | "TRYAGAIN" | "MASTERDOWN" | "CLUSTERDOWN" | "READONLY" | "BUSY");
    if e.is_io_error() || e.is_timeout() || e.is_connection_refusal() || e.is_connection_dropped() || passing {
        StageError::transient(text)
    } else {
        StageError::permanent(text)
    }
}

/// The URL with any password replaced by `***`.
pub fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<an unreadable redis URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_show_no_password() {
        assert_eq!(redacted("redis://:hunter2@127.0.0.1:6379/2"), "redis://:***@127.0.0.1:6379/2");
        assert_eq!(redacted("rediss://user:pw@cache.internal/0"), "rediss://user:***@cache.internal/0");
        assert_eq!(redacted("redis://cache.internal:6379"), "redis://cache.internal:6379");
        assert!(!redacted("redis://:pw@[::1").contains("pw"));
    }

    #[test]
    fn the_plan_names_the_command_and_its_guard() {
        let push = Push {
            url: "redis://:pw@h:6379/0".into(),
            mode: Mode::List,
            target: "deployments".into(),
            event: "{}".into(),
            guard: "slipway:idempotency:r:s".into(),
        };
        let Effect::Redis { url, command } = push.effect() else { panic!("a redis effect") };
        assert_eq!(url, "redis://:***@h:6379/0");
        assert!(command.starts_with("RPUSH deployments '{}'"), "{command}");
        assert!(command.contains("SET slipway:idempotency:r:s 1 NX EX 604800"), "{command}");
    }

    #[test]
    fn errors_are_classified() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(classify(&refused).class, slipway_engine::runtime::ErrorClass::Transient);
        let auth = RedisError::from((ErrorKind::AuthenticationFailed, "Password authentication failed"));
        let e = classify(&auth);
        assert_eq!(e.class, slipway_engine::runtime::ErrorClass::Permanent);
        assert!(e.message.contains("check the password in `url`"), "{}", e.message);
        let bad = redis::Client::open("redis://host:notaport").err().map(|e| classify(&e));
        assert_eq!(bad.map(|e| e.class), Some(slipway_engine::runtime::ErrorClass::Permanent));
    }
}
