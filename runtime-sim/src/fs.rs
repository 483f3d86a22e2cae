//! SimFs: the files of one simulated member, as a live image (what reads see)
//! and a durable image (what survives a crash).
//!
//! Every write lands in the live image only, as a pending write; `sync` makes
//! a file's pending writes durable. A crash keeps the durable image plus, at
//! random, an in-order prefix of each file's pending writes (the page cache
//! may have flushed some), the last kept one possibly torn. Creating a file
//! and removing one are durable at once: the real disk worker creates files
//! under a temporary name, fsyncs them and renames them into place, then
//! fsyncs the directory, and the simulated disk does the same as one step.
//!
//! Files are named `wal/<segment>` and `snap/<snapshot>`. The content kept is
//! what was written; a preallocated segment's zero tail is implicit (the WAL
//! reader treats the end of the data as the clean end, as it does zeros).
//!
//! Pure and deterministic: randomness comes in as a function.

use std::collections::BTreeMap;

use bytes::Bytes;

/// Bytes within which a bit flip would be indistinguishable from a torn
/// write of the last record: corruption is injected only before them, where
/// recovery must report it rather than truncate (see `docs/wal-format.md`).
pub const CORRUPTION_TAIL_GUARD_BYTES: usize = 32 * 1024;

#[derive(Clone, Debug, Default)]
struct SimFile {
    durable: Vec<u8>,
    /// Writes since the last sync, in order.
    pending: Vec<(u64, Bytes)>,
}

impl SimFile {
    fn apply(content: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
        let offset = offset as usize;
        let end = offset + bytes.len();
        if content.len() < end {
            content.resize(end, 0);
        }
        content[offset..end].copy_from_slice(bytes);
    }

    fn live(&self) -> Vec<u8> {
        let mut content = self.durable.clone();
        for (offset, bytes) in &self.pending {
            SimFile::apply(&mut content, *offset, bytes);
        }
        content
    }
}

/// What a crash did to the files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Unsynced writes that reached the disk anyway.
    pub kept_writes: usize,
    /// Unsynced writes lost.
    pub lost_writes: usize,
    /// Whether the last kept write was torn (only a prefix of it kept).
    pub torn: bool,
}

/// The files of one member.
#[derive(Clone, Debug, Default)]
pub struct SimFs {
    files: BTreeMap<String, SimFile>,
}

impl SimFs {
    pub fn new() -> SimFs {
        SimFs::default()
    }

    /// Creates (or replaces) `name` durably with `bytes`.
    pub fn create_durable(&mut self, name: &str, bytes: &[u8]) {
        self.files.insert(
            name.to_string(),
            SimFile {
                durable: bytes.to_vec(),
                pending: Vec::new(),
            },
        );
    }

    /// An unsynced write. Returns false if the file does not exist.
    pub fn write(&mut self, name: &str, offset: u64, bytes: Bytes) -> bool {
        match self.files.get_mut(name) {
            Some(file) => {
                file.pending.push((offset, bytes));
                true
            }
            None => false,
        }
    }

    /// fdatasync: every pending write of `name` becomes durable.
    pub fn sync(&mut self, name: &str) {
        if let Some(file) = self.files.get_mut(name) {
            for (offset, bytes) in std::mem::take(&mut file.pending) {
                SimFile::apply(&mut file.durable, offset, &bytes);
            }
        }
    }

    /// Zeroes `name` from `offset` on, durably (the torn-tail repair).
    pub fn truncate_durable(&mut self, name: &str, offset: u64) {
        if let Some(file) = self.files.get_mut(name) {
            let mut live = file.live();
            live.truncate(offset as usize);
            file.durable = live;
            file.pending.clear();
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.files.remove(name);
    }

    /// The live content of `name`.
    pub fn read(&self, name: &str) -> Option<Bytes> {
        self.files.get(name).map(|f| Bytes::from(f.live()))
    }

    /// Names under `dir/` (without the prefix), in name order.
    pub fn list(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{dir}/");
        self.files
            .keys()
            .filter_map(|name| name.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    /// Bytes not yet durable, over all files.
    pub fn pending_writes(&self) -> usize {
        self.files.values().map(|f| f.pending.len()).sum()
    }

    /// A power loss: for each file keep the durable image plus a random
    /// in-order prefix of its pending writes, the last kept one possibly cut
    /// short. `random(n)` returns a number in `0..n`.
    pub fn crash(&mut self, random: &mut dyn FnMut(u64) -> u64) -> CrashReport {
        let mut report = CrashReport::default();
        for file in self.files.values_mut() {
            let pending = std::mem::take(&mut file.pending);
            if pending.is_empty() {
                continue;
            }
            let kept = random(pending.len() as u64 + 1) as usize;
            report.kept_writes += kept;
            report.lost_writes += pending.len() - kept;
            for (i, (offset, bytes)) in pending.iter().take(kept).enumerate() {
                let torn = i + 1 == kept && bytes.len() > 1 && random(4) == 0;
                let bytes = if torn {
                    report.torn = true;
                    &bytes[..random(bytes.len() as u64) as usize]
                } else {
                    &bytes[..]
                };
                SimFile::apply(&mut file.durable, *offset, bytes);
            }
        }
        report
    }

    /// Flips one bit of a durable WAL segment, at least
    /// [`CORRUPTION_TAIL_GUARD_BYTES`] before the end of its data, as a bad
    /// sector read back at restart would. Returns where, or `None` if no
    /// segment is long enough.
    pub fn flip_wal_bit(&mut self, random: &mut dyn FnMut(u64) -> u64) -> Option<(String, u64)> {
        const SEGMENT_HEADER_GUARD_BYTES: usize = 64;
        let candidates: Vec<String> = self
            .files
            .iter()
            .filter(|(name, file)| {
                name.starts_with("wal/")
                    && file.durable.len()
                        > CORRUPTION_TAIL_GUARD_BYTES + 2 * SEGMENT_HEADER_GUARD_BYTES
            })
            .map(|(name, _)| name.clone())
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let name = candidates[random(candidates.len() as u64) as usize].clone();
        let file = self.files.get_mut(&name).expect("candidate exists");
        let span = file.durable.len() - CORRUPTION_TAIL_GUARD_BYTES - SEGMENT_HEADER_GUARD_BYTES;
        let at = SEGMENT_HEADER_GUARD_BYTES + random(span as u64) as usize;
        file.durable[at] ^= 1 << random(8);
        Some((name, at as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(values: Vec<u64>) -> impl FnMut(u64) -> u64 {
        let mut values = values.into_iter();
        move |n| values.next().unwrap_or(0) % n.max(1)
    }

    #[test]
    fn synced_writes_survive_a_crash_and_unsynced_ones_may_not() {
        let mut fs = SimFs::new();
        fs.create_durable("wal/a", b"HEAD");
        assert!(fs.write("wal/a", 4, Bytes::from_static(b"one")));
        fs.sync("wal/a");
        assert!(fs.write("wal/a", 7, Bytes::from_static(b"two")));
        assert!(fs.write("wal/a", 10, Bytes::from_static(b"three")));
        assert_eq!(&fs.read("wal/a").unwrap()[..], b"HEADonetwothree");
        // Keep none of the two pending writes.
        let report = fs.crash(&mut counter(vec![0]));
        assert_eq!(report.lost_writes, 2);
        assert_eq!(&fs.read("wal/a").unwrap()[..], b"HEADone");
    }

    #[test]
    fn a_crash_keeps_an_in_order_prefix_possibly_torn() {
        let mut fs = SimFs::new();
        fs.create_durable("wal/a", b"");
        fs.write("wal/a", 0, Bytes::from_static(b"aaaa"));
        fs.write("wal/a", 4, Bytes::from_static(b"bbbb"));
        fs.write("wal/a", 8, Bytes::from_static(b"cccc"));
        // Keep 2, the last of them torn (random(4) = 0) after 2 bytes.
        let report = fs.crash(&mut counter(vec![2, 0, 2]));
        assert_eq!(report.kept_writes, 2);
        assert!(report.torn);
        assert_eq!(&fs.read("wal/a").unwrap()[..], b"aaaabb");
    }

    #[test]
    fn truncation_and_removal_are_durable() {
        let mut fs = SimFs::new();
        fs.create_durable("wal/a", b"0123456789");
        fs.write("wal/a", 10, Bytes::from_static(b"xx"));
        fs.truncate_durable("wal/a", 4);
        fs.crash(&mut counter(vec![1]));
        assert_eq!(&fs.read("wal/a").unwrap()[..], b"0123");
        fs.create_durable("snap/s", b"snap");
        fs.remove("snap/s");
        assert_eq!(fs.list("snap"), Vec::<String>::new());
        assert_eq!(fs.list("wal"), vec!["a".to_string()]);
    }

    #[test]
    fn corruption_stays_clear_of_the_tail() {
        let mut fs = SimFs::new();
        fs.create_durable("wal/a", &[0u8; 100]);
        assert_eq!(fs.flip_wal_bit(&mut counter(vec![0, 5, 3])), None);
        fs.create_durable("wal/b", &vec![0u8; 100_000]);
        let (name, at) = fs.flip_wal_bit(&mut counter(vec![0, u64::MAX, 3])).unwrap();
        assert_eq!(name, "wal/b");
        assert!((at as usize) < 100_000 - CORRUPTION_TAIL_GUARD_BYTES);
        let content = fs.read("wal/b").unwrap();
        assert_eq!(content.iter().filter(|b| **b != 0).count(), 1);
    }
}
