//! The last part of `cargo xtask bench fleet`: a rolling `deploy` of 4 hosts of
//! the loopback sshd fleet, one at a time, behind a real HAProxy, each host
//! running `tests/it/webapp.py` (which refuses connections for 250 ms while it
//! restarts), under a load generator. Prints the wall time, where it goes step
//! by step (from each host's log line), and requests sent and failed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::bench::{median_of, ms};

#[path = "../../tests/it/haproxy_harness.rs"]
mod haproxy_harness;

use crate::bench_fleet::fleet_harness::Fleet;
use haproxy_harness::{App, Haproxy, Load, seed};

pub fn deploy(bin: &Path, rounds: usize) -> Result<()> {
    if let Some(why) = haproxy_harness::unavailable() {
        println!("\nrolling deploy: skipped ({why})");
        return Ok(());
    }
    let dir = std::env::temp_dir().join("slipway-bench-deploy");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let fleet = Fleet::start("web", 4);
    let apps: Vec<App> = fleet
        .hosts
        .iter()
        .map(|h| {
            seed(&h.root.join("app"), "20000101000000", "v0");
            App::start(&h.name, &h.root.join("app"), Duration::from_millis(250))
        })
        .collect();
    let servers: Vec<(&str, u16)> = apps.iter().map(|a| (a.name.as_str(), a.port)).collect();
    let haproxy = Haproxy::start(&dir.join("haproxy"), &servers);
    let file = dir.join("deploy.yaml");
    std::fs::write(&file, pipeline(&fleet, &apps, &haproxy))?;

    println!("\n## rolling deploy of 4 hosts over SSH behind HAProxy, batch_size 1, under load");
    println!("(the app refuses connections for 250 ms per restart; HAProxy checks every 100 ms; round 1 opens the SSH masters)\n");
    let mut walls = Vec::new();
    let mut steps: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for round in 1..=rounds {
        // A release id per second: each round its own.
        std::thread::sleep(Duration::from_millis(1000));
        let load = Load::start(haproxy.port, 4);
        let start = Instant::now();
        let out = Command::new(bin)
            .args(["run", "--format", "json", "--param", &format!("revision=v{round}"), "--state-dir"])
            .arg(dir.join("state"))
            .arg(&file)
            .env("NO_COLOR", "1")
            .env("CI", "1")
            .output()?;
        let wall = start.elapsed();
        let tally = load.stop();
        if !out.status.success() {
            bail!("the deploy failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        let mut prepare = Duration::ZERO;
        for line in String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
            let text = line["line"].as_str().unwrap_or_default();
            if let Some((_, took)) = text.split_once(") in ").filter(|_| text.contains("] prepared release")) {
                prepare = prepare.max(parse(took));
            }
            if let Some((_, timings)) = text.split_once("(updated): ") {
                for part in timings.split(", ") {
                    if let Some((step, took)) = part.split_once(' ') {
                        let step = ["drain", "switch", "restart", "health", "ready", "finish"].into_iter().find(|s| *s == step);
                        if let Some(step) = step {
                            steps.entry(step).or_default().push(parse(took));
                        }
                    }
                }
            }
        }
        steps.entry("prepare (all hosts)").or_default().push(prepare);
        println!(
            "round {round}: {:>6.0} ms wall; {} requests, {} failed; prepare {:.0} ms",
            ms(wall),
            tally.sent,
            tally.failed,
            ms(prepare)
        );
        if round > 1 {
            walls.push(wall);
        }
    }
    if !walls.is_empty() {
        println!("\nwarm rounds: median {:.0} ms wall", ms(median_of(&mut walls)));
    }
    println!("median per step (per host, but prepare):");
    for (step, times) in &mut steps {
        println!("  {step:<20} {:>6.0} ms", ms(median_of(times)));
    }
    drop(haproxy);
    drop(apps);
    drop(fleet);
    Ok(())
}

/// `412ms` or `1.4s`.
fn parse(text: &str) -> Duration {
    let text = text.trim();
    match (text.strip_suffix("ms"), text.strip_suffix('s')) {
        (Some(n), _) => Duration::from_millis(n.parse().unwrap_or(0)),
        (None, Some(n)) => Duration::from_secs_f64(n.parse().unwrap_or(0.0)),
        _ => Duration::ZERO,
    }
}

fn pipeline(fleet: &Fleet, apps: &[App], haproxy: &Haproxy) -> String {
    let port: String = apps.iter().map(|a| format!("{{{{#if (eq host.name \"{}\")}}}}{}{{{{/if}}}}", a.name, a.port)).collect();
    format!(
        "version: 1\nname: bench-deploy\nparams:\n  revision: {{ required: true }}\n{ssh}hosts:\n{role}stages:\n  deploy:\n    kind: deploy\n    hosts: web\n    deploy_to: app\n\
         \x20   revision: \"{{{{ params.revision }}}}\"\n    source:\n      command: echo built > built\n\
         \x20   restart: kill -TERM \"$(cat \"$SLIPWAY_DEPLOY_TO/app.pid\")\"\n\
         \x20   health_check:\n      url: 'http://127.0.0.1:{port}/health'\n      revision_pointer: /revision\n      interval: 50ms\n      timeout: 10s\n\
         \x20   batch_size: 1\n    load_balancer:\n      haproxy: {{ socket: {}, backend: app }}\n",
        haproxy.admin.display(),
        ssh = fleet.ssh_block(),
        role = fleet.role("web"),
    )
}
