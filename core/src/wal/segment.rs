//! Segment files: naming and the 40-byte header.
//!
//! ```text
//!  offset  size  field
//!  0       8     magic "CAIRNWAL"
//!  8       4     format version, u32 LE (WAL_FORMAT_VERSION)
//!  12      4     zero
//!  16      8     seq, u64 LE (equals the name's seq)
//!  24      8     first_index, u64 LE (equals the name's first index)
//!  32      4     CRC-32 (IEEE) of bytes 0..32
//!  36      4     zero
//! ```

/// First bytes of every segment.
pub const WAL_MAGIC: [u8; 8] = *b"CAIRNWAL";
/// The format this code writes and reads.
pub const WAL_FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header; records start right after it.
pub const SEGMENT_HEADER_BYTES: usize = 40;
/// Segments are preallocated to this size and cut once they reach it (etcd's 64 MB).
pub const SEGMENT_SIZE_BYTES: u64 = 64 * 1024 * 1024;

/// What a segment header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub seq: u64,
    /// The index of the first entry this segment may hold (last index before it + 1).
    pub first_index: u64,
}

/// `{seq:016x}-{first_index:016x}.wal`, as etcd names its segments.
pub fn segment_name(seq: u64, first_index: u64) -> String {
    format!("{seq:016x}-{first_index:016x}.wal")
}

/// The (seq, first_index) a segment name carries, if it is one.
pub fn parse_segment_name(name: &str) -> Option<SegmentHeader> {
    let stem = name.strip_suffix(".wal")?;
    let (seq, first_index) = stem.split_once('-')?;
    let hex = |s: &str| {
        if s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            u64::from_str_radix(s, 16).ok()
        } else {
            None
        }
    };
    Some(SegmentHeader {
        seq: hex(seq)?,
        first_index: hex(first_index)?,
    })
}

/// The header bytes of a new segment.
pub fn segment_header(header: SegmentHeader) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut bytes = [0u8; SEGMENT_HEADER_BYTES];
    bytes[0..8].copy_from_slice(&WAL_MAGIC);
    bytes[8..12].copy_from_slice(&WAL_FORMAT_VERSION.to_le_bytes());
    bytes[16..24].copy_from_slice(&header.seq.to_le_bytes());
    bytes[24..32].copy_from_slice(&header.first_index.to_le_bytes());
    let crc = crc32fast::hash(&bytes[0..32]);
    bytes[32..36].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// Parses and checks a segment header; the error is a reason for a message.
pub(crate) fn read_segment_header(bytes: &[u8]) -> Result<SegmentHeader, String> {
    if bytes.len() < SEGMENT_HEADER_BYTES {
        return Err(format!(
            "segment is {} bytes, shorter than its {SEGMENT_HEADER_BYTES}-byte header",
            bytes.len()
        ));
    }
    if bytes[0..8] != WAL_MAGIC {
        return Err("bad magic (not a cairn WAL segment)".to_string());
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let crc = crc32fast::hash(&bytes[0..32]);
    if word(32) != crc {
        return Err("header checksum mismatch".to_string());
    }
    let version = word(8);
    if version != WAL_FORMAT_VERSION {
        return Err(format!(
            "format version {version}, this build reads version {WAL_FORMAT_VERSION}"
        ));
    }
    if word(12) != 0 || word(36) != 0 {
        return Err("reserved header bytes are not zero".to_string());
    }
    let long = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    Ok(SegmentHeader {
        seq: long(16),
        first_index: long(24),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_like_etcd() {
        let name = segment_name(1, 0x2a);
        assert_eq!(name, "0000000000000001-000000000000002a.wal");
        assert_eq!(
            parse_segment_name(&name),
            Some(SegmentHeader {
                seq: 1,
                first_index: 42
            })
        );
        for bad in [
            "x.wal",
            "0000000000000001-000000000000002a.snap",
            "1-2.wal",
            "000000000000000g-0000000000000000.wal",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let header = SegmentHeader {
            seq: 3,
            first_index: 77,
        };
        let mut bytes = segment_header(header);
        assert_eq!(read_segment_header(&bytes), Ok(header));
        bytes[17] ^= 0x10;
        assert!(read_segment_header(&bytes).is_err());
    }
}
