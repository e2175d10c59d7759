//! `cargo xtask bench validate`: how long `slipway validate` takes on the real
//! pipelines (whole process) and on generated pipelines of 1,000 and 10,000
//! stages (in process and whole process), beside a schema-only validator; and
//! time and peak memory on 1 MB files of each hostile shape
//! (`slipway_core::fuzz::HOSTILE`). `--hostile` runs only those, `--bin PATH`
//! measures another build (an older one, for a before/after table), `--size N`
//! changes the hostile files' size.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::root;

pub fn validate(args: &[&str]) -> Result<()> {
    let quick = args.contains(&"--quick");
    let runs = if quick { 5 } else { 30 };
    let flag = |name: &str| args.iter().position(|a| *a == name).and_then(|i| args.get(i + 1)).copied();
    let bin = crate::slipway_bin(args)?;
    let size = flag("--size").and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    if args.contains(&"--hostile") {
        return hostile(&bin, size);
    }

    println!("## whole process, `slipway validate FILE` (median of {runs})");
    for entry in std::fs::read_dir(root().join("pipelines"))? {
        let path = entry?.path();
        let t = median(runs, || run_validate(&bin, &path))?;
        println!("{:<32} {:>8.2} ms   (target < 4 ms)", path.file_name().unwrap().to_string_lossy(), ms(t));
    }

    println!("\n## generated pipelines");
    println!("{:<8} {:>10} {:>14} {:>14} {:>18}", "stages", "bytes", "in-process", "whole process", "schema-only (jsonschema)");
    let tmp = std::env::temp_dir().join("slipway-bench");
    std::fs::create_dir_all(&tmp)?;
    let mut per_stage = Vec::new();
    for n in [1_000usize, 10_000] {
        let text = generate(n);
        let path = tmp.join(format!("gen-{n}.yaml"));
        std::fs::write(&path, &text)?;
        let inner = median(runs.min(10), || {
            let start = Instant::now();
            let checked = slipway_core::check_str("gen.yaml", &text);
            if !checked.is_valid() {
                bail!("generated pipeline is invalid: {:?}", checked.diagnostics.first());
            }
            Ok(start.elapsed())
        })?;
        let outer = median(runs.min(10), || run_validate(&bin, &path))?;
        let schema_only = median(runs.min(10), || schema_only(&text))?;
        per_stage.push(inner.as_secs_f64() / n as f64);
        println!("{n:<8} {:>10} {:>11.1} ms {:>11.1} ms {:>15.1} ms", text.len(), ms(inner), ms(outer), ms(schema_only));
    }
    println!("\ngrowth per stage 1k -> 10k: {:.2}x (1.00 = linear); target: 10,000 stages < 200 ms", per_stage[1] / per_stage[0]);
    hostile(&bin, size)
}
/// Each hostile shape as a 1 MB file through `slipway validate`, one process per
/// shape: wall time and the child's peak RSS (from `wait4`), under a 4 GiB
/// address-space cap and a two-minute limit, so that a regression reports
/// itself rather than taking the machine down.
fn hostile(bin: &Path, size: usize) -> Result<()> {
    println!("\n## hostile shapes, {size} bytes each (`slipway validate FILE`, one process, best of 3)");
    println!("{:<20} {:>10} {:>10} {:>12}   outcome", "shape", "bytes", "time", "peak RSS");
    let tmp = std::env::temp_dir().join("slipway-bench");
    std::fs::create_dir_all(&tmp)?;
    for (name, make) in slipway_core::fuzz::HOSTILE {
        let text = make(size);
        let path = tmp.join(format!("hostile-{name}.yaml"));
        std::fs::write(&path, &text)?;
        let mut best: Option<Measured> = None;
        for _ in 0..3 {
            let m = measure(bin, &path)?;
            // a slow or killed run is not worth repeating
            let done = m.outcome.starts_with("killed") || m.time > Duration::from_secs(10);
            if best.as_ref().is_none_or(|b| m.time < b.time) {
                best = Some(m);
            }
            if done {
                break;
            }
        }
        let m = best.expect("measured at least once");
        println!("{name:<20} {:>10} {:>8.2} s {:>9.1} MB   {}", text.len(), m.time.as_secs_f64(), m.peak_kb as f64 / 1024.0, m.outcome);
    }
    Ok(())
}

struct Measured {
    time: Duration,
    peak_kb: i64,
    outcome: String,
}

const CAP_BYTES: libc::rlim_t = 4 << 30;
const TIME_LIMIT: Duration = Duration::from_secs(120);

fn measure(bin: &Path, file: &Path) -> Result<Measured> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bin);
    cmd.arg("validate").arg(file).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let cap = libc::rlimit { rlim_cur: CAP_BYTES, rlim_max: CAP_BYTES };
            if libc::setrlimit(libc::RLIMIT_AS, &cap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    let mut timed_out = false;
    loop {
        // SAFETY: a child of this process; status and usage are valid for writing.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if r < 0 {
            bail!("wait4: {}", std::io::Error::last_os_error());
        }
        if start.elapsed() > TIME_LIMIT && !timed_out {
            timed_out = true;
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let time = start.elapsed();
    let outcome = if timed_out {
        format!("killed after {} s", TIME_LIMIT.as_secs())
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {} (over the {} GiB cap?)", libc::WTERMSIG(status), CAP_BYTES >> 30)
    } else {
        format!("exit {}", libc::WEXITSTATUS(status))
    };
    Ok(Measured { time, peak_kb: usage.ru_maxrss, outcome })
}

fn run_validate(bin: &Path, file: &Path) -> Result<Duration> {
    let start = Instant::now();
    let out = Command::new(bin).arg("validate").arg(file).output()?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!("{} failed:\n{}", file.display(), String::from_utf8_lossy(&out.stdout));
    }
    Ok(elapsed)
}

/// What a schema-only validator does: parse YAML (libyaml), check against the schema.
fn schema_only(text: &str) -> Result<Duration> {
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root().join("schemas/pipeline.schema.json"))?)?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| anyhow::anyhow!("{e}"))?;
    let start = Instant::now();
    let doc: serde_yaml::Value = serde_yaml::from_str(text).context("yaml")?;
    let doc = serde_json::to_value(doc)?;
    if !validator.is_valid(&doc) {
        bail!("schema rejects the generated pipeline");
    }
    Ok(start.elapsed())
}

pub fn median(runs: usize, mut f: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    let mut times = (0..runs).map(|_| f()).collect::<Result<Vec<_>>>()?;
    Ok(median_of(&mut times))
}

/// Sorts the times and returns the middle one.
pub fn median_of(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A layered pipeline: each stage needs one or two stages of the layer before and
/// reads an output of one of them, so references, implicit edges and cycle checks
/// all do real work.
pub fn generate(n: usize) -> String {
    let mut s = String::from(
        "version: 1\nname: generated\nparams:\n  version: { default: 1.0.0 }\nsecrets:\n  TOKEN: { env: TOKEN }\nhosts:\n  web: [web-1, web-2]\nstages:\n",
    );
    let width = 50;
    for i in 0..n {
        s.push_str(&format!("  s{i}:\n"));
        if i < width {
            s.push_str(
                "    kind: shell\n    run: ./build \"$VERSION\"\n    env: { VERSION: \"{{ params.version }}\" }\n    outputs: [out]\n",
            );
            continue;
        }
        let a = i - width;
        let b = i - width + 1 - (i % 2);
        let is_http = |k: usize| k >= width && k.is_multiple_of(3);
        let read = if is_http(a) { "status" } else { "exit_code" };
        if is_http(i) {
            s.push_str(&format!(
                "    kind: http\n    url: \"https://ci.internal/{{{{ stages.s{a}.outputs.{read} }}}}\"\n    headers: {{ Authorization: \"Bearer {{{{ secrets.TOKEN }}}}\" }}\n    needs: [s{b}]\n"
            ));
        } else {
            s.push_str(&format!(
                "    kind: shell\n    run: ./step\n    env: {{ IN: \"{{{{ stages.s{a}.outputs.{read} }}}}\" }}\n    needs: [s{b}]\n    outputs: [out]\n    retry: {{ attempts: 2, backoff: 1s }}\n    timeout: 5m\n"
            ));
        }
    }
    s
}
