//! The stand the deploy tests run on: 4 hosts of the sshd fleet
//! (`fleet_harness`), each running `webapp.py` from its `current` release,
//! behind a real HAProxy (`haproxy_harness`).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fleet_harness::Fleet;
use crate::haproxy_harness::{self, App, Haproxy, Load, Tally, seed};
use crate::sandbox::{Sandbox, of};

/// The release every host runs before the tests deploy.
pub const SEED: &str = "20000101000000";
/// How long a restarting app refuses connections.
const GAP: Duration = Duration::from_millis(250);

/// Four hosts serving `v0` behind HAProxy.
pub struct Stand {
    pub fleet: Fleet,
    pub apps: Vec<App>,
    pub haproxy: Haproxy,
    pub sb: Sandbox,
}

impl Stand {
    /// The stand, or `None` (the test then passes vacuously, saying why) where sshd or haproxy cannot run.
    pub fn start(name: &str) -> Option<Stand> {
        if let Some(why) = Fleet::unavailable().or_else(haproxy_harness::unavailable) {
            eprintln!("skipped: {why}");
            return None;
        }
        let sb = Sandbox::new(name);
        let fleet = Fleet::start("web", 4);
        let apps: Vec<App> = fleet
            .hosts
            .iter()
            .map(|h| {
                seed(&h.root.join("app"), SEED, "v0");
                App::start(&h.name, &h.root.join("app"), GAP)
            })
            .collect();
        let servers: Vec<(&str, u16)> = apps.iter().map(|a| (a.name.as_str(), a.port)).collect();
        let haproxy = Haproxy::start(&sb.path("haproxy"), &servers);
        Some(Stand { fleet, apps, haproxy, sb })
    }

    /// The pipeline: one `deploy` stage over the fleet, `fields` added to it.
    pub fn pipeline(&self, fields: &str) -> String {
        // Each host's app has a port of its own: the URL picks it by host name.
        let port: String = self.apps.iter().map(|a| format!("{{{{#if (eq host.name \"{}\")}}}}{}{{{{/if}}}}", a.name, a.port)).collect();
        format!(
            "version: 1\nname: deploy-it\nparams:\n  revision: {{ required: true }}\n  broken: {{ default: none }}\n{ssh}hosts:\n{role}\
             stages:\n  deploy:\n    kind: deploy\n    hosts: web\n    deploy_to: app\n    revision: \"{{{{ params.revision }}}}\"\n\
             \x20   source:\n      command: echo \"built $SLIPWAY_RELEASE\" > built\n\
             \x20   env: {{ BROKEN_HOST: \"{{{{ params.broken }}}}\" }}\n\
             \x20   build: '[ \"{{{{ host.name }}}}\" != \"$BROKEN_HOST\" ] || touch BROKEN'\n\
             \x20   restart: kill -TERM \"$(cat \"$SLIPWAY_DEPLOY_TO/app.pid\")\"\n\
             \x20   health_check:\n      url: 'http://127.0.0.1:{port}/health'\n      revision_pointer: /revision\n      interval: 50ms\n      timeout: 10s\n\
             {fields}",
            ssh = self.fleet.ssh_block(),
            role = self.fleet.role("web"),
        )
    }

    /// The HAProxy `load_balancer` block.
    pub fn haproxy_block(&self) -> String {
        format!("    load_balancer:\n      haproxy: {{ socket: {}, backend: app, drain_timeout: 5s }}\n", self.haproxy.admin.display())
    }

    pub fn write(&self, fields: &str) {
        self.sb.write("p.yaml", &self.pipeline(fields));
    }

    /// `slipway run` deploying `revision` while the load generator runs.
    pub fn deploy_under_load(&self, revision: &str, more: &[&str]) -> (std::process::Output, Tally, Duration) {
        let load = Load::start(self.haproxy.port, 4);
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let mut args = vec!["run", "p.yaml", "--format", "json", "--param"];
        let rev = format!("revision={revision}");
        args.push(&rev);
        args.extend(more);
        let out = self.sb.run(&args);
        let took = started.elapsed();
        std::thread::sleep(Duration::from_millis(100));
        (out, load.stop(), took)
    }

    pub fn app(&self, name: &str) -> &App {
        self.apps.iter().find(|a| a.name == name).expect("an app of the stand")
    }

    /// Every server is UP in HAProxy (in rotation and passing its checks).
    pub fn assert_all_up(&self) {
        for a in &self.apps {
            assert_eq!(self.haproxy.wait_status(&a.name, "UP"), "UP", "{} in HAProxy: {:?}", a.name, self.haproxy.statuses());
        }
    }

    /// No `current` dangles: each points at a release folder with its REVISION.
    pub fn assert_no_dangling(&self) {
        for a in &self.apps {
            let target = a.deploy_to.join("current");
            assert!(target.join("REVISION").is_file(), "{}: `current` dangles", a.name);
        }
    }
}

pub fn finished<'a>(evs: &'a [Value], stage: &str) -> &'a Value {
    of(evs, "stage_finished", stage).first().copied().unwrap_or_else(|| panic!("no stage_finished for {stage}"))
}

pub fn logs(evs: &[Value], stage: &str) -> Vec<String> {
    of(evs, "log", stage).iter().map(|e| e["line"].as_str().unwrap_or_default().to_owned()).collect()
}

pub fn show(out: &std::process::Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
