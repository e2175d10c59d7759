//! The seed's Reverb flow end to end: `pipelines/reverb.yaml` as committed, run
//! against a test fleet of real sshd hosts (web-1..3 behind a real HAProxy,
//! worker-1), with stand-ins for Datadog and Slack. Only what exists on
//! Reverb's machines and not here is swapped: addresses, the Chef and Bundler
//! commands, the app's restart, the git remote. The flow: chat -> Chef
//! converge on the web heads between Datadog markers -> the new code on every
//! host -> the migrations once, from the new release, before anything switches
//! -> the web heads switched one at a time behind HAProxy, under load, and the
//! worker restarted -> the end marker -> chat.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::chat_standin::{self, Posts, SLACK_HOOK_PATH};
use crate::dashboards_standin::{self, Datadog};
use crate::fleet_harness::Fleet;
use crate::haproxy_harness::{self, App, Haproxy, Load, seed};
use crate::plan_vs_run::{self, Recorder};
use crate::sandbox::Sandbox;
use crate::standin::StandIn;

const DD_KEY: &str = "dd-api-key-3f9a1c7e5b";
/// The release every host is on before the test deploys.
const SEED: &str = "20000101000000";
const WEB: [&str; 3] = ["web-1", "web-2", "web-3"];

struct Reverb {
    fleet: Fleet,
    apps: Vec<App>,
    haproxy: Haproxy,
    datadog: StandIn<Datadog>,
    slack: StandIn<Posts>,
    recorder: Recorder,
    /// The commit deployed: the head of a real git repository.
    revision: String,
    sb: Sandbox,
}

impl Reverb {
    /// The stand, or `None` (the test then passes vacuously, saying why) where sshd or haproxy cannot run.
    fn start(name: &str) -> Option<Reverb> {
        if let Some(why) = Fleet::unavailable().or_else(haproxy_harness::unavailable) {
            eprintln!("skipped: {why}");
            return None;
        }
        let sb = Sandbox::new(name);
        let recorder = Recorder::new(&sb.path("recorder"));
        let names: Vec<String> = WEB.iter().chain(&["worker-1"]).map(|s| s.to_string()).collect();
        let fleet = Fleet::start_named(&names, Some(&recorder.bin()));
        for h in &fleet.hosts {
            let app = h.root.join("app");
            seed(&app, SEED, "v0");
            // Capistrano's shared files exist before the first deploy.
            std::fs::create_dir_all(app.join("shared/config")).unwrap();
            std::fs::write(app.join("shared/config/database.yml"), "production:\n  adapter: postgresql\n").unwrap();
            std::fs::write(app.join("shared/.env"), "SECRET_KEY_BASE=from-the-host\n").unwrap();
        }
        let apps: Vec<App> = WEB.iter().map(|n| App::start(n, &fleet.host(n).root.join("app"), Duration::from_millis(250))).collect();
        let servers: Vec<(&str, u16)> = apps.iter().map(|a| (a.name.as_str(), a.port)).collect();
        let haproxy = Haproxy::start(&sb.path("haproxy"), &servers);
        let revision = app_repository(&sb.path("reverb.git"));
        Some(Reverb {
            fleet,
            apps,
            haproxy,
            datadog: dashboards_standin::datadog(DD_KEY),
            slack: chat_standin::slack_webhook(),
            recorder,
            revision,
            sb,
        })
    }

    /// `pipelines/reverb.yaml` with what only exists at Reverb swapped for what exists here.
    fn pipeline(&self) -> String {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/reverb.yaml")).unwrap();
        let port = |h: &str| self.fleet.host(h).port;
        let host = |n: &str, addr: &str| {
            (format!("{{ name: {n}, address: {addr}, user: deploy }}"), format!("{{ name: {n}, address: 127.0.0.1, port: {} }}", port(n)))
        };
        // Each web head's app has a port of its own: the health check picks it by host name.
        let app_port: String = self.apps.iter().map(|a| format!("{{{{#if (eq host.name '{}')}}}}{}{{{{/if}}}}", a.name, a.port)).collect();
        let swaps = [
            ("\nhosts:\n".to_owned(), format!("\n{}hosts:\n", self.fleet.ssh_block())),
            host("web-1", "10.0.1.11"),
            host("web-2", "10.0.1.12"),
            host("web-3", "10.0.1.13"),
            host("worker-1", "10.0.2.21"),
            ("site: datadoghq.com".into(), format!("site: datadoghq.com\n      api_base: {}", self.datadog.url(""))),
            // The --why-run check first: the converge command is its prefix.
            ("sudo chef-client --no-fork --why-run".into(), "true".into()),
            ("sudo chef-client --no-fork".into(), "echo converged >> \"$HOME/chef-runs\"".into()),
            ("deploy_to: /var/www/reverb".into(), "deploy_to: app".into()),
            ("git@github.com:reverbdotcom/reverb.git".into(), self.sb.path("reverb.git").display().to_string()),
            ("bundle install --deployment --quiet".into(), "test -f Gemfile && touch .bundled".into()),
            // The migration notes where it ran, from which release, and what web-1 served then.
            (
                "bundle exec rake db:migrate".into(),
                "echo \"$RAILS_ENV $(cat REVISION) $(basename \"$PWD\") $(basename \"$(readlink \"$HOME/../web-1/app/current\")\")\" \
                 >> \"$HOME/migrations\""
                    .into(),
            ),
            ("kill -USR2 \"$(cat tmp/pids/unicorn.pid)\"".into(), "kill -TERM \"$(cat \"$SLIPWAY_DEPLOY_TO/app.pid\")\"".into()),
            ("http://{{ host.address }}:8080/health".into(), format!("http://{{{{ host.address }}}}:{app_port}/health")),
            ("socket: ipv4@10.0.0.2:9999".into(), format!("socket: {}", self.haproxy.admin.display())),
            ("backend: reverb_web".into(), "backend: app".into()),
            ("sudo systemctl restart reverb-sidekiq".into(), "echo restarted >> \"$HOME/sidekiq-restarts\"".into()),
        ];
        swaps.iter().fold(text, |t, (from, to)| {
            assert!(t.contains(from.as_str()), "reverb.yaml no longer holds {from}");
            t.replace(from.as_str(), to)
        })
    }

    fn host_file(&self, host: &str, rel: &str) -> String {
        self.fleet.host(host).read(rel)
    }

    fn current(&self, host: &str) -> String {
        let link = std::fs::read_link(self.fleet.host(host).root.join("app/current")).expect("current is a link");
        link.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// A git repository holding the app's code; returns its head commit.
fn app_repository(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("Gemfile"), "source 'https://rubygems.org'\ngem 'rails'\n").unwrap();
    std::fs::write(dir.join("app.rb"), "puts 'reverb'\n").unwrap();
    let git = |args: &[&str]| crate::support::git(dir, args);
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "The app"]);
    git(&["rev-parse", "HEAD"])
}

fn show(out: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_reverb_flow_runs_on_the_fleet_with_no_request_dropped_and_the_plan_holds() {
    let Some(r) = Reverb::start("reverb") else { return };
    r.sb.write("reverb.yaml", &r.pipeline());
    let revision = format!("revision={}", r.revision);
    let slipway = |cmd: &str| {
        let mut args = vec![cmd];
        args.extend(["reverb.yaml", "--format", "json", "--param", revision.as_str()]);
        r.sb.command(&args)
            .env("DD_API_KEY", DD_KEY)
            .env("SLACK_WEBHOOK_URL", r.slack.url(SLACK_HOOK_PATH))
            .env("PATH", r.recorder.path())
            .output()
            .expect("run slipway")
    };

    let plan = slipway("plan");
    assert_eq!(plan.status.code(), Some(0), "{}", show(&plan));
    let plan: Value = serde_json::from_slice(&plan.stdout).expect("the plan as JSON");
    assert!(r.datadog.recorded().is_empty() && r.slack.recorded().is_empty(), "planning sent a request");
    assert!(r.recorder.sessions().is_empty(), "planning ran a command: {:?}", r.recorder.sessions());

    let load = Load::start(r.haproxy.port, 4);
    std::thread::sleep(Duration::from_millis(100));
    let out = slipway("run");
    let tally = load.stop();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Chef converged once on each web head, never on the worker.
    for h in WEB {
        assert_eq!(r.host_file(h, "chef-runs"), "converged\n", "{h}");
    }
    assert_eq!(r.host_file("worker-1", "chef-runs"), "", "Chef ran on the worker");

    // Every host is on the new release, built from the commit.
    let release = r.current("worker-1");
    assert_ne!(release, SEED, "the worker was not switched");
    for h in WEB.iter().chain(&["worker-1"]) {
        assert_eq!(r.current(h), release, "{h} is on another release");
        let dir = r.fleet.host(h).root.join("app/current");
        assert_eq!(std::fs::read_to_string(dir.join("REVISION")).unwrap().trim(), r.revision, "{h}");
        assert!(dir.join(".bundled").exists() && dir.join("app.rb").exists(), "{h}: the release was not built from the repository");
        assert!(dir.join("config/database.yml").exists(), "{h}: the shared file is not linked");
    }
    for a in &r.apps {
        assert_eq!(a.serving(), format!("{} {release}", r.revision), "{} serves the new release", a.name);
    }
    // The migration ran once, on the worker, from the new release, while web-1 still served the old one.
    assert_eq!(r.host_file("worker-1", "migrations"), format!("production {} {release} {SEED}\n", r.revision));
    for h in WEB {
        assert_eq!(r.host_file(h, "migrations"), "", "migrations ran on {h}");
    }
    assert_eq!(r.host_file("worker-1", "sidekiq-restarts"), "restarted\n");
    assert_eq!(tally.failed, 0, "{} of {} requests failed: {:?}", tally.failed, tally.sent, tally.failures);
    assert!(tally.sent > 50, "the load generator sent only {} requests", tally.sent);

    // Datadog saw the converge and the deploy start and end, in order, and how they went.
    let events = r.datadog.with_state(|d| d.events.clone());
    let mut titles: Vec<&str> = events.iter().map(|e| e["title"].as_str().unwrap_or_default()).collect();
    // The converge's end and the deploy's start both follow the converge: either may come first.
    if titles.len() == 4 {
        titles[1..3].sort_unstable();
    }
    let deploy = format!("Capistrano deploy of {}", r.revision);
    assert_eq!(
        titles,
        [
            "Chef converge started on web (production)".to_owned(),
            format!("{deploy} started"),
            "Chef converge succeeded on web".into(),
            format!("{deploy} succeeded")
        ],
        "{events:#?}"
    );
    assert_eq!(events.last().map(|e| e["alert_type"].clone()), Some(Value::from("success")));
    // Chat heard it go out and come back.
    let posts = chat_standin::posted(&r.slack);
    let texts: Vec<&str> = posts.iter().map(|p| p["text"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        texts,
        [format!(":rocket: reverb-web {} is going out to production", r.revision), format!("reverb-web {}: deploy succeeded", r.revision)]
    );

    // What the plan stated for sure is what the run did: requests and commands.
    // The end marker's alert_type depends on how the deploy went: the plan must
    // not state one (it once said `error` for a run that sent `success`).
    let planned_end = plan["stages"].as_array().unwrap().iter().find(|s| s["id"] == "deploy_finished").expect("deploy_finished planned");
    let body: Value = serde_json::from_str(planned_end["effects"][0]["body"].as_str().unwrap()).unwrap();
    let alert_type = body["alert_type"].as_str().unwrap_or_default();
    assert!(!plan_vs_run::concrete(alert_type), "the plan states alert_type `{alert_type}` before the deploy ran");
    let sent = [r.datadog.recorded(), r.slack.recorded()].concat();
    let requests = plan_vs_run::check_http(&plan, &sent, &[r.datadog.url(""), r.slack.url("")]);
    assert_eq!(requests, 6, "every marker and message was compared");
    let commands = plan_vs_run::check_commands(&plan, &r.recorder.sessions());
    eprintln!("{} of {} requests failed; compared {requests} requests and {commands} commands", tally.failed, tally.sent);
    // Chef on each web head and the migration: the deploy's own steps hold the
    // release's name and the hosts' home folders, which only the run knows.
    assert_eq!(commands, 4, "commands compared");
}
