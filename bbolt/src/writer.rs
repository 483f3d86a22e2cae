//! A streaming writer of bbolt files that etcd 3.4.23's tools accept
//! (`etcdctl snapshot status`, which runs bbolt's `tx.Check()` over the
//! whole file, and bbolt opening it for writing).
//!
//! Entries come in order: top-level buckets by increasing name, and in
//! each, keys strictly increasing. Pages are written as they fill, at
//! consecutive page ids from 2 on; the two meta pages are written last, by
//! seeking back. The memory held is a pending page or so per tree level
//! (the leaves' first keys, one level up, and so on), never the data: a
//! value larger than a page is written straight from the caller's slice
//! onto a leaf page with overflow pages, as bbolt does.
//!
//! Choices, and why:
//!
//! - **Freelist**: by default none is stored (the meta's freelist page is
//!   `u64::MAX`, bbolt's `pgidNoFreelist`), exactly as etcd 3.4 writes its
//!   files (it runs bbolt with `NoFreelistSync`): bbolt then rebuilds the
//!   free set by walking the tree, which `tx.Check()` does anyway, and the
//!   file needs no extra page. [`Freelist::EmptyPage`] stores a real,
//!   empty freelist page instead (the last page), for bbolt users that
//!   expect one; the file has no free pages either way, so both pass
//!   `tx.Check()`'s "unreachable unfreed" test.
//! - **Fill**: a page is closed when the next element would take it past
//!   90% of the page, the fill etcd's own defragmentation uses
//!   (`FillPercent = 0.9`): files as dense as a defragmented etcd's, with
//!   room left for an update in place. An element larger than that gets a
//!   page of its own (with overflow pages).
//! - **Small buckets** (at most a quarter page: bbolt's
//!   `maxInlineBucketSize`) are stored inline in the root bucket's value,
//!   as bbolt itself stores them; an empty bucket is an inline page with
//!   no elements.
//! - **Transaction ids**: meta page 0 has txid 0 and meta page 1 txid 1
//!   (bbolt puts the meta of transaction t on page t % 2, and starts a new
//!   file the same way); both describe the same, whole, file, so either
//!   can be lost.

use std::io::{Seek, SeekFrom, Write};

mod tree;

use tree::{Sink, Tree, TreeRoot};

use crate::{fnv1a64, BUCKET_HEADER_BYTES, BUCKET_LEAF, FREELIST_PAGE, MAGIC, META_PAGE, VERSION};

/// The page size written (etcd's platforms' page size).
pub const PAGE_SIZE: usize = 4096;
/// bbolt's `MaxKeySize`: the longest key (and bucket name) it accepts.
pub const MAX_KEY_SIZE: usize = 32768;
/// bbolt's `MaxValueSize`: the longest value it accepts.
pub const MAX_VALUE_SIZE: usize = (1 << 31) - 2;
/// How full a page is filled, in percent (see the module doc).
pub const FILL_PERCENT: usize = 90;
/// The meta's freelist page when no freelist is stored.
pub const NO_FREELIST: u64 = u64::MAX;

/// Why a writer refused a call.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("writing the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("an empty key (bbolt refuses them)")]
    EmptyKey,
    #[error("a {0}-byte key (bbolt's MaxKeySize is 32768)")]
    KeyTooLarge(usize),
    #[error("a {0}-byte value (bbolt's MaxValueSize is 2147483646)")]
    ValueTooLarge(usize),
    #[error("a key not above the key before it (keys must strictly increase)")]
    KeyOutOfOrder,
    #[error("an empty bucket name")]
    EmptyBucketName,
    #[error("a bucket name not above the one before it (names must strictly increase)")]
    BucketOutOfOrder,
    #[error("a put before any bucket")]
    NoBucket,
    #[error("a page larger than bbolt can describe")]
    PageTooLarge,
    #[error("an earlier write failed; the file is incomplete")]
    Failed,
}

/// What the meta says of the freelist (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Freelist {
    /// No freelist page (`u64::MAX`), as etcd 3.4 writes (`NoFreelistSync`).
    #[default]
    NotSynced,
    /// A freelist page with no free pages in it.
    EmptyPage,
}

/// The bucket being written.
struct OpenBucket {
    name: Vec<u8>,
    tree: Tree,
    last_key: Option<Vec<u8>>,
}

/// Writes a bbolt file to `out`, streaming; see the module doc.
///
/// The file starts where `out` stands when the writer is made; `finish`
/// leaves `out` at the file's end (where etcd's snapshot appends its
/// SHA-256). Writes are page-sized or larger; a `BufWriter` helps little.
pub struct DbWriter<W: Write + Seek> {
    sink: Sink<W>,
    root: Tree,
    open: Option<OpenBucket>,
    freelist: Freelist,
    failed: bool,
}

impl<W: Write + Seek> std::fmt::Debug for DbWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbWriter")
            .field("pages", &self.sink.next)
            .field("bucket", &self.open.as_ref().map(|open| &open.name))
            .field("failed", &self.failed)
            .finish()
    }
}

fn threshold() -> usize {
    PAGE_SIZE * FILL_PERCENT / 100
}

impl<W: Write + Seek> DbWriter<W> {
    /// A writer with no freelist stored, as etcd writes.
    pub fn new(out: W) -> Result<Self, WriteError> {
        Self::with_freelist(out, Freelist::NotSynced)
    }

    /// A writer storing the freelist as `freelist` says.
    pub fn with_freelist(mut out: W, freelist: Freelist) -> Result<Self, WriteError> {
        let base = out.stream_position()?;
        // The metas' place, filled in by `finish`.
        out.write_all(&[0u8; 2 * PAGE_SIZE])?;
        Ok(DbWriter {
            sink: Sink {
                out,
                base,
                next: 2,
                page_size: PAGE_SIZE,
            },
            root: Tree::new(threshold(), None),
            open: None,
            freelist,
            failed: false,
        })
    }

    /// Pages written so far (the metas' two included).
    pub fn pages(&self) -> u64 {
        self.sink.next
    }

    /// Runs `step`, remembering an I/O failure: after one, the file is not
    /// whole and every later call is refused.
    fn guard<T>(
        &mut self,
        step: impl FnOnce(&mut Self) -> Result<T, WriteError>,
    ) -> Result<T, WriteError> {
        if self.failed {
            return Err(WriteError::Failed);
        }
        let answer = step(self);
        if answer.is_err() {
            self.failed = true;
        }
        answer
    }

    /// Starts the top-level bucket `name` (above every name before it),
    /// ending the one before.
    pub fn bucket(&mut self, name: &[u8]) -> Result<(), WriteError> {
        if self.failed {
            return Err(WriteError::Failed);
        }
        if name.is_empty() {
            return Err(WriteError::EmptyBucketName);
        }
        if name.len() > MAX_KEY_SIZE {
            return Err(WriteError::KeyTooLarge(name.len()));
        }
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.name.as_slice() >= name)
        {
            return Err(WriteError::BucketOutOfOrder);
        }
        self.guard(|this| this.close_bucket())?;
        self.open = Some(OpenBucket {
            name: name.to_vec(),
            tree: Tree::new(threshold(), Some(PAGE_SIZE / 4)),
            last_key: None,
        });
        Ok(())
    }

    /// Adds `key` = `value` to the current bucket (`key` above every key
    /// before it in the bucket).
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), WriteError> {
        if self.failed {
            return Err(WriteError::Failed);
        }
        check_sizes(key.len(), value.len())?;
        let open = self.open.as_ref().ok_or(WriteError::NoBucket)?;
        if open.last_key.as_deref().is_some_and(|last| last >= key) {
            return Err(WriteError::KeyOutOfOrder);
        }
        self.guard(|this| {
            let open = this.open.as_mut().ok_or(WriteError::NoBucket)?;
            open.tree.add(&mut this.sink, 0, key, value)?;
            match &mut open.last_key {
                Some(last) => {
                    last.clear();
                    last.extend_from_slice(key);
                }
                none => *none = Some(key.to_vec()),
            }
            Ok(())
        })
    }

    /// Ends the current bucket: its pages, and its entry in the root.
    fn close_bucket(&mut self) -> Result<(), WriteError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let mut value = Vec::with_capacity(BUCKET_HEADER_BYTES);
        match open.tree.finish(&mut self.sink)? {
            TreeRoot::Page(id) => {
                value.extend_from_slice(&id.to_le_bytes());
                value.extend_from_slice(&0u64.to_le_bytes());
            }
            TreeRoot::Inline(page) => {
                value.extend_from_slice(&[0u8; BUCKET_HEADER_BYTES]);
                value.extend_from_slice(&page);
            }
        }
        self.root
            .add(&mut self.sink, BUCKET_LEAF, &open.name, &value)
    }

    /// Ends the file: the last bucket, the root bucket, the freelist, and
    /// both meta pages. Answers `out`, standing at the file's end (its
    /// length: the high water mark times the page size).
    pub fn finish(mut self) -> Result<W, WriteError> {
        self.guard(|this| this.close_bucket())?;
        let DbWriter {
            mut sink,
            root,
            freelist,
            ..
        } = self;
        let TreeRoot::Page(root) = root.finish(&mut sink)? else {
            unreachable!("the root bucket is never inline");
        };
        let freelist = match freelist {
            Freelist::NotSynced => NO_FREELIST,
            Freelist::EmptyPage => sink.write_page(FREELIST_PAGE, 0, &[])?,
        };
        for id in [0, 1] {
            let page = meta_page(id, root, freelist, sink.next);
            sink.write_at(id, &page)?;
        }
        sink.out.flush()?;
        let end = sink.base + sink.next * PAGE_SIZE as u64;
        if sink.out.stream_position()? != end {
            sink.out.seek(SeekFrom::Start(end))?;
        }
        Ok(sink.out)
    }
}

/// bbolt's limits on a put.
pub(crate) fn check_sizes(key: usize, value: usize) -> Result<(), WriteError> {
    if key == 0 {
        return Err(WriteError::EmptyKey);
    }
    if key > MAX_KEY_SIZE {
        return Err(WriteError::KeyTooLarge(key));
    }
    if value > MAX_VALUE_SIZE {
        return Err(WriteError::ValueTooLarge(value));
    }
    Ok(())
}

/// Meta page `id` (txid = id): the whole page, checksummed.
fn meta_page(id: u64, root: u64, freelist: u64, high_water: u64) -> Vec<u8> {
    let mut page = vec![0u8; PAGE_SIZE];
    page[0..8].copy_from_slice(&id.to_le_bytes());
    page[8..10].copy_from_slice(&META_PAGE.to_le_bytes());
    let mut meta = Vec::with_capacity(64);
    meta.extend_from_slice(&MAGIC.to_le_bytes());
    meta.extend_from_slice(&VERSION.to_le_bytes());
    meta.extend_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
    meta.extend_from_slice(&0u32.to_le_bytes()); // flags
    meta.extend_from_slice(&root.to_le_bytes());
    meta.extend_from_slice(&0u64.to_le_bytes()); // the root's sequence
    meta.extend_from_slice(&freelist.to_le_bytes());
    meta.extend_from_slice(&high_water.to_le_bytes());
    meta.extend_from_slice(&id.to_le_bytes()); // txid
    let sum = fnv1a64(&meta);
    meta.extend_from_slice(&sum.to_le_bytes());
    page[16..16 + meta.len()].copy_from_slice(&meta);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bboltss_limits() {
        assert!(matches!(check_sizes(0, 0), Err(WriteError::EmptyKey)));
        assert!(check_sizes(MAX_KEY_SIZE, MAX_VALUE_SIZE).is_ok());
        assert!(matches!(
            check_sizes(MAX_KEY_SIZE + 1, 0),
            Err(WriteError::KeyTooLarge(_))
        ));
        assert!(matches!(
            check_sizes(1, MAX_VALUE_SIZE + 1),
            Err(WriteError::ValueTooLarge(_))
        ));
    }
}
