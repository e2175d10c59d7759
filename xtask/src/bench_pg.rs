//! A throwaway PostgreSQL for `bench exec`'s shared-state contender: initdb
//! in a temp folder, on a loopback port, as `postgres` when run as root (the
//! server refuses root), durable as a real one (fsync on). Stopped on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct LocalPg {
    pub url: String,
    dir: PathBuf,
    child: Child,
}

fn as_postgres(program: PathBuf) -> Command {
    // SAFETY: getuid cannot fail.
    if unsafe { libc::getuid() } == 0 {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

impl LocalPg {
    /// A server, or None when PostgreSQL is not installed.
    pub fn start() -> Result<Option<LocalPg>> {
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.flatten().map(|e| e.path().join("bin")).filter(|b| b.join("initdb").exists()).max())
        else {
            return Ok(None);
        };
        let dir = std::env::temp_dir().join(format!("slipway-bench-pg-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("pw"), "bench")?;
        // SAFETY: getuid cannot fail.
        if unsafe { libc::getuid() } == 0 && !Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status()?.success() {
            bail!("chown {} to postgres", dir.display());
        }
        let out = as_postgres(bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "slipway", "--auth=scram-sha-256", "--no-locale", "-E", "UTF8"])
            .arg(format!("--pwfile={}", dir.join("pw").display()))
            .output()
            .context("initdb")?;
        if !out.status.success() {
            bail!("initdb: {}", String::from_utf8_lossy(&out.stderr));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = as_postgres(bin.join("postgres"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-k"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start postgres")?;
        let pg = LocalPg { url: format!("postgres://slipway:bench@127.0.0.1:{port}/postgres"), dir, child };
        let start = Instant::now();
        while !Command::new(bin.join("pg_isready")).args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()]).status()?.success() {
            if start.elapsed() > Duration::from_secs(20) {
                bail!("postgres did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Some(pg))
    }
}

impl Drop for LocalPg {
    fn drop(&mut self) {
        // SAFETY: signalling our own child (SIGINT: PostgreSQL's fast shutdown).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
