//! Splitting a history into independently checkable parts (P-compositionality).
//!
//! Linearizability is local: a history is linearizable iff its restriction to each
//! object is. Here an "object" is a set of keys that operations tie together: a
//! single-key operation touches its key, and a range touches every key inside its
//! interval that any operation of the history names (its own output included).
//! Keys touched by one operation end up in one part (union-find), so each part can be
//! searched alone, and the search cost grows with the largest part, not the history.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Input, Key, Operation, Output};

/// Operations that share keys, with the keys they touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Sorted.
    pub keys: Vec<Key>,
    /// In the order of the input.
    pub ops: Vec<Operation>,
}

/// Splits `ops` into parts. Parts come in the order of their first operation in `ops`,
/// so the split is a deterministic function of the input.
pub fn partition(ops: &[Operation]) -> Vec<Partition> {
    let all_keys = named_keys(ops);
    let index: BTreeMap<&str, usize> = all_keys
        .iter()
        .enumerate()
        .map(|(position, key)| (key.as_str(), position))
        .collect();
    let touched: Vec<Vec<usize>> = ops
        .iter()
        .map(|op| touched_keys(op, &all_keys, &index))
        .collect();

    let mut sets = UnionFind::new(all_keys.len());
    for keys in &touched {
        for pair in keys.windows(2) {
            sets.union(pair[0], pair[1]);
        }
    }

    // Part number by union-find root; operations touching no key get a part each.
    let mut part_of_root: BTreeMap<usize, usize> = BTreeMap::new();
    let mut parts: Vec<Partition> = Vec::new();
    for (op, keys) in ops.iter().zip(&touched) {
        let part = match keys.first() {
            Some(&key) => *part_of_root.entry(sets.find(key)).or_insert_with(|| {
                parts.push(Partition {
                    keys: Vec::new(),
                    ops: Vec::new(),
                });
                parts.len() - 1
            }),
            None => {
                parts.push(Partition {
                    keys: Vec::new(),
                    ops: Vec::new(),
                });
                parts.len() - 1
            }
        };
        parts[part].ops.push(op.clone());
    }
    for (position, key) in all_keys.iter().enumerate() {
        if let Some(&part) = part_of_root.get(&sets.find(position)) {
            parts[part].keys.push(key.clone());
        }
    }
    parts
}

/// Whether `op` reads or writes one of `keys` (sorted).
pub fn touches(op: &Operation, keys: &[Key]) -> bool {
    match &op.input {
        Input::Range { start, end } => {
            let first = keys.partition_point(|key| key < start);
            keys.get(first).is_some_and(|key| key < end)
        }
        input => {
            let key = input.key().expect("single-key input");
            keys.binary_search_by(|probe| probe.as_str().cmp(key))
                .is_ok()
        }
    }
}

/// `op` with a range's output cut down to `keys` (sorted): what it says about them.
pub fn restrict(op: &Operation, keys: &[Key]) -> Operation {
    let mut restricted = op.clone();
    if let Some(Output::Range(pairs)) = &mut restricted.output {
        pairs.retain(|(key, _)| keys.binary_search(key).is_ok());
    }
    restricted
}

/// Every key any operation names, sorted.
fn named_keys(ops: &[Operation]) -> Vec<Key> {
    let mut keys = BTreeSet::new();
    for op in ops {
        if let Some(key) = op.input.key() {
            keys.insert(key.to_string());
        }
        if let Some(Output::Range(pairs)) = &op.output {
            keys.extend(pairs.iter().map(|(key, _)| key.clone()));
        }
    }
    keys.into_iter().collect()
}

/// Positions in `all_keys` of the keys `op` touches, sorted.
fn touched_keys(op: &Operation, all_keys: &[Key], index: &BTreeMap<&str, usize>) -> Vec<usize> {
    match &op.input {
        Input::Range { start, end } => {
            let first = all_keys.partition_point(|key| key < start);
            let last = all_keys.partition_point(|key| key < end);
            (first..last.max(first)).collect()
        }
        input => {
            let key = input.key().expect("single-key input");
            vec![index[key]]
        }
    }
}

/// Disjoint sets over `0..len` with path halving.
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(len: usize) -> Self {
        UnionFind {
            parent: (0..len).collect(),
        }
    }

    fn find(&mut self, mut item: usize) -> usize {
        while self.parent[item] != item {
            self.parent[item] = self.parent[self.parent[item]];
            item = self.parent[item];
        }
        item
    }

    /// Keeps the smaller root, so roots do not depend on the order of unions.
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        let (low, high) = (a.min(b), a.max(b));
        self.parent[high] = low;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u64, input: Input, output: Output) -> Operation {
        Operation {
            id,
            client: 0,
            call_ms: id,
            return_ms: Some(id),
            input,
            output: Some(output),
        }
    }

    fn get(id: u64, key: &str) -> Operation {
        op(id, Input::Get { key: key.into() }, Output::Get(None))
    }

    fn ids(part: &Partition) -> Vec<u64> {
        part.ops.iter().map(|op| op.id).collect()
    }

    #[test]
    fn single_keys_split_and_ranges_join() {
        let range = |id, start: &str, end: &str, pairs: Vec<(Key, Key)>| {
            op(
                id,
                Input::Range {
                    start: start.into(),
                    end: end.into(),
                },
                Output::Range(pairs),
            )
        };
        let ops = vec![
            get(1, "b"),
            get(2, "a"),
            get(3, "d"),
            range(4, "a", "c", vec![]),
            get(5, "b"),
            range(6, "x", "z", vec![("y".into(), "1".into())]),
            range(7, "m", "n", vec![]),
        ];
        let parts = partition(&ops);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].keys, vec!["a", "b"]);
        assert_eq!(ids(&parts[0]), vec![1, 2, 4, 5]);
        assert_eq!(parts[1].keys, vec!["d"]);
        assert_eq!(ids(&parts[1]), vec![3]);
        assert_eq!(parts[2].keys, vec!["y"]);
        assert_eq!(ids(&parts[2]), vec![6]);
        assert!(parts[3].keys.is_empty());
        assert_eq!(ids(&parts[3]), vec![7]);
    }
}
