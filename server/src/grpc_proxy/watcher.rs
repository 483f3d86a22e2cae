//! One client watch as the proxy keeps it (etcd's `proxy/grpcproxy/watcher.go`):
//! its own ID, start, filters and progress choice, fed from a shared
//! upstream watch.
//!
//! ```text
//!   upstream response ──▶ Watcher::deliver ── drop events below next_revision,
//!        filtered ones (NOPUT/NODELETE), prev_kv unless asked ──▶ client stream
//! ```
//!
//! Invariant: a client watch never sees an event twice nor an event below
//! its `next_revision`, which only grows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;
use tokio::sync::mpsc;
use tonic::Status;

/// How long a response may wait for room in a client's stream before the
/// stream is closed as too slow (etcd's proxy: 50 ms).
pub const POST_TIMEOUT: Duration = Duration::from_millis(50);

/// The client's stream: where responses go, and how to close it.
#[derive(Debug)]
pub struct ClientSink {
    pub sender: mpsc::Sender<Result<pb::WatchResponse, Status>>,
    /// Fired to end the client's stream (a reader too slow to keep up).
    pub close: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// Identifies the stream among all the proxy's.
    pub stream_id: u64,
}

impl ClientSink {
    /// Sends `response`, waiting at most [`POST_TIMEOUT`]; closes the
    /// stream if there is no room by then.
    pub async fn post(&self, response: pb::WatchResponse) -> bool {
        match self.sender.send_timeout(Ok(response), POST_TIMEOUT).await {
            Ok(()) => true,
            Err(_) => {
                self.close_stream();
                false
            }
        }
    }

    /// Sends without waiting (used under a broadcast's lock); closes the
    /// stream if it is full.
    pub fn try_post(&self, response: pb::WatchResponse) -> bool {
        if self.sender.try_send(Ok(response)).is_ok() {
            return true;
        }
        self.close_stream();
        false
    }

    pub fn close_stream(&self) {
        let sender = self.close.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }
}

/// What a client asked for in its create request.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    /// In the client's key space (without the namespace).
    pub key: bytes::Bytes,
    pub range_end: bytes::Bytes,
    pub start_revision: i64,
    pub progress_notify: bool,
    pub prev_kv: bool,
    pub no_put: bool,
    pub no_delete: bool,
}

impl WatchSpec {
    pub fn from_request(request: &pb::WatchCreateRequest) -> WatchSpec {
        use pb::watch_create_request::FilterType;
        let has = |filter: FilterType| request.filters.contains(&(filter as i32));
        WatchSpec {
            key: request.key.clone(),
            range_end: request.range_end.clone(),
            start_revision: request.start_revision,
            progress_notify: request.progress_notify,
            prev_kv: request.prev_kv,
            no_put: has(FilterType::Noput),
            no_delete: has(FilterType::Nodelete),
        }
    }

    /// etcd's `watchRange.valid`: an end after the key, or `\0`, or none.
    pub fn valid(&self) -> bool {
        self.range_end.is_empty() || self.range_end > self.key || self.range_end[..] == [0]
    }
}

#[derive(Debug, Default)]
struct Progress {
    /// The first revision this watch may still be sent; 0 until known.
    next_revision: i64,
    last_header: Option<pb::ResponseHeader>,
}

/// One client watch.
#[derive(Debug)]
pub struct Watcher {
    pub id: i64,
    pub spec: WatchSpec,
    pub sink: Arc<ClientSink>,
    progress: Mutex<Progress>,
}

impl Watcher {
    pub fn new(id: i64, spec: WatchSpec, sink: Arc<ClientSink>) -> Watcher {
        let progress = Progress {
            next_revision: spec.start_revision,
            last_header: None,
        };
        Watcher {
            id,
            spec,
            sink,
            progress: Mutex::new(progress),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn next_revision(&self) -> i64 {
        self.lock().next_revision
    }

    pub fn set_next_revision(&self, revision: i64) {
        self.lock().next_revision = revision;
    }

    /// The header of the last response sent (a cancel response repeats it).
    pub fn last_header(&self) -> pb::ResponseHeader {
        self.lock().last_header.unwrap_or_default()
    }

    /// What this watch makes of one upstream response; `None` when it has
    /// nothing to send. `created` says whether the client still waits for
    /// its created response.
    pub fn filter(&self, upstream: &pb::WatchResponse, created: bool) -> Option<pb::WatchResponse> {
        let header = upstream.header.unwrap_or_default();
        let progress_notify = upstream.events.is_empty()
            && !upstream.canceled
            && !upstream.created
            && upstream.compact_revision == 0
            && header.revision != 0;
        let mut state = self.lock();
        if state.next_revision > header.revision && !upstream.events.is_empty() {
            return None;
        }
        if state.next_revision == 0 {
            state.next_revision = header.revision + 1;
        }
        let mut events = Vec::with_capacity(upstream.events.len());
        let mut last_revision = 0;
        for event in &upstream.events {
            let revision = event.kv.as_ref().map_or(0, |kv| kv.mod_revision);
            if revision < state.next_revision {
                continue;
            }
            last_revision = revision;
            let put = event.r#type == mvccpb::event::EventType::Put as i32;
            if (put && self.spec.no_put) || (!put && self.spec.no_delete) {
                continue;
            }
            let mut event = event.clone();
            if !self.spec.prev_kv {
                event.prev_kv = None;
            }
            events.push(event);
        }
        if last_revision >= state.next_revision {
            state.next_revision = last_revision + 1;
        }
        // Nothing below the header's revision is still to come when the last
        // event is at it, or on a progress notification: the watch is synced.
        let synced = progress_notify
            || upstream
                .events
                .last()
                .and_then(|event| event.kv.as_ref())
                .is_some_and(|kv| kv.mod_revision == header.revision);
        if synced && !upstream.canceled {
            state.next_revision = state.next_revision.max(header.revision + 1);
        }
        if progress_notify && !self.spec.progress_notify {
            return None;
        }
        let created = created && upstream.created;
        if !progress_notify && !created && events.is_empty() && upstream.compact_revision == 0 {
            return None;
        }
        state.last_header = Some(header);
        Some(pb::WatchResponse {
            header: Some(header),
            watch_id: self.id,
            created,
            canceled: upstream.canceled,
            compact_revision: upstream.compact_revision,
            cancel_reason: upstream.cancel_reason.clone(),
            events,
            ..Default::default()
        })
    }

    /// Records the header of a created response sent by the proxy itself.
    pub fn note_header(&self, header: &pb::ResponseHeader) {
        self.lock().last_header = Some(*header);
    }
}
