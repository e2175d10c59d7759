//! `slipway plan`: every pipeline's plan is snapshotted; planning changes nothing.

use crate::sandbox::Sandbox;
use crate::server::{Reply, TestServer};
use crate::support::{root, slipway, stdout, stem, yaml_files};

#[test]
fn plans_of_pipelines_are_snapshotted() {
    let root_text = root().display().to_string();
    for file in yaml_files("pipelines") {
        let mut args = vec!["plan", file.as_str()];
        if file.ends_with("reverb.yaml") {
            args.extend(["--param", "revision=0123456789abcdef0123456789abcdef01234567"]);
        }
        let out = slipway(&args);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let text = stdout(&out).replace(&root_text, "[ROOT]");
        insta::with_settings!({ snapshot_path => "../snapshots/plan", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(stem(&file), text);
        });
    }
}

#[test]
fn plan_json_names_every_stage_and_effect() {
    let out = slipway(&["plan", "--format", "json", "pipelines/opentable.yaml"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stages = json["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 7);
    let ticket = stages.iter().find(|s| s["id"] == "ccb_ticket").unwrap();
    let post = ticket["effects"].as_array().unwrap().iter().find(|e| e["method"] == "POST").unwrap();
    assert!(post["url"].as_str().unwrap().ends_with("/rest/api/2/issue"));
    // placeholders name their source so downstream templates render
    assert!(post["body"].as_str().unwrap().contains("<stages.pinned_build.outputs.number: known after run>"));
}

const EFFECTFUL: &str = "version: 1\nname: e\nstages:\n  read: { kind: http, url: '{GET}', outputs: { v: /v } }\n  write: { kind: http, method: POST, url: '{POST}', body: '{{ stages.read.outputs.v }}' }\n  touch: { kind: shell, run: touch touched }\n";

#[test]
fn planning_performs_no_side_effect() {
    let server = TestServer::start(vec![Reply::new(200, "{\"v\": \"live-value\"}")]);
    let sb = Sandbox::new("plan-no-effects");
    sb.write("p.yaml", &EFFECTFUL.replace("{GET}", &server.url("/read")).replace("{POST}", &server.url("/write")));
    for args in [vec!["plan", "p.yaml"], vec!["run", "--dry-run", "p.yaml"], vec!["plan", "--format", "json", "p.yaml"]] {
        let out = sb.run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout(&out).contains("POST"), "{args:?}");
    }
    assert!(server.recorded().is_empty(), "a plan sent a request");
    assert!(!sb.path("touched").exists(), "a plan ran a command");
    assert!(!sb.path(".slipway").exists(), "a plan wrote run state");
}

#[test]
fn live_reads_run_only_read_only_stages() {
    let server = TestServer::start(vec![Reply::new(200, "{\"v\": \"live-value\"}")]);
    let sb = Sandbox::new("plan-live");
    sb.write("p.yaml", &EFFECTFUL.replace("{GET}", &server.url("/read")).replace("{POST}", &server.url("/write")));
    let out = sb.run(&["plan", "--live-reads", "p.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = server.recorded();
    assert_eq!(reqs.len(), 1);
    assert_eq!((reqs[0].method.as_str(), reqs[0].path.as_str()), ("GET", "/read"));
    // the real value flows into the planned POST body, and is shown as read
    assert!(stdout(&out).contains("| live-value"), "{}", stdout(&out));
    assert!(stdout(&out).contains("output v = live-value"), "{}", stdout(&out));
    assert!(!sb.path("touched").exists());
}

#[test]
fn conditions_on_what_only_the_run_knows_are_not_guessed() {
    let server = TestServer::start(vec![Reply::new(200, "{\"v\": \"prod\"}")]);
    let sb = Sandbox::new("plan-conditions");
    sb.write(
        "p.yaml",
        &format!(
            "version: 1\nname: c\nparams: {{ env: {{ default: prod }} }}\nstages:\n  read: {{ kind: http, url: '{}', outputs: {{ v: /v }} }}\n  build: {{ kind: shell, run: 'true', outputs: [v] }}\n  on_param: {{ kind: shell, run: 'true', if: '{{{{ eq params.env \"prod\" }}}}' }}\n  on_output: {{ kind: shell, run: 'true', if: '{{{{ eq stages.build.outputs.v \"x\" }}}}' }}\n  on_live: {{ kind: shell, run: 'true', if: '{{{{ eq stages.read.outputs.v \"prod\" }}}}' }}\n",
            server.url("/read")
        ),
    );
    let plan = stdout(&sb.run(&["plan", "p.yaml"]));
    assert!(plan.contains("only if: true\n"), "{plan}");
    assert!(plan.contains("only if: {{ eq stages.build.outputs.v \"x\" }} (decided at run time)"), "{plan}");
    assert!(plan.contains("only if: {{ eq stages.read.outputs.v \"prod\" }} (decided at run time)"), "{plan}");
    // read live, the output is known: the condition is decided
    let live = stdout(&sb.run(&["plan", "--live-reads", "p.yaml"]));
    assert!(!live.contains("stages.read.outputs.v \"prod\" }} (decided"), "{live}");
    assert_eq!(live.matches("only if: true\n").count(), 2, "{live}");
    let json: serde_json::Value = serde_json::from_slice(&sb.run(&["plan", "--format", "json", "p.yaml"]).stdout).unwrap();
    let on_output = json["stages"].as_array().unwrap().iter().find(|s| s["id"] == "on_output").unwrap();
    assert_eq!(on_output["decided_at_run"], true);
}

#[test]
fn live_reads_read_only_what_a_run_would_read() {
    let server = TestServer::start(vec![Reply::new(200, "{\"v\": \"x\"}")]);
    let url = server.url("/read");
    let sb = Sandbox::new("plan-live-only");
    sb.write(
        "p.yaml",
        &format!(
            "version: 1\nname: l\nstages:\n  build: {{ kind: shell, run: 'true', outputs: [id] }}\n  plain: {{ kind: http, url: '{url}' }}\n  later: {{ kind: http, url: '{url}/{{{{ stages.build.outputs.id }}}}' }}\n  skipped: {{ kind: http, url: '{url}', if: 'no' }}\n  rollback: {{ kind: http, url: '{url}', needs: [plain], when: failure }}\n"
        ),
    );
    let out = sb.run(&["plan", "--live-reads", "p.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let paths: Vec<String> = server.recorded().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/read"], "only `plain` is read: not a URL made of placeholders, a skipped stage or a failure branch");
    // The README's demo: its probe reads the port the server stage picks.
    let demo = root().join("pipelines/local-demo.yaml");
    let out = sb.run(&["plan", "--live-reads", demo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn a_plan_shows_what_the_run_decides_as_written_not_guessed() {
    let sb = Sandbox::new("plan-branches");
    let reverb = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/reverb.yaml")).unwrap();
    sb.write("reverb.yaml", &reverb);
    let out = sb
        .command(&["plan", "reverb.yaml", "--param", "revision=abc1234", "--format", "json"])
        .env("DD_API_KEY", "k")
        .env("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stage = plan["stages"].as_array().unwrap().iter().find(|s| s["id"] == "deploy_finished").expect("deploy_finished is planned");
    let body: serde_json::Value = serde_json::from_str(stage["effects"][0]["body"].as_str().unwrap()).unwrap();
    // A good run sends `success`: the plan must not say `error`.
    assert_eq!(body["alert_type"], "{{#if (eq stages.deploy.status 'succeeded')}}success{{else}}error{{/if}} (decided at run time)");
}
