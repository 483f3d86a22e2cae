//! What the stable fuzz tests share (core's `fuzz_decoders` and, through
//! `#[path]`, the server's `fuzz_requests`): the case count from
//! `CAIRN_FUZZ_CASES`, a fixed seed unless `PROPTEST_RNG_SEED` is set, the
//! `REPRODUCE WITH` line, and the strategies for random and mutated inputs.

#![allow(dead_code)]

use cairn_core::fuzzing::mutate;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

const DEFAULT_SEED: u64 = 0x5eed_f022;
const DEFAULT_CASES: u32 = 5_000;

pub fn cases() -> u32 {
    match std::env::var("CAIRN_FUZZ_CASES") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("CAIRN_FUZZ_CASES={text:?} is not a number")),
        Err(_) => DEFAULT_CASES,
    }
}

pub fn config() -> Config {
    let mut config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    // Config::default() already read PROPTEST_RNG_SEED if it is set.
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    config
}

/// Prints the replay command if the test panics.
struct ReplayHint {
    seed: RngSeed,
    test: &'static str,
}

impl Drop for ReplayHint {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "REPRODUCE WITH: PROPTEST_RNG_SEED={} cargo test -p {} --test {} -- {} --exact",
                self.seed,
                env!("CARGO_PKG_NAME"),
                env!("CARGO_CRATE_NAME"),
                self.test
            );
        }
    }
}

pub fn run<S: Strategy>(test: &'static str, strategy: S, body: impl Fn(S::Value)) {
    let config = config();
    let _hint = ReplayHint {
        seed: config.rng_seed,
        test,
    };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&strategy, |value| {
        body(value);
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Up to `max_bytes` random bytes, small values favoured (tags, lengths).
pub fn random_bytes(max_bytes: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![0u8..16, any::<u8>()], 0..max_bytes)
}

/// One of `seeds` with one to four mutations.
pub fn mutated_from(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    (0..count, prop::collection::vec(any::<u64>(), 1..5))
        .prop_map(move |(seed, choices)| mutate(&seeds[seed], &choices))
}
