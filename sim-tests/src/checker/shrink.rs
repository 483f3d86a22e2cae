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

use std::collections::BTreeSet;

use super::{violates, CheckConfig};
use crate::history::{Input, Key, Operation, Output, Value};

pub fn shrink(ops: &[Operation], failed: &Operation, config: &CheckConfig) -> Vec<Operation> {
    let mut budget = config.shrink_steps_max;
    let per_check = config.steps_max_per_partition;
    let original = Explained::of(ops);
    let mut current: Vec<Operation> = ops.to_vec();
    current.sort_by_key(|op| (op.call_ms, op.id));

    let failed_return_ms = failed.return_ms.expect("a failed operation is determinate");
    let truncated: Vec<Operation> = current
        .iter()
        .filter(|op| op.call_ms <= failed_return_ms)
        .cloned()
        .collect();
    if truncated.len() < current.len() && violates(&truncated, &mut budget, per_check) {
        current = truncated;
    }

    let mut chunk = current.len() / 2;
    while chunk >= 1 && budget > 0 {
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
                && violates(&candidate, &mut budget, per_check);
            if shrinks {
                current = candidate;
            } else {
                start = end;
            }
        }
        chunk /= 2;
    }
    current
}

/// Which observations of a present key have a write in the history to explain them.
#[derive(Debug)]
struct Explained {
    /// (key, value) pairs some operation writes.
    written_pairs: BTreeSet<(Key, Value)>,
    /// Keys some operation writes a value to.
    written_keys: BTreeSet<Key>,
}

impl Explained {
    fn of(ops: &[Operation]) -> Self {
        let mut explained = Explained {
            written_pairs: BTreeSet::new(),
            written_keys: BTreeSet::new(),
        };
        for op in ops {
            let (key, value) = match &op.input {
                Input::Put { key, value } => (key, value),
                Input::Cas { key, new, .. } => (key, new),
                _ => continue,
            };
            explained.written_pairs.insert((key.clone(), value.clone()));
            explained.written_keys.insert(key.clone());
        }
        explained
    }

    /// Whether every observation `self` (the original) could explain by a write,
    /// `candidate` can still explain by a write of its own.
    fn still_explained(&self, candidate: &[Operation]) -> bool {
        let kept = Explained::of(candidate);
        let pair_kept = |key: &Key, value: &Value| {
            let pair = (key.clone(), value.clone());
            !self.written_pairs.contains(&pair) || kept.written_pairs.contains(&pair)
        };
        let key_kept =
            |key: &Key| !self.written_keys.contains(key) || kept.written_keys.contains(key);
        candidate.iter().all(|op| match (&op.input, &op.output) {
            (Input::Get { key }, Some(Output::Get(Some(value)))) => pair_kept(key, value),
            (_, Some(Output::Range(pairs))) => {
                pairs.iter().all(|(key, value)| pair_kept(key, value))
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
            _ => true,
        })
    }
}
