//! `cargo xtask bench exec`: (a) a 1,000-stage DAG of `shell` stages running
//! `true`, beside GNU make -j2 running the same DAG (make is the process-spawn
//! floor); (b) a DAG of sleeping stages: makespan over critical path.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::bench::{median, ms};
use crate::root;

pub fn exec(args: &[&str]) -> Result<()> {
    let quick = args.contains(&"--quick");
    let status = Command::new("cargo").args(["build", "--release", "--quiet", "--bin", "slipway"]).current_dir(root()).status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let bin = root().join("target/release/slipway");
    let tmp = std::env::temp_dir().join(format!("slipway-bench-exec-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;

    let n = if quick { 200 } else { 1000 };
    let runs = if quick { 1 } else { 3 };
    let deps = layered(n, 20);
    std::fs::write(tmp.join("dag.yaml"), pipeline(&deps, |_| "true".into()))?;
    std::fs::write(tmp.join("Makefile"), makefile(&deps))?;
    let make = median(runs, || {
        let start = Instant::now();
        let ok = Command::new("make").args(["-s", "-j2", "-f", "Makefile", "all"]).current_dir(&tmp).status()?.success();
        if !ok {
            bail!("make failed");
        }
        Ok(start.elapsed())
    })?;
    // The journal fsyncs every stage boundary: on disk that is the cost of
    // durability; on tmpfs it is close to free, which isolates the scheduler.
    let timed = |state: &Path| {
        median(runs, || {
            let _ = std::fs::remove_dir_all(state);
            let start = Instant::now();
            let out = Command::new(&bin)
                .args(["run", "dag.yaml", "--max-parallel", "2", "--format", "json", "--state-dir"])
                .arg(state)
                .current_dir(&tmp)
                .output()?;
            if !out.status.success() {
                bail!("slipway run failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            Ok(start.elapsed())
        })
    };
    let on_disk = timed(&tmp.join(".slipway"))?;
    let shm = Path::new("/dev/shm");
    let in_memory = if shm.is_dir() { Some(timed(&shm.join(format!("slipway-bench-{}", std::process::id())))?) } else { None };
    println!("## (a) {n} shell stages running `true`, 2 at a time (median of {runs})");
    println!("make -j2                      {:>8.0} ms", ms(make));
    println!(
        "slipway run, journal on disk  {:>8.0} ms   ratio {:.2}x (target <= 1.5x)",
        ms(on_disk),
        on_disk.as_secs_f64() / make.as_secs_f64()
    );
    if let Some(t) = in_memory {
        println!("slipway run, journal on tmpfs {:>8.0} ms   ratio {:.2}x", ms(t), t.as_secs_f64() / make.as_secs_f64());
        let _ = std::fs::remove_dir_all(shm.join(format!("slipway-bench-{}", std::process::id())));
    }

    // (b) sleeping stages: every stage may run at once, so the makespan can reach the critical path.
    let m = if quick { 20 } else { 40 };
    let deps = layered(m, 5);
    let sleep_ms = |i: usize| 200 + (i * 37 % 5) * 60; // 200..440 ms, deterministic
    std::fs::write(tmp.join("sleep.yaml"), pipeline(&deps, |i| format!("sleep {:.3}", sleep_ms(i) as f64 / 1000.0)))?;
    let critical = critical_path(&deps, sleep_ms);
    let _ = std::fs::remove_dir_all(tmp.join(".slipway"));
    let out =
        Command::new(&bin).args(["run", "sleep.yaml", "--max-parallel", &m.to_string(), "--format", "json"]).current_dir(&tmp).output()?;
    if !out.status.success() {
        bail!("slipway run failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let makespan = run_duration(&out.stdout).context("no run_finished event")?;
    println!("\n## (b) {m} sleeping stages (200-440 ms), unlimited parallelism");
    println!("critical path {critical:>8} ms");
    println!("makespan      {makespan:>8} ms   (run_started to run_finished)");
    println!("ratio         {:>8.3}    (target <= 1.02)", makespan as f64 / critical as f64);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// `deps[i]`: the stages stage `i` needs; layers of `width`, each stage needing
/// one or two of the layer before.
fn layered(n: usize, width: usize) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| {
            if i < width {
                return Vec::new();
            }
            let a = i - width;
            let b = i - width + 1;
            if i % 2 == 0 && b < i - (i % width) { vec![a, b] } else { vec![a] }
        })
        .collect()
}

fn pipeline(deps: &[Vec<usize>], command: impl Fn(usize) -> String) -> String {
    let mut s = String::from("version: 1\nname: bench\nstages:\n");
    for (i, d) in deps.iter().enumerate() {
        let needs: Vec<String> = d.iter().map(|j| format!("s{j}")).collect();
        s.push_str(&format!("  s{i}: {{ kind: shell, run: '{}', needs: [{}] }}\n", command(i), needs.join(", ")));
    }
    s
}

fn makefile(deps: &[Vec<usize>]) -> String {
    let mut s = String::from(".PHONY: all");
    for i in 0..deps.len() {
        s.push_str(&format!(" s{i}"));
    }
    s.push_str("\nall:");
    for i in 0..deps.len() {
        s.push_str(&format!(" s{i}"));
    }
    s.push('\n');
    for (i, d) in deps.iter().enumerate() {
        let needs: Vec<String> = d.iter().map(|j| format!("s{j}")).collect();
        s.push_str(&format!("s{i}: {}\n\t@true\n", needs.join(" ")));
    }
    s
}

fn critical_path(deps: &[Vec<usize>], cost: impl Fn(usize) -> usize) -> usize {
    let mut finish: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, d) in deps.iter().enumerate() {
        let start = d.iter().map(|j| finish[j]).max().unwrap_or(0);
        finish.insert(i, start + cost(i));
    }
    finish.values().copied().max().unwrap_or(0)
}

fn run_duration(stdout: &[u8]) -> Option<u64> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "run_finished")
        .and_then(|e| e["duration_ms"].as_u64())
}
