//! Randomized tests of WAL recovery: arbitrary bytes never panic; bit flips and
//! truncations of valid logs are either detected or land in the region recovery
//! declares torn; valid logs round-trip with Raft's truncation semantics.
//!
//! Every test prints `REPRODUCE WITH: ...` on failure. Seeds default to a fixed
//! value; sweep with `PROPTEST_RNG_SEED=<n> cargo test -p cairn-core --test storage_wal`.

use bytes::Bytes;
use cairn_core::raft::{Entry, EntryKind, HardState};
use cairn_core::wal::{recover, Metadata, SnapshotMarker, TailVerdict, WalError, WalWriter};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

const DEFAULT_SEED: u64 = 0x5eed_0001;

fn config(cases: u32) -> Config {
    let mut config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    // Config::default() already read PROPTEST_RNG_SEED if it is set.
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    config
}

/// Prints the replay command if the test panics.
struct ReplayHint {
    seed: RngSeed,
    test: &'static str,
}

impl Drop for ReplayHint {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "REPRODUCE WITH: PROPTEST_RNG_SEED={} cargo test -p cairn-core --test storage_wal -- {} --exact",
                self.seed, self.test
            );
        }
    }
}

fn run<S: Strategy>(
    test: &'static str,
    cases: u32,
    strategy: S,
    body: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = config(cases);
    let _hint = ReplayHint {
        seed: config.rng_seed,
        test,
    };
    let mut runner = TestRunner::new(config);
    if let Err(failure) = runner.run(&strategy, body) {
        panic!("{failure}");
    }
}

/// A valid single-segment log, its entries, and the byte offset where each
/// batch (entry + hard state) ends.
struct ValidLog {
    name: String,
    bytes: Vec<u8>,
    written_bytes: usize,
    entries: Vec<Entry>,
    batch_ends: Vec<usize>,
}

fn valid_log(payloads: &[Vec<u8>], preallocated_bytes: usize) -> ValidLog {
    let (mut writer, segment) = WalWriter::create(
        Metadata {
            cluster_id: 9,
            member_id: 1,
        },
        SnapshotMarker::default(),
    );
    let mut bytes = segment.bytes;
    let mut entries = Vec::new();
    let mut batch_ends = Vec::new();
    for (i, payload) in payloads.iter().enumerate() {
        let entry = Entry {
            term: 1,
            index: i as u64 + 1,
            kind: EntryKind::Normal,
            data: Bytes::from(payload.clone()),
        };
        writer.append_entries(&mut bytes, std::slice::from_ref(&entry));
        writer.append_hard_state(
            &mut bytes,
            HardState {
                term: 1,
                vote: 1,
                commit: i as u64,
            },
        );
        entries.push(entry);
        batch_ends.push(bytes.len());
    }
    let written_bytes = bytes.len();
    bytes.resize(written_bytes.max(preallocated_bytes), 0);
    ValidLog {
        name: writer.segment_name().to_string(),
        bytes,
        written_bytes,
        entries,
        batch_ends,
    }
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 1..12)
}

#[test]
fn arbitrary_bytes_never_panic() {
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..600),
        any::<bool>(),
        payloads(),
    );
    run(
        "arbitrary_bytes_never_panic",
        512,
        strategy,
        |(garbage, after_valid_prefix, payloads)| {
            // Pure garbage as a segment.
            let _ = recover(
                &[("0000000000000000-0000000000000001.wal", &garbage)],
                SnapshotMarker::default(),
            );
            // Garbage after a valid prefix: exercises the frame scanner and classifier.
            let log = valid_log(&payloads, 0);
            let mut bytes = if after_valid_prefix {
                log.bytes.clone()
            } else {
                log.bytes[..40.min(log.bytes.len())].to_vec()
            };
            bytes.extend_from_slice(&garbage);
            if let Ok(recovered) =
                recover(&[(log.name.as_str(), &bytes)], SnapshotMarker::default())
            {
                // Whatever was recovered is a prefix of what was written.
                prop_assert!(recovered.entries.len() <= log.entries.len() || !after_valid_prefix);
                if after_valid_prefix {
                    prop_assert_eq!(&recovered.entries[..], &log.entries[..]);
                }
            }
            Ok(())
        },
    );
}

#[test]
fn bit_flips_are_detected_or_declared_torn() {
    let strategy = (payloads(), any::<prop::sample::Index>(), 0u8..8);
    run(
        "bit_flips_are_detected_or_declared_torn",
        1024,
        strategy,
        |(payloads, position, bit)| {
            let log = valid_log(&payloads, 0);
            let mut bytes = log.bytes.clone();
            bytes.resize(log.written_bytes + 64, 0);
            let flipped = position.index(bytes.len());
            bytes[flipped] ^= 1 << bit;
            match recover(&[(log.name.as_str(), &bytes)], SnapshotMarker::default()) {
                Err(_) => {}
                Ok(recovered) => {
                    let kept = recovered.entries.len();
                    prop_assert_eq!(
                        &recovered.entries[..],
                        &log.entries[..kept],
                        "wrong data returned"
                    );
                    if flipped < log.written_bytes {
                        // The flip must lie in the region declared torn.
                        match recovered.verdict {
                            TailVerdict::Torn { offset, .. } => {
                                prop_assert!(offset as usize <= flipped)
                            }
                            TailVerdict::Clean { .. } => {
                                prop_assert!(false, "flip at {} went unnoticed", flipped)
                            }
                        }
                    } else {
                        prop_assert_eq!(kept, log.entries.len());
                    }
                }
            }
            Ok(())
        },
    );
}

#[test]
fn truncations_keep_every_complete_batch() {
    let strategy = (payloads(), any::<prop::sample::Index>());
    run(
        "truncations_keep_every_complete_batch",
        512,
        strategy,
        |(payloads, cut)| {
            let log = valid_log(&payloads, 0);
            let cut = 40 + cut.index(log.written_bytes - 40 + 1);
            let bytes = &log.bytes[..cut];
            match recover(&[(log.name.as_str(), bytes)], SnapshotMarker::default()) {
                // A segment is created whole; cutting into its metadata record (bytes 40..72) is refused.
                Err(WalError::Corrupt { .. }) if cut < 72 => {}
                Err(error) => prop_assert!(false, "truncation at {} refused: {}", cut, error),
                Ok(recovered) => {
                    let complete = log.batch_ends.iter().filter(|&&end| end <= cut).count();
                    let kept = recovered.entries.len();
                    prop_assert!(kept >= complete, "lost a complete batch");
                    prop_assert_eq!(&recovered.entries[..], &log.entries[..kept]);
                }
            }
            Ok(())
        },
    );
}

/// Writes of random indices (each at most last + 1) recover as Raft would hold them.
#[test]
fn rewrites_recover_as_raft_truncation() {
    let strategy = prop::collection::vec((0u64..4, any::<u8>()), 1..40);
    run(
        "rewrites_recover_as_raft_truncation",
        256,
        strategy,
        |steps| {
            let (mut writer, segment) =
                WalWriter::create(Metadata::default(), SnapshotMarker::default());
            let mut writer = writer_with_small_segments(&mut writer);
            let mut files = vec![(segment.name, segment.bytes)];
            let mut model: Vec<Entry> = Vec::new();
            for (back, byte) in steps {
                let index = (model.len() as u64 + 1).saturating_sub(back).max(1);
                let entry = Entry {
                    term: u64::from(byte),
                    index,
                    kind: EntryKind::Normal,
                    data: Bytes::from(vec![byte; usize::from(byte % 7)]),
                };
                model.truncate(index as usize - 1);
                model.push(entry.clone());
                let file = &mut files.last_mut().expect("segment").1;
                prop_assert_eq!(file.len() as u64, writer.offset_bytes());
                writer.append_entries(file, &[entry]);
                if writer.should_cut() {
                    let segment = writer.cut();
                    files.push((segment.name, segment.bytes));
                }
            }
            let segments: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice()))
                .collect();
            let recovered = recover(&segments, SnapshotMarker::default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(recovered.entries, model);
            Ok(())
        },
    );
}

fn writer_with_small_segments(writer: &mut WalWriter) -> WalWriter {
    writer.clone().with_segment_size(300)
}
