//! The checked-in schema is what the Rust types generate.

use crate::support::root;

#[test]
fn checked_in_schema_is_current() {
    let generated = slipway_core::schema::pipeline_schema_json();
    let path = root().join("schemas/pipeline.schema.json");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(generated == on_disk, "schemas/pipeline.schema.json is stale: run `cargo xtask schema`");
}

#[test]
fn schema_command_prints_the_same_schema() {
    let out = crate::support::slipway(&["schema"]);
    assert_eq!(crate::support::stdout(&out), slipway_core::schema::pipeline_schema_json());
}

#[test]
fn checked_in_reference_is_current() {
    let on_disk = std::fs::read_to_string(root().join("docs/reference.md")).unwrap_or_default();
    assert!(slipway_core::reference::reference_markdown() == on_disk, "docs/reference.md is stale: run `cargo xtask schema`");
}
