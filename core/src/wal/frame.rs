//! Record framing: a 16-byte header, the payload, zero padding to 8 bytes.
//!
//! ```text
//!  offset  size  field
//!  0       4     payload_len   u32 LE, 1..=MAX_RECORD_PAYLOAD_BYTES
//!  4       4     crc           u32 LE, CRC-32 (IEEE) of bytes 0..4, 8..16 and the payload
//!  8       4     prev_crc      u32 LE, `crc` of the record before this one (the chain)
//!  12      1     record type
//!  13      3     zero
//!  16      n     payload
//!  16+n    p     zero padding, p = (8 - n % 8) % 8
//! ```
//!
//! Frames start at 8-byte aligned offsets, so the length word never straddles a
//! 512-byte sector and is either written whole or not at all. A length of zero is
//! never valid: it marks the preallocated, never-written space after the last record.

use std::ops::Range;

/// Bytes of the frame header in front of every payload.
pub const FRAME_HEADER_BYTES: usize = 16;
/// Every frame starts and ends on a multiple of this.
pub const RECORD_ALIGN_BYTES: usize = 8;
/// The largest payload a frame may carry. Larger lengths are treated as damage.
/// Raft entries are bounded far below this by `--max-request-bytes`.
pub const MAX_RECORD_PAYLOAD_BYTES: usize = 64 * 1024 * 1024;

/// A frame that passed its own checksum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub kind: u8,
    pub crc: u32,
    pub prev_crc: u32,
    pub payload: Range<usize>,
    /// Where the next frame starts.
    pub end: usize,
}

/// What lies at an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FrameRead {
    Valid(Frame),
    /// A zero length word: the end of written data, if all that follows is zero.
    Zero,
    /// Something that is not a valid frame (torn or corrupt: the caller decides).
    Bad(&'static str),
}

/// Rounds `n` up to the record alignment.
pub(crate) const fn align_up(n: usize) -> usize {
    (n + RECORD_ALIGN_BYTES - 1) & !(RECORD_ALIGN_BYTES - 1)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[0..4]);
    hasher.update(&header[8..16]);
    hasher.update(payload);
    hasher.finalize()
}

/// Appends one frame to `buf`, letting `write_payload` write the payload straight
/// into `buf` (no intermediate copy). Returns the frame's crc, the next frame's
/// `prev_crc`.
///
/// Invariant: `buf.len()` is a multiple of [`RECORD_ALIGN_BYTES`] before and after.
pub(crate) fn encode_frame(
    buf: &mut Vec<u8>,
    kind: u8,
    prev_crc: u32,
    write_payload: impl FnOnce(&mut Vec<u8>),
) -> u32 {
    assert_eq!(buf.len() % RECORD_ALIGN_BYTES, 0, "WAL buffer misaligned");
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
    write_payload(buf);
    let payload_len = buf.len() - start - FRAME_HEADER_BYTES;
    assert!(
        (1..=MAX_RECORD_PAYLOAD_BYTES).contains(&payload_len),
        "WAL record payload of {payload_len} bytes"
    );
    buf.resize(align_up(buf.len()), 0);
    let (header, rest) = buf[start..].split_at_mut(FRAME_HEADER_BYTES);
    header[0..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    header[8..12].copy_from_slice(&prev_crc.to_le_bytes());
    header[12] = kind;
    let crc = checksum(header, &rest[..payload_len]);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    crc
}

/// Reads the frame at `offset` (8-byte aligned, `< bytes.len()`).
pub(crate) fn read_frame(bytes: &[u8], offset: usize) -> FrameRead {
    debug_assert_eq!(offset % RECORD_ALIGN_BYTES, 0);
    let available = bytes.len() - offset;
    if available < 4 {
        return if bytes[offset..].iter().all(|&b| b == 0) {
            FrameRead::Zero
        } else {
            FrameRead::Bad("record header cut short by the end of the segment")
        };
    }
    let payload_len = read_u32(bytes, offset) as usize;
    if payload_len == 0 {
        return FrameRead::Zero;
    }
    if payload_len > MAX_RECORD_PAYLOAD_BYTES {
        return FrameRead::Bad("record length exceeds the maximum");
    }
    let end = offset + FRAME_HEADER_BYTES + payload_len;
    if end > bytes.len() {
        return FrameRead::Bad("record extends past the end of the segment");
    }
    let header = &bytes[offset..offset + FRAME_HEADER_BYTES];
    let payload = offset + FRAME_HEADER_BYTES..end;
    if checksum(header, &bytes[payload.clone()]) != read_u32(header, 4) {
        return FrameRead::Bad("checksum mismatch");
    }
    if header[13..16] != [0, 0, 0] {
        return FrameRead::Bad("reserved header bytes are not zero");
    }
    // The writer writes a record and its padding in one batch, so a segment
    // that ends inside the padding ends in a torn write. Accepting the record
    // would put the next one at an unaligned offset, where recovery never
    // looks (found by fuzzing, docs/fuzzing.md).
    let aligned_end = align_up(end);
    if aligned_end > bytes.len() {
        return FrameRead::Bad("record padding cut short by the end of the segment");
    }
    if bytes[end..aligned_end].iter().any(|&b| b != 0) {
        return FrameRead::Bad("record padding is not zero");
    }
    FrameRead::Valid(Frame {
        kind: header[12],
        crc: read_u32(header, 4),
        prev_crc: read_u32(header, 8),
        payload,
        end: align_up(end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_and_pads() {
        let mut buf = Vec::new();
        let crc = encode_frame(&mut buf, 7, 42, |b| b.extend_from_slice(b"hello"));
        assert_eq!(buf.len(), 24);
        match read_frame(&buf, 0) {
            FrameRead::Valid(frame) => {
                assert_eq!(frame.kind, 7);
                assert_eq!(frame.prev_crc, 42);
                assert_eq!(frame.crc, crc);
                assert_eq!(&buf[frame.payload], b"hello");
                assert_eq!(frame.end, 24);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zero_and_damage_are_told_apart() {
        assert_eq!(read_frame(&[0u8; 32], 0), FrameRead::Zero);
        let mut buf = Vec::new();
        encode_frame(&mut buf, 1, 0, |b| b.extend_from_slice(&[9; 20]));
        buf[20] ^= 1;
        assert_eq!(read_frame(&buf, 0), FrameRead::Bad("checksum mismatch"));
        let mut short = Vec::new();
        encode_frame(&mut short, 1, 0, |b| b.extend_from_slice(&[9; 20]));
        short.truncate(30);
        assert_eq!(
            read_frame(&short, 0),
            FrameRead::Bad("record extends past the end of the segment")
        );
        // Payload whole, padding cut: the batch was torn.
        let mut unpadded = Vec::new();
        encode_frame(&mut unpadded, 1, 0, |b| b.extend_from_slice(&[9; 20]));
        unpadded.truncate(36);
        assert_eq!(
            read_frame(&unpadded, 0),
            FrameRead::Bad("record padding cut short by the end of the segment")
        );
    }
}
