//! [`WatchHub`]: every watcher of every stream, and the inputs that move them.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::types::{
    CreateRequest, WatchResponse, CANCEL_REASON_DUPLICATE_ID, CANCEL_REASON_EMPTY_RANGE,
    PROGRESS_WATCH_ID,
};
use super::watcher::Watcher;
use super::MAX_EVENTS_PER_RESPONSE;
use crate::mvcc::{Event, Store};

/// A watcher's identity: (stream id, watch id on that stream).
pub(super) type WatcherKey = (u64, i64);

#[derive(Clone, Debug, Default)]
pub(super) struct StreamState {
    /// The next id an auto-id create tries (etcd's `watchStream.nextID`: it only
    /// grows, so an auto id is never reused on a stream).
    pub next_id: i64,
    /// The runtime's outbound queue for this stream is full.
    pub blocked: bool,
    /// A progress request waits for every watcher of the stream to be synced.
    pub progress_pending: bool,
}

/// The watch bookkeeping of one member. See the module documentation for the
/// states and invariants.
#[derive(Clone, Debug, Default)]
pub struct WatchHub {
    pub(super) watchers: BTreeMap<WatcherKey, Watcher>,
    pub(super) streams: BTreeMap<u64, StreamState>,
    /// Invariant: exactly the watchers that are not synced; it contains every
    /// watcher of a blocked stream.
    pub(super) unsynced: BTreeSet<WatcherKey>,
    /// Where the next `catch_up` starts, so no watcher starves the others.
    pub(super) catch_up_cursor: Option<WatcherKey>,
}

fn stream_range(stream: u64) -> std::ops::RangeInclusive<WatcherKey> {
    (stream, i64::MIN)..=(stream, i64::MAX)
}

impl WatchHub {
    pub fn new() -> WatchHub {
        WatchHub::default()
    }

    pub fn watcher_count(&self) -> usize {
        self.watchers.len()
    }

    pub fn is_synced(&self, stream: u64, watch_id: i64) -> bool {
        self.watchers.contains_key(&(stream, watch_id))
            && !self.unsynced.contains(&(stream, watch_id))
    }

    /// The next revision the watcher owes its client, if it exists.
    pub fn next_revision(&self, stream: u64, watch_id: i64) -> Option<i64> {
        self.watchers
            .get(&(stream, watch_id))
            .map(|w| w.next_revision)
    }

    /// A WatchCreateRequest on `stream` (etcd's `serverWatchStream.recvLoop` and
    /// `watchStream.Watch`): the created response first, then a compaction
    /// cancel or the first part of a replay of history, if any.
    #[must_use]
    pub fn create(
        &mut self,
        stream: u64,
        request: CreateRequest,
        store: &Store,
    ) -> Vec<WatchResponse> {
        let current = store.current_revision();
        let refuse = |reason: &str| WatchResponse {
            stream,
            watch_id: PROGRESS_WATCH_ID,
            created: true,
            canceled: true,
            cancel_reason: reason.to_string(),
            header_revision: current,
            ..WatchResponse::default()
        };
        // etcd: an empty key means "\0", the smallest key.
        let key = if request.key.is_empty() {
            Bytes::from_static(b"\0")
        } else {
            request.key
        };
        let range_end = request.range_end;
        if !matches!(range_end.as_ref(), [] | [0]) && key >= range_end {
            return vec![refuse(CANCEL_REASON_EMPTY_RANGE)];
        }
        let state = self.streams.entry(stream).or_default();
        let watch_id = if request.watch_id == 0 {
            while self.watchers.contains_key(&(stream, state.next_id)) {
                state.next_id += 1;
            }
            state.next_id += 1;
            state.next_id - 1
        } else if self.watchers.contains_key(&(stream, request.watch_id)) {
            return vec![refuse(CANCEL_REASON_DUPLICATE_ID)];
        } else {
            request.watch_id
        };
        let blocked = state.blocked;
        let mut responses = vec![WatchResponse {
            stream,
            watch_id,
            created: true,
            header_revision: current,
            ..WatchResponse::default()
        }];
        // Revisions start at 1; etcd treats a negative start as "from the oldest".
        let start = match request.start_revision {
            0 => current + 1,
            start => start.max(1),
        };
        if start < store.compact_revision() {
            responses.push(compacted(stream, watch_id, store.compact_revision()));
            return responses;
        }
        let watcher = Watcher {
            key,
            range_end,
            filters: request.filters,
            prev_kv: request.prev_kv,
            progress_notify: request.progress_notify,
            start_revision: start,
            started_at_compaction: start == store.compact_revision(),
            next_revision: start,
            quiet_since_tick: true,
        };
        let id = (stream, watch_id);
        self.watchers.insert(id, watcher);
        if start <= current || blocked {
            self.unsynced.insert(id);
            if !blocked {
                let mut budget = MAX_EVENTS_PER_RESPONSE;
                self.serve(id, store, &mut budget, &mut responses);
            }
        }
        responses
    }

    /// A WatchCancelRequest. `None` if no such watcher (etcd sends nothing).
    #[must_use]
    pub fn cancel(&mut self, stream: u64, watch_id: i64, store: &Store) -> Option<WatchResponse> {
        self.remove((stream, watch_id))?;
        Some(WatchResponse {
            stream,
            watch_id,
            canceled: true,
            header_revision: store.current_revision(),
            ..WatchResponse::default()
        })
    }

    /// The client's stream ended: all its watchers go.
    pub fn close_stream(&mut self, stream: u64) {
        let ids: Vec<WatcherKey> = self
            .watchers
            .range(stream_range(stream))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.remove(id);
        }
        self.streams.remove(&stream);
    }

    pub(super) fn remove(&mut self, id: WatcherKey) -> Option<Watcher> {
        self.unsynced.remove(&id);
        self.watchers.remove(&id)
    }

    /// The store applied `revision`, which changed `events` (all of that
    /// revision). One response per synced watcher with matching events.
    #[must_use]
    pub fn on_applied(&mut self, revision: i64, events: &[Event]) -> Vec<WatchResponse> {
        let mut responses = Vec::new();
        for (id, watcher) in &mut self.watchers {
            if self.unsynced.contains(id) || revision < watcher.next_revision {
                continue;
            }
            assert!(
                watcher.next_revision == revision,
                "watch: a synced watcher missed revisions {}..{revision}",
                watcher.next_revision
            );
            watcher.next_revision = revision + 1;
            let events: Vec<Event> = events
                .iter()
                .filter_map(|event| watcher.deliverable(event))
                .collect();
            if events.is_empty() {
                continue;
            }
            watcher.quiet_since_tick = false;
            responses.push(WatchResponse {
                stream: id.0,
                watch_id: id.1,
                events,
                header_revision: revision,
                ..WatchResponse::default()
            });
        }
        responses
    }

    /// The runtime's outbound queue for `stream` filled up (`true`) or drained
    /// (`false`). A blocked stream's watchers stop getting live events and fall
    /// back to history; [`WatchHub::catch_up`] resumes them once unblocked.
    pub fn set_stream_blocked(&mut self, stream: u64, blocked: bool) {
        self.streams.entry(stream).or_default().blocked = blocked;
        if blocked {
            let ids = self.watchers.range(stream_range(stream)).map(|(id, _)| *id);
            self.unsynced.extend(ids);
        }
    }

    /// The store was replaced by a snapshot: every watcher re-reads history
    /// from its next revision (etcd's `watchableStore.Restore`).
    pub fn on_restored(&mut self) {
        self.unsynced.extend(self.watchers.keys().copied());
    }

    /// A WatchProgressRequest on `stream`: the current revision, sent (watch id
    /// -1) only once every watcher of the stream has been sent everything up
    /// to it, so it is never ahead of events; otherwise it waits for
    /// [`WatchHub::catch_up`] to sync them.
    #[must_use]
    pub fn progress(&mut self, stream: u64, store: &Store) -> Vec<WatchResponse> {
        if self.stream_synced(stream, store) {
            return vec![stream_progress(stream, store)];
        }
        self.streams.entry(stream).or_default().progress_pending = true;
        Vec::new()
    }

    pub(super) fn stream_synced(&self, stream: u64, store: &Store) -> bool {
        let current = store.current_revision();
        self.watchers
            .range(stream_range(stream))
            .all(|(id, w)| !self.unsynced.contains(id) && w.next_revision > current)
    }

    /// The progress tick (etcd's `progressReportInterval`): every synced
    /// watcher with `progress_notify` that got no response since the last tick
    /// gets an empty response at the current revision.
    #[must_use]
    pub fn progress_notify_due(&mut self, store: &Store) -> Vec<WatchResponse> {
        let current = store.current_revision();
        let mut responses = Vec::new();
        for (id, watcher) in &mut self.watchers {
            let synced = !self.unsynced.contains(id) && watcher.next_revision > current;
            if watcher.progress_notify && watcher.quiet_since_tick && synced {
                responses.push(WatchResponse {
                    stream: id.0,
                    watch_id: id.1,
                    header_revision: current,
                    ..WatchResponse::default()
                });
            }
            watcher.quiet_since_tick = true;
        }
        responses
    }
}

/// etcd's answer to a watcher whose history was compacted: canceled with
/// `compact_revision`, header revision 0 (etcd leaves it unset).
pub(super) fn compacted(stream: u64, watch_id: i64, compact_revision: i64) -> WatchResponse {
    WatchResponse {
        stream,
        watch_id,
        canceled: true,
        compact_revision,
        ..WatchResponse::default()
    }
}

pub(super) fn stream_progress(stream: u64, store: &Store) -> WatchResponse {
    WatchResponse {
        stream,
        watch_id: PROGRESS_WATCH_ID,
        header_revision: store.current_revision(),
        ..WatchResponse::default()
    }
}
