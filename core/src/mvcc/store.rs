//! The store: the key index, the current and compacted revisions, reads,
//! compaction and hashes. Writes are in `write.rs`.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use super::error::MvccError;
use super::key_index::KeyIndex;
use super::types::{Event, KeyValue};
use crate::lease::LeaseId;

/// etcd's `--max-txn-ops` default.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Most operations one txn branch (or its compares) may hold.
    pub max_txn_ops: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
        }
    }
}

/// A write's response and the events it produced, in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "the events must reach the watchers"]
pub struct Applied<R> {
    pub response: R,
    pub events: Vec<Event>,
}

/// `hash_kv`'s answer (etcd's HashKVResponse fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvHash {
    pub hash: u32,
    /// The revision hashed up to.
    pub hash_revision: i64,
    pub current_revision: i64,
    pub compact_revision: i64,
}

/// The key-value store.
///
/// Invariants: every key in `index` has at least one slot; every slot's main
/// revision is <= `current_revision`; `compact_revision < current_revision` or no
/// compaction happened (`-1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    pub(super) config: StoreConfig,
    pub(super) index: BTreeMap<Bytes, KeyIndex>,
    pub(super) current_revision: i64,
    pub(super) compact_revision: i64,
}

/// The key range of a request after etcd's `mkGteRange`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyRange<'a> {
    Single(&'a [u8]),
    From(&'a [u8]),
    Between(&'a [u8], &'a [u8]),
}

impl<'a> KeyRange<'a> {
    /// `range_end` empty: one key; `"\0"`: all keys >= `key`; else `[key, end)`.
    pub fn new(key: &'a [u8], range_end: &'a [u8]) -> KeyRange<'a> {
        match range_end {
            [] => KeyRange::Single(key),
            [0] => KeyRange::From(key),
            end => KeyRange::Between(key, end),
        }
    }
}

impl Default for Store {
    fn default() -> Store {
        Store::new(StoreConfig::default())
    }
}

impl Store {
    /// An empty store at revision 1 (etcd's initial revision).
    pub fn new(config: StoreConfig) -> Store {
        Store {
            config,
            index: BTreeMap::new(),
            current_revision: 1,
            compact_revision: -1,
        }
    }

    pub fn config(&self) -> StoreConfig {
        self.config
    }

    pub fn current_revision(&self) -> i64 {
        self.current_revision
    }

    /// The revision of the last compaction, -1 if none.
    pub fn compact_revision(&self) -> i64 {
        self.compact_revision
    }

    /// Keys with any retained history (live or not).
    pub fn key_count(&self) -> usize {
        self.index.len()
    }

    /// Keys that exist now (not deleted). Walks the index: for `/metrics`,
    /// not for every request.
    pub fn live_key_count(&self) -> usize {
        self.index.values().filter(|index| index.is_live()).count()
    }

    /// Each live key's lease, for rebuilding the lessor after a snapshot.
    pub fn attached_leases(&self) -> impl Iterator<Item = (LeaseId, Bytes)> + '_ {
        self.index.iter().filter_map(|(key, index)| {
            let last = index.slots().last()?;
            (!last.tombstone && last.lease != 0).then(|| (last.lease, key.clone()))
        })
    }

    /// Visits the key indexes in `range`, in key order, until `visit` says stop.
    pub(super) fn visit<'s>(
        &'s self,
        range: KeyRange<'_>,
        mut visit: impl FnMut(&'s Bytes, &'s KeyIndex) -> bool,
    ) {
        let (start, end): (Bound<&[u8]>, Bound<&[u8]>) = match range {
            KeyRange::Single(key) => {
                if let Some((stored, index)) = self.index.get_key_value(key) {
                    visit(stored, index);
                }
                return;
            }
            KeyRange::From(key) => (Bound::Included(key), Bound::Unbounded),
            KeyRange::Between(key, end) if key >= end => return,
            KeyRange::Between(key, end) => (Bound::Included(key), Bound::Excluded(end)),
        };
        for (key, index) in self.index.range::<[u8], _>((start, end)) {
            if !visit(key, index) {
                break;
            }
        }
    }

    /// The live key-values in `range` at `at_rev`, in key order, at most `limit`
    /// (0: all), and how many there are in total (etcd's `rangeKeys` minus checks).
    pub(super) fn collect(
        &self,
        range: KeyRange<'_>,
        at_rev: i64,
        limit: usize,
        count_only: bool,
    ) -> (Vec<KeyValue>, usize) {
        let mut kvs = Vec::new();
        let mut total = 0;
        self.visit(range, |key, index| {
            let wanted = !count_only && (limit == 0 || kvs.len() < limit);
            if wanted {
                if let Some(found) = index.get(at_rev) {
                    total += 1;
                    kvs.push(key_value(key, found));
                }
            } else if index.is_live_at(at_rev) {
                // Past the limit only the count is wanted.
                total += 1;
            }
            true
        });
        (kvs, total)
    }

    /// etcd's revision checks for a read at `revision` (0 = current) against a
    /// view at `current`: the revision to read at.
    pub(super) fn check_read_revision(
        &self,
        revision: i64,
        current: i64,
    ) -> Result<i64, MvccError> {
        if revision > current {
            return Err(MvccError::FutureRevision);
        }
        let at = if revision <= 0 { current } else { revision };
        if at < self.compact_revision {
            return Err(MvccError::Compacted);
        }
        Ok(at)
    }

    /// The live key-value of `key` at `at_rev`.
    pub fn get(&self, key: &[u8], at_rev: i64) -> Option<KeyValue> {
        let (stored, index) = self.index.get_key_value(key)?;
        index.get(at_rev).map(|found| key_value(stored, found))
    }

    /// Compacts history at `revision` (applying a Compaction entry): reads below it
    /// fail with [`MvccError::Compacted`] from now on. Errors as etcd's `Compact`.
    pub fn compact(&mut self, revision: i64) -> Result<i64, MvccError> {
        if revision <= self.compact_revision {
            return Err(MvccError::Compacted);
        }
        if revision > self.current_revision {
            return Err(MvccError::FutureRevision);
        }
        self.compact_revision = revision;
        self.index.retain(|_, index| {
            index.compact(revision);
            !index.is_empty()
        });
        Ok(self.current_revision)
    }

    /// etcd's HashKV, computed as etcd computes it (`etcd_hash`): a checksum
    /// of the retained revisions <= `revision` (0 = current) with keys and
    /// values, so members, and cairn and etcd, can compare their state.
    /// Errors: `revision` <= the compact revision, or in the future.
    pub fn hash_kv(&self, revision: i64) -> Result<KvHash, MvccError> {
        if revision > 0 && revision <= self.compact_revision {
            return Err(MvccError::Compacted);
        }
        if revision > self.current_revision {
            return Err(MvccError::FutureRevision);
        }
        let upto = if revision == 0 {
            self.current_revision
        } else {
            revision
        };
        Ok(KvHash {
            hash: self.etcd_hash(upto),
            hash_revision: upto,
            current_revision: self.current_revision,
            compact_revision: self.compact_revision,
        })
    }

    /// A checksum of the whole store: revisions, every retained revision of
    /// every key with its value and lease.
    pub fn hash(&self) -> u32 {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&self.current_revision.to_le_bytes());
        hasher.update(&self.compact_revision.to_le_bytes());
        self.hash_slots(&mut hasher, i64::MAX);
        hasher.finalize()
    }

    /// Bytes of keys and values held across all retained revisions: what
    /// `Maintenance.Status` reports as the database size. Walks the index.
    pub fn size_bytes(&self) -> u64 {
        self.index
            .iter()
            .map(|(key, index)| {
                index
                    .slots()
                    .iter()
                    .map(|slot| (key.len() + slot.value.len()) as u64)
                    .sum::<u64>()
            })
            .sum()
    }

    fn hash_slots(&self, hasher: &mut crc32fast::Hasher, upto: i64) {
        for (key, index) in &self.index {
            for slot in index.slots().iter().take_while(|slot| slot.main <= upto) {
                hasher.update(&(key.len() as u64).to_le_bytes());
                hasher.update(key);
                hasher.update(&slot.main.to_le_bytes());
                hasher.update(&slot.sub.to_le_bytes());
                hasher.update(&[u8::from(slot.tombstone)]);
                hasher.update(&slot.lease.to_le_bytes());
                hasher.update(&(slot.value.len() as u64).to_le_bytes());
                hasher.update(&slot.value);
            }
        }
    }
}

/// A read's view of a live slot.
pub(super) fn key_value(key: &Bytes, found: super::key_index::Found<'_>) -> KeyValue {
    KeyValue {
        key: key.clone(),
        create_revision: found.create_revision,
        mod_revision: found.slot.main,
        version: found.version,
        value: found.slot.value.clone(),
        lease: found.slot.lease,
    }
}
