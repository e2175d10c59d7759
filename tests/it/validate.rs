//! `slipway validate`: formats, exit codes, several files at once.

use crate::support::{slipway, stdout};

const BROKEN: &str = "tests/fixtures/invalid/90-several-mistakes.yaml";

#[test]
fn several_independent_mistakes_are_all_reported_in_one_run() {
    let out = slipway(&["validate", "--format", "json", BROKEN]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = json["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    for code in ["unknown-field", "unknown-kind", "unknown-stage", "undeclared-param", "invalid-duration"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn json_diagnostics_have_the_fixed_shape() {
    let out = slipway(&["validate", "--format", "json", BROKEN]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &json["diagnostics"][0];
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["file", "line", "column", "end_line", "end_column", "severity", "code", "message", "help"]);
    assert_eq!(first["file"], BROKEN);
}

#[test]
fn github_format_emits_workflow_annotations() {
    let out = slipway(&["validate", "--format", "github", BROKEN]);
    let text = stdout(&out);
    assert!(text.lines().count() >= 5);
    for line in text.lines() {
        assert!(line.starts_with("::error file=") || line.starts_with("::warning file="), "{line}");
        assert!(line.contains(",line=") && line.contains(",col=") && line.contains("::"), "{line}");
    }
}

#[test]
fn human_format_shows_location_source_line_and_caret() {
    let text = stdout(&slipway(&["validate", "tests/fixtures/invalid/90-several-mistakes.yaml"]));
    assert!(text.contains(&format!(" --> {BROKEN}:")), "{text}");
    assert!(text.contains('^'), "{text}");
    assert!(text.contains("help: "), "{text}");
    assert!(!text.contains('\u{1b}'), "NO_COLOR must turn colour off");
}

#[test]
fn valid_files_and_folders_exit_zero() {
    let out = slipway(&["validate", "pipelines"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("3 files checked: no problems"));
}

#[test]
fn warnings_pass_unless_denied() {
    let warn = "tests/fixtures/valid/warnings-only.yaml";
    assert_eq!(slipway(&["validate", warn]).status.code(), Some(0));
    assert_eq!(slipway(&["validate", "--deny-warnings", warn]).status.code(), Some(1));
}

#[test]
fn usage_and_io_errors_exit_two() {
    assert_eq!(slipway(&["validate"]).status.code(), Some(2));
    assert_eq!(slipway(&["validate", "--format", "xml", "pipelines"]).status.code(), Some(2));
    let missing = slipway(&["validate", "no/such/file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/file.yaml"));
}

#[test]
fn several_files_are_checked_together() {
    let out = slipway(&["validate", "--format", "json", "pipelines/reverb.yaml", BROKEN]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["diagnostics"].as_array().unwrap().iter().all(|d| d["file"] == BROKEN));
}
