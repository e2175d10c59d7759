//! `cargo xtask bench validate`: how long `slipway validate` takes on the real
//! pipelines (whole process) and on generated pipelines of 1,000 and 10,000
//! stages (in process and whole process), beside a schema-only validator.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::root;

pub fn validate(args: &[&str]) -> Result<()> {
    let quick = args.contains(&"--quick");
    let runs = if quick { 5 } else { 30 };
    let status = Command::new("cargo").args(["build", "--release", "--quiet", "--bin", "slipway"]).current_dir(root()).status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let bin = root().join("target/release/slipway");

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
    Ok(())
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
