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

/// A 95-character token, as in the report: `base64` wraps `user:<token>` over two lines.
const TOKEN: &str = "ghp_Zq81xvR7t0kenW4lue/Mx9+pLs!(Qd)*Ke-k9TzYb3Nc8Vf2Hj5Gm6Lp0Rw4Sx7Ua1Ie3Oy9Bq_Dh2Fk5Jn8Ct.Ev6w";
/// Non-ASCII, outside the BMP too: JSON encoders write it `\u`-escaped.
const UNICODE: &str = "clé-secrète-🚀-Zq81xv";
/// Comes back from a service as a JSON number.
const PIN: &str = "48151623";

/// The base64 text that carries `secret`'s bits alone, for each of the three
/// alignments it can have inside a longer value, standard and URL-safe.
fn base64_forms(secret: &str) -> Vec<String> {
    let mut forms = Vec::new();
    for shift in 0..3usize {
        let mut input = "x".repeat(shift).into_bytes();
        input.extend_from_slice(secret.as_bytes());
        let encoded = base64(&input);
        let (first, last) = ((8 * shift).div_ceil(6), 8 * input.len() / 6);
        let form = encoded[first..last].to_owned();
        forms.push(form.replace('+', "-").replace('/', "_"));
        forms.push(form);
    }
    forms
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The first run of 12 characters of a base64 form of `secret` that `text`
/// shows, if any (line edges may show fewer: see `Masker`).
fn base64_fragment(text: &str, secret: &str) -> Option<String> {
    base64_forms(secret).into_iter().find_map(|form| {
        let chars: Vec<char> = form.chars().collect();
        chars.windows(12).map(|w| w.iter().collect::<String>()).find(|w| text.contains(w.as_str()))
    })
}

#[test]
fn wrapped_base64_json_escapes_numbers_and_helper_outputs_are_masked() {
    let server = TestServer::start(vec![Reply::new(200, &format!("{{\"pin\": {PIN}}}"))]);
    let sb = Sandbox::new("secrets-forms");
    let pipeline = format!(
        r#"version: 1
name: s
secrets: {{ T: {{ env: TEST_T }}, U: {{ env: TEST_U }}, PIN: {{ env: TEST_PIN }} }}
stages:
  encode:
    kind: shell
    env: {{ T: "{{{{ secrets.T }}}}", U: "{{{{ secrets.U }}}}" }}
    run: |
      printf 'user:%s' "$T" | base64
      printf 'ab%s!' "$T" | base64 -w 64
      printf 'x%s' "$T" | base64 -w 33 | tr '+/' '-_'
      printf 'me@example.com:%s' "$T" | base64 -w 9
      python3 -c 'import json, sys; print(json.dumps({{"u": sys.argv[1]}}))' "$U"
      python3 -c 'import json, re, sys; print(re.sub(r"\\u([0-9a-f]{{4}})", lambda m: "\\u" + m.group(1).upper(), json.dumps(sys.argv[1])))' "$U"
  helpers:
    kind: shell
    run: |
      echo 'upper: {{{{ upper secrets.T }}}}'
      echo 'lower: {{{{ lower secrets.T }}}}'
      echo 'replace: {{{{ replace secrets.T "k9" "Q" }}}}'
      echo 'truncate: {{{{ truncate secrets.T 30 }}}}'
      echo 'abbrev: {{{{ abbrev secrets.T }}}}'
      echo 'upper: {{{{ upper secrets.U }}}}'
  pin:
    kind: http
    method: GET
    url: "{url}"
    outputs: {{ pin: /pin }}
"#,
        url = server.url("/pin")
    );
    sb.write("p.yaml", &pipeline);
    let run = |args: &[&str]| sb.command(args).env("TEST_T", TOKEN).env("TEST_U", UNICODE).env("TEST_PIN", PIN).output().unwrap();
    let out = run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let human = run(&["run", "p.yaml"]);
    assert_eq!(human.status.code(), Some(0), "{}", String::from_utf8_lossy(&human.stderr));
    let mut written = vec![("stdout".to_owned(), out.stdout), ("stderr".into(), out.stderr)];
    written.extend([("human stdout".to_owned(), human.stdout), ("human stderr".into(), human.stderr)]);
    for entry in walk(&sb.path(".slipway")) {
        written.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
    }
    let chars = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let transformed = [
        TOKEN.to_uppercase(),
        TOKEN.to_lowercase(),
        TOKEN.replace("k9", "Q"),
        chars(TOKEN, 29),
        chars(TOKEN, 7),
        UNICODE.to_uppercase(),
        "cl\\u00e9-secr\\u00e8te-\\ud83d\\ude80-Zq81xv".into(),
        "cl\\u00E9-secr\\u00E8te-\\uD83D\\uDE80-Zq81xv".into(),
    ];
    for (what, bytes) in &written {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(PIN), "{what} shows the PIN:\n{text}");
        for secret in [TOKEN, UNICODE] {
            assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
            if let Some(fragment) = base64_fragment(&text, secret) {
                panic!("{what} shows `{fragment}` of the base64 of a secret:\n{text}");
            }
        }
        for t in &transformed {
            assert!(!text.contains(t.as_str()), "{what} shows `{t}`:\n{text}");
        }
    }
}

#[test]
fn a_secret_in_a_url_is_masked_in_trace_logs() {
    let server = TestServer::start(vec![Reply::new(200, "{}")]);
    let sb = Sandbox::new("secrets-trace");
    let pipeline = format!(
        r#"version: 1
name: s
secrets: {{ HOST: {{ env: TEST_HOST }}, PW: {{ env: TEST_PW }} }}
stages:
  userinfo:
    kind: http
    method: GET
    url: "http://deployer:{{{{ secrets.PW }}}}@{addr}/x"
  host:
    kind: http
    method: GET
    url: "http://{{{{ secrets.HOST }}}}.invalid/x"
    retry: {{ attempts: 1 }}
"#,
        addr = server.addr
    );
    sb.write("p.yaml", &pipeline);
    for args in [&["-vv", "run", "p.yaml"][..], &["-vv", "--log-format", "json", "run", "p.yaml", "--format", "json"]] {
        let out = sb.command(args).env("TEST_HOST", "h0st-s3cret-zq81").env("TEST_PW", "pw-s3cret-Zq81").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("TRACE") || stderr.contains("\"level\":\"TRACE\""), "no trace output: {stderr}");
        for (what, text) in [("stdout", String::from_utf8_lossy(&out.stdout)), ("stderr", stderr.clone())] {
            for secret in ["h0st-s3cret-zq81", "pw-s3cret-Zq81"] {
                assert!(!text.contains(secret), "{args:?}: {what} shows `{secret}`:\n{text}");
            }
        }
    }
}

#[test]
fn a_secret_too_short_to_mask_stops_run_resume_and_live_reads() {
    let sb = Sandbox::new("secrets-short");
    sb.write(
        "p.yaml",
        "version: 1\nname: m\nsecrets: { PIN: { env: TEST_PIN } }\nstages:\n  a: { kind: shell, run: 'touch ran; test -e ok', env: { P: '{{ secrets.PIN }}' } }\n",
    );
    let run = |args: &[&str], pin: &str| sb.command(args).env("TEST_PIN", pin).output().unwrap();
    for pin in ["ab", "a3c"] {
        let out = run(&["run", "p.yaml"], pin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("secret `PIN` is too short to mask"), "{stderr}");
        assert!(!stderr.contains(pin), "the error shows the value: {stderr}");
        assert!(!sb.path("ran").exists());
        let plan = run(&["plan", "p.yaml", "--live-reads"], pin);
        assert!(String::from_utf8_lossy(&plan.stderr).contains("secret `PIN` is too short to mask"), "{plan:?}");
    }
    // a run that failed with a good value cannot be resumed with a short one
    let failed = run(&["run", "p.yaml"], "4815");
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    std::fs::remove_file(sb.path("ran")).unwrap();
    let id = sb.run_ids().pop().unwrap();
    let out = run(&["resume", &id], "481");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("secret `PIN` is too short to mask"), "{stderr}");
    assert!(!sb.path("ran").exists());
}

#[test]
fn a_plan_masks_every_field_a_template_fills() {
    let sb = Sandbox::new("secrets-plan-fields");
    sb.write(
        "p.yaml",
        "version: 1\nname: m\nsecrets: { T: { env: TEST_T } }\nstages:\n  a: { kind: shell, run: 'true', workdir: 'w-{{ secrets.T }}', env: { X: '{{ upper secrets.T }}' } }\n",
    );
    for format in ["human", "json"] {
        let out = sb.command(&["plan", "p.yaml", "--live-reads", "--format", format]).env("TEST_T", "s3cr3t-Zq81xv").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("w-***"), "{text}");
        for shown in ["s3cr3t-Zq81xv", "S3CR3T-ZQ81XV"] {
            assert!(!text.contains(shown), "{format} plan shows `{shown}`:\n{text}");
        }
    }
}
