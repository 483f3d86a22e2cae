//! The fuzz bodies of `cairn_core::fuzzing` under stable `cargo test`: random
//! bytes, and mutations of valid encodings (bit flips, truncations, inserted
//! and deleted bytes, length fields set huge), for every decoder that outside
//! input reaches. cargo-fuzz runs the same bodies for longer (docs/fuzzing.md).
//!
//! Cases per test: `CAIRN_FUZZ_CASES` (default 5,000: about a second per test).
//! Seeds default to a fixed value; every failure prints `REPRODUCE WITH: ...`.
//! `CAIRN_FUZZ_WRITE_CORPUS=1` rewrites the seed corpus in `fuzz/corpus/`.

// Tests run outside core's rule: they may read the environment and files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::PathBuf;

use cairn_core::fuzzing::{self, seeds, TARGETS};
use proptest::prelude::*;

mod fuzz_support;
use fuzz_support::{mutated_from, random_bytes, run};

/// A seed of `target` with one to four mutations.
fn mutated(target: &str) -> impl Strategy<Value = Vec<u8>> {
    mutated_from(seeds(target).into_iter().map(|(_, bytes)| bytes).collect())
}

macro_rules! fuzz_tests {
    ($($target:ident: $random:literal),* $(,)?) => {
        $(
            mod $target {
                use super::*;

                #[test]
                fn random_bytes_never_panic() {
                    run(
                        concat!(stringify!($target), "::random_bytes_never_panic"),
                        random_bytes($random),
                        |bytes| fuzzing::$target(&bytes),
                    );
                }

                #[test]
                fn mutated_seeds_never_panic() {
                    run(
                        concat!(stringify!($target), "::mutated_seeds_never_panic"),
                        mutated(stringify!($target)),
                        |bytes| fuzzing::$target(&bytes),
                    );
                }
            }
        )*
    };
}

fuzz_tests! {
    peer_frame: 96,
    log_payload: 96,
    wal_record: 48,
    wal_recovery: 256,
    snapshot_file: 256,
}

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every seed passes its own body, and `fuzz/corpus/<target>/` holds the
/// seeds as they are encoded today (`CAIRN_FUZZ_WRITE_CORPUS=1` rewrites them).
#[test]
fn seed_corpus_is_current() {
    let write = std::env::var_os("CAIRN_FUZZ_WRITE_CORPUS").is_some();
    let mut stale = Vec::new();
    for target in TARGETS {
        let dir = corpus_dir(target);
        for (name, bytes) in seeds(target) {
            fuzzing::run(target, &bytes);
            let path = dir.join(&name);
            if write {
                std::fs::create_dir_all(&dir).expect("create the corpus directory");
                std::fs::write(&path, &bytes).expect("write a seed");
            } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "seed corpus out of date: {stale:?}\nrewrite it with: CAIRN_FUZZ_WRITE_CORPUS=1 cargo test -p cairn-core --test fuzz_decoders -- seed_corpus_is_current"
    );
}

/// Inputs that once made a body fail, each with what was wrong and the fix.
mod regressions {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// A snapshot whose members section ends with an explicit, empty list of
    /// removed members. It decoded as "none removed", which re-encodes
    /// without the list: two encodings of one image (the body's canonical
    /// check failed). Fixed in `snapshot::codec::decode_members`: the
    /// encoder writes the list only when it is not empty, and a present but
    /// empty one is refused. Found by libFuzzer in a CI rehearsal.
    #[test]
    fn snapshot_with_an_empty_removed_member_list() {
        let input = hex(
            "434149524e534e50010000000600000001000000000000003000000000000000
             91fc01a2000000002a0000000000000003000000000000000200000001000000
             0000000002000000000000000100000004000000000000000200000000000000
             5900000000000000c420aef30000000001000000010000000000000000020000
             006e310100000015000000687474703a2f2f3132372e302e302e313a32333830
             010000001d000000687474703a2f2f3132372e302e302e313a32333739010000
             000700000000000000000000000000000300000000000000f400000000000000
             d1095d1700000000060000000000000002000000000000000300000000000000
             0100000061020000000000000000000000000000000200000002000000000000
             00000000000000000000000000000500000076616c7565050000000000000000
             0000000000000000000000000500000076616c75650100000062030000000000
             0000000000000000000001000000030000000000000000000000000700000000
             0000000500000076616c75650100000063040000000000000000000000000000
             0002000000040000000000000000000000000000000000000000050000007661
             6c75650600000000000000000000000100000000000000000000000000000000
             04000000000000001400000000000000a77b7afe000000000100000007000000
             000000001e000000000000000000000005000000000000000200000000000000
             0f9d6bf000000000763100000000000006000000000000002a00000000000000
             02d0d792000000000101050104726f6f740b2432622431302468617368000104
             726f6f740106726561646572010161010000000000000000434149524e454e44
             768fedbc00000000",
        );
        fuzzing::snapshot_file(&input);
    }

    /// A segment whose last record is whole but whose padding the segment's
    /// end cuts off. Recovery accepted the record and reported the clean end
    /// at the unaligned end of the file, so the next batch would have been
    /// written where recovery never reads. Fixed in `wal::frame::read_frame`:
    /// padding cut short is a torn write.
    #[test]
    fn wal_segment_ending_inside_padding() {
        // options 0 | segment header | metadata | snapshot marker | three
        // entries | a rewrite of the third, whose 3 bytes of padding end
        // 1 byte short (no hard state follows).
        let input = hex(
            "00
             434149524e57414c 0100000000000000 0000000000000000 0100000000000000 e73d93c700000000
             100000005086fe3e0000000001000000 a5c10000000000000100000000000000
             100000007c75b10a5086fe3e04000000 00000000000000000000000000000000
             140000007d9f0e7e7c75b10a03000000 01000000000000000100000000000000006f6e65 00000000
             140000003f3c64ae7d9f0e7e03000000 010000000000000002000000000000000074776f 00000000
             160000002c48da123f3c64ae03000000 01000000000000000300000000000000007468726565 0000
             1c0000005b8f28ab2c48da1203000000 0200000000000000030000000000000000746872656520616761696e 000000",
        );
        fuzzing::wal_recovery(&input);
    }

    /// A WAL after a snapshot at index u64::MAX - 1 whose entry at u64::MAX
    /// is written twice (a Raft rewrite). Recovery's gap check computed
    /// `last index + 1` and overflowed. Fixed in `wal::recovery`: the check
    /// is `index - 1 > last index` (index is above the snapshot's, so >= 1).
    #[test]
    fn wal_rewrite_of_the_last_possible_index() {
        use bytes::Bytes;
        use cairn_core::raft::{Entry, EntryKind};
        use cairn_core::wal::{Metadata, SnapshotMarker, WalWriter};
        let start = SnapshotMarker {
            index: u64::MAX - 1,
            term: 1,
        };
        let (mut writer, segment) = WalWriter::create(Metadata::default(), start);
        let mut bytes = segment.bytes;
        let entry = |data: &'static [u8]| Entry {
            term: 1,
            index: u64::MAX,
            kind: EntryKind::Normal,
            data: Bytes::from_static(data),
        };
        writer.append_entries(&mut bytes, &[entry(b"first"), entry(b"second")]);
        let mut input = vec![0x04]; // WAL_START
        input.extend_from_slice(&start.index.to_le_bytes());
        input.extend_from_slice(&start.term.to_le_bytes());
        input.extend_from_slice(&bytes);
        fuzzing::wal_recovery(&input);
    }
}
