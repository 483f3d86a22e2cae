//! Writes etcd 3.4's WAL segments and `*.snap` files, byte for byte as etcd
//! writes them (what `etcdctl snapshot restore` leaves in a new data dir),
//! so that etcd and this crate's decoder both read them.
//!
//! ```text
//!   SegmentEncoder::new(prev crc)   crc record (the chain so far)
//!     .metadata(..)                 etcdserverpb.Metadata
//!     .snapshot(index, term)        walpb.Snapshot
//!     .entry(..) / .hard_state(..)  raftpb.Entry / raftpb.HardState
//!     .finish() ─▶ bytes (pad with zeros to SEGMENT_SIZE_BYTES, as etcd)
//!   encode_snap_file(..)            snappb.snapshot{crc32c(data), data}
//! ```
//!
//! The messages are encoded by hand the way gogoproto's generated
//! `Marshal` does for etcd's proto2 messages: fields in field-number order,
//! non-nullable scalars always written (zeros too, where prost would leave
//! them out), bytes fields whenever set, repeated scalars unpacked. The
//! result is the same bytes etcd writes (checked against an etcd file in
//! the tests), not only something that decodes alike.

use crate::decode::{CRC_TYPE, ENTRY_TYPE, METADATA_TYPE, SNAPSHOT_TYPE, STATE_TYPE};
use crate::{ConfChange, ConfChangeType, Entry, EntryType, HardState, Metadata, RaftSnapshot};

/// etcd's `wal.SegmentSizeBytes`: each segment is preallocated (and
/// zero-filled) to this size.
pub const SEGMENT_SIZE_BYTES: u64 = 64 * 1000 * 1000;

/// A WAL segment's file name, `%016x-%016x.wal` (sequence, first index).
pub fn wal_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}.wal")
}

/// A snap file's name, `%016x-%016x.snap` (term, index).
pub fn snap_name(term: u64, index: u64) -> String {
    format!("{term:016x}-{index:016x}.snap")
}

/// A protobuf message being built, gogoproto's way.
#[derive(Default)]
struct Proto(Vec<u8>);

impl Proto {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    /// A varint field, written even when zero (a non-nullable scalar).
    fn uint(mut self, field: u32, value: u64) -> Proto {
        self.varint(u64::from(field) << 3);
        self.varint(value);
        self
    }

    /// A length-delimited field.
    fn bytes(mut self, field: u32, value: &[u8]) -> Proto {
        self.varint((u64::from(field) << 3) | 2);
        self.varint(value.len() as u64);
        self.0.extend_from_slice(value);
        self
    }

    /// Repeated scalars, unpacked (proto2's default).
    fn uints(self, field: u32, values: &[u64]) -> Proto {
        values.iter().fold(self, |p, &v| p.uint(field, v))
    }
}

/// etcd's `encoder.encode` framing of an encoded `walpb.Record`: a
/// little-endian length word (bit 63 and bits 56..59 give the zero padding
/// to 8 bytes), the record, the padding.
pub(crate) fn frame(out: &mut Vec<u8>, body: &[u8]) {
    let pad = (8 - body.len() % 8) % 8;
    let mut word = body.len() as u64;
    if pad != 0 {
        word |= (0x80 | pad as u64) << 56;
    }
    out.extend_from_slice(&word.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + pad, 0);
}

/// Builds one WAL segment in memory, record by record, keeping etcd's
/// CRC-32C chain.
#[derive(Debug, Clone)]
pub struct SegmentEncoder {
    out: Vec<u8>,
    crc: u32,
}

impl SegmentEncoder {
    /// A segment that continues a chain standing at `prev_crc` (0 for the
    /// first segment): it starts with the crc record etcd puts first.
    pub fn new(prev_crc: u32) -> SegmentEncoder {
        let mut segment = SegmentEncoder {
            out: Vec::new(),
            crc: prev_crc,
        };
        let record = Proto::default()
            .uint(1, CRC_TYPE as u64)
            .uint(2, u64::from(prev_crc));
        frame(&mut segment.out, &record.0);
        segment
    }

    /// A record of `kind` holding `data`, its CRC continuing the chain.
    fn record(&mut self, kind: i64, data: &[u8]) -> &mut Self {
        self.crc = crc32c::crc32c_append(self.crc, data);
        let record = Proto::default()
            .uint(1, kind as u64)
            .uint(2, u64::from(self.crc))
            .bytes(3, data);
        frame(&mut self.out, &record.0);
        self
    }

    /// The metadata record (`etcdserverpb.Metadata`).
    pub fn metadata(&mut self, metadata: Metadata) -> &mut Self {
        let data = Proto::default()
            .uint(1, metadata.node_id)
            .uint(2, metadata.cluster_id);
        self.record(METADATA_TYPE, &data.0)
    }

    /// A snapshot position record (`walpb.Snapshot`).
    pub fn snapshot(&mut self, index: u64, term: u64) -> &mut Self {
        let data = Proto::default().uint(1, index).uint(2, term);
        self.record(SNAPSHOT_TYPE, &data.0)
    }

    /// An entry record (`raftpb.Entry`).
    pub fn entry(&mut self, entry: &Entry) -> &mut Self {
        let kind = match entry.kind {
            EntryType::Normal => 0,
            EntryType::ConfChange => 1,
            EntryType::ConfChangeV2 => 2,
        };
        let data = Proto::default()
            .uint(1, kind)
            .uint(2, entry.term)
            .uint(3, entry.index)
            .bytes(4, &entry.data);
        self.record(ENTRY_TYPE, &data.0)
    }

    /// A hard state record (`raftpb.HardState`).
    pub fn hard_state(&mut self, state: HardState) -> &mut Self {
        let data = Proto::default()
            .uint(1, state.term)
            .uint(2, state.vote)
            .uint(3, state.commit);
        self.record(STATE_TYPE, &data.0)
    }

    /// The chain's value after the last record (the next segment's start).
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The records' bytes (etcd's file continues with zeros up to
    /// [`SEGMENT_SIZE_BYTES`]; the caller extends the file).
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// The bytes of a `raftpb.ConfChange` (an entry's data).
pub fn encode_conf_change(change: &ConfChange) -> Vec<u8> {
    let kind = match change.kind {
        ConfChangeType::AddNode => 0,
        ConfChangeType::RemoveNode => 1,
        ConfChangeType::UpdateNode => 2,
        ConfChangeType::AddLearnerNode => 3,
    };
    let mut proto = Proto::default()
        .uint(1, change.id)
        .uint(2, kind)
        .uint(3, change.node_id);
    if !change.context.is_empty() {
        proto = proto.bytes(4, &change.context);
    }
    proto.0
}

/// A `*.snap` file's bytes: `snappb.snapshot{crc: CRC-32C(data), data:
/// raftpb.Snapshot}`, as etcd's `Snapshotter.SaveSnap` writes it (the
/// `file` field of `snapshot` is not stored).
pub fn encode_snap_file(snapshot: &RaftSnapshot) -> Vec<u8> {
    let conf = Proto::default()
        .uints(1, &snapshot.voters)
        .uints(2, &snapshot.learners)
        .uint(5, 0);
    let metadata = Proto::default()
        .bytes(1, &conf.0)
        .uint(2, snapshot.index)
        .uint(3, snapshot.term);
    let mut raft = Proto::default();
    if !snapshot.data.is_empty() {
        raft = raft.bytes(1, &snapshot.data);
    }
    let raft = raft.bytes(2, &metadata.0);
    Proto::default()
        .uint(1, u64::from(crc32c::crc32c(&raft.0)))
        .bytes(2, &raft.0)
        .0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_conf_change, decode_segments, decode_snap_file, Tail};
    use proptest::prelude::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// The start of the WAL `etcdctl snapshot restore` 3.4.23 wrote with
    /// its defaults (member 8e9e05c52164694d, cluster cdf818194e3a8c32):
    /// crc, metadata and the empty snapshot record.
    #[test]
    fn the_head_of_a_restored_wal_is_etcds_bytes() {
        let mut segment = SegmentEncoder::new(0);
        segment
            .metadata(Metadata {
                node_id: 0x8e9e_05c5_2164_694d,
                cluster_id: 0xcdf8_1819_4e3a_8c32,
            })
            .snapshot(0, 0);
        let expected = hex("0400 0000 0000 0084 0804 1000 0000 0000
             2000 0000 0000 0000 0801 10bb 81c7 fc05
             1a16 08cd d291 8bd2 b881 cf8e 0110 b298
             eaf1 9483 86fc cd01 0e00 0000 0000 0082
             0805 1094 bbc7 ed0e 1a04 0800 1000 0000");
        assert_eq!(segment.finish(), expected);
    }

    #[test]
    fn a_conf_change_is_gogoprotos_bytes() {
        let change = ConfChange {
            id: 0,
            kind: ConfChangeType::AddNode,
            node_id: 1,
            context: b"{}".to_vec(),
        };
        assert_eq!(encode_conf_change(&change), hex("0800 1000 1801 2202 7b7d"));
    }

    fn entry_kind() -> impl Strategy<Value = EntryType> {
        prop_oneof![
            Just(EntryType::Normal),
            Just(EntryType::ConfChange),
            Just(EntryType::ConfChangeV2)
        ]
    }

    proptest! {
        /// Whatever is encoded, the decoder reads back: metadata, entries
        /// after the snapshot, the last hard state, across two segments.
        #[test]
        fn segments_round_trip(
            node_id in any::<u64>(),
            cluster_id in any::<u64>(),
            start in 0u64..5,
            term in 0u64..3,
            entries in proptest::collection::vec(
                (entry_kind(), any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40)),
                0..20,
            ),
            split in any::<prop::sample::Index>(),
            state in (any::<u64>(), any::<u64>(), any::<u64>()),
        ) {
            let metadata = Metadata { node_id, cluster_id };
            let entries: Vec<Entry> = entries
                .into_iter()
                .enumerate()
                .map(|(i, (kind, term, data))| Entry {
                    index: start + 1 + i as u64,
                    term,
                    kind,
                    data,
                })
                .collect();
            let at = split.index(entries.len() + 1);
            let mut first = SegmentEncoder::new(0);
            first.metadata(metadata).snapshot(start, term);
            for entry in &entries[..at] {
                first.entry(entry);
            }
            let mut second = SegmentEncoder::new(first.crc());
            second.metadata(metadata);
            for entry in &entries[at..] {
                second.entry(entry);
            }
            let hard_state = HardState { term: state.0, vote: state.1, commit: state.2 };
            second.hard_state(hard_state);
            let second_index = entries.get(at).map_or(start + 1, |e| e.index);
            let mut a = first.finish();
            // Preallocated space: zeros after the last record.
            a.resize(a.len() + 64, 0);
            let b = second.finish();
            let segments = vec![
                (wal_name(0, 0), a.as_slice()),
                (wal_name(1, second_index), b.as_slice()),
            ];
            let wal = decode_segments(&segments, start, term).unwrap();
            prop_assert_eq!(wal.metadata, metadata);
            prop_assert_eq!(wal.hard_state, hard_state);
            prop_assert_eq!(wal.entries, entries);
            prop_assert_eq!(wal.last_snapshot, Some((start, term)));
            prop_assert_eq!(wal.tail, Tail::Clean);
        }

        #[test]
        fn snap_files_round_trip(
            index in any::<u64>(),
            term in any::<u64>(),
            voters in proptest::collection::vec(any::<u64>(), 0..5),
            learners in proptest::collection::vec(any::<u64>(), 0..3),
            data in proptest::collection::vec(any::<u8>(), 1..200),
        ) {
            let snapshot = RaftSnapshot {
                index, term, voters, learners, data, file: snap_name(term, index),
            };
            let decoded = decode_snap_file(&snapshot.file, &encode_snap_file(&snapshot)).unwrap();
            prop_assert_eq!(decoded, snapshot);
        }

        #[test]
        fn conf_changes_round_trip(
            id in any::<u64>(),
            kind in 0usize..4,
            node_id in any::<u64>(),
            context in proptest::collection::vec(any::<u8>(), 0..60),
        ) {
            let kind = [
                ConfChangeType::AddNode,
                ConfChangeType::RemoveNode,
                ConfChangeType::UpdateNode,
                ConfChangeType::AddLearnerNode,
            ][kind];
            let change = ConfChange { id, kind, node_id, context };
            prop_assert_eq!(decode_conf_change(&encode_conf_change(&change)).unwrap(), change);
        }
    }
}
