//! The records a WAL holds and their payload layouts (all integers little-endian).
//!
//! ```text
//!  type 1 Metadata        cluster_id u64 | member_id u64                 (16 B)
//!  type 2 HardState       term u64 | vote u64 | commit u64               (24 B)
//!  type 3 Entry           term u64 | index u64 | kind u8 | data ...      (17 B + data)
//!  type 4 SnapshotMarker  index u64 | term u64                           (16 B)
//! ```

use bytes::Bytes;

use crate::raft::{Entry, EntryKind, HardState, NodeId};

/// Who wrote the WAL. Written first in every segment; recovery refuses a WAL
/// whose segments disagree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub cluster_id: u64,
    pub member_id: NodeId,
}

/// A snapshot the log may start after: entries up to `index` are in the snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotMarker {
    pub index: u64,
    pub term: u64,
}

/// One WAL record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Metadata(Metadata),
    HardState(HardState),
    Entry(Entry),
    SnapshotMarker(SnapshotMarker),
}

/// Why a checksummed payload still makes no sense (a bug or a format mismatch,
/// since the checksum passed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordDecodeError {
    #[error("unknown record type {0}")]
    UnknownType(u8),
    #[error("record type {kind} needs {expected} payload bytes, found {found}")]
    BadLength {
        kind: u8,
        expected: usize,
        found: usize,
    },
    #[error("unknown entry kind {0}")]
    UnknownEntryKind(u8),
}

pub(crate) const TYPE_METADATA: u8 = 1;
pub(crate) const TYPE_HARD_STATE: u8 = 2;
pub(crate) const TYPE_ENTRY: u8 = 3;
pub(crate) const TYPE_SNAPSHOT_MARKER: u8 = 4;

const ENTRY_HEADER_BYTES: usize = 17;

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn put_u64s(buf: &mut Vec<u8>, words: &[u64]) {
    for word in words {
        buf.extend_from_slice(&word.to_le_bytes());
    }
}

impl Record {
    /// The record type byte.
    pub fn kind(&self) -> u8 {
        match self {
            Record::Metadata(_) => TYPE_METADATA,
            Record::HardState(_) => TYPE_HARD_STATE,
            Record::Entry(_) => TYPE_ENTRY,
            Record::SnapshotMarker(_) => TYPE_SNAPSHOT_MARKER,
        }
    }

    /// Appends the payload (not the frame) to `buf`.
    pub(crate) fn write_payload(&self, buf: &mut Vec<u8>) {
        match self {
            Record::Metadata(meta) => put_u64s(buf, &[meta.cluster_id, meta.member_id]),
            Record::HardState(hs) => put_u64s(buf, &[hs.term, hs.vote, hs.commit]),
            Record::Entry(entry) => write_entry_payload(buf, entry),
            Record::SnapshotMarker(marker) => put_u64s(buf, &[marker.index, marker.term]),
        }
    }

    /// Decodes a payload of type `kind`. Entry data is copied out of `payload`.
    pub fn decode(kind: u8, payload: &[u8]) -> Result<Record, RecordDecodeError> {
        let exact = |expected: usize| {
            if payload.len() == expected {
                Ok(())
            } else {
                Err(RecordDecodeError::BadLength {
                    kind,
                    expected,
                    found: payload.len(),
                })
            }
        };
        match kind {
            TYPE_METADATA => {
                exact(16)?;
                Ok(Record::Metadata(Metadata {
                    cluster_id: u64_at(payload, 0),
                    member_id: u64_at(payload, 8),
                }))
            }
            TYPE_HARD_STATE => {
                exact(24)?;
                Ok(Record::HardState(HardState {
                    term: u64_at(payload, 0),
                    vote: u64_at(payload, 8),
                    commit: u64_at(payload, 16),
                }))
            }
            TYPE_ENTRY => {
                if payload.len() < ENTRY_HEADER_BYTES {
                    return Err(RecordDecodeError::BadLength {
                        kind,
                        expected: ENTRY_HEADER_BYTES,
                        found: payload.len(),
                    });
                }
                let entry_kind = EntryKind::from_byte(payload[16])
                    .ok_or(RecordDecodeError::UnknownEntryKind(payload[16]))?;
                Ok(Record::Entry(Entry {
                    term: u64_at(payload, 0),
                    index: u64_at(payload, 8),
                    kind: entry_kind,
                    data: Bytes::copy_from_slice(&payload[ENTRY_HEADER_BYTES..]),
                }))
            }
            TYPE_SNAPSHOT_MARKER => {
                exact(16)?;
                Ok(Record::SnapshotMarker(SnapshotMarker {
                    index: u64_at(payload, 0),
                    term: u64_at(payload, 8),
                }))
            }
            other => Err(RecordDecodeError::UnknownType(other)),
        }
    }
}

/// The entry payload, written without building a [`Record`] (the hot path).
pub(crate) fn write_entry_payload(buf: &mut Vec<u8>, entry: &Entry) {
    put_u64s(buf, &[entry.term, entry.index]);
    buf.push(entry.kind.to_byte());
    buf.extend_from_slice(&entry.data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_round_trips() {
        let records = [
            Record::Metadata(Metadata {
                cluster_id: 0xdead_beef,
                member_id: 7,
            }),
            Record::HardState(HardState {
                term: 3,
                vote: 2,
                commit: 99,
            }),
            Record::Entry(Entry {
                term: 3,
                index: 100,
                kind: EntryKind::ConfChange,
                data: Bytes::from_static(b"conf"),
            }),
            Record::Entry(Entry {
                term: 1,
                index: 1,
                kind: EntryKind::Normal,
                data: Bytes::new(),
            }),
            Record::SnapshotMarker(SnapshotMarker { index: 50, term: 2 }),
        ];
        for record in records {
            let mut payload = Vec::new();
            record.write_payload(&mut payload);
            assert_eq!(Record::decode(record.kind(), &payload), Ok(record));
        }
    }

    #[test]
    fn nonsense_payloads_are_typed_errors() {
        assert_eq!(
            Record::decode(9, &[0; 16]),
            Err(RecordDecodeError::UnknownType(9))
        );
        assert!(matches!(
            Record::decode(TYPE_HARD_STATE, &[0; 23]),
            Err(RecordDecodeError::BadLength { .. })
        ));
        let mut entry = vec![0u8; 17];
        entry[16] = 5;
        assert_eq!(
            Record::decode(TYPE_ENTRY, &entry),
            Err(RecordDecodeError::UnknownEntryKind(5))
        );
    }
}
