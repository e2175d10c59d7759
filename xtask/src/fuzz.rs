//! `cargo xtask fuzz`: each target for a fixed time, in a release build.
//! - `validate`: mutated pipelines and random bytes through parse, validate and
//!   every renderer. A panic is a bug: the input is saved under `fuzz/crashes/`.
//! - `masker`: the masking property (`slipway_engine::secrets::property`) on
//!   random secrets, forms and line cuts. A leak or a panic is a bug: the case
//!   is saved under `fuzz/crashes/`.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use slipway_core::fuzz::{Rng, check_one, mutate};

use crate::root;

pub fn run(args: &[&str]) -> Result<()> {
    let minutes: f64 = flag(args, "--minutes").unwrap_or(1.0);
    // As printed: decimal or 0x-hex.
    let seed: u64 = flag::<String>(args, "--seed")
        .and_then(|s| match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        })
        .unwrap_or(0x5eed_f00d);
    let target: String = flag(args, "--target").unwrap_or_else(|| "all".to_owned());
    if !matches!(target.as_str(), "all" | "validate" | "masker") {
        bail!("--target {target}: not a target: all, validate or masker");
    }
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = 0;
    if matches!(target.as_str(), "all" | "validate") {
        failed += validate(minutes, seed)?;
    }
    if matches!(target.as_str(), "all" | "masker") {
        failed += masker(minutes, seed)?;
    }
    if failed > 0 {
        bail!("{failed} inputs failed: see fuzz/crashes/");
    }
    Ok(())
}

fn validate(minutes: f64, seed: u64) -> Result<u64> {
    let mut seeds = Vec::new();
    for dir in ["pipelines", "tests/fixtures/valid", "tests/fixtures/invalid"] {
        for entry in std::fs::read_dir(root().join(dir))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                seeds.push(std::fs::read(path)?);
            }
        }
    }
    let mut rng = Rng::new(seed);
    let deadline = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let (mut runs, mut diagnostics, mut crashes) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        for _ in 0..256 {
            let input = if rng.below(10) == 0 {
                (0..rng.below(512)).map(|_| rng.byte()).collect()
            } else {
                let base = &seeds[rng.below(seeds.len())];
                mutate(base, &mut rng)
            };
            match std::panic::catch_unwind(|| check_one(&input)) {
                Ok(n) => diagnostics += n as u64,
                Err(_) => {
                    crashes += 1;
                    save(&format!("crash-{runs}.yaml"), &input)?;
                }
            }
            runs += 1;
        }
    }
    println!("fuzz validate: {runs} inputs in {minutes} min (seed {seed:#x}), {diagnostics} diagnostics, {crashes} panics");
    Ok(crashes)
}

fn masker(minutes: f64, seed: u64) -> Result<u64> {
    use slipway_engine::secrets::property;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(minutes * 60.0);
    let (mut cases, mut leaks) = (0u64, 0u64);
    // One generator per case, seeded from the run's seed and the case number, so
    // a saved case can be replayed on its own.
    while Instant::now() < deadline {
        for _ in 0..64 {
            let case_seed = seed ^ cases.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let outcome = std::panic::catch_unwind(|| property::check(&mut Rng::new(case_seed)));
            let report = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(leak)) => Some(leak.to_string()),
                Err(_) => Some("the masker panicked".to_owned()),
            };
            if let Some(report) = report {
                leaks += 1;
                eprintln!("case seed {case_seed:#x}: {report}");
                save(&format!("masker-{case_seed:x}.txt"), format!("case seed {case_seed:#x}\n{report}").as_bytes())?;
            }
            cases += 1;
        }
    }
    let took = started.elapsed().as_secs_f64() / 60.0;
    println!("fuzz masker: {cases} cases in {took:.1} min (seed {seed:#x}), {leaks} leaks or panics");
    Ok(leaks)
}

fn save(name: &str, bytes: &[u8]) -> Result<()> {
    let dir = root().join("fuzz/crashes");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)?;
    Ok(())
}

fn flag<T: std::str::FromStr>(args: &[&str], name: &str) -> Option<T> {
    args.iter().position(|a| *a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}
