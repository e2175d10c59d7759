//! `migrate`: once, on one host, under that host's lock, against real `sshd`
//! hosts (see `fleet_harness`) and the local transport. "Once" is tested where
//! it can break: a retry after the connection is lost past the command, a
//! resume after `kill -9` past the command, and runs that race for the lock.

use std::io::BufRead;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fleet_harness::Fleet;
use crate::sandbox::{Sandbox, events, of, wait_for};

/// The fleet, or `None` (the test then passes vacuously, saying why) where sshd cannot run.
fn fleet(n: usize) -> Option<Fleet> {
    if let Some(why) = Fleet::unavailable() {
        eprintln!("skipped: {why}");
        return None;
    }
    Some(Fleet::start("web", n))
}

fn pipeline(fleet: &Fleet, name: &str, stages: &str) -> String {
    format!("version: 1\nname: {name}\n{}hosts:\n{}stages:\n{stages}", fleet.ssh_block(), fleet.role("web"))
}

fn finished<'a>(evs: &'a [Value], stage: &str) -> &'a Value {
    of(evs, "stage_finished", stage).first().copied().unwrap_or_else(|| panic!("no stage_finished for {stage}: {evs:?}"))
}

fn logs(evs: &[Value], stage: &str) -> Vec<String> {
    of(evs, "log", stage).iter().map(|e| e["line"].as_str().unwrap_or_default().to_owned()).collect()
}

/// What a host's state folder records as migrated.
fn recorded(home: &std::path::Path) -> String {
    std::fs::read_to_string(home.join(".local/state/slipway/migrations.done")).unwrap_or_default()
}

/// The host stops taking connections and this sandbox's ssh masters can no
/// longer be reached: commands already running on it carry on, new ones fail
/// to connect (a lost network, as the next command sees it).
fn cut_off(fleet: &mut Fleet, host: &str, sb: &Sandbox) {
    fleet.host_mut(host).stop();
    for socket in std::fs::read_dir(sb.path(".slipway/ssh")).unwrap().flatten() {
        std::fs::remove_file(socket.path()).unwrap();
    }
}

/// Reads a run's JSON events as they come; `on(event)` is called for each.
fn follow(child: &mut Child, mut on: impl FnMut(&Value)) -> Vec<Value> {
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut evs = Vec::new();
    for line in stdout.lines().map_while(Result::ok) {
        let Ok(ev) = serde_json::from_str::<Value>(&line) else { continue };
        on(&ev);
        evs.push(ev);
    }
    evs
}

/// `slipway resume ID`, again while the crashed run's commands still end (exit 75).
fn resume(sb: &Sandbox, id: &str, home: Option<&std::path::Path>) -> Output {
    let started = Instant::now();
    loop {
        let mut cmd = sb.command(&["resume", id, "--format", "json"]);
        if let Some(home) = home {
            cmd.env("HOME", home).env_remove("XDG_STATE_HOME");
        }
        let out = cmd.output().unwrap();
        if out.status.code() != Some(75) || started.elapsed() > Duration::from_secs(20) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

const COUNTED: &str = "    command: echo run >> \"$HOME/runs\"; touch \"$HOME/started\"; sleep 1\n";

#[test]
fn a_retry_after_the_connection_is_lost_past_the_command_does_not_migrate_again() {
    let Some(mut fleet) = fleet(2) else { return };
    let sb = Sandbox::new("migrate-retry");
    let stages = format!("  migrate:\n    kind: migrate\n    hosts: web\n    retry: {{ attempts: 3, backoff: 1s }}\n{COUNTED}");
    sb.write("p.yaml", &pipeline(&fleet, "app", &stages));
    let mut child = sb.spawn(&["run", "p.yaml", "--format", "json"]);
    wait_for(&fleet.host("web-1").root.join("started"), "the migration to start on web-1");
    // The command finishes on the host; reading what it did then fails to connect.
    cut_off(&mut fleet, "web-1", &sb);
    let mut first_failure = None;
    let evs = follow(&mut child, |ev| {
        if ev["event"] == "attempt_failed" && ev["attempt"] == 1 {
            first_failure = Some(ev.clone());
            assert!(fleet.host_mut("web-1").resume(), "web-1 came back");
        }
    });
    assert!(child.wait().unwrap().success(), "{evs:?}");
    let failure = first_failure.expect("the first attempt failed");
    assert_eq!(failure["transient"], true, "{failure}");
    let done = finished(&evs, "migrate");
    assert_eq!((done["status"].as_str(), done["attempts"].as_u64()), (Some("succeeded"), Some(2)), "{done}");
    assert_eq!(done["outputs"]["host"], "web-1", "the role's first host by default");
    assert_eq!(done["outputs"]["ran"], false, "the retry found it done");
    assert_eq!(fleet.host("web-1").read("runs"), "run\n", "the migration ran once");
    assert_eq!(fleet.host("web-2").read("runs"), "", "and only on web-1");
    let lines = logs(&evs, "migrate");
    assert!(lines.iter().any(|l| l.starts_with("[web-1] already migrated by an earlier attempt")), "{lines:?}");
    let id = &sb.run_ids()[0];
    assert!(recorded(&fleet.host("web-1").root).starts_with(&format!("{id}:migrate\tapp\t")), "the key is recorded on the host");
}

#[test]
fn a_resume_after_kill_9_past_the_command_does_not_migrate_again() {
    let Some(mut fleet) = fleet(1) else { return };
    let sb = Sandbox::new("migrate-crash");
    // The first attempt's verdict cannot be read; the run is killed while it waits to retry.
    let stages = format!("  migrate:\n    kind: migrate\n    hosts: web\n    retry: {{ attempts: 3, backoff: 60s }}\n{COUNTED}");
    sb.write("p.yaml", &pipeline(&fleet, "app", &stages));
    let mut child = sb.spawn(&["run", "p.yaml", "--format", "json"]);
    wait_for(&fleet.host("web-1").root.join("started"), "the migration to start");
    cut_off(&mut fleet, "web-1", &sb);
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines().map_while(Result::ok) {
        if line.contains("\"attempt_failed\"") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(recorded(&fleet.host("web-1").root).lines().count(), 1, "the command finished and was recorded");
    assert!(fleet.host_mut("web-1").resume());
    let id = sb.run_ids()[0].clone();
    let out = resume(&sb, &id, None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let evs = events(&out.stdout);
    assert_eq!(finished(&evs, "migrate")["outputs"], json!({ "host": "web-1", "ran": false, "pending": "" }));
    assert_eq!(fleet.host("web-1").read("runs"), "run\n", "the migration ran once");
}

#[test]
fn runs_that_race_never_migrate_at_once() {
    let Some(fleet) = fleet(1) else { return };
    let sb = Sandbox::new("migrate-race");
    // Each run logs its start and end; a run that found the lock busy waits.
    let stages = "  migrate:\n    kind: migrate\n    hosts: web\n    env: { WHO: '{{ pipeline.name }}/{{ params.environment }}' }\n    command: |\n      echo \"start $WHO $(date +%s%N)\" >> \"$HOME/log\"\n      sleep 1\n      echo \"end $WHO $(date +%s%N)\" >> \"$HOME/log\"\n";
    let params = "params:\n  environment: { required: true }\n";
    sb.write("a.yaml", &pipeline(&fleet, "app", stages).replace("hosts:\n", &format!("{params}hosts:\n")));
    sb.write("b.yaml", &pipeline(&fleet, "other", stages).replace("hosts:\n", &format!("{params}hosts:\n")));
    // Two environments of one pipeline (two deploy locks), and another pipeline.
    let children: Vec<Child> = [("a.yaml", "staging"), ("a.yaml", "production"), ("b.yaml", "production")]
        .iter()
        .map(|(file, environment)| sb.spawn(&["run", file, "--format", "json", "--param", &format!("environment={environment}")]))
        .collect();
    let outs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let mut waited = 0;
    for out in &outs {
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
        let evs = events(&out.stdout);
        assert_eq!(finished(&evs, "migrate")["outputs"]["ran"], true, "each run has its own key: each migrates");
        let lines = logs(&evs, "migrate");
        if lines.iter().any(|l| l.starts_with("[web-1] slipway: waiting up to 5m for the migration lock, held by pipeline ")) {
            waited += 1;
        }
    }
    assert!(waited >= 1, "the runs met at the lock");
    let log = fleet.host("web-1").read("log");
    let entries: Vec<(&str, &str, u128)> = log
        .lines()
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            (parts[0], parts[1], parts[2].parse().unwrap())
        })
        .collect();
    assert_eq!(entries.len(), 6, "{log}");
    for (i, pair) in entries.chunks(2).enumerate() {
        assert_eq!((pair[0].0, pair[1].0), ("start", "end"), "a migration started inside another:\n{log}");
        assert_eq!(pair[0].1, pair[1].1, "interleaved:\n{log}");
        if i > 0 {
            assert!(pair[0].2 >= entries[i * 2 - 1].2, "started before the previous one ended:\n{log}");
        }
    }
    let mut who: Vec<&str> = entries.iter().step_by(2).map(|e| e.1).collect();
    who.sort();
    assert_eq!(who, ["app/production", "app/staging", "other/production"]);
}

#[test]
fn host_picks_the_host_and_a_name_outside_the_role_lists_it() {
    let Some(fleet) = fleet(3) else { return };
    let sb = Sandbox::new("migrate-host");
    let stages =
        "  migrate:\n    kind: migrate\n    hosts: web\n    host: '{{ params.target }}'\n    command: echo run >> \"$HOME/runs\"\n";
    sb.write("p.yaml", &pipeline(&fleet, "app", stages).replace("hosts:\n", "params:\n  target: { default: web-2 }\nhosts:\n"));
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(finished(&events(&out.stdout), "migrate")["outputs"], json!({ "host": "web-2", "ran": true, "pending": "" }));
    let runs: Vec<String> = fleet.hosts.iter().map(|h| h.read("runs")).collect();
    assert_eq!(runs, ["", "run\n", ""]);

    let out = sb.run(&["run", "p.yaml", "--format", "json", "--param", "target=web-9"]);
    assert_eq!(out.status.code(), Some(1));
    let done = finished(&events(&out.stdout), "migrate").clone();
    assert_eq!(
        done["reason"],
        "`host` names `web-9`, which is not a host of role `web` (its hosts: web-1, web-2, web-3): name one of them"
    );
    assert_eq!(done["attempts"], 1, "not retried");
}

#[test]
fn a_host_written_out_must_be_in_the_role() {
    let sb = Sandbox::new("migrate-validate");
    sb.write(
        "p.yaml",
        "version: 1\nname: app\nhosts:\n  web: [web-1, web-2]\nstages:\n  migrate: { kind: migrate, hosts: web, host: web-3, command: 'true' }\n",
    );
    let out = sb.run(&["validate", "--format", "json", "p.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &json["diagnostics"][0];
    assert_eq!((d["code"].as_str(), d["message"].as_str()), (Some("invalid-value"), Some("`web-3` is not a host of role `web`")), "{json}");
    assert!(d["help"].as_str().unwrap().contains("web-1"), "{d}");
}

#[test]
fn plan_live_reads_runs_the_check_command_only() {
    let Some(fleet) = fleet(2) else { return };
    let sb = Sandbox::new("migrate-check");
    std::fs::create_dir_all(fleet.host("web-2").root.join("app")).unwrap();
    // (sshd starts commands in the user's home from passwd, not in the harness's `HOME`)
    let workdir = fleet.host("web-2").root.join("app");
    let stages = "  migrate:\n    kind: migrate\n    hosts: web\n    host: web-2\n    workdir: WORKDIR\n    env: { RAILS_ENV: production }\n    command: touch \"$HOME/migrated\"\n    check_command: |\n      touch \"$HOME/checked\"\n      echo \"$RAILS_ENV in $(basename \"$PWD\")\"\n      echo \"down 20240101000000 AddUsers\"\n";
    sb.write("p.yaml", &pipeline(&fleet, "app", &stages.replace("WORKDIR", &workdir.display().to_string())));
    let out = sb.run(&["plan", "p.yaml", "--live-reads", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stage = &json["stages"][0];
    assert_eq!(stage["live"], true, "{stage}");
    assert_eq!(stage["outputs"], json!({ "host": "web-2", "ran": false, "pending": "production in app\ndown 20240101000000 AddUsers" }));
    let web2 = &fleet.host("web-2").root;
    assert!(web2.join("checked").exists() && !web2.join("migrated").exists(), "the check ran, the migration did not");
    assert!(!web2.join(".local/state/slipway").exists(), "a plan takes no lock and records nothing");
    assert!(!fleet.host("web-1").root.join("checked").exists());

    let human = String::from_utf8_lossy(&sb.run(&["plan", "p.yaml"]).stdout).into_owned();
    assert!(human.contains("once, on web-2 only, holding the host's migration lock"), "{human}");
    assert!(human.contains("`plan --live-reads` runs its `check_command` there"), "{human}");
}

/// A pipeline with one local host; `HOME` (where the lock and the record live) is the sandbox.
fn local(sb: &Sandbox, stage: &str) {
    std::fs::create_dir_all(sb.path("app")).unwrap();
    sb.write(
        "p.yaml",
        &format!("version: 1\nname: here\nhosts:\n  db:\n    - {{ name: here-1, transport: local }}\nstages:\n  migrate:\n    kind: migrate\n    hosts: db\n{stage}"),
    );
}

fn run_local(sb: &Sandbox) -> Output {
    sb.command(&["run", "p.yaml", "--format", "json"]).env("HOME", &sb.dir).env_remove("XDG_STATE_HOME").output().unwrap()
}

#[test]
fn a_local_host_migrates_in_its_workdir_and_a_failed_command_is_not_recorded() {
    let sb = Sandbox::new("migrate-local");
    local(
        &sb,
        "    workdir: app\n    env: { RAILS_ENV: production }\n    command: echo \"$RAILS_ENV in $(basename \"$PWD\")\" >> ../runs\n",
    );
    let out = run_local(&sb);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let evs = events(&out.stdout);
    assert_eq!(finished(&evs, "migrate")["outputs"], json!({ "host": "here-1", "ran": true, "pending": "" }));
    assert!(logs(&evs, "migrate").iter().any(|l| l.starts_with("[here-1] migrated; recorded on the host as done")));
    assert_eq!(sb.read("runs"), "production in app\n");
    assert_eq!(run_local(&sb).status.code(), Some(0));
    assert_eq!(sb.read("runs"), "production in app\n".repeat(2), "another run has its own key, and migrates");

    local(&sb, "    retry: { attempts: 3, backoff: 10ms }\n    command: echo x >> ../failed; exit 3\n    workdir: app\n");
    let out = run_local(&sb);
    assert_eq!(out.status.code(), Some(1));
    let done = finished(&events(&out.stdout), "migrate").clone();
    assert_eq!((done["status"].as_str(), done["attempts"].as_u64()), (Some("failed"), Some(1)), "a failed command is not retried");
    assert_eq!(
        done["reason"],
        "the migration failed on here-1: the command exited with status 3 (nothing recorded: the next attempt or run migrates again)"
    );
    assert_eq!(recorded(&sb.dir).lines().count(), 2, "only the migrations that succeeded are recorded");
}

#[test]
fn a_resume_after_kill_9_while_a_local_migration_runs_does_not_migrate_again() {
    // The local command outlives the crashed run, finishes, and is recorded.
    let sb = Sandbox::new("migrate-local-crash");
    local(&sb, "    command: touch started; sleep 1; echo run >> runs\n");
    let child = sb.command(&["run", "p.yaml"]).env("HOME", &sb.dir).env_remove("XDG_STATE_HOME").spawn().unwrap();
    wait_for(&sb.path("started"), "the migration to start");
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();
    let out = resume(&sb, &sb.run_ids()[0], Some(&sb.dir));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(finished(&events(&out.stdout), "migrate")["outputs"]["ran"], false);
    assert_eq!(sb.read("runs"), "run\n", "the migration ran once");
}

#[test]
fn a_busy_lock_is_waited_for_at_most_lock_timeout() {
    let sb = Sandbox::new("migrate-busy");
    local(&sb, "    lock_timeout: 1s\n    command: touch migrated\n");
    let state = sb.path(".local/state/slipway");
    std::fs::create_dir_all(&state).unwrap();
    let mut held = std::process::Command::new("flock").arg(state.join("migrate.lock")).args(["sleep", "30"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let out = run_local(&sb);
    let took = started.elapsed();
    let _ = held.kill();
    let _ = held.wait();
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stdout);
    let done = finished(&evs, "migrate");
    assert_eq!(
        done["reason"],
        format!(
            "waited 1s for the migration lock on here-1 (${{XDG_STATE_HOME:-$HOME/.local/state}}/slipway/migrate.lock), held by another process: raise `lock_timeout`, or let that migration end"
        )
    );
    assert!(
        logs(&evs, "migrate").contains(&"[here-1] slipway: waiting up to 1s for the migration lock, held by another process".to_owned())
    );
    assert!(!sb.path("migrated").exists());
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(10), "{took:?}");
}
