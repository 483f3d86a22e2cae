//! WALs written in-test in etcd's framing, decoded: equal to what was
//! written; cut, torn or corrupted, an error or (a torn tail of the last
//! segment only) a shorter log, never a panic.

mod common;

use cairn_etcd_wal::{
    decode_segments, wal_snapshots, Corruption, EntryType, EtcdFileError, HardState, Metadata,
    Tail, WalContents,
};
use common::WalWriter;
use proptest::prelude::*;

const META: Metadata = Metadata {
    node_id: 0x8e9e_05c5_2164_694d,
    cluster_id: 0xcdf8_1819_4e3a_8c32,
};

#[derive(Debug, Clone)]
enum Op {
    /// Entries at the end of the log, with data of these lengths.
    Append(Vec<usize>),
    /// A new leader's entries overwrite the uncommitted tail back to here.
    Overwrite(u8),
    /// Commit up to a point of the log and record the hard state.
    Commit(u8),
    /// A snapshot record at the commit index.
    Snapshot,
    Cut,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec(0usize..40, 1..5).prop_map(Op::Append),
        1 => any::<u8>().prop_map(Op::Overwrite),
        2 => any::<u8>().prop_map(Op::Commit),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Cut),
    ]
}

/// A WAL as etcd would write it: commits never go back, overwrites never
/// reach a committed entry, snapshots are of committed entries.
fn build(ops: &[Op]) -> WalWriter {
    let mut w = WalWriter::create(META);
    let mut term = 1;
    for op in ops {
        let last = w.log.len() as u64;
        match op {
            Op::Append(sizes) => {
                for (i, size) in sizes.iter().enumerate() {
                    let index = w.log.len() as u64 + 1;
                    let kind = if i == 1 {
                        EntryType::ConfChange
                    } else {
                        EntryType::Normal
                    };
                    w.entry(index, term, kind, vec![index as u8; *size]);
                }
            }
            Op::Overwrite(back) => {
                let from = last
                    .saturating_sub(u64::from(*back % 4))
                    .max(w.state.commit + 1);
                if from <= last {
                    term += 1;
                    w.entry(from, term, EntryType::Normal, b"overwritten".to_vec());
                }
            }
            Op::Commit(to) => {
                let commit = w.state.commit + (last - w.state.commit) * u64::from(*to) / 255;
                w.hard_state(HardState {
                    term,
                    vote: 1,
                    commit,
                });
            }
            Op::Snapshot => {
                let index = w.state.commit;
                let term = if index == 0 {
                    0
                } else {
                    w.log[index as usize - 1].term
                };
                w.snapshot(index, term);
            }
            Op::Cut => w.cut(),
        }
    }
    w
}

fn expected(w: &WalWriter, from: u64) -> WalContents {
    WalContents {
        metadata: META,
        hard_state: w.state,
        entries: w.log[from as usize..].to_vec(),
        last_snapshot: w.snapshots.last().copied(),
        tail: Tail::Clean,
    }
}

proptest! {
    // CAIRN_FUZZ_CASES raises the count (scripts/fuzz.sh without nightly).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("CAIRN_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn what_is_written_is_read(ops in proptest::collection::vec(op(), 0..40), words in 0usize..250) {
        let mut w = build(&ops);
        // etcd preallocates 64,000,000 bytes: whole length words of zeros.
        w.preallocate(words * 8);
        for &(index, term) in &w.snapshots {
            let read = decode_segments(&w.parts(), index, term).expect("decodes");
            prop_assert_eq!(read, expected(&w, index));
        }
        let snaps = wal_snapshots(&w.parts()).expect("decodes");
        let valid: Vec<_> = w.snapshots.iter().copied().filter(|s| s.0 <= w.state.commit).collect();
        prop_assert_eq!(snaps, valid);
    }

    /// kill -9: the last segment cut anywhere reads as the log up to the
    /// last whole record before the cut.
    #[test]
    fn a_cut_last_segment_reads_to_its_last_whole_record(
        ops in proptest::collection::vec(op(), 0..30),
        at in any::<prop::sample::Index>(),
    ) {
        let mut w = build(&ops);
        w.cut();
        w.entry(w.log.len() as u64 + 1, 9, EntryType::Normal, vec![7; 100]);
        let (_, bytes, ends) = w.segments.last().expect("a segment").clone();
        let cut = at.index(bytes.len() + 1);
        let whole = ends.iter().copied().filter(|&end| end <= cut).max().unwrap_or(0);
        let mut torn = w.parts();
        torn.last_mut().expect("a segment").1 = &bytes[..cut];
        let mut clean = w.parts();
        clean.last_mut().expect("a segment").1 = &bytes[..whole];
        let torn = decode_segments(&torn, 0, 0).expect("a torn tail reads");
        let clean = decode_segments(&clean, 0, 0).expect("a clean prefix reads");
        prop_assert_eq!(&torn.entries, &clean.entries);
        prop_assert_eq!(torn.hard_state, clean.hard_state);
        prop_assert_eq!(clean.tail, Tail::Clean);
        if cut == whole {
            prop_assert_eq!(torn.tail, Tail::Clean);
        } else {
            let name = w.segments.last().expect("a segment").0.clone();
            prop_assert_eq!(torn.tail, Tail::Torn { file: name, offset: whole as u64 });
        }
    }

    /// A segment before the last one cut inside a record is an error.
    #[test]
    fn a_cut_earlier_segment_is_an_error(
        ops in proptest::collection::vec(op(), 1..30),
        at in any::<prop::sample::Index>(),
    ) {
        let mut w = build(&ops);
        w.cut();
        let (name, bytes, ends) = w.segments[0].clone();
        let cut = at.index(bytes.len());
        prop_assume!(!ends.contains(&cut) && cut > 0);
        let mut parts = w.parts();
        parts[0].1 = &bytes[..cut];
        let err = decode_segments(&parts, 0, 0).expect_err("a cut segment");
        prop_assert!(
            matches!(&err, EtcdFileError::Corrupt { file, what: Corruption::Truncated, .. } if *file == name),
            "{}", err
        );
    }

    /// Any byte of any segment changed: no panic; a decoded log is
    /// contiguous. A changed entry payload byte is always found.
    #[test]
    fn flipped_bytes_never_panic(
        ops in proptest::collection::vec(op(), 0..30),
        segment in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let w = build(&ops);
        let mut segments: Vec<(String, Vec<u8>)> =
            w.segments.iter().map(|(n, b, _)| (n.clone(), b.clone())).collect();
        let s = segment.index(segments.len());
        let len = segments[s].1.len();
        let i = at.index(len);
        segments[s].1[i] ^= xor;
        let parts: Vec<(String, &[u8])> =
            segments.iter().map(|(n, b)| (n.clone(), b.as_slice())).collect();
        if let Ok(read) = decode_segments(&parts, 0, 0) {
            for (k, e) in read.entries.iter().enumerate() {
                prop_assert_eq!(e.index, k as u64 + 1);
            }
        }
        let _ = wal_snapshots(&parts);
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        cairn_etcd_wal::fuzz_body(&data);
    }

    #[test]
    fn mutated_wals_never_panic(
        ops in proptest::collection::vec(op(), 0..20),
        control in any::<u8>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let w = build(&ops);
        let mut data = vec![control & !1];
        data.extend_from_slice(&w.segments[0].1);
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        cairn_etcd_wal::fuzz_body(&data);
    }
}

fn first_entry_offset(w: &WalWriter) -> usize {
    // crc, metadata, snapshot: the fourth frame is the first entry.
    w.segments[0].2[2]
}

#[test]
fn a_changed_entry_is_a_crc_error_naming_file_and_offset() {
    let mut w = build(&[Op::Append(vec![30, 30]), Op::Cut, Op::Append(vec![5])]);
    let at = first_entry_offset(&w);
    let len = w.segments[0].1.len();
    w.segments[0].1[at + 30] ^= 1;
    let err = decode_segments(&w.parts(), 0, 0).expect_err("corrupt");
    match err {
        EtcdFileError::Corrupt {
            file,
            offset,
            what: Corruption::CrcMismatch { .. },
        } => {
            assert_eq!(file, w.segments[0].0);
            assert_eq!(offset, at as u64);
        }
        other => panic!("{other}"),
    }
    assert!(at + 30 < len);
}

#[test]
fn a_huge_length_is_an_error_not_an_allocation() {
    let mut w = build(&[Op::Append(vec![3])]);
    let at = first_entry_offset(&w);
    w.segments[0].1[at..at + 8].copy_from_slice(&(u64::MAX >> 9).to_le_bytes());
    let err = decode_segments(&w.parts(), 0, 0).expect_err("too large");
    assert!(
        matches!(
            err,
            EtcdFileError::Corrupt {
                what: Corruption::RecordTooLarge(_),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_zeroed_sector_in_the_last_record_is_a_torn_tail() {
    let mut w = build(&[Op::Append(vec![3])]);
    w.entry(2, 1, EntryType::Normal, vec![0xaa; 1500]);
    let start = *w.segments[0].2.iter().rev().nth(1).expect("a frame");
    let bytes = &mut w.segments[0].1;
    let sector = (start + 8).div_ceil(512) * 512;
    bytes[sector..sector + 512].fill(0);
    let read = decode_segments(&w.parts(), 0, 0).expect("torn");
    assert_eq!(read.entries.len(), 1);
    assert_eq!(
        read.tail,
        Tail::Torn {
            file: w.segments[0].0.clone(),
            offset: start as u64
        }
    );
    // The same in an earlier segment is corruption.
    w.cut();
    let err = decode_segments(&w.parts(), 0, 0).expect_err("corrupt");
    assert!(matches!(err, EtcdFileError::Corrupt { .. }), "{err}");
}

#[test]
fn starting_points_as_etcd_checks_them() {
    let mut w = build(&[Op::Append(vec![1; 5]), Op::Commit(255)]);
    w.snapshot(5, 1);
    w.cut();
    w.entry(6, 1, EntryType::Normal, vec![]);
    let parts = w.parts();
    assert_eq!(
        decode_segments(&parts, 5, 1).expect("reads").entries.len(),
        1
    );
    let err = decode_segments(&parts, 5, 2).expect_err("wrong term");
    assert!(
        matches!(
            err,
            EtcdFileError::Corrupt {
                what: Corruption::SnapshotMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
    let err = decode_segments(&parts, 4, 1).expect_err("no record");
    assert!(
        matches!(err, EtcdFileError::SnapshotNotFound { index: 4, .. }),
        "{err}"
    );
    // From index 6 only the second segment is read: no snapshot there.
    let err = decode_segments(&parts, 6, 1).expect_err("not in the segment read");
    assert!(
        matches!(err, EtcdFileError::SnapshotNotFound { .. }),
        "{err}"
    );
    // A gap in the sequence numbers after the chosen segment.
    // (etcd does not compare a sequence number 0 with the next.)
    let mut gap = parts.clone();
    gap[0].0 = common::wal_name(1, 0);
    gap[1].0 = common::wal_name(3, 6);
    assert!(matches!(
        decode_segments(&gap, 5, 1),
        Err(EtcdFileError::NoSegmentFor { .. })
    ));
}

#[test]
fn metadata_conflict_is_found() {
    let mut w = build(&[Op::Append(vec![1])]);
    let other = cairn_etcd_wal::proto::Metadata {
        node_id: 5,
        cluster_id: 6,
    };
    w.record(common::METADATA, prost::Message::encode_to_vec(&other));
    let err = decode_segments(&w.parts(), 0, 0).expect_err("conflict");
    assert!(
        matches!(
            err,
            EtcdFileError::Corrupt {
                what: Corruption::MetadataConflict,
                ..
            }
        ),
        "{err}"
    );
}
