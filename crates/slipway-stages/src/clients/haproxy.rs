//! HAProxy's runtime API: one command per connection on its admin socket (a
//! unix socket path, or `ipv4@host:port`), the answer read to the end. `set
//! server` answers an empty line when it worked and a sentence when it did not;
//! `show stat` answers CSV whose first line names the columns.

use std::path::PathBuf;
use std::time::Duration;

use slipway_engine::runtime::StageError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long one exchange with the socket may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most of an answer kept: `show stat` of a large configuration is a few hundred KiB.
const MAX_ANSWER: u64 = 8 * 1024 * 1024;

/// Where the admin socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl Socket {
    /// `ipv4@127.0.0.1:9999`, `ipv6@[::1]:9999`, `tcp@host:port` or a path
    /// (relative to `base`, the pipeline's folder).
    pub fn parse(text: &str, base: &std::path::Path) -> Socket {
        for prefix in ["ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"] {
            if let Some(addr) = text.strip_prefix(prefix) {
                return Socket::Tcp(addr.to_owned());
            }
        }
        let path = text.strip_prefix("unix@").unwrap_or(text);
        Socket::Unix(base.join(path))
    }

    fn describe(&self) -> String {
        match self {
            Socket::Unix(p) => p.display().to_string(),
            Socket::Tcp(a) => a.clone(),
        }
    }
}

/// A server's state as an administrator sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Out of load balancing; open sessions finish.
    Drain,
    /// Back in load balancing.
    Ready,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Drain => "drain",
            State::Ready => "ready",
        }
    }
}

/// One server's line of `show stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStat {
    /// Sessions open right now.
    pub scur: u64,
    /// `UP`, `DOWN`, `DRAIN`, `MAINT`, `no check`, `UP 1/3` (going down), …
    pub status: String,
}

impl ServerStat {
    /// Taking traffic: up by its checks (or not checked), and not drained.
    pub fn is_up(&self) -> bool {
        self.status == "UP" || self.status == "no check" || self.status.starts_with("UP ")
    }
}

/// A client of one HAProxy's admin socket.
#[derive(Debug, Clone)]
pub struct Haproxy {
    pub socket: Socket,
}

impl Haproxy {
    /// `set server BACKEND/SERVER state drain|ready`.
    pub async fn set_state(&self, backend: &str, server: &str, state: State) -> Result<(), StageError> {
        let answer = self.command(&set_state_command(backend, server, state)).await?;
        let said = answer.trim();
        if said.is_empty() {
            return Ok(());
        }
        let hint = if said.contains("No such") {
            ": check `backend` and `server` (the server's name defaults to the host's name)"
        } else if said.to_ascii_lowercase().contains("permission") {
            ": the socket needs `level admin` in HAProxy's `stats socket` line"
        } else {
            ""
        };
        Err(StageError::permanent(format!(
            "haproxy {}: `set server {backend}/{server} state {}`: {said}{hint}",
            self.socket.describe(),
            state.as_str()
        )))
    }

    /// The server's sessions and status from `show stat`.
    pub async fn server(&self, backend: &str, server: &str) -> Result<ServerStat, StageError> {
        let answer = self.command("show stat").await?;
        parse_stat(&answer, backend, server).ok_or_else(|| {
            StageError::permanent(format!(
                "haproxy {}: `show stat` lists no server `{server}` in backend `{backend}`: check `backend` and `server`",
                self.socket.describe()
            ))
        })
    }

    /// Sends one command and reads the whole answer (the socket closes after it).
    pub async fn command(&self, line: &str) -> Result<String, StageError> {
        let exchange = async {
            match &self.socket {
                Socket::Unix(path) => talk(tokio::net::UnixStream::connect(path).await?, line).await,
                Socket::Tcp(addr) => talk(tokio::net::TcpStream::connect(addr.as_str()).await?, line).await,
            }
        };
        match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            // Refused, reset, not there yet: HAProxy may be reloading.
            Ok(Err(e)) => Err(StageError::transient(format!("haproxy admin socket {}: {e}", self.socket.describe()))),
            Err(_) => Err(StageError::transient(format!(
                "haproxy admin socket {}: no answer within {}s",
                self.socket.describe(),
                EXCHANGE_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// The command line, as the plan shows it and the run sends it.
pub fn set_state_command(backend: &str, server: &str, state: State) -> String {
    format!("set server {backend}/{server} state {}", state.as_str())
}

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, line: &str) -> std::io::Result<String> {
    stream.write_all(format!("{line}\n").as_bytes()).await?;
    stream.flush().await?;
    let mut answer = Vec::new();
    (&mut stream).take(MAX_ANSWER).read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Finds `backend/server` in `show stat`'s CSV (`# pxname,svname,qcur,qmax,scur,…`).
pub fn parse_stat(csv: &str, backend: &str, server: &str) -> Option<ServerStat> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.trim_start_matches('#').trim().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (px, sv, scur, status) = (col("pxname")?, col("svname")?, col("scur")?, col("status")?);
    lines.map(|l| l.split(',').collect::<Vec<_>>()).find(|f| f.get(px) == Some(&backend) && f.get(sv) == Some(&server)).map(|f| {
        ServerStat {
            scur: f.get(scur).and_then(|v| v.parse().ok()).unwrap_or(0),
            status: f.get(status).map(|s| s.to_string()).unwrap_or_default(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight\n\
        front,FRONTEND,,,3,5,2000,40,0,0,0,0,0,,,,,OPEN,\n\
        app,web-1,0,0,2,4,,20,0,0,,0,,0,0,0,0,UP,1\n\
        app,web-2,0,0,0,3,,20,0,0,,0,,0,0,0,0,DRAIN,1\n\
        app,web-3,0,0,0,3,,20,0,0,,0,,0,0,0,0,DOWN 1/2,1\n\
        app,BACKEND,0,0,2,5,200,40,0,0,0,0,,0,0,0,0,UP,2\n";

    #[test]
    fn show_stat_is_read_by_column_name() {
        assert_eq!(parse_stat(STAT, "app", "web-1"), Some(ServerStat { scur: 2, status: "UP".into() }));
        assert_eq!(parse_stat(STAT, "app", "web-2"), Some(ServerStat { scur: 0, status: "DRAIN".into() }));
        assert!(!parse_stat(STAT, "app", "web-2").unwrap().is_up());
        assert!(!parse_stat(STAT, "app", "web-3").unwrap().is_up());
        assert_eq!(parse_stat(STAT, "app", "web-9"), None);
        assert_eq!(parse_stat(STAT, "other", "web-1"), None);
        assert_eq!(parse_stat("", "app", "web-1"), None);
    }

    #[test]
    fn sockets_are_paths_or_addresses() {
        let base = std::path::Path::new("/p");
        assert_eq!(Socket::parse("ipv4@127.0.0.1:9999", base), Socket::Tcp("127.0.0.1:9999".into()));
        assert_eq!(Socket::parse("/run/haproxy/admin.sock", base), Socket::Unix("/run/haproxy/admin.sock".into()));
        assert_eq!(Socket::parse("run/admin.sock", base), Socket::Unix("/p/run/admin.sock".into()));
        assert_eq!(Socket::parse("unix@/run/a.sock", base), Socket::Unix("/run/a.sock".into()));
    }

    #[tokio::test]
    async fn an_empty_line_is_success_and_a_sentence_is_an_error() {
        let dir = std::env::temp_dir().join(format!("slipway-haproxy-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("admin.sock");
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let mut got = Vec::new();
            for answer in ["\n", "No such server.\n"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 256];
                let n = s.read(&mut buf).await.unwrap();
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                s.write_all(answer.as_bytes()).await.unwrap();
            }
            got
        });
        let h = Haproxy { socket: Socket::Unix(path) };
        assert!(h.set_state("app", "web-1", State::Drain).await.is_ok());
        let e = h.set_state("app", "web-9", State::Ready).await.unwrap_err();
        assert!(e.message.contains("No such server.") && e.message.contains("check `backend`"), "{}", e.message);
        assert_eq!(server.await.unwrap(), ["set server app/web-1 state drain\n", "set server app/web-9 state ready\n"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
