//! Snap files, conf changes, and the directories: the right files are
//! read, and none is written, renamed or removed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use cairn_etcd_wal::{
    decode_conf_change, decode_snap_file, read_newest_available_snapshot, read_newest_snapshot,
    read_wal, ConfChangeType, Corruption, EntryType, EtcdFileError, HardState, Metadata,
};
use common::{snap_file, WalWriter};
use proptest::prelude::*;
use prost::Message;

/// Every file of a directory and its bytes.
fn listing(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("a dir")
        .map(|e| {
            let e = e.expect("an entry");
            let name = e.file_name().into_string().expect("utf-8");
            (name, std::fs::read(e.path()).expect("read"))
        })
        .collect()
}

#[test]
fn a_snap_file_reads_back() {
    let bytes = snap_file(42, 3, &[7, 9], b"{\"Root\":{}}");
    let snap = decode_snap_file("x.snap", &bytes).expect("decodes");
    assert_eq!((snap.index, snap.term), (42, 3));
    assert_eq!(snap.voters, vec![7, 9]);
    assert!(snap.learners.is_empty());
    assert_eq!(snap.data, b"{\"Root\":{}}");
    assert!(matches!(
        decode_snap_file("x.snap", &[]),
        Err(EtcdFileError::Corrupt {
            what: Corruption::EmptySnapshot,
            ..
        })
    ));
}

proptest! {
    #[test]
    fn a_changed_snap_file_is_an_error(at in any::<prop::sample::Index>(), xor in 1u8..) {
        let mut bytes = snap_file(42, 3, &[7, 9], b"{\"Root\":{}}");
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        let result = decode_snap_file("x.snap", &bytes);
        // A flip can only pass if it lands where protobuf ignores it.
        if let Ok(snap) = result {
            prop_assert_eq!((snap.index, snap.term), (42, 3));
        }
    }

    #[test]
    fn conf_changes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_conf_change(&data);
    }
}

#[test]
fn a_conf_change_decodes() {
    let cc = cairn_etcd_wal::proto::ConfChange {
        id: 1,
        r#type: 3,
        node_id: 99,
        context: b"{\"id\":99}".to_vec(),
    };
    let read = decode_conf_change(&cc.encode_to_vec()).expect("decodes");
    assert_eq!(read.kind, ConfChangeType::AddLearnerNode);
    assert_eq!((read.id, read.node_id), (1, 99));
    assert_eq!(read.context, b"{\"id\":99}");
    let bad = cairn_etcd_wal::proto::ConfChange { r#type: 9, ..cc };
    assert!(decode_conf_change(&bad.encode_to_vec()).is_err());
}

#[test]
fn the_newest_good_snap_is_chosen_and_nothing_is_touched() {
    let dir = common::temp_dir("snap");
    let name = |term: u64, index: u64| format!("{term:016x}-{index:016x}.snap");
    std::fs::write(dir.join(name(2, 10)), snap_file(10, 2, &[1], b"a")).expect("write");
    std::fs::write(dir.join(name(2, 20)), snap_file(20, 2, &[1], b"b")).expect("write");
    let mut broken = snap_file(30, 2, &[1], b"c");
    let last = broken.len() - 1;
    broken[last] ^= 0xff;
    std::fs::write(dir.join(name(2, 30)), broken).expect("write");
    std::fs::write(dir.join(name(2, 40)), b"").expect("write");
    std::fs::write(dir.join("db"), b"not a snapshot").expect("write");
    std::fs::write(dir.join("0000000000000032.snap.db"), b"x").expect("write");
    let before = listing(&dir);

    let snap = read_newest_snapshot(&dir).expect("reads").expect("one");
    assert_eq!(
        (snap.index, snap.term, snap.data.as_slice()),
        (20, 2, &b"b"[..])
    );
    assert_eq!(snap.file, name(2, 20));
    assert_eq!(listing(&dir), before, "the snap dir is left as it was");

    // Only snapshots the WAL records at or below its commit index.
    let wal_dir = dir.join("wal");
    std::fs::create_dir(&wal_dir).expect("mkdir");
    let mut w = WalWriter::create(Metadata {
        node_id: 1,
        cluster_id: 2,
    });
    for index in 1..=20 {
        w.entry(index, 2, EntryType::Normal, vec![]);
    }
    w.hard_state(HardState {
        term: 2,
        vote: 1,
        commit: 12,
    });
    w.snapshot(10, 2);
    w.snapshot(20, 2);
    for (name, bytes, _) in &w.segments {
        std::fs::write(wal_dir.join(name), bytes).expect("write");
    }
    let snap = read_newest_available_snapshot(&dir, &wal_dir)
        .expect("reads")
        .expect("one");
    assert_eq!(snap.index, 10);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(read_newest_snapshot(&dir).is_err(), "a missing dir");
}

#[test]
fn read_wal_reads_the_segments_from_the_snapshots_and_touches_nothing() {
    let dir = common::temp_dir("wal");
    let mut w = WalWriter::create(Metadata {
        node_id: 1,
        cluster_id: 2,
    });
    for index in 1..=5 {
        w.entry(index, 1, EntryType::Normal, vec![index as u8]);
    }
    w.hard_state(HardState {
        term: 1,
        vote: 1,
        commit: 5,
    });
    w.snapshot(5, 1);
    w.cut();
    for index in 6..=8 {
        w.entry(index, 1, EntryType::Normal, vec![index as u8]);
    }
    w.hard_state(HardState {
        term: 1,
        vote: 1,
        commit: 8,
    });
    w.snapshot(8, 1);
    w.cut();
    w.entry(9, 1, EntryType::Normal, vec![9]);
    w.preallocate(4096);
    for (name, bytes, _) in &w.segments {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
    std::fs::write(dir.join("0.tmp"), b"junk").expect("write");
    std::fs::write(dir.join("notes.txt"), b"junk").expect("write");
    let before = listing(&dir);

    let wal = read_wal(&dir, 5, 1).expect("reads");
    assert_eq!(
        wal.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![6, 7, 8, 9]
    );
    assert_eq!(wal.hard_state.commit, 8);
    assert_eq!(wal.last_snapshot, Some((8, 1)));
    assert_eq!(wal.metadata.node_id, 1);
    assert_eq!(read_wal(&dir, 0, 0).expect("reads").entries.len(), 9);

    // The first segment gone (purged): from 8 still reads, from 5 cannot.
    std::fs::remove_file(dir.join(&w.segments[0].0)).expect("rm");
    let before_purge = listing(&dir);
    assert_eq!(read_wal(&dir, 8, 1).expect("reads").entries.len(), 1);
    assert!(matches!(
        read_wal(&dir, 5, 1),
        Err(EtcdFileError::NoSegmentFor { index: 5 })
    ));
    assert_eq!(listing(&dir), before_purge, "the WAL dir is left as it was");
    assert_eq!(before.len(), before_purge.len() + 1);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(read_wal(&dir, 0, 0).is_err(), "a missing dir");
}
