//! A secret given through the environment appears in no byte Slipway writes.

use crate::sandbox::Sandbox;
use crate::server::{Reply, TestServer};

/// Long enough that `base64` wraps it; with characters that encoders disagree on.
const SECRET: &str = "s3cr3t/V4lue+42xyz!(q)*-k9Tz-k9Tz-k9Tz-k9Tz-k9Tz-k9Tz-k9Tz-k9Tz-k9Tz-k9Tz-k9Tz-k9Tz";

fn forms() -> Vec<String> {
    let url =
        SECRET.replace('/', "%2F").replace('+', "%2B").replace('!', "%21").replace('(', "%28").replace(')', "%29").replace('*', "%2A");
    // Python's `quote` keeps `/`; `encodeURIComponent` keeps `!()*`.
    let python = SECRET.replace('+', "%2B").replace('!', "%21").replace('(', "%28").replace(')', "%29").replace('*', "%2A");
    let js = SECRET.replace('/', "%2F").replace('+', "%2B");
    // base64 of the secret alone, and inside `user:secret` (Basic auth)
    let b64 = |s: &str| {
        let out = std::process::Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        out.stdin.as_ref().unwrap().write_all(s.as_bytes()).unwrap();
        String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap()
    };
    let plain = b64(SECRET);
    let basic = b64(&format!("deployer:{SECRET}"));
    let mut forms = vec![SECRET.to_owned(), url, python, js, plain.trim_end_matches('=')[..16].to_owned(), basic[12..28].to_owned()];
    // `base64` without `-w0` wraps at 76 characters: each line on its own.
    forms.extend(plain.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).trim_end_matches('=').to_owned()));
    forms
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for form in forms() {
        assert!(!text.contains(&form), "{what} contains the secret (as `{form}`):\n{text}");
    }
}

#[test]
fn a_secret_is_absent_from_output_journal_and_plan() {
    let server = TestServer::start(vec![Reply::new(500, "boom"), Reply::new(200, "{}")]);
    let sb = Sandbox::new("secrets");
    let pipeline = format!(
        r#"version: 1
name: s
secrets: {{ TOKEN: {{ env: TEST_DEPLOY_TOKEN }} }}
stages:
  echo:
    kind: shell
    env: {{ T: "{{{{ secrets.TOKEN }}}}" }}
    run: |
      echo "token is $T"
      echo "encoded: $(printf %s "$T" | base64 -w0) $(printf 'deployer:%s' "$T" | base64 -w0)"
      echo "url: $(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$T")" >&2
      echo "quote: $(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$T")"
      echo "js: $(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="!()*"))' "$T")"
      printf %s "$T" | base64
      echo "leak=$T" >> "$SLIPWAY_OUTPUT"
    outputs: [leak]
  call:
    kind: http
    method: POST
    url: "{url}?token={{{{ url_encode secrets.TOKEN }}}}"
    headers: {{ Authorization: "Bearer {{{{ secrets.TOKEN }}}}" }}
    body: "{{{{ stages.echo.outputs.leak }}}}"
    retry: {{ attempts: 2, backoff: 10ms }}
"#,
        url = server.url("/hook")
    );
    sb.write("p.yaml", &pipeline);
    let out = sb.command(&["run", "p.yaml", "--format", "json"]).env("TEST_DEPLOY_TOKEN", SECRET).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_clean("stdout", &out.stdout);
    assert_clean("stderr", &out.stderr);
    let human = sb.command(&["run", "p.yaml"]).env("TEST_DEPLOY_TOKEN", SECRET).output().unwrap();
    assert_clean("human stdout", &human.stdout);
    assert_clean("human stderr", &human.stderr);
    for entry in walk(&sb.path(".slipway")) {
        assert_clean(&entry.display().to_string(), &std::fs::read(&entry).unwrap());
    }
    // `--live-reads` renders with the real secret: the plan must mask it.
    for args in [&["--format", "human"][..], &["--format", "json"], &["--live-reads"], &["--live-reads", "--format", "json"]] {
        let plan = sb.command(&[&["plan", "p.yaml"][..], args].concat()).env("TEST_DEPLOY_TOKEN", SECRET).output().unwrap();
        assert_eq!(plan.status.code(), Some(0), "{}", String::from_utf8_lossy(&plan.stderr));
        assert_clean("plan", &plan.stdout);
        assert_clean("plan stderr", &plan.stderr);
    }
    // the secret was really used
    let reqs = server.recorded();
    assert!(reqs.iter().any(|r| r.headers.iter().any(|(k, v)| k == "authorization" && v == &format!("Bearer {SECRET}"))));
}

#[test]
fn a_missing_secret_is_named_before_anything_runs() {
    let sb = Sandbox::new("missing-secret");
    sb.write("p.yaml", "version: 1\nname: m\nsecrets: { TOKEN: { env: SLIPWAY_TEST_UNSET_VAR } }\nstages:\n  a: { kind: shell, run: 'touch ran; echo \"$T\"', env: { T: '{{ secrets.TOKEN }}' } }\n");
    let out = sb.run(&["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret `TOKEN` is not set: environment variable `SLIPWAY_TEST_UNSET_VAR`"));
    assert!(!sb.path("ran").exists());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
