//! `cargo xtask bench exec`: (a) a 1,000-stage DAG of `shell` stages running
//! `true`, beside GNU make -j2 running the same DAG (make is the process-spawn
//! floor); (b) a DAG of sleeping stages: makespan over critical path.
//! `--quick` for a smoke run; `--bin PATH` to time another build. With
//! PostgreSQL installed, (a) also times the journal in a local PostgreSQL
//! (`--state-url`), the shared state of CI runners.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::{median_of, ms};

pub fn exec(args: &[&str]) -> Result<()> {
    let quick = args.contains(&"--quick");
    // `--bin PATH` times another build (say, main's) with the same harness.
    let bin = crate::slipway_bin(args)?;
    let tmp = std::env::temp_dir().join(format!("slipway-bench-exec-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;

    let n = if quick { 200 } else { 1000 };
    let rounds = if quick { 1 } else { 9 };
    let deps = layered(n, 20);
    std::fs::write(tmp.join("dag.yaml"), pipeline(&deps, |_| "true".into()))?;
    std::fs::write(tmp.join("Makefile"), makefile(&deps))?;
    // The journal fsyncs every stage boundary: on disk that is the cost of
    // durability; on tmpfs it is close to free, which isolates the scheduler.
    // `None` is make; `Some(state)` is slipway with its journal there.
    let mut contenders: Vec<(&str, Option<PathBuf>)> =
        vec![("make -j2", None), ("slipway run, journal on disk", Some(tmp.join(".slipway")))];
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        contenders.push(("slipway run, journal on tmpfs", Some(shm.join(format!("slipway-bench-{}", std::process::id())))));
    }
    // The journal in PostgreSQL (fsync on, on this disk), beside the file journal.
    let pg = crate::bench_pg::LocalPg::start()?;
    if pg.is_some() {
        contenders.push(("slipway run, journal in PostgreSQL", Some(tmp.join(".slipway-pg"))));
    }
    let url = |state: &Path| pg.as_ref().filter(|_| state.ends_with(".slipway-pg")).map(|pg| pg.url.clone());
    // Rounds interleave the contenders, so a slow spell of the machine (a
    // neighbour, the hypervisor) hits them alike rather than one of them.
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    for _ in 0..rounds {
        for (i, (_, state)) in contenders.iter().enumerate() {
            times[i].push(match state {
                None => time_make(&tmp)?,
                Some(state) => time_run(&bin, &tmp, state, url(state).as_deref())?,
            });
        }
    }
    for (_, state) in &contenders[1..] {
        let _ = state.as_deref().map(std::fs::remove_dir_all);
    }
    let make = median_of(&mut times[0]);
    println!("## (a) {n} shell stages running `true`, 2 at a time (median of {rounds} interleaved rounds)");
    for (i, (name, _)) in contenders.iter().enumerate() {
        let t = median_of(&mut times[i]);
        let (lo, hi) = (times[i][0], times[i][times[i].len() - 1]);
        let ratio = if i == 0 { String::new() } else { format!("   ratio {:.2}x", t.as_secs_f64() / make.as_secs_f64()) };
        let target = if i == 1 { " (target <= 1.5x)" } else { "" };
        println!("{name:<36}{:>8.0} ms  (range {:.0}-{:.0}){ratio}{target}", ms(t), ms(lo), ms(hi));
    }
    if let Some(i) = contenders.iter().position(|(_, s)| s.as_deref().is_some_and(|s| url(s).is_some())) {
        let (pg_t, disk_t) = (median_of(&mut times[i]), median_of(&mut times[1]));
        println!("PostgreSQL journal / file journal on disk: {:.2}x (target <= 1.5x)", pg_t.as_secs_f64() / disk_t.as_secs_f64());
    }
    drop(pg);

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

/// One `make -j2` of the DAG.
fn time_make(dir: &Path) -> Result<Duration> {
    let start = Instant::now();
    if !Command::new("make").args(["-s", "-j2", "-f", "Makefile", "all"]).current_dir(dir).status()?.success() {
        bail!("make failed");
    }
    Ok(start.elapsed())
}

/// One `slipway run` of the DAG, from a fresh state folder (with `url`, the
/// lock and journal in that database; runs accumulate there, as in CI).
fn time_run(bin: &Path, dir: &Path, state: &Path, url: Option<&str>) -> Result<Duration> {
    let _ = std::fs::remove_dir_all(state);
    let mut cmd = Command::new(bin);
    cmd.args(["run", "dag.yaml", "--max-parallel", "2", "--format", "json", "--state-dir"]).arg(state).current_dir(dir);
    cmd.env_remove("SLIPWAY_STATE_URL");
    if let Some(url) = url {
        cmd.args(["--state-url", url]);
    }
    let start = Instant::now();
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("slipway run failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(start.elapsed())
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
