//! `cargo xtask fuzz`: mutated pipelines and random bytes through parse, validate
//! and every renderer for a fixed time, in a release build. A panic is a bug: the
//! input is saved under `fuzz/crashes/`.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use slipway_core::fuzz::{Rng, check_one, mutate};

use crate::root;

pub fn run(args: &[&str]) -> Result<()> {
    let minutes: f64 = flag(args, "--minutes").unwrap_or(1.0);
    let seed: u64 = flag(args, "--seed").unwrap_or(0x5eed_f00d);
    let mut seeds = Vec::new();
    for dir in ["pipelines", "tests/fixtures/valid", "tests/fixtures/invalid"] {
        for entry in std::fs::read_dir(root().join(dir))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                seeds.push(std::fs::read(path)?);
            }
        }
    }
    std::panic::set_hook(Box::new(|_| {}));
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
                    let dir = root().join("fuzz/crashes");
                    std::fs::create_dir_all(&dir)?;
                    std::fs::write(dir.join(format!("crash-{runs}.yaml")), &input)?;
                }
            }
            runs += 1;
        }
    }
    println!("fuzz: {runs} inputs in {minutes} min (seed {seed:#x}), {diagnostics} diagnostics, {crashes} panics");
    if crashes > 0 {
        bail!("{crashes} inputs panicked: see fuzz/crashes/");
    }
    Ok(())
}

fn flag<T: std::str::FromStr>(args: &[&str], name: &str) -> Option<T> {
    args.iter().position(|a| *a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}
