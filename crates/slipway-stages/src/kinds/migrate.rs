//! `migrate`: the migration command once, on one host of a role (`host`, or
//! the role's first), under a lock on that host.
//!
//! Everything that makes it "once" lives on the host, where the migration
//! itself runs, so it holds across retries, `resume` after a crash, and other
//! runs: in the remote user's state folder,
//! `${XDG_STATE_HOME:-$HOME/.local/state}/slipway/`:
//! - `migrate.lock`: `flock`ed while a migration runs. One lock per host user,
//!   whatever the pipeline, environment or workdir: Slipway cannot know which
//!   database a command migrates, and two migrations of one app may come from
//!   two pipelines or from two release folders. The host is the safe guess;
//!   the cost is that unrelated apps' migrations on one host take turns.
//! - `migrations.done`: the idempotency key of each migration that succeeded
//!   (with the pipeline's name), appended under the lock right after the
//!   command exited 0. A stage that finds its key there does not migrate again.
//! - `migrate-<nonce>.verdict`: what one attempt did, read back (and removed)
//!   by a second command, because a command's exit status cannot tell "the
//!   migration failed with 3" from "the lock was busy" without reserving codes
//!   a migration may use.
//!
//! The state folder is durable (unlike `/tmp`, often cleared at boot: a host
//! restarting between a crash and the resume must not forget) and private to
//! the user (nobody else can plant a lock file or a record there).

use std::time::Duration;

use serde_json::Value;
use slipway_core::kinds::{MigrateConfig, StageConfig};
use slipway_core::model::Transport as Via;
use slipway_engine::runtime::{BoxFuture, Effect, HostInfo, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::transport::{Exit, Fleet, Job, Transport, quote};

/// Where the lock and the record live on the host (see the module's doc).
const STATE_DIR: &str = "${XDG_STATE_HOME:-$HOME/.local/state}/slipway";

/// `lock_timeout` when the stage sets none.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

fn config<'a>(env: &'a StageEnv<'a>) -> &'a MigrateConfig {
    match &env.stage.config {
        StageConfig::Migrate(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

/// The host that migrates: the one `host` names (by name or address), or the
/// role's first. `None` when the role has no host (empty, or `--limit` kept none).
fn pick_host(env: &StageEnv<'_>, c: &MigrateConfig) -> Result<Option<HostInfo>, StageError> {
    let hosts = env.hosts(&c.hosts);
    let Some(wanted) = c.host.as_ref().map(|t| env.render(t)).transpose()? else { return Ok(hosts.into_iter().next()) };
    let wanted = wanted.trim();
    if hosts.is_empty() {
        return Ok(None);
    }
    match hosts.iter().find(|h| h.name == wanted || h.address == wanted) {
        Some(h) => Ok(Some(h.clone())),
        // A plan, with `host` read from an earlier stage's output: the run will know.
        None if env.dry_run && wanted.contains("known after run>") => Ok(Some(HostInfo {
            name: wanted.to_owned(),
            address: wanted.to_owned(),
            user: None,
            port: None,
            role: c.hosts.value.clone(),
            transport: Via::Ssh,
        })),
        None => Err(StageError::permanent(format!(
            "`host` names `{wanted}`, which is not a host of role `{}` (its hosts: {}): name one of them",
            c.hosts.value,
            hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The command's job on `host` (the migration's or the check's): `workdir` and `env` rendered for it.
fn host_job(env: &StageEnv<'_>, c: &MigrateConfig, host: &HostInfo, script: String) -> Result<Job, StageError> {
    let mut vars: Vec<(String, String)> =
        c.env.iter().map(|(k, v)| Ok((k.value.clone(), env.render_for_host(&v.source, host)?))).collect::<Result<_, StageError>>()?;
    vars.extend([
        ("SLIPWAY_RUN_ID".to_owned(), env.run_id.to_owned()),
        ("SLIPWAY_STAGE".to_owned(), env.stage.id.value.clone()),
        ("SLIPWAY_IDEMPOTENCY_KEY".to_owned(), env.idempotency_key.clone()),
        ("SLIPWAY_HOST".to_owned(), host.name.clone()),
    ]);
    let workdir = c.workdir.as_ref().map(|w| env.render_for_host(&w.source, host)).transpose()?;
    Ok(Job { script, env: vars, workdir, capture: false })
}

fn lock_timeout(c: &MigrateConfig) -> Duration {
    c.lock_timeout.map_or(DEFAULT_LOCK_TIMEOUT, |t| t.0)
}

/// `5m`, `90s`, `1h`, `250ms`: a wait as people write it.
fn human(d: Duration) -> String {
    let (ms, s) = (d.as_millis(), d.as_secs());
    match () {
        _ if ms % 1000 != 0 => format!("{ms}ms"),
        _ if s != 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s != 0 && s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let c = config(env);
        let Some(host) = pick_host(env, c)? else {
            return Ok(StagePlan {
                effects: vec![Effect::Note { text: format!("role `{}` has no host selected: nothing to migrate", c.hosts.value) }],
            });
        };
        let mut text = format!(
            "once, on {} only, holding the host's migration lock ({STATE_DIR}/migrate.lock, waiting up to {}); \
             recorded there as done ({}) once it succeeds, so a retry or a resume does not migrate again",
            host.name,
            human(lock_timeout(c)),
            env.idempotency_key
        );
        if c.check_command.is_some() {
            text.push_str("; `plan --live-reads` runs its `check_command` there");
        }
        let job = host_job(env, c, &host, env.render_for_host(&c.command.source, &host)?)?;
        let vars = job.env.into_iter().filter(|(k, _)| c.env.keys().any(|n| n.value == *k)).collect();
        Ok(StagePlan {
            effects: vec![
                Effect::Note { text },
                Effect::Command { command: job.script, on: vec![host.name.clone()], env: vars, workdir: job.workdir },
            ],
        })
    }
}

pub struct Run {
    /// How commands reach hosts; read-only under `plan --live-reads`, where only
    /// `check_command` may run.
    pub fleet: Fleet,
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            let c = config(env);
            let Some(host) = pick_host(env, c)? else {
                env.log(
                    "stdout",
                    &format!("role `{}` has no host selected (empty, or `--limit` kept none): nothing to migrate", c.hosts.value),
                );
                return Ok(outputs("", false, ""));
            };
            let session = self.fleet.session();
            let transport = session.open(env, &host)?;
            if self.fleet.is_read_only() {
                return check(env, c, &host, transport.as_ref()).await;
            }
            let nonce = format!("{:016x}", slipway_engine::runid::random_u64());
            let wait = lock_timeout(c);
            let holder = format!("pipeline {}, run {}, stage {}", env.pipeline.name.value, env.run_id, env.stage.id.value);
            let command = env.render_for_host(&c.command.source, &host)?;
            let script = wrapper(
                &Marks { key: &env.idempotency_key, pipeline: &env.pipeline.name.value, nonce: &nonce, holder: &holder },
                wait,
                &command,
            );
            let job = host_job(env, c, &host, script)?;
            let done = transport.exec(env, &job).await?;
            // Read with the same variables: a `HOME` or `XDG_STATE_HOME` in `env` moves the state folder.
            let read = Job { script: read_verdict(&nonce), capture: true, env: job.env.clone(), workdir: None };
            let verdict = transport.exec(env, &read).await?;
            let verdict = String::from_utf8_lossy(&verdict.stdout).trim().to_owned();
            let (word, rest) = verdict.split_once(' ').unwrap_or((verdict.as_str(), ""));
            let name = &host.name;
            match word {
                "ran" => {
                    env.log("stdout", &format!("[{name}] migrated; recorded on the host as done ({})", env.idempotency_key));
                    Ok(outputs(name, true, ""))
                }
                "skipped" => {
                    env.log(
                        "stdout",
                        &format!("[{name}] already migrated by an earlier attempt (recorded on the host at {rest}): not run again"),
                    );
                    Ok(outputs(name, false, ""))
                }
                "failed" => Err(StageError::permanent(format!(
                    "the migration failed on {name}: the command exited with status {rest} (nothing recorded: the next attempt or run migrates again)"
                ))),
                "lock-timeout" => Err(StageError::transient(format!(
                    "waited {} for the migration lock on {name} ({STATE_DIR}/migrate.lock), held by {rest}: raise `lock_timeout`, or let that migration end",
                    human(wait)
                ))),
                "error" => Err(StageError::permanent(format!("{name}: {rest}"))),
                "" => Err(unreported(name, host.transport, &done.exit)),
                _ => Err(StageError::permanent(format!("{name}: the migration reported `{verdict}`, which this version does not know"))),
            }
        })
    }
}

/// The job ended without saying what it did: it never got to the migration, or
/// was stopped while it ran (then the next attempt finds out on the host).
fn unreported(host: &str, via: Via, exit: &Exit) -> StageError {
    match exit {
        Exit::Code(255) if via == Via::Ssh => StageError::transient(format!(
            "the connection to {host} was lost while the migration ran: the next attempt reads on the host whether it finished"
        )),
        Exit::Code(0) => StageError::permanent(format!("the migration on {host} ended without saying what it did: see the lines above")),
        Exit::Code(code) => StageError::permanent(format!("the migration could not start on {host} (exit {code}): see the lines above")),
        Exit::Signal(sig) => StageError::permanent(format!("the migration on {host} was killed by signal {sig} before it finished")),
    }
}

fn outputs(host: &str, ran: bool, pending: &str) -> Outputs {
    let mut out = Outputs::new();
    out.insert("host".into(), Value::String(host.to_owned()));
    out.insert("ran".into(), Value::Bool(ran));
    out.insert("pending".into(), Value::String(pending.to_owned()));
    out
}

/// `plan --live-reads`: `check_command` on the migration's host, in its
/// `workdir`, with its `env`; what it prints is the `pending` output.
async fn check(env: &StageEnv<'_>, c: &MigrateConfig, host: &HostInfo, transport: &dyn Transport) -> Result<Outputs, StageError> {
    let Some(command) = &c.check_command else {
        return Err(StageError::permanent("migrate has no `check_command` to run while planning"));
    };
    let mut job = host_job(env, c, host, env.render_for_host(&command.source, host)?)?;
    job.capture = true;
    let done = transport.exec(env, &job).await?;
    match done.exit {
        Exit::Code(0) => Ok(outputs(&host.name, false, String::from_utf8_lossy(&done.stdout).trim_end())),
        Exit::Code(code) => Err(StageError::permanent(format!("`check_command` exited with status {code} on {}", host.name))),
        Exit::Signal(sig) => Err(StageError::permanent(format!("`check_command` was killed by signal {sig} on {}", host.name))),
    }
}

/// What names one attempt on the host.
struct Marks<'a> {
    /// The stage's idempotency key: the same across retries and resume.
    key: &'a str,
    pipeline: &'a str,
    /// This attempt's verdict file.
    nonce: &'a str,
    /// Who holds the lock, for another run that waits: `pipeline p, run r, stage s`.
    holder: &'a str,
}

/// The script the host runs around the migration command: already recorded?
/// take the lock (waiting at most `wait`), check again, run the command with
/// the lock's descriptor closed, record it, write the verdict. It exits 0
/// whenever it wrote a verdict; the command's own status is in the verdict.
/// Once the command has ended, the wrapper ignores the signals a lost
/// connection or an interrupt sends (the transport's watchdog stops the whole
/// session): a migration that finished is recorded, whatever happens next.
fn wrapper(m: &Marks<'_>, wait: Duration, command: &str) -> String {
    let (key, pipeline, holder) = (quote(m.key), quote(m.pipeline), quote(m.holder));
    let (nonce, wait_text, secs) = (m.nonce, human(wait), format!("{:.3}", wait.as_secs_f64()));
    format!(
        r#"__slipway_dir="{STATE_DIR}"
__slipway_key={key}
__slipway_pipeline={pipeline}
__slipway_verdict="$__slipway_dir/migrate-{nonce}.verdict"
__slipway_say() {{ printf '%s\n' "$1" > "$__slipway_verdict.tmp" && mv -f -- "$__slipway_verdict.tmp" "$__slipway_verdict"; }}
__slipway_done() {{ [ -f "$__slipway_dir/migrations.done" ] && awk -F '\t' -v k="$__slipway_key" -v p="$__slipway_pipeline" '$1 == k && $2 == p {{ at = $3 }} END {{ if (at == "") exit 1; print at }}' "$__slipway_dir/migrations.done"; }}
__slipway_holder() {{ cat -- "$__slipway_dir/migrate.holder" 2>/dev/null || echo 'another process'; }}
(umask 077 && mkdir -p -- "$__slipway_dir")
find "$__slipway_dir" -maxdepth 1 -name 'migrate-*.verdict' -mmin +1440 -delete 2>/dev/null || true
if __slipway_at=$(__slipway_done); then __slipway_say "skipped $__slipway_at"; exit 0; fi
if ! command -v flock >/dev/null 2>&1; then __slipway_say "error flock is not installed on this host: install util-linux"; exit 0; fi
exec 9>>"$__slipway_dir/migrate.lock"
if ! flock -n 9; then
  echo "slipway: waiting up to {wait_text} for the migration lock, held by $(__slipway_holder)"
  if ! flock -w {secs} 9; then __slipway_say "lock-timeout $(__slipway_holder)"; exit 0; fi
fi
printf '%s, since %s\n' {holder} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$__slipway_dir/migrate.holder"
if __slipway_at=$(__slipway_done); then rm -f -- "$__slipway_dir/migrate.holder"; __slipway_say "skipped $__slipway_at"; exit 0; fi
set +e
(
set -e
{command}
) 9>&-
__slipway_status=$?
set -e
trap '' HUP INT TERM
rm -f -- "$__slipway_dir/migrate.holder"
if [ "$__slipway_status" -ne 0 ]; then __slipway_say "failed $__slipway_status"; exit 0; fi
printf '%s\t%s\t%s\n' "$__slipway_key" "$__slipway_pipeline" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$__slipway_dir/migrations.done"
sync -- "$__slipway_dir/migrations.done" 2>/dev/null || true
if [ "$(wc -l < "$__slipway_dir/migrations.done")" -gt 2000 ]; then
  tail -n 1000 -- "$__slipway_dir/migrations.done" > "$__slipway_dir/migrations.done.tmp" && mv -f -- "$__slipway_dir/migrations.done.tmp" "$__slipway_dir/migrations.done"
fi
__slipway_say ran
"#
    )
}

/// Prints an attempt's verdict and removes it.
fn read_verdict(nonce: &str) -> String {
    format!(
        "__slipway_verdict=\"{STATE_DIR}/migrate-{nonce}.verdict\"\nif [ -f \"$__slipway_verdict\" ]; then cat -- \"$__slipway_verdict\"; rm -f -- \"$__slipway_verdict\"; fi"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the wrapper, then the verdict reader, with bash here, the state folder under `home`.
    fn attempt(home: &std::path::Path, key: &str, command: &str, wait: Duration) -> String {
        let nonce = format!("{:016x}", slipway_engine::runid::random_u64());
        let marks = Marks { key, pipeline: "app", nonce: &nonce, holder: "pipeline app, run r, stage migrate" };
        let bash = |script: String| {
            let out = std::process::Command::new("bash")
                .args(["-euo", "pipefail", "-c", &script])
                .current_dir(home)
                .env("HOME", home)
                .env_remove("XDG_STATE_HOME")
                .output()
                .expect("bash");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        bash(wrapper(&marks, wait, command));
        bash(read_verdict(&nonce)).trim().to_owned()
    }

    fn home(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("slipway-migrate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_recorded_key_does_not_migrate_again() {
        let home = home("once");
        let count = "echo x >> runs";
        assert_eq!(attempt(&home, "r1:migrate", count, Duration::from_secs(1)), "ran");
        let again = attempt(&home, "r1:migrate", count, Duration::from_secs(1));
        assert!(again.starts_with("skipped 20"), "{again}");
        assert_eq!(attempt(&home, "r2:migrate", count, Duration::from_secs(1)), "ran", "another run migrates");
        assert_eq!(std::fs::read_to_string(home.join("runs")).unwrap(), "x\nx\n");
        let state = home.join(".local/state/slipway");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o700, "the state folder is private");
        let verdicts = std::fs::read_dir(&state).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".verdict"));
        assert_eq!(verdicts.count(), 0, "each verdict is removed once read");
        let _ = std::fs::remove_dir_all(home);
    }

    #[test]
    fn a_failed_command_is_not_recorded_and_keeps_errexit() {
        let home = home("fail");
        assert_eq!(attempt(&home, "r1:migrate", "false; touch never", Duration::from_secs(1)), "failed 1");
        assert_eq!(attempt(&home, "r1:migrate", "exit 3", Duration::from_secs(1)), "failed 3");
        assert!(!home.join("never").exists(), "the command runs under `set -e`");
        assert_eq!(attempt(&home, "r1:migrate", "true", Duration::from_secs(1)), "ran", "nothing was recorded");
        let _ = std::fs::remove_dir_all(home);
    }

    #[test]
    fn a_busy_lock_times_out_naming_its_holder() {
        let home = home("busy");
        assert_eq!(attempt(&home, "r0:migrate", "true", Duration::from_secs(1)), "ran");
        let state = home.join(".local/state/slipway");
        std::fs::write(state.join("migrate.holder"), "pipeline other, run r9, stage migrate, since then\n").unwrap();
        let mut held = std::process::Command::new("flock").arg(state.join("migrate.lock")).args(["sleep", "10"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let verdict = attempt(&home, "r1:migrate", "touch ran", Duration::from_millis(300));
        let _ = held.kill();
        let _ = held.wait();
        assert_eq!(verdict, "lock-timeout pipeline other, run r9, stage migrate, since then");
        assert!(!home.join("ran").exists());
        let _ = std::fs::remove_dir_all(home);
    }

    #[test]
    fn waits_read_as_written() {
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_secs(90)), "90s");
        assert_eq!(human(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::ZERO), "0s");
    }
}
