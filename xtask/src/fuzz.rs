//! `cargo xtask fuzz`: each target for a fixed time, in a release build.
//! - `validate`: mutated pipelines and random bytes through parse, validate and
//!   every renderer. A panic is a bug: the input is saved under `fuzz/crashes/`.
//! - `masker`: the masking property (`slipway_engine::secrets::property`) on
//!   random secrets, forms and line cuts. A leak or a panic is a bug: the case
//!   is saved under `fuzz/crashes/`.
//! - `template`: mutated templates (every helper and block, and each template
//!   line of `pipelines/`) through static analysis and every render mode.
//! - `outputs`: mutated `$SLIPWAY_OUTPUT` files through their parser.
//! - `journal`: mutated journals through the reader `resume` and `runs` trust.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use slipway_core::fuzz::{Rng, check_one, mutate};
use slipway_engine::fuzzing;

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
    const TARGETS: &[&str] = &["validate", "masker", "template", "outputs", "journal"];
    if target != "all" && !TARGETS.contains(&target.as_str()) {
        bail!("--target {target}: not a target: all, {}", TARGETS.join(", "));
    }
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = 0;
    if matches!(target.as_str(), "all" | "validate") {
        failed += validate(minutes, seed)?;
    }
    if matches!(target.as_str(), "all" | "masker") {
        failed += masker(minutes, seed)?;
    }
    if matches!(target.as_str(), "all" | "template") {
        let seeds = template_seeds()?;
        let templates = fuzzing::Templates::default();
        failed += mutated("template", minutes, seed, &seeds, |input| templates.check(input))?;
    }
    if matches!(target.as_str(), "all" | "outputs") {
        let seeds = [b"sha=abc\nlist<<EOF\nline 1\nline 2\nEOF\nempty=\n".to_vec(), b"a=1\r\nb<<X\n\nX\n".to_vec()];
        failed += mutated("outputs", minutes, seed, &seeds, |input| {
            let _ = slipway_stages::parse_output_file(&String::from_utf8_lossy(input));
        })?;
    }
    if matches!(target.as_str(), "all" | "journal") {
        let scratch = std::env::temp_dir().join(format!("slipway-fuzz-journal-{}", std::process::id()));
        let seeds = [fuzzing::JOURNAL_SEED.as_bytes().to_vec()];
        failed += mutated("journal", minutes, seed, &seeds, |input| fuzzing::check_journal(&scratch, input))?;
        let _ = std::fs::remove_dir_all(&scratch);
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

/// Each of `pipelines/`' lines holding a template, and the engine's own seeds.
fn template_seeds() -> Result<Vec<Vec<u8>>> {
    let mut seeds: Vec<Vec<u8>> = fuzzing::TEMPLATE_SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    for entry in std::fs::read_dir(root().join("pipelines"))? {
        let text = std::fs::read_to_string(entry?.path())?;
        seeds.extend(text.lines().filter(|l| l.contains("{{")).map(|l| l.as_bytes().to_vec()));
    }
    Ok(seeds)
}

/// Mutated seeds (and now and then random bytes) through `check` until the
/// time is up; a panic is a bug, its input saved under `fuzz/crashes/`.
fn mutated(name: &str, minutes: f64, seed: u64, seeds: &[Vec<u8>], check: impl Fn(&[u8])) -> Result<u64> {
    let mut rng = Rng::new(seed);
    let deadline = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let (mut runs, mut crashes) = (0u64, 0u64);
    while Instant::now() < deadline {
        for _ in 0..256 {
            let input: Vec<u8> = match rng.below(10) {
                0 => (0..rng.below(512)).map(|_| rng.byte()).collect(),
                _ => mutate(&seeds[rng.below(seeds.len())], &mut rng),
            };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input))).is_err() {
                crashes += 1;
                save(&format!("{name}-{runs}.txt"), &input)?;
            }
            runs += 1;
        }
    }
    println!("fuzz {name}: {runs} inputs in {minutes} min (seed {seed:#x}), {crashes} panics");
    Ok(crashes)
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
