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

impl RevisionRecord {
    /// etcd's backend key for this revision (see [`backend_key`]).
    pub fn backend_key(&self) -> Vec<u8> {
        backend_key(self.main, self.sub, self.tombstone)
    }

    /// etcd's backend value for this revision (see [`backend_value`]).
    pub fn backend_value(&self, out: &mut Vec<u8>) {
        backend_value(
            out,
            &self.key,
            self.tombstone,
            self.create_revision,
            self.main,
            self.version,
            &self.value,
            self.lease,
        );
    }
}

/// etcd's backend key for a revision: main and sub big-endian around a
/// `_`, and a `t` after a delete (`mvcc/revision.go`).
pub fn backend_key(main: i64, sub: i64, tombstone: bool) -> Vec<u8> {
    let mut key = Vec::with_capacity(18);
    key.extend_from_slice(&(main as u64).to_be_bytes());
    key.push(b'_');
    key.extend_from_slice(&(sub as u64).to_be_bytes());
    if tombstone {
        key.push(b't');
    }
    key
}

/// etcd's backend value for a revision: an `mvccpb.KeyValue` protobuf (a
/// delete: the key alone), encoded as gogoproto does (fields in order,
/// zero values left out).
#[allow(clippy::too_many_arguments)]
pub fn backend_value(
    out: &mut Vec<u8>,
    key: &[u8],
    tombstone: bool,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
    value: &[u8],
    lease: LeaseId,
) {
    fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }
    fn bytes_field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
        if !bytes.is_empty() {
            out.push(tag);
            varint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
    }
    fn int_field(out: &mut Vec<u8>, tag: u8, value: i64) {
        if value != 0 {
            out.push(tag);
            varint(out, value as u64);
        }
    }
    bytes_field(out, 0x0a, key);
    if tombstone {
        return;
    }
    int_field(out, 0x10, create_revision);
    int_field(out, 0x18, mod_revision);
    int_field(out, 0x20, version);
    bytes_field(out, 0x2a, value);
    int_field(out, 0x30, lease);
}

/// One retained revision of one key, borrowed from the store: 32 bytes
/// however large the key and value.
#[derive(Clone, Copy, Debug)]
pub struct RevisionView<'a> {
    pub key: &'a Bytes,
    slot: &'a Slot,
    /// 0 for a delete.
    pub create_revision: i64,
    /// 0 for a delete.
    pub version: i64,
    /// Whether this is the key's value a read at the listed revision sees.
    pub visible: bool,
}

impl RevisionView<'_> {
    pub fn main(&self) -> i64 {
        self.slot.main
    }

    pub fn sub(&self) -> i64 {
        i64::from(self.slot.sub)
    }

    pub fn tombstone(&self) -> bool {
        self.slot.tombstone
    }

    pub fn lease(&self) -> LeaseId {
        self.slot.lease
    }

    pub fn value(&self) -> &Bytes {
        &self.slot.value
    }

    /// etcd's backend key for this revision (see [`backend_key`]).
    pub fn backend_key(&self) -> Vec<u8> {
        backend_key(self.slot.main, self.sub(), self.slot.tombstone)
    }

    /// etcd's backend value for this revision (see [`backend_value`]).
    pub fn backend_value(&self, out: &mut Vec<u8>) {
        backend_value(
            out,
            self.key,
            self.slot.tombstone,
            self.create_revision,
            self.slot.main,
            self.version,
            &self.slot.value,
            self.slot.lease,
        );
    }

    pub fn to_record(&self) -> RevisionRecord {
        RevisionRecord {
            key: self.key.clone(),
            main: self.main(),
            sub: self.sub(),
            tombstone: self.tombstone(),
            create_revision: self.create_revision,
            version: self.version,
            lease: self.lease(),
            value: self.slot.value.clone(),
        }
    }
}

impl Store {
    /// Every retained revision with main revision <= `upto`, sorted by
    /// (main, sub), each key's visible one at `upto` marked. Costs 32 bytes
    /// a revision; keys and values stay where they are.
    pub fn revisions_in_order(&self, upto: i64) -> Vec<RevisionView<'_>> {
        let mut views = Vec::with_capacity(self.index.len());
        for (key, index) in &self.index {
            let visible = index.live_slot_at(upto);
            let (mut create_revision, mut version) =
                (index.first_created(), index.first_version_base());
            for (at, slot) in index.slots().iter().enumerate() {
                if slot.main > upto {
                    break;
                }
                let view = if slot.tombstone {
                    RevisionView {
                        key,
                        slot,
                        create_revision: 0,
                        version: 0,
                        visible: false,
                    }
                } else {
                    version += 1;
                    RevisionView {
                        key,
                        slot,
                        create_revision,
                        version,
                        visible: visible == Some(at),
                    }
                };
                views.push(view);
                if slot.tombstone {
                    // The next put starts a generation at its own revision.
                    if let Some(next) = index.slots().get(at + 1) {
                        create_revision = next.main;
                    }
                    version = 0;
                }
            }
        }
        views.sort_unstable_by_key(|view| (view.slot.main, view.slot.sub));
        views
    }

    /// Every retained revision as an owned record, in key order (then
    /// revision); sort by `(main, sub)` for revision order. Keys and values
    /// are shared with the store: a record costs about 100 bytes.
    pub fn revision_records(&self) -> Vec<RevisionRecord> {
        let revisions = self.index.values().map(|index| index.slots().len()).sum();
        let mut records = Vec::with_capacity(revisions);
        for (key, index) in &self.index {
            let (mut create_revision, mut version) =
                (index.first_created(), index.first_version_base());
            for (at, slot) in index.slots().iter().enumerate() {
                if slot.tombstone {
                    records.push(RevisionRecord {
                        key: key.clone(),
                        main: slot.main,
                        sub: i64::from(slot.sub),
                        tombstone: true,
                        create_revision: 0,
                        version: 0,
                        lease: 0,
                        value: Bytes::new(),
                    });
                    if let Some(next) = index.slots().get(at + 1) {
                        create_revision = next.main;
                    }
                    version = 0;
                } else {
                    version += 1;
                    records.push(RevisionRecord {
                        key: key.clone(),
                        main: slot.main,
                        sub: i64::from(slot.sub),
                        tombstone: false,
                        create_revision,
                        version,
                        lease: slot.lease,
                        value: slot.value.clone(),
                    });
                }
            }
        }
        records
    }

    /// etcd 3.4's `HashByRev` over the revisions it would hold in its
    /// backend: CRC-32C of `key`, then of each revision's backend key and
    /// value up to `upto`, skipping the revisions at or below the
    /// compaction that a read at `upto` no longer sees (unless none is
    /// seen at all). The same state hashes the same on cairn and etcd, so
    /// `etcdctl endpoint hashkv` can compare them.
    pub(super) fn etcd_hash(&self, upto: i64) -> u32 {
        let views = self.revisions_in_order(upto);
        let any_visible = views.iter().any(|view| view.visible);
        let mut hash = crc32c::crc32c(b"key");
        let mut value = Vec::new();
        for view in &views {
            if view.main() <= self.compact_revision && any_visible && !view.visible {
                continue;
            }
            hash = crc32c::crc32c_append(hash, &view.backend_key());
            value.clear();
            view.backend_value(&mut value);
            hash = crc32c::crc32c_append(hash, &value);
        }
        hash
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::lease::{Lessor, LessorConfig};
    use crate::mvcc::{DeleteRangeRequest, PutRequest, RequestOp, TxnRequest};

    #[derive(Clone, Debug)]
    enum Write {
        Put(u8, u8),
        Delete(u8),
        DeleteRange(u8, u8),
        Txn(Vec<(u8, u8)>),
        Compact(u8),
    }

    fn key(k: u8) -> Bytes {
        Bytes::from(format!("k{:02}", k % 12))
    }

    fn write() -> impl Strategy<Value = Write> {
        prop_oneof![
            4 => (any::<u8>(), any::<u8>()).prop_map(|(k, v)| Write::Put(k, v)),
            2 => any::<u8>().prop_map(Write::Delete),
            1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Write::DeleteRange(a, b)),
            1 => prop::collection::vec((any::<u8>(), any::<u8>()), 1..5).prop_map(Write::Txn),
            1 => any::<u8>().prop_map(Write::Compact),
        ]
    }

    fn apply(store: &mut Store, leases: &mut Lessor, write: &Write) {
        let put = |k: u8, v: u8| PutRequest {
            key: key(k),
            value: Bytes::from(vec![v; usize::from(v % 5)]),
            ..PutRequest::default()
        };
        // Refused writes (a txn putting one key twice, say) change nothing.
        match write {
            Write::Put(k, v) => drop(store.put(leases, &put(*k, *v))),
            Write::Delete(k) => drop(store.delete_range(
                leases,
                &DeleteRangeRequest {
                    key: key(*k),
                    ..DeleteRangeRequest::default()
                },
            )),
            Write::DeleteRange(a, b) => drop(store.delete_range(
                leases,
                &DeleteRangeRequest {
                    key: key((*a).min(*b)),
                    range_end: key((*a).max(*b)),
                    ..DeleteRangeRequest::default()
                },
            )),
            Write::Txn(puts) => drop(
                store.txn(
                    leases,
                    &TxnRequest {
                        compare: Vec::new(),
                        success: puts
                            .iter()
                            .map(|(k, v)| RequestOp::Put(put(*k, *v)))
                            .collect(),
                        failure: Vec::new(),
                    },
                ),
            ),
            Write::Compact(back) => {
                let at = store.current_revision() - i64::from(*back % 8);
                if at > store.compact_revision() && at >= 1 {
                    store.compact(at).expect("compact");
                }
            }
        }
    }

    proptest! {
        /// Any history, listed as revisions and rebuilt, is the same store
        /// (what an etcd backup of cairn's state and its import rely on).
        #[test]
        fn revisions_rebuild_the_same_store(writes in prop::collection::vec(write(), 0..60)) {
            let mut store = Store::new(StoreConfig::default());
            let mut leases = Lessor::new(LessorConfig { min_ttl_secs: 1 });
            for write in &writes {
                apply(&mut store, &mut leases, write);
            }
            let mut records = store.revision_records();
            records.sort_unstable_by_key(|r| (r.main, r.sub));
            prop_assert_eq!(
                records.iter().map(|r| (r.main, r.sub, r.create_revision, r.version)).collect::<Vec<_>>(),
                store.revisions_in_order(i64::MAX).iter().map(|v| (v.main(), v.sub(), v.create_revision, v.version)).collect::<Vec<_>>()
            );
            prop_assert!(records.windows(2).all(|w| (w[0].main, w[0].sub) < (w[1].main, w[1].sub)));
            let mut builder = StoreBuilder::new(StoreConfig::default());
            for record in records {
                builder.push(record).expect("a store's own history");
            }
            let rebuilt = builder
                .finish(store.current_revision(), store.compact_revision())
                .expect("finish");
            prop_assert_eq!(rebuilt, store);
        }
    }

    #[test]
    fn inconsistent_histories_are_refused() {
        let record = |key: &'static [u8], main, tombstone, create, version| RevisionRecord {
            key: Bytes::from_static(key),
            main,
            sub: 0,
            tombstone,
            create_revision: create,
            version,
            lease: 0,
            value: Bytes::new(),
        };
        let mut builder = StoreBuilder::new(StoreConfig::default());
        builder.push(record(b"a", 2, false, 2, 1)).expect("first");
        assert!(matches!(
            builder.push(record(b"a", 2, false, 2, 2)),
            Err(HistoryError::OutOfOrder { .. })
        ));
        assert!(matches!(
            builder.push(record(b"a", 3, false, 2, 3)),
            Err(HistoryError::Inconsistent { .. })
        ));
        builder.push(record(b"a", 4, true, 0, 0)).expect("delete");
        assert!(matches!(
            builder.push(record(b"a", 5, true, 0, 0)),
            Err(HistoryError::DeleteOfMissing { .. })
        ));
        assert!(matches!(
            builder.push(record(b"a", 6, false, 2, 3)),
            Err(HistoryError::Inconsistent { .. })
        ));
        assert!(matches!(
            builder.push(record(b"", 7, false, 7, 1)),
            Err(HistoryError::EmptyKey { .. })
        ));
        // A delete of history compaction already dropped is itself dropped.
        builder
            .push(record(b"gone", 8, true, 0, 0))
            .expect("remnant");
        assert_eq!(builder.dropped_deletes(), 1);
        assert!(matches!(
            builder.finish(8, 9),
            Err(HistoryError::CompactAfterCurrent { .. })
        ));
    }
}
