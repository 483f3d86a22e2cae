//! Files written by `DbWriter` read back, through cairn-bbolt's reader, as
//! exactly what was written: random buckets (empty ones, small inline ones,
//! trees several branch levels deep), keys and values (empty ones, values
//! many pages long); every page from 2 to the high water mark is reached
//! exactly once (bbolt's `tx.Check()`'s rule). Misuse (keys or bucket names
//! out of order, oversize keys, a put before any bucket, a failing output)
//! is a typed error, never a panic, and leaves the writer usable.
//!
//! A failure prints its minimal case; replay a run with
//! PROPTEST_RNG_SEED=<seed> cargo test -p cairn-bbolt --test writer.

use std::collections::BTreeMap;
use std::io::{Cursor, Seek, SeekFrom, Write};

use cairn_bbolt::{
    read_everything, Db, DbWriter, Entry, Freelist, WriteError, MAX_KEY_SIZE, NO_FREELIST,
    PAGE_SIZE,
};
use proptest::prelude::*;

type Bucket = BTreeMap<Vec<u8>, Vec<u8>>;
type Content = BTreeMap<Vec<u8>, Bucket>;

fn write(content: &Content, freelist: Freelist) -> Vec<u8> {
    let mut writer = DbWriter::with_freelist(Cursor::new(Vec::new()), freelist).expect("a writer");
    for (name, bucket) in content {
        writer.bucket(name).expect("bucket");
        for (key, value) in bucket {
            writer.put(key, value).expect("put");
        }
    }
    let out = writer.finish().expect("finish");
    assert_eq!(
        out.position() as usize,
        out.get_ref().len(),
        "left at the end"
    );
    out.into_inner()
}

fn read_back(bytes: &[u8]) -> Content {
    let db = Db::open(bytes).expect("opens");
    let mut names = Vec::new();
    db.for_each(db.root(), |name, entry| {
        let Entry::Bucket(root) = entry else {
            panic!("a value at the top level")
        };
        names.push((name.to_vec(), root));
        Ok(())
    })
    .expect("the root reads");
    let mut content = Content::new();
    for (name, root) in names {
        let mut bucket = Bucket::new();
        db.for_each(root, |key, entry| {
            let Entry::Value(value) = entry else {
                panic!("a nested bucket")
            };
            bucket.insert(key.to_vec(), value.to_vec());
            Ok(())
        })
        .expect("a bucket reads");
        assert_eq!(db.bucket(&name).expect("reads"), Some(root));
        content.insert(name, bucket);
    }
    content
}

fn u16_at(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap()))
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Marks every page of the tree at `id` (overflow pages included) in
/// `seen`, failing on a page reached twice; answers the tree's height.
fn reach(bytes: &[u8], id: u64, seen: &mut [bool], top: bool) -> usize {
    let at = id as usize * PAGE_SIZE;
    let page = &bytes[at..];
    assert_eq!(u64_at(page, 0), id, "page {id}'s header id");
    let (flags, count, overflow) = (u16_at(page, 8), u16_at(page, 10), u32_at(page, 12));
    let pages = &mut seen[id as usize..=id as usize + overflow];
    assert!(pages.iter().all(|seen| !seen), "page {id} reached twice");
    pages.fill(true);
    let mut height = 0;
    for index in 0..count {
        let element = 16 + 16 * index;
        if flags == 0x01 {
            let child = u64_at(page, element + 8);
            height = height.max(reach(bytes, child, seen, false));
        } else {
            assert_eq!(flags, 0x02, "page {id}'s flags");
            let (pos, ksize) = (u32_at(page, element + 4), u32_at(page, element + 8));
            if top {
                assert_eq!(u32_at(page, element), 1, "a top-level bucket");
                let root = u64_at(page, element + pos + ksize);
                if root != 0 {
                    reach(bytes, root, seen, false);
                }
            }
        }
    }
    height + 1
}

/// Checks that pages 2.. the high water mark are each reached once (the
/// freelist page counting), and the file's length; answers the height of
/// each bucket's tree (0 for an inline one).
fn check_pages(bytes: &[u8]) -> BTreeMap<Vec<u8>, usize> {
    let db = Db::open(bytes).expect("opens");
    let meta = db.meta();
    assert_eq!(bytes.len() as u64, meta.high_water * PAGE_SIZE as u64);
    let mut seen = vec![false; meta.high_water as usize];
    (seen[0], seen[1]) = (true, true);
    if meta.freelist != NO_FREELIST {
        let page = &bytes[meta.freelist as usize * PAGE_SIZE..];
        assert_eq!(u16_at(page, 8), 0x10, "the freelist page's flags");
        assert_eq!(u16_at(page, 10), 0, "no free pages");
        seen[meta.freelist as usize] = true;
    }
    reach(bytes, meta.root, &mut seen, true);
    let unreached: Vec<_> = (0..seen.len()).filter(|n| !seen[*n]).collect();
    assert!(
        unreached.is_empty(),
        "pages reached by nothing: {unreached:?}"
    );
    let mut heights = BTreeMap::new();
    db.for_each(db.root(), |name, entry| {
        if let Entry::Bucket(cairn_bbolt::BucketRoot::Page(id)) = entry {
            heights.insert(
                name.to_vec(),
                reach(bytes, id, &mut vec![false; seen.len()], false),
            );
        } else {
            heights.insert(name.to_vec(), 0);
        }
        Ok(())
    })
    .expect("reads");
    heights
}

fn entries(content: &Content) -> usize {
    content.len() + content.values().map(Bucket::len).sum::<usize>()
}

/// A value: short, empty, or (one in `large_one_in`) up to ten pages long.
fn value(large_one_in: u32) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        large_one_in * 4 => proptest::collection::vec(any::<u8>(), 0..48),
        large_one_in => Just(Vec::new()),
        1 => (1usize..40_000, any::<u8>()).prop_map(|(len, byte)| vec![byte; len]),
    ]
}

/// Short keys (many to a page), or long ones (few to a page, and few to a
/// branch page: deep trees from a few hundred keys).
fn bucket() -> impl Strategy<Value = Bucket> {
    let short = proptest::collection::vec(any::<u8>(), 1..10);
    let long =
        (proptest::collection::vec(any::<u8>(), 1..4), 0usize..2500).prop_map(|(mut key, pad)| {
            key.resize(key.len() + pad, b'k');
            key
        });
    prop_oneof![
        1 => proptest::collection::btree_map(short.clone(), value(1), 0..6),
        2 => proptest::collection::btree_map(short, value(200), 0..2500),
        1 => proptest::collection::btree_map(long, value(20), 0..300),
    ]
}

fn content() -> impl Strategy<Value = Content> {
    proptest::collection::btree_map(
        proptest::collection::vec(any::<u8>(), 1..12),
        bucket(),
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn written_files_read_back_as_written(content in content(), page in any::<bool>()) {
        let freelist = if page { Freelist::EmptyPage } else { Freelist::NotSynced };
        let bytes = write(&content, freelist);
        prop_assert_eq!(&read_back(&bytes), &content);
        prop_assert_eq!(read_everything(&bytes), Ok(entries(&content)));
        check_pages(&bytes);
    }

    /// Random calls, in and out of order: each is accepted or refused as
    /// the rules say, and the file holds exactly the accepted ones.
    #[test]
    fn misuse_is_refused_and_harmless(
        calls in proptest::collection::vec(
            prop_oneof![
                1 => proptest::collection::vec(0u8..4, 0..3).prop_map(|name| (true, name, Vec::new())),
                6 => (proptest::collection::vec(0u8..4, 0..4), value(3))
                    .prop_map(|(key, value)| (false, key, value)),
            ],
            0..60,
        )
    ) {
        let mut writer = DbWriter::new(Cursor::new(Vec::new())).expect("a writer");
        let mut expected = Content::new();
        let mut open: Option<Vec<u8>> = None;
        for (is_bucket, name_or_key, value) in calls {
            if is_bucket {
                let name = name_or_key;
                let answer = writer.bucket(&name);
                let ok = !name.is_empty() && open.as_ref().is_none_or(|open| *open < name);
                prop_assert_eq!(answer.is_ok(), ok, "bucket {:?}: {:?}", name, answer);
                if ok {
                    expected.insert(name.clone(), Bucket::new());
                    open = Some(name);
                }
            } else {
                let key = name_or_key;
                let answer = writer.put(&key, &value);
                let bucket = open.as_ref().map(|name| expected.get_mut(name).unwrap());
                let ok = !key.is_empty()
                    && bucket.as_ref().is_some_and(|b| b.keys().next_back().is_none_or(|last| *last < key));
                prop_assert_eq!(answer.is_ok(), ok, "put {:?}: {:?}", key, answer);
                if ok {
                    bucket.unwrap().insert(key, value);
                }
            }
        }
        let bytes = writer.finish().expect("finish").into_inner();
        prop_assert_eq!(read_back(&bytes), expected);
        check_pages(&bytes);
    }
}

#[test]
fn deep_trees_read_back() {
    // 20,000 short keys: two branch levels; 600 keys of 1,500 bytes (two
    // to a page, leaf or branch): many.
    let mut content = Content::new();
    content.insert(
        b"long".to_vec(),
        (0..600u32)
            .map(|i| {
                let mut key = i.to_be_bytes().to_vec();
                key.resize(1500, b'k');
                (key, i.to_le_bytes().to_vec())
            })
            .collect(),
    );
    content.insert(
        b"short".to_vec(),
        (0..20_000u32)
            .map(|i| (i.to_be_bytes().to_vec(), vec![b'v'; (i % 40) as usize]))
            .collect(),
    );
    content.insert(b"empty".to_vec(), Bucket::new());
    for freelist in [Freelist::NotSynced, Freelist::EmptyPage] {
        let bytes = write(&content, freelist);
        assert_eq!(read_back(&bytes), content);
        let heights = check_pages(&bytes);
        assert_eq!(heights[&b"empty"[..]], 0, "an empty bucket is inline");
        assert_eq!(heights[&b"short"[..]], 3, "{heights:?}");
        assert!(heights[&b"long"[..]] >= 5, "{heights:?}");
    }
}

#[test]
fn an_empty_file_has_a_root_and_no_buckets() {
    let bytes = write(&Content::new(), Freelist::NotSynced);
    assert_eq!(bytes.len(), 3 * PAGE_SIZE);
    assert_eq!(read_everything(&bytes), Ok(0));
    let meta = Db::open(&bytes).expect("opens").meta();
    assert_eq!(
        (meta.root, meta.freelist, meta.high_water),
        (2, NO_FREELIST, 3)
    );
    let bytes = write(&Content::new(), Freelist::EmptyPage);
    assert_eq!(Db::open(&bytes).expect("opens").meta().freelist, 3);
}

#[test]
fn each_misuse_has_its_error() {
    let mut writer = DbWriter::new(Cursor::new(Vec::new())).expect("a writer");
    assert!(matches!(writer.put(b"k", b"v"), Err(WriteError::NoBucket)));
    assert!(matches!(
        writer.bucket(b""),
        Err(WriteError::EmptyBucketName)
    ));
    writer.bucket(b"b").unwrap();
    assert!(matches!(
        writer.bucket(b"b"),
        Err(WriteError::BucketOutOfOrder)
    ));
    assert!(matches!(
        writer.bucket(b"a"),
        Err(WriteError::BucketOutOfOrder)
    ));
    assert!(matches!(writer.put(b"", b"v"), Err(WriteError::EmptyKey)));
    let long = vec![b'k'; MAX_KEY_SIZE + 1];
    assert!(matches!(
        writer.put(&long, b"v"),
        Err(WriteError::KeyTooLarge(32769))
    ));
    writer
        .put(&long[..MAX_KEY_SIZE], b"v")
        .expect("the longest key");
    assert!(matches!(
        writer.put(b"a", b"v"),
        Err(WriteError::KeyOutOfOrder)
    ));
    assert!(matches!(
        writer.put(&long[..MAX_KEY_SIZE], b"w"),
        Err(WriteError::KeyOutOfOrder)
    ));
    writer.bucket(b"c").unwrap();
    writer.put(b"a", b"fine in a new bucket").unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    let content = read_back(&bytes);
    assert_eq!(content[&b"b"[..]][&long[..MAX_KEY_SIZE]], b"v");
    assert_eq!(content[&b"c"[..]][&b"a"[..]], b"fine in a new bucket");
    check_pages(&bytes);
}

/// An output that fails once `budget` bytes are written.
struct Failing {
    inner: Cursor<Vec<u8>>,
    budget: usize,
}

impl Write for Failing {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.inner.get_ref().len() + bytes.len() > self.budget {
            return Err(std::io::Error::other("disk full"));
        }
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Failing {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

#[test]
fn a_failing_output_is_an_error_then_refusal() {
    for budget in [0, 100, 3 * PAGE_SIZE, 10 * PAGE_SIZE, 40 * PAGE_SIZE] {
        let out = Failing {
            inner: Cursor::new(Vec::new()),
            budget,
        };
        let Ok(mut writer) = DbWriter::new(out) else {
            continue;
        };
        let mut failed = false;
        'all: for bucket in 0..3u8 {
            if writer.bucket(&[bucket]).is_err() {
                failed = true;
                break;
            }
            for key in 0..2000u32 {
                if let Err(error) = writer.put(&key.to_be_bytes(), &[7; 50]) {
                    assert!(matches!(error, WriteError::Io(_)), "{error}");
                    assert!(matches!(
                        writer.put(b"\xff\xff\xff\xff\xff", b""),
                        Err(WriteError::Failed)
                    ));
                    failed = true;
                    break 'all;
                }
            }
        }
        assert!(failed || writer.finish().is_err(), "budget {budget}");
    }
}
