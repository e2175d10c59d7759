//! `slipway report`: the HTML page of a past run, built from its journal.
//! The page of a run with a retried and a failed stage is opened in headless
//! Chromium: every stage and attempt the journal holds is on it, its script
//! ran under its Content-Security-Policy, markup from outputs and logs stayed
//! text, no secret shows, it asks the network for nothing, and the Nu HTML
//! checker finds no error in it.

use std::collections::BTreeSet;

use crate::browser::{Visit, finish, page_requests, png_size, start_vnu};
use crate::sandbox::Sandbox;

const SECRET: &str = "rep0rt-s3cret-Zq81";

/// Markup an attacker could put in a commit subject: it must stay text.
const SUBJECT: &str = r#"fix <img src=x onerror="document.title='pwned'"></pre><script>document.title='pwned'</script>"#;

const PIPELINE: &str = r#"version: 1
name: report-demo
secrets: { TOKEN: { env: TEST_REPORT_TOKEN } }
stages:
  build:
    kind: shell
    env: { T: "{{ secrets.TOKEN }}", S: "{{ params.subject }}" }
    run: |
      echo "subject=$S" >> "$SLIPWAY_OUTPUT"
      echo "token=$T" >> "$SLIPWAY_OUTPUT"
      echo "building $S with $T"
    outputs: [subject, token]
  flaky:
    kind: shell
    needs: [build]
    run: 'echo x >> tries; test $(wc -l < tries) -ge 3 || exit 75'
    retry_on_exit_codes: [75]
    retry: { attempts: 5, backoff: 50ms }
  broken:
    kind: shell
    needs: [build]
    run: 'echo "<b>no</b> $S" >&2; exit 1'
    env: { S: "{{ params.subject }}" }
  after:
    kind: shell
    needs: [flaky, broken]
    run: 'true'
params:
  subject: { description: the commit subject }
"#;

#[test]
fn the_report_of_a_retried_and_a_failed_stage_shows_every_attempt_in_chromium_is_valid_html_and_loads_nothing() {
    let sb = Sandbox::new("html-report");
    sb.write("p.yaml", PIPELINE);
    let subject = format!("subject={SUBJECT}");
    let out = sb.command(&["run", "p.yaml", "-p", &subject]).env("TEST_REPORT_TOKEN", SECRET).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the run fails at `broken`: {}", String::from_utf8_lossy(&out.stderr));
    let run_id = sb.run_ids().pop().expect("a run");
    let out = sb.run(&["report", &run_id, "--out", "report.html"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let page = sb.path("report.html");
    let html = sb.read("report.html");

    // Chromium, the HTML checker and a control page (proving the net-log check sees a page's requests) run side by side.
    let vnu = start_vnu(&page);
    let control = sb.write("control.html", CONTROL);
    let control = Visit::start(&control, &sb.dir, "control");
    let visit = Visit::start(&page, &sb.dir, "report");
    let (screenshot, net_log) = (visit.screenshot.clone(), visit.net_log.clone());
    let dom = visit.dom();

    // The page's script ran (the CSP lets exactly it run) and counted what the page shows.
    assert!(dom.contains("data-ready=\"1\""), "the page's script did not run:\n{dom}");
    assert!(dom.contains("4 stages, 5 attempts, 2 retried, 1 failed"), "{dom}");
    // Every stage and every attempt the journal holds, with how it ended.
    let journal = sb.journal();
    let stages: BTreeSet<&str> = journal.iter().filter_map(|e| e["stage"].as_str()).collect();
    assert_eq!(stages.len(), 4, "{stages:?}");
    for stage in &stages {
        assert!(dom.contains(&format!("<article id=\"stage-{stage}\"")), "stage {stage} has no section");
        assert!(dom.contains(&format!("data-stage=\"{stage}\"><title>")), "stage {stage} is not in the graph");
    }
    let attempts: Vec<(String, u64)> = journal
        .iter()
        .filter(|e| e["event"] == "attempt_started")
        .map(|e| (e["stage"].as_str().unwrap_or_default().to_owned(), e["attempt"].as_u64().unwrap_or_default()))
        .collect();
    assert_eq!(attempts.len(), 5, "{attempts:?}");
    for (stage, n) in &attempts {
        assert!(dom.contains(&format!("data-stage=\"{stage}\" data-attempt=\"{n}\"")), "attempt {n} of {stage} is not on the timeline");
    }
    for bar in [("flaky", 1, "retried"), ("flaky", 2, "retried"), ("flaky", 3, "succeeded"), ("broken", 1, "failed")] {
        let (stage, n, outcome) = bar;
        assert!(dom.contains(&format!("<rect class=\"bar o-{outcome}\" data-stage=\"{stage}\" data-attempt=\"{n}\"")), "{bar:?}");
    }
    assert!(dom.contains("class=\"wait\""), "the waits before retries are drawn");
    assert!(dom.contains("data-from=\"build\" data-to=\"flaky\""), "the graph's edges come from the journal");
    assert!(dom.contains("data-stage=\"after\" data-status=\"skipped\"") && dom.contains("data-stage=\"broken\" data-status=\"failed\""));
    assert!(dom.contains("command exited with status 1"), "the failed stage's error is shown");

    // Markup from outputs and logs stayed text; the secret never shows.
    assert!(dom.contains(&format!("<title>report-demo · run {run_id}</title>")), "a script from an output ran:\n{dom}");
    assert!(dom.contains("&lt;img src=x onerror="), "the subject is shown as text:\n{dom}");
    for injected in ["<img", "<b>", "<script>document"] {
        assert!(!dom.to_lowercase().contains(injected), "`{injected}` became an element");
        assert!(!html.contains(injected), "`{injected}` is in the page unescaped");
    }
    assert!(!html.contains(SECRET) && !dom.contains(SECRET), "the secret is in the report");
    assert!(html.contains("***"), "the masked token output is shown masked");

    // A real screenshot of the window.
    assert_eq!(png_size(&screenshot), (1300, 1400));

    // No network request from the page; the control page's requests are seen.
    assert_eq!(page_requests(&net_log), Vec::<String>::new(), "the report asked the network for something");
    let _ = control.dom();
    let seen = page_requests(&sb.path("control-net.json"));
    assert!(seen.iter().any(|u| u.contains("127.0.0.1:9/pixel.png")), "the net-log check misses a page's request: {seen:?}");

    let checked = finish(vnu, "the Nu HTML checker");
    let said = format!("{}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    assert!(checked.status.success(), "the report is not valid HTML:\n{said}");
}

/// A page that asks the network for an image: the net-log check must see it.
const CONTROL: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>control</title></head>\
<body><img src=\"http://127.0.0.1:9/pixel.png\" alt=\"\"></body></html>\n";

#[test]
fn a_run_that_is_not_there_is_named_with_a_hint() {
    let sb = Sandbox::new("html-report-missing");
    let out = sb.run(&["report", "20990101T000000Z-abcdef"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read run `20990101T000000Z-abcdef`") && err.contains("`slipway runs`"), "{err}");
}

/// Fleet stages record each host in their outputs (`hosts` of converge and of
/// shell on hosts, `host_releases` of deploy, `host` of migrate): the report
/// draws a row per host from the journal alone, here one written as a run of
/// those stages leaves it.
#[test]
fn fleet_stages_get_a_row_per_host_from_what_the_journal_recorded() {
    let sb = Sandbox::new("html-report-hosts");
    let id = "20260101T000000Z-0a0b0c";
    let dir = sb.path(&format!(".slipway/runs/{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let meta = serde_json::json!({
        "run_id": id, "pipeline": "fleet", "file": "/p.yaml", "params": {}, "user": "u", "host": "h", "pid": 1,
        "started_at": "2026-01-01T00:00:00Z", "digests": { "converge": "1", "deploy": "2", "migrate": "3" },
        "needs": { "converge": [], "migrate": ["converge"], "deploy": ["migrate"] }
    });
    std::fs::write(dir.join("run.json"), meta.to_string()).unwrap();
    let hosts = serde_json::json!([
        { "name": "web-1", "status": "succeeded", "exit_code": 0, "duration_ms": 800 },
        { "name": "web-<2>", "status": "failed", "exit_code": 3, "duration_ms": 500 }
    ]);
    let releases = serde_json::json!([{ "name": "web-1", "release": "20260101000001", "status": "rolled_back" }]);
    let events = [
        serde_json::json!({ "event": "run_started", "run_id": id, "pipeline": "fleet", "params": {}, "resumed": false, "at": 1_000 }),
        serde_json::json!({ "event": "attempt_started", "stage": "converge", "attempt": 1, "at": 1_000 }),
        serde_json::json!({ "event": "stage_finished", "stage": "converge", "status": "succeeded", "attempts": 1, "duration_ms": 900, "outputs": { "hosts": hosts }, "at": 1_900 }),
        serde_json::json!({ "event": "attempt_started", "stage": "migrate", "attempt": 1, "at": 2_000 }),
        serde_json::json!({ "event": "stage_finished", "stage": "migrate", "status": "succeeded", "attempts": 1, "duration_ms": 100, "outputs": { "host": "db-1", "ran": true }, "at": 2_100 }),
        serde_json::json!({ "event": "attempt_started", "stage": "deploy", "attempt": 1, "at": 2_100 }),
        serde_json::json!({ "event": "stage_finished", "stage": "deploy", "status": "failed", "attempts": 1, "duration_ms": 400, "outputs": { "host_releases": releases, "rolled_back": true }, "reason": "web-1 failed its check", "at": 2_500 }),
        serde_json::json!({ "event": "run_finished", "status": "failed", "duration_ms": 1500, "at": 2_500 }),
    ];
    let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    std::fs::write(dir.join("events.jsonl"), lines.join("\n") + "\n").unwrap();

    let out = sb.run(&["report", id, "--out", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = String::from_utf8_lossy(&out.stdout);
    for (host, status) in [("web-1", "succeeded"), ("web-&lt;2&gt;", "failed"), ("db-1", "ran"), ("web-1", "rolled_back")] {
        assert!(html.contains(&format!("<tr data-host=\"{host}\"><td>{host}</td><td class=\"h-")), "no row for {host}");
        assert!(html.contains(&format!(">{status}</td>")), "{host} is not shown {status}");
    }
    // On the timeline: a bar per host under its stage.
    assert_eq!(html.matches("<g class=\"host\"").count(), 4, "{html}");
    let rows: BTreeSet<&str> = html.split("class=\"hostlabel\" x=\"18\" y=\"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
    assert_eq!(rows.len(), 4, "each host has a row of its own: {rows:?}");
    assert!(html.contains("data-from=\"migrate\" data-to=\"deploy\""));
    assert!(html.contains("web-1 failed its check") && html.contains("release 20260101000001"));
}

/// A resumed run is one report: the stages reused from before, and the failed
/// stage's attempts from both starts.
#[test]
fn a_resumed_run_shows_what_was_reused_and_every_attempt_of_both_starts() {
    let sb = Sandbox::new("html-report-resume");
    sb.write("p.yaml", "version: 1\nname: r\nstages:\n  first: { kind: shell, run: 'true' }\n  second: { kind: shell, needs: [first], run: 'test -f fixed' }\n");
    assert_eq!(sb.run(&["run", "p.yaml"]).status.code(), Some(1));
    let run_id = sb.run_ids().pop().expect("a run");
    sb.write("fixed", "");
    assert_eq!(sb.run(&["resume", &run_id]).status.code(), Some(0));
    let out = sb.run(&["report", &run_id, "--out", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(html.contains("<dt>resumed</dt><dd>once</dd>"), "{html}");
    assert!(html.contains("<p>reused: it succeeded in an earlier attempt of this run</p>"), "`first` is shown reused");
    let bars: Vec<&str> = html
        .split("<rect class=\"bar ")
        .skip(1)
        .filter(|b| b.split('>').next().is_some_and(|tag| tag.contains("data-stage=\"second\"")))
        .collect();
    let outcomes: Vec<&str> = bars.iter().filter_map(|b| b.split('"').next()).collect();
    assert_eq!(outcomes, ["o-failed", "o-succeeded"], "both starts' attempts of `second`");
    assert!(html.contains("data-stage=\"second\" data-status=\"succeeded\""));
}

/// A real run on a fleet (`transport: local` hosts: no sshd needed): converge
/// and a shell stage on hosts, which fails on one host, each get a row per host.
#[test]
fn a_fleet_run_gets_a_row_per_host_for_each_fleet_stage() {
    let sb = Sandbox::new("html-report-fleet");
    sb.write(
        "p.yaml",
        "version: 1\nname: local-fleet\nhosts:\n  app:\n    - { name: app-1, transport: local }\n    - { name: app-2, transport: local }\nstages:\n  converge:\n    kind: converge\n    hosts: app\n    tool: puppet\n    concurrency: 2\n    command: \"exit {{#if (eq host.name 'app-1')}}2{{else}}0{{/if}}\"\n  check:\n    kind: shell\n    needs: [converge]\n    hosts: app\n    run: 'test {{ host.name }} = app-1'\n",
    );
    assert_eq!(sb.run(&["run", "p.yaml"]).status.code(), Some(1), "`check` fails on app-2");
    let run_id = sb.run_ids().pop().expect("a run");
    let out = sb.run(&["report", &run_id, "--out", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = String::from_utf8_lossy(&out.stdout);
    let section = |stage: &str| {
        html.split(&format!("<article id=\"stage-{stage}\""))
            .nth(1)
            .and_then(|s| s.split("</article>").next())
            .unwrap_or_default()
            .to_owned()
    };
    let converge = section("converge");
    assert!(converge.contains("<tr data-host=\"app-1\"><td>app-1</td><td class=\"h-ok\">changed</td><td>exit 2</td>"), "{converge}");
    assert!(converge.contains("<tr data-host=\"app-2\"><td>app-2</td><td class=\"h-ok\">ok</td><td>exit 0</td>"), "{converge}");
    let check = section("check");
    assert!(check.contains("<tr data-host=\"app-2\"><td>app-2</td><td class=\"h-bad\">failed</td><td>exit 1</td>"), "{check}");
    assert!(check.contains("1 of 2 hosts failed: app-2 (exit 1)"), "{check}");
    assert_eq!(html.matches("<g class=\"host\"").count(), 4, "two hosts under each stage on the timeline");
}
