//! Random histories that are linearizable by construction, for testing the checker
//! (and for checking the checker's speed on realistic shapes).
//!
//! Clients issue operations one at a time with random latencies. Each operation
//! gets a linearization point inside its interval (or, when indeterminate, anywhere
//! after its call, or none at all: it never took effect); outputs are then computed
//! by applying the operations to [`KvModel`] in the order of those points. Values
//! written are unique (`v<op id>`), as in the simulation's workload, unless
//! [`GenerateConfig::value_pool`] says otherwise.

use super::model::KvModel;
use crate::history::{History, Input, Operation, Output};

/// The shape of a generated history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateConfig {
    pub seed: u64,
    pub ops: usize,
    pub clients: u32,
    /// Keys are `k00`, `k01`, …
    pub keys: u32,
    /// Share of operations that are ranges (over a few adjacent keys), in percent.
    pub range_percent: u32,
    /// Share of operations whose outcome is lost (indeterminate), in percent.
    pub indeterminate_percent: u32,
    /// Upper bound of an operation's duration.
    pub latency_ms_max: u64,
    /// Whether operations never overlap (each one starts after the previous returned).
    pub sequential: bool,
    /// 0: every write writes a fresh value, as the simulation's clients do. n > 0:
    /// written values are drawn from n shared ones, so nothing may lean on
    /// uniqueness.
    pub value_pool: u64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            seed: 1,
            ops: 1_000,
            clients: 5,
            keys: 10,
            range_percent: 5,
            indeterminate_percent: 2,
            latency_ms_max: 20,
            sequential: false,
            value_pool: 0,
        }
    }
}

/// A client gives up on an indeterminate operation after this long.
const TIMEOUT_MS: u64 = 100;

/// Generates a linearizable history as described in the module documentation.
pub fn generate(config: &GenerateConfig) -> History {
    assert!(
        config.clients > 0 && config.keys > 0,
        "need clients and keys"
    );
    let mut random = SplitMix64(config.seed);
    let mut next_call_ms: Vec<u64> = (0..config.clients)
        .map(|_| random.below(config.latency_ms_max + 1))
        .collect();
    let mut ops: Vec<Operation> = Vec::with_capacity(config.ops);
    // (linearization point, operation index) for operations that took effect.
    let mut points: Vec<(u64, usize)> = Vec::new();
    let mut sequential_clock_ms = 0;
    for id in 0..config.ops as u64 {
        let client = (0..config.clients)
            .min_by_key(|&client| (next_call_ms[client as usize], client))
            .expect("at least one client");
        let call_ms = if config.sequential {
            sequential_clock_ms
        } else {
            next_call_ms[client as usize]
        };
        let duration_ms = random.below(config.latency_ms_max + 1);
        let indeterminate = random.below(100) < u64::from(config.indeterminate_percent);
        let input = random_input(&mut random, config, id, &ops);
        let return_ms = call_ms + duration_ms;
        if indeterminate {
            // Took effect inside the timeout, much later, or never.
            match random.below(3) {
                0 => points.push((call_ms + random.below(TIMEOUT_MS), ops.len())),
                1 => points.push((call_ms + random.below(TIMEOUT_MS * 50), ops.len())),
                _ => {}
            }
        } else {
            points.push((call_ms + random.below(duration_ms + 1), ops.len()));
        }
        let gap_ms = random.below(config.latency_ms_max / 2 + 1);
        let client_free_ms = if indeterminate {
            call_ms + TIMEOUT_MS
        } else {
            return_ms
        };
        next_call_ms[client as usize] = client_free_ms + gap_ms;
        // Sequential: an indeterminate operation takes effect at once or never.
        if config.sequential {
            if indeterminate {
                if let Some(point) = points.last_mut().filter(|(_, index)| *index == ops.len()) {
                    point.0 = call_ms;
                }
            } else {
                points.last_mut().expect("just pushed").0 = call_ms;
            }
            sequential_clock_ms = return_ms + 1;
        }
        ops.push(Operation {
            id,
            client,
            call_ms,
            return_ms: (!indeterminate).then_some(return_ms),
            input,
            output: None,
        });
    }
    points.sort_unstable();
    let mut model = KvModel::default();
    for (_, index) in points {
        let output = model.apply(&ops[index].input);
        if ops[index].return_ms.is_some() {
            ops[index].output = Some(output);
        }
    }
    // Determinate operations that never took effect cannot exist; all got a point.
    History { ops }
}

fn random_input(
    random: &mut SplitMix64,
    config: &GenerateConfig,
    id: u64,
    earlier: &[Operation],
) -> Input {
    let key_name = |index: u64| format!("k{index:02}");
    let key = key_name(random.below(u64::from(config.keys)));
    let value = match config.value_pool {
        0 => format!("v{id}"),
        pool => format!("v{}", random.below(pool)),
    };
    if random.below(100) < u64::from(config.range_percent) {
        let start = random.below(u64::from(config.keys));
        let width = 1 + random.below(4);
        return Input::Range {
            start: key_name(start),
            end: key_name(start + width),
        };
    }
    match random.below(100) {
        0..=34 => Input::Put { key, value },
        35..=69 => Input::Get { key },
        70..=79 => Input::Delete { key },
        _ => {
            // Expect a recent value of the key, so both outcomes happen.
            let recent = earlier
                .iter()
                .rev()
                .take(20)
                .filter_map(|op| match &op.input {
                    Input::Put { key: k, value } if *k == key => Some(value.clone()),
                    Input::Cas { key: k, new, .. } if *k == key => Some(new.clone()),
                    _ => None,
                })
                .next();
            let expected = if random.below(4) == 0 { None } else { recent };
            Input::Cas {
                key,
                expected,
                new: value,
            }
        }
    }
}

/// Returns whether a determinate read in `history` can be made stale, and makes it:
/// a get of a key written by A, then B (B called after A returned), itself called
/// after B returned, is changed to return A's value. With unique values (a
/// `value_pool` of 0) the result is certainly not linearizable. Returns the read's id.
pub fn make_stale_read(history: &mut History) -> Option<u64> {
    let ops = &history.ops;
    let puts: Vec<&Operation> = ops
        .iter()
        .filter(|op| matches!(op.input, Input::Put { .. }) && op.return_ms.is_some())
        .collect();
    let (read_index, stale) = ops.iter().enumerate().find_map(|(index, read)| {
        let Input::Get { key } = &read.input else {
            return None;
        };
        read.return_ms?;
        let writes_of = |op: &&&Operation| op.input.key() == Some(key.as_str());
        let newer = puts
            .iter()
            .filter(writes_of)
            .filter(|b| b.return_ms.is_some_and(|r| r < read.call_ms))
            .max_by_key(|b| b.call_ms)?;
        let older = puts
            .iter()
            .filter(writes_of)
            .find(|a| a.return_ms.is_some_and(|r| r < newer.call_ms))?;
        let Input::Put { value, .. } = &older.input else {
            unreachable!("filtered to puts");
        };
        Some((index, value.clone()))
    })?;
    let read = &mut history.ops[read_index];
    read.output = Some(Output::Get(Some(stale)));
    Some(read.id)
}

/// The workload generator's randomness: cairn's one seeded generator.
pub use cairn_core::rng::SplitMix64;
