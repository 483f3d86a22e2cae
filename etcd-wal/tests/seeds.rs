//! The fuzz target's seed corpus (`fuzz/corpus/etcd_wal/`), made by code:
//! WALs in etcd's framing behind the body's control byte, and a snap file.
//! `CAIRN_FUZZ_WRITE_CORPUS=1` rewrites it.

mod common;

use std::path::PathBuf;

use cairn_etcd_wal::{decode_segments, fuzz_body, EntryType, HardState, Metadata};
use common::{snap_file, WalWriter};

fn wal(cut: bool) -> WalWriter {
    let mut w = WalWriter::create(Metadata {
        node_id: 0x8e9e_05c5_2164_694d,
        cluster_id: 0xcdf8_1819_4e3a_8c32,
    });
    w.entry(1, 1, EntryType::ConfChange, b"\x10\x00\x18\x07".to_vec());
    w.entry(2, 1, EntryType::Normal, Vec::new());
    w.hard_state(HardState {
        term: 1,
        vote: 7,
        commit: 2,
    });
    w.snapshot(2, 1);
    if cut {
        w.cut();
    }
    w.entry(3, 1, EntryType::Normal, b"put key value".to_vec());
    w.preallocate(64);
    w
}

/// The body's input: the control byte, then the segments.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let one = wal(false);
    let two = wal(true);
    let mut from_zero = vec![0x00];
    from_zero.extend_from_slice(&one.segments[0].1);
    // From the snapshot at (2, 1): index 2 in bits 4..7, term 1 in bit 3.
    let mut from_snapshot = vec![0x28];
    from_snapshot.extend_from_slice(&one.segments[0].1);
    // Two segments, the second named for index 3 (bits 1..2), split at the
    // first one's length / 8.
    let split = u16::try_from(two.segments[0].1.len() / 8).expect("small");
    let mut two_segments = vec![0x01 | (3 << 1) | 0x28];
    two_segments.extend_from_slice(&split.to_le_bytes());
    two_segments.extend_from_slice(&two.segments[0].1);
    two_segments.extend_from_slice(&two.segments[1].1);
    assert_eq!(two.segments[1].0, common::wal_name(1, 3));
    let snap = snap_file(2, 1, &[7], b"{\"Root\":{\"Path\":\"/\"}}");
    vec![
        ("seed-wal-from-zero".to_string(), from_zero),
        ("seed-wal-from-snapshot".to_string(), from_snapshot),
        ("seed-wal-two-segments".to_string(), two_segments),
        ("seed-snap-file".to_string(), snap),
    ]
}

#[test]
fn seeds_decode() {
    let one = wal(false);
    let read = decode_segments(&one.parts(), 2, 1).expect("decodes");
    assert_eq!(read.entries.len(), 1);
    let two = wal(true);
    let read = decode_segments(&two.parts(), 2, 1).expect("decodes");
    assert_eq!(read.entries.len(), 1);
}

#[test]
fn seed_corpus_is_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/etcd_wal");
    let write = std::env::var_os("CAIRN_FUZZ_WRITE_CORPUS").is_some();
    let mut stale = Vec::new();
    for (name, bytes) in seeds() {
        fuzz_body(&bytes);
        let path = dir.join(&name);
        if write {
            std::fs::create_dir_all(&dir).expect("create the corpus directory");
            std::fs::write(&path, &bytes).expect("write a seed");
        } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "seed corpus out of date: {stale:?}\nrewrite it with: CAIRN_FUZZ_WRITE_CORPUS=1 cargo test -p cairn-etcd-wal --test seeds"
    );
}
