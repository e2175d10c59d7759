//! Checking that what a plan states for sure is what the run does: every
//! concrete HTTP effect matches a request a stand-in recorded, and every
//! concrete command effect was given to `bash` on the host the plan names, with
//! the environment and working folder the plan states.
//!
//! Commands are seen through a recording `bash` first on `PATH` (for local
//! commands, and through sshd's `SetEnv PATH` for the test fleet): it writes
//! down the host, folder, environment and script of each session, then hands
//! the script to the real `/bin/bash` unchanged.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::standin::{Recorded, percent_decode};

/// Whether a plan's value is one it states for sure: not a placeholder for what
/// only the run knows, not a template shown as written, not a masked secret.
pub fn concrete(text: &str) -> bool {
    !["known after run", "(decided at run time)", "***", "<", "%3C"].iter().any(|p| text.contains(p))
}

/// Like [`concrete`] for a command, where `<` is also shell redirection: only
/// a placeholder (`<release>`, `<stages.x.outputs.y: known after run>`) counts.
fn concrete_command(text: &str) -> bool {
    let placeholder = text.match_indices('<').any(|(i, _)| {
        let rest = &text[i + 1..];
        rest.starts_with(|c: char| c.is_ascii_alphabetic()) && rest.find('>').is_some_and(|end| !rest[..end].contains(['\n', '<', ' ']))
            || rest.contains("known after run>")
    });
    !placeholder && !["(decided at run time)", "***"].iter().any(|p| text.contains(p))
}

/// Every concrete leaf of `planned` is at the same place in `sent`.
pub fn agrees(planned: &Value, sent: &Value) -> bool {
    match (planned, sent) {
        (Value::Object(p), Value::Object(s)) => p.iter().all(|(k, v)| s.get(k).is_some_and(|sv| agrees(v, sv))),
        // A list the plan shows with one placeholder item stands for any list.
        (Value::Array(p), Value::Array(s)) => {
            p.len() == s.len() && p.iter().zip(s).all(|(a, b)| agrees(a, b)) || !p.iter().all(leaves_concrete)
        }
        (Value::String(p), _) if !concrete(p) => true,
        (p, s) => p == s,
    }
}

fn leaves_concrete(v: &Value) -> bool {
    match v {
        Value::String(s) => concrete(s),
        Value::Array(a) => a.iter().all(leaves_concrete),
        Value::Object(o) => o.values().all(leaves_concrete),
        _ => true,
    }
}

/// Each of the plan's HTTP effects to a stand-in matches a request of the
/// run: its method, its path where the URL is concrete, and every concrete
/// part of its JSON body. `stand_ins` are the stand-ins' base URLs; an effect
/// with a concrete URL elsewhere (a health check of the app) is not compared.
/// Returns how many effects were compared.
pub fn check_http(plan: &Value, sent: &[Recorded], stand_ins: &[String]) -> usize {
    let mut checked = 0;
    for (stage, effect) in effects(plan, "http") {
        let (method, url) = (effect["method"].as_str().unwrap_or_default(), effect["url"].as_str().unwrap_or_default());
        let at_stand_in = stand_ins.iter().any(|base| url.strip_prefix(base.as_str()).is_some_and(|rest| rest.starts_with(['/', '?'])));
        if concrete(url) && !at_stand_in {
            continue;
        }
        let path = url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]));
        let body: Option<Value> = effect["body"].as_str().and_then(|b| serde_json::from_str(b).ok());
        let matches = sent.iter().any(|r| {
            r.method == method
                && (!concrete(url) || path.is_some_and(|p| percent_decode(&r.path) == percent_decode(p)))
                && body.as_ref().is_none_or(|b| r.json().is_some_and(|rb| agrees(b, &rb)))
        });
        assert!(matches, "stage {stage}: the plan states {method} {url} {body:?}, which no request of the run matches");
        checked += 1;
    }
    checked
}

fn effects<'a>(plan: &'a Value, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
    plan["stages"].as_array().into_iter().flatten().flat_map(move |stage| {
        let id = stage["id"].as_str().unwrap_or_default();
        stage["effects"].as_array().into_iter().flatten().filter(move |e| e["type"] == kind).map(move |e| (id, e))
    })
}

/// One `bash` session the recorder saw.
#[derive(Debug)]
pub struct Session {
    /// `SLIPWAY_HOST`, else the fleet host's name, else `local`.
    pub host: String,
    pub cwd: String,
    /// On this machine, not through the test fleet's sshd.
    pub local: bool,
    /// `env`'s output, one `NAME=value` per line.
    pub env: String,
    /// What bash read on stdin, then its arguments.
    pub script: String,
}

impl Session {
    fn has_env(&self, name: &str, value: &str) -> bool {
        let plain = format!("{name}={value}");
        self.env.lines().any(|l| l == plain)
            || [format!("export {plain}\n"), format!("export {name}='{value}'\n")].iter().any(|e| self.script.contains(e.as_str()))
    }

    fn runs_in(&self, dir: &str) -> bool {
        self.cwd == dir || [format!("cd -- {dir}\n"), format!("cd -- '{dir}'\n")].iter().any(|c| self.script.contains(c.as_str()))
    }
}

/// The recording `bash`: put [`Recorder::bin`] first on `PATH`.
pub struct Recorder {
    dir: PathBuf,
}

impl Recorder {
    pub fn new(dir: &Path) -> Recorder {
        let sessions = dir.join("sessions");
        std::fs::create_dir_all(&sessions).expect("sessions folder");
        std::fs::create_dir_all(dir.join("bin")).expect("bin folder");
        // tee runs beside bash, not in front of it: an ssh session's stdin stays
        // open until the command ends, and the session must end when bash does.
        // (A background command's stdin is /dev/null unless redirected: fd 4.)
        let shim = format!(
            "#!/bin/bash\nf={}/$$-$(date +%s%N)\n\
             {{ printf 'host=%s\\ncwd=%s\\nssh=%s\\n' \"${{SLIPWAY_HOST:-${{FLEET_HOST:-local}}}}\" \"$PWD\" \"${{FLEET_HOST:-}}\"; env; }} > \"$f.head\"\n\
             printf '%s\\n' \"$@\" > \"$f.args\"\nmkfifo \"$f.fifo\"\nexec 4<&0\ntee \"$f.script\" <&4 4<&- > \"$f.fifo\" 2>/dev/null &\n\
             exec 4<&-\nexec /bin/bash \"$@\" < \"$f.fifo\"\n",
            sessions.display()
        );
        let bash = dir.join("bin/bash");
        std::fs::write(&bash, shim).expect("recording bash");
        std::fs::set_permissions(&bash, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod the shim");
        Recorder { dir: dir.to_path_buf() }
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// `PATH` with the recorder first.
    pub fn path(&self) -> String {
        format!("{}:{}", self.bin().display(), std::env::var("PATH").unwrap_or_default())
    }

    pub fn sessions(&self) -> Vec<Session> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("sessions")).expect("sessions").flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "head") {
                continue;
            }
            let head = std::fs::read_to_string(&path).unwrap_or_default();
            // What bash read on stdin, then its arguments (`bash -c SCRIPT`).
            let script = std::fs::read_to_string(path.with_extension("script")).unwrap_or_default()
                + &std::fs::read_to_string(path.with_extension("args")).unwrap_or_default();
            let mut lines = head.splitn(4, '\n');
            let host = lines.next().unwrap_or_default().trim_start_matches("host=").to_owned();
            let cwd = lines.next().unwrap_or_default().trim_start_matches("cwd=").to_owned();
            let local = lines.next().unwrap_or_default() == "ssh=";
            out.push(Session { host, cwd, local, env: lines.next().unwrap_or_default().to_owned(), script });
        }
        out
    }
}

/// Each of the plan's command effects with a concrete command was given to
/// `bash` on every host it names, with each concrete variable and working
/// folder the plan states. Returns how many (effect, host) pairs were compared.
pub fn check_commands(plan: &Value, sessions: &[Session]) -> usize {
    let mut checked = 0;
    for (stage, effect) in effects(plan, "command") {
        let command = effect["command"].as_str().unwrap_or_default();
        if !concrete_command(command) {
            continue;
        }
        let env: Vec<(&str, &str)> = effect["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p[0].as_str()?, p[1].as_str()?)))
            .filter(|(_, v)| concrete(v))
            .collect();
        let workdir = effect["workdir"].as_str().filter(|w| concrete(w));
        for host in effect["on"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            // `local` in a plan is this machine: a hook a deploy runs here about a host says which in SLIPWAY_HOST.
            let ran = sessions.iter().any(|s| {
                (s.host == host || host == "local" && s.local)
                    && s.script.contains(command.trim_end())
                    && env.iter().all(|(k, v)| s.has_env(k, v))
                    && workdir.is_none_or(|w| s.runs_in(w))
            });
            assert!(
                ran,
                "stage {stage}: the plan states this command on {host} with {env:?} in {workdir:?}, which no session there ran:\n{command}\n\
                 sessions on {host}: {:#?}",
                sessions.iter().filter(|s| s.host == host || host == "local" && s.local).map(|s| (&s.cwd, &s.script)).collect::<Vec<_>>()
            );
            checked += 1;
        }
    }
    checked
}

/// `pipelines/local-demo.yaml` calls no service: its plan is commands, each
/// compared with what its run gave `bash`.
#[test]
fn the_local_demos_plan_states_what_its_run_runs() {
    let sb = crate::sandbox::Sandbox::new("demo-plan-vs-run");
    let recorder = Recorder::new(&sb.path("recorder"));
    let demo = crate::support::root().join("pipelines/local-demo.yaml");
    let (state, workdir) = (sb.path(".slipway"), format!("workdir={}", sb.path("work").display()));
    let slipway = |cmd: &str| {
        let args = [cmd, demo.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "--format", "json", "--param", &workdir];
        sb.command(&args).env("PATH", recorder.path()).output().expect("run slipway")
    };
    let plan = slipway("plan");
    assert_eq!(plan.status.code(), Some(0), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: Value = serde_json::from_slice(&plan.stdout).expect("the plan as JSON");
    assert!(recorder.sessions().is_empty(), "planning ran a command");
    let out = slipway("run");
    assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let checked = check_commands(&plan, &recorder.sessions());
    assert!(checked >= 8, "only {checked} commands compared");
}

/// Every pipeline under `pipelines/` has its plan compared with a run: a new
/// one needs a test here, in `opentable.rs` or in `reverb.rs`.
#[test]
fn every_committed_pipeline_has_its_plan_compared_with_a_run() {
    let compared = ["local-demo.yaml", "opentable.yaml", "reverb.yaml"];
    for file in crate::support::yaml_files("pipelines") {
        let name = std::path::Path::new(&file).file_name().unwrap().to_string_lossy().into_owned();
        assert!(compared.contains(&name.as_str()), "pipelines/{name}: no test compares its plan with a run");
    }
}
