//! Every invalid fixture: its `# expect: CODE LINE:COL` header must match the
//! diagnostics exactly, and its rendered human and JSON output is snapshot-tested.

use std::collections::BTreeSet;

use crate::support::{slipway, stdout, stem, yaml_files};

fn expectations(text: &str) -> BTreeSet<(String, usize, usize)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|rest| {
            let (code, pos) = rest.trim().split_once(' ').expect("`# expect: CODE LINE:COL`");
            let (line, col) = pos.split_once(':').expect("LINE:COL");
            (code.to_owned(), line.parse().unwrap(), col.parse().unwrap())
        })
        .collect()
}

#[test]
fn corpus_is_large_enough() {
    assert!(yaml_files("tests/fixtures/invalid").len() >= 40);
}

#[test]
fn each_invalid_fixture_reports_exactly_its_expected_diagnostics() {
    let mut failures = Vec::new();
    for file in yaml_files("tests/fixtures/invalid") {
        let bytes = std::fs::read(crate::support::root().join(&file)).unwrap();
        let expected = expectations(&String::from_utf8_lossy(&bytes));
        assert!(!expected.is_empty(), "{file} has no `# expect:` header");
        let out = slipway(&["validate", "--format", "json", &file]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{file}: bad JSON: {e}"));
        let got: BTreeSet<(String, usize, usize)> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["code"].as_str().unwrap().to_owned(), d["line"].as_u64().unwrap() as usize, d["column"].as_u64().unwrap() as usize))
            .collect();
        let has_error = json["diagnostics"].as_array().unwrap().iter().any(|d| d["severity"] == "error");
        let want_code = if has_error { 1 } else { 0 };
        if got != expected || out.status.code() != Some(want_code) {
            failures.push(format!("{file}:\n  expected {expected:?}\n  got      {got:?} (exit {:?})", out.status.code()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_fixtures_render_as_snapshotted() {
    for file in yaml_files("tests/fixtures/invalid") {
        let name = stem(&file);
        let human = stdout(&slipway(&["validate", &file]));
        let json = stdout(&slipway(&["validate", "--format", "json", &file]));
        insta::with_settings!({ snapshot_path => "../snapshots/invalid", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(format!("{name}.human"), human);
            insta::assert_snapshot!(format!("{name}.json"), json);
        });
    }
}
