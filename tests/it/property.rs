//! No input panics: random bytes and mutated valid pipelines through parse,
//! validation and every renderer. (`cargo xtask fuzz` runs the same for longer.)

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
