//! Stages on hosts, against real `sshd` instances (see `fleet_harness`): `shell`
//! with `hosts:`, `converge`, the local transport, `--limit`, multiplexing.

use std::io::BufRead;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fleet_harness::Fleet;
use crate::sandbox::{Sandbox, events, of};

/// The fleet, or `None` (the test then passes vacuously, saying why) where sshd cannot run.
fn fleet(n: usize) -> Option<Fleet> {
    if let Some(why) = Fleet::unavailable() {
        eprintln!("skipped: {why}");
        return None;
    }
    Some(Fleet::start("web", n))
}

fn pipeline(fleet: &Fleet, stages: &str) -> String {
    format!("version: 1\nname: fleet\n{}hosts:\n{}stages:\n{stages}", fleet.ssh_block(), fleet.role("web"))
}

fn finished<'a>(evs: &'a [Value], stage: &str) -> &'a Value {
    of(evs, "stage_finished", stage).first().copied().unwrap_or_else(|| panic!("no stage_finished for {stage}"))
}

fn logs(evs: &[Value], stage: &str) -> Vec<String> {
    of(evs, "log", stage).iter().map(|e| e["line"].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn shell_runs_on_every_host_with_its_name_on_each_line() {
    let Some(fleet) = fleet(3) else { return };
    let sb = Sandbox::new("fleet-shell");
    let stages = "  hello:\n    kind: shell\n    hosts: web\n    env: { WHO: '{{ host.name }}' }\n    run: |\n      echo \"on $FLEET_HOST as $WHO\"\n      echo \"$SLIPWAY_HOST\" > \"$HOME/ran\"\n      echo warned >&2\n      echo \"where=$FLEET_HOST\" >> \"$SLIPWAY_OUTPUT\"\n    outputs: [where]\n";
    sb.write("p.yaml", &pipeline(&fleet, stages));
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let evs = events(&out.stdout);
    let lines = logs(&evs, "hello");
    for h in &fleet.hosts {
        assert_eq!(h.read("ran").trim(), h.name, "{} did not run the command", h.name);
        assert!(lines.contains(&format!("[{0}] on {0} as {0}", h.name)), "{lines:?}");
        assert!(lines.contains(&format!("[{}] warned", h.name)), "{lines:?}");
    }
    let done = finished(&evs, "hello");
    assert_eq!(done["outputs"]["where"], "web-1", "the role's first host gives the value");
    let hosts = done["outputs"]["hosts"].as_array().unwrap();
    assert_eq!(
        hosts.iter().map(|h| (h["name"].as_str().unwrap(), h["exit_code"].as_i64())).collect::<Vec<_>>(),
        [("web-1", Some(0)), ("web-2", Some(0)), ("web-3", Some(0))]
    );
}

#[test]
fn secrets_reach_hosts_on_stdin_never_on_a_command_line() {
    let Some(fleet) = fleet(2) else { return };
    let sb = Sandbox::new("fleet-secret");
    let secret = format!("tok-{}-s3cr3t", std::process::id());
    let stages = "  use:\n    kind: shell\n    hosts: web\n    env: { T: '{{ secrets.TOKEN }}' }\n    run: |\n      echo \"$T\" > \"$HOME/token\"\n      echo \"got $T\"\n      touch \"$HOME/started\"\n      sleep 2\n";
    let text = pipeline(&fleet, stages).replace("hosts:\n", "secrets:\n  TOKEN: { env: TOKEN }\nhosts:\n");
    sb.write("p.yaml", &text);
    let child =
        sb.command(&["run", "p.yaml", "--format", "json"]).env("TOKEN", &secret).stdout(std::process::Stdio::piped()).spawn().unwrap();
    for h in &fleet.hosts {
        crate::sandbox::wait_for(&h.root.join("started"), "the command to start on each host");
    }
    // While the commands run: no process shows the secret on its command line.
    let seen = command_lines_holding(&secret);
    let out = child.wait_with_output().unwrap();
    assert!(seen.is_empty(), "the secret is on a command line: {seen:?}");
    assert!(out.status.success());
    for h in &fleet.hosts {
        assert_eq!(h.read("token").trim(), secret, "the secret reached {}", h.name);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[web-1] got ***") && !stdout.contains(&secret), "{stdout}");
}

#[test]
fn an_unreachable_host_is_retried_and_only_it_runs_again() {
    let Some(mut fleet) = fleet(2) else { return };
    let sb = Sandbox::new("fleet-retry");
    fleet.host_mut("web-2").stop();
    let stages =
        "  count:\n    kind: shell\n    hosts: web\n    retry: { attempts: 5, backoff: 400ms }\n    run: echo x >> \"$HOME/runs\"\n";
    sb.write("p.yaml", &pipeline(&fleet, stages));
    let mut child = sb.spawn(&["run", "p.yaml", "--format", "json"]);
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut evs = Vec::new();
    for line in stdout.lines().map_while(Result::ok) {
        let Ok(ev) = serde_json::from_str::<Value>(&line) else { continue };
        if ev["event"] == "attempt_failed" && ev["attempt"] == 1 {
            assert_eq!(ev["transient"], true, "{ev}");
            assert!(ev["error"].as_str().unwrap().contains("web-2 (unreachable"), "{ev}");
            assert!(fleet.host_mut("web-2").resume(), "web-2 came back");
        }
        evs.push(ev);
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(finished(&evs, "count")["status"], "succeeded");
    assert_eq!(fleet.host("web-1").read("runs"), "x\n", "web-1 ran once: a retry runs only the hosts that failed");
    assert_eq!(fleet.host("web-2").read("runs"), "x\n");
}

#[test]
fn a_failed_command_is_not_retried_and_the_failure_names_its_host() {
    let Some(fleet) = fleet(3) else { return };
    let sb = Sandbox::new("fleet-fail");
    let stages = "  step:\n    kind: shell\n    hosts: web\n    concurrency: 1\n    retry: { attempts: 3, backoff: 10ms }\n    run: |\n      echo x >> \"$HOME/runs\"\n      if [ \"$FLEET_HOST\" = web-2 ]; then exit 3; fi\n";
    sb.write("p.yaml", &pipeline(&fleet, stages));
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let done = finished(&events(&out.stdout), "step").clone();
    assert_eq!((done["status"].as_str(), done["attempts"].as_u64()), (Some("failed"), Some(1)), "{done}");
    assert_eq!(done["reason"], "1 of 3 hosts failed: web-2 (exit 3)");
    assert!(fleet.hosts.iter().all(|h| h.read("runs") == "x\n"), "every host ran once, the others too");
}

#[test]
fn converge_reads_chef_exit_codes() {
    let Some(fleet) = fleet(4) else { return };
    let sb = Sandbox::new("fleet-chef");
    // web-2 needs a reboot; web-3's chef-client upgrades itself (213) once, then converges.
    let command = "echo run >> \"$HOME/runs\"; case {{ host.name }} in web-2) exit 35;; web-3) [ -e \"$HOME/upgraded\" ] || { touch \"$HOME/upgraded\"; exit 213; };; esac";
    let stages = format!(
        "  converge:\n    kind: converge\n    hosts: web\n    tool: chef\n    concurrency: 4\n    env: {{ ROLE: '{{{{ host.role }}}}' }}\n    command: '{}'\n  after:\n    kind: shell\n    env: {{ R: '{{{{ join stages.converge.outputs.reboot_pending }}}}' }}\n    run: echo \"$R\" > reboot\n",
        command.replace('\'', "''")
    );
    sb.write("p.yaml", &pipeline(&fleet, &stages));
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let evs = events(&out.stdout);
    let outputs = &finished(&evs, "converge")["outputs"];
    assert_eq!(outputs["succeeded"], serde_json::json!(["web-1", "web-2", "web-3", "web-4"]));
    assert_eq!(outputs["reboot_pending"], serde_json::json!(["web-2"]));
    assert_eq!(outputs["failed"], serde_json::json!([]));
    let codes: Vec<(String, Value, Value)> = outputs["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap().to_owned(), h["status"].clone(), h["exit_code"].clone()))
        .collect();
    assert_eq!(codes[1], ("web-2".into(), "reboot_pending".into(), 35.into()));
    assert_eq!(codes[2], ("web-3".into(), "ok".into(), 0.into()));
    assert_eq!(fleet.host("web-3").read("runs"), "run\nrun\n", "213 means run again, once");
    assert_eq!(fleet.host("web-1").read("runs"), "run\n");
    let lines = logs(&evs, "converge");
    assert!(lines.iter().any(|l| l == "[web-2] warning: converged, but a reboot is pending"), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("[web-2] reboot pending: exit 35 in ")), "{lines:?}");
    assert_eq!(sb.read("reboot").trim(), "web-2");
}

#[test]
fn converge_stops_after_max_failures_as_a_count_or_a_percentage() {
    let Some(fleet) = fleet(4) else { return };
    let sb = Sandbox::new("fleet-max");
    let stage = |max: &str| {
        format!(
            "  converge:\n    kind: converge\n    hosts: web\n    concurrency: 1\n    max_failures: {max}\n    command: echo x >> \"$HOME/runs-{}\"; test {{{{ host.name }}}} != web-2\n",
            max.replace(['%', '\''], "")
        )
    };
    let run = |max: &str| {
        sb.write("p.yaml", &pipeline(&fleet, &stage(max)));
        let out = sb.run(&["run", "p.yaml", "--format", "json"]);
        (out.status.code(), finished(&events(&out.stdout), "converge").clone())
    };
    let (code, done) = run("1");
    assert_eq!(code, Some(0), "{done}");
    assert_eq!(done["outputs"]["failed"], serde_json::json!(["web-2"]));
    assert_eq!(done["outputs"]["succeeded"], serde_json::json!(["web-1", "web-3", "web-4"]));
    let (code, done) = run("'25%'");
    assert_eq!(code, Some(0), "25% of 4 hosts is 1: {done}");
    let (code, done) = run("'20%'");
    assert_eq!(code, Some(1), "20% of 4 hosts rounds down to 0");
    assert_eq!(done["reason"], "1 of 4 hosts failed, more than `max_failures` (20%): web-2 (exit 1); not started: web-3, web-4");
    assert_eq!(fleet.host("web-3").read("runs-20"), "", "no host starts once too many failed");
    let (code, _) = run("0");
    assert_eq!(code, Some(1));
}

#[test]
fn local_hosts_run_here_with_the_script_on_stdin() {
    // No sshd needed: `transport: local` runs on this machine.
    let sb = Sandbox::new("fleet-local");
    std::fs::create_dir_all(sb.path("app")).unwrap();
    sb.write(
        "p.yaml",
        "version: 1\nname: local-fleet\nsecrets:\n  T: { env: TOKEN }\nhosts:\n  app:\n    - { name: app-1, transport: local }\n    - { name: app-2, transport: local }\nstages:\n  build:\n    kind: shell\n    hosts: app\n    workdir: app\n    env: { T: '{{ secrets.T }}' }\n    run: |\n      echo \"{{ host.name }} in $(basename \"$PWD\")\"\n      echo \"{{ secrets.T }}\" > /dev/null\n      read -r line || echo \"stdin is empty\"\n      touch \"{{ host.name }}.done\"\n  converge:\n    kind: converge\n    hosts: app\n    tool: puppet\n    concurrency: 2\n    command: \"exit {{#if (eq host.name 'app-1')}}2{{else}}0{{/if}}\"\n",
    );
    let out = sb.command(&["run", "p.yaml", "--format", "json"]).env("TOKEN", "local-s3cr3t").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(sb.path("app/app-1.done").exists() && sb.path("app/app-2.done").exists());
    let evs = events(&out.stdout);
    let lines = logs(&evs, "build");
    assert!(lines.contains(&"[app-1] app-1 in app".to_owned()) && lines.contains(&"[app-2] stdin is empty".to_owned()), "{lines:?}");
    assert_eq!(finished(&evs, "converge")["outputs"]["changed"], serde_json::json!(["app-1"]), "puppet's 2 means changed");
}

#[test]
fn limit_keeps_the_hosts_it_names() {
    let sb = Sandbox::new("fleet-limit");
    sb.write(
        "p.yaml",
        "version: 1\nname: limited\nhosts:\n  web:\n    - { name: web-1, transport: local }\n    - { name: web-2, transport: local }\n  worker:\n    - { name: worker-1, transport: local }\n    - { name: worker-2, transport: local }\nstages:\n  a:\n    kind: shell\n    hosts: web\n    run: touch '{{ host.name }}'\n  b:\n    kind: shell\n    hosts: worker\n    run: touch '{{ host.name }}'\n",
    );
    let out = sb.run(&["run", "p.yaml", "--limit", "web-2,work*"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let ran: Vec<bool> = ["web-1", "web-2", "worker-1", "worker-2"].iter().map(|h| sb.path(h).exists()).collect();
    assert_eq!(ran, [false, true, true, true]);
    let plan = sb.run(&["plan", "p.yaml", "--limit", "worker-1", "--format", "json"]);
    let json: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let on: Vec<&Value> =
        json["stages"].as_array().unwrap().iter().flat_map(|s| s["effects"].as_array().unwrap()).map(|e| &e["on"]).collect();
    assert_eq!(on, [&serde_json::json!(["worker-1"])], "web's stage has no host left: {json}");
    let typo = sb.run(&["run", "p.yaml", "--limit", "wbe-1"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("`wbe-1` matches no host and no role"));
}

#[test]
fn connections_are_multiplexed_and_the_next_run_reuses_them() {
    let Some(fleet) = fleet(2) else { return };
    let sb = Sandbox::new("fleet-mux");
    sb.write(
        "p.yaml",
        &pipeline(
            &fleet,
            "  a:\n    kind: shell\n    hosts: web\n    run: 'true'\n  b:\n    kind: shell\n    hosts: web\n    run: 'true'\n",
        ),
    );
    assert!(sb.run(&["run", "p.yaml"]).status.success());
    let sockets = || {
        let mut s: Vec<(String, u64)> = std::fs::read_dir(sb.path(".slipway/ssh"))
            .unwrap()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::os::unix::fs::MetadataExt::ino(&e.metadata().unwrap())))
            .collect();
        s.sort();
        s
    };
    let first = sockets();
    assert_eq!(first.len(), 2, "one master per host, for both stages: {first:?}");
    assert!(first.iter().all(|(name, _)| name.len() == 40), "{first:?}");
    assert!(sb.run(&["run", "p.yaml"]).status.success());
    assert_eq!(sockets(), first, "the second run used the same masters");
}

#[test]
fn an_unknown_host_key_is_refused_unless_accept_new() {
    let Some(fleet) = fleet(1) else { return };
    let sb = Sandbox::new("fleet-hostkey");
    let empty = sb.write("known_hosts", "");
    let text = pipeline(&fleet, "  a:\n    kind: shell\n    hosts: web\n    run: 'true'\n")
        .replace(&fleet.known_hosts.display().to_string(), &empty.display().to_string());
    sb.write("p.yaml", &text);
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    let done = finished(&events(&out.stdout), "a").clone();
    assert_eq!(done["status"], "failed");
    assert!(
        done["reason"].as_str().unwrap().contains("Host key verification failed")
            && done["reason"].as_str().unwrap().contains("accept-new"),
        "{done}"
    );
    sb.write("p.yaml", &text.replace("ssh:\n", "ssh:\n  strict_host_key_checking: accept-new\n"));
    assert!(sb.run(&["run", "p.yaml"]).status.success());
    // (hashed where ssh_config says `HashKnownHosts yes`, as Debian's does)
    assert!(sb.read("known_hosts").contains("ssh-ed25519 "), "the key was added");
}

#[test]
fn plan_live_reads_runs_the_check_command_and_nothing_else() {
    let Some(fleet) = fleet(2) else { return };
    let sb = Sandbox::new("fleet-check");
    let stages = "  converge:\n    kind: converge\n    hosts: web\n    tool: puppet\n    concurrency: 2\n    command: touch \"$HOME/converged\"\n    check_command: touch \"$HOME/checked\"; exit 2\n  other:\n    kind: shell\n    hosts: web\n    run: touch \"$HOME/other\"\n";
    sb.write("p.yaml", &pipeline(&fleet, stages));
    let out = sb.run(&["plan", "p.yaml", "--live-reads", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let converge = &json["stages"][0];
    assert_eq!((converge["id"].as_str(), converge["live"].as_bool()), (Some("converge"), Some(true)));
    assert_eq!(converge["outputs"]["changed"], serde_json::json!(["web-1", "web-2"]), "the check's findings: {converge}");
    for h in &fleet.hosts {
        assert!(h.root.join("checked").exists(), "the check ran on {}", h.name);
        assert!(!h.root.join("converged").exists() && !h.root.join("other").exists(), "nothing else ran on {}", h.name);
    }
}

#[test]
fn an_interrupt_stops_the_command_on_the_host() {
    let Some(fleet) = fleet(1) else { return };
    let sb = Sandbox::new("fleet-interrupt");
    let marker = format!("{}.{}", 40 + std::process::id() % 50, std::process::id() % 997);
    sb.write(
        "p.yaml",
        &pipeline(&fleet, &format!("  long:\n    kind: shell\n    hosts: web\n    run: touch \"$HOME/started\"; sleep {marker}\n")),
    );
    let child = sb.spawn(&["run", "p.yaml"]);
    crate::sandbox::wait_for(&fleet.hosts[0].root.join("started"), "the command to start");
    let sleeping = || {
        std::process::Command::new("pgrep").args(["-f", &format!("sleep {marker}")]).output().map(|o| o.status.success()).unwrap_or(false)
    };
    assert!(sleeping());
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let start = Instant::now();
    while sleeping() {
        assert!(start.elapsed() < Duration::from_secs(10), "the command still runs on the host");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn unchecked_host_keys_are_warned_about() {
    let sb = Sandbox::new("fleet-nocheck");
    sb.write(
        "p.yaml",
        "version: 1\nname: nocheck\nssh:\n  strict_host_key_checking: no\n  options: { ServerAliveInterval: 15 }\nhosts:\n  web: [web-1]\nstages:\n  a: { kind: shell, hosts: web, run: 'true' }\n",
    );
    let out = sb.run(&["validate", "--format", "json", "p.yaml"]);
    assert_eq!(out.status.code(), Some(0), "a warning only");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<(&str, &str)> =
        json["diagnostics"].as_array().unwrap().iter().map(|d| (d["code"].as_str().unwrap(), d["severity"].as_str().unwrap())).collect();
    assert_eq!(codes, [("host-keys-unchecked", "warning")]);
    assert_eq!(sb.run(&["validate", "--deny-warnings", "p.yaml"]).status.code(), Some(1), "CI with --deny-warnings refuses it");
}

/// Processes whose command line holds `text`.
fn command_lines_holding(text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = String::from_utf8_lossy(&std::fs::read(entry.path().join("cmdline")).unwrap_or_default()).replace('\0', " ");
        if cmdline.contains(text) {
            seen.push(cmdline);
        }
    }
    seen
}

#[test]
fn a_local_script_holding_a_secret_keeps_it_off_the_command_line() {
    let sb = Sandbox::new("local-secret");
    let secret = format!("loc-{}-s3cr3t", std::process::id());
    let host = "hosts:\n  here:\n    - { name: here-1, transport: local }\n";
    let stages = "stages:\n  plain:\n    kind: shell\n    run: |\n      echo '{{ secrets.T }}' > plain\n      touch plain.started\n      sleep 1\n  on_host:\n    kind: shell\n    hosts: here\n    run: |\n      echo '{{ secrets.T }}' > host\n      touch host.started\n      sleep 1\n";
    sb.write("p.yaml", &format!("version: 1\nname: local-secret\nsecrets:\n  T: {{ env: TOKEN }}\n{host}{stages}"));
    let child = sb.command(&["run", "p.yaml"]).env("TOKEN", &secret).stdout(std::process::Stdio::piped()).spawn().unwrap();
    crate::sandbox::wait_for(&sb.path("plain.started"), "the local command");
    crate::sandbox::wait_for(&sb.path("host.started"), "the local host's command");
    let seen = command_lines_holding(&secret);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(seen.is_empty(), "the secret is on a command line: {seen:?}");
    assert_eq!((sb.read("plain").trim(), sb.read("host").trim()), (secret.as_str(), secret.as_str()));
}
