//! Why a WAL cannot be recovered. Every variant is an operating error (bytes from
//! a disk), never a panic; its `Display` is one line a server prints before it
//! refuses to start.

/// Why recovery refused the WAL. A torn tail is *not* an error: it is reported
/// in [`super::TailVerdict::Torn`] for the runtime to truncate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    #[error("WAL has no segments")]
    Empty,
    #[error("WAL segment name {name:?} is not {{seq:016x}}-{{first_index:016x}}.wal")]
    BadSegmentName { name: String },
    #[error("WAL segments out of sequence: {name} has seq {found}, expected {expected}")]
    SegmentSequence {
        name: String,
        expected: u64,
        found: u64,
    },
    #[error("WAL segment {segment} has a bad header: {reason}")]
    BadSegmentHeader { segment: String, reason: String },
    #[error("WAL corrupt: segment {segment} at offset {offset}: {reason}")]
    Corrupt {
        segment: String,
        offset: u64,
        reason: String,
    },
    #[error(
        "WAL does not match the snapshot: entry {index} has term {wal_term} in the WAL but {snapshot_term} in the snapshot"
    )]
    SnapshotMismatch {
        index: u64,
        wal_term: u64,
        snapshot_term: u64,
    },
    #[error("WAL starts at entry {first_index}, after the snapshot's index {snapshot_index} + 1: entries are missing")]
    MissingEntries {
        snapshot_index: u64,
        first_index: u64,
    },
}
