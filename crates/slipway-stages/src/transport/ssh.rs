//! The SSH transport: the system's OpenSSH client, so that ssh_config, the
//! agent, ProxyJump and known_hosts work as users expect. Slipway passes only
//! what the pipeline sets (`-p` only for a host's `port`, `-l` only for its
//! `user`), plus multiplexing: one master per host under the state folder,
//! kept for a minute after a run so that the next one starts warm.
//!
//! The remote side runs `bash -s`: the script, its variables and its folder
//! arrive on stdin, never on a command line (sshd's `AcceptEnv` would pass no
//! variables anyway). While the command runs, Slipway keeps stdin open; a
//! watchdog on the host stops the command when it closes, so a dropped
//! connection or an interrupted run leaves nothing running there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use slipway_core::model::{HostKeyChecking, SshSettings};
use slipway_engine::runtime::{BoxFuture, HostInfo, StageEnv, StageError};
use tokio::process::Command;

use super::child::{self, Piped, StageGroup};
use super::{Done, Exit, Job, Transport, check_env, quote};

/// Printed by the remote script before anything else: once it is seen, the
/// command has started, and an exit status of 255 is the command's own.
const STARTED: u8 = 0x06;

/// How long a master stays after its last session (`ControlPersist`).
const PERSIST: &str = "60";

pub struct Ssh<'s> {
    host: String,
    address: String,
    /// Shown in messages: `deploy@10.0.0.1 -p 2222`.
    target: String,
    /// Options, `-l` and `-p`: everything before the address.
    args: Vec<String>,
    /// The master connection's control socket.
    socket: PathBuf,
    group: &'s StageGroup,
    masters: &'s Masters,
}

/// Hosts whose master connection this process has made sure of, by their ssh arguments.
#[derive(Default)]
pub struct Masters(std::sync::Mutex<HashMap<Vec<String>, Arc<tokio::sync::Mutex<bool>>>>);

impl<'s> Ssh<'s> {
    pub fn new(env: &StageEnv<'_>, host: &HostInfo, control_dir: &Path, group: &'s StageGroup, masters: &'s Masters) -> Self {
        let (args, target, socket) = options(env.pipeline.ssh.as_ref(), env.base_dir, host, control_dir);
        Ssh { host: host.name.clone(), address: host.address.clone(), target, args, socket, group, masters }
    }

    /// `ssh OPTIONS EXTRA -- ADDRESS REST`: `--`, so an address is never read as an option.
    fn command(&self, extra: &[&str], rest: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(&self.args).args(extra).arg("--").arg(&self.address).args(rest);
        cmd
    }

    /// Makes sure a master connection to the host is up before commands use it:
    /// the host's commands then share it (several at once would each open their
    /// own while the first is still connecting), and a host that cannot be
    /// reached fails here, before anything ran. Done once per host and process;
    /// a failure is tried again next time.
    async fn master(&self, env: &StageEnv<'_>) -> Result<(), StageError> {
        let ready = {
            let mut map = self.masters.0.lock().unwrap_or_else(|p| p.into_inner());
            let mut key = self.args.clone();
            key.push(self.address.clone());
            map.entry(key).or_default().clone()
        };
        let mut ready = ready.lock().await;
        if *ready {
            return Ok(());
        }
        let quiet = |mut cmd: Command| {
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true);
            cmd
        };
        let attempt = async {
            // A master from an earlier run may still be up (`ControlPersist`). A
            // stale socket left by a master that died is replaced by ssh itself.
            if self.socket.exists() {
                return Ok(());
            }
            // `-f`: returns once connected and authenticated, the master left in the background.
            let out = quiet(self.command(&["-f", "-N"], &[]))
                .output()
                .await
                .map_err(|e| StageError::permanent(format!("cannot start `ssh`: {e}: install OpenSSH's client, or put it on PATH")))?;
            match out.status.success() {
                true => Ok(()),
                false => {
                    let said: Vec<String> = String::from_utf8_lossy(&out.stderr).lines().map(str::to_owned).collect();
                    Err(not_started(&self.target, &said))
                }
            }
        };
        tokio::select! {
            result = attempt => {
                *ready = result.is_ok();
                result
            }
            () = env.interrupted() => Err(StageError::permanent("stopped: the run was interrupted")),
        }
    }
}

impl Transport for Ssh<'_> {
    fn describe(&self) -> String {
        format!("ssh {}", self.target)
    }

    fn exec<'a>(&'a self, env: &'a StageEnv<'a>, job: &'a Job) -> BoxFuture<'a, Result<Done, StageError>> {
        Box::pin(async move {
            check_env(&job.env)?;
            self.master(env).await?;
            // `-T`: no terminal, so stdout and stderr stay apart.
            let mut cmd = self.command(&["-T"], &["bash -s"]);
            let piped =
                Piped { label: &self.host, input: remote_script(job), hold_input: true, capture: job.capture, sentinel: Some(STARTED) };
            let ran = child::run(env, self.group, &mut cmd, piped).await?;
            match ran.exit {
                Exit::Code(255) if !ran.started => Err(not_started(&self.target, &ran.early_stderr)),
                Exit::Code(255) => {
                    env.log(
                        "stderr",
                        &format!(
                            "[{}] slipway: ssh ended with 255 while the command ran: its own status, or the connection was lost",
                            self.host
                        ),
                    );
                    Ok(Done { exit: ran.exit, stdout: ran.stdout })
                }
                exit => Ok(Done { exit, stdout: ran.stdout }),
            }
        })
    }
}

/// ssh's arguments before the address: what the pipeline sets, then
/// multiplexing and batch mode. Also the target as messages show it, and the
/// master's socket.
fn options(settings: Option<&SshSettings>, base: &Path, host: &HostInfo, control_dir: &Path) -> (Vec<String>, String, PathBuf) {
    let mut args: Vec<String> = Vec::new();
    let mut push = |a: &str, b: String| args.extend([a.to_owned(), b]);
    if let Some(s) = settings {
        if let Some(config) = &s.config {
            push("-F", path(base, config));
        }
        if let Some(key) = &s.identity_file {
            push("-i", path(base, key).replace('%', "%%"));
        }
        if let Some(known) = &s.known_hosts {
            push("-o", format!("UserKnownHostsFile={}", option_path(&path(base, known).replace('%', "%%"))));
        }
    }
    let checking = settings.map_or(HostKeyChecking::Yes, |s| s.host_key_checking());
    push("-o", format!("StrictHostKeyChecking={}", checking.as_str()));
    // ssh keeps the first value it is given for an option: the pipeline's own
    // options come before Slipway's defaults, so they win.
    for (name, value) in settings.map(|s| &s.options).into_iter().flatten() {
        push("-o", format!("{}={value}", name.value));
    }
    push("-o", "BatchMode=yes".into());
    push("-o", "ConnectTimeout=15".into());
    push("-o", "ControlMaster=auto".into());
    push("-o", format!("ControlPersist={PERSIST}"));
    let mut target = host.address.clone();
    if let Some(user) = &host.user {
        push("-l", user.clone());
        target = format!("{user}@{target}");
    }
    if let Some(port) = host.port {
        push("-p", port.to_string());
        target.push_str(&format!(" -p {port}"));
    }
    // The socket is named after everything that decides the connection (like
    // ssh's own `%C`, but known here): whether a master is up is then one stat.
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for a in args.iter().chain([&host.address]) {
        hash.update(a.as_bytes());
        hash.update([0]);
    }
    let name: String = hash.finalize().iter().take(20).map(|b| format!("{b:02x}")).collect();
    let socket = control_dir.join(name);
    args.extend(["-o".into(), format!("ControlPath={}", option_path(&socket.display().to_string().replace('%', "%%")))]);
    (args, target, socket)
}

/// What the host's `bash -s` reads. One brace group, so bash reads all of it
/// before it runs any: the watchdog can then read what is left of stdin, which
/// is nothing until it closes. The command runs with stdin from /dev/null in
/// a subshell with `-euo pipefail`, like a local one.
fn remote_script(job: &Job) -> Vec<u8> {
    let mut s = String::with_capacity(job.script.len() + 512);
    s.push_str("{\nprintf '\\006'\nexec 3<&0\n");
    s.push_str("{ while read -r _; do :; done; kill -TERM 0; } <&3 >/dev/null 2>&1 &\n__slipway_watch=$!\n(\nset -euo pipefail\n");
    for (name, value) in &job.env {
        s.push_str(&format!("export {name}={}\n", quote(value)));
    }
    if let Some(dir) = &job.workdir {
        s.push_str(&format!("cd -- {}\n", quote(dir)));
    }
    s.push_str(&job.script);
    s.push_str("\n) 3<&- </dev/null\n__slipway_status=$?\nkill \"$__slipway_watch\" 2>/dev/null\nexit \"$__slipway_status\"\n}\n");
    s.into_bytes()
}

/// ssh exited 255 before the command started: why, and whether trying again
/// may help (a host that is down or restarting) or not (a refused key, an
/// unknown or changed host key, a bad option).
fn not_started(target: &str, stderr: &[String]) -> StageError {
    let said =
        stderr.iter().map(|l| l.trim()).filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added")).collect::<Vec<_>>();
    let text = said.join("; ");
    let has = |needle: &str| said.iter().any(|l| l.contains(needle));
    let base = format!("ssh {target} failed before the command started: {}", if text.is_empty() { "no reason given" } else { &text });
    if has("Permission denied") || has("Too many authentication failures") {
        StageError::permanent(format!("{base}: check `ssh.identity_file`, the agent's keys, and the host's `user`"))
    } else if has("Host key verification failed") || has("HOST IDENTIFICATION HAS CHANGED") || has("host key is known") {
        StageError::permanent(format!(
            "{base}: add the host's key to `ssh.known_hosts` (or set `ssh.strict_host_key_checking: accept-new` to trust it the first time)"
        ))
    } else if has("Bad configuration option")
        || has("Unsupported option")
        || has("command-line line")
        || has("Bad owner or permissions")
        || has("Name or service not known")
        || has("nodename nor servname")
    {
        StageError::permanent(format!("{base}: check the host's address and the `ssh` settings"))
    } else {
        StageError::transient(base)
    }
}

/// A path from the pipeline: relative to its folder; `~/…` and absolute ones as written.
fn path(base: &Path, given: &str) -> String {
    if given.starts_with('~') || Path::new(given).is_absolute() { given.to_owned() } else { base.join(given).display().to_string() }
}

/// ssh splits option values at spaces: quote a path that holds any. (It
/// expands `%` tokens in these paths: callers double a literal `%`.)
fn option_path(p: &str) -> String {
    if p.contains(char::is_whitespace) { format!("\"{p}\"") } else { p.to_owned() }
}

/// Sockets need short paths (about 104 bytes, and ssh adds 17 to the name while
/// it creates one). `<state>/ssh/<40 hex>` is used when it fits; otherwise
/// `<state>/ssh` is a link to a short private folder in /tmp named after the
/// state folder, so the sockets are still found under the state folder.
pub fn control_dir(state_dir: Option<&Path>) -> Result<PathBuf, String> {
    const ROOM: usize = 104 - 1 - 40 - 17;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let Some(state) = state_dir else {
        return crate::private_dir(PathBuf::from(format!("/tmp/slipway-ssh-{uid}")));
    };
    let state = std::path::absolute(state).unwrap_or_else(|_| state.to_path_buf());
    slipway_engine::private::create_dir_all(&state).map_err(|e| format!("cannot create the state folder {}: {e}", state.display()))?;
    let link = state.join("ssh");
    if link.as_os_str().len() <= ROOM && !link.is_symlink() {
        return crate::private_dir(link);
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(state.as_os_str().as_encoded_bytes());
    let short = PathBuf::from(format!("/tmp/slipway-ssh-{uid}-{}", hash.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>()));
    let short = crate::private_dir(short)?;
    if std::fs::read_link(&link).ok().as_deref() != Some(short.as_path()) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&short, &link).map_err(|e| format!("cannot link {} to {}: {e}", link.display(), short.display()))?;
    }
    Ok(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_told_apart() {
        let refused = not_started("10.0.0.1", &["ssh: connect to host 10.0.0.1 port 22: Connection refused".into()]);
        assert_eq!(refused.class, slipway_engine::runtime::ErrorClass::Transient);
        assert!(refused.message.contains("ssh 10.0.0.1 failed before the command started: ssh: connect"), "{}", refused.message);
        let key = not_started("10.0.0.1", &["root@10.0.0.1: Permission denied (publickey).".into()]);
        assert_eq!(key.class, slipway_engine::runtime::ErrorClass::Permanent);
        assert!(key.message.contains("identity_file"));
        let host_key = not_started("10.0.0.1", &["Host key verification failed.".into()]);
        assert!(host_key.message.contains("known_hosts"));
    }

    #[test]
    fn long_state_folders_get_a_short_socket_folder() {
        let long = std::env::temp_dir().join(format!("slipway-ssh-test-{}-{}", std::process::id(), "x".repeat(60)));
        let dir = control_dir(Some(&long)).unwrap();
        assert!(dir.as_os_str().len() <= 104 - 58, "{}", dir.display());
        assert_eq!(std::fs::canonicalize(long.join("ssh")).unwrap(), std::fs::canonicalize(&dir).unwrap());
        assert_eq!(control_dir(Some(&long)).unwrap(), dir, "the same folder each time");
        let _ = std::fs::remove_dir_all(&long);
        let _ = std::fs::remove_dir(&dir);
    }

    fn host(user: Option<&str>, port: Option<u16>) -> HostInfo {
        HostInfo {
            name: "web-1".into(),
            address: "10.0.0.1".into(),
            user: user.map(str::to_owned),
            port,
            role: "web".into(),
            transport: Default::default(),
        }
    }

    #[test]
    fn only_what_the_pipeline_sets_is_passed() {
        let dir = Path::new("/state/ssh");
        let (args, target, socket) = options(None, Path::new("/p"), &host(None, None), dir);
        assert!(!args.iter().any(|a| a == "-p" || a == "-l" || a == "-i" || a == "-F"), "{args:?}");
        assert_eq!(target, "10.0.0.1");
        assert!(args.windows(2).any(|w| w == ["-o", "StrictHostKeyChecking=yes"]), "yes unless the pipeline says otherwise");
        assert_eq!(args.last().map(String::as_str), Some(format!("ControlPath={}", socket.display()).as_str()));
        assert_eq!((socket.parent(), socket.file_name().map(|n| n.len())), (Some(dir), Some(40)), "{socket:?}");
        let (args, target, other) = options(None, Path::new("/p"), &host(Some("deploy"), Some(2222)), dir);
        assert!(args.windows(2).any(|w| w == ["-l", "deploy"]) && args.windows(2).any(|w| w == ["-p", "2222"]), "{args:?}");
        assert_eq!(target, "deploy@10.0.0.1 -p 2222");
        assert_ne!(other, socket, "another connection, another master");
    }

    #[test]
    fn the_pipelines_settings_come_first_and_paths_start_at_its_folder() {
        let text = "version: 1\nname: x\nssh:\n  config: ssh/config\n  identity_file: keys/deploy\n  known_hosts: /etc/kh 100%\n  strict_host_key_checking: accept-new\n  options: { BatchMode: 'no', ServerAliveInterval: 15 }\nstages: { a: { kind: shell, run: 'true' } }\n";
        let checked = slipway_core::check_str("p.yaml", text);
        let settings = checked.pipeline.as_ref().and_then(|p| p.ssh.as_ref());
        let (args, _, _) = options(settings, Path::new("/pipelines"), &host(None, None), Path::new("/s p"));
        let joined = args.join(" ");
        assert!(
            joined.starts_with("-F /pipelines/ssh/config -i /pipelines/keys/deploy -o UserKnownHostsFile=\"/etc/kh 100%%\""),
            "{joined}"
        );
        let at = |needle: &str| joined.find(needle).unwrap_or_else(|| panic!("{needle} in {joined}"));
        assert!(at("StrictHostKeyChecking=accept-new") < at("BatchMode=no") && at("BatchMode=no") < at("BatchMode=yes"), "{joined}");
        assert!(joined.contains("ServerAliveInterval=15") && joined.contains("ControlPath=\"/s p/"), "{joined}");
    }

    #[test]
    fn the_remote_script_quotes_what_it_exports() {
        let job =
            Job { script: "echo hi".into(), env: vec![("A".into(), "it's".into())], workdir: Some("/srv/app".into()), capture: false };
        let text = String::from_utf8(remote_script(&job)).unwrap();
        assert!(text.contains("export A='it'\\''s'\ncd -- '/srv/app'\necho hi\n"), "{text}");
    }
}
