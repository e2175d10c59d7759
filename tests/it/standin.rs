//! Stand-ins for SaaS services that cannot run here (GitHub, JIRA, Datadog,
//! Grafana, Slack, Teams, …): a loopback HTTP/1.1 server whose handler checks
//! the documented request shape and answers as the service does, keeping state
//! between requests (tickets created, annotations made).
//!
//! Faults are queued per stand-in and taken by the next requests whose path
//! they match: answer 429 with `Retry-After`, answer 5xx, answer slowly, or do
//! the work and then drop the connection without a reply (the lost response
//! that makes a create call unsafe to repeat).

#![allow(dead_code)] // each service's tests use part of it

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::server::{Recorded, Reply};

/// What happens to a request a fault takes.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this instead of doing the work (429 with `Retry-After`, 503, …).
    Answer(Reply),
    /// Do the work, then wait this long before answering.
    Slow(Duration),
    /// Do the work, then close the connection without answering.
    DropAfterWork,
}

struct Queued {
    path_contains: String,
    fault: Fault,
}

type Handler<S> = dyn Fn(&Recorded, &mut S) -> Reply + Send + Sync;

pub struct StandIn<S> {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<S>>,
    log: Arc<Mutex<Vec<Recorded>>>,
    faults: Arc<Mutex<VecDeque<Queued>>>,
    stop: Arc<AtomicBool>,
}

impl<S: Send + 'static> StandIn<S> {
    /// Starts a stand-in on a loopback port. `handler` sees each request and
    /// the service's state, and returns the reply.
    pub fn start(state: S, handler: impl Fn(&Recorded, &mut S) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(state));
        let log = Arc::new(Mutex::new(Vec::new()));
        let faults: Arc<Mutex<VecDeque<Queued>>> = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler<S>> = Arc::new(handler);
        let (st, lg, fl, sp) = (state.clone(), log.clone(), faults.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if sp.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (st, lg, fl, handler) = (st.clone(), lg.clone(), fl.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, &st, &lg, &fl, &*handler));
            }
        });
        StandIn { addr, state, log, faults, stop }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues a fault for the next request whose path contains `path_contains`.
    pub fn fault(&self, path_contains: &str, fault: Fault) {
        self.faults.lock().unwrap().push_back(Queued { path_contains: path_contains.to_owned(), fault });
    }

    /// Every request so far, in order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Requests whose method is `method` and whose path contains `path`.
    pub fn requests(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.recorded().into_iter().filter(|r| r.method == method && r.path.contains(path)).collect()
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&mut S) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

impl<S> Drop for StandIn<S> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve<S>(mut stream: TcpStream, state: &Mutex<S>, log: &Mutex<Vec<Recorded>>, faults: &Mutex<VecDeque<Queued>>, handler: &Handler<S>) {
    let Some(req) = read_request(&mut stream) else { return };
    log.lock().unwrap().push(req.clone());
    let fault = {
        let mut q = faults.lock().unwrap();
        q.iter().position(|f| req.path.contains(&f.path_contains)).and_then(|i| q.remove(i)).map(|f| f.fault)
    };
    let reply = match fault {
        Some(Fault::Answer(reply)) => reply,
        Some(Fault::DropAfterWork) => {
            let _ = handler(&req, &mut state.lock().unwrap());
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        Some(Fault::Slow(wait)) => {
            let reply = handler(&req, &mut state.lock().unwrap());
            std::thread::sleep(wait);
            reply
        }
        None => handler(&req, &mut state.lock().unwrap()),
    };
    write_reply(&mut stream, &reply);
}

fn write_reply(stream: &mut TcpStream, reply: &Reply) {
    let mut head =
        format!("HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n", reply.status, reason(reply.status), reply.body.len());
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(reply.body.as_bytes());
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Reads one request: request line, headers (names lowercased), a body of
/// `Content-Length` bytes.
pub fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded { method, path, headers, body: String::from_utf8_lossy(&body).into_owned(), at: std::time::Instant::now() })
}

impl Recorded {
    /// A header's value (names compare without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The path without its query string.
    pub fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }

    /// A query parameter, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let q = self.path.split_once('?')?.1;
        q.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| percent_decode(v))
    }

    /// The body as JSON, or `None`.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON reply.
pub fn json(status: u16, body: serde_json::Value) -> Reply {
    Reply::new(status, &body.to_string()).header("Content-Type", "application/json")
}

/// A reply of `status` with `Retry-After: secs`, for rate limits.
pub fn rate_limited(secs: u32) -> Reply {
    Reply::new(429, "rate limited").header("Retry-After", &secs.to_string())
}

/// Checks a request's method, content type and an exact header; the error is
/// the reply a strict service would give.
pub fn require(req: &Recorded, method: &str, content_type: Option<&str>, header: Option<(&str, &str)>) -> Result<(), Reply> {
    if req.method != method {
        return Err(Reply::new(405, &format!("expected {method}, got {}", req.method)));
    }
    if let Some(ct) = content_type
        && !req.header("content-type").is_some_and(|v| v.starts_with(ct))
    {
        return Err(Reply::new(415, &format!("expected Content-Type {ct}, got {:?}", req.header("content-type"))));
    }
    if let Some((name, value)) = header
        && req.header(name) != Some(value)
    {
        return Err(Reply::new(401, &format!("bad or missing {name}")));
    }
    Ok(())
}
