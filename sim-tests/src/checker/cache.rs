//! The search's memory of configurations already explored.
//!
//! A configuration is (determinate operations linearized, flexible operations
//! linearized, model state). Configuration A *dominates* B when they agree on the
//! determinate set and the state and A's flexible set is a subset of B's: anything B
//! can still do, A can do too (A's extra pending flexible operations can always be
//! appended at the end). So a configuration dominated by one already explored needs
//! no exploring: either that one succeeded, or this one would fail as well. With no
//! flexible operations this is the plain (linearized set, state) cache of Lowe's
//! algorithm.
//!
//! Entries live in flat arenas chained by hash, so an entry costs a few words plus
//! the state, not a handful of allocations. The determinate set is stored
//! compressed: every operation (in call order) before `first_open` is linearized or
//! flexible, and only the bit words from `first_open / 64` up to the last
//! linearized operation are kept; in a real history that is a word or two.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::step::ValueId;

/// A configuration, in the form the cache compares.
#[derive(Clone, Copy, Debug)]
pub struct Configuration<'a> {
    /// Identical for configurations with equal determinate sets and states.
    pub hash: u64,
    /// Index of the first determinate operation not linearized.
    pub first_open: u32,
    /// Determinate-linearized bits from word `first_open / 64` to the last set bit.
    pub words: &'a [u64],
    pub state: &'a [ValueId],
    /// Flexible operations linearized, sorted.
    pub flexible: &'a [u32],
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    first_open: u32,
    words_start: usize,
    words_len: u32,
    state_start: usize,
    flexible_start: usize,
    flexible_len: u32,
    /// Next entry with the same hash, or `NONE`.
    next: u32,
}

const NONE: u32 = u32::MAX;

/// Entries compared per lookup, newest first. Configurations that differ only in
/// their flexible sets share a chain, which can grow long; missing an older
/// dominating entry only costs some re-exploration, never a wrong answer.
const CHAIN_COMPARISONS_MAX: usize = 64;

#[derive(Debug, Default)]
pub struct Cache {
    heads: HashMap<u64, u32, BuildHasherDefault<PremixedHasher>>,
    entries: Vec<Entry>,
    words: Vec<u64>,
    states: Vec<ValueId>,
    flexible: Vec<u32>,
}

impl Cache {
    /// Remembers `configuration` and returns true, unless an explored configuration
    /// dominates it (then returns false and remembers nothing).
    pub fn insert_unless_dominated(&mut self, configuration: &Configuration<'_>) -> bool {
        let head = self.heads.get(&configuration.hash).copied().unwrap_or(NONE);
        let mut cursor = head;
        let mut compared = 0;
        while cursor != NONE && compared < CHAIN_COMPARISONS_MAX {
            compared += 1;
            let entry = self.entries[cursor as usize];
            if self.dominates(&entry, configuration) {
                return false;
            }
            cursor = entry.next;
        }
        let entry = Entry {
            first_open: configuration.first_open,
            words_start: self.words.len(),
            words_len: configuration.words.len() as u32,
            state_start: self.states.len(),
            flexible_start: self.flexible.len(),
            flexible_len: configuration.flexible.len() as u32,
            next: head,
        };
        self.words.extend_from_slice(configuration.words);
        self.states.extend_from_slice(configuration.state);
        self.flexible.extend_from_slice(configuration.flexible);
        self.heads
            .insert(configuration.hash, self.entries.len() as u32);
        self.entries.push(entry);
        true
    }

    /// How many configurations are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn dominates(&self, entry: &Entry, configuration: &Configuration<'_>) -> bool {
        let words = &self.words[entry.words_start..][..entry.words_len as usize];
        let state = &self.states[entry.state_start..][..configuration.state.len()];
        let flexible = &self.flexible[entry.flexible_start..][..entry.flexible_len as usize];
        entry.first_open == configuration.first_open
            && words == configuration.words
            && state == configuration.state
            && is_sorted_subset(flexible, configuration.flexible)
    }
}

fn is_sorted_subset(small: &[u32], large: &[u32]) -> bool {
    if small.len() > large.len() {
        return false;
    }
    let mut large = large.iter();
    small
        .iter()
        .all(|item| large.by_ref().any(|candidate| candidate == item))
}

/// The cache's keys are already well-mixed 64-bit hashes; hashing them again would
/// only cost time.
#[derive(Debug, Default)]
struct PremixedHasher(u64);

impl Hasher for PremixedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configuration<'a>(words: &'a [u64], flexible: &'a [u32]) -> Configuration<'a> {
        Configuration {
            hash: 7,
            first_open: 3,
            words,
            state: &[1, 2],
            flexible,
        }
    }

    #[test]
    fn fewer_flexible_operations_dominate_more() {
        let mut cache = Cache::default();
        assert!(cache.insert_unless_dominated(&configuration(&[0b1000], &[4, 9])));
        assert!(!cache.insert_unless_dominated(&configuration(&[0b1000], &[4, 9])));
        assert!(!cache.insert_unless_dominated(&configuration(&[0b1000], &[1, 4, 9])));
        assert!(cache.insert_unless_dominated(&configuration(&[0b1000], &[4])));
        assert!(!cache.insert_unless_dominated(&configuration(&[0b1000], &[4, 5])));
        assert!(cache.insert_unless_dominated(&configuration(&[0b1000], &[5])));
        assert!(cache.insert_unless_dominated(&configuration(&[0b11000], &[5])));
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn subset_is_checked_on_sorted_lists() {
        assert!(is_sorted_subset(&[], &[]));
        assert!(is_sorted_subset(&[2, 5], &[1, 2, 3, 5]));
        assert!(!is_sorted_subset(&[2, 4], &[1, 2, 3, 5]));
        assert!(!is_sorted_subset(&[6], &[1, 2, 3, 5]));
    }
}
