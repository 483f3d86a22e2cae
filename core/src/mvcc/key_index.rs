//! One key's history: its revisions grouped into generations, with values.
//!
//! etcd's `keyIndex` keeps `generations []generation{created, ver, revs}`. This
//! is the same information laid out flat to keep memory per key low: one `Vec`
//! of slots in revision order, where a tombstone slot ends a generation.
//!
//! Worked example (etcd's `key_index.go`, same key):
//!
//! ```text
//!  put(1.0) put(2.0) tombstone(3.0) put(4.0) tombstone(5.0)
//!  generations: {1.0, 2.0, t3.0} {4.0, t5.0} {empty}
//!  slots:       [1.0, 2.0, t3.0, 4.0, t5.0]
//!  get(2) → mod 2.0, create 1.0, version 2;  get(3) → not found (tombstone)
//!  compact(2): keeps {2.0, t3.0}{4.0, t5.0}; version base 1 remembers put(1.0)
//!  compact(4): drops the first generation, keeps {4.0, t5.0}
//!  compact(5): drops everything (the last tombstone <= 5): the key disappears
//! ```
//!
//! Invariants: slots are strictly increasing by revision; a tombstone is never
//! first and never follows a tombstone; `first_created`/`first_version_base`
//! describe the first generation (whose early puts compaction may have dropped).

use bytes::Bytes;

use super::revision::Revision;
use crate::lease::LeaseId;

/// One revision of the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub main: i64,
    pub sub: u32,
    pub tombstone: bool,
    pub lease: LeaseId,
    /// Empty for a tombstone.
    pub value: Bytes,
}

impl Slot {
    pub fn revision(&self) -> Revision {
        Revision::new(self.main, i64::from(self.sub))
    }
}

/// A live revision as a read sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found<'a> {
    pub slot: &'a Slot,
    pub create_revision: i64,
    pub version: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyIndex {
    first_created: i64,
    first_version_base: i64,
    slots: Vec<Slot>,
}

impl KeyIndex {
    /// Rebuilds an index from its parts (snapshot decoding); `None` if they
    /// break an invariant.
    pub fn from_parts(
        first_created: i64,
        first_version_base: i64,
        slots: Vec<Slot>,
    ) -> Option<KeyIndex> {
        let ordered = slots
            .windows(2)
            .all(|w| w[0].revision() < w[1].revision() && !(w[0].tombstone && w[1].tombstone));
        let first_ok = slots
            .first()
            .is_some_and(|s| !s.tombstone && s.main >= first_created);
        (ordered && first_ok && first_version_base >= 0).then_some(KeyIndex {
            first_created,
            first_version_base,
            slots,
        })
    }

    pub fn first_created(&self) -> i64 {
        self.first_created
    }

    pub fn first_version_base(&self) -> i64 {
        self.first_version_base
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The live slot at `at_rev` with its create revision and version.
    pub fn get(&self, at_rev: i64) -> Option<Found<'_>> {
        self.live_slot(at_rev).map(|index| self.describe(index))
    }

    /// Whether the key exists at `at_rev` (cheaper than [`Self::get`]: no
    /// create revision or version is worked out).
    pub fn is_live_at(&self, at_rev: i64) -> bool {
        self.live_slot(at_rev).is_some()
    }

    /// The index of the slot a read at `at_rev` sees, if the key is live.
    pub fn live_slot_at(&self, at_rev: i64) -> Option<usize> {
        self.live_slot(at_rev)
    }

    fn live_slot(&self, at_rev: i64) -> Option<usize> {
        // Most reads are at the current revision: the newest slot.
        let index = match self.slots.last() {
            Some(last) if last.main <= at_rev => self.slots.len() - 1,
            _ => self
                .slots
                .partition_point(|slot| slot.main <= at_rev)
                .checked_sub(1)?,
        };
        (!self.slots[index].tombstone).then_some(index)
    }

    /// Create revision and version of the live slot at `index`.
    pub fn describe(&self, index: usize) -> Found<'_> {
        let start = self.generation_start(index);
        let (create_revision, base) = if start == 0 {
            (self.first_created, self.first_version_base)
        } else {
            (self.slots[start].main, 0)
        };
        Found {
            slot: &self.slots[index],
            create_revision,
            version: base + (index - start) as i64 + 1,
        }
    }

    /// Index of the first slot of the generation holding slot `index`.
    fn generation_start(&self, index: usize) -> usize {
        self.slots[..index]
            .iter()
            .rposition(|slot| slot.tombstone)
            .map_or(0, |tombstone| tombstone + 1)
    }

    /// Whether the key is live at the newest revision.
    pub fn is_live(&self) -> bool {
        self.slots.last().is_some_and(|slot| !slot.tombstone)
    }

    pub fn put(&mut self, revision: Revision, value: Bytes, lease: LeaseId) {
        self.assert_after(revision);
        if self.slots.is_empty() {
            self.first_created = revision.main;
            self.first_version_base = 0;
            // Most keys have one revision: don't let `push` allocate 4 slots.
            self.slots.reserve_exact(1);
        }
        self.slots.push(Slot {
            main: revision.main,
            sub: sub_u32(revision),
            tombstone: false,
            lease,
            value,
        });
    }

    /// Appends a slot built elsewhere (importing a history); the caller
    /// checked that it follows the last one.
    pub fn push_slot(&mut self, slot: Slot) {
        self.assert_after(slot.revision());
        self.slots.push(slot);
    }

    /// Ends the current generation. Panics if the key is not live: callers
    /// delete only keys they found live.
    pub fn tombstone(&mut self, revision: Revision) {
        assert!(self.is_live(), "tombstone on a key that is not live");
        self.assert_after(revision);
        self.slots.push(Slot {
            main: revision.main,
            sub: sub_u32(revision),
            tombstone: true,
            lease: 0,
            value: Bytes::new(),
        });
    }

    fn assert_after(&self, revision: Revision) {
        if let Some(last) = self.slots.last() {
            assert!(
                revision > last.revision(),
                "revision {revision:?} not after {:?}",
                last.revision()
            );
        }
    }

    /// Drops what no read at `at_rev` or later can see (etcd's `keyIndex.compact`):
    /// generations whose tombstone is <= `at_rev`, and in the first remaining
    /// generation every revision before the newest one <= `at_rev`.
    pub fn compact(&mut self, at_rev: i64) {
        // Find the first generation whose tombstone is after at_rev (or the last).
        let mut start = 0;
        let end = loop {
            match self.slots[start..].iter().position(|slot| slot.tombstone) {
                Some(offset) if self.slots[start + offset].main <= at_rev => start += offset + 1,
                Some(offset) => break start + offset + 1,
                None => break self.slots.len(),
            }
        };
        let keep_from = self.slots[start..end]
            .iter()
            .rposition(|slot| slot.main <= at_rev)
            .map_or(start, |offset| start + offset);
        if keep_from == 0 {
            return;
        }
        if start == 0 {
            self.first_version_base += keep_from as i64;
        } else if start < self.slots.len() {
            self.first_created = self.slots[start].main;
            self.first_version_base = (keep_from - start) as i64;
        }
        self.slots.drain(..keep_from);
        self.slots.shrink_to_fit();
    }
}

fn sub_u32(revision: Revision) -> u32 {
    u32::try_from(revision.sub).expect("sub revision fits in u32 (bounded by txn ops)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    /// The worked example from the module documentation.
    fn example() -> KeyIndex {
        let mut index = KeyIndex::default();
        index.put(rev(1), Bytes::from_static(b"a"), 0);
        index.put(rev(2), Bytes::from_static(b"b"), 0);
        index.tombstone(rev(3));
        index.put(rev(4), Bytes::from_static(b"c"), 0);
        index.tombstone(rev(5));
        index
    }

    fn describe(index: &KeyIndex, at: i64) -> Option<(i64, i64, i64)> {
        index
            .get(at)
            .map(|found| (found.slot.main, found.create_revision, found.version))
    }

    #[test]
    fn get_follows_generations() {
        let index = example();
        assert_eq!(describe(&index, 0), None);
        assert_eq!(describe(&index, 1), Some((1, 1, 1)));
        assert_eq!(describe(&index, 2), Some((2, 1, 2)));
        assert_eq!(describe(&index, 3), None);
        assert_eq!(describe(&index, 4), Some((4, 4, 1)));
        assert_eq!(describe(&index, 5), None);
        assert_eq!(describe(&index, 9), None);
    }

    #[test]
    fn compaction_keeps_what_later_reads_see() {
        let mut index = example();
        index.compact(2);
        assert_eq!(index.slots().len(), 4);
        assert_eq!(describe(&index, 2), Some((2, 1, 2)));
        index.compact(4);
        assert_eq!(index.slots().len(), 2);
        assert_eq!(describe(&index, 4), Some((4, 4, 1)));
        index.compact(5);
        assert!(index.is_empty());
    }

    #[test]
    fn compaction_of_a_live_key_keeps_its_version() {
        let mut index = KeyIndex::default();
        for main in 2..=6 {
            index.put(rev(main), Bytes::new(), 0);
        }
        index.compact(4);
        assert_eq!(describe(&index, 4), Some((4, 2, 3)));
        assert_eq!(describe(&index, 6), Some((6, 2, 5)));
        index.compact(100);
        assert_eq!(index.slots().len(), 1);
        assert_eq!(describe(&index, 100), Some((6, 2, 5)));
    }
}
