//! Why a snapshot file cannot be used. One line each, for the server's log; the
//! server then tries the next older snapshot.

use crate::mvcc::StoreDecodeError;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot is {0} bytes, too short for its header and trailer")]
    TooShort(usize),
    #[error("snapshot has a bad magic number (not a cairn snapshot)")]
    BadMagic,
    #[error("snapshot format version {0} is not supported (this build reads version {1})")]
    UnsupportedVersion(u32, u32),
    #[error("snapshot file checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    FileChecksum { stored: u32, computed: u32 },
    #[error("snapshot section {kind} truncated at byte {offset}")]
    SectionTruncated { kind: u32, offset: usize },
    #[error("snapshot section {position} has kind {found}, expected {expected}")]
    SectionKind {
        position: usize,
        expected: u32,
        found: u32,
    },
    #[error("snapshot section {kind} checksum mismatch")]
    SectionChecksum { kind: u32 },
    #[error("snapshot section {kind} is malformed: {reason}")]
    SectionBody { kind: u32, reason: String },
    #[error("snapshot key-value section is malformed: {0}")]
    Store(#[from] StoreDecodeError),
    #[error("snapshot has {0} unexpected bytes before its trailer")]
    TrailingBytes(usize),
    #[error("snapshot header or padding has nonzero reserved bytes")]
    Reserved,
}
