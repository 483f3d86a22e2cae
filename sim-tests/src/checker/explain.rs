//! Words for a violation: what the failed operation saw, what the model says it
//! should have seen after the longest linearizable prefix, and which writes to its
//! keys came before it or overlapped it, so a reader can see the contradiction
//! without replaying the search.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::model::KvModel;
use crate::history::{Input, Key, Operation, Output, Value};

/// Earlier writes listed per key (the latest ones).
const EARLIER_WRITES_MAX: usize = 3;
/// Concurrent writes listed per key.
const CONCURRENT_WRITES_MAX: usize = 8;
/// Keys of a range described.
const RANGE_KEYS_MAX: usize = 5;

/// Explains why `failed` could not follow `prefix`; `ops` is its whole partition.
pub fn explain(ops: &[Operation], prefix: &[Operation], failed: &Operation) -> String {
    let done: BTreeSet<u64> = prefix.iter().map(|op| op.id).collect();
    // Operations that returned before `failed` was called must precede it.
    let mut before: Vec<&Operation> = ops
        .iter()
        .filter(|op| !done.contains(&op.id))
        .filter(|op| op.return_ms.is_some_and(|r| r < failed.call_ms))
        .collect();
    before.sort_by_key(|op| (op.return_ms, op.id));
    let mut model = KvModel::default();
    for op in prefix.iter().chain(before.iter().copied()) {
        model.apply(&op.input);
    }
    let mut text = String::new();
    let _ = writeln!(text, "{failed} cannot be linearized.");
    let answer = model.clone().apply(&failed.input);
    let then = match before.len() {
        0 => String::new(),
        count => format!(" and the {count} operation(s) that returned before its call"),
    };
    let _ = writeln!(
        text,
        "After the longest linearizable prefix found ({} of {} operations on these keys){then}, \
         the model would answer {answer}.",
        prefix.len(),
        ops.len()
    );
    describe_unread(&mut text, ops, prefix, failed, &model);
    for key in keys_to_describe(ops, failed, &model) {
        describe_key(&mut text, ops, failed, &model, &key);
    }
    text
}

/// A write can fail although its output fits: it would destroy a value that
/// operations still to come read back, and nobody else writes that value.
fn describe_unread(
    text: &mut String,
    ops: &[Operation],
    prefix: &[Operation],
    failed: &Operation,
    model: &KvModel,
) {
    let Some(key) = failed.input.key().filter(|_| failed.input.is_write()) else {
        return;
    };
    let Some(value) = model.entries.get(key) else {
        return;
    };
    let done: BTreeSet<u64> = prefix.iter().map(|op| op.id).collect();
    let readers: Vec<&Operation> = ops
        .iter()
        .filter(|op| !done.contains(&op.id) && op.id != failed.id)
        .filter(|op| op.output.is_some() && observed_value(op, key) == Some(value))
        .collect();
    if readers.is_empty() {
        return;
    }
    let _ = writeln!(
        text,
        "It would replace {key}={value}, which {} later operation(s) still read:",
        readers.len()
    );
    for op in readers.iter().take(CONCURRENT_WRITES_MAX) {
        let _ = writeln!(text, "    {op}");
    }
}

/// The failed operation's key, or for a range the keys where its answer and the
/// model's disagree (all of its keys if none do).
fn keys_to_describe(ops: &[Operation], failed: &Operation, model: &KvModel) -> Vec<Key> {
    if let Some(key) = failed.input.key() {
        return vec![key.to_string()];
    }
    let Input::Range { start, end } = &failed.input else {
        unreachable!("only a range has no single key");
    };
    let seen: Vec<(Key, Value)> = match &failed.output {
        Some(Output::Range(pairs)) => pairs.clone(),
        _ => Vec::new(),
    };
    let in_range: BTreeSet<Key> = ops
        .iter()
        .filter_map(|op| op.input.key())
        .chain(seen.iter().map(|(key, _)| key.as_str()))
        .filter(|key| start.as_str() <= *key && *key < end.as_str())
        .map(str::to_string)
        .collect();
    let differing: Vec<Key> = in_range
        .iter()
        .filter(|key| {
            let seen_value = seen.iter().find(|(k, _)| k == *key).map(|(_, v)| v);
            seen_value != model.entries.get(*key)
        })
        .cloned()
        .collect();
    let keys = if differing.is_empty() {
        in_range.into_iter().collect()
    } else {
        differing
    };
    keys.into_iter().take(RANGE_KEYS_MAX).collect()
}

fn describe_key(
    text: &mut String,
    ops: &[Operation],
    failed: &Operation,
    model: &KvModel,
    key: &str,
) {
    let writes: Vec<&Operation> = ops
        .iter()
        .filter(|op| op.input.is_write() && op.input.key() == Some(key) && op.id != failed.id)
        .collect();
    let state = model.entries.get(key).map_or("absent", String::as_str);
    let _ = writeln!(text, "Key {key}: {state} by then.");

    let mut earlier: Vec<&Operation> = writes
        .iter()
        .copied()
        .filter(|op| op.return_ms.is_some_and(|r| r < failed.call_ms))
        .collect();
    earlier.sort_by_key(|op| (op.return_ms, op.id));
    let skipped = earlier.len().saturating_sub(EARLIER_WRITES_MAX);
    if earlier.is_empty() {
        let _ = writeln!(text, "  No write to {key} returned before its call.");
    } else {
        let _ = writeln!(
            text,
            "  Writes to {key} that returned before its call ({} in all, latest last):",
            earlier.len()
        );
        for op in &earlier[skipped..] {
            let _ = writeln!(text, "    {op}");
        }
    }

    let concurrent: Vec<&Operation> = writes
        .iter()
        .copied()
        .filter(|op| op.overlaps(failed))
        .collect();
    if concurrent.is_empty() {
        let _ = writeln!(text, "  No write to {key} overlaps it.");
    } else {
        let _ = writeln!(
            text,
            "  Writes to {key} overlapping it ({}):",
            concurrent.len()
        );
        for op in concurrent.iter().take(CONCURRENT_WRITES_MAX) {
            let _ = writeln!(text, "    {op}");
        }
    }

    if let Some(value) = observed_value(failed, key) {
        let writers: Vec<&&Operation> = writes
            .iter()
            .filter(|op| written_value(op) == Some(value))
            .collect();
        match writers.as_slice() {
            [] => {
                let _ = writeln!(text, "  No operation writes {value} to {key}.");
            }
            writers => {
                for op in writers.iter().take(CONCURRENT_WRITES_MAX) {
                    let _ = writeln!(text, "  {value} was written by {op}");
                }
            }
        }
    }
}

/// The value of `key` that `op`'s output says it saw, if it says one.
fn observed_value<'a>(op: &'a Operation, key: &str) -> Option<&'a str> {
    match (&op.input, &op.output) {
        (_, Some(Output::Get(Some(value)))) => Some(value),
        (
            Input::Cas {
                expected: Some(expected),
                ..
            },
            Some(Output::Cas { succeeded: true }),
        ) => Some(expected),
        (_, Some(Output::Range(pairs))) => pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str()),
        _ => None,
    }
}

fn written_value(op: &Operation) -> Option<&str> {
    match &op.input {
        Input::Put { value, .. } => Some(value),
        Input::Cas { new, .. } => Some(new),
        _ => None,
    }
}
