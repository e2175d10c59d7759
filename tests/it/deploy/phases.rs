//! A deploy split in two, Capistrano's order: the code on every host (web and
//! worker), the migration once from the new release, then the switch and the
//! restarts. Over `local` hosts, from a git repository, with the load
//! balancer's `drain` and `ready` commands.

use super::stand::{finished, show};
use crate::sandbox::{Sandbox, events};

use crate::support::git;

const PIPELINE: &str = r#"version: 1
name: phases
params:
  revision: { required: true }
hosts:
  web: [{ name: web-1, transport: local }, { name: web-2, transport: local }]
  worker: [{ name: worker-1, transport: local }]
stages:
  code_web:
    kind: deploy
    hosts: web
    phase: prepare
    <<: &code
      deploy_to: "hosts/{{ host.name }}"
      revision: "{{ params.revision }}"
      source: { git: { repo: "REPO" } }
      shared: { dirs: [log] }
      restart: echo "restarted $SLIPWAY_RELEASE" >> "$SLIPWAY_DEPLOY_TO/restarts"
      load_balancer:
        commands:
          drain: echo "drain {{ host.name }} $(readlink hosts/{{ host.name }}/current || echo none)" >> lb.log
          ready: echo "ready {{ host.name }} $(basename "$(readlink hosts/{{ host.name }}/current)")" >> lb.log
  code_worker:
    kind: deploy
    hosts: worker
    phase: prepare
    <<: *code
  migrate:
    kind: shell
    workdir: "{{ stages.code_worker.outputs.release_path }}"
    run: |
      echo "migrated with $(cat app.txt)" > ../../../../migrated
      ls ../../../ > ../../../../hosts-during-migrate
      for h in web-1 web-2 worker-1; do readlink "../../../$h/current" || echo "$h: none"; done >> ../../../../hosts-during-migrate
  switch_web:
    kind: deploy
    hosts: web
    phase: switch
    needs: [migrate]
    release: "{{ stages.code_web.outputs.release }}"
    <<: *code
  switch_worker:
    kind: deploy
    hosts: worker
    phase: switch
    needs: [migrate]
    release: "{{ stages.code_worker.outputs.release }}"
    <<: *code
"#;

#[test]
fn code_goes_everywhere_then_the_migration_then_the_switch() {
    let sb = Sandbox::new("deploy-phases");
    let work = sb.path("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("app.txt"), "code one").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "one"]);
    let sha = git(&work, &["rev-parse", "HEAD"]);
    let bare = sb.path("repo.git");
    git(&sb.dir, &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    sb.write("p.yaml", &PIPELINE.replace("REPO", &format!("file://{}", bare.display())));

    let out = sb.run(&["run", "p.yaml", "--format", "json", "--param", &format!("revision={sha}")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let evs = events(&out.stdout);
    let release = finished(&evs, "code_web")["outputs"]["release"].as_str().unwrap().to_owned();
    assert_eq!(finished(&evs, "code_worker")["outputs"]["release"], release.as_str(), "one release id for the whole run");
    assert_eq!(finished(&evs, "switch_web")["outputs"]["release"], release.as_str());
    assert_eq!(finished(&evs, "switch_web")["outputs"]["hosts"], serde_json::json!(["web-1", "web-2"]));
    assert_eq!(finished(&evs, "code_web")["outputs"]["host_releases"][0]["status"], "prepared");

    // The migration ran in the new code, while no host had switched to it yet.
    assert_eq!(sb.read("migrated"), "migrated with code one\n");
    assert_eq!(sb.read("hosts-during-migrate"), "web-1\nweb-2\nworker-1\nweb-1: none\nweb-2: none\nworker-1: none\n");
    for h in ["web-1", "web-2", "worker-1"] {
        let root = sb.path(&format!("hosts/{h}"));
        assert_eq!(std::fs::read_link(root.join("current")).unwrap(), root.join(format!("releases/{release}")));
        assert_eq!(std::fs::read_to_string(root.join("current/app.txt")).unwrap(), "code one");
        assert_eq!(std::fs::read_to_string(root.join("current/REVISION")).unwrap(), format!("{sha}\n"));
        assert_eq!(std::fs::read_to_string(root.join("restarts")).unwrap(), format!("restarted {release}\n"));
        assert!(std::fs::read_link(root.join("current/log")).unwrap().ends_with("shared/log"));
    }
    // Each host left the load balancer before its switch and came back on the new release, one at a time.
    let lb = sb.read("lb.log");
    for h in ["web-1", "web-2", "worker-1"] {
        let mine: Vec<&str> = lb.lines().filter(|l| l.split(' ').nth(1) == Some(h)).collect();
        assert_eq!(mine, [format!("drain {h} none"), format!("ready {h} {release}")], "{lb}");
    }
    let web: Vec<&str> = lb.lines().filter(|l| l.contains(" web-")).collect();
    assert_eq!(web[..2], ["drain web-1 none".to_owned(), format!("ready web-1 {release}")], "web-2 waits for web-1: {lb}");

    // A switch to a release that was never prepared moves nothing.
    let bad = PIPELINE
        .replace("REPO", &format!("file://{}", bare.display()))
        .replace("release: \"{{ stages.code_web.outputs.release }}\"", "release: \"20000101000000\"");
    sb.write("bad.yaml", &bad);
    // Release ids are the run's start to the second: this run must not start in the same one.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let out = sb.run(&["run", "bad.yaml", "--format", "json", "--param", &format!("revision={sha}")]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let reason = finished(&events(&out.stdout), "switch_web")["reason"].as_str().unwrap().to_owned();
    assert!(reason.starts_with("nothing was switched: web-1: release 20000101000000 is not prepared there"), "{reason}");
    assert!(std::fs::read_link(sb.path("hosts/web-1/current")).unwrap().ends_with(&release), "web-1 still runs the first release");
}
