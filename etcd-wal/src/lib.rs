//! Reads what a stopped etcd 3.4 member left in its data dir's
//! `member/wal/` and `member/snap/`: the WAL segments (metadata, hard
//! state, raft entries after a snapshot) and the newest raft snapshot file.
//! The reading is read-only: where etcd would repair a torn WAL tail
//! (truncate it) or rename a broken `.snap` file, this crate reads as if it
//! had, and writes nothing. Separately, `encode` builds such files byte for
//! byte as etcd does, and `members` the bootstrap membership
//! (`etcdctl snapshot restore`'s), and `ids` derives etcd's member and
//! cluster IDs.
//!
//! The byte layout is in `docs/etcd-wal-format.md`; in short:
//!
//! ```text
//!   segment  <seq:016x>-<first index:016x>.wal, preallocated (64 MB) and
//!            zero-filled past its last record
//!   frame    u64 LE: low 56 bits record length; if bit 63 is set, bits
//!            56..59 the count of zero padding bytes that follow (to 8)
//!            then walpb.Record { type int64 = 1, crc uint32 = 2, data = 3 }
//!   types    1 metadata (etcdserverpb.Metadata), 2 entry (raftpb.Entry),
//!            3 state (raftpb.HardState), 4 crc, 5 snapshot (walpb.Snapshot)
//!   crc      CRC-32C chained over every record's data, across segments;
//!            a crc record (the first of each segment) carries the chain's
//!            value so far
//!   .snap    snappb.snapshot { crc = CRC-32C(data), data = raftpb.Snapshot }
//! ```
//!
//! The checksum is the `crc32c` crate's (zowens/crc32c: maintained, widely
//! used, hardware CRC-32C with a software fallback, and `crc32c_append` to
//! continue a chain from a previous value, which etcd's WAL needs). The
//! protobuf messages are hand-written prost structs ([`proto`]).
//!
//! Every failure is an [`EtcdFileError`] naming the file (and, in a WAL
//! segment, the byte offset); no length field is trusted before it is
//! checked against the bytes that remain.

use std::path::PathBuf;

mod decode;
mod encode;
mod files;
mod fuzzing;
pub mod ids;
mod members;
pub mod proto;
mod snap;

pub use decode::{decode_segments, parse_wal_name, wal_snapshots};
pub use encode::{
    encode_conf_change, encode_snap_file, snap_name, wal_name, SegmentEncoder, SEGMENT_SIZE_BYTES,
};
pub use files::{read_newest_available_snapshot, read_newest_snapshot, read_wal};
pub use fuzzing::fuzz_body;
pub use members::{bootstrap_v2_store, go_string, member_json, member_record_json, NewMember};
pub use snap::{decode_conf_change, decode_snap_file};

/// A WAL's metadata record (`etcdserverpb.Metadata`): who wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metadata {
    pub node_id: u64,
    pub cluster_id: u64,
}

/// Raft's hard state, the last one the WAL records (zeros if none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HardState {
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
}

/// `raftpb.EntryType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// An etcd request (`etcdserverpb.InternalRaftRequest`, or empty).
    Normal,
    /// A `raftpb.ConfChange` ([`decode_conf_change`]).
    ConfChange,
    /// A `raftpb.ConfChangeV2` (etcd 3.4 writes none).
    ConfChangeV2,
}

/// A raft log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub kind: EntryType,
    pub data: Vec<u8>,
}

/// A raft snapshot from a `*.snap` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftSnapshot {
    pub index: u64,
    pub term: u64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// etcd's v2 store as JSON.
    pub data: Vec<u8>,
    /// The file it was read from (its name only).
    pub file: String,
}

/// `raftpb.ConfChangeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfChangeType {
    AddNode,
    RemoveNode,
    UpdateNode,
    AddLearnerNode,
}

/// A `raftpb.ConfChange`, the data of a [`EntryType::ConfChange`] entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfChange {
    /// etcd's unique request id.
    pub id: u64,
    pub kind: ConfChangeType,
    pub node_id: u64,
    /// The member as JSON (`{"id":..,"peerURLs":[..],..}`) for adds and
    /// updates; empty for removes.
    pub context: Vec<u8>,
}

/// What a WAL holds after a snapshot position, as etcd's `wal.Open` at
/// that position followed by `ReadAll` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalContents {
    pub metadata: Metadata,
    pub hard_state: HardState,
    /// Entries with index > the starting index, contiguous and in order; a
    /// later write of an index replaces it and drops every entry after it.
    pub entries: Vec<Entry>,
    /// (index, term) of the last snapshot record read (the starting one,
    /// or a later one).
    pub last_snapshot: Option<(u64, u64)>,
    /// Where the log ended: cleanly, or at a torn record of the last
    /// segment that etcd's repair would have cut off.
    pub tail: Tail,
}

/// How the last segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// At the end of the file or at a zero length word (preallocated space).
    Clean,
    /// At a torn record (what `kill -9` or a power loss leaves): etcd's
    /// `wal.Repair` would truncate the file here. Nothing after it is read.
    Torn { file: String, offset: u64 },
}

/// What is wrong with a record or file, in [`EtcdFileError::Corrupt`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("the file ends inside a record (only the last segment may)")]
    Truncated,
    #[error("a record length of {0} bytes, over etcd's 10 MiB limit")]
    RecordTooLarge(u64),
    #[error("not a walpb.Record: {0}")]
    BadRecord(String),
    #[error("crc mismatch: the record says {stored:#010x}, its data sums to {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("crc record {stored:#010x} breaks the chain at {running:#010x}")]
    CrcChainBroken { stored: u32, running: u32 },
    #[error("unexpected record type {0}")]
    UnknownRecordType(i64),
    #[error("a {what} record that does not decode: {reason}")]
    BadPayload { what: &'static str, reason: String },
    #[error("entry {index} leaves a gap after {last} entries past the starting index")]
    EntryGap { index: u64, last: u64 },
    #[error("unknown entry type {0}")]
    UnknownEntryType(i32),
    #[error("metadata differs from the earlier segments' (etcd's ErrMetadataConflict)")]
    MetadataConflict,
    #[error("snapshot record at index {index} has term {found}, wanted {wanted} (etcd's ErrSnapshotMismatch)")]
    SnapshotMismatch { index: u64, found: u64, wanted: u64 },
    #[error("an empty snapshot file (etcd's ErrEmptySnapshot)")]
    EmptySnapshot,
    #[error("unknown conf change type {0}")]
    UnknownConfChangeType(i32),
}

/// Why an etcd WAL or snap file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EtcdFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} at byte {offset}: {what}")]
    Corrupt {
        file: String,
        offset: u64,
        what: Corruption,
    },
    #[error("no WAL segment (etcd's ErrFileNotFound)")]
    NoSegments,
    #[error("{0}: not a WAL segment name (%016x-%016x.wal)")]
    BadSegmentName(String),
    #[error("no WAL segment holds index {index}, or the segments from it on skip a sequence number (etcd's ErrFileNotFound)")]
    NoSegmentFor { index: u64 },
    #[error("no metadata record in the WAL")]
    NoMetadata,
    #[error(
        "the WAL has no snapshot record at index {index}, term {term} (etcd's ErrSnapshotNotFound)"
    )]
    SnapshotNotFound { index: u64, term: u64 },
}

impl EtcdFileError {
    pub(crate) fn corrupt(file: &str, offset: u64, what: Corruption) -> EtcdFileError {
        EtcdFileError::Corrupt {
            file: file.to_string(),
            offset,
            what,
        }
    }
}
