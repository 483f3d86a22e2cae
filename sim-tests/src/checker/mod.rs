//! Linearizability checking of client histories against the etcd KV model.
//!
//! The history is split into parts that share no keys ([`partition`]). Each part is
//! compiled to integers (`compiled`, with the model's rules in `step`) and decided
//! (`solve`): every key alone first, then, if ranges tie keys together, all of them
//! at once, guided by the per-key answers. The search itself (`search`) is Wing &
//! Gong's with Lowe's memoization, as in porcupine, plus rules that keep
//! indeterminate writes and slow readers cheap. A part that has no linearization is
//! reported with the longest linearizable prefix the search found, the operation
//! it could not get past, the operations concurrent with that one, an explanation
//! (`explain`), and a smaller sub-history that still fails there (`shrink`).
//!
//! Indeterminate operations (unknown outcome) are handled as the history format
//! promises: an indeterminate read constrains nothing and is dropped; an
//! indeterminate write returns at +∞ and its output is not checked, so it may take
//! effect at any point after its call, or, equivalently, at the very end. Values
//! are not assumed unique: where uniqueness helps, it is checked first.
//!
//! Everything is bounded: each part's search has a step budget and shrinking has
//! its own, so a pathological history yields [`CheckResult::Unknown`], not a hang.
//! Results depend only on the history and the configuration (no clocks, no
//! iteration over hash maps).
//!
//! `tests/checker_brute_force.rs` compares all of it with exhaustive enumeration.

mod cache;
mod compiled;
mod explain;
pub mod generate;
pub mod model;
pub mod partition;
mod search;
mod shrink;
mod solve;
mod step;

use std::fmt;

use crate::history::{History, Key, Operation};
use partition::{partition, Partition};
use solve::{decide, Decision};

/// Limits for [`check_with`]. Budgets count steps: attempts to apply one operation
/// to the model, each well under a microsecond in a release build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckConfig {
    /// Search steps allowed per partition before giving up with `Unknown`. The
    /// search remembers a configuration per successful step, so this also bounds
    /// memory: roughly `steps_max_per_partition * (40 + 4 * keys)` bytes.
    pub steps_max_per_partition: u64,
    /// Search steps allowed for shrinking a violation, over all re-checks.
    pub shrink_steps_max: u64,
}

impl Default for CheckConfig {
    /// A linearizable history of 5,000 operations from 10 concurrent clients over 20
    /// keys takes about 20,000 steps; one hot key with 40% of its writes lost takes
    /// up to 500,000. These defaults leave room above that, take a second or two in
    /// release when spent, and bound the search's memory to a few hundred megabytes.
    fn default() -> Self {
        CheckConfig {
            steps_max_per_partition: 2_000_000,
            shrink_steps_max: 1_000_000,
        }
    }
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one verdict per check; boxing would only make callers dereference"
)]
pub enum CheckResult {
    /// Every partition has a linearization.
    Ok,
    /// Some partition has none.
    Violation(Violation),
    /// No violation found, but some partition's search ran out of budget.
    Unknown,
}

/// Evidence that a partition of the history has no linearization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The keys of the partition that failed, sorted.
    pub keys: Vec<Key>,
    /// The longest linearizable prefix the search found, in linearization order.
    pub prefix: Vec<Operation>,
    /// The operation that could not be linearized after `prefix`.
    pub failed: Operation,
    /// Operations of the partition whose real-time intervals overlap `failed`'s.
    pub concurrent: Vec<Operation>,
    /// A sub-history of the partition that still fails, in call order: as small as
    /// the shrink budget allowed.
    pub minimal: Vec<Operation>,
    /// What went wrong, in words.
    pub explanation: String,
}

/// [`check_with`] with the default limits.
pub fn check(history: &History) -> CheckResult {
    check_with(history, &CheckConfig::default())
}

/// Checks `history` for linearizability against the etcd KV model.
///
/// Panics if the history is malformed (an output that does not answer its input, a
/// return before its call, an output without a return time or the reverse): that
/// is a bug in whatever recorded it.
pub fn check_with(history: &History, config: &CheckConfig) -> CheckResult {
    let ops = relevant_operations(history);
    let mut budget_exceeded = false;
    for part in partition(&ops) {
        match decide(&part, config.steps_max_per_partition).0 {
            Decision::Linearizable => {}
            Decision::BudgetExceeded => budget_exceeded = true,
            Decision::Violation {
                keys,
                prefix,
                failed,
            } => return CheckResult::Violation(report(&part, keys, prefix, failed, config)),
        }
    }
    if budget_exceeded {
        CheckResult::Unknown
    } else {
        CheckResult::Ok
    }
}

/// Validates the history and drops indeterminate reads, which constrain nothing.
fn relevant_operations(history: &History) -> Vec<Operation> {
    let mut ids = std::collections::BTreeSet::new();
    for op in &history.ops {
        assert!(
            ids.insert(op.id),
            "malformed history: operation id {} is used twice",
            op.id
        );
        assert_eq!(
            op.return_ms.is_none(),
            op.output.is_none(),
            "malformed history: return time and output must both be known or both unknown: {op}"
        );
        if let (Some(return_ms), Some(output)) = (op.return_ms, &op.output) {
            assert!(
                return_ms >= op.call_ms,
                "malformed history: returns before its call: {op}"
            );
            assert!(
                op.input.matches(output),
                "malformed history: output does not answer the input: {op}"
            );
        }
    }
    history
        .ops
        .iter()
        .filter(|op| op.input.is_write() || !op.is_indeterminate())
        .cloned()
        .collect()
}

/// Builds the evidence for a violation found on `keys` of `part`. Everything is
/// said about the window of operations touching those keys (one key, when a key
/// fails alone); shrinking works on that window with range outputs cut down to
/// those keys, so what it keeps fails for the same reason, and reports the
/// operations as recorded.
fn report(
    part: &Partition,
    keys: Vec<Key>,
    prefix: Vec<Operation>,
    failed: Operation,
    config: &CheckConfig,
) -> Violation {
    let window: Vec<Operation> = part
        .ops
        .iter()
        .filter(|op| partition::touches(op, &keys))
        .cloned()
        .collect();
    let mut concurrent: Vec<Operation> = window
        .iter()
        .filter(|op| op.id != failed.id && op.overlaps(&failed))
        .cloned()
        .collect();
    concurrent.sort_by_key(|op| (op.call_ms, op.id));
    let explanation = explain::explain(&window, &prefix, &failed);
    let restricted: Vec<Operation> = window
        .iter()
        .map(|op| partition::restrict(op, &keys))
        .collect();
    let recorded: std::collections::BTreeMap<u64, &Operation> =
        window.iter().map(|op| (op.id, op)).collect();
    let minimal = shrink::shrink(&restricted, &failed, config)
        .into_iter()
        .map(|op| recorded[&op.id].clone())
        .collect();
    Violation {
        keys,
        prefix,
        failed,
        concurrent,
        minimal,
        explanation,
    }
}

/// The operation that could not be linearized, if some partition of `ops`
/// (already validated) has no linearization, spending at most `budget` steps
/// (deducted from it).
fn first_failure(ops: &[Operation], budget: &mut u64, steps_max_per_partition: u64) -> Option<u64> {
    for part in partition(ops) {
        let (decision, steps) = decide(&part, steps_max_per_partition.min(*budget));
        *budget -= steps;
        if let Decision::Violation { failed, .. } = decision {
            return Some(failed.id);
        }
    }
    None
}

/// Operations shown in full by `Display` before eliding the rest.
const DISPLAY_OPS_MAX: usize = 20;

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "linearizability violation on keys [{}]",
            self.keys.join(", ")
        )?;
        writeln!(f, "{}", self.explanation.trim_end())?;
        let concurrent = &self.concurrent;
        if concurrent.is_empty() {
            writeln!(f, "concurrent with it: none")?;
        } else {
            writeln!(f, "concurrent with it ({}):", concurrent.len())?;
            write_ops(f, concurrent.iter().take(DISPLAY_OPS_MAX), concurrent.len())?;
        }
        let prefix = &self.prefix;
        let skipped = prefix.len().saturating_sub(DISPLAY_OPS_MAX);
        writeln!(
            f,
            "longest linearizable prefix ({} ops{}):",
            prefix.len(),
            if skipped > 0 { ", the last shown" } else { "" }
        )?;
        write_ops(f, prefix.iter().skip(skipped), prefix.len())?;
        writeln!(f, "minimal failing history ({} ops):", self.minimal.len())?;
        write_ops(
            f,
            self.minimal.iter().take(DISPLAY_OPS_MAX * 2),
            self.minimal.len(),
        )
    }
}

fn write_ops<'a>(
    f: &mut fmt::Formatter<'_>,
    ops: impl Iterator<Item = &'a Operation>,
    total: usize,
) -> fmt::Result {
    let mut shown = 0;
    for op in ops {
        writeln!(f, "  {op}")?;
        shown += 1;
    }
    if shown < total {
        writeln!(f, "  … {} more", total - shown)?;
    }
    Ok(())
}
