//! The WAL's frames, records and etcd's `ReadAll`, over segments in memory.

use prost::Message;

use crate::proto;
use crate::{Corruption, Entry, EntryType, EtcdFileError, HardState, Metadata, Tail, WalContents};

/// The size of a frame's length word.
const FRAME_HEADER_BYTES: usize = 8;
/// etcd's `maxWALEntrySizeLimit`: a longer record is an error, not a tail.
const MAX_RECORD_BYTES: u64 = 10 * 1024 * 1024;
/// etcd's `minSectorSize`: a torn write leaves whole sectors of zeros.
const SECTOR_BYTES: u64 = 512;

pub(crate) const METADATA_TYPE: i64 = 1;
pub(crate) const ENTRY_TYPE: i64 = 2;
pub(crate) const STATE_TYPE: i64 = 3;
pub(crate) const CRC_TYPE: i64 = 4;
pub(crate) const SNAPSHOT_TYPE: i64 = 5;

/// A segment file's name, `%016x-%016x.wal`: (sequence, index of the first
/// entry it was cut for). None for any other name (etcd ignores those).
pub fn parse_wal_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (seq, index) = stem.split_once('-')?;
    let hex = |s: &str| {
        (s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
    };
    Some((hex(seq)?, hex(index)?))
}

/// One decoded record and where its frame starts.
pub(crate) struct Located<'a> {
    pub record: proto::Record,
    pub file: &'a str,
    pub offset: u64,
}

/// etcd's `decoder`: frames across segments, the CRC chain, and where the
/// log ends.
pub(crate) struct Frames<'a> {
    segments: Vec<(&'a str, &'a [u8])>,
    seg: usize,
    /// Offset in the current segment of the next frame (etcd's lastValidOff).
    off: usize,
    /// The CRC chain so far.
    pub crc: u32,
    /// etcd's read mode (`ValidSnapshotEntries`): a short read ends the log
    /// in any segment. Otherwise only in the last one, as repair allows.
    lenient: bool,
}

impl<'a> Frames<'a> {
    pub(crate) fn new(segments: Vec<(&'a str, &'a [u8])>, lenient: bool) -> Frames<'a> {
        Frames {
            segments,
            seg: 0,
            off: 0,
            crc: 0,
            lenient,
        }
    }

    fn is_last(&self) -> bool {
        self.seg + 1 == self.segments.len()
    }

    /// The next record, or where the log ends.
    pub(crate) fn next(&mut self) -> Result<Result<Located<'a>, Tail>, EtcdFileError> {
        loop {
            let Some(&(file, bytes)) = self.segments.get(self.seg) else {
                return Ok(Err(Tail::Clean));
            };
            let off = self.off;
            let offset = off as u64;
            let rest = &bytes[off..];
            if rest.is_empty() {
                self.seg += 1;
                self.off = 0;
                continue;
            }
            let short = |this: &Self| {
                if this.is_last() || this.lenient {
                    Ok(Err(Tail::Torn {
                        file: file.to_string(),
                        offset,
                    }))
                } else {
                    Err(EtcdFileError::corrupt(file, offset, Corruption::Truncated))
                }
            };
            let Some(word) = rest.get(..FRAME_HEADER_BYTES) else {
                return short(self);
            };
            let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            if word == 0 {
                // Preallocated space: this segment ends here.
                self.seg += 1;
                self.off = 0;
                continue;
            }
            let (len, pad) = frame_size(word);
            if len >= MAX_RECORD_BYTES - pad {
                return Err(EtcdFileError::corrupt(
                    file,
                    offset,
                    Corruption::RecordTooLarge(len),
                ));
            }
            // Both are below 10 MiB now.
            let (len, pad) = (len as usize, pad as usize);
            let Some(framed) = rest[FRAME_HEADER_BYTES..].get(..len + pad) else {
                return short(self);
            };
            let torn = |this: &Self, what: Corruption| {
                if this.is_last() && torn_write(off + FRAME_HEADER_BYTES, framed) {
                    Ok(Err(Tail::Torn {
                        file: file.to_string(),
                        offset,
                    }))
                } else {
                    Err(EtcdFileError::corrupt(file, offset, what))
                }
            };
            let record = match proto::Record::decode(&framed[..len]) {
                Ok(record) => record,
                Err(e) => return torn(self, Corruption::BadRecord(e.to_string())),
            };
            if record.r#type != CRC_TYPE {
                let computed = crc32c::crc32c_append(self.crc, &record.data);
                self.crc = computed;
                if record.crc != computed {
                    let stored = record.crc;
                    return torn(self, Corruption::CrcMismatch { stored, computed });
                }
            }
            self.off = off + FRAME_HEADER_BYTES + len + pad;
            return Ok(Ok(Located {
                record,
                file,
                offset,
            }));
        }
    }
}

/// A length word's record bytes (low 56 bits) and padding bytes (bits
/// 56..59, when bit 63 is set).
fn frame_size(word: u64) -> (u64, u64) {
    let len = word & !(0xff << 56);
    let pad = if word >> 63 == 1 {
        (word >> 56) & 0x7
    } else {
        0
    };
    (len, pad)
}

/// etcd's `isTornEntry`: a frame's body (starting at `at` in its file) with
/// a whole 512-byte sector's part of it all zeros was torn by a crash.
fn torn_write(at: usize, body: &[u8]) -> bool {
    let mut file_off = at as u64;
    let mut rest = body;
    while !rest.is_empty() {
        let chunk = ((SECTOR_BYTES - file_off % SECTOR_BYTES) as usize).min(rest.len());
        let (sector, tail) = rest.split_at(chunk);
        if sector.iter().all(|&b| b == 0) {
            return true;
        }
        file_off += chunk as u64;
        rest = tail;
    }
    false
}

fn payload<M: Message + Default>(what: &'static str, at: &Located<'_>) -> Result<M, EtcdFileError> {
    M::decode(at.record.data.as_slice()).map_err(|e| {
        EtcdFileError::corrupt(
            at.file,
            at.offset,
            Corruption::BadPayload {
                what,
                reason: e.to_string(),
            },
        )
    })
}

/// A segment: its sequence number, first index, name and bytes.
type Named<'a> = (u64, u64, &'a str, &'a [u8]);

/// Named segments in etcd's order (by name), each name checked.
fn sorted<'a>(segments: &'a [(String, &'a [u8])]) -> Result<Vec<Named<'a>>, EtcdFileError> {
    let mut named = segments
        .iter()
        .map(|(name, bytes)| {
            let (seq, index) =
                parse_wal_name(name).ok_or_else(|| EtcdFileError::BadSegmentName(name.clone()))?;
            Ok((seq, index, name.as_str(), *bytes))
        })
        .collect::<Result<Vec<_>, EtcdFileError>>()?;
    if named.is_empty() {
        return Err(EtcdFileError::NoSegments);
    }
    named.sort_by(|a, b| a.2.cmp(b.2));
    Ok(named)
}

/// etcd's `searchIndex` and `isValidSeq`: the position of the last segment
/// whose first index is at most `index`, if the segments from it on have
/// consecutive sequence numbers (etcd's check, quirk included: a sequence
/// number 0 is not compared with the next).
pub(crate) fn select(names: &[(u64, u64)], index: u64) -> Option<usize> {
    let start = names.iter().rposition(|&(_, first)| index >= first)?;
    let mut last_seq = 0u64;
    for &(seq, _) in &names[start..] {
        if last_seq != 0 && last_seq != seq.wrapping_sub(1) {
            return None;
        }
        last_seq = seq;
    }
    Some(start)
}

/// What etcd's `wal.Open(dir, walpb.Snapshot{from_index, from_term})` and
/// `ReadAll` return, from the segment files' names and bytes (in any
/// order; every name must be a WAL segment's). Segments before the one
/// holding `from_index` are not read. The snapshot record of `from` must
/// be in the WAL (etcd's `Create` writes one for index 0, term 0).
pub fn decode_segments(
    segments: &[(String, &[u8])],
    from_index: u64,
    from_term: u64,
) -> Result<WalContents, EtcdFileError> {
    let named = sorted(segments)?;
    let names: Vec<(u64, u64)> = named.iter().map(|s| (s.0, s.1)).collect();
    let start =
        select(&names, from_index).ok_or(EtcdFileError::NoSegmentFor { index: from_index })?;
    let mut frames = Frames::new(named[start..].iter().map(|s| (s.2, s.3)).collect(), false);

    let mut metadata: Option<Vec<u8>> = None;
    let mut metadata_at = None;
    let mut hard_state = HardState::default();
    let mut entries: Vec<Entry> = Vec::new();
    let mut last_snapshot = None;
    let mut matched = false;
    let tail = loop {
        let at = match frames.next()? {
            Ok(at) => at,
            Err(tail) => break tail,
        };
        let corrupt = |what| EtcdFileError::corrupt(at.file, at.offset, what);
        match at.record.r#type {
            ENTRY_TYPE => {
                let e: proto::Entry = payload("entry", &at)?;
                let kind = match e.r#type {
                    0 => EntryType::Normal,
                    1 => EntryType::ConfChange,
                    2 => EntryType::ConfChangeV2,
                    other => return Err(corrupt(Corruption::UnknownEntryType(other))),
                };
                if e.index > from_index {
                    let up = e.index - from_index - 1;
                    if up > entries.len() as u64 {
                        return Err(corrupt(Corruption::EntryGap {
                            index: e.index,
                            last: entries.len() as u64,
                        }));
                    }
                    entries.truncate(up as usize);
                    entries.push(Entry {
                        index: e.index,
                        term: e.term,
                        kind,
                        data: e.data,
                    });
                }
            }
            STATE_TYPE => {
                let s: proto::HardState = payload("hard state", &at)?;
                hard_state = HardState {
                    term: s.term,
                    vote: s.vote,
                    commit: s.commit,
                };
            }
            METADATA_TYPE => {
                if metadata.as_ref().is_some_and(|m| *m != at.record.data) {
                    return Err(corrupt(Corruption::MetadataConflict));
                }
                if metadata.is_none() {
                    metadata_at = Some((at.file.to_string(), at.offset));
                    metadata = Some(at.record.data.clone());
                }
            }
            CRC_TYPE => {
                // A fresh chain (0) need not match: the first segment's.
                if frames.crc != 0 && at.record.crc != frames.crc {
                    return Err(corrupt(Corruption::CrcChainBroken {
                        stored: at.record.crc,
                        running: frames.crc,
                    }));
                }
                frames.crc = at.record.crc;
            }
            SNAPSHOT_TYPE => {
                let s: proto::WalSnapshot = payload("snapshot", &at)?;
                if s.index == from_index {
                    if s.term != from_term {
                        return Err(corrupt(Corruption::SnapshotMismatch {
                            index: s.index,
                            found: s.term,
                            wanted: from_term,
                        }));
                    }
                    matched = true;
                }
                last_snapshot = Some((s.index, s.term));
            }
            other => return Err(corrupt(Corruption::UnknownRecordType(other))),
        }
    };
    if !matched {
        return Err(EtcdFileError::SnapshotNotFound {
            index: from_index,
            term: from_term,
        });
    }
    let (Some(metadata), Some((file, offset))) = (metadata, metadata_at) else {
        return Err(EtcdFileError::NoMetadata);
    };
    let m = proto::Metadata::decode(metadata.as_slice()).map_err(|e| {
        EtcdFileError::corrupt(
            &file,
            offset,
            Corruption::BadPayload {
                what: "metadata",
                reason: e.to_string(),
            },
        )
    })?;
    Ok(WalContents {
        metadata: Metadata {
            node_id: m.node_id,
            cluster_id: m.cluster_id,
        },
        hard_state,
        entries,
        last_snapshot,
        tail,
    })
}

/// etcd's `wal.ValidSnapshotEntries`: the (index, term) of every snapshot
/// record in all the segments, read from the first, keeping those at or
/// below the last hard state's commit index. As etcd reads here, a short
/// record in any segment ends the reading; other corruption is an error.
pub fn wal_snapshots(segments: &[(String, &[u8])]) -> Result<Vec<(u64, u64)>, EtcdFileError> {
    let named = sorted(segments)?;
    let mut frames = Frames::new(named.iter().map(|s| (s.2, s.3)).collect(), true);
    let mut snapshots = Vec::new();
    let mut commit = 0;
    while let Ok(at) = frames.next()? {
        match at.record.r#type {
            SNAPSHOT_TYPE => {
                let s: proto::WalSnapshot = payload("snapshot", &at)?;
                snapshots.push((s.index, s.term));
            }
            STATE_TYPE => commit = payload::<proto::HardState>("hard state", &at)?.commit,
            CRC_TYPE => {
                if frames.crc != 0 && at.record.crc != frames.crc {
                    return Err(EtcdFileError::corrupt(
                        at.file,
                        at.offset,
                        Corruption::CrcChainBroken {
                            stored: at.record.crc,
                            running: frames.crc,
                        },
                    ));
                }
                frames.crc = at.record.crc;
            }
            _ => {}
        }
    }
    snapshots.retain(|&(index, _)| index <= commit);
    Ok(snapshots)
}
