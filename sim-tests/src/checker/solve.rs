//! Deciding one partition: each key alone first, then all its keys together.
//!
//! A partition with several keys exists only because ranges tie keys together, and
//! searching it whole has a weakness: a wrong guess about the order of two writes
//! to one key may only show many operations later, and backtracking to it means
//! trying every interleaving of the unrelated keys' operations in between
//! (2^clients configurations per level). So:
//!
//! 1. Each key is checked alone, with every range covering it reduced to a get of
//!    that key. This is a necessary condition (restricting a linearization of the
//!    partition to one key gives a linearization of that key's history), so a key
//!    that fails is a violation, reported on that key alone: the smallest window.
//! 2. The per-key linearizations give each operation a hint: the earliest time it
//!    could have taken effect in its key's order (for a range, the latest over its
//!    keys). The whole-partition search tries candidates in hint order, so it starts
//!    from write orders that agree with what every key's readers saw, and only
//!    range-consistency across keys is left for it to find.

use std::collections::BTreeMap;

use super::compiled::compile;
use super::partition::Partition;
use super::search::{search, Outcome};
use crate::history::{Input, Key, Operation, Output};

/// How deciding a partition ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Linearizable,
    /// `keys`: the keys whose history has no linearization (one key, or all the
    /// partition's); `prefix`: the longest linearizable prefix found; `failed`: the
    /// operation that could not follow it.
    Violation {
        keys: Vec<Key>,
        prefix: Vec<Operation>,
        failed: Operation,
    },
    BudgetExceeded,
}

/// Decides `partition` in at most `steps_max` search steps; also returns the steps
/// spent.
pub fn decide(partition: &Partition, steps_max: u64) -> (Decision, u64) {
    let mut steps = 0;
    let mut hints = None;
    if partition.keys.len() > 1 {
        let mut orders: Vec<Vec<Linearized>> = Vec::with_capacity(partition.keys.len());
        for key in &partition.keys {
            let projected = project(partition, key);
            match run(&projected, steps_max - steps, &mut steps) {
                Run::Linearizable(order) => orders.push(order),
                Run::Violation(decision) => return (map_to(partition, decision), steps),
                Run::BudgetExceeded => return (Decision::BudgetExceeded, steps),
            }
        }
        hints = Some(earliest_points(&orders));
    }
    let mut compiled = compile(partition);
    if let Some(points) = &hints {
        for (op, &index) in compiled.ops.iter_mut().zip(&compiled.order) {
            op.priority = points
                .get(&partition.ops[index].id)
                .copied()
                .unwrap_or(u64::MAX);
        }
    }
    let result = search(&compiled, steps_max - steps);
    steps += result.steps;
    let decision = match result.outcome {
        Outcome::Linearizable { .. } => Decision::Linearizable,
        Outcome::BudgetExceeded => Decision::BudgetExceeded,
        Outcome::Violation { prefix, blocked } => {
            let original = |index: usize| partition.ops[compiled.order[index]].clone();
            Decision::Violation {
                keys: partition.keys.clone(),
                prefix: prefix.into_iter().map(original).collect(),
                failed: original(blocked),
            }
        }
    };
    (decision, steps)
}

/// An operation of a per-key linearization.
struct Linearized {
    op: Operation,
    /// See [`super::compiled::CompiledOp::flexible`].
    flexible: bool,
}

enum Run {
    /// The operations in linearization order.
    Linearizable(Vec<Linearized>),
    Violation(Decision),
    BudgetExceeded,
}

fn run(partition: &Partition, steps_max: u64, steps: &mut u64) -> Run {
    let compiled = compile(partition);

    let result = search(&compiled, steps_max);
    *steps += result.steps;
    let original = |index: usize| partition.ops[compiled.order[index]].clone();
    match result.outcome {
        Outcome::Linearizable { order } => {
            let linearized = |index: usize| Linearized {
                op: original(index),
                flexible: compiled.ops[index].flexible,
            };
            Run::Linearizable(order.into_iter().map(linearized).collect())
        }
        Outcome::BudgetExceeded => Run::BudgetExceeded,
        Outcome::Violation { prefix, blocked } => Run::Violation(Decision::Violation {
            keys: partition.keys.clone(),
            prefix: prefix.into_iter().map(original).collect(),
            failed: original(blocked),
        }),
    }
}

/// `key`'s own operations, plus every range covering it as a get of `key`.
fn project(partition: &Partition, key: &Key) -> Partition {
    let ops = partition
        .ops
        .iter()
        .filter_map(|op| match (&op.input, &op.output) {
            (Input::Range { start, end }, output) => {
                if !(start <= key && key < end) {
                    return None;
                }
                let value = match output {
                    Some(Output::Range(pairs)) => pairs
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, value)| value.clone()),
                    _ => None,
                };
                Some(Operation {
                    input: Input::Get { key: key.clone() },
                    output: output.as_ref().map(|_| Output::Get(value)),
                    ..op.clone()
                })
            }
            (input, _) => (input.key() == Some(key.as_str())).then(|| op.clone()),
        })
        .collect();
    Partition {
        keys: vec![key.clone()],
        ops,
    }
}

/// Merges the per-key orders into one schedule: each determinate operation gets
/// the earliest time that is no earlier than its call and later than its
/// predecessor in every key's order (a longest path through the union of the
/// orders), so a range gets one time that fits all its keys. If the orders
/// disagree (a cycle: ranges placed inconsistently across keys), the cycle is
/// broken at the operation that is earliest by its own keys alone; the search sorts
/// out the rest. A flexible operation is scheduled just before the determinate
/// operation that follows it in its key's order: the search only accepts it there.
fn earliest_points(orders: &[Vec<Linearized>]) -> BTreeMap<u64, u64> {
    // Times are in units of 2^-20 ms, so operations that share a millisecond keep
    // their order, and doubled, to fit flexible operations in between.
    const UNITS_PER_MS: u64 = 1 << 20;
    let start = |op: &Operation| op.call_ms.saturating_mul(UNITS_PER_MS);
    let determinate = orders
        .iter()
        .flatten()
        .filter(|linearized| !linearized.flexible)
        .map(|linearized| &linearized.op);
    let mut node_of: BTreeMap<u64, usize> = BTreeMap::new();
    let mut ids: Vec<u64> = Vec::new();
    let mut time: Vec<u64> = Vec::new();
    for op in determinate {
        node_of.entry(op.id).or_insert_with(|| {
            ids.push(op.id);
            time.push(start(op));
            ids.len() - 1
        });
    }
    let count = ids.len();
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut waiting_for = vec![0_usize; count];
    // Fallback order for breaking cycles: the earliest point along each key alone.
    let mut alone = vec![0_u64; count];
    for order in orders {
        // Within one key, writes are ordered, and each read lies between the write
        // it saw and the next one; reads between the same two writes may go in any
        // order (ordering them anyway would invent cycles across keys). A flexible
        // write in between does separate them.
        let mut before: Vec<usize> = Vec::new();
        let mut reads: Vec<usize> = Vec::new();
        let mut alone_time = 0;
        for linearized in order {
            if linearized.flexible {
                if !reads.is_empty() {
                    before = std::mem::take(&mut reads);
                }
                continue;
            }
            let op = &linearized.op;
            let node = node_of[&op.id];
            alone_time = (alone_time + 1).max(start(op));
            alone[node] = alone[node].max(alone_time);
            let mut edge = |from: &usize| {
                successors[*from].push(node);
                waiting_for[node] += 1;
            };
            before.iter().for_each(&mut edge);
            if is_read(op) {
                reads.push(node);
            } else {
                reads.iter().for_each(&mut edge);
                reads.clear();
                before = vec![node];
            }
        }
    }
    let mut by_alone: Vec<usize> = (0..count).collect();
    by_alone.sort_by_key(|&node| (alone[node], node));
    let mut fallback = by_alone.into_iter();

    let mut done = vec![false; count];
    let mut ready: Vec<usize> = (0..count).filter(|&node| waiting_for[node] == 0).collect();
    let mut finished = 0;
    while finished < count {
        let node = match ready.pop() {
            Some(node) => node,
            None => fallback
                .by_ref()
                .find(|&node| !done[node])
                .expect("unfinished nodes remain"),
        };
        if done[node] {
            continue;
        }
        done[node] = true;
        finished += 1;
        for &next in &successors[node] {
            time[next] = time[next].max(time[node] + 1);
            waiting_for[next] = waiting_for[next].saturating_sub(1);
            if waiting_for[next] == 0 && !done[next] {
                ready.push(next);
            }
        }
    }
    let mut points: BTreeMap<u64, u64> = ids
        .into_iter()
        .zip(time.iter().map(|time| 2 * time))
        .collect();
    for order in orders {
        let mut next_point = u64::MAX;
        for linearized in order.iter().rev() {
            if linearized.flexible {
                points.insert(linearized.op.id, next_point.saturating_sub(1));
            } else {
                next_point = points[&linearized.op.id];
            }
        }
    }
    points
}

/// Whether `op` left its key as it found it (known from its output).
fn is_read(op: &Operation) -> bool {
    matches!(
        op.output,
        Some(Output::Get(_) | Output::Range(_))
            | Some(Output::Cas { succeeded: false })
            | Some(Output::Delete { deleted: 0 })
    )
}

/// Replaces the projected operations of a per-key violation by the partition's own
/// (a range, not the get it was reduced to).
fn map_to(partition: &Partition, decision: Decision) -> Decision {
    let Decision::Violation {
        keys,
        prefix,
        failed,
    } = decision
    else {
        return decision;
    };
    let by_id: BTreeMap<u64, &Operation> = partition.ops.iter().map(|op| (op.id, op)).collect();
    let original = |op: Operation| by_id[&op.id].clone();
    Decision::Violation {
        keys,
        prefix: prefix.into_iter().map(original).collect(),
        failed: original(failed),
    }
}
