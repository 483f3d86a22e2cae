//! Randomized properties of the checker, each over a fixed range of seeds. A failure
//! prints the seed; `CHECKER_SEED=<seed> cargo test -p cairn-sim-tests --test
//! checker_properties` replays just that one.

use cairn_sim_tests::checker::generate::{generate, make_stale_read, GenerateConfig};
use cairn_sim_tests::checker::{check, CheckResult};
use cairn_sim_tests::history::History;

fn seeds(count: u64) -> Vec<u64> {
    match std::env::var("CHECKER_SEED") {
        Ok(seed) => vec![seed.parse().expect("CHECKER_SEED is a number")],
        Err(_) => (0..count).collect(),
    }
}

fn replay_hint(seed: u64) -> String {
    format!(
        "seed {seed}; replay with CHECKER_SEED={seed} cargo test -p cairn-sim-tests --test checker_properties"
    )
}

fn small(seed: u64, sequential: bool) -> GenerateConfig {
    let mut random = cairn_sim_tests::checker::generate::SplitMix64(seed);
    GenerateConfig {
        seed,
        ops: 10 + random.below(80) as usize,
        clients: 1 + random.below(6) as u32,
        keys: 1 + random.below(5) as u32,
        range_percent: random.below(30) as u32,
        indeterminate_percent: random.below(25) as u32,
        latency_ms_max: 1 + random.below(20),
        sequential,
        value_pool: 0,
    }
}

#[test]
fn sequential_histories_from_the_model_are_linearizable() {
    for seed in seeds(300) {
        let history = generate(&small(seed, true));
        let result = check(&history);
        assert_eq!(
            result,
            CheckResult::Ok,
            "{}\n{}",
            replay_hint(seed),
            history.to_text()
        );
    }
}

#[test]
fn concurrent_histories_from_the_model_are_linearizable() {
    for seed in seeds(300) {
        let history = generate(&small(seed, false));
        let result = check(&history);
        assert_eq!(
            result,
            CheckResult::Ok,
            "{}\n{}",
            replay_hint(seed),
            history.to_text()
        );
    }
}

#[test]
fn a_stale_read_is_always_caught() {
    let mut caught = 0;
    for seed in seeds(300) {
        let mut history = generate(&small(seed, false));
        let Some(read) = make_stale_read(&mut history) else {
            continue;
        };
        let result = check(&history);
        let CheckResult::Violation(violation) = result else {
            panic!(
                "stale read {read} missed ({result:?}); {}\n{}",
                replay_hint(seed),
                history.to_text()
            );
        };
        // The shrunk history is itself a failing history.
        let minimal = History {
            ops: violation.minimal.clone(),
        };
        assert!(
            matches!(check(&minimal), CheckResult::Violation(_)),
            "minimal history passes; {}\n{}",
            replay_hint(seed),
            minimal.to_text()
        );
        caught += 1;
    }
    assert!(
        caught >= 50 || std::env::var("CHECKER_SEED").is_ok(),
        "only {caught} seeds had a stale-able read"
    );
}

#[test]
fn generated_histories_survive_the_text_dump() {
    for seed in seeds(50) {
        let history = generate(&small(seed, false));
        let text = history.to_text();
        assert_eq!(
            History::from_text(&text),
            Ok(history),
            "{}",
            replay_hint(seed)
        );
    }
}
