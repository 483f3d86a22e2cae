//! The snapshot file: a full image of the applied state, and which old files may
//! go once a new snapshot is durable. Byte layout: `docs/snapshot-format.md`.
//!
//! Durability order the runtime must follow (a crash at any step leaves either
//! the old snapshot + WAL, or the new snapshot + WAL, never neither):
//!
//! 1. encode ([`encode`]) and write to `{name}.tmp` in the snapshot directory;
//! 2. fsync the file;
//! 3. rename `{name}.tmp` to `{name}` ([`snapshot_name`]);
//! 4. fsync the directory;
//! 5. append a snapshot marker to the WAL and fsync it;
//! 6. only now delete what [`files_to_delete`] names (older snapshots, WAL
//!    segments wholly before the snapshot), then fsync the directory.
//!
//! Recovery picks the newest snapshot that decodes, then replays the WAL after it.

mod codec;
mod error;
mod member;
mod retention;

pub use codec::{
    decode, encode, parse_snapshot_name, snapshot_name, SnapshotImage, SnapshotView,
    SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC,
};
pub use error::SnapshotError;
pub use member::Member;
pub use retention::{files_to_delete, RetentionPolicy};

#[cfg(test)]
mod tests;
