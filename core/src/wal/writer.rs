//! The append side: frames records into the caller's buffer and keeps the
//! position, checksum chain and segment-cut decision.
//!
//! Group commit, as the runtime drives it:
//!
//! ```text
//!  let at = writer.offset_bytes();          // where this batch lands
//!  buf.clear();
//!  writer.append_entries(&mut buf, &entries);
//!  writer.append_hard_state(&mut buf, hard_state);
//!  file.write_at(&buf, at); file.fdatasync();  // then report Persisted
//!  if writer.should_cut() {
//!      let segment = writer.cut();          // write to a temp name, fsync,
//!  }                                        // rename, fsync the directory
//! ```

use crate::raft::{Entry, HardState};

use super::frame::encode_frame;
use super::record::{write_entry_payload, Metadata, Record, SnapshotMarker, TYPE_ENTRY};
use super::recovery::Recovered;
use super::segment::{segment_header, segment_name, SegmentHeader, SEGMENT_SIZE_BYTES};

/// A segment to create: its name and its first bytes (header, metadata, hard
/// state). The runtime preallocates it to [`SEGMENT_SIZE_BYTES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSegment {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Frames records for the current segment.
///
/// Invariant: `offset_bytes` is where the next batch starts in the current
/// segment, and `crc` is the checksum of the last record before it.
#[derive(Clone, Debug)]
pub struct WalWriter {
    metadata: Metadata,
    segment: SegmentHeader,
    offset_bytes: u64,
    crc: u32,
    last_index: u64,
    hard_state: HardState,
    segment_size_bytes: u64,
    /// `segment`'s file name, kept rather than formatted on every batch.
    name: String,
}

impl WalWriter {
    /// A brand-new WAL starting after `snapshot` (default for an empty log).
    /// Returns the writer and the first segment to create.
    #[must_use]
    pub fn create(metadata: Metadata, snapshot: SnapshotMarker) -> (WalWriter, NewSegment) {
        let mut writer = WalWriter {
            metadata,
            segment: SegmentHeader {
                seq: 0,
                first_index: snapshot.index + 1,
            },
            offset_bytes: 0,
            crc: 0,
            last_index: snapshot.index,
            hard_state: HardState::default(),
            segment_size_bytes: SEGMENT_SIZE_BYTES,
            name: segment_name(0, snapshot.index + 1),
        };
        let mut segment = writer.start_segment();
        writer.append_snapshot_marker(&mut segment.bytes, snapshot);
        (writer, segment)
    }

    /// Continues the WAL `recovered` describes (after the runtime truncated a
    /// torn tail, if there was one).
    pub fn resume(recovered: &Recovered) -> WalWriter {
        let resume = recovered.resume;
        WalWriter {
            metadata: recovered.metadata,
            segment: SegmentHeader {
                seq: resume.seq,
                first_index: resume.first_index,
            },
            offset_bytes: resume.offset_bytes,
            crc: resume.crc,
            last_index: resume.last_index,
            hard_state: recovered.hard_state,
            segment_size_bytes: SEGMENT_SIZE_BYTES,
            name: segment_name(resume.seq, resume.first_index),
        }
    }

    /// Cut segments at `bytes` instead of [`SEGMENT_SIZE_BYTES`] (tests, small disks).
    pub fn with_segment_size(mut self, bytes: u64) -> WalWriter {
        self.segment_size_bytes = bytes;
        self
    }

    /// Where the next appended batch must be written in the current segment.
    pub fn offset_bytes(&self) -> u64 {
        self.offset_bytes
    }

    /// The current segment's file name.
    pub fn segment_name(&self) -> &str {
        &self.name
    }

    /// Index of the last entry appended.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// Appends entries. Raft may rewrite a suffix (an index at or below
    /// `last_index`); recovery keeps the latest write of each index.
    pub fn append_entries(&mut self, buf: &mut Vec<u8>, entries: &[Entry]) {
        for entry in entries {
            let before = buf.len();
            self.crc = encode_frame(buf, TYPE_ENTRY, self.crc, |b| write_entry_payload(b, entry));
            self.offset_bytes += (buf.len() - before) as u64;
            self.last_index = entry.index;
        }
    }

    /// Appends the hard state.
    pub fn append_hard_state(&mut self, buf: &mut Vec<u8>, hard_state: HardState) {
        self.hard_state = hard_state;
        self.append(buf, &Record::HardState(hard_state));
    }

    /// Appends a marker saying the log may start after `snapshot` (written once
    /// the snapshot file is durable).
    pub fn append_snapshot_marker(&mut self, buf: &mut Vec<u8>, snapshot: SnapshotMarker) {
        self.append(buf, &Record::SnapshotMarker(snapshot));
    }

    /// Whether the current segment is full: cut after the batch is synced.
    pub fn should_cut(&self) -> bool {
        self.offset_bytes >= self.segment_size_bytes
    }

    /// Starts the next segment (seq + 1, first index = last index + 1). The old
    /// segment must be fsynced before the new one is used.
    #[must_use]
    pub fn cut(&mut self) -> NewSegment {
        self.segment = SegmentHeader {
            seq: self.segment.seq + 1,
            first_index: self.last_index + 1,
        };
        self.name = segment_name(self.segment.seq, self.segment.first_index);
        let mut segment = self.start_segment();
        let hard_state = self.hard_state;
        self.append_hard_state(&mut segment.bytes, hard_state);
        segment
    }

    fn start_segment(&mut self) -> NewSegment {
        let mut bytes = segment_header(self.segment).to_vec();
        self.offset_bytes = bytes.len() as u64;
        let metadata = self.metadata;
        self.append(&mut bytes, &Record::Metadata(metadata));
        NewSegment {
            name: self.name.clone(),
            bytes,
        }
    }

    fn append(&mut self, buf: &mut Vec<u8>, record: &Record) {
        let before = buf.len();
        self.crc = encode_frame(buf, record.kind(), self.crc, |b| record.write_payload(b));
        self.offset_bytes += (buf.len() - before) as u64;
    }
}
