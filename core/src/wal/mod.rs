//! The write-ahead log: record codec, segment layout and recovery verdict.
//!
//! The WAL is where Raft's durable state lives between snapshots: the hard state,
//! the log entries, a marker for each snapshot the log may start after, and the
//! identity of the cluster and member that wrote it. This module only turns those
//! into bytes and back; the runtime writes, fsyncs, preallocates and renames. The
//! format is specified byte by byte in `docs/wal-format.md`.
//!
//! ```text
//!  segment file {seq:016x}-{first_index:016x}.wal, preallocated to SEGMENT_SIZE_BYTES
//!  ┌──────────────┬──────────┬──────────┬───────┬──────────────┐
//!  │ header (40 B)│ record 0 │ record 1 │  ...  │ zeros ...    │
//!  └──────────────┴──────────┴──────────┴───────┴──────────────┘
//!  record = 16-byte frame header │ payload │ zero padding to 8 bytes
//!  every record's checksum covers its header and payload; each header carries
//!  the checksum of the record before it (the chain), across segments too.
//! ```
//!
//! Runtime contract (what makes recovery's verdict sound):
//! * A segment file is created with its header complete before it is used (write
//!   the header to a temporary name, fsync, rename, fsync the directory).
//! * Records are appended with [`WalWriter`]; a batch is written at
//!   [`WalWriter::offset_bytes`] and fdatasynced before anything that depends on
//!   it is acknowledged (group commit: many records, one write, one sync).
//! * A segment is cut only after everything written to it is synced, so only the
//!   last segment can end in a torn write.
//! * Segment files are never reused: the space past the last record is zeros.

mod error;
mod frame;
mod record;
mod recovery;
mod segment;
mod writer;

pub use error::WalError;
pub use frame::{FRAME_HEADER_BYTES, MAX_RECORD_PAYLOAD_BYTES, RECORD_ALIGN_BYTES};
pub use record::{Metadata, Record, RecordDecodeError, SnapshotMarker};
pub use recovery::{read_metadata, recover, Recovered, TailVerdict};
pub use segment::{
    parse_segment_name, segment_header, segment_name, SegmentHeader, SEGMENT_HEADER_BYTES,
    SEGMENT_SIZE_BYTES, WAL_FORMAT_VERSION, WAL_MAGIC,
};
pub use writer::{NewSegment, WalWriter};

#[cfg(test)]
mod tests;
