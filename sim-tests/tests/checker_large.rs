//! The checker on histories the size of a simulation run: thousands of operations
//! from several concurrent clients, in the shapes that make searches expensive
//! (ranges tying keys together, few hot keys, many timeouts). Each must pass as
//! generated and fail, quickly and with a small reproduction, once one read is
//! made stale.

use std::time::{Duration, Instant};

use cairn_sim_tests::checker::generate::{generate, make_stale_read, GenerateConfig};
use cairn_sim_tests::checker::{check, CheckResult};

/// (name, clients, keys, range %, indeterminate %)
const SHAPES: [(&str, u32, u32, u32, u32); 5] = [
    ("20 keys, a few ranges and timeouts", 8, 20, 5, 3),
    ("20 keys, many ranges", 10, 20, 20, 5),
    ("20 keys, many timeouts", 8, 20, 5, 15),
    ("3 hot keys, a third of the writes lost", 6, 3, 0, 30),
    ("one key, 40% lost", 4, 1, 0, 40),
];

fn shape(
    seed: u64,
    clients: u32,
    keys: u32,
    range_percent: u32,
    lost_percent: u32,
) -> GenerateConfig {
    GenerateConfig {
        seed,
        ops: 5_000,
        clients,
        keys,
        range_percent,
        indeterminate_percent: lost_percent,
        latency_ms_max: 30,
        sequential: false,
        value_pool: 0,
    }
}

#[test]
fn large_histories_pass_and_a_stale_read_fails() {
    let mut slowest = Duration::ZERO;
    for (seed, (name, clients, keys, ranges, lost)) in SHAPES.into_iter().enumerate() {
        let config = shape(seed as u64 + 7, clients, keys, ranges, lost);
        let mut history = generate(&config);

        let started = Instant::now();
        let result = check(&history);
        let ok_elapsed = started.elapsed();
        assert_eq!(result, CheckResult::Ok, "{name}: replay with {config:?}");

        let read = make_stale_read(&mut history).expect("the history has a stale-able read");
        let started = Instant::now();
        let result = check(&history);
        let violation_elapsed = started.elapsed();
        let CheckResult::Violation(violation) = result else {
            panic!("{name}: stale read {read} missed ({result:?}); replay with {config:?}");
        };
        let minimal: Vec<u64> = violation.minimal.iter().map(|op| op.id).collect();
        assert_eq!(violation.failed.id, read, "{name}: {violation}");
        assert!(minimal.contains(&read), "{name}: {violation}");
        assert!(violation.minimal.len() <= 4, "{name}: {violation}");
        println!(
            "{name}: {} ops linearizable in {ok_elapsed:?}; with a stale read, \
             violation shrunk to {} ops in {violation_elapsed:?}",
            history.ops.len(),
            violation.minimal.len()
        );
        slowest = slowest.max(ok_elapsed).max(violation_elapsed);
    }
    println!("slowest check: {slowest:?}");
}
