//! What a shell stage hands on: the outputs a failed command wrote (for its
//! rollback), and typed outputs from `$SLIPWAY_OUTPUT_JSON`.

use serde_json::json;

use crate::sandbox::{Sandbox, events, of};

const ROLLBACK: &str = r#"version: 1
name: partial
stages:
  deploy:
    kind: shell
    run: |
      echo "previous=v1" >> "$SLIPWAY_OUTPUT"
      test -f fixed || exit 3
      echo "current=v2" >> "$SLIPWAY_OUTPUT"
    outputs: [previous, current]
  rollback:
    kind: shell
    needs: [deploy]
    when: failure
    env: { P: "{{ stages.deploy.outputs.previous }}", C: "{{ stages.deploy.outputs.exit_code }}" }
    run: 'echo "$P $C" > rolled_back'
  report:
    kind: shell
    needs: [deploy]
    when: always
    env: { P: "{{ stages.deploy.outputs.previous }}", S: "{{ stages.deploy.status }}" }
    run: 'echo "$S $P" >> reported'
"#;

#[test]
fn a_failed_stage_keeps_what_it_wrote_for_its_rollback_and_resume_still_works() {
    let sb = Sandbox::new("partial-outputs");
    sb.write("p.yaml", ROLLBACK);
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // The rollback and the `always` stage read what the failed command wrote, and its exit code.
    assert_eq!(sb.read("rolled_back"), "v1 3\n");
    assert_eq!(sb.read("reported"), "failed v1\n");
    let evs = events(&out.stdout);
    let finished = of(&evs, "stage_finished", "deploy")[0];
    assert_eq!(finished["status"], "failed");
    assert_eq!(finished["outputs"], json!({ "previous": "v1", "exit_code": 3 }));
    // The journal keeps them too.
    let journal = sb.journal();
    assert_eq!(of(&journal, "stage_finished", "deploy")[0]["outputs"]["previous"], "v1");

    // Resume runs the failed stage again; this time it succeeds.
    sb.write("fixed", "");
    let id = sb.run_ids()[0].clone();
    let out = sb.run(&["resume", &id, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let evs = events(&out.stdout);
    assert_eq!(of(&evs, "stage_finished", "deploy")[0]["outputs"], json!({ "previous": "v1", "current": "v2", "exit_code": 0 }));
    assert_eq!(of(&evs, "stage_finished", "rollback")[0]["status"], "skipped");
    assert_eq!(sb.read("reported"), "failed v1\nsucceeded v1\n");
}

#[test]
fn a_stage_that_misses_a_declared_output_keeps_the_ones_it_wrote() {
    let sb = Sandbox::new("partial-missing");
    sb.write("p.yaml", &ROLLBACK.replace("      test -f fixed || exit 3\n      echo \"current=v2\" >> \"$SLIPWAY_OUTPUT\"\n", ""));
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stdout);
    let finished = of(&evs, "stage_finished", "deploy")[0];
    assert!(finished["reason"].as_str().unwrap().contains("declared output `current` was not written"), "{finished}");
    assert_eq!(sb.read("rolled_back"), "v1 0\n");
}

#[test]
fn json_outputs_keep_their_types_so_a_later_stage_can_loop_over_a_list() {
    let sb = Sandbox::new("json-outputs");
    sb.write(
        "p.yaml",
        r#"version: 1
name: typed
stages:
  list:
    kind: shell
    run: |
      echo '{"hosts": ["web-1", "web-2"], "count": 2}' >> "$SLIPWAY_OUTPUT_JSON"
      echo '{"canary": {"name": "web-1", "weight": 5}, "extra": 1}' >> "$SLIPWAY_OUTPUT_JSON"
      echo "label=blue" >> "$SLIPWAY_OUTPUT"
    outputs: [hosts, count, canary, label]
  each:
    kind: shell
    env:
      H: "{{#each stages.list.outputs.hosts}}[{{this}}]{{/each}}"
      N: "{{ stages.list.outputs.count }} {{ stages.list.outputs.canary.weight }} {{ stages.list.outputs.label }}"
      J: "{{ json stages.list.outputs.hosts }}"
    run: 'echo "$H $N $J" > each'
"#,
    );
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(sb.read("each"), "[web-1][web-2] 2 5 blue [\"web-1\",\"web-2\"]\n");
    let evs = events(&out.stdout);
    let outputs = &of(&evs, "stage_finished", "list")[0]["outputs"];
    assert_eq!(
        *outputs,
        json!({ "hosts": ["web-1", "web-2"], "count": 2, "canary": { "name": "web-1", "weight": 5 }, "label": "blue", "exit_code": 0 })
    );
    // A key not declared under `outputs:` is named and dropped, as a `name=value` line is.
    let logs: Vec<&str> = of(&evs, "log", "list").iter().filter_map(|e| e["line"].as_str()).collect();
    assert!(logs.iter().any(|l| l.contains("output `extra` is not declared")), "{logs:?}");
}

#[test]
fn json_outputs_that_are_not_objects_or_clash_fail_clearly() {
    let sb = Sandbox::new("json-outputs-bad");
    let reason = |run: &str| {
        sb.write("p.yaml", &format!("version: 1\nname: bad\nstages:\n  a: {{ kind: shell, run: '{run}', outputs: [x] }}\n"));
        let out = sb.run(&["run", "p.yaml", "--format", "json"]);
        assert_eq!(out.status.code(), Some(1), "{run}");
        of(&events(&out.stdout), "stage_finished", "a")[0]["reason"].as_str().unwrap().to_owned()
    };
    let r = reason(r#"echo "[1, 2]" > "$SLIPWAY_OUTPUT_JSON""#);
    assert!(r.contains("`$SLIPWAY_OUTPUT_JSON` holds a list, not an object"), "{r}");
    let r = reason(r#"echo "x=1" > "$SLIPWAY_OUTPUT_JSON""#);
    assert!(r.contains("`$SLIPWAY_OUTPUT_JSON` is not valid JSON"), "{r}");
    let r = reason(r#"echo "x=1" > "$SLIPWAY_OUTPUT"; echo "{\"x\": 2}" > "$SLIPWAY_OUTPUT_JSON""#);
    assert!(r.contains("output `x` is written to both"), "{r}");
    // Bounded: a runaway command cannot fill memory through its outputs.
    let r = reason(r#"head -c 17000000 /dev/zero > "$SLIPWAY_OUTPUT_JSON""#);
    assert!(r.contains("holds more than 16 MiB"), "{r}");
}
