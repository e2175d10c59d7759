//! `marker` runs for real: against stand-ins for Datadog, Grafana and
//! Elasticsearch, a real `redis-server` read back as Logstash reads it, and a
//! webhook receiver. Exactly once where the service allows it; a retry resends
//! only the sinks that failed.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::dashboards_standin::{datadog, elasticsearch, grafana};
use crate::redis_server::RedisServer;
use crate::sandbox::{Sandbox, events, of};
use crate::standin::{Fault, Reply, StandIn, rate_limited, require};

const DD_KEY: &str = "dd-k3y-0123456789abcdef";
const GF_TOKEN: &str = "glsa_t0ken_abcdef012345";
const ES_PASSWORD: &str = "es-pa55w0rd-xyz789";
const HOOK_SECRET: &str = "hook-s3cret-value-42";
pub(crate) const SECRETS: &str = "secrets: { DD: { env: TEST_DD_KEY }, GF: { env: TEST_GF_TOKEN }, ES: { env: TEST_ES_PASSWORD }, HOOK: { env: TEST_HOOK_SECRET }, REDIS: { env: TEST_REDIS_PASSWORD } }";

/// `slipway` with every secret the tests use in its environment.
pub(crate) fn slipway(sb: &Sandbox, args: &[&str], redis_password: &str) -> Output {
    command(sb, args, redis_password).output().expect("run slipway")
}

fn command(sb: &Sandbox, args: &[&str], redis_password: &str) -> Command {
    let mut cmd = sb.command(args);
    cmd.env("TEST_DD_KEY", DD_KEY)
        .env("TEST_GF_TOKEN", GF_TOKEN)
        .env("TEST_ES_PASSWORD", ES_PASSWORD)
        .env("TEST_HOOK_SECRET", HOOK_SECRET)
        .env("TEST_REDIS_PASSWORD", redis_password);
    cmd
}

/// A webhook receiver that wants JSON and an `Idempotency-Key`, and answers 200.
pub(crate) fn receiver() -> StandIn<()> {
    StandIn::start((), |req, _| match require(req, "POST", Some("application/json"), None) {
        Err(reply) => reply,
        Ok(()) if req.header("idempotency-key").is_none() => Reply::new(400, "Idempotency-Key required"),
        Ok(()) => Reply::new(200, "ok"),
    })
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn outputs(evs: &[Value], stage: &str) -> Value {
    of(evs, "stage_finished", stage).last().map(|e| e["outputs"].clone()).unwrap_or(Value::Null)
}

/// No secret of these tests anywhere in what a run left or printed.
pub(crate) fn assert_no_secret(sb: &Sandbox, printed: &[&Output], also: &[&str]) {
    let journal = serde_json::to_string(&sb.journal()).unwrap();
    for secret in [DD_KEY, GF_TOKEN, ES_PASSWORD, HOOK_SECRET].iter().chain(also) {
        assert!(!journal.contains(secret), "the journal holds a secret");
        for out in printed {
            assert!(!String::from_utf8_lossy(&out.stdout).contains(secret) && !stderr(out).contains(secret), "output holds a secret");
        }
    }
}

/// HMAC-SHA256 of `body` with `key`, in hex, computed outside Slipway.
fn hmac_hex(key: &str, body: &str) -> String {
    let py = "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())";
    let mut child = Command::new("python3").args(["-c", py, key]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("python3");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap().trim().to_owned()
}

#[test]
fn every_sink_gets_the_event_in_its_documented_shape() {
    let (dd, gf, es, hook, redis) =
        (datadog(DD_KEY), grafana(GF_TOKEN, Some(3)), elasticsearch(&basic("deployer", ES_PASSWORD)), receiver(), RedisServer::start());
    let sb = Sandbox::new("marker-sinks");
    sb.write(
        "p.yaml",
        &format!(
            r#"version: 1
name: shop
params: {{ alert: {{ default: success }} }}
{SECRETS}
stages:
  mark:
    kind: marker
    event: start
    title: "shop deploy started"
    text: "build 42"
    tags: ["service:shop", "env:prod"]
    datadog: {{ api_key: "{{{{ secrets.DD }}}}", api_base: "{dd}", alert_type: "{{{{ params.alert }}}}", aggregation_key: shop-deploy }}
    grafana: {{ url: "{gf}", token: "{{{{ secrets.GF }}}}", dashboard_uid: dash1, panel_id: 2, org_id: 3 }}
    elasticsearch: {{ url: "{es}", index: deploys, username: deployer, password: "{{{{ secrets.ES }}}}" }}
    redis: {{ url: "redis://:{{{{ secrets.REDIS }}}}@127.0.0.1:{port}/3", key: deployments }}
    webhook: {{ url: "{hook}", secret: "{{{{ secrets.HOOK }}}}", headers: {{ X-Team: ops }} }}
"#,
            dd = dd.url(""),
            gf = gf.url(""),
            es = es.url(""),
            hook = hook.url("/deploy"),
            port = redis.port,
        ),
    );

    // The plan shows every request, secrets hidden, and sends nothing.
    let plan = slipway(&sb, &["plan", "p.yaml"], &redis.password);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let text = String::from_utf8_lossy(&plan.stdout);
    for (server, what) in
        [(dd.url("/api/v1/events"), "POST"), (gf.url("/api/annotations"), "POST"), (es.url("/deploys/_doc/slipway."), "PUT")]
    {
        assert!(text.contains(&format!("{what} {server}")), "plan lacks {what} {server}:\n{text}");
    }
    assert!(text.contains(&format!("GET {}?tags=slipway.", gf.url("/api/annotations"))), "{text}");
    assert!(text.contains(&format!("redis redis://:***@127.0.0.1:{}/3: RPUSH deployments", redis.port)), "{text}");
    assert!(dd.recorded().is_empty() && gf.recorded().is_empty() && es.recorded().is_empty() && hook.recorded().is_empty());
    assert_eq!(redis.cli(3, &["EXISTS", "deployments"]).trim(), "0", "a plan wrote to redis");

    let run = slipway(&sb, &["run", "p.yaml", "--format", "json"], &redis.password);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let evs = events(&run.stdout);
    let run_id = sb.run_ids()[0].clone();
    let name = format!("slipway.{run_id}.mark");
    let out = outputs(&evs, "mark");
    let timestamp = out["timestamp"].as_str().unwrap().to_owned();
    assert_eq!(out["datadog_event_id"], "9007199254740994", "id_str, not a rounded float");
    assert_eq!(out["grafana_annotation_id"], "1");
    assert_eq!(out["elasticsearch_id"], name.as_str());

    // The event as Slipway describes it: the Elasticsearch document, the Redis
    // element and the default webhook body are the same JSON object.
    let doc = es.with_state(|s| s.documents.clone());
    assert_eq!(doc.len(), 1);
    let (index, id, event, _) = &doc[0];
    assert_eq!((index.as_str(), id.as_str()), ("deploys", name.as_str()));
    assert_eq!(
        event,
        &json!({"@timestamp": timestamp, "event": "start", "title": "shop deploy started", "text": "build 42",
                "tags": ["service:shop", "env:prod"], "pipeline": "shop", "stage": "mark", "run_id": run_id,
                "idempotency_key": format!("{run_id}:mark"), "source": "slipway"})
    );
    assert_eq!(redis.logstash_read(3, "deployments", 125), vec![event.clone()]);
    let posted = hook.recorded();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].json().as_ref(), Some(event));
    assert_eq!(posted[0].header("idempotency-key"), Some(format!("{run_id}:mark").as_str()));
    assert_eq!(posted[0].header("x-team"), Some("ops"));
    assert_eq!(posted[0].header("x-slipway-signature-256"), Some(format!("sha256={}", hmac_hex(HOOK_SECRET, &posted[0].body)).as_str()));

    // One moment everywhere: seconds for Datadog, milliseconds for Grafana.
    let ms = grafana_ms(&timestamp);
    let dd_events = dd.with_state(|s| s.events.clone());
    assert_eq!(dd_events.len(), 1);
    assert_eq!(dd_events[0]["date_happened"], ms / 1000);
    assert_eq!((dd_events[0]["alert_type"].as_str(), dd_events[0]["aggregation_key"].as_str()), (Some("success"), Some("shop-deploy")));
    assert_eq!((dd_events[0]["title"].as_str(), dd_events[0]["text"].as_str()), (Some("shop deploy started"), Some("build 42")));
    let annotations = gf.with_state(|s| s.annotations.clone());
    assert_eq!(annotations.len(), 1);
    let a = &annotations[0];
    assert_eq!((a.time, a.time_end), (ms, ms), "a start is a point until its end marker");
    assert_eq!(a.tags, vec!["service:shop".to_owned(), "env:prod".into(), name.clone()]);
    assert_eq!((a.text.as_str(), a.dashboard_uid.as_deref(), a.panel_id), ("shop deploy started\nbuild 42", Some("dash1"), Some(2)));
    assert_no_secret(&sb, &[&plan, &run], &[&redis.password]);
}

/// `Basic base64(user:password)`, encoded outside Slipway.
fn basic(user: &str, password: &str) -> String {
    let mut child = Command::new("base64").arg("-w0").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("base64");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{user}:{password}").as_bytes()).unwrap();
    format!("Basic {}", String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap().trim())
}

/// Epoch milliseconds of an RFC 3339 time (via `date`, outside Slipway).
fn grafana_ms(rfc3339: &str) -> i64 {
    let out = Command::new("date").args(["-u", "-d", rfc3339, "+%s%3N"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn grafana_pipeline(gf: &StandIn<crate::dashboards_standin::Grafana>, retry: u32) -> String {
    format!(
        r#"version: 1
name: shop
{SECRETS}
stages:
  start:
    kind: marker
    event: start
    title: deploy started
    grafana: {{ url: "{gf}", token: "{{{{ secrets.GF }}}}" }}
    retry: {{ attempts: {retry}, backoff: 10ms }}
  deploy: {{ kind: shell, needs: [start], run: "sleep 0.05; touch deployed" }}
  finish:
    kind: marker
    event: end
    needs: [deploy]
    when: always
    title: "deploy {{{{ stages.deploy.status }}}}"
    grafana: {{ url: "{gf}", token: "{{{{ secrets.GF }}}}", annotation_id: "{{{{ stages.start.outputs.grafana_annotation_id }}}}" }}
"#,
        gf = gf.url("")
    )
}

#[test]
fn a_grafana_start_marker_retried_after_a_lost_answer_makes_one_annotation_that_the_end_marker_closes() {
    let gf = grafana(GF_TOKEN, None);
    // The search goes through; the create is done, then its answer is lost.
    gf.fault("tags=", Fault::Slow(Duration::ZERO));
    gf.fault("/api/annotations", Fault::DropAfterWork);
    let sb = Sandbox::new("marker-grafana-drop");
    sb.write("p.yaml", &grafana_pipeline(&gf, 3));
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], "unused");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let evs = events(&out.stdout);
    let failed = of(&evs, "attempt_failed", "start");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["error"].as_str().unwrap().starts_with("grafana: "), "{}", failed[0]["error"]);
    assert_eq!(failed[0]["transient"], true);

    let annotations = gf.with_state(|s| s.annotations.clone());
    assert_eq!(annotations.len(), 1, "the retry drew a second annotation");
    assert_eq!((gf.requests("POST", "/api/annotations").len(), gf.requests("GET", "/api/annotations").len()), (1, 2));
    assert_eq!(outputs(&evs, "start")["grafana_annotation_id"], "1");
    // The end marker closed that annotation: a region now.
    assert_eq!(outputs(&evs, "finish")["grafana_annotation_id"], "1");
    let patches = gf.requests("PATCH", "/api/annotations/1");
    assert_eq!(patches.len(), 1);
    let a = &annotations[0];
    let closed = gf.with_state(|s| s.annotations[0].time_end);
    assert!(closed > a.time, "timeEnd {closed} is not after time {}", a.time);
    assert_eq!(patches[0].json().unwrap()["timeEnd"], closed);
}

#[test]
fn a_grafana_start_marker_killed_after_creating_is_resumed_without_a_second_annotation() {
    let gf = grafana(GF_TOKEN, None);
    gf.fault("tags=", Fault::Slow(Duration::ZERO));
    gf.fault("/api/annotations", Fault::Slow(Duration::from_secs(30)));
    let sb = Sandbox::new("marker-grafana-kill");
    sb.write("p.yaml", &grafana_pipeline(&gf, 1));
    let mut child = command(&sb, &["run", "p.yaml"], "unused").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while gf.with_state(|s| s.annotations.is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(20), "the annotation was never created");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Killed between the create and the journal record.
    child.kill().unwrap();
    let _ = child.wait();
    let id = sb.run_ids()[0].clone();
    let out = slipway(&sb, &["resume", &id, "--format", "json"], "unused");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let evs = events(&out.stdout);
    assert_eq!(gf.with_state(|s| s.annotations.len()), 1, "the resume drew a second annotation");
    assert_eq!(gf.requests("POST", "/api/annotations").len(), 1);
    assert_eq!(outputs(&evs, "start")["grafana_annotation_id"], "1");
    assert!(sb.path("deployed").exists());
    assert_eq!(gf.requests("PATCH", "/api/annotations/1").len(), 1);
}

fn all_sinks(sb: &Sandbox, dd: &str, gf: &str, es: &str, hook: &str, redis: &RedisServer) {
    sb.write(
        "p.yaml",
        &format!(
            r#"version: 1
name: shop
{SECRETS}
stages:
  mark:
    kind: marker
    title: deployed
    datadog: {{ api_key: "{{{{ secrets.DD }}}}", api_base: "{dd}" }}
    grafana: {{ url: "{gf}", token: "{{{{ secrets.GF }}}}" }}
    elasticsearch: {{ url: "{es}", index: deploys, api_key: "{{{{ secrets.ES }}}}" }}
    redis: {{ url: "redis://:{{{{ secrets.REDIS }}}}@127.0.0.1:{port}/1", key: deployments }}
    webhook: {{ url: "{hook}" }}
    retry: {{ attempts: 3, backoff: 10ms }}
"#,
            port = redis.port
        ),
    );
}

#[test]
fn when_sinks_fail_the_error_names_them_and_the_retry_resends_only_those() {
    let (dd, gf, es, hook, redis) =
        (datadog(DD_KEY), grafana(GF_TOKEN, None), elasticsearch(&format!("ApiKey {ES_PASSWORD}")), receiver(), RedisServer::start());
    dd.fault("/api/v1/events", Fault::Answer(rate_limited(1)));
    es.fault("/deploys/_doc/", Fault::Answer(Reply::new(503, "{\"error\":\"unavailable\"}")));
    let sb = Sandbox::new("marker-partial");
    all_sinks(&sb, &dd.url(""), &gf.url(""), &es.url(""), &hook.url("/deploy"), &redis);
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], &redis.password);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let evs = events(&out.stdout);
    let failed = of(&evs, "attempt_failed", "mark");
    assert_eq!(failed.len(), 1);
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.starts_with("datadog: ") && error.contains("HTTP 429") && error.contains("; elasticsearch: "), "{error}");
    assert!(error.contains("HTTP 503") && !error.contains("grafana") && !error.contains("redis") && !error.contains("webhook"), "{error}");
    assert!(failed[0]["retry_in_ms"].as_u64().unwrap() >= 1000, "Retry-After was not honoured: {}", failed[0]);
    assert_eq!(of(&evs, "stage_finished", "mark")[0]["attempts"], 2);

    // What answered the first time was not sent again.
    assert_eq!(dd.requests("POST", "/api/v1/events").len(), 2);
    assert_eq!(dd.with_state(|s| s.events.len()), 1);
    assert_eq!((gf.requests("GET", "/api/annotations").len(), gf.requests("POST", "/api/annotations").len()), (1, 1));
    assert_eq!(hook.recorded().len(), 1);
    assert_eq!(redis.cli(1, &["LLEN", "deployments"]).trim(), "1");
    assert_eq!((es.requests("PUT", "/deploys/_doc/").len(), es.with_state(|s| s.documents.len())), (2, 1));
    let o = outputs(&evs, "mark");
    assert!(
        ["datadog_event_id", "grafana_annotation_id", "elasticsearch_id"].iter().all(|k| !o[k].as_str().unwrap_or("").is_empty()),
        "{o}"
    );
}

#[test]
fn a_refused_token_fails_the_marker_at_once_naming_the_sink_and_the_others_are_still_sent() {
    let (dd, gf, es, hook, redis) = (
        datadog(DD_KEY),
        grafana("another-token", None),
        elasticsearch(&format!("ApiKey {ES_PASSWORD}")),
        receiver(),
        RedisServer::start(),
    );
    let sb = Sandbox::new("marker-refused");
    all_sinks(&sb, &dd.url(""), &gf.url(""), &es.url(""), &hook.url("/deploy"), &redis);
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], &redis.password);
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stdout);
    let fin = of(&evs, "stage_finished", "mark")[0];
    assert_eq!(fin["attempts"], 1, "a refused token was retried");
    let reason = fin["reason"].as_str().unwrap();
    assert!(reason.starts_with("grafana: ") && reason.contains("HTTP 401") && reason.contains("check `token`"), "{reason}");
    assert_eq!(dd.with_state(|s| s.events.len()), 1);
    assert_eq!(es.with_state(|s| s.documents.len()), 1);
    assert_eq!(hook.recorded().len(), 1);
    assert_eq!(redis.cli(1, &["LLEN", "deployments"]).trim(), "1");
    assert_no_secret(&sb, &[&out], &[&redis.password]);
}

/// The worked example in docs/stages/marker.md, run as written but for its
/// addresses (pointed at the stand-ins and the real Redis) and its deploy
/// command.
#[test]
fn the_worked_example_in_the_docs_runs() {
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/stages/marker.md")).unwrap();
    let yaml = doc.split("```yaml\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a yaml block in the docs");
    let (dd, gf, redis) = (datadog(DD_KEY), grafana(GF_TOKEN, None), RedisServer::start());
    let pipeline = yaml
        .replace("https://grafana.internal", &gf.url(""))
        .replace("logstash-redis.internal:6379", &format!("127.0.0.1:{}", redis.port))
        .replace(
            "api_key: \"{{ secrets.DD_API_KEY }}\"",
            &format!("api_key: \"{{{{ secrets.DD_API_KEY }}}}\"\n      api_base: \"{}\"", dd.url("")),
        )
        .replace("./bin/deploy \"$REVISION\"", "echo deploying \"$REVISION\"");
    assert_ne!(pipeline, yaml);
    let sb = Sandbox::new("marker-docs");
    sb.write("p.yaml", &pipeline);
    let out = sb
        .command(&["run", "p.yaml", "--param", "revision=4f2a9c1", "--format", "json"])
        .env("DD_API_KEY", DD_KEY)
        .env("GRAFANA_TOKEN", GF_TOKEN)
        .env("REDIS_PASSWORD", &redis.password)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let annotations = gf.with_state(|s| s.annotations.clone());
    assert_eq!(annotations.len(), 1);
    assert!(annotations[0].time_end > annotations[0].time, "the end marker did not close the region");
    let alert_types: Vec<Value> = dd.with_state(|s| s.events.iter().map(|e| e["alert_type"].clone()).collect());
    assert_eq!(alert_types, vec![json!("info"), json!("success")]);
    let events: Vec<Value> = redis.logstash_read(0, "deployments", 125).into_iter().map(|e| e["event"].clone()).collect();
    assert_eq!(events, vec![json!("start"), json!("end")]);
}
