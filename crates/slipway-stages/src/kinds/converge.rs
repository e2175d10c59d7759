//! `converge`: config management on every host of a role, `concurrency` at a
//! time, reading the tool's exit codes (chef-client, puppet, ansible-pull).
//! Under `plan --live-reads` it runs `check_command` instead (the read-only
//! capability allows that command only).

use std::time::Instant;

use serde_json::Value;
use slipway_core::kinds::{ConvergeConfig, ConvergeTool, StageConfig};
use slipway_engine::runtime::{BoxFuture, Effect, ErrorClass, HostInfo, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::transport::{Earlier, Exit, Fleet, HostResult, Job, Session, run_limited};

fn config<'a>(env: &'a StageEnv<'a>) -> &'a ConvergeConfig {
    match &env.stage.config {
        StageConfig::Converge(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

/// What the command runs on a host, every field rendered for it.
fn host_job(env: &StageEnv<'_>, c: &ConvergeConfig, host: &HostInfo, command: &str) -> Result<Job, StageError> {
    let vars =
        c.env.iter().map(|(k, v)| Ok((k.value.clone(), env.render_for_host(&v.source, host)?))).collect::<Result<_, StageError>>()?;
    Ok(Job { script: env.render_for_host(command, host)?, env: vars, workdir: None, capture: false })
}

/// How many hosts may fail, as written, for messages.
fn allowed(c: &ConvergeConfig, hosts: usize) -> (usize, String) {
    match c.max_failures {
        None => (0, "0".into()),
        Some(p) => (p.of(hosts), p.text()),
    }
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let c = config(env);
        let hosts = env.hosts(&c.hosts);
        let reading = match c.tool {
            ConvergeTool::Chef => "chef-client exit codes: 0 ok, 35/37 ok with a reboot pending, 213 run again, others fail",
            ConvergeTool::Puppet => "puppet detailed exit codes: 0 no change, 2 changed, 4/6 failures",
            ConvergeTool::Ansible => "ansible exit codes: 0 ok, 4 unreachable (retried), others fail",
            ConvergeTool::Command => "exit code 0 is success",
        };
        let (limit, written) = allowed(c, hosts.len());
        let stops = match c.max_failures {
            Some(slipway_core::decode::Portion::Percent(_)) => format!("stops after {} failed host(s) (more than {written})", limit + 1),
            _ => format!("stops after {} failed host(s)", limit + 1),
        };
        let mut effects = vec![Effect::Note {
            text: format!(
                "{} hosts of `{}`, {} at a time; {stops}; {reading}",
                hosts.len(),
                c.hosts.value,
                c.concurrency.map_or(1, |n| n.0)
            ),
        }];
        for host in &hosts {
            let job = host_job(env, c, host, &c.command.source)?;
            effects.push(Effect::Command { command: job.script, on: vec![host.name.clone()], env: job.env, workdir: None });
        }
        Ok(StagePlan { effects })
    }
}

pub struct Run {
    pub fleet: Fleet,
    /// Hosts converged by an earlier attempt: a retry converges the others.
    pub earlier: Earlier,
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            let c = config(env);
            let command = match (&c.check_command, self.fleet.is_read_only()) {
                (_, false) => &c.command.source,
                (Some(check), true) => &check.source,
                (None, true) => return Err(StageError::permanent("converge has no `check_command` to run while planning")),
            };
            let hosts = env.hosts(&c.hosts);
            let (limit, written) = allowed(c, hosts.len());
            let earlier = self.earlier.take(&env.idempotency_key);
            let session = self.fleet.session();
            let mut failures = 0;
            let results = run_limited(
                hosts.len(),
                c.concurrency.map_or(1, |n| n.0 as usize),
                |i| match earlier.get(&hosts[i].name) {
                    Some(done) => {
                        env.log("stdout", &format!("[{}] converged in an earlier attempt: not run again", done.name));
                        let done = done.clone();
                        Box::pin(async move { done })
                    }
                    None => Box::pin(converge_host(env, c, &session, &hosts[i], command)),
                },
                |_, r: &HostResult| {
                    failures += r.failed() as usize;
                    // More failures than allowed: no more hosts start; those running finish.
                    failures <= limit && !env.is_cancelled()
                },
            )
            .await;
            if env.is_cancelled() {
                return Err(StageError::permanent("stopped: the run was interrupted"));
            }
            let results: Vec<HostResult> =
                results.into_iter().zip(&hosts).map(|(r, h)| r.unwrap_or_else(|| HostResult::not_run(&h.name))).collect();
            let failed: Vec<&HostResult> = results.iter().filter(|r| r.failed() && r.status != "not_run").collect();
            if failed.len() > limit {
                self.earlier.keep(&env.idempotency_key, &results);
                let names = failed.iter().map(|r| r.brief()).collect::<Vec<_>>().join(", ");
                let skipped: Vec<&str> = results.iter().filter(|r| r.status == "not_run").map(|r| r.name.as_str()).collect();
                let mut message =
                    format!("{} of {} hosts failed, more than `max_failures` ({written}): {names}", failed.len(), hosts.len());
                if !skipped.is_empty() {
                    message.push_str(&format!("; not started: {}", skipped.join(", ")));
                }
                // Retried when every failure may pass (an unreachable host): only those hosts run again.
                return Err(if failed.iter().all(|r| r.transient) {
                    StageError::transient(message)
                } else {
                    StageError::permanent(message)
                });
            }
            let names = |pick: &dyn Fn(&HostResult) -> bool| {
                Value::Array(results.iter().filter(|r| pick(r)).map(|r| Value::String(r.name.clone())).collect())
            };
            let mut outputs = Outputs::new();
            outputs.insert("succeeded".into(), names(&|r| !r.failed()));
            outputs.insert("failed".into(), names(&|r| r.failed()));
            outputs.insert(
                "changed".into(),
                names(&|r| r.status == "changed" || (r.status == "failed" && r.exit_code == Some(6) && c.tool == ConvergeTool::Puppet)),
            );
            outputs.insert("reboot_pending".into(), names(&|r| r.status == "reboot_pending"));
            outputs.insert("hosts".into(), Value::Array(results.iter().map(HostResult::to_json).collect()));
            Ok(outputs)
        })
    }
}

/// How a tool's exit code reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Ok,
    Changed,
    RebootPending,
    /// chef-client upgraded itself (213): run it once more.
    RunAgain,
    /// Worth retrying (ansible's 4: a host it manages was unreachable).
    Unreachable,
    Failed,
}

fn read(tool: ConvergeTool, code: i32) -> Reading {
    match (tool, code) {
        (_, 0) => Reading::Ok,
        (ConvergeTool::Chef, 35 | 37) => Reading::RebootPending,
        (ConvergeTool::Chef, 213) => Reading::RunAgain,
        (ConvergeTool::Puppet, 2) => Reading::Changed,
        (ConvergeTool::Ansible, 4) => Reading::Unreachable,
        _ => Reading::Failed,
    }
}

/// Converges one host: runs the command (twice when chef-client asks), reads
/// its exit code, logs the host's result.
async fn converge_host(env: &StageEnv<'_>, c: &ConvergeConfig, session: &Session, host: &HostInfo, command: &str) -> HostResult {
    let started = Instant::now();
    let mut result = HostResult::not_run(&host.name);
    let mut runs = 0;
    let outcome = loop {
        runs += 1;
        let ran = async {
            let job = host_job(env, c, host, command)?;
            session.open(env, host)?.exec(env, &job).await
        }
        .await;
        match ran {
            Ok(done) => match done.exit {
                Exit::Code(code) if read(c.tool, code) == Reading::RunAgain && runs == 1 => {
                    env.log("stdout", &format!("[{}] chef-client exited 213 (it upgraded itself): running it once more", host.name));
                }
                Exit::Code(code) => break Ok((code, read(c.tool, code))),
                Exit::Signal(sig) => break Err(StageError::permanent(format!("killed by signal {sig}"))),
            },
            Err(e) => break Err(e),
        }
    };
    result.duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok((code, reading)) => {
            result.exit_code = Some(code);
            (result.status, result.transient) = match reading {
                Reading::Ok => ("ok", false),
                Reading::Changed => ("changed", false),
                Reading::RebootPending => ("reboot_pending", false),
                Reading::Unreachable => ("unreachable", true),
                Reading::RunAgain => {
                    result.error = Some("chef-client asked to run again twice".into());
                    ("failed", false)
                }
                Reading::Failed => ("failed", false),
            };
        }
        Err(e) => {
            result.transient = e.class == ErrorClass::Transient;
            result.status = if result.transient { "unreachable" } else { "error" };
            result.error = Some(e.message);
        }
    }
    result.log(env);
    if result.status == "reboot_pending" {
        env.log("stderr", &format!("[{}] warning: converged, but a reboot is pending", host.name));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_read_per_tool() {
        assert_eq!(read(ConvergeTool::Chef, 35), Reading::RebootPending);
        assert_eq!(read(ConvergeTool::Chef, 37), Reading::RebootPending);
        assert_eq!(read(ConvergeTool::Chef, 213), Reading::RunAgain);
        assert_eq!(read(ConvergeTool::Chef, 41), Reading::Failed);
        assert_eq!(read(ConvergeTool::Puppet, 2), Reading::Changed);
        assert_eq!(read(ConvergeTool::Puppet, 4), Reading::Failed);
        assert_eq!(read(ConvergeTool::Puppet, 6), Reading::Failed);
        assert_eq!(read(ConvergeTool::Ansible, 4), Reading::Unreachable);
        assert_eq!(read(ConvergeTool::Ansible, 2), Reading::Failed);
        assert_eq!(read(ConvergeTool::Command, 2), Reading::Failed);
        assert_eq!(read(ConvergeTool::Command, 0), Reading::Ok);
    }
}
