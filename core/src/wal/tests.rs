//! Unit tests of recovery's verdicts over logs built with [`WalWriter`].

use bytes::Bytes;

use super::*;
use crate::raft::{Entry, EntryKind, HardState};

const PREALLOCATED_BYTES: usize = 4096;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::from(format!("data-{index}-{term}")),
    }
}

/// An in-memory WAL directory: what the runtime's files would hold.
struct Disk {
    writer: WalWriter,
    files: Vec<(String, Vec<u8>)>,
}

impl Disk {
    fn new(segment_size_bytes: u64) -> Disk {
        let metadata = Metadata {
            cluster_id: 0xc1,
            member_id: 0x2,
        };
        let (writer, segment) = WalWriter::create(metadata, SnapshotMarker::default());
        let writer = writer.with_segment_size(segment_size_bytes);
        let mut disk = Disk {
            writer,
            files: Vec::new(),
        };
        disk.create(segment);
        disk
    }

    fn create(&mut self, segment: NewSegment) {
        let mut bytes = segment.bytes;
        bytes.resize(PREALLOCATED_BYTES.max(bytes.len()), 0);
        self.files.push((segment.name, bytes));
    }

    fn write(&mut self, entries: &[Entry], hard_state: HardState) {
        let at = self.writer.offset_bytes() as usize;
        let mut buf = Vec::new();
        self.writer.append_entries(&mut buf, entries);
        self.writer.append_hard_state(&mut buf, hard_state);
        let file = &mut self.files.last_mut().expect("a segment").1;
        if file.len() < at + buf.len() {
            file.resize(at + buf.len(), 0);
        }
        file[at..at + buf.len()].copy_from_slice(&buf);
        if self.writer.should_cut() {
            let segment = self.writer.cut();
            self.create(segment);
        }
    }

    fn segments(&self) -> Vec<(&str, &[u8])> {
        self.files
            .iter()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
            .collect()
    }

    fn recover(&self) -> Result<Recovered, WalError> {
        recover(&self.segments(), SnapshotMarker::default())
    }
}

fn hard_state(term: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote: 1,
        commit,
    }
}

#[test]
fn recovers_entries_hard_state_and_metadata_across_segments() {
    let mut disk = Disk::new(256);
    for index in 1..=20 {
        disk.write(&[entry(index, 1)], hard_state(1, index - 1));
    }
    assert!(disk.files.len() > 3, "small segments were cut");
    let recovered = disk.recover().expect("clean WAL");
    assert_eq!(recovered.metadata.cluster_id, 0xc1);
    assert_eq!(recovered.hard_state, hard_state(1, 19));
    assert_eq!(
        recovered.entries,
        (1..=20).map(|i| entry(i, 1)).collect::<Vec<_>>()
    );
    assert_eq!(recovered.snapshot, Some(SnapshotMarker::default()));
    let last = disk.files.last().expect("a segment").0.clone();
    assert_eq!(
        recovered.verdict,
        TailVerdict::Clean {
            segment: last,
            offset: disk.writer.offset_bytes()
        }
    );
}

#[test]
fn later_writes_of_an_index_truncate_the_suffix() {
    let mut disk = Disk::new(1 << 20);
    disk.write(&[entry(1, 1), entry(2, 1), entry(3, 1)], hard_state(1, 1));
    disk.write(&[entry(2, 2)], hard_state(2, 1));
    let recovered = disk.recover().expect("clean WAL");
    assert_eq!(recovered.entries, vec![entry(1, 1), entry(2, 2)]);
}

#[test]
fn resumed_writer_continues_the_chain() {
    let mut disk = Disk::new(1 << 20);
    disk.write(&[entry(1, 1)], hard_state(1, 0));
    let recovered = disk.recover().expect("clean WAL");
    disk.writer = WalWriter::resume(&recovered);
    disk.write(&[entry(2, 1)], hard_state(1, 1));
    let recovered = disk.recover().expect("clean WAL");
    assert_eq!(recovered.entries, vec![entry(1, 1), entry(2, 1)]);
}

#[test]
fn torn_tail_is_truncated_not_an_error() {
    let mut disk = Disk::new(1 << 20);
    disk.write(&[entry(1, 1)], hard_state(1, 0));
    let good_end = disk.writer.offset_bytes() as usize;
    disk.write(&[entry(2, 1), entry(3, 1)], hard_state(1, 1));
    // Simulate a torn write: the batch's last bytes never reached the disk.
    let end = disk.writer.offset_bytes() as usize;
    for byte in &mut disk.files[0].1[end - 20..end] {
        *byte = 0;
    }
    let recovered = disk.recover().expect("torn tail is recoverable");
    match recovered.verdict {
        TailVerdict::Torn { offset, .. } => assert!(offset as usize >= good_end),
        other => panic!("expected a torn tail, got {other:?}"),
    }
    // Everything before the torn record survives.
    assert!(!recovered.entries.is_empty());
}

#[test]
fn damage_followed_by_valid_records_is_corruption() {
    let mut disk = Disk::new(1 << 20);
    disk.write(&[entry(1, 1)], hard_state(1, 0));
    let damaged = disk.writer.offset_bytes() as usize;
    disk.write(&[entry(2, 1)], hard_state(1, 1));
    disk.write(&[entry(3, 1)], hard_state(1, 2));
    disk.files[0].1[damaged + 20] ^= 0x40;
    let error = disk.recover().expect_err("mid-log damage");
    match &error {
        WalError::Corrupt { offset, .. } => assert_eq!(*offset as usize, damaged),
        other => panic!("{other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.starts_with("WAL corrupt: segment 0000000000000000-0000000000000001.wal at offset")
    );
    assert!(!message.contains('\n'));
}

#[test]
fn damage_in_a_non_last_segment_is_corruption() {
    let mut disk = Disk::new(200);
    for index in 1..=6 {
        disk.write(&[entry(index, 1)], hard_state(1, index));
    }
    assert!(disk.files.len() >= 2);
    // Damage the last record of the first segment: nothing valid follows it there.
    let first_len = {
        let recovered = recover(&disk.segments()[..1], SnapshotMarker::default()).expect("clean");
        match recovered.verdict {
            TailVerdict::Clean { offset, .. } => offset as usize,
            other => panic!("{other:?}"),
        }
    };
    disk.files[0].1[first_len - 3] ^= 1;
    assert!(matches!(disk.recover(), Err(WalError::Corrupt { .. })));
}

#[test]
fn a_stale_record_breaks_the_chain() {
    let mut disk = Disk::new(1 << 20);
    disk.write(&[entry(1, 1)], hard_state(1, 0));
    let first = disk.writer.offset_bytes() as usize;
    disk.write(&[entry(2, 1)], hard_state(1, 1));
    let second = disk.writer.offset_bytes() as usize;
    disk.write(&[entry(3, 1)], hard_state(1, 2));
    // Replay the second batch in place of the third: each record is self-valid.
    let batch: Vec<u8> = disk.files[0].1[first..second].to_vec();
    disk.files[0].1[second..second + batch.len()].copy_from_slice(&batch);
    let error = disk.recover().expect_err("stale data");
    assert!(error.to_string().contains("does not chain"), "{error}");
}

#[test]
fn segments_must_be_consecutive_and_named() {
    let mut disk = Disk::new(200);
    for index in 1..=6 {
        disk.write(&[entry(index, 1)], hard_state(1, index));
    }
    let mut segments = disk.segments();
    segments.remove(1);
    assert!(matches!(
        recover(&segments, SnapshotMarker::default()),
        Err(WalError::SegmentSequence { .. })
    ));
    let mut segments = disk.segments();
    segments[0].0 = "bogus.wal";
    assert!(matches!(
        recover(&segments, SnapshotMarker::default()),
        Err(WalError::BadSegmentName { .. })
    ));
    assert_eq!(
        recover(&[], SnapshotMarker::default()),
        Err(WalError::Empty)
    );
}

#[test]
fn recovery_from_a_snapshot_skips_and_checks_entries() {
    let mut disk = Disk::new(1 << 20);
    disk.write(&[entry(1, 1), entry(2, 1), entry(3, 2)], hard_state(2, 3));
    let mut buf = Vec::new();
    let at = disk.writer.offset_bytes() as usize;
    disk.writer
        .append_snapshot_marker(&mut buf, SnapshotMarker { index: 2, term: 1 });
    disk.files[0].1[at..at + buf.len()].copy_from_slice(&buf);
    let recovered = recover(&disk.segments(), SnapshotMarker { index: 2, term: 1 }).expect("ok");
    assert_eq!(recovered.entries, vec![entry(3, 2)]);
    assert_eq!(
        recovered.snapshot,
        Some(SnapshotMarker { index: 2, term: 1 })
    );
    assert!(matches!(
        recover(&disk.segments(), SnapshotMarker { index: 2, term: 5 }),
        Err(WalError::SnapshotMismatch { .. })
    ));
}

#[test]
fn a_log_that_starts_after_the_snapshot_is_missing_entries() {
    let (mut writer, segment) =
        WalWriter::create(Metadata::default(), SnapshotMarker { index: 10, term: 3 });
    let mut bytes = segment.bytes;
    writer.append_entries(&mut bytes, &[entry(11, 3)]);
    let recovered = recover(
        &[(segment.name.as_str(), &bytes)],
        SnapshotMarker { index: 5, term: 1 },
    );
    assert!(matches!(recovered, Err(WalError::MissingEntries { .. })));
    let recovered = recover(
        &[(segment.name.as_str(), &bytes)],
        SnapshotMarker { index: 10, term: 3 },
    )
    .expect("ok");
    assert_eq!(recovered.entries, vec![entry(11, 3)]);
}
