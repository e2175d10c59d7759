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

// ---- hostile input: `validate` runs on untrusted pull requests ----

/// Runs `slipway ARGS` under an address-space cap and a deadline; `None` when it
/// had to be killed at the deadline.
fn bounded(args: &[&str], cap_bytes: u64, deadline: std::time::Duration) -> Option<std::process::Output> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
    cmd.args(args).env("NO_COLOR", "1").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let cap = libc::rlimit { rlim_cur: cap_bytes, rlim_max: cap_bytes };
            if libc::setrlimit(libc::RLIMIT_AS, &cap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn slipway");
    // drained as it is written: a full pipe would stall the child
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = r.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Some(std::process::Output { status, stdout: out.join().expect("stdout"), stderr: err.join().expect("stderr") })
}

const GIB: u64 = 1 << 30;

fn codes(out: &std::process::Output) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", stdout(out)));
    json["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn every_hostile_shape_validates_in_bounded_time_and_memory() {
    // Before: an aliased 500 KB scalar took gigabytes and aborted; 70,000 repeated
    // keys, 20,000 unknown names or a 1 MB `{{#if}}` template took minutes.
    let dir = crate::sandbox::Sandbox::new("hostile");
    let expected = [
        ("alias-fan-out", "yaml-alias-limit"),
        ("alias-keys", "unknown-field"),
        ("repeated-keys", "duplicate-key"),
        ("merge-keys", "unknown-field"),
        ("collection-keys", "wrong-type"),
        ("undeclared-params", "undeclared-param"),
        ("unknown-outputs", "unknown-output"),
        ("unknown-stages", "unknown-stage"),
        ("wide-needs", "unknown-stage"),
        ("long-cycle", "dependency-cycle"),
        ("deep-nesting", "wrong-type"),
        ("long-scalars", "unknown-field"),
        ("big-template", "template-too-large"),
    ];
    assert_eq!(expected.len(), slipway_core::fuzz::HOSTILE.len(), "a shape without an expectation");
    for ((name, make), (want_name, want_code)) in slipway_core::fuzz::HOSTILE.iter().zip(expected) {
        assert_eq!(*name, want_name);
        let path = dir.write(&format!("{name}.yaml"), &make(1_000_000));
        let path = path.to_str().unwrap();
        let out = bounded(&["validate", "--format", "json", path], 2 * GIB, std::time::Duration::from_secs(60))
            .unwrap_or_else(|| panic!("{name}: still running after 60 s"));
        assert_eq!(out.status.code(), Some(1), "{name}: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
        let codes = codes(&out);
        assert!(codes.iter().any(|c| c == want_code), "{name}: no `{want_code}` in {:?}", &codes[..codes.len().min(5)]);
        // the listing is bounded too: at most 100 per code
        for code in &codes {
            assert!(codes.iter().filter(|c| *c == code).count() <= 100, "{name}: more than 100 `{code}`");
        }
    }
}

#[test]
fn reading_stops_at_the_size_limit() {
    // Before: `validate /dev/zero` read until memory ran out.
    for cmd in [&["validate", "--format", "json", "/dev/zero"][..], &["plan", "/dev/zero"], &["graph", "/dev/zero"]] {
        let out = bounded(cmd, GIB, std::time::Duration::from_secs(60)).expect("finishes");
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("file-too-large") && text.contains("8388608 bytes"), "{cmd:?}: {text}");
    }
    let dir = crate::sandbox::Sandbox::new("too-large");
    let big = dir.write("big.yaml", &format!("version: 1\n#{}\n", "x".repeat(8 << 20)));
    let out = slipway(&["validate", "--format", "json", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(codes(&out), ["file-too-large"]);
}

#[test]
fn a_fifo_without_a_writer_does_not_hang() {
    // Before: opening the FIFO waited for a writer forever.
    let dir = crate::sandbox::Sandbox::new("fifo");
    let fifo = dir.path("pipe.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let out = bounded(&["validate", fifo.to_str().unwrap()], GIB, std::time::Duration::from_secs(20)).expect("no hang on a FIFO");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("empty-file"), "{}", stdout(&out));
}

#[test]
fn past_100_of_one_code_the_rest_are_counted() {
    let dir = crate::sandbox::Sandbox::new("many");
    let text = format!("version: 1\nname: many\nstages:\n  s:\n    kind: shell\n{}", "    run: echo\n".repeat(151));
    let path = dir.write("many.yaml", &text);
    let out = slipway(&["validate", "--format", "json", path.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = json["diagnostics"].as_array().unwrap();
    assert_eq!(diags.iter().filter(|d| d["code"] == "duplicate-key").count(), 100);
    let more: Vec<_> = diags.iter().filter(|d| d["code"] == "too-many-diagnostics").collect();
    assert_eq!(more.len(), 1);
    assert_eq!(more[0]["message"], "50 more `duplicate-key` errors are not shown");
    let human = stdout(&slipway(&["validate", path.to_str().unwrap()]));
    assert!(human.ends_with("1 file checked: 150 errors\n"), "{human}");
}

// ---- the first hour: folders, missing files, names from other tools ----

#[test]
fn a_folder_is_searched_with_its_subfolders_and_other_yaml_is_skipped() {
    // Before: only the folder's own files were read, and each YAML file was
    // checked as a pipeline, so a workflow or a Compose file was a list of errors.
    let dir = crate::sandbox::Sandbox::new("search");
    for sub in ["ci/deploy", ".github/workflows", "target/debug", "node_modules/x", "docs"] {
        std::fs::create_dir_all(dir.path(sub)).unwrap();
    }
    let pipeline = "version: 1\nname: web\nstages:\n  build: { kind: shell, run: make }\n";
    dir.write("web.yaml", pipeline);
    dir.write("ci/deploy/api.yml", &pipeline.replace("web", "api"));
    dir.write("ci/deploy/broken.yaml", "version: 1\nname: broken\nstages:\n  build: { kind: shel, run: make }\n");
    // not pipelines: skipped and counted
    dir.write("ci/compose.yaml", "version: '3.8'\nservices:\n  web: { image: nginx }\n");
    dir.write("docs/mkdocs.yml", "site_name: Docs\nnav: [index.md]\n");
    // never looked at: hidden folders, build output, installed packages
    for hidden in [".github/workflows/ci.yml", "target/debug/x.yaml", "node_modules/x/y.yaml"] {
        dir.write(hidden, "version: 1\nname: nope\nstages: {}\n");
    }
    let out = dir.run(&["validate", "."]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("ci/deploy/broken.yaml:4:") && text.contains("unknown stage kind `shel`"), "{text}");
    assert!(!text.contains("nope") && !text.contains("compose") && !text.contains("mkdocs"), "{text}");
    assert!(text.ends_with("3 files checked: 1 error\n2 YAML files skipped: not pipelines\n"), "{text}");
    // JSON keeps its shape: the diagnostics of the files checked, nothing else
    let json = dir.run(&["validate", "--format", "json", "."]);
    assert_eq!(codes(&json), ["unknown-kind"]);
    // a file named on its own is always checked
    let named = dir.run(&["validate", "--format", "json", "ci/compose.yaml"]);
    assert_eq!((named.status.code(), codes(&named)), (Some(1), vec!["not-a-pipeline".to_owned()]));
}

#[test]
fn a_file_named_explicitly_that_belongs_to_another_tool_gets_one_diagnostic() {
    // Before: a GitHub Actions workflow was reported as missing `version`,
    // `name` and `stages`, with `on` and `jobs` as unknown fields.
    for (file, tool) in [
        ("tests/fixtures/invalid/106-github-actions-workflow.yaml", "a GitHub Actions workflow"),
        ("tests/fixtures/invalid/107-gitlab-ci.yaml", "a GitLab CI file"),
        ("tests/fixtures/invalid/108-docker-compose.yaml", "a Docker Compose file"),
    ] {
        let out = slipway(&["validate", "--format", "json", file]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let diags = json["diagnostics"].as_array().unwrap();
        assert_eq!(diags.len(), 1, "{file}: {diags:?}");
        assert_eq!(diags[0]["code"], "not-a-pipeline");
        assert_eq!(diags[0]["message"], format!("this is {tool}, not a Slipway pipeline"));
    }
}

#[test]
fn a_missing_file_is_reported_as_the_error_alone() {
    // Before: "0 files checked: no problems" was printed beside the read error.
    let out = slipway(&["validate", "no/such/file.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: cannot read no/such/file.yaml"), "{err}");
    // beside a file that was read, the summary counts that file only
    let both = slipway(&["validate", "no/such/file.yaml", "pipelines/reverb.yaml"]);
    assert_eq!((both.status.code(), stdout(&both)), (Some(2), "1 file checked: no problems\n".to_owned()));
    // machines get the failure in the fixed shape
    let json = slipway(&["validate", "--format", "json", "no/such/file.yaml"]);
    assert_eq!((json.status.code(), codes(&json)), (Some(2), vec!["io".to_owned()]));
}

/// The help line of each diagnostic of `code` in `text` validated as a file.
fn helps(text: &str, code: &str) -> Vec<(String, String)> {
    let dir = crate::sandbox::Sandbox::new("helps");
    let path = dir.write("p.yaml", text);
    let out = slipway(&["validate", "--format", "json", path.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .map(|d| (d["message"].as_str().unwrap().to_owned(), d["help"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[test]
fn names_from_other_tools_get_the_slipway_name() {
    // Before: `depends_on` or `timeout-minutes` got "remove it" with no pointer to `needs` or `timeout`.
    let cases = [
        ("depends_on", "needs"),
        ("dependencies", "needs"),
        ("depends", "needs"),
        ("requires", "needs"),
        ("retries", "retry"),
        ("retryStrategy", "retry"),
        ("retry_count", "retry"),
        ("timeout-minutes", "timeout"),
        ("timeout_minutes", "timeout"),
        ("timeoutSeconds", "timeout"),
        ("script", "run"),
        ("command", "run"),
    ];
    for (theirs, ours) in cases {
        let run = if ours == "run" { "" } else { "    run: make\n" };
        let text = format!("version: 1\nname: x\nstages:\n  a:\n    kind: shell\n{run}    {theirs}: x\n");
        let found = helps(&text, "unknown-field");
        assert_eq!(found.len(), 1, "{theirs}: {found:?}");
        assert!(found[0].1.starts_with(&format!("did you mean `{ours}`?")), "{theirs}: {found:?}");
        // the field it stands for is not also reported missing
        assert!(helps(&text, "missing-field").is_empty(), "{theirs}");
    }
    for theirs in ["steps", "jobs", "tasks"] {
        let found = helps(&format!("version: 1\nname: x\n{theirs}:\n  a: {{ kind: shell, run: make }}\n"), "unknown-field");
        assert_eq!(found[0].1, "did you mean `stages`? (a mapping of stage ids to stages)", "{theirs}");
    }
    for theirs in ["with", "inputs"] {
        let found =
            helps(&format!("version: 1\nname: x\nstages:\n  a:\n    kind: shell\n    {theirs}: {{ run: make }}\n"), "unknown-field");
        assert!(found[0].1.starts_with("a stage takes its fields directly"), "{theirs}: {found:?}");
    }
    // `command` is `run` only where `run` is taken: on `migrate` it is the field itself
    let migrate = "version: 1\nname: x\nhosts: { db: [db-1] }\nstages:\n  m: { kind: migrate, hosts: db, command: make }\n";
    assert!(helps(migrate, "unknown-field").is_empty());
    for (theirs, ours) in [("upcase", "upper"), ("downcase", "lower")] {
        let text = format!("version: 1\nname: x\nstages:\n  a: {{ kind: shell, run: \"echo {{{{ {theirs} 'x' }}}}\" }}\n");
        assert_eq!(helps(&text, "unknown-helper")[0].1, format!("did you mean `{ours}`?"), "{theirs}");
    }
}

#[test]
fn helper_arguments_are_checked_before_the_run() {
    // Before: `{{ replace 'a' }}` passed validate and failed at run time.
    let text = |t: &str| format!("version: 1\nname: x\nstages:\n  a:\n    kind: shell\n    run: \"echo {t}\"\n");
    let found = helps(&text("{{ replace 'a' }}"), "helper-arguments");
    assert_eq!(found, [("`replace` takes 3 arguments, found 1".to_owned(), "write `{{ replace TEXT FROM TO }}`".to_owned())]);
    let found = helps(&text("{{#each}}x{{/each}}"), "helper-arguments");
    assert_eq!(found, [("`each` takes 1 argument, found 0".to_owned(), "write `{{#each LIST}}…{{/each}}`".to_owned())]);
    assert_eq!(helps(&text("{{ join (concat 'a' 'b') ', ' }}"), "helper-arguments"), []);
}
