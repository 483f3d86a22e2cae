//! The store as a list of revisions, out and in: the view etcd's backend
//! keeps (one record per revision of a key, in revision order), for backups
//! in etcd's format and for importing an etcd database.
//!
//! Out: [`Store::revision_records`] lists every retained revision with the
//! create revision and version a read would report. In: [`StoreBuilder`]
//! takes such records in revision order and checks that they describe one
//! consistent history before it builds a store.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::key_index::{KeyIndex, Slot};
use super::store::{Store, StoreConfig};
use crate::lease::LeaseId;

/// One revision of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionRecord {
    pub key: Bytes,
    pub main: i64,
    pub sub: i64,
    /// A delete: ends the key's generation; no value, create revision,
    /// version or lease.
    pub tombstone: bool,
    pub create_revision: i64,
    pub version: i64,
    pub lease: LeaseId,
    pub value: Bytes,
}

impl Store {
    /// Every retained revision of every key, sorted by (main, sub) revision.
    /// Keys and values are shared with the store, not copied: the list costs
    /// a few dozen bytes a revision.
    pub fn revision_records(&self) -> Vec<RevisionRecord> {
        let mut records = Vec::with_capacity(self.index.len());
        for (key, index) in &self.index {
            for (at, slot) in index.slots().iter().enumerate() {
                let (create_revision, version) = if slot.tombstone {
                    (0, 0)
                } else {
                    let found = index.describe(at);
                    (found.create_revision, found.version)
                };
                records.push(RevisionRecord {
                    key: key.clone(),
                    main: slot.main,
                    sub: i64::from(slot.sub),
                    tombstone: slot.tombstone,
                    create_revision,
                    version,
                    lease: slot.lease,
                    value: slot.value.clone(),
                });
            }
        }
        records.sort_unstable_by_key(|record| (record.main, record.sub));
        records
    }
}

/// Why a list of revisions is not one consistent history.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("revision {main}_{sub} is not after revision {prev_main}_{prev_sub}")]
    OutOfOrder {
        main: i64,
        sub: i64,
        prev_main: i64,
        prev_sub: i64,
    },
    #[error("revision {main}_{sub} is not a valid revision (main must be >= 1, sub in 0..2^32)")]
    BadRevision { main: i64, sub: i64 },
    #[error("an empty key at revision {main}_{sub}")]
    EmptyKey { main: i64, sub: i64 },
    #[error("key {key:?} at revision {main}: create revision {create_revision} and version {version} do not follow from its earlier revisions")]
    Inconsistent {
        key: String,
        main: i64,
        create_revision: i64,
        version: i64,
    },
    #[error("key {key:?} is deleted at revision {main} but does not exist then")]
    DeleteOfMissing { key: String, main: i64 },
    #[error("compaction revision {compact} is after the newest revision {current}")]
    CompactAfterCurrent { compact: i64, current: i64 },
}

/// Builds a store from revision records given in revision order, checking
/// each against the key's history so far.
#[derive(Debug)]
pub struct StoreBuilder {
    config: StoreConfig,
    index: BTreeMap<Bytes, KeyIndex>,
    last: Option<(i64, i64)>,
    /// Keys whose only record so far was a delete of history that
    /// compaction dropped; ignored (see [`StoreBuilder::push`]).
    dropped_deletes: u64,
}

impl StoreBuilder {
    pub fn new(config: StoreConfig) -> StoreBuilder {
        StoreBuilder {
            config,
            index: BTreeMap::new(),
            last: None,
            dropped_deletes: 0,
        }
    }

    /// Adds the next revision. A delete of a key with no earlier record is
    /// the remnant of a compaction that had not finished removing the
    /// key's history (etcd removes it in batches): it is dropped, as the
    /// compaction would have dropped it.
    pub fn push(&mut self, record: RevisionRecord) -> Result<(), HistoryError> {
        let RevisionRecord {
            key,
            main,
            sub,
            tombstone,
            create_revision,
            version,
            lease,
            value,
        } = record;
        if main < 1 || !(0..=i64::from(u32::MAX)).contains(&sub) {
            return Err(HistoryError::BadRevision { main, sub });
        }
        if let Some((prev_main, prev_sub)) = self.last {
            if (main, sub) <= (prev_main, prev_sub) {
                return Err(HistoryError::OutOfOrder {
                    main,
                    sub,
                    prev_main,
                    prev_sub,
                });
            }
        }
        if key.is_empty() {
            return Err(HistoryError::EmptyKey { main, sub });
        }
        self.last = Some((main, sub));
        let name = || String::from_utf8_lossy(&key).into_owned();
        let existing = self.index.get(&key);
        let live = existing.is_some_and(KeyIndex::is_live);
        if tombstone {
            if existing.is_none() {
                self.dropped_deletes += 1;
                return Ok(());
            }
            if !live {
                return Err(HistoryError::DeleteOfMissing { key: name(), main });
            }
        } else {
            // What the key's next put must say of itself.
            let expected = match existing {
                Some(index) if live => {
                    let found = index.describe(index.slots().len() - 1);
                    Some((found.create_revision, found.version + 1))
                }
                Some(_) => Some((main, 1)),
                // The key's first retained revision: history before it may
                // have been compacted away, so any version >= 1 created at
                // or before this revision is consistent.
                None => (version >= 1 && (1..=main).contains(&create_revision))
                    .then_some((create_revision, version)),
            };
            if expected != Some((create_revision, version)) {
                return Err(HistoryError::Inconsistent {
                    key: name(),
                    main,
                    create_revision,
                    version,
                });
            }
        }
        let slot = Slot {
            main,
            sub: sub as u32,
            tombstone,
            lease: if tombstone { 0 } else { lease },
            value: if tombstone { Bytes::new() } else { value },
        };
        match self.index.get_mut(&key) {
            Some(index) => index.push_slot(slot),
            None => {
                let index = KeyIndex::from_parts(create_revision, version - 1, vec![slot])
                    .expect("a first put at or after its create revision is a valid index");
                self.index.insert(key, index);
            }
        }
        Ok(())
    }

    /// Deletes dropped as remnants of an unfinished compaction.
    pub fn dropped_deletes(&self) -> u64 {
        self.dropped_deletes
    }

    /// The store at `current_revision` (at least the newest record's), its
    /// history compacted at `compact_revision` (-1: never compacted), as
    /// etcd finishes a compaction on restart.
    pub fn finish(
        self,
        current_revision: i64,
        compact_revision: i64,
    ) -> Result<Store, HistoryError> {
        let newest = self.last.map_or(1, |(main, _)| main);
        let current = current_revision.max(newest).max(1);
        if compact_revision > current {
            return Err(HistoryError::CompactAfterCurrent {
                compact: compact_revision,
                current,
            });
        }
        let mut store = Store::new(self.config);
        store.index = self.index;
        store.current_revision = current;
        if compact_revision > 0 {
            store.compact_revision = compact_revision;
            store.index.retain(|_, index| {
                index.compact(compact_revision);
                !index.is_empty()
            });
        }
        Ok(store)
    }
}
