//! `slipway init`: a starter pipeline that validates, and a CI job for the CI
//! the project uses (guessed from its files), never overwriting a file
//! unless told to.

use serde_yaml::Value;

use crate::sandbox::Sandbox;

fn yaml(sb: &Sandbox, rel: &str) -> Value {
    serde_yaml::from_str(&sb.read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}\n{}", sb.read(rel)))
}

/// Every `run`/`script` line of a job, as one text.
fn commands(job: &Value) -> String {
    let steps = job["steps"].as_sequence().map(|s| s.iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>());
    let script = job["script"].as_sequence().map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>());
    steps.or(script).unwrap_or_default().join("\n")
}

fn validates(sb: &Sandbox) {
    let out = sb.run(&["validate", "--deny-warnings", "pipelines/"]);
    assert_eq!(out.status.code(), Some(0), "the starter pipeline is invalid: {}", String::from_utf8_lossy(&out.stderr));
    let plan = sb.run(&["plan", "pipelines/deploy.yaml"]);
    assert_eq!(plan.status.code(), Some(0), "the starter pipeline cannot be planned: {}", String::from_utf8_lossy(&plan.stderr));
}

#[test]
fn a_project_with_a_github_folder_gets_a_workflow_that_validates_and_comments_the_plan() {
    let sb = Sandbox::new("init-github");
    std::fs::create_dir_all(sb.path(".github")).unwrap();
    let out = sb.run(&["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    validates(&sb);
    let workflow = yaml(&sb, ".github/workflows/slipway.yml");
    assert!(workflow["on"].get("pull_request").is_some(), "it runs on pull requests");
    assert_eq!(workflow["permissions"]["pull-requests"].as_str(), Some("write"), "it may comment");
    let validate = commands(&workflow["jobs"]["validate"]);
    assert!(validate.contains("slipway validate --format github"), "annotations: {validate}");
    let plan = &workflow["jobs"]["plan"];
    assert_eq!(plan["needs"].as_str(), Some("validate"));
    let plan = commands(plan);
    assert!(plan.contains("slipway plan \"$file\" --format markdown") && plan.contains("gh pr comment"), "{plan}");
    assert!(!sb.path(".gitlab-ci.yml").exists());
}

#[test]
fn a_project_with_a_gitlab_ci_file_gets_jobs_to_include_and_its_file_is_left_alone() {
    let sb = Sandbox::new("init-gitlab");
    sb.write(".gitlab-ci.yml", "stages: [build, test]\n");
    let out = sb.run(&["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("- local: .gitlab/slipway.gitlab-ci.yml"), "it says what to include");
    assert_eq!(sb.read(".gitlab-ci.yml"), "stages: [build, test]\n");
    validates(&sb);
    let jobs = yaml(&sb, ".gitlab/slipway.gitlab-ci.yml");
    for name in ["slipway-validate", "slipway-plan"] {
        let rule = jobs[name]["rules"][0]["if"].as_str().unwrap_or_default();
        assert!(rule.contains("merge_request_event"), "{name} runs on merge requests: {rule}");
        assert_eq!(jobs[name]["stage"].as_str(), Some("test"), "a stage every GitLab project has");
    }
    let validate = commands(&jobs["slipway-validate"]);
    assert!(validate.contains("slipway validate --format gitlab --deny-warnings pipelines/ > gl-code-quality-report.json"), "{validate}");
    assert_eq!(jobs["slipway-validate"]["artifacts"]["reports"]["codequality"].as_str(), Some("gl-code-quality-report.json"));
    let plan = commands(&jobs["slipway-plan"]);
    assert!(plan.contains("--format markdown") && plan.contains("/merge_requests/$CI_MERGE_REQUEST_IID/notes"), "{plan}");
    assert!(!sb.path(".github").exists());

    // A project without a `.gitlab-ci.yml` gets one that includes the jobs.
    let fresh = Sandbox::new("init-gitlab-fresh");
    assert_eq!(fresh.run(&["init", "--ci", "gitlab"]).status.code(), Some(0));
    assert_eq!(yaml(&fresh, ".gitlab-ci.yml")["include"][0]["local"].as_str(), Some(".gitlab/slipway.gitlab-ci.yml"));
}

#[test]
fn init_refuses_to_overwrite_unless_forced_and_says_when_it_cannot_guess() {
    let sb = Sandbox::new("init-refuse");
    let out = sb.run(&["init"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no CI found"), "without CI files it says how to add a job");
    assert!(sb.path("pipelines/deploy.yaml").exists() && !sb.path(".github").exists());

    sb.write("pipelines/deploy.yaml", "mine\n");
    let out = sb.run(&["init", "--ci", "github"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pipelines/deploy.yaml already exists: nothing was written") && err.contains("--force"), "{err}");
    assert_eq!(sb.read("pipelines/deploy.yaml"), "mine\n");
    assert!(!sb.path(".github/workflows/slipway.yml").exists(), "nothing at all is written");

    let out = sb.run(&["init", "--ci", "github", "--force"]);
    assert_eq!(out.status.code(), Some(0));
    assert_ne!(sb.read("pipelines/deploy.yaml"), "mine\n");
    assert!(sb.path(".github/workflows/slipway.yml").exists());

    // Both CI systems' files: it does not pick one.
    let both = Sandbox::new("init-both");
    std::fs::create_dir_all(both.path(".github")).unwrap();
    both.write(".gitlab-ci.yml", "stages: [test]\n");
    let out = both.run(&["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ci github"));
    assert!(!both.path("pipelines").exists());
}

/// docs/ci.md shows the jobs `init` writes: its YAML blocks parse, and the
/// commands it quotes are the ones the templates run.
#[test]
fn the_ci_page_quotes_what_init_writes() {
    let doc = std::fs::read_to_string(crate::support::root().join("docs/ci.md")).expect("docs/ci.md");
    let blocks: Vec<&str> = doc.split("```yaml\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    assert!(blocks.len() >= 5, "{}", blocks.len());
    for block in &blocks {
        serde_yaml::from_str::<Value>(block).unwrap_or_else(|e| panic!("a YAML block of docs/ci.md does not parse: {e}\n{block}"));
    }
    let sb = Sandbox::new("init-docs");
    assert_eq!(sb.run(&["init", "--ci", "github"]).status.code(), Some(0));
    let workflow = sb.read(".github/workflows/slipway.yml");
    for quoted in [
        "slipway validate --format github --deny-warnings pipelines/",
        "slipway plan \"$file\" --format markdown >> plan.md",
        "gh pr comment \"$PR\" --body-file plan.md --edit-last --create-if-none",
    ] {
        assert!(doc.contains(quoted) && workflow.contains(quoted), "`{quoted}` is not in both docs/ci.md and the workflow");
    }
}
