//! `validate --format gitlab`: GitLab's Code Quality report, the merge
//! request's counterpart of GitHub's annotations.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{slipway, stdout};

#[test]
fn problems_become_code_quality_issues_with_distinct_fingerprints() {
    let out = slipway(&["validate", "--format", "gitlab", "tests/fixtures/invalid", "pipelines/local-demo.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let issues: Vec<Value> = serde_json::from_str(&stdout(&out)).expect("a JSON array");
    assert!(issues.len() > 10, "{}", issues.len());
    let mut fingerprints = BTreeSet::new();
    for issue in &issues {
        for field in ["description", "check_name", "fingerprint", "severity"] {
            assert!(issue[field].as_str().is_some_and(|v| !v.is_empty()), "no `{field}`: {issue}");
        }
        assert!(["major", "minor"].contains(&issue["severity"].as_str().unwrap_or_default()), "{issue}");
        assert!(issue["check_name"].as_str().unwrap_or_default().starts_with("slipway/"));
        let path = issue["location"]["path"].as_str().unwrap_or_default();
        assert!(path.starts_with("tests/fixtures/invalid/"), "a path from the project's root: {path}");
        assert!(issue["location"]["lines"]["begin"].as_u64().is_some_and(|l| l >= 1), "{issue}");
        assert_eq!(issue["fingerprint"].as_str().map(str::len), Some(32));
        fingerprints.insert(issue["fingerprint"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(fingerprints.len(), issues.len(), "GitLab shows one issue per fingerprint");
    // The same problems give the same fingerprints on the next run.
    assert_eq!(stdout(&slipway(&["validate", "--format", "gitlab", "tests/fixtures/invalid", "pipelines/local-demo.yaml"])), stdout(&out));
    let clean = slipway(&["validate", "--format", "gitlab", "pipelines/"]);
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(stdout(&clean).trim(), "[]");
}
