//! The checker against exhaustive enumeration on small random histories.
//!
//! The search prunes hard (memoization with dominance, canonical placement of
//! indeterminate writes, interchangeable lost writes, per-key hints); each rule is
//! argued sound in its module, and this test checks the arguments: on histories
//! of up to nine operations, some linearizable and some made not to be by mutating
//! an output, the checker must agree with trying every order. A failure prints the
//! seed; `CHECKER_SEED=<seed>` replays it alone.

use cairn_sim_tests::checker::generate::{generate, GenerateConfig, SplitMix64};
use cairn_sim_tests::checker::model::KvModel;
use cairn_sim_tests::checker::{check, CheckResult};
use cairn_sim_tests::history::{History, Input, Operation, Output};

/// Whether some order of `ops` respecting real time explains every output, with
/// each indeterminate operation either taking effect somewhere or never.
fn brute_force(ops: &[Operation]) -> bool {
    fn search(ops: &[Operation], done: u32, model: &KvModel) -> bool {
        if done.count_ones() as usize == ops.len() {
            return true;
        }
        for (index, op) in ops.iter().enumerate() {
            if done & (1 << index) != 0 {
                continue;
            }
            // Every pending operation that returned before this call must go first.
            let blocked = ops.iter().enumerate().any(|(other_index, other)| {
                done & (1 << other_index) == 0
                    && other_index != index
                    && other.return_ms.is_some_and(|r| r < op.call_ms)
            });
            if blocked {
                continue;
            }
            let mut next = model.clone();
            let output = next.apply(&op.input);
            let fits = op
                .output
                .as_ref()
                .is_none_or(|recorded| *recorded == output);
            if fits && search(ops, done | (1 << index), &next) {
                return true;
            }
            // An indeterminate operation may also never take effect.
            if op.output.is_none() && search(ops, done | (1 << index), model) {
                return true;
            }
        }
        false
    }
    search(ops, 0, &KvModel::default())
}

/// Changes one output to something plausible but possibly wrong.
fn mutate(history: &mut History, random: &mut SplitMix64) {
    let determinate: Vec<usize> = (0..history.ops.len())
        .filter(|&index| history.ops[index].output.is_some())
        .collect();
    if determinate.is_empty() {
        return;
    }
    let index = determinate[random.below(determinate.len() as u64) as usize];
    let values: Vec<String> = history
        .ops
        .iter()
        .filter_map(|op| match &op.input {
            Input::Put { value, .. } => Some(value.clone()),
            Input::Cas { new, .. } => Some(new.clone()),
            _ => None,
        })
        .chain(["never".to_string()])
        .collect();
    let some_value =
        |random: &mut SplitMix64| values[random.below(values.len() as u64) as usize].clone();
    let op = &mut history.ops[index];
    let output = op.output.as_mut().expect("determinate");
    match output {
        Output::Put => {}
        Output::Get(value) => {
            *value = if random.below(3) == 0 {
                None
            } else {
                Some(some_value(random))
            };
        }
        Output::Delete { deleted } => *deleted = 1 - (*deleted).min(1),
        Output::Cas { succeeded } => *succeeded = !*succeeded,
        Output::Range(pairs) => {
            if pairs.is_empty() || random.below(2) == 0 {
                if let Input::Range { start, .. } = &op.input {
                    pairs.insert(0, (start.clone(), some_value(random)));
                }
            } else {
                pairs.remove(random.below(pairs.len() as u64) as usize);
            }
        }
    }
}

#[test]
fn the_checker_agrees_with_exhaustive_enumeration() {
    let seeds: Vec<u64> = match std::env::var("CHECKER_SEED") {
        Ok(seed) => vec![seed.parse().expect("CHECKER_SEED is a number")],
        Err(_) => (0..3_000).collect(),
    };
    let (mut linearizable, mut not) = (0, 0);
    for seed in seeds {
        let mut random = SplitMix64(seed ^ 0xb7e1_5163);
        let config = GenerateConfig {
            seed,
            ops: 3 + random.below(7) as usize,
            clients: 1 + random.below(4) as u32,
            keys: 1 + random.below(3) as u32,
            range_percent: random.below(40) as u32,
            indeterminate_percent: random.below(50) as u32,
            latency_ms_max: 1 + random.below(15),
            sequential: false,
            value_pool: if random.below(3) == 0 {
                1 + random.below(3)
            } else {
                0
            },
        };
        let mut history = generate(&config);
        for _ in 0..random.below(3) {
            mutate(&mut history, &mut random);
        }
        let expected = brute_force(&history.ops);
        let result = check(&history);
        let agrees = match &result {
            CheckResult::Ok => expected,
            CheckResult::Violation(_) => !expected,
            CheckResult::Unknown => false,
        };
        assert!(
            agrees,
            "seed {seed}: brute force says {}, checker says {result:?}\nreplay with CHECKER_SEED={seed}\n{}",
            if expected { "linearizable" } else { "not linearizable" },
            history.to_text()
        );
        if expected {
            linearizable += 1;
        } else {
            not += 1;
        }
    }
    println!("{linearizable} linearizable, {not} not");
    assert!(std::env::var("CHECKER_SEED").is_ok() || (linearizable > 500 && not > 500));
}
