//! `shell`: a command run with bash. Outputs are `name=value` lines (and
//! `name<<EOF` … `EOF` blocks) written to the file at `$SLIPWAY_OUTPUT`, or
//! JSON values in the file at `$SLIPWAY_OUTPUT_JSON` (see `shell/outputs.rs`).
//! A failed command keeps what it wrote, for the stages that clean up after it.

use std::path::PathBuf;

use serde_json::Value;
use slipway_core::kinds::{ExitCodes, ShellConfig, StageConfig};
use slipway_engine::runtime::{BoxFuture, Effect, ErrorClass, HostInfo, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::process::{Exit, run_bash};
use crate::transport::{Earlier, Fleet, HostResult, Job, Session, run_limited};
use outputs::OutputFiles;
pub use outputs::parse_output_file;

mod outputs;

fn config<'a>(env: &'a StageEnv<'a>) -> &'a ShellConfig {
    match &env.stage.config {
        StageConfig::Shell(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

fn rendered_env(env: &StageEnv<'_>, c: &ShellConfig) -> Result<Vec<(String, String)>, StageError> {
    env.render_map(&c.env)
}

/// Where a local command runs: the project's root, or `workdir` from there.
fn workdir(env: &StageEnv<'_>, c: &ShellConfig) -> Result<PathBuf, StageError> {
    Ok(match &c.workdir {
        Some(w) => env.project_root.join(env.render(w)?),
        None => env.project_root.to_path_buf(),
    })
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let c = config(env);
        let Some(role) = &c.hosts else {
            return Ok(StagePlan {
                effects: vec![Effect::Command {
                    command: env.render_command(&c.run)?,
                    on: vec!["local".to_owned()],
                    env: rendered_env(env, c)?,
                    workdir: Some(workdir(env, c)?.display().to_string()),
                }],
            });
        };
        // Rendered per host; hosts whose command, env and folder come out the same share an effect.
        let mut effects: Vec<Effect> = Vec::new();
        for host in env.hosts(role) {
            let job = host_job(env, c, &host)?;
            let same = effects.iter_mut().find_map(|e| match e {
                Effect::Command { command, on, env: vars, workdir }
                    if *command == job.script && *vars == job.env && *workdir == job.workdir =>
                {
                    Some(on)
                }
                _ => None,
            });
            match same {
                Some(on) => on.push(host.name),
                None => effects.push(Effect::Command { command: job.script, on: vec![host.name], env: job.env, workdir: job.workdir }),
            }
        }
        Ok(StagePlan { effects })
    }
}

/// What runs on one host: every field rendered with `host` in the context.
fn host_job(env: &StageEnv<'_>, c: &ShellConfig, host: &HostInfo) -> Result<Job, StageError> {
    let vars =
        c.env.iter().map(|(k, v)| Ok((k.value.clone(), env.render_for_host(&v.source, host)?))).collect::<Result<_, StageError>>()?;
    let workdir = c.workdir.as_ref().map(|w| env.render_for_host(&w.source, host)).transpose()?;
    Ok(Job { script: env.render_for_host(&c.run.source, host)?, env: vars, workdir, capture: false })
}

pub struct Run {
    /// False under `plan --live-reads`: no process may start.
    pub allowed: bool,
    /// How commands reach hosts (`hosts:`).
    pub fleet: Fleet,
    /// Hosts that succeeded in an earlier attempt: a retry runs the others.
    pub earlier: Earlier,
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            if !self.allowed {
                return Err(StageError::permanent("refused to start a process while planning"));
            }
            let c = config(env);
            if let Some(role) = &c.hosts {
                return self.on_hosts(env, c, role).await;
            }
            let script = env.render_command(&c.run)?;
            let mut vars = rendered_env(env, c)?;
            let dir = workdir(env, c)?;
            // In a folder only this user can read: outputs may hold what others must not see.
            let private = crate::private_scratch_dir().map_err(StageError::permanent)?;
            let files = OutputFiles::new(private, &env.stage.id.value);
            vars.extend(files.vars());
            vars.extend([
                ("SLIPWAY_RUN_ID".to_owned(), env.run_id.to_owned()),
                ("SLIPWAY_STAGE".to_owned(), env.stage.id.value.clone()),
                ("SLIPWAY_IDEMPOTENCY_KEY".to_owned(), env.idempotency_key.clone()),
            ]);
            let exit = run_bash(env, &script, &vars, &dir).await;
            let written = files.take().await;
            let exit = exit?;
            let failure = match exit {
                Exit::Code(0) => None,
                Exit::Code(code) if c.retry_on_exit_codes.matches(code) => {
                    let why = match c.retry_on_exit_codes {
                        ExitCodes::Any => "`retry_on_exit_codes: any`",
                        ExitCodes::Listed(_) => "listed in `retry_on_exit_codes`",
                    };
                    Some(StageError::transient(format!("command exited with status {code} ({why})")))
                }
                Exit::Code(code) => Some(StageError::permanent(format!("command exited with status {code}"))),
                Exit::Signal(sig) => Some(StageError::permanent(format!("command was killed by signal {sig}"))),
            };
            let code = match exit {
                Exit::Code(code) => code,
                Exit::Signal(sig) => 128 + sig, // as bash reports it
            };
            let written = match (written, failure) {
                (Ok(values), None) => values,
                (Err(e), None) => return Err(StageError::permanent(e)),
                // A failed stage keeps what it wrote: its rollback may need it.
                (Ok(values), Some(failure)) => return Err(failure.with_outputs(declared(env, c, values, code))),
                (Err(e), Some(failure)) => {
                    env.log("stderr", &format!("slipway: the outputs of the failed command are not kept: {e}"));
                    return Err(failure.with_outputs(declared(env, c, Vec::new(), code)));
                }
            };
            let missing = c.outputs.iter().find(|o| !written.iter().any(|(k, _)| k == o.as_str())).map(|o| o.value.clone());
            let outputs = declared(env, c, written, code);
            match missing {
                Some(name) => Err(StageError::permanent(format!(
                    "declared output `{name}` was not written: add `echo \"{name}=…\" >> \"$SLIPWAY_OUTPUT\"` to the command"
                ))
                .with_outputs(outputs)),
                None => Ok(outputs),
            }
        })
    }
}

/// The declared outputs among what the command wrote (the last value of a
/// name written twice), and its exit code; the rest is named and dropped.
fn declared(env: &StageEnv<'_>, c: &ShellConfig, written: Vec<(String, Value)>, exit_code: i32) -> Outputs {
    let mut outputs = Outputs::new();
    let mut ignored: Vec<String> = Vec::new();
    for (name, value) in written {
        if c.outputs.iter().any(|o| o.as_str() == name) {
            outputs.insert(name, value);
        } else if !ignored.contains(&name) {
            env.log("stderr", &format!("slipway: output `{name}` is not declared under `outputs:` and is ignored"));
            ignored.push(name);
        }
    }
    outputs.insert("exit_code".into(), Value::from(exit_code));
    outputs
}

impl Run {
    /// Runs the command on every host of the role, `concurrency` at a time (default
    /// all); the stage fails, naming them, if any host fails.
    async fn on_hosts(&self, env: &StageEnv<'_>, c: &ShellConfig, role: &str) -> Result<Outputs, StageError> {
        let hosts = env.hosts(role);
        let earlier = self.earlier.take(&env.idempotency_key);
        let session = self.fleet.session();
        let limit = c.concurrency.map_or(hosts.len(), |n| n.0 as usize);
        let results = run_limited(
            hosts.len(),
            limit,
            |i| match earlier.get(&hosts[i].name) {
                Some(done) => {
                    env.log("stdout", &format!("[{}] succeeded in an earlier attempt: not run again", done.name));
                    let done = done.clone();
                    Box::pin(async move { done })
                }
                None => Box::pin(on_host(env, c, &session, &hosts[i])),
            },
            |_, _| !env.is_cancelled(),
        )
        .await;
        let results: Vec<HostResult> =
            results.into_iter().zip(&hosts).map(|(r, h)| r.unwrap_or_else(|| HostResult::not_run(&h.name))).collect();
        if env.is_cancelled() {
            return Err(StageError::permanent("stopped: the run was interrupted"));
        }
        let failed: Vec<&HostResult> = results.iter().filter(|r| r.failed()).collect();
        if !failed.is_empty() {
            self.earlier.keep(&env.idempotency_key, &results);
            let names = failed.iter().map(|r| r.brief()).collect::<Vec<_>>().join(", ");
            let message = format!("{} of {} hosts failed: {names}", failed.len(), results.len());
            // Retried only when every failure may pass: then only those hosts run again.
            let error = if failed.iter().all(|r| r.transient) { StageError::transient(message) } else { StageError::permanent(message) };
            // How each host ended: what a rollback after it needs to know.
            let hosts = Value::Array(results.iter().map(HostResult::to_json).collect());
            return Err(error.with_outputs(Outputs::from_iter([("hosts".to_owned(), hosts)])));
        }
        let mut outputs = Outputs::new();
        for name in &c.outputs {
            // Every host wrote it (checked per host): the role's first host gives the stage's value.
            let value = results.first().and_then(|r| r.values.iter().rev().find(|(k, _)| k == name.as_str())).map(|(_, v)| v.clone());
            outputs.insert(name.value.clone(), Value::String(value.unwrap_or_default()));
        }
        outputs.insert("exit_code".into(), Value::from(0));
        outputs.insert("hosts".into(), Value::Array(results.iter().map(HostResult::to_json).collect()));
        Ok(outputs)
    }
}

/// One host's run: the command, then (when outputs are declared) the file it wrote them to.
async fn on_host(env: &StageEnv<'_>, c: &ShellConfig, session: &Session, host: &HostInfo) -> HostResult {
    let started = std::time::Instant::now();
    let ran = async {
        let mut job = host_job(env, c, host)?;
        job.env.extend([
            ("SLIPWAY_RUN_ID".to_owned(), env.run_id.to_owned()),
            ("SLIPWAY_STAGE".to_owned(), env.stage.id.value.clone()),
            ("SLIPWAY_IDEMPOTENCY_KEY".to_owned(), env.idempotency_key.clone()),
            ("SLIPWAY_HOST".to_owned(), host.name.clone()),
        ]);
        // The host's own temporary folder, under a name nobody can guess, created for this user only.
        let file = format!(
            "\"${{TMPDIR:-/tmp}}/slipway-{:016x}{:016x}.out\"",
            slipway_engine::runid::random_u64(),
            slipway_engine::runid::random_u64()
        );
        if !c.outputs.is_empty() {
            job.script = format!("export SLIPWAY_OUTPUT={file}\n(umask 077 && : > \"$SLIPWAY_OUTPUT\")\n{}", job.script);
        }
        let transport = session.open(env, host)?;
        let done = transport.exec(env, &job).await?;
        let mut values = Vec::new();
        if !c.outputs.is_empty() {
            let read = Job { script: format!("cat -- {file}\nrm -f -- {file}"), capture: true, ..Job::default() };
            let written = transport.exec(env, &read).await?;
            if matches!(done.exit, Exit::Code(0)) {
                let text = String::from_utf8(written.stdout).map_err(|_| {
                    StageError::permanent("`$SLIPWAY_OUTPUT` holds bytes that are not UTF-8 text: encode binary values, e.g. with base64")
                })?;
                values = parse_output_file(&text).map_err(StageError::permanent)?;
                if let Some(missing) = c.outputs.iter().find(|o| !values.iter().any(|(k, _)| k == o.as_str())) {
                    return Err(StageError::permanent(format!(
                        "declared output `{}` was not written: add `echo \"{}=…\" >> \"$SLIPWAY_OUTPUT\"` to the command",
                        missing.value, missing.value
                    )));
                }
            }
        }
        Ok::<_, StageError>((done.exit, values))
    }
    .await;
    let mut result = HostResult::not_run(&host.name);
    result.duration_ms = started.elapsed().as_millis() as u64;
    match ran {
        Ok((Exit::Code(0), values)) => (result.status, result.exit_code, result.transient, result.values) = ("ok", Some(0), false, values),
        Ok((Exit::Code(code), _)) => {
            (result.status, result.exit_code) = ("failed", Some(code));
            result.transient = c.retry_on_exit_codes.matches(code);
        }
        Ok((Exit::Signal(sig), _)) => {
            (result.status, result.transient) = ("failed", false);
            result.error = Some(format!("killed by signal {sig}"));
        }
        Err(e) => {
            result.transient = e.class == ErrorClass::Transient;
            result.status = if result.transient { "unreachable" } else { "error" };
            result.error = Some(e.message);
        }
    }
    result.log(env);
    result
}
