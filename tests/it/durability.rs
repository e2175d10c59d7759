//! Interrupts, crashes, resume and the deploy lock, with real processes.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::sandbox::{Sandbox, events, of, wait_for};

/// Interrupts a run and waits for it: it stops its commands too (SIGKILL would
/// leave them behind).
fn stop(run: std::process::Child) {
    signal(run.id(), "-INT");
    let _ = run.wait_with_output();
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} {pid}");
}

/// Running (a zombie waiting to be reaped does not count).
fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    matches!(state, Some(s) if s != 'Z' && s != 'X')
}

#[test]
fn sigint_cancels_the_running_stage_runs_always_stages_and_exits_130() {
    let sb = Sandbox::new("sigint");
    sb.write(
        "p.yaml",
        "version: 1\nname: c\nstages:\n  long: { kind: shell, run: 'if [ -f resumed ]; then exit 0; fi; sleep 30 & echo $! > sleep.pid; touch started; wait' }\n  after: { kind: shell, needs: [long], run: touch after }\n  cleanup: { kind: shell, needs: [after], when: always, run: 'echo \"$SLIPWAY_IDEMPOTENCY_KEY $S\" >> cleanup', env: { S: '{{ stages.after.status }}' } }\n",
    );
    let child = sb.spawn(&["run", "p.yaml", "--format", "json"]);
    wait_for(&sb.path("started"), "the long stage to start");
    let started = Instant::now();
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(sb.path("cleanup").exists(), "the always stage did not run");
    assert!(!sb.path("after").exists());
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(&sb.read("sleep.pid")), "the cancelled command's children still run");
    let evs = events(&out.stdout);
    assert_eq!(of(&evs, "stage_finished", "long")[0]["status"], "cancelled");
    assert_eq!(of(&evs, "stage_finished", "after")[0]["status"], "cancelled");
    assert_eq!(of(&evs, "stage_finished", "cleanup")[0]["status"], "succeeded");
    let journal = sb.journal();
    assert_eq!(journal.last().unwrap()["status"], "interrupted");

    // the journal is resumable
    sb.write("resumed", "");
    let id = &sb.run_ids()[0];
    let out = sb.run(&["resume", id, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(sb.path("after").exists());
    // The `always` stage runs again, to tell how the run ends now, under a key
    // of its own (the first one stood for a different notification).
    assert_eq!(sb.read("cleanup"), format!("{id}:cleanup cancelled\n{id}:cleanup:1 succeeded\n"));
}

#[test]
fn sigterm_interrupts_like_sigint() {
    let sb = Sandbox::new("sigterm");
    sb.write("p.yaml", "version: 1\nname: t\nstages:\n  long: { kind: shell, run: 'touch started; sleep 30' }\n  bye: { kind: shell, needs: [long], when: always, run: touch bye }\n");
    let child = sb.spawn(&["run", "p.yaml"]);
    wait_for(&sb.path("started"), "the stage to start");
    signal(child.id(), "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(sb.path("bye").exists(), "the always stage did not run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("continue it with: slipway resume"));
}

#[test]
fn an_interrupt_stops_a_waiting_http_request_at_once() {
    // A listener that never answers: the request waits for its response.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/slow", silent.local_addr().unwrap());
    let sb = Sandbox::new("sigint-http");
    sb.write(
        "p.yaml",
        &format!("version: 1\nname: h\nstages:\n  start: {{ kind: shell, run: touch started }}\n  call: {{ kind: http, needs: [start], url: '{url}' }}\n"),
    );
    let child = sb.spawn(&["run", "p.yaml", "--format", "json"]);
    wait_for(&sb.path("started"), "the first stage");
    std::thread::sleep(Duration::from_millis(300)); // the request is on its way
    let t = Instant::now();
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}", t.elapsed());
    assert_eq!(of(&events(&out.stdout), "stage_finished", "call")[0]["status"], "cancelled");
}

#[test]
fn a_second_interrupt_cuts_the_grace_period_short() {
    let sb = Sandbox::new("sigint-twice");
    // A command that ignores SIGTERM would get 10 s before SIGKILL.
    sb.write("p.yaml", "version: 1\nname: t\nstages:\n  stubborn: { kind: shell, run: \"trap '' TERM; touch started; sleep 30\" }\n");
    let child = sb.spawn(&["run", "p.yaml"]);
    wait_for(&sb.path("started"), "the stage to start");
    let t = Instant::now();
    signal(child.id(), "-INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(t.elapsed() < Duration::from_secs(4), "took {:?}", t.elapsed());
}

#[test]
fn after_kill_9_resume_runs_no_succeeded_stage_again() {
    let sb = Sandbox::new("crash");
    sb.write(
        "p.yaml",
        "version: 1\nname: crash\nstages:\n  a: { kind: shell, run: 'echo a >> count_a' }\n  b: { kind: shell, needs: [a], run: 'echo b >> count_b; echo v=from-b >> \"$SLIPWAY_OUTPUT\"', outputs: [v] }\n  slow: { kind: shell, needs: [b], run: 'touch slow_started; if [ ! -f go ]; then sleep 30 & echo $! > sleep.pid; wait; fi; echo s >> count_slow' }\n  c: { kind: shell, needs: [slow], run: 'echo \"$V\" >> count_c', env: { V: '{{ stages.b.outputs.v }}' } }\n",
    );
    let child = sb.spawn(&["run", "p.yaml"]);
    wait_for(&sb.path("slow_started"), "the slow stage to start");
    wait_for(&sb.path("sleep.pid"), "the slow stage's sleep");
    signal(child.id(), "-KILL");
    let _ = child.wait_with_output();
    signal(sb.read("sleep.pid").trim().parse().unwrap(), "-KILL");
    sb.write("go", "");

    let id = sb.run_ids()[0].clone();
    let runs = String::from_utf8_lossy(&sb.run(&["runs"]).stdout).into_owned();
    assert!(runs.contains(&id) && runs.contains("crashed"), "{runs}");
    let out = resume_once_the_crashed_commands_end(&sb, &id);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stale deploy lock"), "{stderr}");
    assert_eq!(sb.read("count_a"), "a\n", "a ran again");
    assert_eq!(sb.read("count_b"), "b\n", "b ran again");
    assert_eq!(sb.read("count_slow"), "s\n");
    assert_eq!(sb.read("count_c"), "from-b\n", "b's recorded output did not reach c");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.lines().any(|l| l.starts_with("a ") && l.contains("reused") && l.contains(&id)), "{summary}");
}

/// `slipway resume`, again while the crashed run's commands still end (exit
/// 75); the last attempt, with what every attempt wrote to stderr.
fn resume_once_the_crashed_commands_end(sb: &Sandbox, id: &str) -> std::process::Output {
    let started = Instant::now();
    let mut stderr = Vec::new();
    loop {
        let mut out = sb.run(&["resume", id]);
        stderr.append(&mut out.stderr);
        if out.status.code() != Some(75) || started.elapsed() > Duration::from_secs(10) {
            out.stderr = stderr;
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn resume_waits_until_the_crashed_runs_commands_are_gone() {
    let sb = Sandbox::new("orphans");
    sb.write("p.yaml", "version: 1\nname: o\nstages:\n  b: { kind: shell, run: 'echo started >> b.log; sleep 2; echo b >> k.count' }\n");
    let child = sb.spawn(&["run", "p.yaml"]);
    wait_for(&sb.path("b.log"), "the stage to start");
    signal(child.id(), "-KILL");
    let _ = child.wait_with_output();
    let id = sb.run_ids()[0].clone();
    // The run is gone, its command is not: running it again now would run it twice at once.
    let out = sb.run(&["resume", &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("stage `b`: process group") && stderr.contains("kill -TERM -- -"), "{stderr}");
    // Nor does a new run start beside it, though the lock's holder is gone.
    let out = sb.run(&["run", "p.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("which is gone, but its commands still run"), "{stderr}");
    assert!(!sb.path("k.count").exists());
    let out = resume_once_the_crashed_commands_end(&sb, &id);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // One after the other: the first copy had ended when the second started.
    assert_eq!(sb.read("b.log"), "started\nstarted\n");
    assert_eq!(sb.read("k.count"), "b\nb\n");
}

#[test]
fn resume_refuses_when_what_is_left_changed() {
    let sb = Sandbox::new("changed");
    let pipeline = "version: 1\nname: ch\nstages:\n  a: { kind: shell, run: 'echo a >> count_a' }\n  b: { kind: shell, needs: [a], run: 'test -f ok' }\n";
    sb.write("p.yaml", pipeline);
    assert_eq!(sb.run(&["run", "p.yaml"]).status.code(), Some(1));
    let id = sb.run_ids()[0].clone();
    sb.write("p.yaml", &pipeline.replace("test -f ok", "test -f ok2"));
    let out = sb.run(&["resume", &id]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stage `b` changed"), "{stderr}");
    // a change to a stage that already succeeded does not matter
    sb.write("p.yaml", &pipeline.replace("echo a >>", "echo a  >>"));
    sb.write("ok", "");
    let out = sb.run(&["resume", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.read("count_a"), "a\n");
}

#[test]
fn resume_refuses_outputs_kept_masked_and_only_those() {
    let sb = Sandbox::new("masked-resume");
    let pipeline = "version: 1\nname: m\nsecrets: { T: { env: TEST_RESUME_TOKEN } }\nstages:\n  a: { kind: shell, run: 'echo \"note=*** release notes ***\" >> $SLIPWAY_OUTPUT; echo \"tok=$TOK\" >> $SLIPWAY_OUTPUT', env: { TOK: '{{ secrets.T }}' }, outputs: [note, tok] }\n  b: { kind: shell, needs: [a], run: 'test -f ok; echo \"$N\" > note', env: { N: '{{ stages.a.outputs.note }}' } }\n";
    let run = |args: &[&str]| sb.command(args).env("TEST_RESUME_TOKEN", "tok-s3cr3t-value").output().unwrap();
    // An output that held the secret cannot be reused: the journal has only `***`.
    sb.write("p.yaml", pipeline);
    assert_eq!(run(&["run", "p.yaml"]).status.code(), Some(1));
    let out = run(&["resume", &sb.run_ids()[0]]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("outputs of stage `a` (tok) held secret text"), "{stderr}");
    // Text that merely looks masked is no secret: the run resumes.
    let _ = std::fs::remove_dir_all(sb.path(".slipway"));
    sb.write("p.yaml", &pipeline.replace("echo \"tok=$TOK\" >> $SLIPWAY_OUTPUT", "echo tok=plain >> $SLIPWAY_OUTPUT"));
    assert_eq!(run(&["run", "p.yaml"]).status.code(), Some(1));
    sb.write("ok", "");
    let out = run(&["resume", &sb.run_ids()[0]]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.read("note"), "*** release notes ***\n");
}

#[test]
fn resume_reuses_stages_after_one_skipped_by_its_own_condition() {
    let sb = Sandbox::new("resume-if-skip");
    sb.write(
        "p.yaml",
        "version: 1\nname: s\nstages:\n  optional: { kind: shell, if: 'false', run: 'echo x' }\n  ticket: { kind: shell, needs: [optional], run: 'echo \"$SLIPWAY_IDEMPOTENCY_KEY\" >> ticket.count' }\n  deploy: { kind: shell, needs: [ticket], run: 'test -e ok' }\n",
    );
    assert_eq!(sb.run(&["run", "p.yaml"]).status.code(), Some(1));
    sb.write("ok", "");
    let id = sb.run_ids()[0].clone();
    let out = sb.run(&["resume", &id, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.read("ticket.count"), format!("{id}:ticket\n"), "the ticket stage ran again");
    let evs = events(&out.stdout);
    assert_eq!(evs[0]["event"], "run_started");
    assert_eq!(evs[0]["resumed"], true);
}

#[test]
fn a_journal_that_cannot_be_written_ends_the_run_instead_of_hanging_it() {
    let sb = Sandbox::new("disk-full");
    let state = sb.path("state");
    std::fs::create_dir_all(&state).unwrap();
    // A tiny file system of its own (root can mount one; elsewhere say so and stop).
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"]).arg(&state).status().is_ok_and(|s| s.success());
    if !mounted {
        // Only a non-root user may skip: CI runs as root, where this must hold.
        let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
        assert_ne!(uid, "0", "root could not mount a tmpfs for the test");
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    sb.write(
        "p.yaml",
        "version: 1\nname: full\nstages:\n  a: { kind: shell, run: 'seq 1 100000' }\n  b: { kind: shell, needs: [a], run: 'true' }\n  c: { kind: shell, needs: [b], when: always, run: 'touch told' }\n",
    );
    let mut child = sb
        .command(&["run", "p.yaml", "--state-dir", state.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = Command::new("umount").arg(&state).status();
    let status = status.expect("the run hung once its journal could not be written");
    assert_eq!(status.code(), Some(1));
    assert!(sb.path("told").exists(), "the always stage did not run");
}

#[test]
fn resume_refuses_a_renamed_pipeline() {
    let sb = Sandbox::new("renamed");
    let pipeline = "version: 1\nname: before\nstages:\n  a: { kind: shell, run: 'test -f ok' }\n";
    sb.write("p.yaml", pipeline);
    assert_eq!(sb.run(&["run", "p.yaml"]).status.code(), Some(1));
    sb.write("p.yaml", &pipeline.replace("name: before", "name: after"));
    let out = sb.run(&["resume", &sb.run_ids()[0]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("renamed from `before` to `after`"));
    assert!(!sb.path(".slipway/locks/after.lock").exists(), "it took the other name's lock");
}

const LOCKED: &str = "version: 1\nname: locked\nstages:\n  work: { kind: shell, run: 'echo $SLIPWAY_RUN_ID >> ran; sleep 1' }\n";

#[test]
fn two_processes_started_together_exactly_one_runs() {
    let sb = Sandbox::new("lock");
    sb.write("p.yaml", LOCKED);
    let first = sb.spawn(&["run", "p.yaml"]);
    let second = sb.spawn(&["run", "p.yaml"]);
    let (a, b) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
    let mut codes = [a.status.code().unwrap(), b.status.code().unwrap()];
    codes.sort();
    assert_eq!(codes, [0, 75], "exactly one must run");
    assert_eq!(sb.read("ran").lines().count(), 1);
    let loser = if a.status.code() == Some(75) { &a } else { &b };
    let msg = String::from_utf8_lossy(&loser.stderr);
    let winner = sb.read("ran").trim().to_owned();
    assert!(msg.contains("is held by run") && msg.contains(&winner), "{msg}");
}

#[test]
fn wait_lock_queues_instead_of_failing() {
    let sb = Sandbox::new("waitlock");
    sb.write("p.yaml", LOCKED);
    let first = sb.spawn(&["run", "p.yaml"]);
    wait_for(&sb.path("ran"), "the first run to start");
    let second = sb.run(&["run", "p.yaml", "--wait-lock=30s"]);
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(0));
    assert_eq!(second.status.code(), Some(0), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(String::from_utf8_lossy(&second.stderr).contains("waiting for deploy lock `locked`, held by run"), "the wait was silent");
    assert_eq!(sb.read("ran").lines().count(), 2);
}

#[test]
fn the_lock_and_the_runs_do_not_depend_on_the_current_folder() {
    let sb = Sandbox::new("lock-cwd");
    sb.write("p.yaml", "version: 1\nname: cwd\nstages:\n  work: { kind: shell, run: 'touch started; sleep 30' }\n");
    std::fs::create_dir_all(sb.path("sub")).unwrap();
    let holder = sb.spawn(&["run", "p.yaml"]);
    wait_for(&sb.path("started"), "the holder to start");
    let elsewhere = sb.command(&["run", "../p.yaml"]).current_dir(sb.path("sub")).output().unwrap();
    assert_eq!(elsewhere.status.code(), Some(75), "{}", String::from_utf8_lossy(&elsewhere.stderr));
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("deploy lock `cwd` is held by run"));
    // `runs` finds the project's state from a folder below it
    let runs = sb.command(&["runs"]).current_dir(sb.path("sub")).output().unwrap();
    assert!(String::from_utf8_lossy(&runs.stdout).contains("running"), "{}", String::from_utf8_lossy(&runs.stdout));
    assert!(!sb.path("sub/.slipway").exists());
    stop(holder);
}

#[test]
fn the_printed_unlock_hint_works_as_printed() {
    let sb = Sandbox::new("unlock-hint");
    sb.write(
        "p.yaml",
        "version: 1\nname: hint\nparams: { version: { required: true }, environment: { default: production } }\nstages:\n  work: { kind: shell, run: 'touch started; sleep 30', env: { V: '{{ params.version }}-{{ params.environment }}' } }\n",
    );
    let holder = sb.spawn(&["run", "p.yaml", "--param", "version=1"]);
    wait_for(&sb.path("started"), "the holder to start");
    let out = sb.run(&["run", "p.yaml", "--param", "version=2"]);
    assert_eq!(out.status.code(), Some(75));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let hint = stderr.lines().find_map(|l| l.split_once("`slipway unlock ")).map(|(_, rest)| rest.trim_end_matches('`')).unwrap();
    assert!(hint.ends_with("--param environment=production"), "{stderr}");
    // As printed: no `version` needed to unlock.
    let args: Vec<&str> = std::iter::once("unlock").chain(hint.split(' ')).collect();
    let out = sb.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broke deploy lock `hint@production`"));
    stop(holder);
}

#[test]
fn unlock_breaks_a_lock() {
    let sb = Sandbox::new("unlock");
    sb.write("p.yaml", "version: 1\nname: ul\nstages:\n  work: { kind: shell, run: 'touch started; sleep 30' }\n");
    let holder = sb.spawn(&["run", "p.yaml"]);
    wait_for(&sb.path("started"), "the holder to start");
    let out = sb.run(&["unlock", "p.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broke deploy lock `ul`"));
    sb.write("p.yaml", "version: 1\nname: ul\nstages:\n  work: { kind: shell, run: 'true' }\n");
    assert_eq!(sb.run(&["run", "p.yaml"]).status.code(), Some(0));
    stop(holder);
}

#[test]
fn an_always_stage_already_running_survives_the_first_interrupt() {
    let sb = Sandbox::new("always-running");
    sb.write(
        "p.yaml",
        "version: 1\nname: ar\nstages:\n  long: { kind: shell, run: 'sleep 30 & wait' }\n  cleanup: { kind: shell, when: always, run: 'touch c_started; sleep 1; touch c_done' }\n",
    );
    let child = sb.spawn(&["run", "p.yaml", "--format", "json"]);
    wait_for(&sb.path("c_started"), "the always stage to start");
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(sb.path("c_done").exists(), "the running always stage was cancelled by the first interrupt");
    let evs = events(&out.stdout);
    assert_eq!(of(&evs, "stage_finished", "cleanup")[0]["status"], "succeeded");
    assert_eq!(of(&evs, "stage_finished", "long")[0]["status"], "cancelled");
}

#[test]
fn resume_refuses_while_the_run_holds_its_lock() {
    let sb = Sandbox::new("resume-locked");
    sb.write("p.yaml", "version: 1\nname: rl\nstages:\n  a: { kind: shell, run: 'touch started; sleep 30' }\n");
    let child = sb.spawn(&["run", "p.yaml"]);
    wait_for(&sb.path("started"), "the run to start");
    let id = sb.run_ids()[0].clone();
    let out = sb.run(&["resume", &id]);
    assert_eq!(out.status.code(), Some(75), "{}", String::from_utf8_lossy(&out.stderr));
    stop(child);
}

#[test]
fn resume_takes_the_pipeline_file_from_where_it_moved() {
    let sb = Sandbox::new("resume-moved");
    // The project's root, where commands run, wherever the pipeline file moves inside it.
    std::fs::create_dir_all(sb.path(".git")).unwrap();
    std::fs::create_dir_all(sb.path("old")).unwrap();
    sb.write("old/p.yaml", "version: 1\nname: moved\nstages:\n  a: { kind: shell, run: 'echo a >> count_a' }\n  b: { kind: shell, needs: [a], run: 'test -f go && touch b_done' }\n");
    let out = sb.run(&["run", "old/p.yaml", "--state-dir", ".slipway"]);
    assert_eq!(out.status.code(), Some(1));
    let id = sb.run_ids()[0].clone();
    std::fs::rename(sb.path("old"), sb.path("new")).unwrap();
    sb.write("go", "");
    let out = sb.run(&["resume", &id, "--state-dir", ".slipway"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--file PATH"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sb.run(&["resume", &id, "--state-dir", ".slipway", "--file", "new/p.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(sb.path("b_done").exists());
    assert_eq!(sb.read("count_a"), "a\n", "a ran again");
}
