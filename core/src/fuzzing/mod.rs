//! Fuzz bodies for every decoder that bytes from outside reach: a peer's
//! hello, frames and log entries, the WAL's segments and records, snapshot
//! files. Not part of the API: `fuzz/fuzz_targets/*.rs` (cargo-fuzz) and
//! `core/tests/fuzz_decoders.rs` (stable proptest) call the same functions, so
//! a crash found by either replays in the other.
//!
//! Each body feeds `data` to a decoder and, where the decoder accepted it,
//! checks the codec's promise: re-encoding gives back the same bytes (the
//! codecs are canonical), or, where an encoding is not unique, that one
//! decode/encode pass reaches a fixed point. Decoders must return `Err` for
//! bad input; a panic anywhere here, including a failed `assert!`, is a bug.
//!
//! Checksums stop a byte-mutating fuzzer at the door, so the WAL and snapshot
//! bodies decode every input twice: as it is, and after [`seal`] recomputed
//! every checksum the layout has, which lets mutations reach the record and
//! section decoders behind them. Peer bodies skip the frame checksum by
//! decoding the body directly.
//!
//! Inputs are capped at [`MAX_INPUT_BYTES`]: larger ones add nothing a decoder
//! has not seen at that size and only slow the run.

mod mutate;
mod seal;
mod seeds;

use bytes::Bytes;

use crate::codec::{
    decode_frame, decode_hello, decode_message_body, encode_hello, encode_message,
    encode_message_body, FRAME_HEADER_BYTES, HELLO_BYTES, MAX_FRAME_BYTES,
};
use crate::member::{decode_member_info, decode_proposal, encode_member_info, encode_proposal};
use crate::mvcc::StoreConfig;
use crate::raft::ConfChange;
use crate::snapshot::{self, SnapshotView};
use crate::wal::{recover, segment_name, Record, SnapshotMarker, TailVerdict, WalWriter};

pub use mutate::mutate;
use seal::snapshot_sections;
pub use seal::{seal_frame, seal_snapshot, seal_wal_segment};
pub use seeds::seeds;

/// The largest input a body decodes; the rest is ignored.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// The fuzz targets of this crate, as named in `fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 5] = [
    "peer_frame",
    "log_payload",
    "wal_record",
    "wal_recovery",
    "snapshot_file",
];

/// Runs the body of the target named `target` (one of [`TARGETS`]).
///
/// # Panics
/// On an unknown name, or when the body finds a bug.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "peer_frame" => peer_frame(data),
        "log_payload" => log_payload(data),
        "wal_record" => wal_record(data),
        "wal_recovery" => wal_recovery(data),
        "snapshot_file" => snapshot_file(data),
        other => panic!("no fuzz target {other:?} in cairn-core"),
    }
}

fn capped(data: &[u8]) -> &[u8] {
    &data[..data.len().min(MAX_INPUT_BYTES)]
}

/// What a peer sends: a hello, then a stream of frames; and a frame's body on
/// its own (what a frame with a correct checksum would deliver).
pub fn peer_frame(data: &[u8]) {
    let data = capped(data);
    if let Ok(Some((hello, consumed))) = decode_hello(data) {
        assert_eq!(consumed, HELLO_BYTES);
        let again = encode_hello(hello.cluster_id, hello.from, hello.to);
        assert_eq!(&again[..], &data[..HELLO_BYTES], "hello is not canonical");
    }

    // The stream: frames one after another, as a connection reads them.
    let mut stream = Bytes::copy_from_slice(data);
    loop {
        match decode_frame(&stream) {
            Ok(Some((message, consumed))) => {
                assert!(consumed >= FRAME_HEADER_BYTES && consumed <= stream.len());
                let mut again = Vec::new();
                encode_message(&message, &mut again);
                assert_eq!(&again[..], &stream[..consumed], "frame is not canonical");
                stream = stream.slice(consumed..);
            }
            // Asking for more is only right while a whole frame could still come.
            Ok(None) => {
                assert!(stream.len() < MAX_FRAME_BYTES);
                break;
            }
            Err(_) => break,
        }
    }

    // The body behind the checksum, directly and inside a sealed frame: the
    // two paths must agree.
    let body = Bytes::copy_from_slice(data);
    let direct = decode_message_body(&body);
    if let Ok(message) = &direct {
        let mut again = Vec::new();
        encode_message_body(message, &mut again);
        assert_eq!(&again[..], data, "message body is not canonical");
    }
    let framed = Bytes::from(seal_frame(data));
    match (decode_frame(&framed), direct) {
        (Ok(Some((message, consumed))), Ok(expected)) => {
            assert_eq!(consumed, framed.len());
            assert_eq!(message, expected);
        }
        (Err(_), Err(_)) => {}
        (framed, direct) => panic!("frame says {framed:?}, its body alone {direct:?}"),
    }
}

/// What a normal entry carries (a proposal) and a conf change entry carries
/// (a conf change whose context is a member info): a peer's log entries reach
/// these decoders when they are applied.
pub fn log_payload(data: &[u8]) {
    let data = Bytes::copy_from_slice(capped(data));
    if let Ok(proposal) = decode_proposal(&data) {
        assert_eq!(
            encode_proposal(&proposal),
            data,
            "proposal is not canonical"
        );
    }
    if let Ok(info) = decode_member_info(&data) {
        assert_eq!(
            encode_member_info(&info),
            data,
            "member info is not canonical"
        );
    }
    if let Ok(change) = ConfChange::decode(&data) {
        assert_eq!(change.encode(), data, "conf change is not canonical");
        if let Ok(info) = decode_member_info(&change.context) {
            assert_eq!(encode_member_info(&info), change.context);
        }
    }
}

/// One WAL record's payload: the first byte is the record type, the rest the
/// payload a frame with a good checksum would hold.
pub fn wal_record(data: &[u8]) {
    let data = capped(data);
    let Some((&kind, payload)) = data.split_first() else {
        return;
    };
    if let Ok(record) = Record::decode(kind, payload) {
        assert_eq!(record.kind(), kind);
        let mut again = Vec::new();
        record.write_payload(&mut again);
        assert_eq!(&again[..], payload, "WAL record is not canonical");
    }
}

/// Option bits of a [`wal_recovery`] input's first byte.
const WAL_SEAL: u8 = 0x01;
const WAL_SPLIT: u8 = 0x02;
const WAL_START: u8 = 0x04;

/// A WAL as recovery reads it at start-up.
///
/// ```text
///  input = options u8 | [start index u64 | start term u64]   (if WAL_START)
///                     | [split offset u16]                    (if WAL_SPLIT)
///                     | segment bytes (header included)
/// ```
/// `WAL_SPLIT` cuts the segment bytes in two segments at the split offset;
/// `WAL_SEAL` recomputes every checksum and the chain first ([`seal_wal_segment`]).
/// Segment names are taken from the headers, as a runtime would find them.
pub fn wal_recovery(data: &[u8]) {
    let data = capped(data);
    let Some((&options, mut rest)) = data.split_first() else {
        return;
    };
    let mut start = SnapshotMarker::default();
    if options & WAL_START != 0 {
        let Some((marker, tail)) = rest.split_first_chunk::<16>() else {
            return;
        };
        start = SnapshotMarker {
            index: u64_at(marker, 0),
            term: u64_at(marker, 8),
        };
        rest = tail;
    }
    let mut segments: Vec<Vec<u8>> = vec![rest.to_vec()];
    if options & WAL_SPLIT != 0 {
        let Some((split, tail)) = rest.split_first_chunk::<2>() else {
            return;
        };
        let at = usize::from(u16::from_le_bytes(*split)).min(tail.len());
        segments = vec![tail[..at].to_vec(), tail[at..].to_vec()];
    }
    if options & WAL_SEAL != 0 {
        let mut chain = 0;
        for segment in &mut segments {
            chain = seal_wal_segment(segment, chain);
        }
    }
    let names: Vec<String> = segments.iter().map(|bytes| name_of(bytes)).collect();
    let listed: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&segments)
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    let Ok(recovered) = recover(&listed, start) else {
        return;
    };

    // What recovery promises: entries follow the start without gaps, and the
    // tail verdict points inside the last segment, on a record boundary.
    for (position, entry) in recovered.entries.iter().enumerate() {
        assert_eq!(
            Some(entry.index),
            start.index.checked_add(position as u64 + 1)
        );
    }
    let last = segments.last().expect("at least one segment");
    let (TailVerdict::Clean { offset, .. } | TailVerdict::Torn { offset, .. }) = &recovered.verdict;
    assert!(*offset as usize <= last.len() && offset % 8 == 0);

    // Rewriting what was recovered, and recovering that, gives it back (a
    // WAL cannot start after index u64::MAX: there is no next index).
    if start.index == u64::MAX {
        return;
    }
    let (mut writer, segment) = WalWriter::create(recovered.metadata, start);
    let mut bytes = segment.bytes;
    writer.append_entries(&mut bytes, &recovered.entries);
    writer.append_hard_state(&mut bytes, recovered.hard_state);
    let again =
        recover(&[(writer.segment_name(), &bytes)], start).expect("a WAL just written recovers");
    assert_eq!(again.metadata, recovered.metadata);
    assert_eq!(again.hard_state, recovered.hard_state);
    assert_eq!(again.entries, recovered.entries);
}

/// The name a runtime would list a segment under: the one its header claims.
fn name_of(segment: &[u8]) -> String {
    match segment.get(16..32) {
        Some(words) => segment_name(u64_at(words, 0), u64_at(words, 8)),
        None => segment_name(0, 1),
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// A snapshot file, as it is and with its checksums recomputed ([`seal_snapshot`]).
pub fn snapshot_file(data: &[u8]) {
    let data = capped(data);
    snapshot_bytes(data);
    let mut sealed = data.to_vec();
    seal_snapshot(&mut sealed);
    snapshot_bytes(&sealed);
}

fn snapshot_bytes(data: &[u8]) {
    let file = Bytes::copy_from_slice(data);
    let Ok(image) = snapshot::decode(&file, StoreConfig::default()) else {
        return;
    };
    let encode = |image: &snapshot::SnapshotImage| {
        let v2 = image.v2.encode();
        snapshot::encode(&SnapshotView {
            meta: &image.meta,
            members: &image.members,
            removed: &image.removed,
            kv: &image.kv,
            leases: &image.leases,
            v2: &v2,
            auth: &image.auth,
        })
    };
    let again = encode(&image);
    // An empty auth section (written before auth existed) decodes as the
    // initial state, which encodes as a non-empty one: the only encoding that
    // is not unique. Past it, one more pass must change nothing.
    let reread = snapshot::decode(&Bytes::from(again.clone()), StoreConfig::default())
        .expect("an encoded snapshot decodes");
    assert_eq!(
        encode(&reread),
        again,
        "snapshot encoding is not a fixed point"
    );
    let auth_written = snapshot_sections(data).is_some_and(|bodies| !bodies[5].is_empty());
    if auth_written {
        assert_eq!(&again[..], data, "snapshot is not canonical");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds are valid: each decodes, so mutations start from inputs that
    /// reach past the first checks.
    #[test]
    fn every_seed_decodes() {
        for (name, bytes) in seeds("peer_frame") {
            let data = Bytes::from(bytes);
            let decoded = match &name[..10] {
                "seed-hello" => decode_hello(&data).map(|hello| hello.is_some()),
                "seed-frame" => decode_frame(&data).map(|frame| frame.is_some()),
                _ => decode_message_body(&data).map(|_| true),
            };
            assert_eq!(decoded, Ok(true), "{name}");
        }
        for (name, bytes) in seeds("log_payload") {
            let data = Bytes::from(bytes);
            let decodes = decode_proposal(&data).is_ok()
                || decode_member_info(&data).is_ok()
                || ConfChange::decode(&data).is_ok();
            assert!(decodes, "{name}");
        }
        for (name, bytes) in seeds("wal_record") {
            assert!(Record::decode(bytes[0], &bytes[1..]).is_ok(), "{name}");
        }
        for (name, bytes) in seeds("wal_recovery") {
            let options = bytes[0];
            let mut rest = &bytes[1..];
            let mut start = SnapshotMarker::default();
            if options & WAL_START != 0 {
                start.index = u64_at(rest, 0);
                start.term = u64_at(rest, 8);
                rest = &rest[16..];
            }
            let segments = if options & WAL_SPLIT != 0 {
                let at = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
                vec![&rest[2..2 + at], &rest[2 + at..]]
            } else {
                vec![rest]
            };
            let names: Vec<String> = segments.iter().map(|bytes| name_of(bytes)).collect();
            let listed: Vec<(&str, &[u8])> =
                names.iter().map(String::as_str).zip(segments).collect();
            let recovered = recover(&listed, start).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!recovered.entries.is_empty(), "{name}");
        }
        for (name, bytes) in seeds("snapshot_file") {
            let decoded = snapshot::decode(&Bytes::from(bytes), StoreConfig::default());
            assert!(decoded.is_ok(), "{name}: {decoded:?}");
        }
    }

    #[test]
    fn sealing_repairs_what_a_mutation_broke() {
        let (_, wal) = seeds("wal_recovery").remove(0);
        let mut segment = wal[1..].to_vec();
        segment[40 + 16] ^= 0x01; // the metadata record's cluster id
        let name = name_of(&segment);
        assert!(recover(&[(&name, &segment)], SnapshotMarker::default()).is_err());
        seal_wal_segment(&mut segment, 0);
        let recovered = recover(&[(&name, &segment)], SnapshotMarker::default()).unwrap();
        assert_eq!(recovered.metadata.cluster_id, 0xc1a5 ^ 0x01);

        let (_, mut file) = seeds("snapshot_file").remove(0);
        let members = snapshot_sections(&file).unwrap()[1].clone();
        let name = members.start
            + file[members.clone()]
                .windows(2)
                .position(|w| w == b"n1")
                .expect("the member's name");
        file[name] = b'm';
        assert!(snapshot::decode(&Bytes::from(file.clone()), StoreConfig::default()).is_err());
        seal_snapshot(&mut file);
        let image = snapshot::decode(&Bytes::from(file), StoreConfig::default()).unwrap();
        assert_eq!(image.members[0].name, "m1");
    }
}
