//! The replicated log as one node holds it in memory, with what is durable,
//! committed and applied.
//!
//! ```text
//!   snapshot        entries (in memory)
//!  ────────────┬────────────────────────────────────────────────┐
//!   ..=base    │ base+1 ...                            last     │
//!  ────────────┴────────────────────────────────────────────────┘
//!                     applied ≤ committed ≤ last
//!                     persisted ≤ last        (durable and equal to memory)
//!                     unsent_from: first index not yet handed out to be written
//! ```
//! Invariants: entries are contiguous from `base + 1`; their terms never
//! decrease and are ≥ `base_term`; `applied ≤ committed ≤ last_index`;
//! `base ≤ applied`; `persisted ≤ last_index`; `unsent_from ≤ last_index + 1`.

use std::collections::VecDeque;

use super::types::Entry;

#[derive(Clone, Debug)]
pub(crate) struct RaftLog {
    /// Index and term of the last entry folded into the snapshot.
    base_index: u64,
    base_term: u64,
    entries: VecDeque<Entry>,
    pub(crate) committed: u64,
    /// The last index handed to the application.
    pub(crate) applied: u64,
    /// Every entry up to here is durable, with the same term as in memory.
    pub(crate) persisted: u64,
    /// Entries from here on have not been handed out to be written yet.
    pub(crate) unsent_from: u64,
}

impl RaftLog {
    /// A log that starts after a snapshot at (`index`, `term`), with `entries`
    /// following it, all of them already durable.
    pub(crate) fn restore(index: u64, term: u64, entries: Vec<Entry>, committed: u64) -> RaftLog {
        let entries: VecDeque<Entry> = entries.into();
        let log = RaftLog {
            base_index: index,
            base_term: term,
            persisted: index + entries.len() as u64,
            unsent_from: index + entries.len() as u64 + 1,
            entries,
            committed: committed.max(index),
            applied: index,
        };
        log.check();
        log
    }

    pub(crate) fn first_index(&self) -> u64 {
        self.base_index + 1
    }

    pub(crate) fn last_index(&self) -> u64 {
        self.base_index + self.entries.len() as u64
    }

    pub(crate) fn last_term(&self) -> u64 {
        self.entries.back().map_or(self.base_term, |e| e.term)
    }

    /// The term of the entry at `index`: `None` if it is compacted away or
    /// beyond the end.
    pub(crate) fn term(&self, index: u64) -> Option<u64> {
        if index == self.base_index {
            return Some(self.base_term);
        }
        if index < self.base_index || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.base_index - 1) as usize].term)
    }

    pub(crate) fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.base_index || index > self.last_index() {
            return None;
        }
        self.entries.get((index - self.base_index - 1) as usize)
    }

    pub(crate) fn matches(&self, index: u64, term: u64) -> bool {
        self.term(index) == Some(term)
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours if its
    /// last term is higher, or equal with an index at least as high.
    pub(crate) fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// The largest index ≤ `index` whose term is ≤ `term` (the base if none is
    /// in memory). Used to skip whole terms when logs disagree.
    pub(crate) fn find_conflict_by_term(&self, index: u64, term: u64) -> u64 {
        let mut index = index.min(self.last_index());
        while index > self.base_index {
            match self.term(index) {
                Some(t) if t > term => index -= 1,
                _ => break,
            }
        }
        index
    }

    /// Entries in `[from, last]`, at most `max_bytes` of them but always at
    /// least one if any exist. Requires `from > base`.
    pub(crate) fn entries_from(&self, from: u64, max_bytes: u64) -> Vec<Entry> {
        assert!(
            from > self.base_index,
            "entries from {from} are compacted (base {})",
            self.base_index
        );
        let mut out = Vec::new();
        let mut bytes = 0;
        let start = (from - self.base_index - 1) as usize;
        for entry in self.entries.iter().skip(start) {
            bytes += entry.size_bytes();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    /// Appends entries that follow the last one. Returns the new last index.
    pub(crate) fn append(&mut self, entries: impl IntoIterator<Item = Entry>) -> u64 {
        for entry in entries {
            assert_eq!(
                entry.index,
                self.last_index() + 1,
                "appended entries must be contiguous"
            );
            assert!(
                entry.term >= self.last_term(),
                "appended entry's term goes backwards"
            );
            self.entries.push_back(entry);
        }
        self.last_index()
    }

    /// Raft §5.3 step 3 and 4: given entries that follow (`prev_index`,
    /// matching), keeps what agrees, drops our suffix from the first conflict and
    /// appends the rest. Returns the index of the last entry the leader sent.
    pub(crate) fn merge(&mut self, prev_index: u64, entries: &[Entry]) -> u64 {
        let last_new = prev_index + entries.len() as u64;
        let conflict = entries.iter().find(|e| !self.matches(e.index, e.term));
        if let Some(first_conflict) = conflict {
            let at = first_conflict.index;
            assert!(
                at > self.committed,
                "entry {at} conflicts with the committed log (committed {})",
                self.committed
            );
            if at <= self.last_index() {
                self.truncate_from(at);
            }
            let offset = (at - prev_index - 1) as usize;
            self.append(entries[offset..].iter().cloned());
        }
        last_new
    }

    /// Drops entries at `index` and after. Uncommitted entries only.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        assert!(index > self.committed && index > self.base_index);
        self.entries
            .truncate((index - self.base_index - 1) as usize);
        self.persisted = self.persisted.min(index - 1);
        self.unsent_from = self.unsent_from.min(index);
    }

    /// Advances the commit index (never backwards).
    pub(crate) fn commit_to(&mut self, index: u64) -> bool {
        if index > self.committed {
            assert!(
                index <= self.last_index(),
                "commit {index} beyond the last index {}",
                self.last_index()
            );
            self.committed = index;
            return true;
        }
        false
    }

    /// Entries not yet handed out to be written.
    pub(crate) fn take_unsent(&mut self) -> Vec<Entry> {
        if self.unsent_from > self.last_index() {
            return Vec::new();
        }
        let out = self.entries_from(self.unsent_from, u64::MAX);
        self.unsent_from = self.last_index() + 1;
        out
    }

    /// A write ending at (`index`, `term`) is durable. If the log changed since
    /// (that entry was replaced), a later write will carry the replacement.
    pub(crate) fn persisted_to(&mut self, index: u64, term: u64) {
        if index > self.persisted && self.matches(index, term) && index < self.unsent_from {
            self.persisted = index;
        }
    }

    /// Committed, durable entries not yet handed to the application, at most
    /// `max_bytes` of them (at least one if any).
    pub(crate) fn take_committed(&mut self, max_bytes: u64) -> Vec<Entry> {
        let ready_to = self.committed.min(self.persisted);
        if ready_to <= self.applied {
            return Vec::new();
        }
        let mut out = self.entries_from(self.applied + 1, max_bytes);
        out.truncate((ready_to - self.applied) as usize);
        self.applied = out.last().map_or(self.applied, |e| e.index);
        out
    }

    /// Forgets entries up to `index`, which a durable snapshot covers.
    pub(crate) fn compact_to(&mut self, index: u64) {
        assert!(
            index <= self.applied,
            "compacting {index} beyond applied {}",
            self.applied
        );
        if index <= self.base_index {
            return;
        }
        let term = self.term(index).expect("index within the log");
        let drop = (index - self.base_index) as usize;
        self.entries.drain(..drop);
        self.base_index = index;
        self.base_term = term;
    }

    /// Replaces the whole log by a snapshot at (`index`, `term`).
    pub(crate) fn restore_snapshot(&mut self, index: u64, term: u64) {
        self.entries.clear();
        self.base_index = index;
        self.base_term = term;
        self.committed = index;
        self.applied = index;
        // The snapshot itself is durable only once its write completes; until
        // then nothing after the old persisted point is known durable.
        self.persisted = self.persisted.min(index.saturating_sub(1));
        self.unsent_from = index + 1;
    }

    /// Checks this type's invariants (test and debug builds).
    pub(crate) fn check(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let last = self.last_index();
        assert!(
            self.applied <= self.committed,
            "applied {} > committed {}",
            self.applied,
            self.committed
        );
        assert!(
            self.committed <= last,
            "committed {} > last {last}",
            self.committed
        );
        assert!(
            self.base_index <= self.applied,
            "base {} > applied {}",
            self.base_index,
            self.applied
        );
        assert!(
            self.persisted <= last,
            "persisted {} > last {last}",
            self.persisted
        );
        assert!(self.unsent_from <= last + 1);
        let mut previous_term = self.base_term;
        for (offset, entry) in self.entries.iter().enumerate() {
            assert_eq!(
                entry.index,
                self.base_index + 1 + offset as u64,
                "log is not contiguous"
            );
            assert!(
                entry.term >= previous_term,
                "log terms go backwards at {}",
                entry.index
            );
            previous_term = entry.term;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::EntryKind;
    use bytes::Bytes;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::new(),
        }
    }

    fn log_with_terms(terms: &[u64]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &t)| entry(i as u64 + 1, t))
            .collect();
        RaftLog::restore(0, 0, entries, 0)
    }

    #[test]
    fn merge_keeps_agreeing_entries_and_replaces_from_the_conflict() {
        let mut log = log_with_terms(&[1, 1, 2, 2]);
        let last = log.merge(2, &[entry(3, 2), entry(4, 3), entry(5, 3)]);
        assert_eq!(last, 5);
        assert_eq!(log.term(3), Some(2));
        assert_eq!(log.term(4), Some(3));
        assert_eq!(log.last_index(), 5);
        assert_eq!(
            log.persisted, 3,
            "the replaced entry 4 is no longer durable"
        );
        assert_eq!(log.unsent_from, 4);
        log.check();
    }

    #[test]
    fn merge_of_a_stale_shorter_append_keeps_the_longer_log() {
        let mut log = log_with_terms(&[1, 1, 1, 1]);
        assert_eq!(log.merge(1, &[entry(2, 1)]), 2);
        assert_eq!(log.last_index(), 4, "a matching prefix never truncates");
    }

    #[test]
    fn conflict_search_skips_whole_terms() {
        let log = log_with_terms(&[1, 1, 4, 4, 4, 5, 5]);
        assert_eq!(log.find_conflict_by_term(7, 3), 2);
        assert_eq!(log.find_conflict_by_term(7, 4), 5);
        assert_eq!(log.find_conflict_by_term(10, 9), 7);
        assert_eq!(log.find_conflict_by_term(7, 0), 0);
    }

    #[test]
    fn committed_entries_wait_for_durability() {
        let mut log = log_with_terms(&[1, 1]);
        log.append([entry(3, 1), entry(4, 1)]);
        log.commit_to(4);
        let first = log.take_committed(u64::MAX);
        assert_eq!(
            first.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(log.take_unsent().len(), 2);
        log.persisted_to(4, 1);
        assert_eq!(log.take_committed(u64::MAX).len(), 2);
        assert_eq!(log.applied, 4);
    }

    #[test]
    fn compaction_keeps_terms_at_the_base() {
        let mut log = log_with_terms(&[1, 2, 3]);
        log.commit_to(3);
        let _ = log.take_committed(u64::MAX);
        log.compact_to(2);
        assert_eq!(log.term(2), Some(2));
        assert_eq!(log.term(1), None);
        assert_eq!(log.first_index(), 3);
        log.check();
    }

    #[test]
    fn up_to_date_compares_term_then_index() {
        let log = log_with_terms(&[1, 2, 2]);
        assert!(log.is_up_to_date(1, 3));
        assert!(log.is_up_to_date(3, 2));
        assert!(!log.is_up_to_date(2, 2));
        assert!(!log.is_up_to_date(9, 1));
    }
}
