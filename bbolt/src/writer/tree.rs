//! The pages of one B+tree (a bucket's, or the root bucket's), written as
//! they fill: a pending leaf page, and one pending branch page per level
//! above it. A page is written when the next element would take it past
//! the fill threshold (a branch page takes at least two children, as
//! bbolt's `minKeysPerPage`, so that long keys still make a narrowing
//! tree); the pending branch pages hold only the first key and page number
//! of each child, so the memory a tree holds is a page or so per level,
//! whatever the number of entries.

use std::io::{Seek, SeekFrom, Write};

use super::WriteError;
use crate::{BRANCH_PAGE, ELEMENT_BYTES, LEAF_PAGE, PAGE_HEADER_BYTES};

/// Where pages go: `out`, at `base + id * page_size`, ids handed out in
/// order (so the writes are sequential: the stream stays at the next page).
pub(super) struct Sink<W> {
    pub(super) out: W,
    pub(super) base: u64,
    /// The next page's id: the high water mark so far.
    pub(super) next: u64,
    pub(super) page_size: usize,
}

impl<W: Write + Seek> Sink<W> {
    /// Writes one page (with the overflow pages its body needs): a header
    /// with the page's own id, then `parts`, then zeros to the page's end.
    /// Answers the page's id.
    pub(super) fn write_page(
        &mut self,
        flags: u16,
        count: usize,
        parts: &[&[u8]],
    ) -> Result<u64, WriteError> {
        let len = PAGE_HEADER_BYTES + parts.iter().map(|part| part.len()).sum::<usize>();
        let pages = len.div_ceil(self.page_size);
        let overflow = u32::try_from(pages - 1).map_err(|_| WriteError::PageTooLarge)?;
        let count = u16::try_from(count).map_err(|_| WriteError::PageTooLarge)?;
        let id = self.next;
        let mut header = [0u8; PAGE_HEADER_BYTES];
        header[0..8].copy_from_slice(&id.to_le_bytes());
        header[8..10].copy_from_slice(&flags.to_le_bytes());
        header[10..12].copy_from_slice(&count.to_le_bytes());
        header[12..16].copy_from_slice(&overflow.to_le_bytes());
        self.out.write_all(&header)?;
        for part in parts {
            self.out.write_all(part)?;
        }
        self.out
            .write_all(&vec![0u8; pages * self.page_size - len])?;
        self.next += pages as u64;
        Ok(id)
    }

    /// Writes a whole page's bytes at page `id` (a meta page), then returns
    /// to the end of the pages written.
    pub(super) fn write_at(&mut self, id: u64, page: &[u8]) -> Result<(), WriteError> {
        let size = self.page_size as u64;
        self.out.seek(SeekFrom::Start(self.base + id * size))?;
        self.out.write_all(page)?;
        self.out
            .seek(SeekFrom::Start(self.base + self.next * size))?;
        Ok(())
    }
}

/// One element of a pending page: where its bytes start in `data`.
struct Element {
    flags: u32,
    ksize: u32,
    vsize: u32,
    child: u64,
    offset: usize,
}

/// A page being filled: its elements and, apart, their keys and values.
struct Pending {
    flags: u16,
    elements: Vec<Element>,
    data: Vec<u8>,
    /// Pages this level has written so far.
    written: u64,
}

impl Pending {
    fn new(flags: u16) -> Pending {
        Pending {
            flags,
            elements: Vec::new(),
            data: Vec::new(),
            written: 0,
        }
    }

    /// The page's length (header, elements, data), unpadded.
    fn size(&self) -> usize {
        PAGE_HEADER_BYTES + self.elements.len() * ELEMENT_BYTES + self.data.len()
    }

    fn push(&mut self, flags: u32, key: &[u8], value: &[u8], child: u64) {
        self.elements.push(Element {
            flags,
            ksize: key.len() as u32,
            vsize: value.len() as u32,
            child,
            offset: self.data.len(),
        });
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value);
    }

    fn first_key(&self) -> &[u8] {
        self.elements
            .first()
            .map_or(&[][..], |first| &self.data[..first.ksize as usize])
    }

    /// The element table: each element's key at `pos` bytes from the
    /// element itself, as bbolt reads it.
    fn table(&self) -> Vec<u8> {
        let count = self.elements.len();
        let mut table = Vec::with_capacity(count * ELEMENT_BYTES);
        for (index, element) in self.elements.iter().enumerate() {
            let pos = ((count - index) * ELEMENT_BYTES + element.offset) as u32;
            if self.flags == LEAF_PAGE {
                table.extend_from_slice(&element.flags.to_le_bytes());
                table.extend_from_slice(&pos.to_le_bytes());
                table.extend_from_slice(&element.ksize.to_le_bytes());
                table.extend_from_slice(&element.vsize.to_le_bytes());
            } else {
                table.extend_from_slice(&pos.to_le_bytes());
                table.extend_from_slice(&element.ksize.to_le_bytes());
                table.extend_from_slice(&element.child.to_le_bytes());
            }
        }
        table
    }

    /// Writes the page and empties it: answers its first key and its id.
    fn flush<W: Write + Seek>(&mut self, sink: &mut Sink<W>) -> Result<(Vec<u8>, u64), WriteError> {
        let table = self.table();
        let id = sink.write_page(self.flags, self.elements.len(), &[&table, &self.data])?;
        let first = self.first_key().to_vec();
        self.elements.clear();
        self.data.clear();
        self.written += 1;
        Ok((first, id))
    }
}

/// Where a finished tree is: its root page, or (a small bucket, as bbolt
/// keeps them) its one leaf page inline, as bytes for the parent's value.
pub(super) enum TreeRoot {
    Page(u64),
    Inline(Vec<u8>),
}

/// A B+tree being written, entries in key order.
pub(super) struct Tree {
    /// A page is written when the next element would take it past this.
    threshold: usize,
    /// A tree whose one leaf page is at most this long goes inline (`None`
    /// for the root bucket, which must have a page).
    inline_max: Option<usize>,
    leaf: Pending,
    /// `branches[i]`: the pending page of level i + 1 above the leaves.
    branches: Vec<Pending>,
}

impl Tree {
    pub(super) fn new(threshold: usize, inline_max: Option<usize>) -> Tree {
        Tree {
            threshold,
            inline_max,
            leaf: Pending::new(LEAF_PAGE),
            branches: Vec::new(),
        }
    }

    /// Adds the next entry (its key above every key before it).
    pub(super) fn add<W: Write + Seek>(
        &mut self,
        sink: &mut Sink<W>,
        flags: u32,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), WriteError> {
        let size = ELEMENT_BYTES + key.len() + value.len();
        if !self.leaf.elements.is_empty() && self.leaf.size() + size > self.threshold {
            let (first, id) = self.leaf.flush(sink)?;
            self.add_child(sink, 0, first, id)?;
        }
        if PAGE_HEADER_BYTES + size > self.threshold {
            // A page of its own (with overflow pages), written from the
            // caller's bytes: a large value is never copied or held.
            let mut element = [0u8; ELEMENT_BYTES];
            element[0..4].copy_from_slice(&flags.to_le_bytes());
            element[4..8].copy_from_slice(&(ELEMENT_BYTES as u32).to_le_bytes());
            element[8..12].copy_from_slice(&(key.len() as u32).to_le_bytes());
            element[12..16].copy_from_slice(&(value.len() as u32).to_le_bytes());
            let id = sink.write_page(LEAF_PAGE, 1, &[&element, key, value])?;
            self.leaf.written += 1;
            return self.add_child(sink, 0, key.to_vec(), id);
        }
        self.leaf.push(flags, key, value, 0);
        Ok(())
    }

    /// Records page `child` (whose first key is `key`) in the branch level
    /// `level`, writing that level's pending page first if it is full, and
    /// so on up.
    fn add_child<W: Write + Seek>(
        &mut self,
        sink: &mut Sink<W>,
        mut level: usize,
        mut key: Vec<u8>,
        mut child: u64,
    ) -> Result<(), WriteError> {
        loop {
            if self.branches.len() == level {
                self.branches.push(Pending::new(BRANCH_PAGE));
            }
            let branch = &mut self.branches[level];
            let size = ELEMENT_BYTES + key.len();
            // At least two children to a branch page (bbolt's
            // minKeysPerPage), however long the keys: the tree narrows.
            if branch.elements.len() >= 2 && branch.size() + size > self.threshold {
                let (first, id) = branch.flush(sink)?;
                branch.push(0, &key, &[], child);
                (key, child, level) = (first, id, level + 1);
                continue;
            }
            branch.push(0, &key, &[], child);
            return Ok(());
        }
    }

    /// Writes what is pending, bottom up, and answers the tree's root.
    pub(super) fn finish<W: Write + Seek>(
        mut self,
        sink: &mut Sink<W>,
    ) -> Result<TreeRoot, WriteError> {
        if self.leaf.written == 0 {
            if let Some(max) = self.inline_max {
                if self.leaf.size() <= max {
                    let mut page = vec![0u8; PAGE_HEADER_BYTES];
                    page[8..10].copy_from_slice(&LEAF_PAGE.to_le_bytes());
                    let count = self.leaf.elements.len() as u16;
                    page[10..12].copy_from_slice(&count.to_le_bytes());
                    page.extend_from_slice(&self.leaf.table());
                    page.extend_from_slice(&self.leaf.data);
                    return Ok(TreeRoot::Inline(page));
                }
            }
        }
        if self.leaf.written == 0 || !self.leaf.elements.is_empty() {
            // (An empty tree is one empty leaf page.)
            let (first, id) = self.leaf.flush(sink)?;
            self.add_child(sink, 0, first, id)?;
        }
        let mut level = 0;
        loop {
            let top = level + 1 == self.branches.len();
            let branch = &mut self.branches[level];
            if top && branch.written == 0 && branch.elements.len() == 1 {
                return Ok(TreeRoot::Page(branch.elements[0].child));
            }
            let (first, id) = branch.flush(sink)?;
            self.add_child(sink, level + 1, first, id)?;
            level += 1;
        }
    }
}
