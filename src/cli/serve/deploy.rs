//! Chat runs: each is a `slipway run` child process (the same deploy lock,
//! journal, masking and exit codes as the CLI), recorded as `trigger: chat`
//! with the chat user. Its JSON events are read to post the start, the
//! changelog, the ticket and the end.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use slipway_engine::{freeze, journal, lock};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::dispatch::{Reply, describe};
use super::post::Thread;
use super::server::{Running, Server, Target, Who, locked};

fn target<'s>(server: &'s Server, alias: &str) -> Result<&'s Target, String> {
    server.targets.get(alias).ok_or_else(|| format!("there is no alias `{alias}`"))
}

/// Why a deploy cannot start now: a freeze, or a run holding its lock.
pub fn can_start(server: &Server, alias: &str, env: Option<&str>) -> Result<(), String> {
    let t = target(server, alias)?;
    if let Some(f) = freeze::current(&t.state_dir, &t.name) {
        return Err(format!("deploys of `{alias}` are {f}; `/deploy unlock {alias}` lifts it"));
    }
    let lock_name = lock::lock_name(&t.name, env);
    if let Some(r) = locked(&server.runs).iter().find(|(_, r)| r.lock_name == lock_name && r.alias == alias) {
        return Err(format!("{} is being deployed: run {} asked by {}", describe(alias, env), r.0, r.1.who));
    }
    if let Some(holder) = lock::current_holder(&t.state_dir, &lock_name) {
        return Err(format!("{} is being deployed: the deploy lock is held by {holder}", describe(alias, env)));
    }
    Ok(())
}

/// Starts a run in the background; returns its id at once.
pub fn start(server: &Arc<Server>, who: Who, alias: &str, env: Option<String>, params: Vec<(String, String)>) -> Result<String, String> {
    let t = target(server, alias)?;
    let run_id = slipway_engine::runid::new_run_id();
    let lock_name = lock::lock_name(&t.name, env.as_deref());
    {
        let mut runs = locked(&server.runs);
        // Checked again under the map's lock: two commands at once, one run.
        if let Some((id, r)) = runs.iter().find(|(_, r)| r.lock_name == lock_name && r.alias == alias) {
            return Err(format!("{} is being deployed: run {id} asked by {}", describe(alias, env.as_deref()), r.who));
        }
        let running =
            Running { alias: alias.to_owned(), environment: env.clone(), lock_name, who: who.label(), pid: None, since: Instant::now() };
        runs.insert(run_id.clone(), running);
    }
    server.metrics.started();
    let mut cmd = tokio::process::Command::new(std::env::current_exe().unwrap_or_else(|_| "slipway".into()));
    cmd.arg("run").arg(&t.file).args(["--format", "json", "--trigger", "chat", "--run-user", &who.label(), "--run-id", &run_id]);
    for (k, v) in &params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    if let Some(e) = &env {
        cmd.arg("--param").arg(format!("environment={e}"));
    }
    if let Some(dir) = &server.state.state_dir {
        cmd.arg("--state-dir").arg(dir);
    }
    // The shared state, when the server has one: in the environment, so the URL's
    // password is not on a command line.
    if let Some(url) = &server.state.state_url {
        cmd.env("SLIPWAY_STATE_URL", url);
    }
    // Its own process group: a Ctrl-C meant for the server does not stop a deploy halfway.
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let server = server.clone();
    let id = run_id.clone();
    let what = describe(alias, env.as_deref());
    tokio::spawn(async move {
        tracing::info!(run = id, user = who.label(), what, "chat run starting");
        let status = watch(&server, cmd, &id, who, &what).await;
        tracing::info!(run = id, status, "chat run ended");
        server.metrics.finished(&status);
        locked(&server.runs).remove(&id);
    });
    Ok(run_id)
}

/// Runs the child to its end, posting as it goes; returns the run's status.
async fn watch(server: &Server, mut cmd: tokio::process::Command, run_id: &str, who: Who, what: &str) -> String {
    let mut thread = Thread::new(who.clone());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            thread.post(server, &format!("run {run_id} of {what} could not start: {e}")).await;
            return "failed".into();
        }
    };
    if let Some(r) = locked(&server.runs).get_mut(run_id) {
        r.pid = child.id();
    }
    let mut stderr = child.stderr.take();
    let err_task = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.take(64 * 1024).read_to_string(&mut text).await;
        }
        text
    });
    let threaded = thread.threaded(server);
    let (mut started, mut status, mut refused) = (false, "failed".to_owned(), Vec::new());
    let mut notes: Vec<String> = Vec::new();
    if let Some(out) = child.stdout.take() {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
            match event["event"].as_str() {
                Some("run_started") => {
                    started = true;
                    thread.post(server, &format!("run {run_id} started: {what}, asked by {}", who.label())).await;
                }
                Some("stage_finished") => {
                    for note in notes_of(&event) {
                        if threaded { thread.post(server, &note).await } else { notes.push(note) }
                    }
                }
                Some("run_finished") => {
                    status = event["status"].as_str().unwrap_or("failed").to_owned();
                    let secs = event["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
                    let mut text = format!("run {run_id} {status}: {what} in {secs:.1}s");
                    for n in notes.drain(..) {
                        text.push('\n');
                        text.push_str(&n);
                    }
                    thread.post(server, &text).await;
                }
                _ => {
                    if let Some(ds) = event["diagnostics"].as_array() {
                        refused.extend(ds.iter().filter_map(|d| d["message"].as_str().map(str::to_owned)));
                    }
                }
            }
        }
    }
    let code = child.wait().await.ok().and_then(|s| s.code());
    // Reaped: its pid may now be anyone's, so `cancel` must not signal it.
    if let Some(r) = locked(&server.runs).get_mut(run_id) {
        r.pid = None;
    }
    let stderr = err_task.await.unwrap_or_default();
    if !started {
        let why =
            if refused.is_empty() { stderr.lines().last().unwrap_or("it ended before it began").to_owned() } else { refused.join("; ") };
        thread.post(server, &format!("run {run_id} of {what} did not start (exit {}): {why}", code.unwrap_or(-1))).await;
        return "refused".into();
    }
    status
}

/// The lines a finished stage adds to the thread: a changelog's summary, a ticket's key.
fn notes_of(event: &Value) -> Vec<String> {
    let outputs = &event["outputs"];
    let mut out = Vec::new();
    if let (Some(count), Some(text)) = (outputs["count"].as_u64(), outputs["text"].as_str()) {
        let lines: Vec<&str> = text.lines().take(10).collect();
        let more = if count as usize > lines.len() { format!("\n… and {} more", count as usize - lines.len()) } else { String::new() };
        out.push(format!("changelog: {count} commit(s)\n{}{more}", lines.join("\n")));
    }
    let key =
        outputs["ticket_key"].as_str().or(outputs["ticket"].as_str()).or_else(|| outputs["url"].as_str().and(outputs["key"].as_str()));
    if let Some(key) = key {
        let url = outputs["url"].as_str().map(|u| format!(" ({u})")).unwrap_or_default();
        out.push(format!("ticket: {key}{url}"));
    }
    out
}

/// `/deploy plan`: the child's `slipway plan`, secrets masked by it.
pub async fn plan(server: &Server, alias: &str, env: Option<&str>, params: &[(String, String)]) -> String {
    let Ok(t) = target(server, alias) else { return format!("there is no alias `{alias}`") };
    let mut cmd = tokio::process::Command::new(std::env::current_exe().unwrap_or_else(|_| "slipway".into()));
    cmd.arg("plan").arg(&t.file);
    for (k, v) in params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    if let Some(e) = env {
        cmd.arg("--param").arg(format!("environment={e}"));
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    // Slack waits 3 s for an answer.
    match tokio::time::timeout(std::time::Duration::from_millis(2500), cmd.output()).await {
        Ok(Ok(out)) => {
            let text = String::from_utf8_lossy(if out.status.success() { &out.stdout } else { &out.stderr }).into_owned();
            let text: String = text.chars().take(2800).collect();
            format!("plan of {}:\n```\n{text}\n```", describe(alias, env))
        }
        Ok(Err(e)) => format!("the plan could not run: {e}"),
        Err(_) => "the plan takes longer than Slack waits: run `slipway plan` from a terminal".into(),
    }
}

pub fn status(server: &Server) -> String {
    let runs = locked(&server.runs);
    let mut lines: Vec<String> = runs
        .iter()
        .map(|(id, r)| {
            format!(
                "run {id}: {} asked by {}, running for {}s",
                describe(&r.alias, r.environment.as_deref()),
                r.who,
                r.since.elapsed().as_secs()
            )
        })
        .collect();
    for (alias, t) in &server.targets {
        if let Some(f) = freeze::current(&t.state_dir, &t.name) {
            lines.push(format!("`{alias}` is {f}"));
        }
        // Runs from the CLI or CI hold the same locks.
        let envs = server.config.alias(alias).map(|a| a.environment_names()).unwrap_or_default();
        let envs: Vec<Option<&str>> = if envs.is_empty() { vec![None] } else { envs.into_iter().map(Some).collect() };
        for env in envs {
            let name = lock::lock_name(&t.name, env);
            if runs.values().any(|r| r.lock_name == name) {
                continue;
            }
            if let Some(holder) = lock::current_holder(&t.state_dir, &name) {
                lines.push(format!("{}: the deploy lock is held by {holder}", describe(alias, env)));
            }
        }
    }
    if lines.is_empty() { "no deploys running, nothing frozen".into() } else { lines.join("\n") }
}

pub fn cancel(server: &Server, who: &Who, run: &str) -> String {
    let Some(r) = locked(&server.runs).get(run).cloned() else {
        return format!("run {run} is not running from chat (`/deploy status` lists them)");
    };
    let req = slipway_core::chatops::Request {
        user: &who.user_id,
        channel: &who.channel,
        alias: &r.alias,
        environment: r.environment.as_deref(),
    };
    if let Err(refusal) = server.config.decide(&req) {
        return format!("you cannot cancel run {run}: {refusal}");
    }
    match r.pid {
        // SIGTERM: the run cancels its stages, and `always` stages still run.
        Some(pid) => {
            // SAFETY: a plain kill(2) of the child this server started and has not
            // reaped yet (the pid is cleared once it is), so the pid is still its.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            format!("cancelling run {run} ({}), asked by {}", describe(&r.alias, r.environment.as_deref()), who.label())
        }
        None => format!("run {run} is starting: try again in a moment"),
    }
}

pub fn freeze(server: &Server, who: &Who, alias: &str, reason: &str) -> Reply {
    let Ok(t) = target(server, alias) else { return Reply::private(format!("there is no alias `{alias}`")) };
    let record = freeze::Freeze {
        by: who.label(),
        reason: reason.to_owned(),
        since: slipway_engine::runid::rfc3339(slipway_engine::runid::now_secs()),
    };
    match freeze::freeze(&t.state_dir, &t.name, &record) {
        Ok(()) => Reply {
            text: format!("froze deploys of `{alias}`: {reason} (`/deploy unlock {alias}` lifts it)"),
            public: true,
            ..Reply::default()
        },
        Err(e) => Reply::private(format!("cannot freeze `{alias}`: {e}")),
    }
}

pub fn thaw(server: &Server, who: &Who, alias: &str) -> Reply {
    let Ok(t) = target(server, alias) else { return Reply::private(format!("there is no alias `{alias}`")) };
    match freeze::thaw(&t.state_dir, &t.name) {
        Ok(Some(f)) => Reply { text: format!("{} lifted the freeze on `{alias}` ({f})", who.label()), public: true, ..Reply::default() },
        Ok(None) => Reply::private(format!("`{alias}` is not frozen")),
        Err(e) => Reply::private(format!("cannot lift the freeze on `{alias}`: {e}")),
    }
}

pub fn history(server: &Server, alias: &str) -> String {
    let Ok(t) = target(server, alias) else { return format!("there is no alias `{alias}`") };
    let runs: Vec<String> = journal::list_runs(Path::new(&t.state_dir))
        .into_iter()
        .filter(|r| r.pipeline == t.name)
        .take(10)
        .map(|r| format!("{} {} {} by {} ({})", r.started_at, r.run_id, r.status, r.user, r.stages))
        .collect();
    if runs.is_empty() { format!("no runs of `{alias}` yet") } else { format!("last runs of `{alias}`:\n{}", runs.join("\n")) }
}
