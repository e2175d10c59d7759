//! `slipway run`: scheduling, failure handling, outputs, retries.

use crate::sandbox::{Sandbox, events, of};
use crate::server::{Reply, TestServer};
use serde_json::Value;

fn interval(evs: &[serde_json::Value], stage: &str) -> (u64, u64) {
    let start = of(evs, "stage_started", stage)[0]["at"].as_u64().unwrap();
    let end = of(evs, "stage_finished", stage)[0]["at"].as_u64().unwrap();
    (start, end)
}

const PARALLEL: &str = "version: 1\nname: par\nstages:\n  a: { kind: shell, run: sleep 0.4 }\n  b: { kind: shell, run: sleep 0.4 }\n  c: { kind: shell, run: sleep 0.4 }\n  d: { kind: shell, needs: [a, b, c], run: 'true' }\n";

#[test]
fn independent_stages_overlap_and_max_parallel_one_serialises() {
    let sb = Sandbox::new("parallel");
    sb.write("p.yaml", PARALLEL);
    let out = sb.run(&["run", "p.yaml", "--format", "json", "--max-parallel", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let evs = events(&out.stdout);
    let (a, b, c) = (interval(&evs, "a"), interval(&evs, "b"), interval(&evs, "c"));
    // every pair overlaps: each started before the other finished
    for (x, y) in [(a, b), (a, c), (b, c)] {
        assert!(x.0 < y.1 && y.0 < x.1, "no overlap: {x:?} {y:?}");
    }
    let d = interval(&evs, "d");
    assert!(d.0 >= a.1.max(b.1).max(c.1), "d started before its needs finished");

    let out = sb.run(&["run", "p.yaml", "--format", "json", "--max-parallel", "1"]);
    let evs = events(&out.stdout);
    let mut spans = [interval(&evs, "a"), interval(&evs, "b"), interval(&evs, "c")];
    spans.sort();
    assert!(spans[0].1 <= spans[1].0 && spans[1].1 <= spans[2].0, "overlap with --max-parallel 1: {spans:?}");
}

#[test]
fn a_failure_skips_dependents_and_runs_failure_and_always_stages() {
    let sb = Sandbox::new("failure");
    sb.write(
        "p.yaml",
        "version: 1\nname: f\nstages:\n  deploy: { kind: shell, run: exit 3 }\n  smoke: { kind: shell, needs: [deploy], run: touch smoke }\n  rollback: { kind: shell, needs: [deploy], when: failure, run: touch rollback }\n  notify: { kind: shell, needs: [smoke], when: always, run: 'echo \"$S\" > notify', env: { S: '{{ stages.deploy.status }}' } }\n",
    );
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stdout);
    let status = |s: &str| of(&evs, "stage_finished", s)[0]["status"].as_str().unwrap().to_owned();
    assert_eq!(status("deploy"), "failed");
    assert_eq!(status("smoke"), "skipped");
    assert_eq!(status("rollback"), "succeeded");
    assert_eq!(status("notify"), "succeeded");
    assert!(!sb.path("smoke").exists());
    assert!(sb.path("rollback").exists());
    assert_eq!(sb.read("notify").trim(), "failed");
    // a command failing is permanent: one attempt despite retries
    assert_eq!(of(&evs, "stage_finished", "deploy")[0]["attempts"], 1);
}

#[test]
fn outputs_flow_into_later_stages_and_conditions() {
    let sb = Sandbox::new("outputs");
    sb.write(
        "p.yaml",
        r#"version: 1
name: o
params: { env: { default: staging } }
stages:
  build:
    kind: shell
    run: |
      echo "artifact=app-1.2.tar.gz" >> "$SLIPWAY_OUTPUT"
      printf 'notes<<EOF\nline one\nline two\nEOF\n' >> "$SLIPWAY_OUTPUT"
    outputs: [artifact, notes]
  use:
    kind: shell
    env: { A: "{{ stages.build.outputs.artifact }}", N: "{{ stages.build.outputs.notes }}", R: "{{ run.id }}" }
    run: 'printf "%s|%s|%s" "$A" "$N" "$R" > used'
  prod_only:
    kind: shell
    if: "{{ eq params.env 'production' }}"
    run: touch prod
"#,
    );
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let used = sb.read("used");
    let run_id = &sb.run_ids()[0];
    assert_eq!(used, format!("app-1.2.tar.gz|line one\nline two|{run_id}"));
    assert!(!sb.path("prod").exists());
    let evs = events(&out.stdout);
    assert_eq!(of(&evs, "stage_finished", "prod_only")[0]["status"], "skipped");
}

fn http_pipeline(url: &str, extra: &str) -> String {
    format!(
        "version: 1\nname: h\nstages:\n  call:\n    kind: http\n    method: POST\n    url: {url}\n    json: {{ a: 1 }}\n    retry: {{ attempts: 4, backoff: 50ms }}\n{extra}"
    )
}

#[test]
fn http_503_is_retried_until_it_succeeds() {
    let server = TestServer::start(vec![Reply::new(503, "busy"), Reply::new(503, "busy"), Reply::new(200, "{\"id\": 7}")]);
    let sb = Sandbox::new("retry503");
    sb.write("p.yaml", &http_pipeline(&server.url("/deploy"), "    outputs: { id: /id }\n"));
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let evs = events(&out.stdout);
    assert_eq!(of(&evs, "attempt_failed", "call").len(), 2);
    assert_eq!(of(&evs, "stage_finished", "call")[0]["attempts"], 3);
    assert_eq!(of(&evs, "stage_finished", "call")[0]["outputs"]["id"], 7);
    let reqs = server.recorded();
    assert_eq!(reqs.len(), 3);
    // backoff 50ms, doubling: announced, and kept
    let waits: Vec<u64> = of(&evs, "attempt_failed", "call").iter().map(|e| e["retry_in_ms"].as_u64().unwrap()).collect();
    assert_eq!(waits, [50, 100]);
    for (k, wait) in waits.iter().enumerate() {
        let gap = reqs[k + 1].at.duration_since(reqs[k].at).as_millis() as u64;
        assert!(gap >= *wait, "request {} came {gap}ms after the one before, not {wait}ms", k + 2);
    }
    // the same idempotency key on every attempt
    let keys: Vec<&str> = reqs.iter().map(|r| r.headers.iter().find(|(k, _)| k == "idempotency-key").unwrap().1.as_str()).collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    assert!(keys[0].ends_with(":call"));
    assert_eq!(reqs[0].body, "{\"a\":1}");
    // Every attempt is in the journal too, in order, before the stage's end.
    let journal = sb.journal();
    let kinds: Vec<&str> = journal.iter().filter(|e| e["stage"] == "call").map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["stage_started", "attempt_started", "attempt_failed", "attempt_started", "attempt_failed", "attempt_started", "stage_finished"]
    );
    assert!(of(&journal, "attempt_failed", "call")[0]["error"].as_str().unwrap().contains("503"));
}

#[test]
fn http_429_waits_as_long_as_retry_after_says() {
    let server = TestServer::start(vec![Reply::new(429, "slow down").header("Retry-After", "1"), Reply::new(200, "ok")]);
    let sb = Sandbox::new("retry429");
    sb.write("p.yaml", &http_pipeline(&server.url("/x"), ""));
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let evs = events(&out.stdout);
    let failed = of(&evs, "attempt_failed", "call");
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["retry_in_ms"].as_u64().unwrap() >= 1000, "{}", failed[0]);
    let reqs = server.recorded();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].at.duration_since(reqs[0].at).as_millis() >= 1000);
}

#[test]
fn a_retry_after_longer_than_the_stage_may_take_fails_at_once_naming_it() {
    // 100000 s is more than a day: waiting would hold the deploy lock that long.
    for (extra, limit) in [("", "5m (a stage with no `timeout`"), ("    timeout: 30s\n", "the stage's timeout of 30s")] {
        let server = TestServer::start(vec![Reply::new(429, "slow down").header("Retry-After", "100000"), Reply::new(200, "ok")]);
        let sb = Sandbox::new("retry-after-too-long");
        sb.write("p.yaml", &http_pipeline(&server.url("/x"), extra));
        let out = sb.run(&["run", "p.yaml", "--format", "json"]);
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
        let evs = events(&out.stdout);
        let failed = of(&evs, "attempt_failed", "call");
        assert_eq!((failed.len(), failed[0]["transient"].as_bool(), failed[0]["retry_in_ms"].as_u64()), (1, Some(false), None));
        let reason = of(&evs, "stage_finished", "call")[0]["reason"].as_str().unwrap().to_owned();
        assert!(reason.contains("asked to wait 1day 3h 46m 40s before trying again (Retry-After), longer than"), "{reason}");
        assert!(reason.contains(limit), "{reason}");
        assert_eq!(server.recorded().len(), 1);
    }
}

#[test]
fn http_400_is_not_retried() {
    let server = TestServer::start(vec![Reply::new(400, "{\"error\": \"bad field\"}")]);
    let sb = Sandbox::new("no-retry400");
    sb.write("p.yaml", &http_pipeline(&server.url("/x"), ""));
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stdout);
    let finished = &of(&evs, "stage_finished", "call")[0];
    assert_eq!(finished["attempts"], 1);
    assert!(finished["reason"].as_str().unwrap().contains("400"), "{finished}");
    assert_eq!(of(&evs, "attempt_failed", "call")[0]["transient"], false);
    assert_eq!(server.recorded().len(), 1);
}

#[test]
fn a_write_is_not_sent_on_to_where_a_redirect_points() {
    let server = TestServer::start(vec![Reply::new(302, "").header("Location", "/elsewhere")]);
    let sb = Sandbox::new("redirect");
    sb.write("p.yaml", &http_pipeline(&server.url("/deploy"), ""));
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let reason = of(&events(&out.stdout), "stage_finished", "call")[0]["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("redirects POST to /elsewhere"), "{reason}");
    let reqs = server.recorded();
    assert_eq!(reqs.len(), 1, "the POST was followed: {:?}", reqs.iter().map(|r| (&r.method, &r.path)).collect::<Vec<_>>());
    // Expected, a redirect is an answer like any other.
    sb.write("p.yaml", &http_pipeline(&server.url("/deploy"), "    expect_status: [302]\n"));
    assert_eq!(sb.run(&["run", "p.yaml"]).status.code(), Some(0));
}

#[test]
fn a_stage_ends_with_its_command_not_with_what_it_left_in_the_background() {
    let sb = Sandbox::new("background");
    sb.write(
        "p.yaml",
        "version: 1\nname: bg\nstages:\n  start: { kind: shell, run: 'echo started; sleep 30 & echo $! > bg.pid', timeout: 20s }\n",
    );
    let t = std::time::Instant::now();
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    let _ = std::process::Command::new("kill").arg(sb.read("bg.pid").trim()).status();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(t.elapsed() < std::time::Duration::from_secs(5), "the stage waited {:?} for its background process", t.elapsed());
    let logs = of(&events(&out.stdout), "log", "start").iter().map(|e| e["line"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(logs[0], "started");
    assert!(logs[1].contains("still holds its output"), "{logs:?}");
}

#[test]
fn a_very_long_line_is_shown_in_pieces_without_breaking_characters() {
    let sb = Sandbox::new("long-line");
    // 1 + 100,000 two-byte characters, no newline: pieces cannot all end on a character.
    sb.write("p.yaml", "version: 1\nname: l\nstages:\n  a: { kind: shell, run: \"python3 -c 'import sys; sys.stdout.write(\\\"a\\\" + \\\"é\\\" * 100000)'\" }\n");
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let pieces: Vec<String> = of(&events(&out.stdout), "log", "a").iter().map(|e| e["line"].as_str().unwrap().to_owned()).collect();
    assert!(pieces.len() >= 4, "{} pieces", pieces.len());
    assert!(pieces.iter().all(|p| p.len() <= 64 * 1024));
    assert_eq!(pieces.concat(), format!("a{}", "é".repeat(100_000)));
}

#[test]
fn a_timed_out_attempt_is_retried() {
    let sb = Sandbox::new("timeout");
    sb.write(
        "p.yaml",
        "version: 1\nname: t\nstages:\n  slow: { kind: shell, run: sleep 5, timeout: 300ms, retry: { attempts: 2, backoff: 10ms } }\n",
    );
    let started = std::time::Instant::now();
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stdout);
    assert_eq!(of(&evs, "stage_finished", "slow")[0]["attempts"], 2);
    assert!(of(&evs, "attempt_failed", "slow")[0]["error"].as_str().unwrap().contains("timed out"));
    assert!(started.elapsed().as_secs() < 5, "the sleeping command was not stopped");
}

#[test]
fn the_local_demo_runs_end_to_end() {
    let sb = Sandbox::new("demo");
    let work = sb.path("work");
    let demo = crate::support::root().join("pipelines/local-demo.yaml");
    let state = sb.path(".slipway");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", demo.to_str().unwrap(), "--state-dir", state.to_str().unwrap()];
        args.extend(extra);
        sb.run(&args)
    };
    let workdir = format!("workdir={}", work.display());
    let on = |host: &str| {
        let target = std::fs::read_link(work.join(format!("hosts/{host}/current"))).unwrap();
        target.file_name().unwrap().to_string_lossy().into_owned()
    };
    let out = run(&["--param", &workdir, "--param", "version=9.9.9"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let first = on("demo-1");
    for host in ["demo-1", "demo-2"] {
        assert_eq!(std::fs::read_to_string(work.join(format!("hosts/{host}/current/app.txt"))).unwrap(), "demo 9.9.9\n");
        assert_eq!(on(host), first, "one release on both hosts");
        assert!(stdout.contains(&format!("[{host}] on release ")), "{stdout}");
    }
    assert!(stdout.contains("deploy of 9.9.9 finished: succeeded"), "{stdout}");
    let lb = std::fs::read_to_string(work.join("lb.log")).unwrap();
    assert_eq!(
        lb.lines().map(|l| l.split_once(' ').unwrap().1).collect::<Vec<_>>(),
        [
            "demo-1 leaves the load balancer",
            "demo-1 is back in the load balancer",
            "demo-2 leaves the load balancer",
            "demo-2 is back in the load balancer"
        ]
    );

    // The README's second run: demo-2's new release fails its health check; both hosts go back.
    std::thread::sleep(std::time::Duration::from_millis(1000)); // a release per second: the next run is named anew
    let out = run(&["--param", &workdir, "--param", "version=9.9.10", "--param", "break=demo-2"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("[demo-2] failed: health check: `/version` is `broken`, not `9.9.10`"), "{stdout}");
    assert!(stdout.contains("rolled back to the previous release"), "{stdout}");
    assert!(stdout.contains("deploy of 9.9.10 finished: failed"), "{stdout}");
    for host in ["demo-1", "demo-2"] {
        assert_eq!(on(host), first, "{host} is back on 9.9.9");
        assert!(stdout.contains(&format!("{host} is on release {first}: demo 9.9.9")), "{stdout}");
    }

    // When the build fails, the server is still (not) stopped and the report still goes out.
    let out = sb.run(&["run", demo.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "--param", "workdir=/proc/nope"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("✓ stop_server succeeded") && stdout.contains("finished: skipped"), "{stdout}");
}

#[test]
fn unknown_and_missing_params_are_usage_errors() {
    let sb = Sandbox::new("params");
    sb.write("p.yaml", "version: 1\nname: p\nparams: { version: { required: true } }\nstages:\n  a: { kind: shell, run: 'echo \"$V\"', env: { V: '{{ params.version }}' } }\n");
    let out = sb.run(&["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--param version="));
    let out = sb.run(&["run", "p.yaml", "--param", "versoin=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `version`?"));
    let out = sb.run(&["run", "p.yaml", "--param", "version=1", "--param", "version=2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("param `version` is given twice (`1` and `2`)"));
    let out = sb.run(&["run", "p.yaml", "--param", "version=1", "--wait-lock=soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write it like 30s, 10m or 1h"));
}

#[test]
fn output_files_that_are_not_text_are_named_as_such() {
    let sb = Sandbox::new("binary-output");
    sb.write(
        "p.yaml",
        "version: 1\nname: b\nstages:\n  a: { kind: shell, run: 'printf \"v=\\377\\n\" >> \"$SLIPWAY_OUTPUT\"', outputs: [v] }\n",
    );
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let reason = of(&events(&out.stdout), "stage_finished", "a")[0]["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("not UTF-8 text (at byte 2)"), "{reason}");
}

#[test]
fn listed_exit_codes_are_retried_and_others_are_not() {
    let sb = Sandbox::new("exit-codes");
    sb.write(
        "p.yaml",
        "version: 1\nname: x\nstages:\n  flaky: { kind: shell, run: 'echo x >> tries; test $(wc -l < tries) -ge 3 || exit 75', retry_on_exit_codes: [75], retry: { attempts: 5, backoff: 10ms } }\n  broken: { kind: shell, run: 'echo x >> broken_tries; exit 1', retry_on_exit_codes: [75], retry: { attempts: 5, backoff: 10ms } }\n",
    );
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stdout);
    assert_eq!(of(&evs, "stage_finished", "flaky")[0]["status"], "succeeded");
    assert_eq!(sb.read("tries").lines().count(), 3);
    assert_eq!(of(&evs, "stage_finished", "broken")[0]["attempts"], 1);
    assert_eq!(sb.read("broken_tries").lines().count(), 1);
}

#[test]
fn retry_on_exit_codes_any_retries_every_failure() {
    let sb = Sandbox::new("exit-codes-any");
    sb.write(
        "p.yaml",
        "version: 1\nname: x\nstages:\n  flaky: { kind: shell, run: 'echo x >> tries; test $(wc -l < tries) -ge 3 || exit 1', retry_on_exit_codes: any, retry: { attempts: 5, backoff: 10ms } }\n",
    );
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let evs = events(&out.stdout);
    assert_eq!(of(&evs, "stage_finished", "flaky")[0]["attempts"], 3);
    let failed = of(&evs, "attempt_failed", "flaky");
    assert_eq!(failed[0]["transient"], true);
    assert!(failed[0]["error"].as_str().unwrap().contains("`retry_on_exit_codes: any`"), "{}", failed[0]);
}

#[test]
fn secrets_can_come_from_files() {
    let sb = Sandbox::new("file-secret");
    sb.write("token.txt", "from-a-file-s3cr3t\n");
    sb.write("p.yaml", "version: 1\nname: f\nsecrets: { T: { file: token.txt } }\nstages:\n  use: { kind: shell, run: 'echo \"$T\" > used; echo \"$T\"', env: { T: '{{ secrets.T }}' } }\n");
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.read("used"), "from-a-file-s3cr3t\n", "the trailing newline of the file is not part of the secret");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t"));
    assert!(of(&events(&out.stdout), "log", "use").iter().any(|e| e["line"] == "***"));
    sb.write("token.txt", "\n");
    let out = sb.run(&["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret `T` is empty"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn on_a_terminal_a_live_view_then_a_summary() {
    let sb = Sandbox::new("tty");
    sb.write("p.yaml", "version: 1\nname: tty\nstages:\n  a: { kind: shell, run: 'echo hello-from-a; sleep 0.3' }\n  b: { kind: shell, needs: [a], run: 'echo hello-from-b' }\n");
    // `script` gives the run a pseudo-terminal, as a person's shell would.
    let bin = env!("CARGO_BIN_EXE_slipway");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{bin} run p.yaml"), "/dev/null"])
        .current_dir(&sb.dir)
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(screen.contains("\x1b[2K"), "no live view (lines redrawn in place): {screen}");
    assert!(screen.contains("a | hello-from-a") && screen.contains("✓ b succeeded"), "{screen}");
    assert!(screen.contains("stage  status     attempts  duration"), "{screen}");
}

#[test]
fn a_reader_that_goes_away_does_not_stop_the_run() {
    use std::io::BufRead;
    let sb = Sandbox::new("closed-stdout");
    sb.write("p.yaml", "version: 1\nname: c\nstages:\n  chatty: { kind: shell, run: 'seq 1 50000' }\n  last: { kind: shell, needs: [chatty], run: 'touch last' }\n");
    let mut child = sb.spawn(&["run", "p.yaml"]);
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap(); // then `head -1` goes away
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    assert!(sb.path("last").exists(), "the run stopped when its reader went away");
}

#[test]
fn stages_ready_together_start_in_file_order() {
    let sb = Sandbox::new("order");
    sb.write("p.yaml", "version: 1\nname: o\nstages:\n  a: { kind: shell, run: 'true' }\n  b1: { kind: shell, needs: [a], run: 'true' }\n  b2: { kind: shell, needs: [a], run: 'true' }\n  b3: { kind: shell, needs: [a], run: 'true' }\n");
    let out = sb.run(&["run", "p.yaml", "--max-parallel", "1", "--format", "json"]);
    let started: Vec<String> =
        events(&out.stdout).iter().filter(|e| e["event"] == "stage_started").map(|e| e["stage"].as_str().unwrap().to_owned()).collect();
    assert_eq!(started, ["a", "b1", "b2", "b3"]);
}

#[test]
fn the_run_says_whether_ci_or_a_person_started_it() {
    let sb = Sandbox::new("trigger");
    sb.write(
        "p.yaml",
        "version: 1\nname: t\nstages:\n  who: { kind: shell, run: 'echo \"$T $S\" >> trigger', env: { T: '{{ run.trigger }}', S: '{{ run.status }}' } }\n",
    );
    assert_eq!(sb.run(&["run", "p.yaml"]).status.code(), Some(0)); // the sandbox sets CI=true
    assert_eq!(sb.command(&["run", "p.yaml"]).env_remove("CI").output().unwrap().status.code(), Some(0));
    assert_eq!(sb.read("trigger"), "ci succeeded\ncli succeeded\n");
}

#[test]
fn odd_output_and_scripts_without_a_shebang_work() {
    let sb = Sandbox::new("odd-output");
    sb.write("deploy.sh", "echo from-script > script_ran\n");
    std::process::Command::new("chmod").args(["+x", sb.path("deploy.sh").to_str().unwrap()]).status().unwrap();
    sb.write(
        "p.yaml",
        "version: 1\nname: odd\nstages:\n  bytes: { kind: shell, run: 'printf \"caf\\xe9\\n\"; seq 1 20000; echo done > bytes_done' }\n  script: { kind: shell, run: ./deploy.sh }\n",
    );
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(sb.path("bytes_done").exists());
    assert_eq!(sb.read("script_ran"), "from-script\n");
    let evs = events(&out.stdout);
    assert!(of(&evs, "log", "bytes").iter().any(|e| e["line"] == "caf\u{fffd}"));
    // The journal keeps every line of output too (20,001 here: written out in
    // several batches), and all of them before the stage's end.
    let journal = sb.journal();
    let logged: Vec<&Value> = of(&journal, "log", "bytes");
    assert_eq!(logged.len(), 20_001);
    assert_eq!(logged[20_000]["line"], "20000");
    let end = journal.iter().position(|e| e["event"] == "stage_finished" && e["stage"] == "bytes").unwrap();
    let last_log = journal.iter().rposition(|e| e["event"] == "log" && e["stage"] == "bytes").unwrap();
    assert!(last_log < end);
}

#[test]
fn a_stage_skipped_by_its_own_condition_does_not_block_its_dependents() {
    let sb = Sandbox::new("if-skip");
    sb.write(
        "p.yaml",
        "version: 1\nname: s\nstages:\n  build: { kind: shell, run: 'true' }\n  optional: { kind: shell, needs: [build], if: 'false', run: 'touch optional' }\n  publish: { kind: shell, needs: [optional], run: 'touch published' }\n",
    );
    let out = sb.run(&["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!sb.path("optional").exists());
    assert!(sb.path("published").exists());
}

#[test]
fn verbose_logging_shows_scheduling_and_can_be_json() {
    let sb = Sandbox::new("logging");
    sb.write("p.yaml", "version: 1\nname: l\nstages:\n  a: { kind: shell, run: 'true' }\n");
    let out = sb.run(&["-v", "run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stage decided") && stderr.contains("deploy lock taken"), "{stderr}");
    let out = sb.run(&["-v", "--log-format", "json", "run", "p.yaml", "--format", "json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "stage decided"), "{}", String::from_utf8_lossy(&out.stderr));
    // without -v: quiet
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("stage decided"));
}

#[test]
fn the_summary_follows_the_progress_on_stdout_and_skips_name_the_stage_that_did_not_succeed() {
    let sb = Sandbox::new("summary-stdout");
    sb.write(
        "p.yaml",
        "version: 1\nname: s\nstages:\n  build: { kind: shell, run: 'exit 3' }\n  ship: { kind: shell, needs: [build], run: 'true' }\n  tell: { kind: shell, needs: [ship], run: 'true' }\n",
    );
    let out = sb.run(&["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("stage  status") && stdout.contains("continue it with: slipway resume"), "stdout: {stdout}\nstderr: {stderr}");
    assert!(!stderr.contains("stage  status"), "the summary went to stderr: {stderr}");
    // Both the direct and the indirect dependent name where it started.
    assert!(stdout.contains("- ship skipped: `build`, which it depends on, did not succeed (failed)"), "{stdout}");
    assert!(stdout.contains("- tell skipped: `build`, which it depends on, did not succeed (failed)"), "{stdout}");
}

#[test]
fn a_lock_wait_written_with_a_space_gets_a_hint() {
    let sb = Sandbox::new("wait-lock-space");
    sb.write("p.yaml", "version: 1\nname: w\nstages:\n  a: { kind: shell, run: 'true' }\n");
    let out = sb.run(&["run", "p.yaml", "--wait-lock", "5m"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write `--wait-lock=5m`"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(sb.run_ids().is_empty(), "nothing ran");
}
