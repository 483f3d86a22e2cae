//! Watch coalescing (etcd's `watch_broadcast.go`, `watch_broadcasts.go`,
//! `watch_ranges.go`): client watches on the same range share one watch on
//! the cluster.
//!
//! ```text
//!   range (key, end) ──▶ [Broadcast, ...] ── each: ONE upstream watch
//!                              │                (prev_kv, progress_notify, created)
//!                              └── receivers: client watches (any stream)
//!
//!   a new client watch joins a broadcast of its range when
//!     - the broadcast has not heard from the cluster yet and starts where it does, or
//!     - it has, and the watch starts "now" (revision 0) or at/after its next revision;
//!   otherwise it opens a broadcast (an upstream watch) of its own.
//! ```
//!
//! Each client watch filters what it receives itself ([`Watcher::filter`]),
//! so sharing never shows a client an event before its start. When the
//! upstream stream breaks, the broadcast watches again from its next
//! revision; when its last receiver leaves, the upstream watch is dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use tokio::sync::mpsc;
use tonic::metadata::MetadataMap;

use super::upstream::{with_metadata, Upstream};
use super::watcher::Watcher;

/// A broadcast with fewer receivers than this looks for another to join
/// after each response (etcd's `maxCoalesceReceivers`).
const COALESCE_RECEIVERS_MAX: usize = 5;

/// How long a broadcast waits before watching again after its upstream
/// stream broke.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// A client watch's key among all receivers: (stream, watch ID).
type ReceiverKey = (u64, i64);

/// A watched range in the client's key space: (key, range end).
type Range = (bytes::Bytes, bytes::Bytes);

#[derive(Debug, Default)]
struct State {
    /// The first revision not yet delivered; 0 until the cluster says
    /// where "now" is (for a broadcast started at revision 0).
    next_revision: i64,
    /// The header of the last response from the cluster (`None`: none yet).
    last_header: Option<pb::ResponseHeader>,
    /// Whether the cluster's created response was passed on.
    created: bool,
    receivers: HashMap<ReceiverKey, Arc<Watcher>>,
    /// Canceled by the cluster, or left by its last receiver.
    ended: bool,
}

/// One upstream watch and the client watches it serves.
#[derive(Debug)]
pub struct Broadcast {
    state: Mutex<State>,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Broadcast {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `watcher` if it can share this broadcast (see the module doc).
    fn try_join(&self, watcher: &Arc<Watcher>) -> bool {
        let mut state = self.lock();
        if state.ended {
            return false;
        }
        let start = watcher.next_revision();
        let Some(header) = state.last_header else {
            if start != state.next_revision {
                return false;
            }
            state
                .receivers
                .insert((watcher.sink.stream_id, watcher.id), watcher.clone());
            return true;
        };
        let next = if start == 0 {
            state.next_revision.max(header.revision + 1)
        } else if start >= state.next_revision {
            start
        } else {
            return false;
        };
        watcher.set_next_revision(next);
        watcher.note_header(&header);
        let created = pb::WatchResponse {
            header: Some(header),
            watch_id: watcher.id,
            created: true,
            ..Default::default()
        };
        if !watcher.sink.try_post(created) {
            return false;
        }
        state
            .receivers
            .insert((watcher.sink.stream_id, watcher.id), watcher.clone());
        true
    }

    fn stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stop.send(());
        }
    }
}

/// Every broadcast, by range; shared by all client streams.
#[derive(Debug)]
pub struct Broadcasts {
    upstream: Arc<Upstream>,
    ranges: Mutex<BTreeMap<Range, Vec<Arc<Broadcast>>>>,
    /// Which broadcast serves each client watch.
    joined: Mutex<HashMap<ReceiverKey, Arc<Broadcast>>>,
}

impl Broadcasts {
    pub fn new(upstream: Arc<Upstream>) -> Arc<Broadcasts> {
        Arc::new(Broadcasts {
            upstream,
            ranges: Mutex::new(BTreeMap::new()),
            joined: Mutex::new(HashMap::new()),
        })
    }

    /// Serves `watcher`: by a broadcast of its range, or a new one.
    /// `metadata` (the client's token) opens a new upstream watch.
    pub fn add(self: &Arc<Self>, watcher: Arc<Watcher>, metadata: &MetadataMap) {
        let range = (watcher.spec.key.clone(), watcher.spec.range_end.clone());
        let key = (watcher.sink.stream_id, watcher.id);
        let metrics = &self.upstream.metrics;
        metrics.client_watches.inc();
        let mut ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        let list = ranges.entry(range).or_default();
        list.retain(|broadcast| !broadcast.lock().ended);
        if let Some(broadcast) = list.iter().find(|b| b.try_join(&watcher)) {
            metrics.watchers_coalescing.inc();
            self.joined_lock().insert(key, broadcast.clone());
            return;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let mut receivers = HashMap::new();
        receivers.insert(key, watcher.clone());
        let broadcast = Arc::new(Broadcast {
            state: Mutex::new(State {
                next_revision: watcher.next_revision(),
                receivers,
                ..State::default()
            }),
            stop: Mutex::new(Some(stop)),
        });
        list.push(broadcast.clone());
        self.joined_lock().insert(key, broadcast.clone());
        metrics.upstream_watches.inc();
        let this = self.clone();
        let metadata = metadata.clone();
        let spec = watcher.spec.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = this.run(&broadcast, &spec.key, &spec.range_end, &metadata) => {}
                _ = stopped => {}
            }
        });
    }

    fn joined_lock(&self) -> std::sync::MutexGuard<'_, HashMap<ReceiverKey, Arc<Broadcast>>> {
        self.joined.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client watch (stream, id) is gone: it leaves its broadcast, and
    /// a broadcast left empty drops its upstream watch.
    pub fn remove(&self, stream_id: u64, watch_id: i64) {
        let Some(broadcast) = self.joined_lock().remove(&(stream_id, watch_id)) else {
            return;
        };
        let metrics = &self.upstream.metrics;
        metrics.client_watches.dec();
        let mut state = broadcast.lock();
        if state.receivers.remove(&(stream_id, watch_id)).is_none() {
            return;
        }
        if state.ended {
            return;
        }
        if state.receivers.is_empty() {
            state.ended = true;
            drop(state);
            metrics.upstream_watches.dec();
            broadcast.stop();
        } else {
            metrics.watchers_coalescing.dec();
        }
    }

    /// The broadcast's upstream watch: opened, read, opened again after a
    /// break, until the cluster cancels it or it is stopped.
    async fn run(
        &self,
        broadcast: &Arc<Broadcast>,
        key: &bytes::Bytes,
        range_end: &bytes::Bytes,
        metadata: &MetadataMap,
    ) {
        let range: Range = (key.clone(), range_end.clone());
        let (mut key, mut range_end) = (key.clone(), range_end.clone());
        self.upstream.namespace.interval(&mut key, &mut range_end);
        loop {
            let start_revision = broadcast.lock().next_revision;
            let create = pb::WatchRequest {
                request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
                    pb::WatchCreateRequest {
                        key: key.clone(),
                        range_end: range_end.clone(),
                        start_revision,
                        progress_notify: true,
                        prev_kv: true,
                        ..Default::default()
                    },
                )),
            };
            let (requests, outgoing) = mpsc::channel(1);
            let _ = requests.send(create).await;
            let opened = self
                .upstream
                .watch()
                .watch(with_metadata(
                    metadata,
                    tokio_stream::wrappers::ReceiverStream::new(outgoing),
                ))
                .await;
            if let Ok(response) = opened {
                let mut responses = response.into_inner();
                while let Ok(Some(response)) = responses.message().await {
                    if self.deliver(broadcast, response).await {
                        return;
                    }
                    if self.coalesce(broadcast, &range) {
                        return;
                    }
                }
            }
            drop(requests);
            if broadcast.lock().ended {
                return;
            }
            tokio::time::sleep(RETRY_DELAY).await;
        }
    }

    /// etcd's `coalesce`: a broadcast with few receivers hands them to
    /// another of its range that has caught up with every one of them (each
    /// receiver's next revision at or past the other's), and ends. `true`
    /// when it ended so.
    ///
    /// Why no event is lost or repeated: the other broadcast has sent every
    /// event below its next revision and will send every event from there
    /// on, and each receiver drops what is below its own next revision.
    fn coalesce(&self, broadcast: &Arc<Broadcast>, range: &Range) -> bool {
        let ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = ranges.get(range) else {
            return false;
        };
        // Lock order: `ranges`, then this broadcast, then the other; every
        // place that holds two broadcast locks holds `ranges` first.
        let mut state = broadcast.lock();
        if state.ended || state.receivers.len() >= COALESCE_RECEIVERS_MAX {
            return false;
        }
        for other in list.iter().filter(|other| !Arc::ptr_eq(other, broadcast)) {
            let mut other_state = other.lock();
            if other_state.ended || other_state.last_header.is_none() {
                continue;
            }
            let caught_up = state
                .receivers
                .values()
                .all(|watcher| watcher.next_revision() >= other_state.next_revision);
            if !caught_up {
                continue;
            }
            let moved = state.receivers.len() as i64;
            let mut joined = self.joined_lock();
            for (key, watcher) in state.receivers.drain() {
                joined.insert(key, other.clone());
                other_state.receivers.insert(key, watcher);
            }
            state.ended = true;
            let metrics = &self.upstream.metrics;
            metrics.upstream_watches.dec();
            // n receivers counted n - 1 here; joining m > 0 others, n.
            metrics.watchers_coalescing.add(i64::from(moved > 0));
            return true;
        }
        false
    }

    /// Passes one upstream response to every receiver; `true` when the
    /// cluster canceled the watch (the broadcast is over).
    async fn deliver(&self, broadcast: &Arc<Broadcast>, mut response: pb::WatchResponse) -> bool {
        response
            .events
            .iter_mut()
            .for_each(|event| self.upstream.namespace.event(event));
        let (receivers, first_created) = {
            let mut state = broadcast.lock();
            let header = response.header.unwrap_or_default();
            if state.last_header.is_some() || state.next_revision == 0 {
                state.next_revision = state.next_revision.max(header.revision + 1);
            }
            if let Some(last) = response.events.last().and_then(|e| e.kv.as_ref()) {
                state.next_revision = state.next_revision.max(last.mod_revision + 1);
            }
            state.last_header = Some(header);
            let first_created = response.created && !state.created;
            state.created |= response.created;
            if response.canceled && !state.ended {
                state.ended = true;
                let metrics = &self.upstream.metrics;
                metrics.upstream_watches.dec();
                let others = state.receivers.len().saturating_sub(1) as i64;
                metrics.watchers_coalescing.sub(others);
            }
            let receivers: Vec<Arc<Watcher>> = state.receivers.values().cloned().collect();
            (receivers, first_created)
        };
        if response.created && !first_created {
            return false;
        }
        if receivers.len() > 1 && !response.events.is_empty() {
            self.upstream
                .metrics
                .events_coalescing
                .inc_by(receivers.len() as u64 - 1);
        }
        for watcher in receivers {
            if let Some(answer) = watcher.filter(&response, first_created) {
                watcher.sink.post(answer).await;
            }
        }
        response.canceled
    }
}
