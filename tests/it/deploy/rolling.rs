//! Rolling deploys behind HAProxy, measured: a load generator counts every
//! failed request for the whole deploy, and what each host ends on is checked.

use super::stand::{SEED, Stand, finished, logs, show};
use crate::sandbox::events;

/// The rolling deploy itself: 0 failed requests, every host on the new release.
fn rolls_out_with_no_request_failed(batch: &str) {
    let Some(s) = Stand::start(&format!("deploy-zero-{}", batch.replace('%', "pc"))) else { return };
    s.write(&format!("    batch_size: {batch}\n{}", s.haproxy_block()));
    let (out, tally, took) = s.deploy_under_load("v1", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let evs = events(&out.stdout);
    let outputs = &finished(&evs, "deploy")["outputs"];
    let release = outputs["release"].as_str().unwrap().to_owned();
    eprintln!("batch_size {batch}: {} requests, {} failed, deploy took {took:?}; served {:?}", tally.sent, tally.failed, tally.served);
    for line in logs(&evs, "deploy") {
        eprintln!("  {line}");
    }
    assert_eq!(tally.failed, 0, "requests failed during the deploy: {:?}", tally.failures);
    assert!(tally.sent > 40, "too little load to prove anything: {tally:?}");
    assert!(tally.served.contains_key(&format!("v0 {SEED}")) && tally.served.contains_key(&format!("v1 {release}")), "{tally:?}");
    for a in &s.apps {
        assert_eq!(a.serving(), format!("v1 {release}"), "{} serves the new release", a.name);
        assert_eq!(a.starts(), 2, "{} was restarted once", a.name);
        assert_eq!(std::fs::read_to_string(a.deploy_to.join(format!("releases/{release}/built"))).unwrap(), format!("built {release}\n"));
    }
    s.assert_all_up();
    assert_eq!(outputs["hosts"], serde_json::json!(["web-1", "web-2", "web-3", "web-4"]));
    assert_eq!((outputs["revision"].as_str(), outputs["previous_revision"].as_str()), (Some("v1"), Some("v0")));
    assert_eq!(outputs["release_path"], format!("{}/releases/{release}", s.app("web-1").deploy_to.display()));
    assert_eq!(outputs["host_releases"][2], serde_json::json!({ "name": "web-3", "release": release, "status": "updated" }));
    let log = std::fs::read_to_string(s.app("web-1").deploy_to.join("revisions.log")).unwrap();
    assert!(log.starts_with(&format!("Revision v1 deployed as release {release} by ")), "{log}");
}

#[test]
fn a_rolling_deploy_behind_haproxy_drops_no_request() {
    rolls_out_with_no_request_failed("1");
}

#[test]
fn a_rolling_deploy_in_halves_drops_no_request() {
    rolls_out_with_no_request_failed("50%");
}

/// The measurement can fail: the same deploy without draining drops requests.
#[test]
fn without_draining_the_same_deploy_drops_requests() {
    let Some(s) = Stand::start("deploy-nodrain") else { return };
    s.write("");
    let (out, tally, _) = s.deploy_under_load("v1", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    eprintln!("without draining: {} requests, {} failed", tally.sent, tally.failed);
    assert!(tally.failed > 0, "restarts behind no drain went unnoticed: the load generator proves nothing ({tally:?})");
}

#[test]
fn a_failed_health_check_rolls_every_updated_host_back() {
    let Some(s) = Stand::start("deploy-rollback") else { return };
    // A failure stage reads what the failed deploy says about the hosts.
    let page = "  page:\n    kind: shell\n    needs: [deploy]\n    when: failure\n    env:\n\
                \x20     BACK: '{{ stages.deploy.outputs.rolled_back }}'\n\
                \x20     HOSTS: '{{#each stages.deploy.outputs.host_releases}}{{ this.name }}={{ this.status }} {{/each}}'\n\
                \x20   run: echo \"$BACK $HOSTS\" > paged\n";
    s.write(&format!("    batch_size: 1\n{}{page}", s.haproxy_block()));
    let (out, tally, _) = s.deploy_under_load("v1", &["--param", "broken=web-3"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let evs = events(&out.stdout);
    let reason = finished(&evs, "deploy")["reason"].as_str().unwrap().to_owned();
    eprintln!("{reason}\n{} requests, {} failed", tally.sent, tally.failed);
    assert!(reason.contains("failed on web-3 (health check: HTTP 500, not 200"), "{reason}");
    assert!(reason.contains("rolled back to the previous release"), "{reason}");
    for h in ["web-1", "web-2", "web-3"] {
        assert!(reason.contains(&format!("{h} on {SEED} (rolled back)")), "{reason}");
        assert_eq!(s.app(h).current(), SEED, "{h} is back on the previous release");
        assert_eq!(s.app(h).serving(), format!("v0 {SEED}"), "{h} serves it");
        assert_eq!(s.app(h).starts(), 3, "{h}: restarted for the deploy and for the rollback");
    }
    assert!(reason.contains(&format!("web-4 on {SEED} (not reached)")), "{reason}");
    assert_eq!((s.app("web-4").current(), s.app("web-4").starts()), (SEED.to_owned(), 1), "web-4 was never touched");
    assert_eq!(tally.failed, 0, "requests failed: {:?}", tally.failures);
    assert_eq!(
        s.sb.read("paged"),
        "true web-1=rolled_back web-2=rolled_back web-3=rolled_back web-4=not_reached \n",
        "the failure stage reads the failed deploy's outputs"
    );
    s.assert_all_up();
    s.assert_no_dangling();
}

#[test]
fn halt_leaves_the_updated_hosts_and_the_failed_one_drained() {
    let Some(s) = Stand::start("deploy-halt") else { return };
    s.write(&format!("    batch_size: 1\n    on_failure: halt\n{}", s.haproxy_block()));
    let (out, tally, _) = s.deploy_under_load("v1", &["--param", "broken=web-3"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let evs = events(&out.stdout);
    let reason = finished(&evs, "deploy")["reason"].as_str().unwrap().to_owned();
    eprintln!("{reason}");
    let release = s.app("web-1").current();
    assert_ne!(release, SEED);
    for h in ["web-1", "web-2"] {
        assert_eq!(s.app(h).serving(), format!("v1 {release}"), "{h} keeps the new release");
        assert!(reason.contains(&format!("{h} on {release} (updated)")), "{reason}");
    }
    assert_eq!(s.app("web-3").current(), release, "web-3 is left as it failed, for a person to look at");
    assert!(
        reason.contains(&format!("web-3 on {release} (failed)")) && reason.contains("web-3 stays out of the load balancer"),
        "{reason}"
    );
    assert_eq!(s.app("web-4").current(), SEED);
    assert!(reason.contains(&format!("web-4 on {SEED} (not reached)")), "{reason}");
    let web3 = s.haproxy.status("web-3").unwrap_or_default();
    assert!(web3 != "UP", "the failed host takes no traffic: {web3}");
    for h in ["web-1", "web-2", "web-4"] {
        assert_eq!(s.haproxy.wait_status(h, "UP"), "UP");
    }
    assert_eq!(tally.failed, 0, "requests failed: {:?}", tally.failures);
    s.assert_no_dangling();

    // A server HAProxy does not know is found before anything moves.
    std::thread::sleep(std::time::Duration::from_millis(1000)); // a new release id
    s.write(&format!("    batch_size: 1\n{}", s.haproxy_block().replace("backend: app", "backend: nope")));
    let out = s.sb.run(&["run", "p.yaml", "--format", "json", "--param", "revision=v2"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let reason = finished(&events(&out.stdout), "deploy")["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.starts_with("nothing was switched: haproxy") && reason.contains("lists no server `web-1` in backend `nope`"),
        "{reason}"
    );
    assert_eq!((s.app("web-1").current(), s.app("web-4").current()), (release, SEED.to_owned()));
}
