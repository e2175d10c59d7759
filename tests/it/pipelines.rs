//! Every file in `pipelines/` and `tests/fixtures/valid/`: valid for Slipway, valid
//! for an independent JSON Schema validator, carrying the `$schema` modeline.

use crate::support::{root, slipway, stdout, yaml_files};

fn valid_files() -> Vec<String> {
    let mut files = yaml_files("pipelines");
    files.extend(yaml_files("tests/fixtures/valid"));
    files
}

#[test]
fn pipelines_carry_the_schema_modeline() {
    for file in yaml_files("pipelines") {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        assert!(text.starts_with("# yaml-language-server: $schema=../schemas/pipeline.schema.json\n"), "{file}");
    }
}

#[test]
fn pipelines_validate_without_warnings() {
    for file in yaml_files("pipelines") {
        let out = slipway(&["validate", "--deny-warnings", &file]);
        assert_eq!(out.status.code(), Some(0), "{file}:\n{}", stdout(&out));
    }
}

#[test]
fn valid_files_pass_an_independent_schema_validator() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas/pipeline.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    for file in valid_files() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        // serde_yaml (libyaml) reads the YAML here: independent of Slipway's parser.
        let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        doc.apply_merge().unwrap();
        let doc: serde_json::Value = serde_json::to_value(doc).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
    }
}

#[test]
fn schema_rejects_what_slipway_rejects_structurally() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas/pipeline.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let cases = [
        "version: 1\nname: x\nstages: { a: { kind: shell, rn: make } }",
        "version: 1\nname: x\nstages: { a: { kind: deplyo } }",
        "version: 2\nname: x\nstages: { a: { kind: shell, run: make } }",
        "version: 1\nname: x\nstages: { a: { kind: shell, run: make, retry: { attempts: 0 } } }",
        "version: 1\nname: x\nstages: { a: { kind: shell } }",
        "version: 1\nname: x\nstagse: {}",
    ];
    for case in cases {
        let doc: serde_json::Value = serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(case).unwrap()).unwrap();
        assert!(!validator.is_valid(&doc), "schema accepted: {case}");
    }
}

#[test]
fn slipway_reads_yaml_as_libyaml_does() {
    // Differential check of the spanned front end against serde_yaml (libyaml).
    for file in valid_files() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        let (ours, diags) = slipway_core::yaml::load(&text, Default::default());
        assert!(diags.is_empty(), "{file}: {diags:?}");
        let mut theirs: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        theirs.apply_merge().unwrap();
        assert_eq!(ours.unwrap().to_json(), serde_json::to_value(theirs).unwrap(), "{file}");
    }
}
