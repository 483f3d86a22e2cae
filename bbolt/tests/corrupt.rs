//! A small bbolt file built byte by byte (two metas, a root leaf with an
//! inline bucket and a bucket on its own branch and leaf pages) reads back
//! as written; the same file with any byte changed or cut anywhere is read
//! or refused with an error, never a panic and never a loop.
//!
//! A failure prints its minimal case; replay a run with
//! PROPTEST_RNG_SEED=<seed> cargo test -p cairn-bbolt --test corrupt.

use cairn_bbolt::{
    fnv1a64, fuzz_body, read_everything, BoltError, BucketRoot, Db, Entry, BUCKET_LEAF,
};
use proptest::prelude::*;

const PAGE: usize = 512;

/// A page: header, then elements (`(flags, key, value)` for a leaf,
/// `(child, key)` for a branch), then their bytes.
fn page_bytes(id: u64, flags: u16, elements: &[(u32, u64, Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&id.to_le_bytes());
    header.extend_from_slice(&flags.to_le_bytes());
    header.extend_from_slice(&(elements.len() as u16).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    let mut data = Vec::new();
    let table = elements.len() * 16;
    for (i, (leaf_flags, child, key, value)) in elements.iter().enumerate() {
        let element_at = 16 + i * 16;
        let pos = (16 + table + data.len() - element_at) as u32;
        if flags == 0x01 {
            header.extend_from_slice(&pos.to_le_bytes());
            header.extend_from_slice(&(key.len() as u32).to_le_bytes());
            header.extend_from_slice(&child.to_le_bytes());
        } else {
            header.extend_from_slice(&leaf_flags.to_le_bytes());
            header.extend_from_slice(&pos.to_le_bytes());
            header.extend_from_slice(&(key.len() as u32).to_le_bytes());
            header.extend_from_slice(&(value.len() as u32).to_le_bytes());
        }
        data.extend_from_slice(key);
        data.extend_from_slice(value);
    }
    header.extend_from_slice(&data);
    header
}

fn meta_page(id: u64, txid: u64, root: u64, high_water: u64) -> Vec<u8> {
    let mut meta = Vec::new();
    meta.extend_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    meta.extend_from_slice(&2u32.to_le_bytes());
    meta.extend_from_slice(&(PAGE as u32).to_le_bytes());
    meta.extend_from_slice(&0u32.to_le_bytes());
    meta.extend_from_slice(&root.to_le_bytes());
    meta.extend_from_slice(&0u64.to_le_bytes());
    meta.extend_from_slice(&u64::MAX.to_le_bytes()); // NoFreelistSync, as etcd
    meta.extend_from_slice(&high_water.to_le_bytes());
    meta.extend_from_slice(&txid.to_le_bytes());
    let sum = fnv1a64(&meta);
    meta.extend_from_slice(&sum.to_le_bytes());
    let mut page = Vec::new();
    page.extend_from_slice(&id.to_le_bytes());
    page.extend_from_slice(&0x04u16.to_le_bytes());
    page.extend_from_slice(&[0; 6]);
    page.extend_from_slice(&meta);
    page
}

fn bucket_value(root: u64, inline: Option<Vec<u8>>) -> Vec<u8> {
    let mut value = root.to_le_bytes().to_vec();
    value.extend_from_slice(&0u64.to_le_bytes());
    value.extend(inline.unwrap_or_default());
    value
}

/// Pages: 0, 1 metas (1 newer); 2 root leaf; 3 branch of bucket "big";
/// 4, 5 its leaves.
fn sample() -> Vec<u8> {
    let inline = page_bytes(
        0,
        0x02,
        &[
            (0, 0, b"a".to_vec(), b"1".to_vec()),
            (0, 0, b"b".to_vec(), b"2".to_vec()),
        ],
    );
    let pages = [
        meta_page(0, 6, 2, 6),
        meta_page(1, 7, 2, 6),
        page_bytes(
            2,
            0x02,
            &[
                (BUCKET_LEAF, 0, b"big".to_vec(), bucket_value(3, None)),
                (
                    BUCKET_LEAF,
                    0,
                    b"small".to_vec(),
                    bucket_value(0, Some(inline)),
                ),
            ],
        ),
        page_bytes(
            3,
            0x01,
            &[
                (0, 4, b"k0".to_vec(), Vec::new()),
                (0, 5, b"k2".to_vec(), Vec::new()),
            ],
        ),
        page_bytes(
            4,
            0x02,
            &[
                (0, 0, b"k0".to_vec(), b"v0".to_vec()),
                (0, 0, b"k1".to_vec(), b"v1".to_vec()),
            ],
        ),
        page_bytes(5, 0x02, &[(0, 0, b"k2".to_vec(), b"v2".to_vec())]),
    ];
    let mut file = Vec::new();
    for page in pages {
        assert!(page.len() <= PAGE);
        let mut padded = page;
        padded.resize(PAGE, 0);
        file.extend(padded);
    }
    file
}

/// (bucket path, key, value).
type Row = (String, Vec<u8>, Vec<u8>);

/// Every bucket's entries, nested buckets by path.
fn dump(db: &Db<'_>) -> Result<Vec<Row>, BoltError> {
    let mut out = Vec::new();
    let mut buckets = vec![(String::new(), db.root())];
    let mut walks = 0;
    while let Some((path, root)) = buckets.pop() {
        // A bucket that holds itself (a corrupt file) is walked once too
        // often, not forever.
        walks += 1;
        if walks > 100 {
            break;
        }
        db.for_each(root, |key, entry| {
            match entry {
                Entry::Value(value) => out.push((path.clone(), key.to_vec(), value.to_vec())),
                Entry::Bucket(child) => {
                    if buckets.len() < 1000 {
                        buckets.push((format!("{path}/{}", String::from_utf8_lossy(key)), child));
                    }
                }
            }
            Ok(())
        })?;
    }
    out.sort();
    Ok(out)
}

#[test]
fn a_file_built_byte_by_byte_reads_back() {
    let file = sample();
    let db = Db::open(&file).expect("opens");
    assert_eq!(db.meta().txid, 7);
    let entries = dump(&db).expect("reads");
    let expected: Vec<Row> = [
        ("/big", "k0", "v0"),
        ("/big", "k1", "v1"),
        ("/big", "k2", "v2"),
        ("/small", "a", "1"),
        ("/small", "b", "2"),
    ]
    .iter()
    .map(|(p, k, v)| (p.to_string(), k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    assert_eq!(entries, expected);
    assert!(matches!(
        db.bucket(b"small"),
        Ok(Some(BucketRoot::Inline(_)))
    ));
    assert_eq!(db.bucket(b"none"), Ok(None));
}

#[test]
fn the_fuzz_body_reads_every_entry() {
    // 2 top-level buckets, 3 + 2 entries in them.
    assert_eq!(read_everything(&sample()), Ok(7));
    if let Ok(dir) = std::env::var("CAIRN_WRITE_BBOLT_SEED") {
        std::fs::write(std::path::Path::new(&dir).join("sample.db"), sample()).expect("write seed");
    }
}

#[test]
fn a_damaged_newer_meta_falls_back_to_the_older() {
    let mut file = sample();
    file[PAGE + 20] ^= 0xff;
    let db = Db::open(&file).expect("the older meta is in force");
    assert_eq!(db.meta().txid, 6);
}

#[test]
fn a_cycle_is_refused_not_followed() {
    let mut file = sample();
    // The branch's second child becomes the branch itself.
    let child_at = 3 * PAGE + 16 + 16 + 8;
    file[child_at..child_at + 8].copy_from_slice(&3u64.to_le_bytes());
    let db = Db::open(&file).expect("opens");
    // Its first child's keys come round again: refused at once.
    let error = dump(&db).expect_err("a cycle");
    assert_eq!(error.to_string(), "page 4: keys out of order");
}

#[test]
fn a_file_cut_short_is_refused() {
    let file = sample();
    let cut = &file[..5 * PAGE];
    let db = Db::open(cut).expect("the metas are whole");
    let error = dump(&db).expect_err("page 5 is missing");
    assert!(error.to_string().contains("cut short"), "{error}");
}

proptest! {
    // CAIRN_FUZZ_CASES raises the count (scripts/fuzz.sh without nightly).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("CAIRN_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000)
    ))]

    #[test]
    fn any_changed_bytes_are_read_or_refused(changes in prop::collection::vec((0usize..6 * PAGE, any::<u8>()), 1..8)) {
        let mut file = sample();
        for (at, byte) in changes {
            file[at] = byte;
        }
        if let Ok(db) = Db::open(&file) {
            let _ = dump(&db);
        }
        let _ = read_everything(&file);
        fuzz_body(&file);
    }

    #[test]
    fn any_cut_is_read_or_refused(length in 0usize..6 * PAGE) {
        let file = sample();
        if let Ok(db) = Db::open(&file[..length]) {
            let _ = dump(&db);
        }
        let _ = read_everything(&file[..length]);
        fuzz_body(&file[..length]);
    }
}
