//! A real PostgreSQL for tests, from Debian's `postgresql` package: `initdb`
//! and `postgres` in a temporary folder, on an ephemeral loopback port, with
//! a password (scram-sha-256), as a non-root user (PostgreSQL refuses to run
//! as root, and CI runs as root: the server then runs as `postgres` through
//! `setpriv`, which execs, so the child is the server itself). Stopped and
//! removed on drop; [`PgServer::restart`] stops it and starts it again on the
//! same port and data. [`PgServer::start_tls`] serves TLS only, with a
//! certificate signed by a CA of its own, both made by `openssl`.

#![allow(dead_code)] // each test uses part of it

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "t3st-pg-s3cret";

pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    /// TLS only (`hostssl`), with a certificate signed by [`PgServer::ca_cert`].
    tls: bool,
}

/// The newest `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|d| d.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()));
    dirs.pop().expect("PostgreSQL is not installed: ./scripts/test installs it (apt-get install postgresql)")
}

fn is_root() -> bool {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// A command run as the server's user: `postgres` when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

impl PgServer {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A server that takes TLS connections only (plain ones are refused by
    /// `pg_hba.conf`), its certificate for `127.0.0.1` signed by a self-signed CA.
    pub fn start_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        let bin = bin_dir();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("slipway-it-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), PASSWORD).unwrap();
        if is_root() {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap().success();
            assert!(ok, "chown the test database folder to postgres");
        }
        let out = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "slipway", "--auth=scram-sha-256", "--no-sync", "--no-locale", "-E", "UTF8"])
            .arg(format!("--pwfile={}", dir.join("pw").display()))
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        if tls {
            serve_tls_only(&dir);
        }
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut server = PgServer { port, dir: dir.clone(), bin: bin.clone(), child: None, tls };
            if server.launch() {
                return server;
            }
        }
        panic!("postgres did not start on any of 10 ports; see {}", dir.join("log").display());
    }

    /// Starts the server on `self.port`; whether it answers within 20 s.
    fn launch(&mut self) -> bool {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("log")).unwrap();
        let child = as_server_user(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=50"])
            .arg("-k")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return false;
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `postgres://slipway:…@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://slipway:{PASSWORD}@127.0.0.1:{}/postgres", self.port)
    }

    /// The CA that signed the server's certificate (PEM): what a client must trust.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("data/ca.crt")
    }

    /// Runs SQL with `psql`; its output (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        // libpq's `require` encrypts without checking the certificate: enough for the tests' own queries.
        let url = if self.tls { format!("{}?sslmode=require", self.url()) } else { self.url() };
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &url, "-c", sql])
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Stops the server (fast shutdown: every session is ended) and starts it again.
    pub fn restart(&mut self, down_for: Duration) {
        self.stop();
        std::thread::sleep(down_for);
        assert!(self.launch(), "postgres did not come back on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT: PostgreSQL's fast shutdown.
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Makes a team's own CA (a self-signed certificate) and a server certificate
/// for `127.0.0.1` signed by it, in the data folder, turns `ssl` on, and lets
/// clients in over TLS only. (rustls, rightly, takes no CA certificate as a
/// server's own: hence the two.)
fn serve_tls_only(dir: &Path) {
    let data = dir.join("data");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&data)
            .output()
            .expect("run openssl: ./scripts/test installs it (apt-get install openssl)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=slipway test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]);
    std::fs::write(data.join("san.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
    let conf = data.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
    std::fs::write(&conf, text).unwrap();
    let hba = data.join("pg_hba.conf");
    let text: String = std::fs::read_to_string(&hba)
        .unwrap()
        .lines()
        .map(|l| if l.starts_with("host ") { format!("hostssl{}\n", &l[4..]) } else { format!("{l}\n") })
        .collect();
    std::fs::write(&hba, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    if is_root() {
        let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&data).status().unwrap().success();
        assert!(ok, "chown the test database's certificate to postgres");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
