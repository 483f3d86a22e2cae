//! A reader, and a streaming writer ([`DbWriter`], in `writer.rs`), of
//! bbolt files, the B+tree database etcd 3.4 keeps its state in
//! (`member/snap/db`) and that `etcdctl snapshot save` writes.
//!
//! Why cairn has its own: the maintained Rust port (`bbolt-rs` 1.3.10)
//! refuses every file etcd 3.4.23 writes, with or without its `compat`
//! feature ("PGID_NO_FREE_LIST not currently supported": etcd runs bbolt
//! with `NoFreelistSync`). etcd's files use a small part of bbolt, read here
//! from the bytes alone, with every offset, length and page number checked
//! against the file; a corrupt or cut file is an error naming what is wrong,
//! never a panic, and never a loop.
//!
//! ```text
//!   page (page_size bytes, (1 + overflow) pages long)
//!   ┌──────────────────────── header, 16 bytes ────────────────────────┐
//!   │ id u64 │ flags u16 │ count u16 │ overflow u32 │ elements, data ...
//!   flags: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist
//!
//!   meta (pages 0 and 1; the valid one with the higher txid wins)
//!     magic u32 = 0xED0CDAED │ version u32 = 2 │ page_size u32 │ flags u32
//!     root bucket {root pgid u64, sequence u64} │ freelist pgid u64
//!     pgid u64 (high water mark) │ txid u64 │ checksum u64 (FNV-1a 64 of
//!     the 56 bytes before it)
//!
//!   branch element (16 bytes): pos u32 │ ksize u32 │ pgid u64
//!   leaf element   (16 bytes): flags u32 │ pos u32 │ ksize u32 │ vsize u32
//!     key at element + pos, value right after it; flags 0x01: the value
//!     is a sub-bucket {root pgid u64, sequence u64}, and root 0 means the
//!     bucket's one page follows inline in the value
//! ```
//!
//! All integers are little-endian (etcd's platforms).

use std::fmt;

mod writer;

pub use writer::{
    DbWriter, Freelist, WriteError, FILL_PERCENT, MAX_KEY_SIZE, MAX_VALUE_SIZE, NO_FREELIST,
    PAGE_SIZE,
};

/// bbolt's magic number, the first field of a meta page.
pub const MAGIC: u32 = 0xED0C_DAED;
/// The file format version etcd 3.4's bbolt writes.
pub const VERSION: u32 = 2;
/// Size of a page header.
pub const PAGE_HEADER_BYTES: usize = 16;
/// Size of a branch or a leaf element.
pub const ELEMENT_BYTES: usize = 16;
/// Size of a bucket header (in a sub-bucket's value).
pub const BUCKET_HEADER_BYTES: usize = 16;
/// Page flags.
pub const BRANCH_PAGE: u16 = 0x01;
pub const LEAF_PAGE: u16 = 0x02;
pub const META_PAGE: u16 = 0x04;
pub const FREELIST_PAGE: u16 = 0x10;
/// A leaf element whose value is a sub-bucket.
pub const BUCKET_LEAF: u32 = 0x01;
/// The page sizes bbolt can have been opened with (powers of two).
const PAGE_SIZE_MIN: u32 = 512;
const PAGE_SIZE_MAX: u32 = 1 << 20;
/// Deeper than any tree a file of this size can hold: a cycle, refused.
const MAX_DEPTH: usize = 64;
/// Bytes of a meta covered by its checksum.
const META_SUMMED_BYTES: usize = 56;

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoltError {
    #[error("not a bbolt file: {0}")]
    NotBolt(String),
    #[error("bbolt file version {0} (only version 2, as etcd 3.4 writes, is read)")]
    Version(u32),
    #[error("page {page}: {problem}")]
    Corrupt { page: u64, problem: String },
    #[error("bucket {0:?} not found")]
    NoBucket(String),
    /// What a `for_each` visitor returns to stop the walk early.
    #[error("the walk was stopped by its caller")]
    Stopped,
}

fn corrupt(page: u64, problem: impl Into<String>) -> BoltError {
    BoltError::Corrupt {
        page,
        problem: problem.into(),
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// FNV-1a, 64 bits (Go's `hash/fnv` New64a), as bbolt sums its meta.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A meta page's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub page_size: u32,
    pub flags: u32,
    /// The root bucket's page.
    pub root: u64,
    pub sequence: u64,
    /// The freelist's page, or `u64::MAX` when the freelist is not synced
    /// (etcd's `NoFreelistSync`).
    pub freelist: u64,
    /// One past the highest page in use.
    pub high_water: u64,
    pub txid: u64,
}

impl Meta {
    /// Decodes the meta in the page that starts at `page` (its header
    /// included), checking magic, version and checksum.
    fn decode(page: &[u8], id: u64) -> Result<Meta, BoltError> {
        let meta = page
            .get(PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + META_SUMMED_BYTES + 8)
            .ok_or_else(|| BoltError::NotBolt("the file is shorter than a meta page".into()))?;
        let flags = u16_at(page, 8).unwrap_or(0);
        if flags & META_PAGE == 0 {
            return Err(corrupt(id, format!("flags {flags:#x} on a meta page")));
        }
        let field = |at| u64_at(meta, at).unwrap_or(0);
        let magic = u32_at(meta, 0).unwrap_or(0);
        if magic != MAGIC {
            return Err(BoltError::NotBolt(format!("magic {magic:#010x}")));
        }
        let version = u32_at(meta, 4).unwrap_or(0);
        if version != VERSION {
            return Err(BoltError::Version(version));
        }
        let checksum = field(META_SUMMED_BYTES);
        if checksum != 0 && checksum != fnv1a64(&meta[..META_SUMMED_BYTES]) {
            return Err(corrupt(id, "meta checksum mismatch"));
        }
        let page_size = u32_at(meta, 8).unwrap_or(0);
        if !(PAGE_SIZE_MIN..=PAGE_SIZE_MAX).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(corrupt(id, format!("page size {page_size}")));
        }
        Ok(Meta {
            page_size,
            flags: u32_at(meta, 12).unwrap_or(0),
            root: field(16),
            sequence: field(24),
            freelist: field(32),
            high_water: field(40),
            txid: field(48),
        })
    }
}

/// An open file: its bytes and the meta in force.
pub struct Db<'a> {
    data: &'a [u8],
    meta: Meta,
}

impl fmt::Debug for Db<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("bytes", &self.data.len())
            .field("meta", &self.meta)
            .finish()
    }
}

/// Where a bucket's entries live: a page of the file, or a page inline in
/// its parent's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketRoot<'a> {
    Page(u64),
    Inline(&'a [u8]),
}

/// One page, borrowed from the file (or from an inline bucket's value).
struct Page<'a> {
    id: u64,
    bytes: &'a [u8],
    flags: u16,
    count: usize,
}

impl<'a> Page<'a> {
    fn parse(id: u64, bytes: &'a [u8]) -> Result<Page<'a>, BoltError> {
        let flags = u16_at(bytes, 8).ok_or_else(|| corrupt(id, "shorter than a page header"))?;
        let count = usize::from(u16_at(bytes, 10).unwrap_or(0));
        if bytes.len() < PAGE_HEADER_BYTES + count * ELEMENT_BYTES {
            return Err(corrupt(id, format!("{count} elements do not fit the page")));
        }
        Ok(Page {
            id,
            bytes,
            flags,
            count,
        })
    }

    /// The `index`th element's (key, value or child) bytes; `key_field`
    /// is where the element's pos/ksize start.
    fn slice(&self, element: usize, pos: u32, len: u64) -> Result<&'a [u8], BoltError> {
        let start = element as u64 + u64::from(pos);
        let end = start
            .checked_add(len)
            .ok_or_else(|| corrupt(self.id, "element length overflows"))?;
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| self.bytes.get(start..end))
            .ok_or_else(|| corrupt(self.id, "an element points outside its page"))
    }

    /// A branch element: (first key of the child, child page).
    fn branch(&self, index: usize) -> Result<(&'a [u8], u64), BoltError> {
        let at = PAGE_HEADER_BYTES + index * ELEMENT_BYTES;
        let pos = u32_at(self.bytes, at).unwrap_or(0);
        let ksize = u32_at(self.bytes, at + 4).unwrap_or(0);
        let child = u64_at(self.bytes, at + 8).unwrap_or(0);
        Ok((self.slice(at, pos, u64::from(ksize))?, child))
    }

    /// A leaf element: (flags, key, value).
    fn leaf(&self, index: usize) -> Result<(u32, &'a [u8], &'a [u8]), BoltError> {
        let at = PAGE_HEADER_BYTES + index * ELEMENT_BYTES;
        let flags = u32_at(self.bytes, at).unwrap_or(0);
        let pos = u32_at(self.bytes, at + 4).unwrap_or(0);
        let ksize = u32_at(self.bytes, at + 8).unwrap_or(0);
        let vsize = u32_at(self.bytes, at + 12).unwrap_or(0);
        let both = self.slice(at, pos, u64::from(ksize) + u64::from(vsize))?;
        let (key, value) = both.split_at(ksize as usize);
        Ok((flags, key, value))
    }
}

impl<'a> Db<'a> {
    /// Opens the file whose bytes are `data` (an etcd snapshot without its
    /// trailing SHA-256, or a data dir's `db`): the valid meta page with the
    /// higher transaction ID is the one in force, as bbolt chooses.
    pub fn open(data: &'a [u8]) -> Result<Db<'a>, BoltError> {
        let first = Meta::decode(data, 0);
        // The second meta is one page further; its size is the first's, or
        // (the first being damaged) etcd's usual 4096.
        let page_size = first.as_ref().map_or(4096, |m| m.page_size as usize);
        let second = data
            .get(page_size..)
            .ok_or_else(|| BoltError::NotBolt("the file is shorter than two pages".into()))
            .and_then(|rest| Meta::decode(rest, 1));
        let meta = match (first, second) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid && b.page_size == a.page_size {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(_)) => a,
            (Err(_), Ok(b)) => b,
            (Err(error), Err(_)) => return Err(error),
        };
        let db = Db { data, meta };
        if meta.high_water < 2 || db.pages_in_file() < meta.high_water.min(2) {
            return Err(corrupt(0, format!("high water mark {}", meta.high_water)));
        }
        Ok(db)
    }

    pub fn meta(&self) -> Meta {
        self.meta
    }

    pub fn page_size(&self) -> usize {
        self.meta.page_size as usize
    }

    fn pages_in_file(&self) -> u64 {
        (self.data.len() / self.page_size()) as u64
    }

    /// Page `id` with its overflow pages.
    fn page(&self, id: u64) -> Result<Page<'a>, BoltError> {
        if id < 2 || id >= self.meta.high_water {
            return Err(corrupt(
                id,
                format!(
                    "page number outside the file's pages in use (2..{})",
                    self.meta.high_water
                ),
            ));
        }
        let size = self.page_size() as u64;
        let start = id
            .checked_mul(size)
            .ok_or_else(|| corrupt(id, "offset overflows"))?;
        let header = usize::try_from(start)
            .ok()
            .and_then(|start| self.data.get(start..start + PAGE_HEADER_BYTES))
            .ok_or_else(|| corrupt(id, "beyond the end of the file (cut short?)"))?;
        let stored = u64_at(header, 0).unwrap_or(0);
        if stored != id {
            return Err(corrupt(id, format!("its header says page {stored}")));
        }
        let overflow = u64::from(u32_at(header, 12).unwrap_or(0));
        let end = (overflow + 1)
            .checked_mul(size)
            .and_then(|len| start.checked_add(len))
            .ok_or_else(|| corrupt(id, "overflow count overflows"))?;
        if id + overflow >= self.meta.high_water {
            return Err(corrupt(id, "overflow pages beyond the high water mark"));
        }
        let bytes = usize::try_from(end)
            .ok()
            .and_then(|end| self.data.get(start as usize..end))
            .ok_or_else(|| corrupt(id, "beyond the end of the file (cut short?)"))?;
        Page::parse(id, bytes)
    }

    /// The root bucket: the file's top-level buckets are its entries.
    pub fn root(&self) -> BucketRoot<'a> {
        BucketRoot::Page(self.meta.root)
    }

    /// The top-level bucket `name` (etcd's `key`, `meta`, `lease`, ...).
    pub fn bucket(&self, name: &[u8]) -> Result<Option<BucketRoot<'a>>, BoltError> {
        let mut found = None;
        self.for_each(self.root(), |key, value| {
            if key == name {
                found = Some(value);
            }
            Ok(())
        })?;
        match found {
            Some(Entry::Bucket(root)) => Ok(Some(root)),
            Some(Entry::Value(_)) => Err(corrupt(
                self.meta.root,
                format!(
                    "{:?} is a value, not a bucket",
                    String::from_utf8_lossy(name)
                ),
            )),
            None => Ok(None),
        }
    }

    /// Calls `visit` with every entry of `bucket`, in key order; an error
    /// from `visit` stops the walk and is returned.
    pub fn for_each<F>(&self, bucket: BucketRoot<'a>, mut visit: F) -> Result<(), BoltError>
    where
        F: FnMut(&'a [u8], Entry<'a>) -> Result<(), BoltError>,
    {
        let mut last: Option<&'a [u8]> = None;
        match bucket {
            BucketRoot::Page(id) => self.walk(self.page(id)?, 0, &mut last, &mut visit),
            BucketRoot::Inline(bytes) => {
                let page = Page::parse(0, bytes)?;
                if page.flags & LEAF_PAGE == 0 {
                    return Err(corrupt(0, "an inline bucket's page is not a leaf"));
                }
                self.walk(page, 0, &mut last, &mut visit)
            }
        }
    }

    fn walk<F>(
        &self,
        page: Page<'a>,
        depth: usize,
        last: &mut Option<&'a [u8]>,
        visit: &mut F,
    ) -> Result<(), BoltError>
    where
        F: FnMut(&'a [u8], Entry<'a>) -> Result<(), BoltError>,
    {
        if depth > MAX_DEPTH {
            return Err(corrupt(
                page.id,
                "the tree is deeper than any file holds (a cycle?)",
            ));
        }
        if page.flags & BRANCH_PAGE != 0 {
            for index in 0..page.count {
                let (_, child) = page.branch(index)?;
                self.walk(self.page(child)?, depth + 1, last, visit)?;
            }
            return Ok(());
        }
        if page.flags & LEAF_PAGE == 0 {
            return Err(corrupt(
                page.id,
                format!(
                    "flags {:#x} where a branch or leaf page belongs",
                    page.flags
                ),
            ));
        }
        for index in 0..page.count {
            let (flags, key, value) = page.leaf(index)?;
            // Keys strictly increase through a bucket: a page reached twice
            // (a cycle, or a shared child) cannot pass.
            if last.is_some_and(|previous| previous >= key) {
                return Err(corrupt(page.id, "keys out of order"));
            }
            *last = Some(key);
            let entry = if flags & BUCKET_LEAF != 0 {
                let short = || corrupt(page.id, "a bucket value shorter than its header");
                let root = u64_at(value, 0).ok_or_else(short)?;
                let inline = value.get(BUCKET_HEADER_BYTES..).ok_or_else(short)?;
                if root == 0 {
                    Entry::Bucket(BucketRoot::Inline(inline))
                } else {
                    Entry::Bucket(BucketRoot::Page(root))
                }
            } else {
                Entry::Value(value)
            };
            visit(key, entry)?;
        }
        Ok(())
    }
}

/// Opens `data` and reads every entry of every bucket it reaches (at most
/// `MAX_BUCKETS` buckets), answering how many entries it read: the body of
/// the fuzz target `bbolt_file` and of the stable property tests. Any
/// answer but a panic or a hang is correct.
pub fn read_everything(data: &[u8]) -> Result<usize, BoltError> {
    const MAX_BUCKETS: usize = 10_000;
    let db = Db::open(data)?;
    let mut entries = 0;
    let mut pending = vec![db.root()];
    let mut seen = 0;
    while let Some(bucket) = pending.pop() {
        seen += 1;
        if seen > MAX_BUCKETS {
            return Err(corrupt(0, "more buckets than any etcd file holds"));
        }
        db.for_each(bucket, |_, entry| {
            entries += 1;
            if let Entry::Bucket(child) = entry {
                pending.push(child);
            }
            Ok(())
        })?;
    }
    Ok(entries)
}

/// The fuzz target's body: [`read_everything`] on `data` as it is, and
/// again with both meta pages' checksums recomputed (the second meta found
/// by the first's page size, else at etcd's usual 4096), so that a
/// byte-mutating fuzzer reaches the pages behind the checksums.
pub fn fuzz_body(data: &[u8]) {
    let _ = read_everything(data);
    let mut fixed = data.to_vec();
    refresh_meta_checksums(&mut fixed);
    let _ = read_everything(&fixed);
}

/// Recomputes both meta pages' checksums in place (fuzzing: a mutated file
/// then gets past the metas to the pages behind them).
pub fn refresh_meta_checksums(fixed: &mut [u8]) {
    let data: &[u8] = fixed;
    let page_size = u32_at(data, PAGE_HEADER_BYTES + 8)
        .filter(|size| (PAGE_SIZE_MIN..=PAGE_SIZE_MAX).contains(size) && size.is_power_of_two())
        .map_or(4096, |size| size as usize);
    for start in [0usize, page_size] {
        let meta = start + PAGE_HEADER_BYTES;
        if let Some(summed) = fixed.get(meta..meta + META_SUMMED_BYTES) {
            let sum = fnv1a64(summed).to_le_bytes();
            if let Some(slot) =
                fixed.get_mut(meta + META_SUMMED_BYTES..meta + META_SUMMED_BYTES + 8)
            {
                slot.copy_from_slice(&sum);
            }
        }
    }
}

/// What a key of a bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    Value(&'a [u8]),
    Bucket(BucketRoot<'a>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_is_gos() {
        // Go: fnv.New64a() of "" and of "a".
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn garbage_is_not_a_bbolt_file() {
        assert!(matches!(Db::open(b""), Err(BoltError::NotBolt(_))));
        assert!(Db::open(&[0u8; 8192]).is_err());
    }
}
