//! `validate` reads a chat-ops config like a pipeline: every problem at once,
//! at `file:line:col`, with a fix; and across files, against the pipelines its
//! aliases name. Other commands refuse it.

use crate::sandbox::Sandbox;
use crate::support::root;

const BROKEN: &str = "version: 1
slack:
  signing_secret: { env: SLACK_SIGNING_SECRET }
aliases:
  restaurant-api:
    pipeline: ../pipelines/api.yaml
    params: { buildid: x }
    environments: [staging, prod]
    chat_params: [build, build_id]
  docs:
    pipeline: ../pipelines/docs.yaml
    chat_parms: [x]
allow:
  - users: [U024BE7LH]
    aliases: [restaurant-apii]
    environments: [staging]
  - users: [U0BOB]
    aliases: [restaurant-api]
    environments: [qa]
confirm:
  - aliases: [restaurant-api]
    environments: [production]
";

#[test]
fn a_broken_config_gets_every_problem_at_its_place_with_a_fix() {
    let sb = Sandbox::new("chatops-validate");
    std::fs::create_dir_all(sb.path("pipelines")).unwrap();
    std::fs::create_dir_all(sb.path("deploy")).unwrap();
    sb.write("pipelines/api.yaml", crate::chatops_harness::PIPELINE);
    sb.write("deploy/chatops.yaml", BROKEN);
    let out = sb.run(&["validate", "deploy/chatops.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for (code, at, help) in [
        ("unknown-field", "12:5", "did you mean `chat_params`?"),
        ("unknown-alias", "15:15", "did you mean `restaurant-api`?"),
        ("unknown-environment", "19:20", "they are: staging, prod"),
        ("unknown-environment", "22:20", "did you mean `prod`?"),
        ("undeclared-param", "7:15", "did you mean `build_id`?"),
        ("undeclared-param", "9:19", "did you mean `build_id`?"),
        ("unknown-environment", "8:29", "the pipeline's choices: staging, production"),
        ("alias-pipeline", "11:15", "the path is relative to this config file"),
    ] {
        let frame = format!("error[{code}]");
        let place = format!("deploy/chatops.yaml:{at}\n");
        assert!(
            text.split("\n\n").any(|block| block.contains(&frame) && block.contains(&place) && block.contains(help)),
            "no {code} at {at} with `{help}` in:\n{text}"
        );
    }
    assert!(text.ends_with("1 file checked: 8 errors\n"), "{text}");
    // `run` and `plan` refuse it, naming `serve`
    let out = sb.run(&["run", "deploy/chatops.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a chat-ops config, not a pipeline"));
    // `serve` refuses to start with it
    let out = sb.run(&["serve", "--config", "deploy/chatops.yaml", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_example_config_is_valid_and_found_in_a_folder() {
    let out = crate::support::slipway(&["validate", root().join("deploy/chatops.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::stdout(&out));
    let out = crate::support::slipway(&["validate", root().join("deploy").to_str().unwrap()]);
    assert_eq!(crate::support::stdout(&out), "1 file checked: no problems\n");
}

#[test]
fn the_chatops_schema_is_current_and_accepts_the_example() {
    let generated = slipway_core::schema::chatops_schema_json();
    let on_disk = std::fs::read_to_string(root().join("schemas/chatops.schema.json")).unwrap_or_default();
    assert!(generated == on_disk, "schemas/chatops.schema.json is stale: run `cargo xtask schema`");
    let schema: serde_json::Value = serde_json::from_str(&on_disk).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let example: serde_json::Value = serde_yaml::from_str(&std::fs::read_to_string(root().join("deploy/chatops.yaml")).unwrap()).unwrap();
    assert!(validator.is_valid(&example));
    let mut wrong = example.clone();
    wrong["aliases"]["restaurant-api"]["chat_param"] = serde_json::json!(["x"]);
    assert!(!validator.is_valid(&wrong), "unknown fields are refused");
}
