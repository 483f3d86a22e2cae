//! The fuzz target's body (`fuzz/fuzz_targets/etcd_wal.rs`), public so that
//! the stable tests run the same code.

use prost::Message;

use crate::decode::CRC_TYPE;
use crate::proto;
use crate::{decode_conf_change, decode_segments, decode_snap_file, wal_snapshots};

/// Decodes `data` as one or two WAL segments (the first byte chooses: bit
/// 0 two segments, split at 8 × the next two bytes; bits 1..3 the second
/// segment's first index; bits 4..7 the starting index, term 1 if bit 3),
/// as it is and again re-framed with every CRC recomputed (so that a
/// byte-mutating fuzzer reaches the records behind the checksums), and as a
/// snap file and a conf change. Checks that a decoded log is contiguous.
pub fn fuzz_body(data: &[u8]) {
    let Some((&control, mut rest)) = data.split_first() else {
        return;
    };
    let from_index = u64::from(control >> 4);
    let from_term = u64::from((control >> 3) & 1);
    let second_index = u64::from((control >> 1) & 3);
    let mut parts = vec![];
    if control & 1 == 1 && rest.len() >= 2 {
        let split = usize::from(u16::from_le_bytes([rest[0], rest[1]])) * 8;
        rest = &rest[2..];
        let (a, b) = rest.split_at(split.min(rest.len()));
        parts.push((format!("{:016x}-{:016x}.wal", 0, 0), a));
        parts.push((format!("{:016x}-{:016x}.wal", 1, second_index), b));
    } else {
        parts.push((format!("{:016x}-{:016x}.wal", 0, 0), rest));
    }
    check(&parts, from_index, from_term);

    let mut crc = 0;
    let fixed: Vec<(String, Vec<u8>)> = parts
        .iter()
        .map(|(name, bytes)| (name.clone(), reframe(bytes, &mut crc)))
        .collect();
    let fixed: Vec<(String, &[u8])> = fixed.iter().map(|(n, b)| (n.clone(), &b[..])).collect();
    check(&fixed, from_index, from_term);

    let _ = decode_snap_file("fuzz.snap", data);
    if let Ok(mut snap) = proto::SnapFile::decode(data) {
        snap.crc = crc32c::crc32c(&snap.data);
        let _ = decode_snap_file("fuzz.snap", &snap.encode_to_vec());
    }
    let _ = decode_conf_change(rest);
}

fn check(segments: &[(String, &[u8])], from_index: u64, from_term: u64) {
    if let Ok(wal) = decode_segments(segments, from_index, from_term) {
        for (i, entry) in wal.entries.iter().enumerate() {
            assert_eq!(entry.index, from_index + 1 + i as u64, "a contiguous log");
        }
        assert!(wal.last_snapshot.is_some());
    }
    let _ = wal_snapshots(segments);
    // Every input also from the start of the log.
    let _ = decode_segments(segments, 0, 0);
}

/// The frames of `bytes` that decode as records, framed again with the CRC
/// chain (continued from `crc`) recomputed; stops at the first that does not.
fn reframe(bytes: &[u8], crc: &mut u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(word) = rest.get(..8) {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        if word == 0 || word & !(0xff << 56) >= 10 << 20 {
            break;
        }
        let len = (word & !(0xff << 56)) as usize;
        let pad = if word >> 63 == 1 { (word >> 56) & 7 } else { 0 } as usize;
        let Some(body) = rest[8..].get(..len.saturating_add(pad)) else {
            break;
        };
        let Ok(mut record) = proto::Record::decode(&body[..len]) else {
            break;
        };
        if record.r#type == CRC_TYPE {
            record.crc = *crc;
        } else {
            *crc = crc32c::crc32c_append(*crc, &record.data);
            record.crc = *crc;
        }
        crate::encode::frame(&mut out, &record.encode_to_vec());
        rest = &rest[8 + len + pad..];
    }
    out
}
