//! A fleet of real `sshd` instances on loopback ports, for tests and the fleet
//! benchmark (`xtask` includes this file too, so it uses std only).
//!
//! Each host is `/usr/sbin/sshd -D -e -f <its config>` on 127.0.0.1 and a port
//! of its own, with its own host key, a user key the fleet generates, and a
//! folder of its own: sshd sets `HOME` to it and `FLEET_HOST` to the host's
//! name, so a test can tell hosts apart and see what ran where. sshd must run
//! as root (it switches to the logged-in user); the hosts stop when the fleet
//! is dropped.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Fleet {
    pub dir: PathBuf,
    /// The user's private key (`ssh.identity_file`).
    pub key: PathBuf,
    /// Every host's key, as `[127.0.0.1]:PORT ssh-ed25519 …` lines.
    pub known_hosts: PathBuf,
    pub hosts: Vec<Host>,
}

pub struct Host {
    pub name: String,
    pub port: u16,
    /// The host's `HOME`: what its commands write lands here.
    pub root: PathBuf,
    config: PathBuf,
    sshd: Option<Child>,
}

impl Fleet {
    /// Why a fleet cannot start here, if it cannot: sshd needs root.
    pub fn unavailable() -> Option<String> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc_geteuid() } != 0 {
            return Some("the fleet's sshd must run as root".into());
        }
        if !Path::new("/usr/sbin/sshd").exists() {
            return Some("/usr/sbin/sshd is missing: install openssh-server (scripts/test does)".into());
        }
        None
    }

    /// Starts `n` hosts named `{prefix}-1` … `{prefix}-n`.
    pub fn start(prefix: &str, n: usize) -> Fleet {
        let names: Vec<String> = (1..=n).map(|i| format!("{prefix}-{i}")).collect();
        Fleet::start_named(&names, None)
    }

    /// Starts a host for each name. With `path_first`, sessions find commands
    /// in that folder before the system's (a test's recording `bash`).
    pub fn start_named(names: &[String], path_first: Option<&Path>) -> Fleet {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        // Short: the fleet's paths end up in ssh control socket paths.
        let dir = std::env::temp_dir().join(format!("sf-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fleet folder");
        // sshd's privilege separation wants this folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let key = dir.join("user_key");
        keygen(&key);
        let authorized = dir.join("authorized_keys");
        std::fs::copy(dir.join("user_key.pub"), &authorized).expect("authorized_keys");
        let mut fleet = Fleet { known_hosts: dir.join("known_hosts"), key, dir, hosts: Vec::new() };
        let mut known = String::new();
        for name in names {
            let name = name.clone();
            let root = fleet.dir.join(&name);
            std::fs::create_dir_all(&root).expect("host folder");
            let host_key = root.join("host_key");
            keygen(&host_key);
            let mut host = Host { name, port: 0, root, config: PathBuf::new(), sshd: None };
            host.config = host.root.join("sshd_config");
            host.start(&host_key, &authorized, path_first);
            let public = std::fs::read_to_string(host_key.with_extension("pub")).expect("host key");
            let mut fields = public.split_whitespace();
            let (kind, body) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
            known.push_str(&format!("[127.0.0.1]:{} {kind} {body}\n", host.port));
            fleet.hosts.push(host);
        }
        std::fs::write(&fleet.known_hosts, known).expect("known_hosts");
        fleet
    }

    /// The pipeline's `ssh:` block for this fleet.
    pub fn ssh_block(&self) -> String {
        format!("ssh:\n  identity_file: {}\n  known_hosts: {}\n", self.key.display(), self.known_hosts.display())
    }

    /// A `hosts:` role listing every host.
    pub fn role(&self, role: &str) -> String {
        let mut s = format!("  {role}:\n");
        for h in &self.hosts {
            s.push_str(&format!("    - {{ name: {}, address: 127.0.0.1, port: {} }}\n", h.name, h.port));
        }
        s
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).expect("a host of the fleet")
    }

    pub fn host_mut(&mut self, name: &str) -> &mut Host {
        self.hosts.iter_mut().find(|h| h.name == name).expect("a host of the fleet")
    }
}

impl Host {
    fn start(&mut self, host_key: &Path, authorized: &Path, path_first: Option<&Path>) {
        let path = path_first.map(|p| format!(" PATH={}:/usr/local/bin:/usr/bin:/bin", p.display())).unwrap_or_default();
        for _ in 0..20 {
            self.port = free_port();
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile none\nAuthorizedKeysFile {auth}\nStrictModes no\n\
                 UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 PrintMotd no\nUseDNS no\nMaxStartups 100:30:200\nMaxSessions 50\nLogLevel ERROR\n\
                 SetEnv HOME={root} FLEET_HOST={name}{path}\n",
                port = self.port,
                key = host_key.display(),
                auth = authorized.display(),
                root = self.root.display(),
                name = self.name,
            );
            std::fs::write(&self.config, config).expect("sshd_config");
            if self.resume() {
                return;
            }
        }
        panic!("sshd for {} did not start", self.name);
    }

    /// Starts this host's sshd again on its port (after [`Host::stop`]); false if it did not come up.
    pub fn resume(&mut self) -> bool {
        let log = std::fs::File::create(self.root.join("sshd.log")).expect("sshd log");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start /usr/sbin/sshd");
        self.sshd = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if let Some(Ok(Some(_))) = self.sshd.as_mut().map(|c| c.try_wait()) {
                self.sshd = None;
                return false; // the port was taken meanwhile
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Stops the host's sshd: new connections are refused (open ones live on).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.sshd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_default()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            h.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "slipway-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ssh-keygen failed: install openssh-client (scripts/test does)");
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
