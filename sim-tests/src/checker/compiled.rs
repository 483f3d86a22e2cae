//! One partition turned into numbers, so the search can step, undo and hash cheaply.
//!
//! Each operation becomes a [`CompiledOp`]: its [`Step`], its real-time interval,
//! and what the search needs to know about it. Indeterminate writes get special
//! treatment, explained on [`CompiledOp::flexible`]; values nobody reads back are
//! merged (`anonymize_unread_values`); values read back are pinned ([`Pins`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::partition::Partition;
use super::step::{Expect, KeyId, Step, ValueId, ABSENT, ANONYMOUS, UNOBSERVED_WRITE};
use crate::history::{Input, Operation, Output};

/// One operation of a partition, ready for the search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledOp {
    pub step: Step,
    pub call_ms: u64,
    /// `u64::MAX` for a flexible operation.
    pub return_ms: u64,
    /// An indeterminate write whose effect nobody is known to have observed: it may
    /// take effect at any point after its call, or never, which is the same as at the
    /// very end. The search therefore never has to linearize it (a linearization of
    /// everything else can be completed by appending it) and an explored state with
    /// fewer flexible operations linearized dominates one with more (see `search`).
    ///
    /// An indeterminate write of a value that is unique among writes to its key and
    /// that a determinate operation did observe is *not* flexible: it must precede its
    /// observers, so its return time is tightened to the earliest observer's return.
    /// This is sound whatever the values are (uniqueness is checked here, not assumed)
    /// and spares the search from trying such writes everywhere.
    pub flexible: bool,
    /// The outcome is unknown (flexible or not): any output is accepted, and the
    /// search places the operation only where something uses its write (see
    /// [`Step::apply`]). A non-flexible indeterminate write still has to precede
    /// its observers, and in every valid order the operation right after it on its
    /// key reads its value (no one else writes that value), so it can always be
    /// placed just before that reader.
    pub indeterminate: bool,
    /// Candidates are tried lowest first. By default the return time (what must
    /// happen soonest goes first), flexible operations last; hints from per-key
    /// linearizations replace it (see `solve`).
    pub priority: u64,
    /// Flexible operations with the same class have identical steps, so using one
    /// or another (all called already) leads to equivalent configurations: the
    /// search tries only the first. `u32::MAX` for determinate operations.
    pub class: u32,
    /// The pins ([`Compiled::pins`]) whose values this operation reads exactly.
    pub reads: Vec<u32>,
}

/// A partition as numbers. `ops[i]` is `partition.ops[order[i]]`, in call order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    pub ops: Vec<CompiledOp>,
    /// Index into the partition's operations of each compiled operation.
    pub order: Vec<usize>,
    pub key_count: usize,
    /// Values that must stay in place until all their readers have read them.
    pub pins: Pins,
}

/// A value written by exactly one operation and read back (exactly: a get or
/// range that returns it, a cas that expects it and succeeds) by determinate
/// operations must be present from that write until the last of those readers
/// takes effect: nobody else can write it back. So the search refuses to change
/// such a value while readers are still to come, and a wrong guess about the
/// order of a write and a slow reader shows at the write, not many operations
/// later. Values written by several operations are not pinned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pins {
    /// By value: the pin of that value, or `NO_PIN`. A pinned value is written to
    /// one key only.
    pub of_value: Vec<u32>,
    /// By pin: its key.
    pub key: Vec<KeyId>,
    /// By pin: how many determinate operations read it.
    pub readers: Vec<u32>,
    /// By pin: those operations (indices into `Compiled::ops`).
    pub readers_of: Vec<Vec<u32>>,
}

pub const NO_PIN: u32 = u32::MAX;

impl Pins {
    /// The pin on `value` at `key`, if any.
    pub fn of(&self, key: KeyId, value: ValueId) -> Option<usize> {
        let pin = *self.of_value.get(value as usize)?;
        (pin != NO_PIN && self.key[pin as usize] == key).then_some(pin as usize)
    }
}

/// Compiles `partition`; its keys must be sorted and include every key its
/// operations touch (as [`super::partition::partition`] produces).
pub fn compile(partition: &Partition) -> Compiled {
    let mut order: Vec<usize> = (0..partition.ops.len()).collect();
    order.sort_by_key(|&index| (partition.ops[index].call_ms, partition.ops[index].id));
    let mut interner = Interner::new(&partition.keys);
    let mut ops: Vec<CompiledOp> = order
        .iter()
        .map(|&index| {
            let op = &partition.ops[index];
            CompiledOp {
                step: interner.step(op),
                call_ms: op.call_ms,
                return_ms: op.return_ms.unwrap_or(u64::MAX),
                flexible: op.return_ms.is_none(),
                indeterminate: op.return_ms.is_none(),
                priority: op.return_ms.unwrap_or(u64::MAX),
                class: u32::MAX,
                reads: Vec::new(),
            }
        })
        .collect();
    tighten_observed_writes(&mut ops);
    anonymize_unread_values(&mut ops);
    classify_flexible(&mut ops);
    let pins = pin_read_values(&mut ops);
    Compiled {
        ops,
        order,
        key_count: partition.keys.len(),
        pins,
    }
}

/// Written values that no operation ever compares with on their key (no get or
/// range returns them, no cas expects them) are indistinguishable to the model, so
/// they all become `ANONYMOUS`. The quotient behaves exactly like the original, and
/// lost writes of such values become interchangeable (see `classify_flexible`).
fn anonymize_unread_values(ops: &mut [CompiledOp]) {
    let mut compared: BTreeSet<(KeyId, ValueId)> = BTreeSet::new();
    for op in ops.iter() {
        match &op.step {
            Step::Get {
                key,
                value: Expect::Exactly(value),
            } => {
                compared.insert((*key, *value));
            }
            Step::Cas { key, expected, .. } => {
                compared.insert((*key, *expected));
            }
            Step::Range {
                pairs: Expect::Exactly(pairs),
                ..
            } => compared.extend(pairs.iter().copied()),
            _ => {}
        }
    }
    for op in ops.iter_mut() {
        if let Step::Put { key, value }
        | Step::Cas {
            key, new: value, ..
        } = &mut op.step
        {
            if !compared.contains(&(*key, *value)) {
                *value = ANONYMOUS;
            }
        }
    }
}

/// See [`Pins`]; fills in [`CompiledOp::reads`].
fn pin_read_values(ops: &mut [CompiledOp]) -> Pins {
    let mut writers: BTreeMap<ValueId, (usize, KeyId)> = BTreeMap::new();
    for op in ops.iter() {
        if let Some((key, value)) = op.step.writes() {
            let entry = writers.entry(value).or_insert((0, key));
            entry.0 += 1;
        }
    }
    let mut pins = Pins::default();
    for (index, op) in ops
        .iter_mut()
        .enumerate()
        .filter(|(_, op)| !op.indeterminate)
    {
        for (key, value) in op.step.reads_exactly() {
            if value == ANONYMOUS || writers.get(&value) != Some(&(1, key)) {
                continue;
            }
            if pins.of_value.len() <= value as usize {
                pins.of_value.resize(value as usize + 1, NO_PIN);
            }
            if pins.of_value[value as usize] == NO_PIN {
                pins.of_value[value as usize] = pins.key.len() as u32;
                pins.key.push(key);
                pins.readers.push(0);
                pins.readers_of.push(Vec::new());
            }
            let pin = pins.of_value[value as usize];
            pins.readers[pin as usize] += 1;
            pins.readers_of[pin as usize].push(index as u32);
            op.reads.push(pin);
        }
    }
    pins
}

/// See [`CompiledOp::class`].
fn classify_flexible(ops: &mut [CompiledOp]) {
    let mut classes: BTreeMap<(u8, KeyId, ValueId, ValueId), u32> = BTreeMap::new();
    for op in ops.iter_mut().filter(|op| op.flexible) {
        let signature = match &op.step {
            Step::Put { key, value } => (0, *key, *value, 0),
            Step::Delete { key, .. } => (1, *key, 0, 0),
            Step::Cas {
                key, expected, new, ..
            } => (2, *key, *expected, *new),
            Step::Get { .. } | Step::Range { .. } => unreachable!("reads are never flexible"),
        };
        let next = classes.len() as u32;
        op.class = *classes.entry(signature).or_insert(next);
    }
}

/// See [`CompiledOp::flexible`].
fn tighten_observed_writes(ops: &mut [CompiledOp]) {
    let written = |step: &Step| match step {
        Step::Put { key, value } => Some((*key, *value)),
        Step::Cas { key, new, .. } => Some((*key, *new)),
        _ => None,
    };
    let mut writers: BTreeMap<(KeyId, ValueId), usize> = BTreeMap::new();
    for op in ops.iter() {
        if let Some(pair) = written(&op.step) {
            *writers.entry(pair).or_default() += 1;
        }
    }
    // Earliest return of a determinate operation that saw each (key, value).
    let mut first_seen: BTreeMap<(KeyId, ValueId), u64> = BTreeMap::new();
    let mut saw = |pair: (KeyId, ValueId), return_ms: u64| {
        let seen = first_seen.entry(pair).or_insert(return_ms);
        *seen = (*seen).min(return_ms);
    };
    for op in ops.iter().filter(|op| !op.flexible) {
        match &op.step {
            Step::Get {
                key,
                value: Expect::Exactly(value),
            } if *value != ABSENT => saw((*key, *value), op.return_ms),
            Step::Cas {
                key,
                expected,
                succeeded: Expect::Exactly(true),
                ..
            } if *expected != ABSENT => saw((*key, *expected), op.return_ms),
            Step::Range {
                pairs: Expect::Exactly(pairs),
                ..
            } => pairs.iter().for_each(|&pair| saw(pair, op.return_ms)),
            _ => {}
        }
    }
    for op in ops.iter_mut().filter(|op| op.flexible) {
        let Some(pair) = written(&op.step) else {
            continue;
        };
        if writers[&pair] == 1 {
            if let Some(&seen_ms) = first_seen.get(&pair) {
                op.flexible = false;
                op.return_ms = seen_ms.max(op.call_ms);
                op.priority = op.return_ms;
            }
        }
    }
}

/// Keys by position in the sorted key list; values numbered from 1 as first met.
struct Interner<'a> {
    keys: &'a [String],
    values: BTreeMap<&'a str, ValueId>,
}

impl<'a> Interner<'a> {
    fn new(keys: &'a [String]) -> Self {
        Interner {
            keys,
            values: BTreeMap::new(),
        }
    }

    fn key(&self, key: &str) -> Option<KeyId> {
        self.keys
            .binary_search_by(|probe| probe.as_str().cmp(key))
            .ok()
            .map(|position| position as KeyId)
    }

    fn known_key(&self, key: &str) -> KeyId {
        self.key(key)
            .expect("partition keys include every key its operations name")
    }

    fn value(&mut self, value: &'a str) -> ValueId {
        let next = self.values.len() as ValueId + ANONYMOUS + 1;
        assert!(next < UNOBSERVED_WRITE, "too many values");
        *self.values.entry(value).or_insert(next)
    }

    fn optional_value(&mut self, value: &'a Option<String>) -> ValueId {
        value.as_deref().map_or(ABSENT, |value| self.value(value))
    }

    fn step(&mut self, op: &'a Operation) -> Step {
        match (&op.input, &op.output) {
            (Input::Put { key, value }, _) => Step::Put {
                key: self.known_key(key),
                value: self.value(value),
            },
            (Input::Get { key }, output) => Step::Get {
                key: self.known_key(key),
                value: match output {
                    None => Expect::Any,
                    Some(Output::Get(value)) => Expect::Exactly(self.optional_value(value)),
                    Some(other) => unreachable!("checked by validate: {other:?}"),
                },
            },
            (Input::Delete { key }, output) => Step::Delete {
                key: self.known_key(key),
                existed: match output {
                    None => Expect::Any,
                    Some(Output::Delete { deleted: 0 }) => Expect::Exactly(false),
                    Some(Output::Delete { deleted: 1 }) => Expect::Exactly(true),
                    Some(_) => Expect::Never,
                },
            },
            (Input::Cas { key, expected, new }, output) => Step::Cas {
                key: self.known_key(key),
                expected: self.optional_value(expected),
                new: self.value(new),
                succeeded: match output {
                    None => Expect::Any,
                    Some(Output::Cas { succeeded }) => Expect::Exactly(*succeeded),
                    Some(other) => unreachable!("checked by validate: {other:?}"),
                },
            },
            (Input::Range { start, end }, output) => {
                let first = self.keys.partition_point(|key| key < start);
                let last = self.keys.partition_point(|key| key < end).max(first);
                let keys = first as KeyId..last as KeyId;
                let pairs = match output {
                    None => Expect::Any,
                    Some(Output::Range(pairs)) => self.range_pairs(pairs, &keys),
                    Some(other) => unreachable!("checked by validate: {other:?}"),
                };
                Step::Range { keys, pairs }
            }
        }
    }

    /// `Never` unless the pairs are strictly increasing keys inside the range.
    fn range_pairs(
        &mut self,
        pairs: &'a [(String, String)],
        keys: &Range<KeyId>,
    ) -> Expect<Vec<(KeyId, ValueId)>> {
        let mut compiled = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let Some(key) = self.key(key).filter(|key| keys.contains(key)) else {
                return Expect::Never;
            };
            if compiled.last().is_some_and(|&(last, _)| last >= key) {
                return Expect::Never;
            }
            compiled.push((key, self.value(value)));
        }
        Expect::Exactly(compiled)
    }
}
