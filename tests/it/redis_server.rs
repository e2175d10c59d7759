//! A real `redis-server` for tests: on an ephemeral loopback port, in a
//! temporary folder, with a password, nothing saved to disk; stopped and
//! removed on drop. `redis-cli` reads back what stages wrote, the way
//! Logstash's redis input does.

#![allow(dead_code)] // each test uses part of it

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct RedisServer {
    pub port: u16,
    pub password: String,
    child: Child,
    dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> Self {
        assert!(
            Command::new("redis-server").arg("--version").output().is_ok(),
            "redis-server is not installed: ./scripts/test installs it (apt-get install redis-server redis-tools)"
        );
        let password = "t3st-redis-pw".to_owned();
        // A port from the kernel, released and handed to redis-server: another
        // process may take it in between, so a failed start tries another.
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            let dir = std::env::temp_dir().join(format!("slipway-it-redis-{}-{port}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--requirepass", &password])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(dir.join("redis.log"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            let mut server = RedisServer { port, password: password.clone(), child, dir };
            if server.wait_ready() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 10 ports");
    }

    /// Whether the server answers PING within 5 s (false: it exited).
    fn wait_ready(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if self.cli(0, &["PING"]).trim() == "PONG" {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// `redis://:password@127.0.0.1:port/db`.
    pub fn url(&self, db: u8) -> String {
        format!("redis://:{}@127.0.0.1:{}/{db}", self.password, self.port)
    }

    fn cli_command(&self, db: u8) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-a", &self.password, "--no-auth-warning", "-n", &db.to_string()]);
        cmd
    }

    /// Runs one command with `redis-cli` in database `db`; its output.
    pub fn cli(&self, db: u8, args: &[&str]) -> String {
        let out = self.cli_command(db).args(args).stdin(Stdio::null()).output().expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Takes up to `batch` events off the head of `key` in one atomic EVAL of
    /// LRANGE then LTRIM, as Logstash's redis input does for `data_type =>
    /// list` with `batch_count > 1`, and parses each element as one JSON
    /// object (its default `json` codec). Panics on an element that is not one.
    pub fn logstash_read(&self, db: u8, key: &str, batch: usize) -> Vec<Value> {
        let script = "local batch = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)\n\
                      redis.call('LTRIM', KEYS[1], tonumber(ARGV[1]), -1)\n\
                      return batch";
        let out = self.cli(db, &["EVAL", script, "1", key, &batch.to_string()]);
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON event per element ({e}): {l}"));
                assert!(v.is_object(), "an element is JSON but not an object: {l}");
                v
            })
            .collect()
    }

    /// A `redis-cli SUBSCRIBE channel`, once the server confirmed it.
    pub fn subscribe(&self, db: u8, channel: &str) -> Subscriber {
        let mut child = self
            .cli_command(db)
            .args(["SUBSCRIBE", channel])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-cli SUBSCRIBE");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let sub = Subscriber { child, lines };
        // The confirmation: `subscribe`, the channel, the count of channels.
        let confirmed = (0..3).map(|_| sub.next_line()).collect::<Vec<_>>();
        assert_eq!(confirmed.first().map(String::as_str), Some("subscribe"), "{confirmed:?}");
        sub
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `redis-cli SUBSCRIBE`; stopped on drop.
pub struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Subscriber {
    fn next_line(&self) -> String {
        self.lines.recv_timeout(Duration::from_secs(10)).expect("a line from redis-cli within 10 s")
    }

    /// The next message's payload (redis-cli prints `message`, the channel,
    /// the payload, one per line).
    pub fn message(&self) -> String {
        let kind = self.next_line();
        assert_eq!(kind, "message");
        let _channel = self.next_line();
        self.next_line()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
