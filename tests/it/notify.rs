//! `notify` end to end: the `slipway` binary posts to stand-ins for Slack
//! (both modes), Teams, Mattermost and a webhook.

use std::process::Output;

use serde_json::{Value, json};

use crate::chat_standin::*;
use crate::sandbox::{Sandbox, events, of};
use crate::standin::{Fault, Recorded, Reply, StandIn, json, rate_limited};

/// A generic webhook receiver: takes any JSON POST with an `Idempotency-Key`.
fn receiver() -> StandIn<Posts> {
    StandIn::start(Posts::default(), |req: &Recorded, posts: &mut Posts| {
        if req.method != "POST" || req.header("idempotency-key").is_none() || req.json().is_none() {
            return Reply::new(400, "expected a JSON POST with an Idempotency-Key");
        }
        posts.messages.push(req.json().unwrap_or_default());
        Reply::new(204, "")
    })
}

const SECRETS: &str = "secrets:\n  SLACK_BOT: { env: TEST_SLACK_BOT }\n  SLACK_HOOK: { env: TEST_SLACK_HOOK }\n";

/// Runs `slipway` with the chat secrets in its environment.
fn slipway(sb: &Sandbox, args: &[&str], slack_hook: &str) -> Output {
    sb.command(args).env("TEST_SLACK_BOT", SLACK_TOKEN).env("TEST_SLACK_HOOK", slack_hook).output().expect("run slipway")
}

fn text(out: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn finished<'a>(evs: &'a [Value], stage: &str) -> &'a Value {
    of(evs, "stage_finished", stage).first().copied().unwrap_or_else(|| panic!("no stage_finished for {stage}"))
}

#[test]
fn every_destination_takes_the_message_and_a_plan_shows_what_is_sent() {
    let (api, hook, teams, mm, rx) = (slack_api(), slack_webhook(), teams(), mattermost(), receiver());
    let sb = Sandbox::new("notify-all");
    let pipeline = format!(
        r##"version: 1
name: shop
params: {{ version: {{ default: "2.4.1" }} }}
{SECRETS}stages:
  announce:
    kind: notify
    message: "shop {{{{ params.version }}}} is out"
    slack: {{ token: "{{{{ secrets.SLACK_BOT }}}}", channel: "#deploys", api_base: "{api}" }}
    teams: {{ webhook_url: "{teams}" }}
    mattermost: {{ webhook_url: "{mm}", channel: deploys, username: slipway }}
    webhook: {{ url: "{rx}" }}
  hooked:
    kind: notify
    needs: [announce]
    message: "posted as {{{{ stages.announce.outputs.slack_ts }}}}"
    slack: {{ webhook_url: "{{{{ secrets.SLACK_HOOK }}}}" }}
"##,
        api = api.url("/api"),
        teams = teams_url(&teams),
        mm = mm.url(MATTERMOST_PATH),
        rx = rx.url("/events"),
    );
    sb.write("p.yaml", &pipeline);
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], &hook.url(SLACK_HOOK_PATH));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let evs = events(&out.stdout);

    let slack = posted(&api);
    assert_eq!(slack.len(), 1);
    assert_eq!((&slack[0]["channel"], &slack[0]["text"]), (&json!("#deploys"), &json!("shop 2.4.1 is out")));
    let outputs = &finished(&evs, "announce")["outputs"];
    assert_eq!(outputs["slack_channel"], SLACK_CHANNEL);
    assert_eq!(outputs["slack_ts"], "1700000000.000001");

    let card = &posted(&teams)[0]["attachments"][0]["content"];
    assert_eq!((&card["type"], &card["version"]), (&json!("AdaptiveCard"), &json!("1.4")));
    assert_eq!(card["body"][0], json!({"type": "TextBlock", "text": "shop 2.4.1 is out", "wrap": true}));

    assert_eq!(posted(&mm), [json!({"text": "shop 2.4.1 is out", "channel": "deploys", "username": "slipway"})]);

    let run_id = &sb.run_ids()[0];
    assert_eq!(posted(&rx), [json!({"text": "shop 2.4.1 is out", "pipeline": "shop", "run_id": run_id, "stage": "announce"})]);
    let key = rx.recorded()[0].header("idempotency-key").map(str::to_owned);
    assert_eq!(key, Some(format!("{run_id}:announce")));

    // Through a webhook Slack gives no ts: the outputs exist, empty.
    assert_eq!(posted(&hook), [json!({"text": "posted as 1700000000.000001"})]);
    let outputs = &finished(&evs, "hooked")["outputs"];
    assert_eq!((&outputs["slack_ts"], &outputs["slack_channel"]), (&json!(""), &json!("")));
    let all = text(&out);
    assert!(!all.contains(SLACK_TOKEN) && !all.contains("hookSecret42"), "a secret leaked:\n{all}");

    // The plan shows the same requests, credentials hidden.
    let out = slipway(&sb, &["plan", "p.yaml", "--format", "json"], &hook.url(SLACK_HOOK_PATH));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let effects = plan["stages"].as_array().unwrap().iter().find(|s| s["id"] == "announce").unwrap()["effects"].clone();
    assert_eq!(effects.as_array().unwrap().len(), 4);
    let first = &effects[0];
    assert_eq!(first["url"], api.url("/api/chat.postMessage"));
    assert_eq!(
        serde_json::from_str::<Value>(first["body"].as_str().unwrap()).unwrap(),
        json!({"channel": "#deploys", "text": "shop 2.4.1 is out"})
    );
    assert!(first["headers"].to_string().contains(r#"["Authorization","***"]"#), "{}", first["headers"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SLACK_TOKEN));
    assert_eq!(posted(&api).len(), 1, "a plan posted");
}

#[test]
fn a_later_message_replies_in_the_thread_of_an_earlier_one() {
    let (api, hook) = (slack_api(), slack_webhook());
    let sb = Sandbox::new("notify-thread");
    let slack = format!("{{ token: \"{{{{ secrets.SLACK_BOT }}}}\", api_base: \"{}\"", api.url("/api"));
    let pipeline = format!(
        r##"version: 1
name: shop
{SECRETS}stages:
  started:
    kind: notify
    message: deploy started
    slack: {slack}, channel: "#deploys" }}
  finished:
    kind: notify
    needs: [started]
    message: deploy finished
    slack: {slack}, channel: "{{{{ stages.started.outputs.slack_channel }}}}", thread_ts: "{{{{ stages.started.outputs.slack_ts }}}}" }}
  hooked:
    kind: notify
    message: through a webhook
    slack: {{ webhook_url: "{{{{ secrets.SLACK_HOOK }}}}" }}
  hooked_reply:
    kind: notify
    message: no thread to reply in
    slack: {{ webhook_url: "{{{{ secrets.SLACK_HOOK }}}}", thread_ts: "{{{{ stages.hooked.outputs.slack_ts }}}}" }}
"##
    );
    sb.write("p.yaml", &pipeline);
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], &hook.url(SLACK_HOOK_PATH));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let posts = posted(&api);
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1]["thread_ts"], posts[0]["ts"], "the reply is in the first message's thread");
    assert_eq!(posts[1]["channel"], SLACK_CHANNEL);
    // An empty `thread_ts` (a webhook gives no ts) is left out, not sent empty.
    let hooked = posted(&hook);
    assert_eq!(hooked.len(), 2);
    assert!(hooked.iter().all(|m| m.get("thread_ts").is_none()), "{hooked:?}");
}

#[test]
fn values_are_escaped_for_chat_and_the_authors_text_is_not() {
    let (hook, mm, teams, rx) = (slack_webhook(), mattermost(), teams(), receiver());
    let sb = Sandbox::new("notify-escape");
    let pipeline = format!(
        r##"version: 1
name: shop
params: {{ note: {{ default: "@here <!here>" }} }}
{SECRETS}stages:
  log:
    kind: shell
    run: |
      o='{{'; c='}}'
      printf 'subject=<!channel> fix & ship <https://evil.example|click> @channel %s%s secrets.SLACK_BOT %s%s $(touch pwned)\n' "$o" "$o" "$c" "$c" >> "$SLIPWAY_OUTPUT"
    outputs: [subject]
  announce:
    kind: notify
    message: "<https://ok.example|link> :rocket: {{{{ stages.log.outputs.subject }}}} / {{{{ params.note }}}} / {{{{ upper params.note }}}}"
    slack:
      webhook_url: "{{{{ secrets.SLACK_HOOK }}}}"
      blocks:
        - type: section
          text: {{ type: mrkdwn, text: "*Shipped* <https://ok.example|link>: {{{{ stages.log.outputs.subject }}}}" }}
    mattermost: {{ webhook_url: "{mm}" }}
    teams: {{ webhook_url: "{teams}" }}
    webhook: {{ url: "{rx}" }}
"##,
        mm = mm.url(MATTERMOST_PATH),
        teams = teams_url(&teams),
        rx = rx.url("/events"),
    );
    sb.write("p.yaml", &pipeline);
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], &hook.url(SLACK_HOOK_PATH));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let subject = "<!channel> fix & ship <https://evil.example|click> @channel {{ secrets.SLACK_BOT }} $(touch pwned)";

    let slack = &posted(&hook)[0];
    let escaped = "&lt;!channel&gt; fix &amp; ship &lt;https://evil.example|click&gt; @channel {{ secrets.SLACK_BOT }} $(touch pwned)";
    assert_eq!(slack["text"], format!("<https://ok.example|link> :rocket: {escaped} / @here &lt;!here&gt; / @HERE &lt;!HERE&gt;"));
    assert_eq!(slack["blocks"][0]["text"]["text"], format!("*Shipped* <https://ok.example|link>: {escaped}"));

    let z = '\u{200D}';
    let neutral = format!("<{z}!channel> fix & ship <https://evil.example|click> @{z}channel {{{{ secrets.SLACK_BOT }}}} $(touch pwned)");
    let mm_text = posted(&mm)[0]["text"].as_str().unwrap().to_owned();
    assert_eq!(mm_text, format!("<https://ok.example|link> :rocket: {neutral} / @{z}here <{z}!here> / @{z}HERE <{z}!HERE>"));

    // Teams cannot be pinged from text and a webhook reads data: both get the value as it is.
    let card_text = posted(&teams)[0]["attachments"][0]["content"]["body"][0]["text"].clone();
    assert_eq!(card_text, format!("<https://ok.example|link> :rocket: {subject} / @here <!here> / @HERE <!HERE>"));
    assert_eq!(posted(&rx)[0]["text"], card_text);

    // The value was data: not rendered (no secret), not run.
    assert!(!sb.path("pwned").exists());
    for body in [hook.recorded(), mm.recorded(), teams.recorded(), rx.recorded()].concat() {
        assert!(!body.body.contains(SLACK_TOKEN), "the secret was rendered from a value");
    }
}

/// One stage posting through the Web API, retried quickly.
fn api_pipeline(api: &StandIn<Posts>, channel: &str, token_env: &str) -> String {
    format!(
        r##"version: 1
name: shop
secrets: {{ SLACK_BOT: {{ env: {token_env} }} }}
stages:
  announce:
    kind: notify
    retry: {{ attempts: 4, backoff: 50ms }}
    message: shipped
    slack: {{ token: "{{{{ secrets.SLACK_BOT }}}}", channel: "{channel}", api_base: "{}" }}
"##,
        api.url("/api")
    )
}

#[test]
fn ratelimited_and_429_are_retried_after_the_wait_slack_asks_for() {
    let api = slack_api();
    api.fault("chat.postMessage", Fault::Answer(json(200, json!({"ok": false, "error": "ratelimited"})).header("Retry-After", "1")));
    api.fault("chat.postMessage", Fault::Answer(rate_limited(1)));
    let sb = Sandbox::new("notify-ratelimited");
    sb.write("p.yaml", &api_pipeline(&api, SLACK_CHANNEL, "TEST_SLACK_BOT"));
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let evs = events(&out.stdout);
    let failed = of(&evs, "attempt_failed", "announce");
    assert_eq!(failed.len(), 2);
    assert!(failed[0]["error"].as_str().unwrap().contains("`ratelimited`"), "{}", failed[0]);
    assert!(failed[1]["error"].as_str().unwrap().contains("429"), "{}", failed[1]);
    for f in &failed {
        assert!(f["retry_in_ms"].as_u64().unwrap() >= 1000, "{f}");
    }
    let at: Vec<_> = api.recorded().iter().map(|r| r.at).collect();
    assert_eq!(at.len(), 3);
    assert!(at[1].duration_since(at[0]).as_millis() >= 1000 && at[2].duration_since(at[1]).as_millis() >= 1000);
    assert_eq!(posted(&api).len(), 1, "posted once");
    assert_eq!(finished(&evs, "announce")["attempts"], 3);
}

#[test]
fn a_refusal_fails_at_once_and_says_what_to_fix() {
    let api = slack_api();
    let sb = Sandbox::new("notify-refused");
    sb.write("p.yaml", &api_pipeline(&api, SLACK_CHANNEL, "TEST_WRONG_BOT"));
    let wrong = "xoxb-9999-wrong-token-value";
    let out = sb.command(&["run", "p.yaml", "--format", "json"]).env("TEST_WRONG_BOT", wrong).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let evs = events(&out.stdout);
    let done = finished(&evs, "announce");
    assert_eq!(done["attempts"], 1, "a permanent error is not retried");
    let error = done["reason"].as_str().unwrap_or_default();
    assert!(error.starts_with("slack: ") && error.contains("`invalid_auth`") && error.contains("the secret `SLACK_BOT`"), "{error}");
    assert!(!text(&out).contains(wrong), "{}", text(&out));
    for e in sb.journal() {
        assert!(!e.to_string().contains(wrong), "the token is in the journal: {e}");
    }

    sb.write("p.yaml", &api_pipeline(&api, SLACK_ARCHIVED, "TEST_SLACK_BOT"));
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], "");
    let evs = events(&out.stdout);
    let error = finished(&evs, "announce")["reason"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("`is_archived`") && error.contains("slack.channel"), "{error}");
    assert_eq!(api.recorded().len(), 2, "one request per run");
    assert!(posted(&api).is_empty());
}

fn fan_out(hook: &StandIn<Posts>, teams: &str, mm: &StandIn<Posts>, rx: &StandIn<Posts>) -> String {
    format!(
        r##"version: 1
name: shop
stages:
  announce:
    kind: notify
    retry: {{ attempts: 3, backoff: 50ms }}
    message: shipped
    slack: {{ webhook_url: "{hook}" }}
    teams: {{ webhook_url: "{teams}" }}
    mattermost: {{ webhook_url: "{mm}" }}
    webhook: {{ url: "{rx}" }}
"##,
        hook = hook.url(SLACK_HOOK_PATH),
        mm = mm.url(MATTERMOST_PATH),
        rx = rx.url("/events"),
    )
}

#[test]
fn a_retry_sends_only_to_the_destinations_that_failed() {
    let (hook, teams, mm, rx) = (slack_webhook(), teams(), mattermost(), receiver());
    mm.fault("/hooks/", Fault::Answer(Reply::new(503, "maintenance")));
    let sb = Sandbox::new("notify-fanout");
    sb.write("p.yaml", &fan_out(&hook, &teams_url(&teams), &mm, &rx));
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let evs = events(&out.stdout);
    let failed = of(&evs, "attempt_failed", "announce");
    assert_eq!(failed.len(), 1);
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.starts_with("mattermost: ") && error.contains("503"), "{error}");
    assert!(error.contains("(slack, teams, webhook took the message)"), "{error}");
    assert_eq!((hook.recorded().len(), teams.recorded().len(), rx.recorded().len()), (1, 1, 1), "sent again to a destination that had it");
    assert_eq!((mm.recorded().len(), posted(&mm).len()), (2, 1));
    let logs: Vec<&str> = of(&evs, "log", "announce").iter().filter_map(|e| e["line"].as_str()).collect();
    assert!(logs.iter().any(|l| l.starts_with("teams: took the message in an earlier attempt")), "{logs:?}");
}

#[test]
fn a_refused_destination_is_not_asked_again_while_the_others_are_retried() {
    let (hook, teams, mm, rx) = (slack_webhook(), teams(), mattermost(), receiver());
    mm.fault("/hooks/", Fault::Answer(Reply::new(502, "")));
    let sb = Sandbox::new("notify-refused-one");
    // A Teams URL whose signature is wrong: refused for good.
    let bad_teams = teams.url(&format!("{TEAMS_PATH}?api-version=1&sig=stale"));
    sb.write("p.yaml", &fan_out(&hook, &bad_teams, &mm, &rx));
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let evs = events(&out.stdout);
    let done = finished(&evs, "announce");
    assert_eq!(done["attempts"], 2);
    let error = done["reason"].as_str().unwrap();
    assert!(error.starts_with("teams: ") && error.contains("401") && error.contains("`teams.webhook_url`"), "{error}");
    assert!(error.contains("(slack, mattermost, webhook took the message)"), "{error}");
    assert_eq!(teams.recorded().len(), 1, "a refusal is not sent again");
    assert_eq!(posted(&mm).len(), 1, "the transient failure got its retry");
    assert_eq!((hook.recorded().len(), rx.recorded().len()), (1, 1));
}

#[test]
fn a_webhook_gets_its_own_body_and_headers_signed_and_unescaped() {
    let rx = receiver();
    let sb = Sandbox::new("notify-webhook");
    let pipeline = format!(
        r##"version: 1
name: shop
params: {{ version: {{ default: "2.4.1 <rc>" }} }}
secrets: {{ HOOK_KEY: {{ env: TEST_HOOK_KEY }} }}
stages:
  announce:
    kind: notify
    message: unused here
    webhook:
      url: "{}"
      headers: {{ X-Team: shop }}
      secret: "{{{{ secrets.HOOK_KEY }}}}"
      body: {{ summary: "shop {{{{ params.version }}}} & co", count: 3 }}
"##,
        rx.url("/events")
    );
    sb.write("p.yaml", &pipeline);
    let key = "k3y-for-signing";
    let out = sb.command(&["run", "p.yaml", "--format", "json"]).env("TEST_HOOK_KEY", key).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(posted(&rx), [json!({"summary": "shop 2.4.1 <rc> & co", "count": 3})]);
    let req = &rx.recorded()[0];
    assert_eq!(req.header("x-team"), Some("shop"));
    // The signature is HMAC-SHA256 of the exact body bytes, as a receiver checks it.
    let script =
        "import hmac, hashlib, sys; print('sha256=' + hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())";
    let mut python = std::process::Command::new("python3")
        .args(["-c", script, key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut python.stdin.take().unwrap(), req.body.as_bytes()).unwrap();
    let expected = String::from_utf8(python.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(req.header("x-slipway-signature-256"), Some(expected.trim()));
    assert!(!text(&out).contains(key));
}
