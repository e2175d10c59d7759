//! Saved plans: `plan --out` then `run --plan`. An unchanged plan runs; a
//! change to anything it pinned (the file, params, hosts, a revision a
//! changelog resolved) is refused with `stale-plan`, naming what changed, and
//! nothing runs.

use std::process::Output;

use crate::sandbox::Sandbox;
use crate::support::stdout;

const SECRET: &str = "hunter2-very-secret";

const PIPELINE: &str = "version: 1
name: saved
params:
  version: { default: \"1\" }
  note: { default: \"-\" }
secrets:
  TOKEN: { env: SAVED_PLAN_TOKEN }
hosts:
  web:
    - { name: web-1, transport: local }
    - { name: web-2, transport: local }
stages:
  changes: { kind: changelog, from: v1, to: main, git: { path: repo } }
  ship:
    kind: shell
    hosts: web
    env: { V: \"{{ params.version }}\", TO: \"{{ stages.changes.outputs.to }}\", T: \"{{ secrets.TOKEN }}\" }
    run: 'echo \"$V $TO ${#T}\" >> shipped'
";

fn git(sb: &Sandbox, args: &[&str]) -> String {
    crate::support::git(&sb.path("repo"), args)
}

/// A sandbox with the pipeline, a repository (`v1`, then one more commit on
/// `main`) and a plan saved with `extra` arguments.
fn planned(name: &str, extra: &[&str]) -> Sandbox {
    let sb = Sandbox::new(name);
    std::fs::create_dir_all(sb.path("repo")).unwrap();
    git(&sb, &["init", "-q"]);
    git(&sb, &["commit", "-q", "--allow-empty", "-m", "one"]);
    git(&sb, &["tag", "v1"]);
    git(&sb, &["commit", "-q", "--allow-empty", "-m", "two"]);
    sb.write("p.yaml", PIPELINE);
    let mut args = vec!["plan", "p.yaml", "--out", "plan.json"];
    args.extend(extra);
    let out = slipway(&sb, &args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    sb
}

fn slipway(sb: &Sandbox, args: &[&str]) -> Output {
    sb.command(args).env("SAVED_PLAN_TOKEN", SECRET).output().expect("run slipway")
}

/// `run --plan` is refused, naming `what`, and runs nothing.
fn refused(sb: &Sandbox, extra: &[&str], what: &str) {
    let mut args = vec!["run", "--plan", "plan.json"];
    args.extend(extra);
    let out = slipway(sb, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing to run the saved plan plan.json: it is stale"), "{err}");
    assert!(err.contains(what), "`{what}` not named: {err}");
    assert!(!sb.path("shipped").exists(), "a stale plan ran");
    assert!(sb.run_ids().is_empty(), "a stale plan started a run");
    args.extend(["--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&slipway(sb, &args).stdout).unwrap();
    assert_eq!(json["diagnostics"][0]["code"], "stale-plan");
    assert!(json["diagnostics"][0]["message"].as_str().unwrap().contains(what), "{json}");
}

#[test]
fn an_unchanged_plan_runs_as_planned() {
    let sb = planned("saved-plan-runs", &["-p", &format!("note={SECRET}"), "-p", "version=3"]);
    let plan = sb.read("plan.json");
    let json: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let to = git(&sb, &["rev-parse", "main"]);
    assert_eq!(json["resolved"]["changes"]["to"], to.as_str());
    assert_eq!(json["hosts"]["web"], serde_json::json!(["web-1", "web-2"]));
    assert_eq!(json["params"]["version"], "3");
    assert!(json["file_sha256"].as_str().unwrap().len() == 64);
    // The param holding the secret is pinned by its hash: the plan holds no secret.
    assert!(json["params"]["note"].as_str().unwrap().starts_with("sha256:"));
    assert!(!plan.contains(SECRET), "{plan}");
    // A param held only as a hash must be given again.
    let out = slipway(&sb, &["run", "--plan", "plan.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("param `note` held secret text"));
    // Given again with another value: stale, and no value is shown.
    refused(&sb, &["-p", "note=another-value"], "param `note` changed (it held secret text, so neither value is shown)");
    let out = slipway(&sb, &["run", "--plan", "plan.json", "-p", "note=another-value"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("another-value"));
    // Given again, with the value the plan pinned (the other params come from
    // the plan): it runs, from any folder.
    std::fs::create_dir_all(sb.path("elsewhere")).unwrap();
    let plan_path = sb.path("plan.json");
    let out = sb
        .command(&["run", "--plan", plan_path.to_str().unwrap(), "-p", &format!("note={SECRET}")])
        .env("SAVED_PLAN_TOKEN", SECRET)
        .current_dir(sb.path("elsewhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let len = SECRET.len();
    assert_eq!(sb.read("shipped"), format!("3 {to} {len}\n3 {to} {len}\n"));
}

#[test]
fn an_unchanged_plan_without_secret_params_needs_nothing_but_the_plan() {
    let sb = planned("saved-plan-plain", &["-p", "version=7", "--limit", "web-2"]);
    let out = slipway(&sb, &["run", "--plan", "plan.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The plan's params and `--limit` were used: version 7, on web-2 only.
    let to = git(&sb, &["rev-parse", "main"]);
    assert_eq!(sb.read("shipped"), format!("7 {to} {}\n", SECRET.len()));
}

#[test]
fn a_changed_file_is_refused() {
    let sb = planned("saved-plan-file", &[]);
    sb.write("p.yaml", &format!("{PIPELINE}# reviewed? no\n"));
    refused(&sb, &[], "the pipeline file");
    refused(&sb, &[], "p.yaml changed since the plan was made");
    // Changed into an invalid pipeline: its diagnostics, and where the plan came from.
    sb.write("p.yaml", &PIPELINE.replace("kind: shell", "kind: shel"));
    let out = slipway(&sb, &["run", "--plan", "plan.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown-kind") && err.contains("the plan plan.json was made from this file"), "{err}");
    assert!(!sb.path("shipped").exists());
}

#[test]
fn changed_params_are_refused() {
    let sb = planned("saved-plan-params", &[]);
    refused(&sb, &["-p", "version=2"], "param `version`: `1` in the plan, `2` now");
}

#[test]
fn changed_hosts_are_refused() {
    let sb = planned("saved-plan-hosts", &[]);
    // Fewer hosts through `--limit`: the file is the same.
    refused(&sb, &["--limit", "web-1"], "hosts of role `web`: web-1, web-2 in the plan, web-1 now");
    // A host added in the file: both are named.
    sb.write(
        "p.yaml",
        &PIPELINE.replace(
            "    - { name: web-2, transport: local }\n",
            "    - { name: web-2, transport: local }\n    - { name: web-3, transport: local }\n",
        ),
    );
    refused(&sb, &[], "hosts of role `web`: web-1, web-2 in the plan, web-1, web-2, web-3 now");
    refused(&sb, &[], "the pipeline file");
}

#[test]
fn a_changed_resolved_revision_is_refused() {
    let sb = planned("saved-plan-revision", &[]);
    let then = git(&sb, &["rev-parse", "main"]);
    git(&sb, &["commit", "-q", "--allow-empty", "-m", "three"]);
    let now = git(&sb, &["rev-parse", "main"]);
    refused(&sb, &[], &format!("stage `changes`: `to` resolved to {} in the plan, {} now", &then[..12], &now[..12]));
}

#[test]
fn what_is_not_a_saved_plan_is_a_usage_error() {
    let sb = planned("saved-plan-usage", &[]);
    sb.write("junk.json", "{\"hello\": 1}");
    for args in [
        vec!["run", "--plan", "junk.json"],
        vec!["run", "--plan", "missing.json"],
        vec!["run"],
        vec!["run", "p.yaml", "--plan", "plan.json"],
    ] {
        let out = slipway(&sb, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // A plan with errors is not saved.
    sb.write("bad.yaml", &PIPELINE.replace("from: v1", "from: no-such-tag"));
    let out = slipway(&sb, &["plan", "bad.yaml", "--out", "bad.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!sb.path("bad.json").exists());
}

#[test]
fn a_revision_that_moves_during_the_run_fails_its_stage_before_anything_reads_it() {
    let sb = planned("saved-plan-race", &[]);
    // A stage the plan cannot run (it acts) moves `main` before the changelog
    // reads it: the check before the run passes, the run itself must not.
    let racy = PIPELINE.replace(
        "  changes: { kind: changelog, from: v1, to: main, git: { path: repo } }\n",
        "  push: { kind: shell, run: 'git -C repo -c user.name=t -c user.email=t@t commit -q --allow-empty -m pushed' }\n  changes: { kind: changelog, needs: [push], from: v1, to: main, git: { path: repo } }\n",
    );
    sb.write("p.yaml", &racy);
    let out = slipway(&sb, &["plan", "p.yaml", "--out", "plan.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let pinned = git(&sb, &["rev-parse", "main"]);
    let out = slipway(&sb, &["run", "--plan", "plan.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let moved = git(&sb, &["rev-parse", "main"]);
    assert_ne!(moved, pinned);
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let expected = format!("stale plan: `to` resolved to {} now, the plan pinned {}", &moved[..12], &pinned[..12]);
    assert!(text.contains(&expected), "{text}");
    assert!(!sb.path("shipped").exists(), "a stage read the moved revision");
}
