//! Replaying history to unsynced watchers (etcd's `syncWatchers`), bounded by
//! an event budget per call so one far-behind watcher cannot stall the member.

use std::ops::Bound;

use super::hub::{compacted, stream_progress, WatchHub, WatcherKey};
use super::types::WatchResponse;
use super::{MAX_EVENTS_PER_RESPONSE, MAX_REVISIONS_PER_READ};
use crate::mvcc::{Event, Store};

impl WatchHub {
    /// Sends history to unsynced watchers of unblocked streams, from each one's
    /// next revision, round-robin, until about `budget_events` events went out
    /// (every read of history costs at least one, so the work is bounded even
    /// where nothing matches; a revision is never split, so the last response
    /// may overshoot by part of one revision). A watcher that reaches the
    /// current revision is synced again; one whose history was compacted is
    /// canceled with `compact_revision`. Pending progress requests of streams
    /// now fully synced are answered last.
    #[must_use]
    pub fn catch_up(&mut self, store: &Store, budget_events: usize) -> Vec<WatchResponse> {
        let mut budget = budget_events;
        let mut responses = Vec::new();
        while budget > 0 {
            let candidates = self.catch_up_candidates();
            if candidates.is_empty() {
                break;
            }
            for id in candidates {
                if budget == 0 {
                    break;
                }
                self.serve(id, store, &mut budget, &mut responses);
                self.catch_up_cursor = Some(id);
            }
        }
        let ready: Vec<u64> = self
            .streams
            .iter()
            .filter(|(&stream, state)| state.progress_pending && self.stream_synced(stream, store))
            .map(|(&stream, _)| stream)
            .collect();
        for stream in ready {
            if let Some(state) = self.streams.get_mut(&stream) {
                state.progress_pending = false;
            }
            responses.push(stream_progress(stream, store));
        }
        responses
    }

    /// Unsynced watchers of unblocked streams, starting after the cursor.
    fn catch_up_candidates(&self) -> Vec<WatcherKey> {
        let eligible = |id: &&WatcherKey| !self.streams.get(&id.0).is_some_and(|s| s.blocked);
        let after = match self.catch_up_cursor {
            Some(cursor) => self
                .unsynced
                .range((Bound::Excluded(cursor), Bound::Unbounded)),
            None => self.unsynced.range(..),
        };
        let before = match self.catch_up_cursor {
            Some(cursor) => self.unsynced.range(..=cursor),
            None => self.unsynced.range(..(0, i64::MIN)),
        };
        after.chain(before).filter(eligible).copied().collect()
    }

    /// One step for one unsynced watcher: at most one response, with whole
    /// revisions, at most `min(budget, MAX_EVENTS_PER_RESPONSE)` events unless
    /// the first revision alone is larger.
    pub(super) fn serve(
        &mut self,
        id: WatcherKey,
        store: &Store,
        budget: &mut usize,
        responses: &mut Vec<WatchResponse>,
    ) {
        let current = store.current_revision();
        let Some(watcher) = self.watchers.get_mut(&id) else {
            return;
        };
        let from = watcher.next_revision;
        if from > current {
            self.unsynced.remove(&id);
            return;
        }
        if watcher.history_compacted(store.compact_revision()) {
            self.remove(id);
            responses.push(compacted(id.0, id.1, store.compact_revision()));
            *budget = budget.saturating_sub(1);
            return;
        }
        let to = current.min(from + MAX_REVISIONS_PER_READ - 1);
        let history = store
            .events(&watcher.key, &watcher.range_end, from, to)
            .expect("watch: history from a revision at or above the compaction is readable");
        let events: Vec<Event> = history
            .iter()
            .filter_map(|event| watcher.deliverable(event))
            .collect();
        let limit = (*budget).min(MAX_EVENTS_PER_RESPONSE);
        let (taken, next_revision) = take_whole_revisions(events, limit, to + 1);
        watcher.next_revision = next_revision;
        *budget = budget.saturating_sub(taken.len().max(1));
        if !taken.is_empty() {
            watcher.quiet_since_tick = false;
            // etcd's syncWatchers stamps catch-up responses with the current revision.
            responses.push(WatchResponse {
                stream: id.0,
                watch_id: id.1,
                events: taken,
                header_revision: current,
                ..WatchResponse::default()
            });
        }
        if next_revision > current {
            self.unsynced.remove(&id);
        }
    }
}

/// The longest prefix of `events` (in revision order) made of whole revisions
/// with at most `limit` events, but at least the first revision; and the next
/// revision to read (`end` if everything was taken).
fn take_whole_revisions(mut events: Vec<Event>, limit: usize, end: i64) -> (Vec<Event>, i64) {
    let mut taken = 0;
    while taken < events.len() {
        let revision = events[taken].kv.mod_revision;
        let group = events[taken..]
            .iter()
            .take_while(|event| event.kv.mod_revision == revision)
            .count();
        if taken > 0 && taken + group > limit {
            let rest = events.split_off(taken);
            return (events, rest[0].kv.mod_revision);
        }
        taken += group;
    }
    (events, end)
}
