//! `audit_ticket` end to end: the `slipway` binary against the JIRA stand-in,
//! Cloud and Data Center, and exactly one ticket whatever fails in between.

use std::os::unix::process::CommandExt;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::jira_standin::{self, BASIC, EMAIL, Flavor, Jira, TOKEN, site};
use crate::sandbox::{Sandbox, events, of};
use crate::standin::{Fault, Reply, StandIn};

/// The changelog a ticket holds: a list, a code block, and a commit subject
/// written to do harm (a command substitution, backticks, a template reading a
/// secret). The shell writes `{{` as `\173\173` so that the pipeline file holds
/// no template there: the braces arrive as data.
const NOTES: &str = r#"  notes:
    kind: shell
    run: |
      printf 'text<<EOF\nDeploying 2 commits:\n\n* abc1234 Fix the cache (Ann)\n- def5678 $(touch pwned) `touch pwned2` \173\173 secrets.JIRA_TOKEN }} (Eve)\n\n```sh\nmake deploy\n```\nEOF\n' >> "$SLIPWAY_OUTPUT"
    outputs: [text]
"#;

/// The notes as the ticket's body receives them.
const BODY: &str = "Deploying 2 commits:\n\n* abc1234 Fix the cache (Ann)\n- def5678 $(touch pwned) `touch pwned2` {{ secrets.JIRA_TOKEN }} (Eve)\n\n```sh\nmake deploy\n```";

/// A pipeline with the notes and one ticket stage; `jira` is the inside of the
/// stage's `jira:` mapping, `extra` more lines of the stage.
fn pipeline(flavor: Flavor, url: &str, jira: &str, extra: &str) -> String {
    let (secrets, auth) = match flavor {
        Flavor::Cloud => {
            ("{ JIRA_EMAIL: { env: TEST_JIRA_EMAIL }, JIRA_TOKEN: { env: TEST_JIRA_TOKEN } }", "email: '{{ secrets.JIRA_EMAIL }}', ")
        }
        Flavor::DataCenter => ("{ JIRA_TOKEN: { env: TEST_JIRA_TOKEN } }", ""),
    };
    format!(
        "version: 1\nname: tickets\nsecrets: {secrets}\nstages:\n{NOTES}  ticket:\n    kind: audit_ticket\n    jira: {{ url: '{url}', {auth}token: '{{{{ secrets.JIRA_TOKEN }}}}'{jira} }}\n    project: OPS\n    summary: 'Deploy {{{{ pipeline.name }}}} to production'\n    body: '{{{{ stages.notes.outputs.text }}}}'\n    labels: [deploy, restaurant-api]\n    retry: {{ attempts: 3, backoff: 50ms }}\n{extra}"
    )
}

fn slipway(sb: &Sandbox, args: &[&str], token: &str) -> Output {
    sb.command(args).env("TEST_JIRA_EMAIL", EMAIL).env("TEST_JIRA_TOKEN", token).output().unwrap()
}

fn run(sb: &Sandbox) -> Output {
    slipway(sb, &["run", "p.yaml", "--format", "json"], TOKEN)
}

fn stderr(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout))
}

/// The ticket stage's end.
fn finished(o: &Output) -> Value {
    of(&events(&o.stdout), "stage_finished", "ticket")[0].clone()
}

/// The stage's log lines, from the journal.
fn logs(sb: &Sandbox) -> Vec<String> {
    sb.journal().iter().filter(|e| e["event"] == "log" && e["stage"] == "ticket").map(|e| e["line"].as_str().unwrap().to_owned()).collect()
}

/// (method, route below the site's context path) of every request, in order.
fn calls(jira: &StandIn<Jira>) -> Vec<(String, String)> {
    let context = jira.with_state(|j| jira_standin::context(j.flavor));
    jira.recorded().iter().map(|r| (r.method.clone(), r.route().strip_prefix(context).unwrap_or("(outside the site)").to_owned())).collect()
}

/// How many requests had this method and exactly this route.
fn count(jira: &StandIn<Jira>, method: &str, route: &str) -> usize {
    calls(jira).iter().filter(|c| **c == call(method, route)).count()
}

fn call(method: &str, route: &str) -> (String, String) {
    (method.to_owned(), route.to_owned())
}

/// Nothing the run wrote holds the token, alone or inside the basic-auth value;
/// nothing in the notes was executed.
fn assert_clean(sb: &Sandbox, outputs: &[&Output]) {
    let mut texts: Vec<String> = outputs.iter().flat_map(|o| [String::from_utf8_lossy(&o.stdout).into_owned(), stderr(o)]).collect();
    texts.extend(sb.journal().iter().map(Value::to_string));
    for t in &texts {
        assert!(!t.contains(TOKEN) && !t.contains(&BASIC[34..50]), "the token leaked: {t}");
    }
    assert!(!sb.path("pwned").exists() && !sb.path("pwned2").exists(), "a commit subject was executed");
}

#[test]
fn data_center_v2_creates_one_ticket_with_a_bearer_token_and_plans_what_it_sends() {
    let jira = jira_standin::start(Flavor::DataCenter);
    let sb = Sandbox::new("jira-dc");
    let url = format!("{}/", site(&jira)); // a trailing slash is no matter
    sb.write("p.yaml", &pipeline(Flavor::DataCenter, &url, "", ""));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = sb.run_ids()[0].clone();
    let label = format!("slipway-{id}-ticket");

    let done = finished(&out);
    let base = site(&jira);
    assert_eq!(done["outputs"], json!({"url": format!("{base}/browse/OPS-1"), "key": "OPS-1", "id": "10001"}));
    assert_eq!(calls(&jira), [call("GET", "/rest/api/2/search"), call("POST", "/rest/api/2/issue")]);
    let search = &jira.recorded()[0];
    assert_eq!(search.query("jql").unwrap(), format!("project = \"OPS\" AND labels = \"{label}\" ORDER BY created ASC"));
    let issues = jira.with_state(|j| j.issues.clone());
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].labels(), ["deploy", "restaurant-api", label.as_str()]);
    assert_eq!(issues[0].fields["issuetype"]["name"], "Task");
    assert_eq!(issues[0].fields["summary"], "Deploy tickets to production");
    // Version 2 takes the text as given: the hostile subject is in it, untouched.
    assert_eq!(issues[0].fields["description"], BODY);
    assert_clean(&sb, &[&out]);
    assert!(jira.recorded().iter().all(|r| r.path.starts_with("/jira/rest/api/2/")), "the context path was lost");

    // The plan shows the requests the run sent: the same URLs, the same fields.
    let plan = slipway(&sb, &["plan", "p.yaml", "--format", "json"], TOKEN);
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let effects: Vec<&Value> = plan["stages"][1]["effects"].as_array().unwrap().iter().filter(|e| e["type"] == "http").collect();
    // A plan does not know the run id, and its label says so.
    let planned_label = "slipway-<run id>-ticket";
    let planned_in_url = "slipway-%3Crun%20id%3E-ticket";
    let recorded = jira.recorded();
    assert_eq!(effects.len(), 2);
    for (e, r) in effects.iter().zip(&recorded) {
        assert_eq!(e["method"], r.method.as_str());
        assert_eq!(e["url"].as_str().unwrap().replace(planned_in_url, &label), jira.url(&r.path));
    }
    let mut planned: Value = serde_json::from_str(effects[1]["body"].as_str().unwrap()).unwrap();
    let mut sent = recorded[1].json().unwrap();
    for body in [&mut planned, &mut sent] {
        body["fields"]["description"] = Value::Null; // the plan has a placeholder for the notes
    }
    assert_eq!(planned.to_string().replace(planned_label, &label), sent.to_string());
}

#[test]
fn cloud_v3_sends_the_body_as_adf_with_basic_auth() {
    let jira = jira_standin::start(Flavor::Cloud);
    let sb = Sandbox::new("jira-cloud");
    sb.write("p.yaml", &pipeline(Flavor::Cloud, &site(&jira), ", api_version: 3", ""));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Version 3 searches with Cloud's search at once.
    assert_eq!(calls(&jira), [call("POST", "/rest/api/3/search/jql"), call("POST", "/rest/api/3/issue")]);
    let search = jira.recorded()[0].json().unwrap();
    assert_eq!(search["fields"], json!(["key", "status"]));
    let issue = jira.with_state(|j| j.issues[0].clone());
    let text = |t: &str| json!({"type": "text", "text": t});
    let item = |t: &str| json!({"type": "listItem", "content": [{"type": "paragraph", "content": [text(t)]}]});
    assert_eq!(
        issue.fields["description"],
        json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [text("Deploying 2 commits:")]},
            {"type": "bulletList", "content": [
                item("abc1234 Fix the cache (Ann)"),
                item("def5678 $(touch pwned) `touch pwned2` {{ secrets.JIRA_TOKEN }} (Eve)"),
            ]},
            {"type": "codeBlock", "attrs": {"language": "sh"}, "content": [text("make deploy")]},
        ]})
    );
    assert_eq!(finished(&out)["outputs"]["key"], "OPS-1");
    assert_clean(&sb, &[&out]);
}

#[test]
fn cloud_answers_410_to_the_old_search_and_the_stage_switches() {
    let jira = jira_standin::start(Flavor::Cloud);
    let sb = Sandbox::new("jira-410");
    sb.write("p.yaml", &pipeline(Flavor::Cloud, &site(&jira), "", ""));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        calls(&jira),
        [call("GET", "/rest/api/2/search"), call("POST", "/rest/api/3/search/jql"), call("POST", "/rest/api/2/issue")]
    );
    // Version 2 on Cloud: the description stays a string.
    assert_eq!(jira.with_state(|j| j.issues[0].fields["description"].clone()), BODY);
    assert!(
        logs(&sb).iter().any(|l| l.contains("/rest/api/2/search answered 410: searching with /rest/api/3/search/jql")),
        "{:?}",
        logs(&sb)
    );
}

#[test]
fn data_center_answers_404_to_cloud_search_and_v3_there_is_named_as_the_mistake() {
    let jira = jira_standin::start(Flavor::DataCenter);
    let sb = Sandbox::new("jira-404");
    sb.write("p.yaml", &pipeline(Flavor::DataCenter, &site(&jira), ", api_version: 3", ""));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        calls(&jira),
        [call("POST", "/rest/api/3/search/jql"), call("GET", "/rest/api/2/search"), call("POST", "/rest/api/3/issue")]
    );
    let done = finished(&out);
    assert_eq!(done["attempts"], 1, "a 404 is permanent");
    let why = done["reason"].as_str().unwrap();
    assert!(why.contains("HTTP 404") && why.contains("version 3 exists on Cloud only"), "{why}");
}

#[test]
fn a_url_without_its_context_path_is_named() {
    let jira = jira_standin::start(Flavor::DataCenter);
    let sb = Sandbox::new("jira-context");
    sb.write("p.yaml", &pipeline(Flavor::DataCenter, &jira.url(""), "", ""));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(1));
    let why = finished(&out)["reason"].as_str().unwrap().to_owned();
    assert!(why.contains("neither JIRA search exists") && why.contains("context path"), "{why}");
    assert_eq!(jira.recorded().len(), 2, "it went on after both searches were missing");
}

#[test]
fn a_transition_is_applied_by_name() {
    let jira = jira_standin::start(Flavor::DataCenter);
    let sb = Sandbox::new("jira-transition");
    sb.write("p.yaml", &pipeline(Flavor::DataCenter, &site(&jira), "", "    transition: approved\n"));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = jira.recorded();
    assert_eq!(
        calls(&jira)[2..],
        [call("GET", "/rest/api/2/issue/OPS-1/transitions"), call("POST", "/rest/api/2/issue/OPS-1/transitions")]
    );
    // The id was looked up: "approved" is transition 31 in this workflow.
    assert_eq!(reqs[3].json().unwrap(), json!({"transition": {"id": "31"}}));
    assert_eq!(jira.with_state(|j| j.issues[0].status.clone()), "Approved");
}

#[test]
fn a_transition_not_on_offer_fails_naming_those_that_are() {
    let jira = jira_standin::start(Flavor::DataCenter);
    let sb = Sandbox::new("jira-no-transition");
    sb.write("p.yaml", &pipeline(Flavor::DataCenter, &site(&jira), "", "    transition: Ship it\n"));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(1));
    let done = finished(&out);
    assert_eq!(done["attempts"], 1);
    let why = done["reason"].as_str().unwrap();
    assert!(why.contains("transition `Ship it` is not offered for OPS-1") && why.contains("`Start Progress`, `Approved`"), "{why}");
    assert!(jira.requests("POST", "/transitions").is_empty());
}

#[test]
fn a_429_waits_for_retry_after_then_creates_one_ticket() {
    let jira = jira_standin::start(Flavor::DataCenter);
    jira.fault(
        "/rest/api/2/issue",
        Fault::Answer(Reply::new(429, "{\"errorMessages\":[\"Rate limit exceeded.\"]}").header("Retry-After", "1")),
    );
    let sb = Sandbox::new("jira-429");
    sb.write("p.yaml", &pipeline(Flavor::DataCenter, &site(&jira), "", ""));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let evs = events(&out.stdout);
    let failed = of(&evs, "attempt_failed", "ticket");
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["error"].as_str().unwrap().contains("Rate limit exceeded"), "{}", failed[0]);
    assert!(failed[0]["retry_in_ms"].as_u64().unwrap() >= 1000, "Retry-After was not honoured: {}", failed[0]);
    let creates = jira.requests("POST", "/rest/api/2/issue");
    assert_eq!(creates.len(), 2);
    assert!(creates[1].at.duration_since(creates[0].at) >= Duration::from_secs(1));
    assert_eq!(jira.with_state(|j| j.issues.len()), 1);
}

#[test]
fn a_400_is_permanent_and_says_what_jira_said() {
    let jira = jira_standin::start(Flavor::DataCenter);
    let sb = Sandbox::new("jira-400");
    sb.write("p.yaml", &pipeline(Flavor::DataCenter, &site(&jira), "", "    issue_type: Story\n"));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(1));
    let done = finished(&out);
    assert_eq!(done["attempts"], 1, "a 400 was retried");
    let why = done["reason"].as_str().unwrap();
    assert!(why.ends_with("/rest/api/2/issue: HTTP 400 Bad Request: issuetype: Specify a valid issue type"), "{why}");
    assert!(jira.with_state(|j| j.issues.is_empty()));
}

#[test]
fn refused_credentials_are_permanent_and_name_the_secrets() {
    let jira = jira_standin::start(Flavor::Cloud);
    let sb = Sandbox::new("jira-401");
    sb.write("p.yaml", &pipeline(Flavor::Cloud, &site(&jira), ", api_version: 3", ""));
    let wrong = "wrong-t0ken-7c1d";
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], wrong);
    assert_eq!(out.status.code(), Some(1));
    let done = finished(&out);
    assert_eq!(done["attempts"], 1);
    let why = done["reason"].as_str().unwrap();
    assert!(
        why.contains("HTTP 401") && why.contains("`jira.email` and `jira.token`") && why.contains("`JIRA_EMAIL`, `JIRA_TOKEN`"),
        "{why}"
    );
    let all = format!("{}{}{:?}", String::from_utf8_lossy(&out.stdout), stderr(&out), sb.journal());
    assert!(!all.contains(wrong), "the token leaked");
    assert_eq!(jira.recorded().len(), 1, "nothing after the refused search");
}

#[test]
fn exactly_once_when_the_answer_to_the_create_is_lost() {
    let jira = jira_standin::start(Flavor::DataCenter);
    jira.fault("/rest/api/2/issue", Fault::DropAfterWork);
    let sb = Sandbox::new("jira-lost-create");
    sb.write("p.yaml", &pipeline(Flavor::DataCenter, &site(&jira), "", ""));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let evs = events(&out.stdout);
    let failed = of(&evs, "attempt_failed", "ticket");
    assert_eq!(failed.len(), 1, "the lost answer is retried");
    assert_eq!(failed[0]["transient"], true);
    // The retry searched, found the ticket by its label, and created nothing.
    assert_eq!(calls(&jira), [call("GET", "/rest/api/2/search"), call("POST", "/rest/api/2/issue"), call("GET", "/rest/api/2/search")]);
    assert_eq!(jira.with_state(|j| j.issues.len()), 1);
    assert_eq!(finished(&out)["outputs"]["key"], "OPS-1");
    assert!(logs(&sb).iter().any(|l| l.starts_with("found OPS-1, created earlier in this run")), "{:?}", logs(&sb));
}

#[test]
fn exactly_once_when_the_answer_to_the_transition_is_lost() {
    let jira = jira_standin::start(Flavor::Cloud);
    // The listing goes through; applying is done, and its answer lost.
    jira.fault("/transitions", Fault::Slow(Duration::ZERO));
    jira.fault("/transitions", Fault::DropAfterWork);
    let sb = Sandbox::new("jira-lost-transition");
    sb.write("p.yaml", &pipeline(Flavor::Cloud, &site(&jira), ", api_version: 3", "    transition: Approved\n"));
    let out = run(&sb);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(of(&events(&out.stdout), "attempt_failed", "ticket").len(), 1);
    assert_eq!(jira.with_state(|j| (j.issues.len(), j.issues[0].status.clone())), (1, "Approved".to_owned()));
    assert_eq!(count(&jira, "POST", "/rest/api/3/issue"), 1);
    assert_eq!(count(&jira, "POST", "/rest/api/3/issue/OPS-1/transitions"), 1, "the transition was applied twice");
    assert!(logs(&sb).iter().any(|l| l.contains("transition `Approved` is no longer offered for OPS-1")), "{:?}", logs(&sb));
}

#[test]
fn exactly_once_after_kill_9_between_the_create_and_the_journal() {
    let jira = jira_standin::start(Flavor::DataCenter);
    // The ticket is made, and its answer held: the run is killed before it
    // can record anything.
    jira.fault("/rest/api/2/issue", Fault::Slow(Duration::from_secs(30)));
    let sb = Sandbox::new("jira-kill");
    sb.write("p.yaml", &pipeline(Flavor::DataCenter, &site(&jira), "", ""));
    let mut child = sb
        .command(&["run", "p.yaml"])
        .env("TEST_JIRA_TOKEN", TOKEN)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while jira.with_state(|j| j.issues.is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(20), "the ticket was never created");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill_group(child.id());
    let _ = child.wait();
    let journal = sb.journal();
    assert!(!of(&journal, "stage_started", "ticket").is_empty());
    assert!(of(&journal, "stage_finished", "ticket").is_empty(), "the ticket's end was recorded before the kill");

    let id = sb.run_ids()[0].clone();
    let out = slipway(&sb, &["resume", &id, "--format", "json"], TOKEN);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(jira.with_state(|j| j.issues.len()), 1, "a second ticket was created");
    assert_eq!(count(&jira, "POST", "/rest/api/2/issue"), 1);
    let done = finished(&out);
    assert_eq!(done["outputs"]["key"], "OPS-1");
    assert_eq!(done["outputs"]["url"], format!("{}/browse/OPS-1", site(&jira)));
    assert_clean(&sb, &[&out]);
}

/// SIGKILL to the process group that `pid` leads, and to nothing else. Not
/// through `kill(1)`: procps-ng 4.0 reads `kill -KILL -PGID` (without `--`) as
/// a signal to group `-<first digit>`, which for a group starting with 1 is
/// every process there is.
fn kill_group(pid: u32) {
    let pgid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: getpgid and killpg take plain integers and have no memory preconditions.
    assert_eq!(unsafe { libc::getpgid(pgid) }, pgid, "the run does not lead its own process group");
    assert!(pgid > 1);
    // SAFETY: as above; the group is the run's own (`process_group(0)`), checked just now.
    assert_eq!(unsafe { libc::killpg(pgid, libc::SIGKILL) }, 0, "killpg failed");
}
