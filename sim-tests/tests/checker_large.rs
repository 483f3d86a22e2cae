//! The checker on histories the size of a simulation run: thousands of operations,
//! twenty keys, eight concurrent clients, ranges tying keys together, timeouts.

use std::time::Instant;

use cairn_sim_tests::checker::generate::{generate, make_stale_read, GenerateConfig};
use cairn_sim_tests::checker::{check, CheckResult};

fn large(seed: u64, indeterminate_percent: u32) -> GenerateConfig {
    GenerateConfig {
        seed,
        ops: 5_000,
        clients: 8,
        keys: 20,
        range_percent: 5,
        indeterminate_percent,
        latency_ms_max: 30,
        sequential: false,
    }
}

#[test]
fn large_linearizable_history_passes_and_a_stale_read_fails() {
    let config = large(7, 3);
    println!("replay with: GenerateConfig {config:?}");
    let mut history = generate(&config);

    let started = Instant::now();
    let result = check(&history);
    let ok_elapsed = started.elapsed();
    assert_eq!(result, CheckResult::Ok, "seed {}", config.seed);

    let read = make_stale_read(&mut history).expect("the history has a stale-able read");
    let started = Instant::now();
    let result = check(&history);
    let violation_elapsed = started.elapsed();
    let CheckResult::Violation(violation) = result else {
        panic!("expected a violation for the stale read {read}, got {result:?}");
    };
    let minimal: Vec<u64> = violation.minimal.iter().map(|op| op.id).collect();
    assert!(
        violation.failed.id == read || minimal.contains(&read),
        "the violation should involve the stale read {read}:\n{violation}"
    );
    assert!(violation.minimal.len() <= 12, "{violation}");
    println!(
        "{} ops: linearizable in {ok_elapsed:?}, violation (with shrinking to {} ops) in {violation_elapsed:?}",
        history.ops.len(),
        violation.minimal.len()
    );
    println!("{violation}");
}

#[test]
fn large_history_full_of_timeouts_passes() {
    let config = large(11, 15);
    println!("replay with: GenerateConfig {config:?}");
    let history = generate(&config);
    let started = Instant::now();
    assert_eq!(check(&history), CheckResult::Ok, "seed {}", config.seed);
    println!(
        "{} ops, 15% indeterminate: linearizable in {:?}",
        history.ops.len(),
        started.elapsed()
    );
}
