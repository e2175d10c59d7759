//! `slipway diff`: snapshots of pairs of pipelines in every format, a file
//! against its own git history, and what invalid input and bad usage give.

use crate::sandbox::Sandbox;
use crate::support::{root, slipway, stdout};

const BASE: &str = "tests/fixtures/diff/base.yaml";
const HEAD: &str = "tests/fixtures/diff/head.yaml";

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "../snapshots/diff", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn a_pair_of_pipelines_in_every_format() {
    for format in ["human", "markdown", "json"] {
        let out = slipway(&["diff", BASE, HEAD, "--format", format]);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        snapshot(&format!("shop.{format}"), &stdout(&out));
    }
    let json: serde_json::Value = serde_json::from_slice(&slipway(&["diff", BASE, HEAD, "--format", "json"]).stdout).unwrap();
    assert_eq!(json["stages_removed"][0]["id"], "old_notify");
    assert_eq!(json["edges_added"][0], serde_json::json!({ "from": "unit_tests", "to": "lint", "implicit": false }));
    assert_eq!(json["edges_removed"][0], serde_json::json!({ "from": "lint", "to": "ship", "implicit": false }));
}

#[test]
fn reverb_with_a_stage_moved_and_retuned() {
    let reverb = std::fs::read_to_string(root().join("pipelines/reverb.yaml")).unwrap();
    // The converge no longer waits for the start marker, runs 2 at a time, and
    // every stage gets a longer default timeout.
    let changed = reverb
        .replace("    needs: [chef_started]\n", "")
        .replace("concurrency: 3", "concurrency: 2")
        .replace("timeout: 15m", "timeout: 30m");
    assert_ne!(changed, reverb);
    let sb = Sandbox::new("diff-reverb");
    sb.write("reverb.yaml", &reverb);
    sb.write("reverb-next.yaml", &changed);
    let out = sb.run(&["diff", "reverb.yaml", "reverb-next.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    snapshot("reverb.human", &stdout(&out));
    let same = sb.run(&["diff", "reverb.yaml", "reverb.yaml"]);
    assert_eq!(stdout(&same), "pipeline `reverb-web`: no changes\n");
}

fn git(sb: &Sandbox, args: &[&str]) {
    crate::support::git(&sb.dir, args);
}

#[test]
fn a_file_against_a_git_revision() {
    let sb = Sandbox::new("diff-git");
    std::fs::create_dir_all(sb.path("ci")).unwrap();
    sb.write("ci/deploy.yaml", &std::fs::read_to_string(root().join(BASE)).unwrap());
    git(&sb, &["init", "-q"]);
    git(&sb, &["add", "."]);
    git(&sb, &["commit", "-qm", "base"]);
    sb.write("ci/deploy.yaml", &std::fs::read_to_string(root().join(HEAD)).unwrap());
    let from_git = sb.run(&["diff", "ci/deploy.yaml", "--git", "HEAD"]);
    assert_eq!(from_git.status.code(), Some(0), "{}", String::from_utf8_lossy(&from_git.stderr));
    // The same as comparing the two files.
    let from_files = slipway(&["diff", BASE, HEAD]);
    assert_eq!(stdout(&from_git), stdout(&from_files));
    // From inside the folder, and with the working copy unchanged.
    git(&sb, &["commit", "-qam", "head"]);
    let mut cmd = sb.command(&["diff", "deploy.yaml", "--git", "HEAD"]);
    let out = cmd.current_dir(sb.path("ci")).output().unwrap();
    assert_eq!(stdout(&out), "pipeline `shop`: no changes\n", "{}", String::from_utf8_lossy(&out.stderr));
    // A revision without the file, or no revision at all: the file cannot be read.
    let out = sb.run(&["diff", "ci/deploy.yaml", "--git", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read ci/deploy.yaml@no-such-branch from git"), "{out:?}");
}

#[test]
fn an_invalid_side_gives_its_diagnostics_and_exit_1() {
    let sb = Sandbox::new("diff-invalid");
    sb.write("good.yaml", &std::fs::read_to_string(root().join(BASE)).unwrap());
    sb.write("bad.yaml", "version: 1\nname: shop\nstages:\n  a: { kind: shel, run: make }\n");
    let out = sb.run(&["diff", "good.yaml", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown-kind"), "{out:?}");
    assert!(out.stdout.is_empty());
    let out = sb.run(&["diff", "good.yaml", "bad.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["diagnostics"][0]["code"], "unknown-kind");
    // Both sides invalid: both are reported.
    sb.write("bad2.yaml", "version: 1\nname: shop\nstages:\n  a: { kind: shell, run: make, needs: [nope] }\n");
    let out = sb.run(&["diff", "bad.yaml", "bad2.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml") && err.contains("unknown-kind") && err.contains("bad2.yaml"), "{err}");
    // Invalid at the git revision too.
    git(&sb, &["init", "-q"]);
    sb.write("p.yaml", "version: 1\nname: shop\nstages:\n  a: { kind: shel, run: make }\n");
    git(&sb, &["add", "p.yaml"]);
    git(&sb, &["commit", "-qm", "broken"]);
    sb.write("p.yaml", &std::fs::read_to_string(root().join(BASE)).unwrap());
    let out = sb.run(&["diff", "p.yaml", "--git", "HEAD"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("p.yaml@HEAD"), "{out:?}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [vec!["diff", BASE], vec!["diff", BASE, HEAD, "--git", "HEAD"], vec!["diff", BASE, "tests/fixtures/diff/missing.yaml"]] {
        let out = slipway(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
