//! The seed's flow end to end: `pipelines/opentable.yaml` as committed, its
//! addresses pointed at stand-ins for the SaaS services (TeamCity, the
//! service's deployment-info endpoint, GitHub, JIRA Cloud, a Slack webhook)
//! and at a real redis-server for the Logstash markers. The flow is:
//! pinned build -> changelog -> CCB ticket listing the commits -> start marker
//! -> deploy -> end marker -> chat message naming the ticket's key.

use std::process::Output;

use serde_json::{Value, json};

use crate::chat_standin::{self, Posts, SLACK_HOOK_PATH};
use crate::github_standin::{self, GitHub, sha};
use crate::jira_standin::{self, EMAIL, Flavor, Jira, TOKEN};
use crate::plan_vs_run;
use crate::redis_server::RedisServer;
use crate::sandbox::Sandbox;
use crate::standin::{Recorded, Reply, StandIn, json as answer};

const TEAMCITY_TOKEN: &str = "tc-token-5b1e9d0c7a";
/// The build TeamCity reports as pinned: commit 300 of the stand-in's history.
const PINNED: usize = 300;
/// What the service reports as deployed: commit 100, abbreviated as Spring's
/// actuator does (to 8 characters: the stand-in's SHAs share their first 6).
const DEPLOYED: usize = 100;

struct Services {
    teamcity: StandIn<()>,
    info: StandIn<()>,
    github: StandIn<GitHub>,
    jira: StandIn<Jira>,
    slack: StandIn<Posts>,
    redis: RedisServer,
}

impl Services {
    fn start() -> Self {
        let teamcity = StandIn::start((), |req: &Recorded, _: &mut ()| teamcity(req));
        let info = StandIn::start((), |req: &Recorded, _: &mut ()| {
            // Spring Boot's actuator style: an abbreviated SHA.
            if req.method == "GET" && req.route() == "/production/deployment-info" {
                answer(200, json!({ "sha": &sha(DEPLOYED)[..8], "branch": "main" }))
            } else {
                Reply::new(404, "not found")
            }
        });
        let mut gh = GitHub::linear(400);
        gh.repo = "opentable/restaurant-api".into();
        let github = github_standin::start(gh);
        let jira = jira_standin::start(Flavor::Cloud);
        jira.with_state(|j| j.projects.push("CCB".into()));
        Services { teamcity, info, github, jira, slack: chat_standin::slack_webhook(), redis: RedisServer::start() }
    }

    /// `pipelines/opentable.yaml` with its addresses pointed here, and its
    /// `deploy` stage replaced by `deploy_stage` (a shell stage until the test
    /// fleet runs it).
    fn pipeline(&self, deploy_stage: &str) -> String {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/opentable.yaml")).unwrap();
        let start = text.find("\n  deploy:\n").expect("opentable.yaml has a deploy stage");
        let end = start + 1 + text[start + 1..].find("\n\n").expect("a blank line after the deploy stage");
        let text = format!("{}\n{deploy_stage}{}", &text[..start], &text[end..]);
        let swaps = [
            ("https://teamcity-preprod.internal", self.teamcity.url("")),
            ("https://restaurant-api.{{ params.environment }}.internal", self.info.url("/{{ params.environment }}")),
            ("https://opentable.atlassian.net", jira_standin::site(&self.jira)),
            ("redis://logstash-redis.internal:6379/0", self.redis.url(0)),
            ("repo: opentable/restaurant-api", format!("repo: opentable/restaurant-api\n      api_base: {}", self.github.url(""))),
        ];
        swaps.iter().fold(text, |t, (from, to)| {
            assert!(t.contains(from), "opentable.yaml no longer holds {from}");
            t.replace(from, to)
        })
    }

    fn run(&self, sb: &Sandbox, file: &str) -> Output {
        sb.command(&["run", file, "--format", "json"])
            .env("TEAMCITY_TOKEN", TEAMCITY_TOKEN)
            .env("GITHUB_TOKEN", self.github.with_state(|g| g.token.clone()))
            .env("JIRA_EMAIL", EMAIL)
            .env("JIRA_TOKEN", TOKEN)
            .env("SLACK_WEBHOOK_URL", self.slack.url(SLACK_HOOK_PATH))
            .output()
            .expect("run slipway")
    }

    fn secrets(&self) -> Vec<String> {
        vec![
            TEAMCITY_TOKEN.into(),
            self.github.with_state(|g| g.token.clone()),
            TOKEN.into(),
            SLACK_HOOK_PATH.into(),
            self.redis.password.clone(),
        ]
    }
}

/// TeamCity's REST API: the last pinned, successful build of a build type.
fn teamcity(req: &Recorded) -> Reply {
    if req.header("authorization") != Some(&format!("Bearer {TEAMCITY_TOKEN}")) {
        return Reply::new(401, "Authentication required");
    }
    // The build's artifact, as TeamCity serves a file of a build's artifacts.
    if req.method == "GET" && req.route() == "/app/rest/builds/id:4711/artifacts/content/restaurant-api.tgz" {
        return Reply::new(200, artifact()).header("Content-Type", "application/octet-stream");
    }
    if req.method != "GET" || !req.header("accept").is_some_and(|a| a.contains("application/json")) {
        return Reply::new(406, "expected GET with Accept: application/json");
    }
    if req.route() != "/app/rest/builds/buildType:RestaurantApi_Build,pinned:true,status:SUCCESS" {
        return Reply::new(404, "No build found by locator");
    }
    answer(
        200,
        json!({
            "id": 4711, "buildTypeId": "RestaurantApi_Build", "number": "1234", "status": "SUCCESS", "pinned": true,
            "revisions": { "count": 1, "revision": [{ "version": sha(PINNED), "vcsBranchName": "refs/heads/main" }] },
            "artifacts": { "href": "/app/rest/builds/id:4711/artifacts" },
        }),
    )
}

/// The pinned build's artifact: a tar of the service's files (plain tar of
/// text files, so it travels as text; `tar -xf` on the host reads either).
fn artifact() -> &'static str {
    static TAR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("slipway-artifact-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("app")).unwrap();
        std::fs::write(dir.join("app/restaurant-api.jar"), "the service, built\n").unwrap();
        let out = std::process::Command::new("tar").arg("-cf").arg("-").arg("-C").arg(&dir).arg("app").output().expect("tar");
        let _ = std::fs::remove_dir_all(&dir);
        String::from_utf8(out.stdout).expect("a tar of text files is text")
    })
}

/// A stand-in for the deploy stage: records the revision it was given.
const DEPLOY_OK: &str = "  deploy:\n    kind: shell\n    needs: [mark_start]\n    run: echo \"$REV\" > deployed\n    env:\n      REV: \"{{ stages.pinned_build.outputs.revision }}\"\n";
const DEPLOY_FAILS: &str =
    "  deploy:\n    kind: shell\n    needs: [mark_start]\n    run: echo 'health check failed on rest-api-2' >&2; exit 1\n";

fn finished_order(sb: &Sandbox) -> Vec<String> {
    sb.journal().iter().filter(|e| e["event"] == "stage_finished").map(|e| e["stage"].as_str().unwrap_or_default().to_owned()).collect()
}

fn assert_no_secret(s: &Services, sb: &Sandbox, out: &Output, extra: &[String]) {
    let journal = sb.journal().iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    let texts = [String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), journal];
    for secret in s.secrets().iter().chain(extra) {
        for t in &texts {
            assert!(!t.contains(secret.as_str()), "secret {secret} leaked into output or the journal");
        }
    }
}

#[test]
fn the_opentable_flow_runs_against_the_services() {
    let s = Services::start();
    let sb = Sandbox::new("opentable");
    sb.write("opentable.yaml", &s.pipeline(DEPLOY_OK));
    let out = s.run(&sb, "opentable.yaml");
    assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // changelog -> ticket -> start marker -> deploy -> end marker -> chat.
    let order = finished_order(&sb);
    let pos = |id: &str| order.iter().position(|s| s == id).unwrap_or_else(|| panic!("{id} did not finish: {order:?}"));
    for pair in ["pinned_build", "changelog", "ccb_ticket", "mark_start", "deploy", "mark_end", "announce"].windows(2) {
        assert!(pos(pair[0]) < pos(pair[1]), "{} finished after {}: {order:?}", pair[0], pair[1]);
    }
    assert_eq!(sb.read("deployed").trim(), sha(PINNED), "the deploy got another revision");

    // The ticket lists the commits since the deployed SHA, once.
    let issues = s.jira.with_state(|j| j.issues.clone());
    assert_eq!(issues.len(), 1, "{issues:?}");
    let ticket = &issues[0];
    let description = ticket.fields["description"].as_str().unwrap_or_default();
    assert!(description.starts_with(&format!("Deploying {} commits", PINNED - DEPLOYED)), "{description}");
    assert!(description.contains(&format!("({}..{})", sha(DEPLOYED), sha(PINNED))), "the abbreviated SHA was not resolved: {description}");
    assert!(
        description.contains("change 101") && description.contains("change 300") && !description.contains("change 100 "),
        "{description}"
    );
    assert!(ticket.fields["summary"].as_str().unwrap_or_default().contains("build 1234 to production"), "{:?}", ticket.fields);
    assert!(ticket.labels().contains(&"deploy".to_owned()));

    // Kibana's markers, read from Redis the way Logstash reads them.
    let events = s.redis.logstash_read(0, "deployments", 10);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["title"], "restaurant-api deploy started");
    assert!(events[0]["text"].as_str().unwrap_or_default().contains(&ticket.key), "{:?}", events[0]);
    assert_eq!(events[1]["title"], "restaurant-api deploy succeeded");

    // The chat message names the ticket and says how it went.
    let posts = chat_standin::posted(&s.slack);
    assert_eq!(posts.len(), 1, "{posts:?}");
    let text = posts[0]["text"].as_str().unwrap_or_default();
    assert!(text.contains(&ticket.key) && text.contains("succeeded") && text.contains(&format!("{} commits", PINNED - DEPLOYED)), "{text}");
    assert_no_secret(&s, &sb, &out, &[]);
}

#[test]
fn a_failed_deploy_still_marks_the_end_and_says_so_in_chat() {
    let s = Services::start();
    let sb = Sandbox::new("opentable-fails");
    sb.write("opentable.yaml", &s.pipeline(DEPLOY_FAILS));
    let out = s.run(&sb, "opentable.yaml");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let events = s.redis.logstash_read(0, "deployments", 10);
    assert_eq!(
        events.iter().map(|e| e["title"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        ["restaurant-api deploy started", "restaurant-api deploy failed"]
    );
    let posts = chat_standin::posted(&s.slack);
    assert_eq!(posts.len(), 1, "{posts:?}");
    let text = posts[0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("failed") && text.contains("CCB-"), "{text}");
    assert_no_secret(&s, &sb, &out, &[]);
}

#[test]
fn a_hostile_commit_message_stays_data_from_changelog_to_ticket_to_chat() {
    let s = Services::start();
    let sb = Sandbox::new("opentable-hostile");
    // The announcement lists the commits too, so the subject reaches chat.
    let pipeline = s.pipeline(DEPLOY_OK).replace(
        "{{ default stages.changelog.outputs.count '?' }} commits)",
        "{{ default stages.changelog.outputs.count '?' }} commits)\n      {{ stages.changelog.outputs.text }}",
    );
    assert!(pipeline.contains("{{ stages.changelog.outputs.text }}"));
    sb.write("opentable.yaml", &pipeline);
    let out = s.run(&sb, "opentable.yaml");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!sb.path("pwned").exists() && !std::path::Path::new("pwned").exists(), "a commit subject was executed");

    // JIRA got the subject as text: not run, not rendered.
    let issues = s.jira.with_state(|j| j.issues.clone());
    let description = issues[0].fields["description"].as_str().unwrap_or_default().to_owned();
    assert!(description.contains("Hostile $(touch pwned) `id` <!channel> {{ secrets.GITHUB_TOKEN }}"), "{description}");

    // Slack got it escaped: no channel ping, and the template text stayed text.
    let posts = chat_standin::posted(&s.slack);
    let text = posts[0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("&lt;!channel&gt;") && !text.contains("<!channel>"), "{text}");
    assert!(text.contains("{{ secrets.GITHUB_TOKEN }}"), "{text}");
    // No secret went anywhere: not to JIRA, not to chat, not to the output.
    let sent = format!("{description}\n{}", posts.iter().map(Value::to_string).collect::<Vec<_>>().join("\n"));
    for secret in s.secrets() {
        assert!(!sent.contains(&secret), "secret {secret} was sent to a service");
    }
    assert_no_secret(&s, &sb, &out, &[]);
}

#[test]
fn what_the_plan_states_for_sure_is_what_the_run_sends() {
    let s = Services::start();
    let sb = Sandbox::new("opentable-plan-vs-run");
    sb.write("opentable.yaml", &s.pipeline(DEPLOY_OK));
    let plan = sb
        .command(&["plan", "opentable.yaml", "--format", "json"])
        .env("TEAMCITY_TOKEN", TEAMCITY_TOKEN)
        .env("GITHUB_TOKEN", "x")
        .env("JIRA_EMAIL", EMAIL)
        .env("JIRA_TOKEN", TOKEN)
        .env("SLACK_WEBHOOK_URL", s.slack.url(SLACK_HOOK_PATH))
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert!(s.teamcity.recorded().is_empty() && s.jira.recorded().is_empty(), "planning sent a request");
    let out = s.run(&sb, "opentable.yaml");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let sent: Vec<Recorded> =
        [s.teamcity.recorded(), s.info.recorded(), s.github.recorded(), s.jira.recorded(), s.slack.recorded()].concat();
    let bases = [s.teamcity.url(""), s.info.url(""), s.github.url(""), s.jira.url(""), s.slack.url("")];
    let checked = plan_vs_run::check_http(&plan, &sent, &bases);
    assert!(checked >= 6, "only {checked} requests compared");
}

/// The whole flow with the real `deploy` stage as committed: each of the three
/// hosts (real sshd, each running the test web app) downloads the pinned
/// build's artifact from TeamCity with the token, is switched and restarted,
/// and passes its health check on the pinned revision.
#[test]
fn the_opentable_flow_deploys_the_pinned_build_to_a_real_fleet() {
    use crate::fleet_harness::Fleet;
    use crate::haproxy_harness::{App, seed};
    if let Some(why) = Fleet::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    const SEED: &str = "20000101000000";
    let s = Services::start();
    let sb = Sandbox::new("opentable-fleet");
    let names: Vec<String> = ["rest-api-1.prod.internal", "rest-api-2.prod.internal", "rest-api-3"].map(String::from).to_vec();
    let fleet = Fleet::start_named(&names, None);
    let apps: Vec<App> = names
        .iter()
        .map(|n| {
            let app = fleet.host(n).root.join("app");
            seed(&app, SEED, "v0");
            App::start(n, &app, std::time::Duration::from_millis(100))
        })
        .collect();
    let port: String = apps.iter().map(|a| format!("{{{{#if (eq host.name '{}')}}}}{}{{{{/if}}}}", a.name, a.port)).collect();
    let host = |n: &str| format!("{{ name: {n}, address: 127.0.0.1, port: {} }}", fleet.host(n).port);
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/opentable.yaml")).unwrap();
    let deploy = &text[text.find("\n  deploy:\n").unwrap() + 1..];
    let deploy = &deploy[..deploy.find("\n\n").unwrap() + 1];
    let swaps = [
        ("\nhosts:\n".to_owned(), format!("\n{}hosts:\n", fleet.ssh_block())),
        ("- rest-api-1.prod.internal\n".into(), format!("- {}\n", host("rest-api-1.prod.internal"))),
        ("- rest-api-2.prod.internal\n".into(), format!("- {}\n", host("rest-api-2.prod.internal"))),
        ("{ name: rest-api-3, address: 10.20.0.13, user: deploy }".into(), host("rest-api-3")),
        ("deploy_to: /srv/restaurant-api".into(), "deploy_to: app".into()),
        ("sudo systemctl reload restaurant-api".into(), "kill -TERM \"$(cat \"$SLIPWAY_DEPLOY_TO/app.pid\")\"".into()),
        ("http://{{ host.address }}:8080/deployment-info".into(), format!("http://{{{{ host.address }}}}:{port}/health")),
        ("revision_pointer: /sha".into(), "revision_pointer: /revision".into()),
    ];
    let pipeline = swaps.iter().fold(s.pipeline(deploy), |t, (from, to)| {
        assert!(t.contains(from.as_str()), "opentable.yaml no longer holds {from}");
        t.replace(from.as_str(), to)
    });
    sb.write("opentable.yaml", &pipeline);
    let out = s.run(&sb, "opentable.yaml");
    assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let release = apps[0].current();
    assert_ne!(release, SEED);
    for a in &apps {
        assert_eq!(a.current(), release, "{} is on another release", a.name);
        assert_eq!(a.serving(), format!("{} {release}", sha(PINNED)), "{} serves the pinned revision", a.name);
        let jar = a.deploy_to.join("current/app/restaurant-api.jar");
        assert_eq!(
            std::fs::read_to_string(&jar).unwrap_or_default(),
            "the service, built\n",
            "{}: the artifact is not in the release",
            a.name
        );
        assert!(!a.deploy_to.join("current/.artifact").exists());
    }
    // Every host downloaded the artifact with the token.
    let downloads = s.teamcity.requests("GET", "/app/rest/builds/id:4711/artifacts/content/restaurant-api.tgz");
    assert_eq!(downloads.len(), 3, "{downloads:?}");
    // The end marker and the chat message say it succeeded.
    let events = s.redis.logstash_read(0, "deployments", 10);
    assert_eq!(events.last().map(|e| e["title"].clone()), Some(json!("restaurant-api deploy succeeded")), "{events:?}");
    let posts = chat_standin::posted(&s.slack);
    assert!(posts[0]["text"].as_str().unwrap_or_default().contains("production: succeeded"), "{posts:?}");
    assert_no_secret(&s, &sb, &out, &[]);
}
