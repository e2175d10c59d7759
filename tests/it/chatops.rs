//! `slipway serve`: verified chat commands in, pipeline runs out, reported in
//! the thread. Each refusal runs nothing; a run takes the CLI's deploy lock
//! and journal.

use serde_json::Value;

use crate::chatops_harness::{MM_TOKEN, Served, form, now, sign, text_of};

/// Runs recorded under the sandbox's state folder.
fn runs(s: &Served) -> Vec<String> {
    s.sb.run_ids()
}

#[test]
fn unverified_requests_get_401_and_refused_commands_say_why_and_nothing_runs() {
    let s = Served::start("chat-refused", true);
    let body = s.command_body("U024BE7LH", "C0DEPLOYS", "restaurant-api staging", "r1");
    let ts = now().to_string();
    // signed with another secret
    let bad = sign("not-the-secret", &ts, &body);
    let (status, text) = s.post("/slack/commands", &body, &[("X-Slack-Request-Timestamp", &ts), ("X-Slack-Signature", &bad)]);
    assert_eq!((status, text.trim()), (401, "unverified: the signature does not match"));
    // no signature at all
    assert_eq!(s.post("/slack/commands", &body, &[]).0, 401);
    // correctly signed, but 6 minutes old
    let stale = (now() - 360).to_string();
    let (status, text) = s.signed("/slack/commands", &body, &stale);
    assert_eq!((status, text.trim()), (401, "unverified: the timestamp is more than 5 minutes away"));
    // a request Slack really sent (to a refused alias, so it runs nothing), then its exact replay
    let once = s.command_body("U024BE7LH", "C0DEPLOYS", "status", "r2");
    assert_eq!(s.signed("/slack/commands", &once, &ts).0, 200);
    let (status, text) = s.signed("/slack/commands", &once, &ts);
    assert_eq!((status, text.trim()), (401, "unverified: this signature was already used"));
    // a signed body changed on the way
    let sig = sign(crate::chatops_harness::SECRET, &ts, &body);
    let tampered = body.replace("staging", "production");
    assert_eq!(s.post("/slack/commands", &tampered, &[("X-Slack-Request-Timestamp", &ts), ("X-Slack-Signature", &sig)]).0, 401);

    // verified, refused by the rules: 200, ephemeral, saying why
    for (user, channel, text, says) in [
        ("U024BE7LH", "C0DEPLOYS", "restaurant-apj staging", "there is no alias `restaurant-apj`"),
        ("U0MALLORY", "C0DEPLOYS", "restaurant-api staging", "U0MALLORY may not deploy from chat: no `allow` rule names this user"),
        ("U0STAGING", "C0DEPLOYS", "restaurant-api production", "U0STAGING may not deploy `restaurant-api` to `production`"),
        ("U024BE7LH", "C0RANDOM", "restaurant-api staging", "may not deploy from this channel (C0RANDOM)"),
        ("U024BE7LH", "C0DEPLOYS", "restaurant-api", "deploys to several environments: name one of `staging`, `production`"),
        ("U024BE7LH", "C0DEPLOYS", "restaurant-api qa", "does not deploy to `qa`"),
        ("U024BE7LH", "C0DEPLOYS", "restaurant-api staging environment=production", "`environment` cannot be set from chat"),
    ] {
        let (status, body) = s.slack(user, channel, text);
        assert_eq!(status, 200, "{text}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["response_type"], "ephemeral", "{text}");
        assert!(answer["text"].as_str().unwrap().contains(says), "{text}: {answer}");
    }
    // Mattermost: a wrong token is unverified
    let mm = form(&[("token", "wrong"), ("user_name", "carol"), ("channel_id", "mmchan"), ("text", "restaurant-api staging")]);
    assert_eq!(s.post("/mattermost/commands", &mm, &[]).0, 401);

    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(runs(&s).is_empty(), "nothing may run: {:?}", runs(&s));
    assert!(s.slack.recorded().is_empty(), "nothing may be posted: {:?}", s.slack.recorded());
    let metrics = crate::chatops_harness::http(&s.addr, "GET", "/metrics", "", &[]).1;
    assert!(metrics.contains("slipway_serve_unverified_total 6"), "{metrics}");
    assert!(metrics.contains("slipway_serve_runs_started_total 0"), "{metrics}");
    assert!(metrics.contains("slipway_serve_refused_total 7"), "{metrics}");
}

#[test]
fn a_deploy_from_chat_runs_the_pipeline_and_the_thread_shows_start_ticket_and_end_in_order() {
    let s = Served::start("chat-deploy", true);
    let (status, body) = s.slack("U024BE7LH", "C0DEPLOYS", "restaurant-api staging build_id=42");
    assert_eq!(status, 200);
    let text = text_of(&body);
    assert!(text.starts_with("queued as run "), "{text}");
    let run_id = text.trim_start_matches("queued as run ").split(':').next().unwrap().to_owned();
    let posted = s.posted(3);
    s.idle();
    let texts: Vec<&str> = posted.iter().map(|m| m["text"].as_str().unwrap_or("")).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(
        texts[0].starts_with(&format!("run {run_id} started: `restaurant-api` to staging, asked by slack:U024BE7LH (alice)")),
        "{texts:?}"
    );
    assert_eq!(texts[1], "ticket: OPS-42");
    assert!(texts[2].starts_with(&format!("run {run_id} succeeded: `restaurant-api` to staging in ")), "{texts:?}");
    // one thread: the first message starts it, the others answer under it
    assert_eq!(posted[0]["channel"], "C0DEPLOYS");
    assert!(posted[0].get("thread_ts").is_none());
    assert_eq!(posted[1]["thread_ts"], "1700000000.000001");
    assert_eq!(posted[2]["thread_ts"], "1700000000.000001");
    // the CLI's journal, with the chat user and trigger
    let meta: Value = serde_json::from_str(&s.sb.read(&format!(".slipway/runs/{run_id}/run.json"))).unwrap();
    assert_eq!(meta["trigger"], "chat");
    assert_eq!(meta["user"], "slack:U024BE7LH (alice)");
    assert_eq!(meta["params"]["build_id"], "42");
    assert_eq!(meta["params"]["environment"], "staging");
    // history names it
    let (_, body) = s.slack("U024BE7LH", "C0DEPLOYS", "history restaurant-api");
    assert!(text_of(&body).contains(&format!("{run_id} succeeded by slack:U024BE7LH (alice)")), "{body}");
}

#[test]
fn without_a_token_start_and_end_go_to_the_response_url() {
    let s = Served::start("chat-response-url", false);
    let (status, body) = s.slack("U024BE7LH", "C0DEPLOYS", "restaurant-api staging build_id=7");
    assert_eq!(status, 200, "{body}");
    let posted = s.posted(2);
    s.idle();
    assert_eq!(s.slack.requests("POST", "/response/cmd").len(), 2);
    assert!(s.slack.requests("POST", "/api/chat.postMessage").is_empty());
    let texts: Vec<&str> = posted.iter().map(|m| m["text"].as_str().unwrap_or("")).collect();
    assert!(texts[0].contains("started"), "{texts:?}");
    assert!(texts[1].contains("succeeded") && texts[1].ends_with("ticket: OPS-7"), "{texts:?}");
}

#[test]
fn two_deploys_at_once_one_runs_and_the_other_is_told_who_holds_it() {
    let s = Served::start("chat-two", true);
    let (_, first) = s.slack("U024BE7LH", "C0DEPLOYS", "restaurant-api staging wait=2");
    let first = text_of(&first);
    assert!(first.starts_with("queued as run "), "{first}");
    let run_id = first.trim_start_matches("queued as run ").split(':').next().unwrap().to_owned();
    let (status, second) = s.slack("U0BOB", "C0DEPLOYS", "restaurant-api staging");
    assert_eq!(status, 200);
    let second: Value = serde_json::from_str(&second).unwrap();
    assert_eq!(second["response_type"], "ephemeral");
    assert_eq!(
        second["text"].as_str().unwrap(),
        format!("`restaurant-api` to staging is being deployed: run {run_id} asked by slack:U024BE7LH (alice)")
    );
    // a CLI run meets the same lock (exit 75), once the chat run has it
    s.posted(1);
    let out = s.sb.run(&["run", "pipelines/api.yaml", "-p", "environment=staging", "--state-dir", ".slipway"]);
    assert_eq!(out.status.code(), Some(75), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("slack:U024BE7LH (alice)"));
    s.idle();
    assert_eq!(runs(&s), vec![run_id]);
}

#[test]
fn production_waits_for_a_second_persons_press_not_the_requesters() {
    let s = Served::start("chat-confirm", true);
    let (status, body) = s.slack("U024BE7LH", "C0DEPLOYS", "restaurant-api production build_id=9");
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response_type"], "in_channel");
    let id = answer["blocks"][1]["elements"][0]["value"].as_str().unwrap().to_owned();
    assert_eq!(answer["blocks"][1]["elements"][0]["action_id"], "confirm");
    // the requester's own press runs nothing
    let (status, own) = s.press("U024BE7LH", "confirm", &id);
    assert_eq!(status, 200);
    assert_eq!(text_of(&own), "you asked for this deploy: someone else must confirm it");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(runs(&s).is_empty());
    // someone not allowed to deploy there cannot confirm it either
    let (_, stranger) = s.press("U0STAGING", "confirm", &id);
    assert!(text_of(&stranger).starts_with("you cannot confirm this"), "{stranger}");
    // nor cancel it
    let (_, stranger) = s.press("U0MALLORY", "cancel", &id);
    assert!(text_of(&stranger).starts_with("you cannot cancel this"), "{stranger}");
    // a second person's press runs it
    let (status, other) = s.press("U0BOB", "confirm", &id);
    assert_eq!(status, 200);
    assert!(text_of(&other).starts_with("slack:U0BOB (bob) confirmed: queued as run "), "{other}");
    let posted = s.posted(3);
    s.idle();
    assert!(posted[2]["text"].as_str().unwrap().contains("succeeded: `restaurant-api` to production"), "{posted:?}");
    assert_eq!(runs(&s).len(), 1);
    // pressed again: nothing pending
    let (_, again) = s.press("U0BOB", "confirm", &id);
    assert!(text_of(&again).contains("no longer pending"));
    // the requester may withdraw a request of their own
    let (_, body) = s.slack("U024BE7LH", "C0DEPLOYS", "restaurant-api production");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let id = answer["blocks"][1]["elements"][1]["value"].as_str().unwrap().to_owned();
    let (_, withdrawn) = s.press("U024BE7LH", "cancel", &id);
    assert_eq!(text_of(&withdrawn), "slack:U024BE7LH (alice) cancelled the deploy of `restaurant-api` to production");
    assert_eq!(runs(&s).len(), 1);
}

#[test]
fn mattermost_commands_are_verified_by_token_and_confirmations_are_refused() {
    let s = Served::start("chat-mattermost", false);
    let response_url = s.slack.url("/response/mm");
    let cmd = |text: &str| {
        form(&[
            ("token", MM_TOKEN),
            ("user_name", "carol"),
            ("user_id", "mm-id-1"),
            ("channel_id", "mmchan"),
            ("command", "/deploy"),
            ("text", text),
            ("response_url", &response_url),
        ])
    };
    let (status, body) = s.post("/mattermost/commands", &cmd("restaurant-api production"), &[]);
    assert_eq!(status, 200);
    assert!(text_of(&body).contains("needs a second person's confirmation, which takes Slack's buttons"), "{body}");
    let (status, body) = s.post("/mattermost/commands", &cmd("restaurant-api staging"), &[]);
    assert_eq!(status, 200);
    assert!(text_of(&body).starts_with("queued as run "), "{body}");
    s.idle();
    let runs = runs(&s);
    assert_eq!(runs.len(), 1);
    let meta: Value = serde_json::from_str(&s.sb.read(&format!(".slipway/runs/{}/run.json", runs[0]))).unwrap();
    assert_eq!(meta["user"], "mattermost:carol (carol)");
    // start and end through the command's response_url (Mattermost has no bot thread here)
    let posted = s.posted(2);
    assert_eq!(s.slack.requests("POST", "/response/mm").len(), 2);
    assert!(posted[0]["text"].as_str().unwrap().contains("started: `restaurant-api` to staging, asked by mattermost:carol (carol)"));
    assert!(posted[1]["text"].as_str().unwrap().contains("succeeded"));
}

#[test]
fn a_freeze_from_chat_stops_chat_and_cli_runs_until_lifted() {
    let s = Served::start("chat-freeze", true);
    let (_, body) = s.slack("U024BE7LH", "C0DEPLOYS", "lock restaurant-api release freeze until monday");
    assert!(text_of(&body).starts_with("froze deploys of `restaurant-api`"), "{body}");
    let (_, body) = s.slack("U0BOB", "C0DEPLOYS", "restaurant-api staging");
    assert!(
        text_of(&body).contains("frozen by slack:U024BE7LH (alice)") && text_of(&body).contains("release freeze until monday"),
        "{body}"
    );
    let out = s.sb.run(&["run", "pipelines/api.yaml", "-p", "environment=staging", "--state-dir", ".slipway"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains("deploys of `restaurant-api` are frozen by slack:U024BE7LH (alice)")
            && stderr.contains("release freeze until monday"),
        "{stderr}"
    );
    let (_, status) = s.slack("U0BOB", "C0DEPLOYS", "status");
    assert!(text_of(&status).contains("`restaurant-api` is frozen"), "{status}");
    assert!(runs(&s).is_empty());
    // `slipway unlock` lifts it; the CLI runs again
    let out = s.sb.run(&["unlock", "pipelines/api.yaml", "--state-dir", ".slipway"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lifted the freeze on `restaurant-api`"));
    let out = s.sb.run(&["run", "pipelines/api.yaml", "-p", "environment=staging", "--state-dir", ".slipway"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // and `/deploy lock` then `/deploy unlock` from chat
    s.slack("U024BE7LH", "C0DEPLOYS", "lock restaurant-api again");
    let (_, body) = s.slack("U0BOB", "C0DEPLOYS", "unlock restaurant-api");
    assert!(text_of(&body).starts_with("slack:U0BOB (bob) lifted the freeze on `restaurant-api`"), "{body}");
    let (_, body) = s.slack("U0BOB", "C0DEPLOYS", "restaurant-api staging");
    assert!(text_of(&body).starts_with("queued as run "), "{body}");
    s.idle();
}

#[test]
fn plan_from_chat_shows_the_plan_and_cancel_stops_a_run() {
    let s = Served::start("chat-plan", true);
    let (status, body) = s.slack("U024BE7LH", "C0DEPLOYS", "plan restaurant-api staging build_id=5");
    assert_eq!(status, 200);
    let text = text_of(&body);
    assert!(text.starts_with("plan of `restaurant-api` to staging:") && text.contains("ticket"), "{text}");
    assert!(runs(&s).is_empty());
    let (_, body) = s.slack("U024BE7LH", "C0DEPLOYS", "restaurant-api staging wait=20");
    let run_id = text_of(&body).trim_start_matches("queued as run ").split(':').next().unwrap().to_owned();
    s.posted(1); // started
    let (_, body) = s.slack("U0BOB", "C0DEPLOYS", &format!("cancel {run_id}"));
    assert!(text_of(&body).starts_with(&format!("cancelling run {run_id}")), "{body}");
    let posted = s.posted(2);
    s.idle();
    assert!(posted.last().unwrap()["text"].as_str().unwrap().contains(&format!("run {run_id} interrupted")), "{posted:?}");
}

#[test]
fn stopping_the_server_waits_for_the_deploys_it_started() {
    let mut s = Served::start("chat-shutdown", true);
    let (_, body) = s.slack("U024BE7LH", "C0DEPLOYS", "restaurant-api staging wait=2 build_id=3");
    let run_id = text_of(&body).trim_start_matches("queued as run ").split(':').next().unwrap().to_owned();
    s.posted(1);
    let asked = std::time::Instant::now();
    assert_eq!(s.stop(), Some(0));
    assert!(asked.elapsed() >= std::time::Duration::from_secs(1), "the server must wait for the run");
    // by the time it exits, the run has ended, and said so
    let events = s.sb.journal();
    assert!(events.iter().any(|e| e["event"] == "run_finished" && e["status"] == "succeeded"), "{events:?}");
    let posted = s.slack.with_state(|st| st.messages.clone());
    assert!(posted.last().unwrap()["text"].as_str().unwrap().starts_with(&format!("run {run_id} succeeded")), "{posted:?}");
}

#[test]
fn the_thread_shows_start_changelog_ticket_and_end_from_real_changelog_and_audit_ticket_stages() {
    use crate::jira_standin::{self, Flavor, TOKEN};
    let jira = jira_standin::start(Flavor::DataCenter);
    let pipeline = format!(
        "version: 1\nname: restaurant-api\nparams:\n  environment: {{ required: true, choices: [staging, production] }}\n  \
         build_id: {{ default: \"1\" }}\n  wait: {{ default: \"0\" }}\nsecrets: {{ JIRA_TOKEN: {{ env: TEST_JIRA_TOKEN }} }}\nstages:\n  \
         changes: {{ kind: changelog, from: v1, to: HEAD, git: {{ path: app }} }}\n  \
         ccb:\n    kind: audit_ticket\n    jira: {{ url: '{}', token: '{{{{ secrets.JIRA_TOKEN }}}}' }}\n    project: OPS\n    \
         summary: 'Deploy {{{{ pipeline.name }}}} build {{{{ params.build_id }}}} to {{{{ params.environment }}}} (wait {{{{ params.wait }}}})'\n    \
         body: 'from chat'\n",
        jira_standin::site(&jira)
    );
    let s = Served::start_with("chat-jira", true, &pipeline, &[("TEST_JIRA_TOKEN", TOKEN)]);
    let app = s.sb.path("pipelines/app");
    let git = |args: &[&str]| crate::support::git(&app, args);
    std::fs::create_dir_all(&app).unwrap();
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "First release"]);
    git(&["tag", "v1"]);
    git(&["commit", "-q", "--allow-empty", "-m", "Fix the booking cache"]);
    git(&["commit", "-q", "--allow-empty", "-m", "Add table maps <!channel> & floors"]);
    let (_, body) = s.slack("U024BE7LH", "C0DEPLOYS", "restaurant-api staging build_id=77");
    assert!(text_of(&body).starts_with("queued as run "), "{body}");
    let posted = s.posted(4);
    s.idle();
    let texts: Vec<&str> = posted.iter().map(|m| m["text"].as_str().unwrap_or("")).collect();
    let key = jira.with_state(|j| j.issues[0].key.clone());
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts[0].contains(" started: "), "{texts:?}");
    assert!(texts[1].starts_with("changelog: 2 commit(s)\n") && texts[1].contains("Fix the booking cache"), "{texts:?}");
    // a commit subject is data: a mention in it is escaped, and pings nobody
    assert!(texts[1].contains("Add table maps &lt;!channel&gt; &amp; floors"), "{texts:?}");
    assert!(texts[2].starts_with(&format!("ticket: {key} (")), "{texts:?}");
    assert!(texts[3].contains(" succeeded: "), "{texts:?}");
    assert_eq!(jira.with_state(|j| j.issues[0].fields["summary"].clone()), "Deploy restaurant-api build 77 to staging (wait 0)");
    // the token never reaches the chat
    assert!(texts.iter().all(|t| !t.contains(TOKEN)));
}
