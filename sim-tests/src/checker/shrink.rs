//! Shrinking a failing partition to a sub-history a person can read.
//!
//! Delta debugging: cut everything called after the failed operation returned, then
//! try removing chunks of operations, halving the chunk size down to one, keeping a
//! removal whenever the rest still has no linearization. Each attempt is a full
//! re-check, paid from `CheckConfig::shrink_steps_max`; when that runs out, the
//! smallest failing history so far is the answer. The failed operation itself is
//! never removed.
//!
//! Removing a write can manufacture a *different*, trivial violation (a read of a
//! value nobody wrote any more), so a candidate must keep, for every operation that
//! saw a key present, at least one write that could explain it, if the original
//! partition had one ([`Explained`]).

use std::collections::BTreeMap;

use super::{first_failure, CheckConfig};
use crate::history::{Input, Key, Operation, Output, Value};

pub fn shrink(ops: &[Operation], failed: &Operation, config: &CheckConfig) -> Vec<Operation> {
    let mut budget = config.shrink_steps_max;
    let per_check = config.steps_max_per_partition;
    let original = Explained::of(ops);
    // A candidate must fail at the same operation: otherwise shrinking drifts to
    // some other, trivial failure that removing operations created.
    let still_fails = |candidate: &[Operation], budget: &mut u64| {
        first_failure(candidate, budget, per_check) == Some(failed.id)
    };
    let mut current: Vec<Operation> = ops.to_vec();
    current.sort_by_key(|op| (op.call_ms, op.id));

    // (An indeterminate write can be the one that failed: one that someone read
    // back must precede its readers. Then there is nothing to cut.)
    if let Some(failed_return_ms) = failed.return_ms {
        let truncated: Vec<Operation> = current
            .iter()
            .filter(|op| op.call_ms <= failed_return_ms)
            .cloned()
            .collect();
        if truncated.len() < current.len() && still_fails(&truncated, &mut budget) {
            current = truncated;
        }
    }

    // Halve the chunk size down to single operations, then sweep single operations
    // again while that still removes some (a removal can make another possible).
    let mut chunk = (current.len() / 2).max(1);
    while budget > 0 {
        let mut removed = false;
        let mut start = 0;
        while start < current.len() && budget > 0 {
            let end = (start + chunk).min(current.len());
            let candidate: Vec<Operation> = current
                .iter()
                .enumerate()
                .filter(|(index, op)| !(start..end).contains(index) || op.id == failed.id)
                .map(|(_, op)| op.clone())
                .collect();
            let shrinks = candidate.len() < current.len()
                && original.still_explained(&candidate)
                && still_fails(&candidate, &mut budget);
            if shrinks {
                current = candidate;
                removed = true;
            } else {
                start = end;
            }
        }
        if chunk > 1 {
            chunk /= 2;
        } else if !removed {
            break;
        }
    }
    current
}

/// Which observations of a present key have a write in the history to explain them:
/// the earliest call of a write of each (key, value) and of each key. A write can
/// explain an observation only if it was called before the observer returned.
#[derive(Debug)]
struct Explained {
    /// (key, value) pairs written, with the earliest call of such a write.
    written_pairs: BTreeMap<(Key, Value), u64>,
    /// Keys written, with the earliest call of a write to them.
    written_keys: BTreeMap<Key, u64>,
    /// Keys deleted, with the earliest call of a delete of them.
    deleted_keys: BTreeMap<Key, u64>,
}

impl Explained {
    fn of(ops: &[Operation]) -> Self {
        let mut explained = Explained {
            written_pairs: BTreeMap::new(),
            written_keys: BTreeMap::new(),
            deleted_keys: BTreeMap::new(),
        };
        for op in ops {
            if let Input::Delete { key } = &op.input {
                let call_ms = explained
                    .deleted_keys
                    .entry(key.clone())
                    .or_insert(u64::MAX);
                *call_ms = (*call_ms).min(op.call_ms);
            }
            let (key, value) = match &op.input {
                Input::Put { key, value } => (key, value),
                Input::Cas { key, new, .. } => (key, new),
                _ => continue,
            };
            let earliest = |call_ms: &mut u64| *call_ms = (*call_ms).min(op.call_ms);
            earliest(
                explained
                    .written_pairs
                    .entry((key.clone(), value.clone()))
                    .or_insert(u64::MAX),
            );
            earliest(
                explained
                    .written_keys
                    .entry(key.clone())
                    .or_insert(u64::MAX),
            );
        }
        explained
    }

    /// Whether every observation `self` (the original) could explain by a write,
    /// `candidate` can still explain by a write of its own.
    fn still_explained(&self, candidate: &[Operation]) -> bool {
        let kept = Explained::of(candidate);
        let in_time =
            |call_ms: Option<&u64>, by_ms: u64| call_ms.is_some_and(|&call| call <= by_ms);
        candidate.iter().all(|op| {
            let Some(return_ms) = op.return_ms else {
                return true;
            };
            let pair_kept = |key: &Key, value: &Value| {
                let pair = (key.clone(), value.clone());
                !in_time(self.written_pairs.get(&pair), return_ms)
                    || in_time(kept.written_pairs.get(&pair), return_ms)
            };
            let key_kept = |key: &Key| {
                !in_time(self.written_keys.get(key), return_ms)
                    || in_time(kept.written_keys.get(key), return_ms)
            };
            let delete_kept = |key: &Key| {
                !in_time(self.deleted_keys.get(key), return_ms)
                    || in_time(kept.deleted_keys.get(key), return_ms)
            };
            match (&op.input, &op.output) {
                (Input::Get { key }, Some(Output::Get(Some(value)))) => pair_kept(key, value),
                (Input::Get { key }, Some(Output::Get(None))) => delete_kept(key),
                (Input::Range { start, end }, Some(Output::Range(pairs))) => {
                    let absent_kept = self
                        .deleted_keys
                        .range::<Key, _>(start..end)
                        .filter(|(key, _)| !pairs.iter().any(|(seen, _)| seen == *key))
                        .all(|(key, _)| delete_kept(key));
                    absent_kept && pairs.iter().all(|(key, value)| pair_kept(key, value))
                }
                (
                    Input::Cas {
                        key,
                        expected: Some(expected),
                        ..
                    },
                    Some(Output::Cas { succeeded: true }),
                ) => pair_kept(key, expected),
                (
                    Input::Cas {
                        key,
                        expected: None,
                        ..
                    },
                    Some(Output::Cas { succeeded: false }),
                ) => key_kept(key),
                (Input::Delete { key }, Some(Output::Delete { deleted: 1 })) => key_kept(key),
                (Input::Delete { key }, Some(Output::Delete { deleted: 0 }))
                | (
                    Input::Cas {
                        key,
                        expected: None,
                        ..
                    },
                    Some(Output::Cas { succeeded: true }),
                ) => delete_kept(key),
                _ => true,
            }
        })
    }
}
