//! No input panics: random bytes and mutated valid pipelines through parse,
//! validation and every renderer; mutated templates through analysis and
//! rendering; mutated `$SLIPWAY_OUTPUT` files and journals through their
//! readers. (`cargo xtask fuzz` runs the same for longer.)

use slipway_core::fuzz::{Rng, check_one, mutate};

use crate::support::{root, yaml_files};

#[test]
fn mutated_pipelines_never_panic() {
    let seeds: Vec<Vec<u8>> = yaml_files("pipelines")
        .iter()
        .chain(&yaml_files("tests/fixtures/invalid"))
        .map(|f| std::fs::read(root().join(f)).unwrap())
        .collect();
    let mut rng = Rng::new(0x5eed);
    for i in 0..3000 {
        let seed = &seeds[i % seeds.len()];
        let input = mutate(seed, &mut rng);
        if let Err(panic) = std::panic::catch_unwind(|| check_one(&input)) {
            panic!("panic on input {:?}: {panic:?}", String::from_utf8_lossy(&input));
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(7);
    for _ in 0..2000 {
        let len = rng.below(200);
        let input: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        check_one(&input);
    }
}

/// `runs` mutated inputs from `seeds` through `check`; a panic fails, naming the input.
fn no_panic(seeds: &[Vec<u8>], runs: usize, check: impl Fn(&[u8])) {
    let mut rng = Rng::new(0x7e57);
    for i in 0..runs {
        let input = mutate(&seeds[i % seeds.len()], &mut rng);
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input))) {
            panic!("panic on input {:?}: {panic:?}", String::from_utf8_lossy(&input));
        }
    }
}

#[test]
fn mutated_templates_never_panic_in_analysis_or_rendering() {
    use slipway_engine::fuzzing;
    let seeds: Vec<Vec<u8>> = fuzzing::TEMPLATE_SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    let templates = fuzzing::Templates::default();
    no_panic(&seeds, 300, |input| templates.check(input));
}

#[test]
fn mutated_output_files_never_panic() {
    let seeds = [b"sha=abc\nlist<<EOF\nline 1\nEOF\nempty=\n".to_vec()];
    no_panic(&seeds, 3000, |input| {
        let _ = slipway_stages::parse_output_file(&String::from_utf8_lossy(input));
    });
}

#[test]
fn mutated_journals_never_panic() {
    let scratch = crate::sandbox::Sandbox::new("fuzz-journal");
    let seeds = [slipway_engine::fuzzing::JOURNAL_SEED.as_bytes().to_vec()];
    no_panic(&seeds, 1000, |input| slipway_engine::fuzzing::check_journal(&scratch.dir, input));
}
