//! Errors before a run starts: with `--format json` they are JSON on stdout, in
//! the shape `validate --format json` prints, with stable codes; the exit code
//! is the same as in text.

use serde_json::Value;

use crate::sandbox::{Sandbox, wait_for};

const PIPELINE: &str = "version: 1\nname: errs\nparams: { version: { required: true } }\nsecrets: { TOKEN: { env: SLIPWAY_IT_UNSET_TOKEN } }\nstages:\n  a: { kind: shell, run: 'touch ran; sleep 2', env: { V: '{{ params.version }}', T: '{{ secrets.TOKEN }}' } }\n";

/// The one diagnostic a failed start printed as JSON, after checking the shape.
fn diagnostic(out: &std::process::Output) -> Value {
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}): {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    let all = json["diagnostics"].as_array().expect("a `diagnostics` list");
    assert_eq!(all.len(), 1, "{json}");
    let d = all[0].clone();
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code", "column", "end_column", "end_line", "file", "help", "line", "message", "severity"]);
    assert_eq!(d["severity"], "error");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("error:"), "the error went to stderr too");
    d
}

#[test]
fn errors_before_a_run_are_json_with_stable_codes_and_the_same_exit_codes() {
    let sb = Sandbox::new("json-errors");
    sb.write("p.yaml", PIPELINE);
    let json_run = |args: &[&str]| sb.command(args).env_remove("SLIPWAY_IT_UNSET_TOKEN").output().unwrap();

    let out = json_run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let d = diagnostic(&out);
    assert_eq!(d["code"], "param-missing");
    assert_eq!(d["file"], "p.yaml");
    assert!(d["message"].as_str().unwrap().contains("--param version=VALUE"), "{d}");

    let out = json_run(&["run", "p.yaml", "--format", "json", "--param", "versoin=1"]);
    assert_eq!(out.status.code(), Some(2));
    let d = diagnostic(&out);
    assert_eq!(d["code"], "param-unknown");
    assert!(d["message"].as_str().unwrap().contains("did you mean `version`?"), "{d}");

    let out = json_run(&["run", "p.yaml", "--format", "json", "--param", "version=1"]);
    assert_eq!(out.status.code(), Some(1));
    let d = diagnostic(&out);
    assert_eq!(d["code"], "secret-missing");
    assert!(d["message"].as_str().unwrap().contains("SLIPWAY_IT_UNSET_TOKEN"), "{d}");

    let args = ["run", "p.yaml", "--format", "json", "--param", "version=1", "--wait-lock=soon"];
    let out = sb.command(&args).env("SLIPWAY_IT_UNSET_TOKEN", "a-token-value").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(diagnostic(&out)["code"], "invalid-argument");

    // A plan, and `run --dry-run`, say it the same way.
    for args in [&["plan", "p.yaml", "--format", "json"][..], &["run", "p.yaml", "--dry-run", "--format", "json"]] {
        let out = json_run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(diagnostic(&out)["code"], "param-missing", "{args:?}");
    }

    // A resume of a run that does not exist.
    let out = json_run(&["resume", "20990101T000000Z-abcdef", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(diagnostic(&out)["code"], "run-not-found");

    // Without `--format json`: text on stderr, as before, and the same exit code.
    let out = json_run(&["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: param `version` is required"), "{stderr}");
    assert!(!sb.path("ran").exists(), "nothing ran");
}

#[test]
fn an_invalid_pipeline_gives_its_validation_diagnostics_as_json() {
    let sb = Sandbox::new("json-invalid");
    sb.write("p.yaml", "version: 1\nname: bad\nstages:\n  a: { kind: shel, run: 'true' }\n");
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let d = diagnostic(&out);
    assert_eq!((d["code"].as_str(), d["line"].as_u64(), d["column"].as_u64()), (Some("unknown-kind"), Some(4), Some(14)));
    // The same as `validate --format json` says.
    let validate: Value = serde_json::from_slice(&sb.run(&["validate", "p.yaml", "--format", "json"]).stdout).unwrap();
    assert_eq!(validate["diagnostics"][0], d);
    // An unreadable file.
    let out = sb.run(&["plan", "missing.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(diagnostic(&out)["code"], "io");
}

#[test]
fn a_held_lock_is_json_too() {
    let sb = Sandbox::new("json-locked");
    sb.write("p.yaml", "version: 1\nname: held\nstages:\n  a: { kind: shell, run: 'touch started; sleep 2' }\n");
    let first = sb.spawn(&["run", "p.yaml"]);
    wait_for(&sb.path("started"), "the first run to start");
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(0));
    assert_eq!(out.status.code(), Some(75));
    let d = diagnostic(&out);
    assert_eq!(d["code"], "deploy-locked");
    assert!(d["message"].as_str().unwrap().contains("is held by run"), "{d}");
    assert!(d["help"].as_str().unwrap().contains("--wait-lock"), "{d}");
}
