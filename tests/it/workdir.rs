//! Where commands run: at the project's root (the folder holding `.git` or
//! `.slipway`), `workdir` from there; files the pipeline names stay relative to
//! the pipeline file.

use serde_json::Value;

use crate::sandbox::{Sandbox, events, of};

const PIPELINE: &str = r#"version: 1
name: folders
secrets: { TOKEN: { file: token.txt } }
hosts: { box: [{ name: box-1, transport: local }] }
stages:
  make:
    kind: shell
    run: test -f Makefile && touch made
  sub:
    kind: shell
    workdir: web
    env: { T: "{{ secrets.TOKEN }}" }
    run: 'test -f package.json && echo "$T" > built'
  on_host:
    kind: shell
    hosts: box
    run: test -f Makefile && touch made-on-host
"#;

/// A project: `.git` and a Makefile at the root, the pipeline and its secret
/// file in `pipelines/`, a `web/` folder.
fn project(marker: &str) -> Sandbox {
    let sb = Sandbox::new("project-root");
    std::fs::create_dir_all(sb.path(marker)).unwrap();
    std::fs::create_dir_all(sb.path("pipelines")).unwrap();
    std::fs::create_dir_all(sb.path("web")).unwrap();
    std::fs::create_dir_all(sb.path("elsewhere")).unwrap();
    sb.write("Makefile", "all:\n");
    sb.write("web/package.json", "{}\n");
    sb.write("pipelines/token.txt", "s3cret-from-pipelines\n");
    sb.write("pipelines/p.yaml", PIPELINE);
    sb
}

#[test]
fn commands_run_at_the_project_root_and_named_files_stay_beside_the_pipeline() {
    for marker in [".git", ".slipway"] {
        let sb = project(marker);
        // Started from another folder: where commands run does not depend on it.
        let out = sb.command(&["run", "../pipelines/p.yaml", "--format", "json"]).current_dir(sb.path("elsewhere")).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{marker}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(sb.path("made").exists(), "{marker}: `run: make` did not run at the root");
        assert!(sb.path("made-on-host").exists(), "{marker}: a local host's command did not run at the root");
        // `workdir` starts at the root; the secret's file is found beside the pipeline.
        assert_eq!(sb.read("web/built"), "s3cret-from-pipelines\n", "{marker}");
        assert!(!sb.path("pipelines/made").exists());
    }
}

#[test]
fn the_plan_says_where_each_local_command_runs() {
    let sb = project(".git");
    let out = sb.run(&["plan", "pipelines/p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let root = std::fs::canonicalize(&sb.dir).unwrap();
    let workdir = |stage: &str| {
        let s = plan["stages"].as_array().unwrap().iter().find(|s| s["id"] == stage).unwrap();
        s["effects"][0]["workdir"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(workdir("make"), root.display().to_string());
    assert_eq!(workdir("sub"), root.join("web").display().to_string());
    let human = String::from_utf8_lossy(&sb.run(&["plan", "pipelines/p.yaml"]).stdout).into_owned();
    assert!(human.contains(&format!("in {}", root.display())), "{human}");
}

#[test]
fn without_a_project_commands_run_beside_the_pipeline() {
    let sb = Sandbox::new("no-project-root");
    std::fs::create_dir_all(sb.path("pipelines")).unwrap();
    sb.write("pipelines/p.yaml", "version: 1\nname: alone\nstages:\n  a: { kind: shell, run: touch here }\n");
    let out = sb.run(&["run", "pipelines/p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(sb.path("pipelines/here").exists());
    assert_eq!(of(&events(&out.stdout), "stage_finished", "a")[0]["status"], "succeeded");
}
