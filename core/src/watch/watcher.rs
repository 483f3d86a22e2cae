//! One watcher: what it watches, how it filters, and how far it has been sent.

use bytes::Bytes;

use super::types::WatchFilters;
use crate::mvcc::{Event, EventKind};

#[derive(Clone, Debug)]
pub(super) struct Watcher {
    pub key: Bytes,
    /// etcd's range_end rules (see [`super::CreateRequest::range_end`]).
    pub range_end: Bytes,
    pub filters: WatchFilters,
    pub prev_kv: bool,
    pub progress_notify: bool,
    /// The revision the client asked to start from (after `0` = next).
    pub start_revision: i64,
    /// The store was already compacted at `start_revision` when the watch
    /// was created: the client asked for history from a compaction point.
    pub started_at_compaction: bool,
    /// The next revision whose events this watcher owes its client: every
    /// matching event below it has been sent, none at or above it.
    pub next_revision: i64,
    /// No response went to this watcher since the last progress tick (etcd's
    /// `sws.progress[id]`): only quiet watchers get progress notifications.
    pub quiet_since_tick: bool,
}

impl Watcher {
    pub fn matches_key(&self, key: &[u8]) -> bool {
        match self.range_end.as_ref() {
            [] => key == self.key.as_ref(),
            [0] => key >= self.key.as_ref(),
            end => key >= self.key.as_ref() && key < end,
        }
    }

    /// The event as this watcher's client should get it, or `None` if its
    /// key is outside the range or a filter drops it.
    pub fn deliverable(&self, event: &Event) -> Option<Event> {
        if !self.matches_key(&event.kv.key) {
            return None;
        }
        let dropped = match event.kind {
            EventKind::Put => self.filters.no_put,
            EventKind::Delete => self.filters.no_delete,
        };
        if dropped {
            return None;
        }
        let mut event = event.clone();
        if !self.prev_kv {
            event.prev_kv = None;
        }
        Some(event)
    }
}

impl Watcher {
    /// Whether reading history from `next_revision` could skip an event.
    /// Compaction at revision C keeps revision C's puts but drops deletes at C
    /// (their tombstones go, as in etcd), so history from C is complete only
    /// as "the changes after C's state". etcd accepts a watch created at C
    /// (the documented retry after a compaction cancel), so such a watcher may
    /// read from C; any other watcher that still needs C is canceled rather
    /// than silently skip a delete (etcd 3.4 would skip it).
    pub fn history_compacted(&self, compact_revision: i64) -> bool {
        let asked_for_it = self.started_at_compaction && self.next_revision == self.start_revision;
        self.next_revision < compact_revision
            || (self.next_revision == compact_revision && !asked_for_it)
    }
}
