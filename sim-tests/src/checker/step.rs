//! The etcd KV rules on interned keys and values, undoable, for the search.
//!
//! Keys are indices into a partition's sorted key list (so a range is an index
//! interval) and values small integers (`ABSENT` = 0 = no such key). A [`Step`]
//! checks an operation's recorded output against the state and applies its effect
//! in place, logging what it overwrote so the search can undo it. These are the
//! rules of [`super::model::KvModel`], plus the bookkeeping the search needs for
//! indeterminate writes (see [`Step::apply`]).

use std::ops::Range;

pub type KeyId = u32;
pub type ValueId = u32;
/// The value of a key that is not present.
pub const ABSENT: ValueId = 0;
/// Any value that no operation ever reads back (see `anonymize_unread_values`).
pub const ANONYMOUS: ValueId = 1;

/// What the recorded output demands of the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect<T> {
    /// Indeterminate: any outcome is acceptable.
    Any,
    Exactly(T),
    /// The output is impossible whatever the state (e.g. `deleted: 2` for one key).
    Never,
}

impl<T: PartialEq> Expect<T> {
    fn admits(&self, actual: &T) -> bool {
        match self {
            Expect::Any => true,
            Expect::Exactly(expected) => expected == actual,
            Expect::Never => false,
        }
    }
}

/// The model rules of [`super::model::KvModel`], on interned keys and values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Put {
        key: KeyId,
        value: ValueId,
    },
    Get {
        key: KeyId,
        value: Expect<ValueId>,
    },
    Delete {
        key: KeyId,
        existed: Expect<bool>,
    },
    Cas {
        key: KeyId,
        expected: ValueId,
        new: ValueId,
        succeeded: Expect<bool>,
    },
    Range {
        keys: Range<KeyId>,
        /// Present keys in order, with their values.
        pairs: Expect<Vec<(KeyId, ValueId)>>,
    },
}

/// Marks a key whose current value was written by an indeterminate operation that
/// no operation has depended on since; see [`Step::apply`].
pub const UNOBSERVED_WRITE: ValueId = 1 << 31;

/// A change to one key's cell, for undoing: (key, the cell's previous content).
pub type Undo = (KeyId, ValueId);

impl Step {
    /// Checks the recorded output against `state` and, if it fits, applies the effect
    /// and returns true, logging every cell it changes (at most once each) to `undo`.
    /// Returns false and changes nothing otherwise.
    ///
    /// `indeterminate`: the outcome is unknown. The search only explores canonical
    /// placements of such operations (see `search`), and two of the rules live here:
    /// the operation must change its key's value (one that changes nothing can as
    /// well be left out: it never happened, or happened at the very end), and the
    /// value it writes carries `UNOBSERVED_WRITE` until an operation depends on it
    /// (reads it, compares with it, deletes it); overwriting such a value is
    /// refused, since the write could as well have happened later, or never.
    /// Without these rules, k lost writes to one key make the search try all 2^k
    /// subsets of them wherever it backtracks.
    pub fn apply(&self, indeterminate: bool, state: &mut [ValueId], undo: &mut Vec<Undo>) -> bool {
        let mark = if indeterminate { UNOBSERVED_WRITE } else { 0 };
        let unobserved =
            |state: &[ValueId], key: KeyId| state[key as usize] & UNOBSERVED_WRITE != 0;
        match self {
            Step::Put { key, value } => {
                let unchanged = value_of(state, *key) == *value;
                if unobserved(state, *key) || (indeterminate && unchanged) {
                    return false;
                }
                set(state, undo, *key, *value | mark);
            }
            Step::Get { key, value } => {
                if !value.admits(&value_of(state, *key)) {
                    return false;
                }
                set(state, undo, *key, value_of(state, *key));
            }
            Step::Delete { key, existed } => {
                let present = value_of(state, *key) != ABSENT;
                if !existed.admits(&present) {
                    return false;
                }
                if !indeterminate {
                    set(state, undo, *key, ABSENT);
                } else if unobserved(state, *key) || !present {
                    // Indeterminate: a blind write of "absent", as a put is.
                    return false;
                } else {
                    set(state, undo, *key, ABSENT | mark);
                }
            }
            Step::Cas {
                key,
                expected,
                new,
                succeeded,
            } => {
                let matches = value_of(state, *key) == *expected;
                if !succeeded.admits(&matches) || (indeterminate && (!matches || new == expected)) {
                    return false;
                }
                let next = if matches {
                    *new | mark
                } else {
                    value_of(state, *key)
                };
                set(state, undo, *key, next);
            }
            Step::Range { keys, pairs } => {
                let fits = match pairs {
                    Expect::Any => true,
                    Expect::Never => false,
                    Expect::Exactly(pairs) => keys
                        .clone()
                        .map(|key| (key, value_of(state, key)))
                        .filter(|&(_, value)| value != ABSENT)
                        .eq(pairs.iter().copied()),
                };
                if !fits {
                    return false;
                }
                for key in keys.clone() {
                    set(state, undo, key, value_of(state, key));
                }
            }
        }
        true
    }

    /// The (key, value) pairs the recorded output says were present when the step
    /// took effect: values it read back exactly.
    pub fn reads_exactly(&self) -> Vec<(KeyId, ValueId)> {
        match self {
            Step::Get {
                key,
                value: Expect::Exactly(value),
            } if *value != ABSENT => vec![(*key, *value)],
            Step::Cas {
                key,
                expected,
                succeeded: Expect::Exactly(true),
                ..
            } if *expected != ABSENT => vec![(*key, *expected)],
            Step::Range {
                pairs: Expect::Exactly(pairs),
                ..
            } => pairs.clone(),
            _ => Vec::new(),
        }
    }

    /// The (key, value) pair the step writes, if it writes a value.
    pub fn writes(&self) -> Option<(KeyId, ValueId)> {
        match self {
            Step::Put { key, value } => Some((*key, *value)),
            Step::Cas { key, new, .. } => Some((*key, *new)),
            _ => None,
        }
    }
}

impl Step {
    /// Whether the step's outcome depends on `key`'s value (so an indeterminate
    /// write to `key` placed just before it is used, not overwritten).
    pub fn observes(&self, key: KeyId) -> bool {
        match self {
            Step::Put { .. } => false,
            Step::Get { key: read, .. }
            | Step::Delete { key: read, .. }
            | Step::Cas { key: read, .. } => *read == key,
            Step::Range { keys, .. } => keys.contains(&key),
        }
    }

    /// Whether the recorded output allows `key` to hold `value` when the step takes
    /// effect (for a key the step observes; other keys are not judged).
    pub fn accepts(&self, key: KeyId, value: ValueId) -> bool {
        match self {
            Step::Put { .. } => true,
            Step::Get {
                value: expected, ..
            } => expected.admits(&value),
            Step::Delete { existed, .. } => existed.admits(&(value != ABSENT)),
            Step::Cas {
                expected,
                succeeded,
                ..
            } => succeeded.admits(&(value == *expected)),
            Step::Range { pairs, .. } => match pairs {
                Expect::Any => true,
                Expect::Never => false,
                Expect::Exactly(pairs) => {
                    let seen = pairs
                        .iter()
                        .find(|(pair_key, _)| *pair_key == key)
                        .map_or(ABSENT, |&(_, seen)| seen);
                    seen == value
                }
            },
        }
    }
}

/// The value in `key`'s cell, without its mark.
pub fn value_of(state: &[ValueId], key: KeyId) -> ValueId {
    state[key as usize] & !UNOBSERVED_WRITE
}

fn set(state: &mut [ValueId], undo: &mut Vec<Undo>, key: KeyId, cell: ValueId) {
    let old = std::mem::replace(&mut state[key as usize], cell);
    if old != cell {
        undo.push((key, old));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_check_outputs_and_log_what_they_overwrote() {
        let mut state = vec![ABSENT, 5, ABSENT];
        let mut undo = Vec::new();
        let put = Step::Put { key: 0, value: 7 };
        assert!(put.apply(false, &mut state, &mut undo));
        assert!(put.apply(false, &mut state, &mut undo));
        assert_eq!(undo, vec![(0, ABSENT)]);
        let delete = Step::Delete {
            key: 1,
            existed: Expect::Exactly(false),
        };
        assert!(!delete.apply(false, &mut state, &mut undo));
        let range = |pairs| Step::Range { keys: 0..3, pairs };
        let fits = |step: Step, state: &mut Vec<ValueId>| step.apply(false, state, &mut Vec::new());
        assert!(fits(
            range(Expect::Exactly(vec![(0, 7), (1, 5)])),
            &mut state
        ));
        assert!(!fits(range(Expect::Exactly(vec![(0, 7)])), &mut state));
        assert!(!fits(
            range(Expect::Exactly(vec![(0, 7), (1, 5), (2, 1)])),
            &mut state
        ));
        assert_eq!(state, vec![7, 5, ABSENT]);
    }

    #[test]
    fn an_indeterminate_write_must_be_used_before_it_is_overwritten() {
        let flagged = |value| value | UNOBSERVED_WRITE;
        let mut state = vec![ABSENT, ABSENT];
        let mut undo = Vec::new();
        let cas = Step::Cas {
            key: 0,
            expected: ABSENT,
            new: 9,
            succeeded: Expect::Any,
        };
        assert!(cas.apply(true, &mut state, &mut undo));
        assert_eq!(state, vec![flagged(9), ABSENT]);
        let put = Step::Put { key: 0, value: 3 };
        assert!(!put.apply(false, &mut state, &mut undo));
        let lost_delete = Step::Delete {
            key: 0,
            existed: Expect::Any,
        };
        assert!(!lost_delete.apply(true, &mut state, &mut undo));
        let range = Step::Range {
            keys: 0..2,
            pairs: Expect::Exactly(vec![(0, 9)]),
        };
        assert!(range.apply(false, &mut state, &mut undo));
        assert_eq!(state, vec![9, ABSENT]);
        assert!(lost_delete.apply(true, &mut state, &mut undo));
        assert_eq!(state, vec![flagged(ABSENT), ABSENT]);
        let get = Step::Get {
            key: 0,
            value: Expect::Exactly(ABSENT),
        };
        assert!(get.apply(false, &mut state, &mut undo));
        assert!(put.apply(false, &mut state, &mut undo));
        assert_eq!(
            undo,
            vec![
                (0, ABSENT),
                (0, flagged(9)),
                (0, 9),
                (0, flagged(ABSENT)),
                (0, ABSENT)
            ]
        );
    }
}
