//! After things go wrong: `slipway resume` of a deploy killed mid-rollout, and
//! `slipway rollback`.

use std::time::{Duration, Instant};

use super::stand::{SEED, Stand, logs, show};
use crate::haproxy_harness::Load;
use crate::sandbox::events;

/// `slipway resume RUN`, again while the killed run's commands are still ending (exit 75).
fn resume(s: &Stand, run_id: &str) -> std::process::Output {
    let start = Instant::now();
    loop {
        let out = s.sb.run(&["resume", run_id, "--format", "json"]);
        if out.status.code() != Some(75) || start.elapsed() > Duration::from_secs(15) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_deploy_killed_mid_rollout_resumes_without_redeploying_the_hosts_done() {
    let Some(s) = Stand::start("deploy-kill") else { return };
    s.write(&format!("    batch_size: 1\n{}", s.haproxy_block()));
    let load = Load::start(s.haproxy.port, 4);
    let mut child = s.sb.spawn(&["run", "p.yaml", "--format", "json", "--param", "revision=v1"]);
    // web-2 is done: restarted, and its switch finished (the mark is gone).
    let web2 = s.app("web-2");
    let start = Instant::now();
    while !(web2.starts() == 2 && web2.current() != SEED && !web2.deploy_to.join(".slipway-switching").exists()) {
        assert!(start.elapsed() < Duration::from_secs(20), "web-2 was never deployed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill -9 the run");
    let _ = child.wait();
    let release = web2.current();
    let states: Vec<(String, usize)> = s.apps.iter().map(|a| (a.current(), a.starts())).collect();
    eprintln!("killed with hosts on (release, starts): {states:?}");
    assert_ne!(s.app("web-4").current(), release, "killed before the end");

    let run_id = s.sb.run_ids().pop().expect("the killed run's journal");
    let out = resume(&s, &run_id);
    let tally = load.stop();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let lines = logs(&events(&out.stdout), "deploy");
    for h in ["web-1", "web-2"] {
        assert!(lines.contains(&format!("[{h}] already on release {release}: not switched again")), "{lines:#?}");
        assert!(lines.contains(&format!("[{h}] release {release} was prepared by an earlier attempt: kept")), "{lines:#?}");
        assert_eq!(s.app(h).starts(), 2, "{h} was not restarted again");
    }
    assert_eq!(s.app("web-4").starts(), 2);
    // web-3 may have been between its switch and its health check: it is finished, restarted once more at most.
    assert!((2..=3).contains(&s.app("web-3").starts()), "web-3 started {} times", s.app("web-3").starts());
    for a in &s.apps {
        assert_eq!(a.serving(), format!("v1 {release}"), "{} serves the release", a.name);
        assert!(!a.deploy_to.join(".slipway-switching").exists(), "{} is left half-switched", a.name);
    }
    assert_eq!(tally.failed, 0, "{} of {} requests failed: {:?}", tally.failed, tally.sent, tally.failures);
    s.assert_all_up();
    s.assert_no_dangling();
}

#[test]
fn slipway_rollback_switches_the_role_back_and_says_in_its_exit_code_how_that_went() {
    let Some(s) = Stand::start("deploy-rollback-cli") else { return };
    s.write(&format!("    batch_size: 50%\n{}", s.haproxy_block()));
    let (out, _, _) = s.deploy_under_load("v1", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v1 = s.app("web-1").current();

    let load = Load::start(s.haproxy.port, 4);
    let out = s.sb.run(&["rollback", "p.yaml", "--stage", "deploy"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let all_back = (1..=4).map(|i| format!("web-{i} on {SEED} (rolled back)")).collect::<Vec<_>>().join(", ");
    assert!(stdout.contains(&format!("rolled back `deploy`: {all_back}")), "{stdout}");
    for a in &s.apps {
        assert_eq!(a.serving(), format!("v0 {SEED}"), "{} is back", a.name);
        assert_eq!(a.starts(), 3);
    }
    s.assert_all_up();
    let log = std::fs::read_to_string(s.app("web-1").deploy_to.join("revisions.log")).unwrap();
    assert!(log.lines().last().unwrap_or_default().ends_with(&format!("rolled back to release {SEED}")), "{log}");

    // Deploy again; then a rollback whose old release no longer passes its health check on web-2.
    let out = s.sb.run(&["run", "p.yaml", "--format", "json", "--param", "revision=v2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v2 = s.app("web-1").current();
    assert_ne!(v2, v1);
    std::fs::write(s.app("web-2").deploy_to.join(format!("releases/{SEED}/BROKEN")), "").unwrap();
    let out = s.sb.run(&["rollback", "p.yaml", "--stage", "deploy"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr.contains(&format!("web-2 on {SEED} (rollback failed)")) && stderr.contains("web-2: health check: HTTP 500"), "{stderr}");
    for h in ["web-1", "web-3", "web-4"] {
        assert_eq!(s.app(h).serving(), format!("v0 {SEED}"), "{h} is back: a failed host does not stop the others");
    }
    // Nothing before the oldest release: a rollback from there fails, changing nothing.
    let before: Vec<usize> = s.apps.iter().map(|a| a.starts()).collect();
    let out = s.sb.run(&["rollback", "p.yaml", "--stage", "deploy", "--limit", "web-1"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("web-1: no previous release to go back to"), "{}", show(&out));
    assert_eq!(s.apps.iter().map(|a| a.starts()).collect::<Vec<_>>(), before);
    let tally = load.stop();
    assert_eq!(tally.failed, 0, "{:?}", tally.failures);

    let out = s.sb.run(&["rollback", "p.yaml", "--stage", "deplyo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("its deploy stages: deploy"), "{}", show(&out));
}

#[test]
fn a_deploy_killed_mid_rollback_resumes_into_the_same_rollback() {
    let Some(s) = Stand::start("deploy-kill-rollback") else { return };
    s.write(&format!("    batch_size: 1\n{}", s.haproxy_block()));
    let load = Load::start(s.haproxy.port, 4);
    let mut child = s.sb.spawn(&["run", "p.yaml", "--format", "json", "--param", "revision=v1", "--param", "broken=web-3"]);
    // web-3 is switched (and fails its health check); kill -9 once the rollback has moved a host back.
    let web = |h: &str| s.app(h).current();
    let start = Instant::now();
    while !["web-1", "web-2", "web-3"].iter().all(|h| web(h) != SEED) {
        assert!(start.elapsed() < Duration::from_secs(30), "web-3 was never switched");
        std::thread::sleep(Duration::from_millis(5));
    }
    while !["web-1", "web-2", "web-3"].iter().any(|h| web(h) == SEED) {
        assert!(start.elapsed() < Duration::from_secs(60), "the rollback never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill -9 the run");
    let _ = child.wait();
    let states: Vec<(String, usize)> = s.apps.iter().map(|a| (a.current(), a.starts())).collect();
    eprintln!("killed mid-rollback with hosts on (release, starts): {states:?}");

    let run_id = s.sb.run_ids().pop().expect("the killed run's journal");
    let out = resume(&s, &run_id);
    let tally = load.stop();
    // The broken release fails again on web-3, and the resumed stage rolls back again: it ends failed,
    // with every host it touched back on the previous release, serving, and in the load balancer.
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let evs = events(&out.stdout);
    let reason = evs.iter().find(|e| e["event"] == "stage_finished" && e["stage"] == "deploy").expect("deploy finished")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("rolled back to the previous release"), "{reason}");
    for a in &s.apps {
        assert_eq!(a.current(), SEED, "{} is not back on the previous release", a.name);
        assert_eq!(a.serving(), format!("v0 {SEED}"), "{} serves it", a.name);
        assert!(!a.deploy_to.join(".slipway-switching").exists(), "{} is left half-switched", a.name);
    }
    assert_eq!(s.app("web-4").starts(), 1, "web-4 was never touched");
    assert_eq!(tally.failed, 0, "{} of {} requests failed: {:?}", tally.failed, tally.sent, tally.failures);
    s.assert_all_up();
    s.assert_no_dangling();
}
