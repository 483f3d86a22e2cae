//! Recovery: from the segments' bytes to Raft's durable state and a verdict on
//! the tail.
//!
//! The verdict rules (why: lose nothing that was fsynced, refuse loudly otherwise):
//! * After the last good record of the **last** segment, zeros are the clean end.
//! * A damaged frame there (checksum mismatch, cut short, garbage length) with no
//!   valid frame anywhere after it is a torn write: [`TailVerdict::Torn`], to be
//!   truncated. Nothing after it can have been acknowledged, because the runtime
//!   acknowledges only after an fdatasync that covers every earlier byte.
//! * A damaged frame followed by a valid frame, damage in any non-last segment, a
//!   checksummed record that makes no sense, or a valid record that does not chain
//!   to its predecessor (stale or reordered data) is [`WalError::Corrupt`]:
//!   never skipped.

use crate::raft::{Entry, HardState};

use super::error::WalError;
use super::frame::{read_frame, FrameRead, RECORD_ALIGN_BYTES};
use super::record::{Metadata, Record, SnapshotMarker};
use super::segment::{parse_segment_name, read_segment_header, SEGMENT_HEADER_BYTES};

/// What the end of the last segment looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TailVerdict {
    /// The log ends cleanly; append at `offset` of segment `segment`.
    Clean { segment: String, offset: u64 },
    /// The log ends in a torn write at `offset` of segment `segment`: zero the
    /// segment from `offset` to its end and fsync before appending at `offset`.
    Torn {
        segment: String,
        offset: u64,
        reason: &'static str,
    },
}

/// Where the next record goes, for [`super::WalWriter::resume`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResumePoint {
    pub seq: u64,
    pub first_index: u64,
    pub offset_bytes: u64,
    pub crc: u32,
    pub last_index: u64,
}

/// Raft's durable state as the WAL holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    pub metadata: Metadata,
    /// The latest hard state written (default if none was).
    pub hard_state: HardState,
    /// The newest snapshot marker found, if any.
    pub snapshot: Option<SnapshotMarker>,
    /// The entries after the snapshot recovery started from, in index order, with
    /// later records of an index replacing earlier ones (Raft log truncation).
    pub entries: Vec<Entry>,
    pub verdict: TailVerdict,
    pub(crate) resume: ResumePoint,
}

/// The metadata record (cluster and member IDs) at the start of a segment,
/// without replaying anything else: who a data directory belongs to. `None`
/// if the segment does not start with a sound metadata record.
pub fn read_metadata(segment: &[u8]) -> Option<Metadata> {
    read_segment_header(segment).ok()?;
    if segment.len() <= SEGMENT_HEADER_BYTES {
        return None;
    }
    match read_frame(segment, SEGMENT_HEADER_BYTES) {
        FrameRead::Valid(frame) => match Record::decode(frame.kind, &segment[frame.payload]) {
            Ok(Record::Metadata(metadata)) => Some(metadata),
            _ => None,
        },
        _ => None,
    }
}

/// Reads the WAL. `segments` are `(file name, bytes)` in name order; `start` is
/// the snapshot the state machine was restored from (`SnapshotMarker::default()`
/// for none): entries up to `start.index` are skipped and must agree with it.
pub fn recover(segments: &[(&str, &[u8])], start: SnapshotMarker) -> Result<Recovered, WalError> {
    if segments.is_empty() {
        return Err(WalError::Empty);
    }
    let mut state = ReplayState::new(start);
    let mut verdict = None;
    let mut resume = None;
    let mut previous_seq = None;
    for (position, (name, bytes)) in segments.iter().enumerate() {
        let is_last = position + 1 == segments.len();
        let named = parse_segment_name(name).ok_or_else(|| WalError::BadSegmentName {
            name: (*name).to_string(),
        })?;
        if let Some(previous) = previous_seq {
            let expected = u64::checked_add(previous, 1).unwrap_or(u64::MAX);
            if named.seq != expected {
                return Err(WalError::SegmentSequence {
                    name: (*name).to_string(),
                    expected,
                    found: named.seq,
                });
            }
        }
        previous_seq = Some(named.seq);
        let header = read_segment_header(bytes).map_err(|reason| WalError::BadSegmentHeader {
            segment: (*name).to_string(),
            reason,
        })?;
        if header != named {
            return Err(WalError::BadSegmentHeader {
                segment: (*name).to_string(),
                reason: format!(
                    "header says seq {} first index {}, the name says seq {} first index {}",
                    header.seq, header.first_index, named.seq, named.first_index
                ),
            });
        }
        let corrupt = |offset: usize, reason: String| WalError::Corrupt {
            segment: (*name).to_string(),
            offset: offset as u64,
            reason,
        };
        let (end, torn) = state
            .replay_segment(bytes, is_last)
            .map_err(|(offset, refusal)| match refusal {
                Refusal::Reason(reason) => corrupt(offset, reason),
                Refusal::Error(error) => error,
            })?;
        if state.records_in_segment == 0 {
            return Err(corrupt(
                SEGMENT_HEADER_BYTES,
                "segment holds no metadata record".to_string(),
            ));
        }
        if is_last {
            let segment = (*name).to_string();
            verdict = Some(match torn {
                None => TailVerdict::Clean {
                    segment,
                    offset: end as u64,
                },
                Some(reason) => TailVerdict::Torn {
                    segment,
                    offset: end as u64,
                    reason,
                },
            });
            resume = Some(ResumePoint {
                seq: header.seq,
                first_index: header.first_index,
                offset_bytes: end as u64,
                crc: state.chain.unwrap_or(0),
                last_index: state.last_index(),
            });
        }
    }
    let (Some(verdict), Some(resume), Some(metadata)) = (verdict, resume, state.metadata) else {
        unreachable!("a non-empty WAL yields a verdict and metadata or an error");
    };
    Ok(Recovered {
        metadata,
        hard_state: state.hard_state,
        snapshot: state.snapshot,
        entries: state.entries,
        verdict,
        resume,
    })
}

/// The state accumulated while replaying records, in order.
struct ReplayState {
    start: SnapshotMarker,
    metadata: Option<Metadata>,
    hard_state: HardState,
    snapshot: Option<SnapshotMarker>,
    entries: Vec<Entry>,
    /// Index of the last entry record replayed, skipped ones included.
    last_seen_index: u64,
    /// The crc of the last good record: the `prev_crc` the next one must carry.
    chain: Option<u32>,
    records_in_segment: usize,
}

impl ReplayState {
    fn new(start: SnapshotMarker) -> ReplayState {
        ReplayState {
            start,
            metadata: None,
            hard_state: HardState::default(),
            snapshot: None,
            entries: Vec::new(),
            last_seen_index: 0,
            chain: None,
            records_in_segment: 0,
        }
    }

    fn last_index(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.start.index.max(self.last_seen_index), |entry| {
                entry.index
            })
    }

    /// Replays one segment's records. Returns where written data ends and, for
    /// the last segment, why it ends in a torn write; or (offset, reason) of
    /// corruption.
    #[allow(clippy::type_complexity)]
    fn replay_segment(
        &mut self,
        bytes: &[u8],
        is_last: bool,
    ) -> Result<(usize, Option<&'static str>), (usize, Refusal)> {
        self.records_in_segment = 0;
        let mut offset = SEGMENT_HEADER_BYTES;
        while offset < bytes.len() {
            let reason = match read_frame(bytes, offset) {
                FrameRead::Valid(frame) => {
                    if let Some(expected) = self.chain {
                        if frame.prev_crc != expected {
                            return Err((
                                offset,
                                Refusal::Reason(
                                    "record does not chain to the record before it (stale or reordered data)"
                                        .to_string(),
                                ),
                            ));
                        }
                    }
                    let record = Record::decode(frame.kind, &bytes[frame.payload.clone()])
                        .map_err(|err| (offset, Refusal::Reason(err.to_string())))?;
                    self.apply(record).map_err(|reason| (offset, reason))?;
                    self.chain = Some(frame.crc);
                    offset = frame.end;
                    continue;
                }
                FrameRead::Zero if bytes[offset..].iter().all(|&b| b == 0) => {
                    return Ok((offset, None))
                }
                FrameRead::Zero => "zero length word followed by nonzero bytes",
                FrameRead::Bad(reason) => reason,
            };
            if !is_last {
                return Err((
                    offset,
                    Refusal::Reason(format!("{reason} (in a segment that is not the last)")),
                ));
            }
            if let Some(valid) = find_valid_frame(bytes, offset + RECORD_ALIGN_BYTES) {
                return Err((
                    offset,
                    Refusal::Reason(format!(
                        "{reason}, yet a valid record follows at offset {valid}"
                    )),
                ));
            }
            return Ok((offset, Some(reason)));
        }
        Ok((bytes.len(), None))
    }

    fn apply(&mut self, record: Record) -> Result<(), Refusal> {
        let first_in_segment = self.records_in_segment == 0;
        self.records_in_segment += 1;
        if first_in_segment && !matches!(record, Record::Metadata(_)) {
            return Err(Refusal::Reason(
                "segment does not begin with a metadata record".to_string(),
            ));
        }
        match record {
            Record::Metadata(metadata) => match self.metadata {
                None => self.metadata = Some(metadata),
                Some(first) if first == metadata => {}
                Some(first) => {
                    return Err(Refusal::Reason(format!(
                        "metadata (cluster {:x}, member {:x}) differs from earlier (cluster {:x}, member {:x})",
                        metadata.cluster_id, metadata.member_id, first.cluster_id, first.member_id
                    )))
                }
            },
            Record::HardState(hard_state) => self.hard_state = hard_state,
            Record::SnapshotMarker(marker) => {
                if marker.index == self.start.index && marker.term != self.start.term {
                    return Err(Refusal::Error(WalError::SnapshotMismatch {
                        index: marker.index,
                        wal_term: marker.term,
                        snapshot_term: self.start.term,
                    }));
                }
                if self.snapshot.is_none_or(|newest| marker.index >= newest.index) {
                    self.snapshot = Some(marker);
                }
            }
            Record::Entry(entry) => self.apply_entry(entry)?,
        }
        Ok(())
    }

    fn apply_entry(&mut self, entry: Entry) -> Result<(), Refusal> {
        self.last_seen_index = entry.index;
        if entry.index <= self.start.index {
            if entry.index == self.start.index && entry.term != self.start.term {
                return Err(Refusal::Error(WalError::SnapshotMismatch {
                    index: entry.index,
                    wal_term: entry.term,
                    snapshot_term: self.start.term,
                }));
            }
            return Ok(());
        }
        let Some(last) = self.entries.last() else {
            if entry.index != self.start.index + 1 {
                return Err(Refusal::Error(WalError::MissingEntries {
                    snapshot_index: self.start.index,
                    first_index: entry.index,
                }));
            }
            self.entries.push(entry);
            return Ok(());
        };
        // `index - 1`, not `last.index + 1`: the entry is above the start
        // snapshot, so index >= 1, while the last index may be u64::MAX.
        if entry.index - 1 > last.index {
            return Err(Refusal::Reason(format!(
                "entry index {} leaves a gap after index {}",
                entry.index, last.index
            )));
        }
        // A rewrite of index i drops i and everything after it (Raft §5.3).
        let keep = (entry.index - self.start.index - 1) as usize;
        self.entries.truncate(keep);
        self.entries.push(entry);
        Ok(())
    }
}

/// Why replay stopped: a corruption reason (the caller adds segment and offset)
/// or a complete error.
enum Refusal {
    Reason(String),
    Error(WalError),
}

/// The offset of the first frame at or after `from` that passes its own checksum.
fn find_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len())
        .step_by(RECORD_ALIGN_BYTES)
        .find(|&offset| matches!(read_frame(bytes, offset), FrameRead::Valid(_)))
}
