//! A real `haproxy` on loopback in front of instances of `webapp.py` (one per
//! fleet host, serving the release its `current` points to), and a load
//! generator that counts every request that failed. `xtask` includes this file
//! too, so it uses std only.
//!
//! HAProxy is set up to hide nothing: `retries 0` (a refused connection is a
//! 503 at once, never retried on another server) and health checks every
//! 100 ms. Each app is supervised: when a restart stops it, it comes back after
//! a gap during which its port refuses connections.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why HAProxy cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    let found = Command::new(haproxy_bin()).arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    (!found).then(|| "haproxy is missing: install it (scripts/test does)".to_owned())
}

/// Debian installs it in /usr/sbin, which a user's PATH may lack.
fn haproxy_bin() -> &'static str {
    if Path::new("/usr/sbin/haproxy").exists() { "/usr/sbin/haproxy" } else { "haproxy" }
}

/// `tests/it/webapp.py`, from the crate that includes this file (the root, or `xtask`).
fn webapp() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().map(|d| d.join("tests/it/webapp.py")).find(|p| p.exists()).unwrap_or_else(|| here.join("tests/it/webapp.py"))
}

/// A release folder in the Capistrano layout, made by hand: what a host ran
/// before Slipway deployed anything.
pub fn seed(deploy_to: &Path, release: &str, revision: &str) {
    let dir = deploy_to.join("releases").join(release);
    std::fs::create_dir_all(&dir).expect("release folder");
    std::fs::write(dir.join("REVISION"), format!("{revision}\n")).expect("REVISION");
    let _ = std::fs::remove_file(deploy_to.join("current"));
    std::os::unix::fs::symlink(&dir, deploy_to.join("current")).expect("current");
}

/// One supervised instance of `webapp.py`.
pub struct App {
    pub name: String,
    pub deploy_to: PathBuf,
    pub port: u16,
    starts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    supervisor: Option<JoinHandle<()>>,
}

impl App {
    /// Starts the app for `deploy_to` on a free port; after each stop, again after `gap`.
    pub fn start(name: &str, deploy_to: &Path, gap: Duration) -> App {
        let port = app_port();
        let (starts, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let script = webapp();
        let (root, count, halt) = (deploy_to.to_path_buf(), starts.clone(), stop.clone());
        let supervisor = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                let child = Command::new("python3")
                    .arg(&script)
                    .arg(&root)
                    .args(["127.0.0.1", &port.to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn();
                let Ok(mut child) = child else { return };
                count.fetch_add(1, Ordering::SeqCst);
                loop {
                    if halt.load(Ordering::SeqCst) {
                        // SAFETY: signalling our own child, which we have not reaped yet.
                        // SIGKILL: the app may be mid-restart and slow to act on SIGTERM, and a
                        // test must never wait on it.
                        unsafe { kill(child.id() as i32, 9) };
                        let _ = child.wait();
                        return;
                    }
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(gap);
            }
        });
        let app = App { name: name.to_owned(), deploy_to: deploy_to.to_path_buf(), port, starts, stop, supervisor: Some(supervisor) };
        let start = Instant::now();
        while app.get("/health").is_none() {
            assert!(start.elapsed() < Duration::from_secs(10), "{} did not start", app.name);
            std::thread::sleep(Duration::from_millis(20));
        }
        app
    }

    /// How many times the app was started (1 + restarts).
    pub fn starts(&self) -> usize {
        self.starts.load(Ordering::SeqCst)
    }

    /// `GET path` straight to the app: (status, body), or `None` if it refused.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    /// What the app serves at `/`: `<revision> <release>`.
    pub fn serving(&self) -> String {
        let start = Instant::now();
        loop {
            if let Some((200, body)) = self.get("/") {
                return body.trim().to_owned();
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{} serves nothing", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The release `current` points to.
    pub fn current(&self) -> String {
        let target = std::fs::read_link(self.deploy_to.join("current")).expect("current is a link");
        target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.supervisor.take() {
            let _ = t.join();
        }
    }
}

/// `haproxy -db` with an admin socket, balancing `app` over the given servers.
pub struct Haproxy {
    pub port: u16,
    pub admin: PathBuf,
    child: Child,
}

impl Haproxy {
    pub fn start(dir: &Path, servers: &[(&str, u16)]) -> Haproxy {
        std::fs::create_dir_all(dir).expect("haproxy folder");
        let admin = dir.join("admin.sock");
        for _ in 0..10 {
            let port = free_port();
            let mut config = format!(
                "global\n  stats socket {} level admin\n  maxconn 2000\n\
                 defaults\n  mode http\n  retries 0\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n\
                 frontend web\n  bind 127.0.0.1:{port}\n  default_backend app\n\
                 backend app\n  balance roundrobin\n  option httpchk GET /health\n  default-server check inter 100ms fall 2 rise 1\n",
                admin.display()
            );
            for (name, port) in servers {
                config.push_str(&format!("  server {name} 127.0.0.1:{port}\n"));
            }
            let file = dir.join("haproxy.cfg");
            std::fs::write(&file, config).expect("haproxy.cfg");
            let log = std::fs::File::create(dir.join("haproxy.log")).expect("haproxy log");
            let child =
                Command::new("haproxy").args(["-db", "-f"]).arg(&file).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn();
            let mut h = Haproxy { port, admin: admin.clone(), child: child.expect("start haproxy") };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = h.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                let all_up = h.admin("show stat").is_some() && servers.iter().all(|(s, _)| h.status(s).as_deref() == Some("UP"));
                if all_up && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return h;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = h.child.kill();
            let _ = h.child.wait();
        }
        panic!("haproxy did not start: {}", std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default());
    }

    /// One command on the admin socket, its whole answer.
    pub fn admin(&self, command: &str) -> Option<String> {
        let mut s = UnixStream::connect(&self.admin).ok()?;
        s.write_all(format!("{command}\n").as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// Each server's status in backend `app`, from `show stat`.
    pub fn statuses(&self) -> BTreeMap<String, String> {
        let text = self.admin("show stat").unwrap_or_default();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().trim_start_matches("# ").split(',').collect();
        let col = |n: &str| header.iter().position(|h| *h == n).unwrap_or(usize::MAX);
        let (px, sv, st) = (col("pxname"), col("svname"), col("status"));
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f.get(px) == Some(&"app") && !matches!(f.get(sv), Some(&"BACKEND") | None))
            .map(|f| (f[sv].to_owned(), f.get(st).unwrap_or(&"").to_string()))
            .collect()
    }

    pub fn status(&self, server: &str) -> Option<String> {
        self.statuses().get(server).cloned()
    }

    /// Waits until `server`'s status is `want` (HAProxy's checks run every 100 ms).
    pub fn wait_status(&self, server: &str, want: &str) -> String {
        let start = Instant::now();
        loop {
            let now = self.status(server).unwrap_or_default();
            if now == want || start.elapsed() > Duration::from_secs(5) {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the load generator saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: usize,
    pub failed: usize,
    /// How many answers each body got (`v1 20260101000000`).
    pub served: BTreeMap<String, usize>,
    /// The first few failures, for messages.
    pub failures: Vec<String>,
}

/// Threads sending `GET /` through HAProxy, one request after another each.
pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(port: u16, threads: usize) -> Load {
        let (stop, tally) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Tally::default())));
        let threads = (0..threads)
            .map(|_| {
                let (stop, tally) = (stop.clone(), tally.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let answer = http_get(port, "/");
                        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                        t.sent += 1;
                        match answer {
                            Some((200, body)) => *t.served.entry(body.trim().to_owned()).or_default() += 1,
                            other => {
                                t.failed += 1;
                                if t.failures.len() < 5 {
                                    t.failures.push(format!("{other:?}"));
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        Load { stop, tally, threads }
    }

    pub fn stop(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// `GET path` over HTTP/1.0 to 127.0.0.1:`port`: (status, body), `None` when refused or cut.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// A port for an app, below the kernel's ephemeral range (32768 and up here),
/// and never the same twice in this process: while an app restarts its port
/// is free, and a port the kernel hands out for `:0` (another test's sshd or
/// HAProxy) must not take it then.
fn app_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let seed = (std::process::id() as usize * 7919) % 10_000;
    loop {
        let port = (20_000 + (seed + NEXT.fetch_add(1, Ordering::SeqCst)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
