//! Checksum fix-ups: they make mutated bytes pass the checksums of their
//! layout, so a fuzzer's mutations reach the decoders behind them. Each walks
//! the layout as far as its lengths stay inside the input and leaves the rest
//! alone. The layouts are those of docs/peer-protocol.md,
//! docs/wal-format.md and docs/snapshot-format.md, restated here on purpose:
//! a fix-up that shared the decoder's code would share its bugs.

use std::ops::Range;

use crate::codec::{FRAME_MAGIC, MAX_FRAME_BODY_BYTES};
use crate::wal::{FRAME_HEADER_BYTES as WAL_FRAME_HEADER_BYTES, MAX_RECORD_PAYLOAD_BYTES};

/// `body` inside a peer frame with its length and checksum filled in (the
/// length is clipped to what a frame may hold).
pub fn seal_frame(body: &[u8]) -> Vec<u8> {
    let body = &body[..body.len().min(MAX_FRAME_BODY_BYTES)];
    let mut frame = Vec::with_capacity(9 + body.len());
    frame.push(FRAME_MAGIC);
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    frame.extend_from_slice(body);
    frame
}

const WAL_SEGMENT_HEADER_BYTES: usize = 40;

/// Recomputes a WAL segment's header checksum and, record by record, each
/// record's checksum and its link to the one before (`chain` is the checksum
/// of the record before the first). Returns the last record's checksum, the
/// chain for the next segment.
pub fn seal_wal_segment(segment: &mut [u8], mut chain: u32) -> u32 {
    if segment.len() < WAL_SEGMENT_HEADER_BYTES {
        return chain;
    }
    let crc = crc32fast::hash(&segment[0..32]);
    segment[32..36].copy_from_slice(&crc.to_le_bytes());
    let mut offset = WAL_SEGMENT_HEADER_BYTES;
    while segment.len() - offset >= WAL_FRAME_HEADER_BYTES {
        let payload_len = u32_at(segment, offset) as usize;
        let end = offset + WAL_FRAME_HEADER_BYTES + payload_len;
        if payload_len == 0 || payload_len > MAX_RECORD_PAYLOAD_BYTES || end > segment.len() {
            break;
        }
        segment[offset + 8..offset + 12].copy_from_slice(&chain.to_le_bytes());
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&segment[offset..offset + 4]);
        hasher.update(&segment[offset + 8..end]);
        chain = hasher.finalize();
        segment[offset + 4..offset + 8].copy_from_slice(&chain.to_le_bytes());
        offset = end.next_multiple_of(8);
        if offset >= segment.len() {
            break;
        }
    }
    chain
}

const SNAPSHOT_HEADER_BYTES: usize = 16;
const SNAPSHOT_SECTION_HEADER_BYTES: usize = 24;
const SNAPSHOT_TRAILER_BYTES: usize = 16;
const SNAPSHOT_SECTIONS: usize = 6;

/// Recomputes the checksum of every section body whose length fits, then the
/// file checksum in the trailer.
pub fn seal_snapshot(file: &mut [u8]) {
    if file.len() < SNAPSHOT_HEADER_BYTES + SNAPSHOT_TRAILER_BYTES {
        return;
    }
    let sections: Vec<(usize, Range<usize>)> = section_walk(file).collect();
    for (header_at, body) in sections {
        let crc = crc32fast::hash(&file[body]);
        file[header_at + 16..header_at + 20].copy_from_slice(&crc.to_le_bytes());
    }
    let trailer_at = file.len() - SNAPSHOT_TRAILER_BYTES;
    let crc = crc32fast::hash(&file[..trailer_at]);
    file[trailer_at + 8..trailer_at + 12].copy_from_slice(&crc.to_le_bytes());
}

/// The byte ranges of a snapshot's six section bodies, if its section lengths
/// lay out six of them before the trailer.
pub(super) fn snapshot_sections(file: &[u8]) -> Option<Vec<Range<usize>>> {
    if file.len() < SNAPSHOT_HEADER_BYTES + SNAPSHOT_TRAILER_BYTES {
        return None;
    }
    let bodies: Vec<Range<usize>> = section_walk(file).map(|(_, body)| body).collect();
    (bodies.len() == SNAPSHOT_SECTIONS).then_some(bodies)
}

/// (header offset, body range) of each section, while they fit before the
/// trailer. The file holds at least a header and a trailer.
fn section_walk(file: &[u8]) -> impl Iterator<Item = (usize, Range<usize>)> + '_ {
    let trailer_at = file.len() - SNAPSHOT_TRAILER_BYTES;
    let mut at = SNAPSHOT_HEADER_BYTES;
    std::iter::from_fn(move || {
        if at > trailer_at || trailer_at - at < SNAPSHOT_SECTION_HEADER_BYTES {
            return None;
        }
        let body_len = usize::try_from(u64_at(file, at + 8)).ok()?;
        let body_at = at + SNAPSHOT_SECTION_HEADER_BYTES;
        let body_end = body_at
            .checked_add(body_len)
            .filter(|&end| end <= trailer_at)?;
        let header_at = at;
        at = body_end.next_multiple_of(8);
        Some((header_at, body_at..body_end))
    })
    .take(SNAPSHOT_SECTIONS)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}
