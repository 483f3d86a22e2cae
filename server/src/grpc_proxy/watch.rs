//! The Watch service through the proxy (etcd's `proxy/grpcproxy/watch.go`):
//! one client stream, many watches, each served by a shared
//! [`super::broadcast::Broadcast`].
//!
//! ```text
//!   client stream ──recv──▶ create: permission check (a serializable
//!                 │         count-only range with the client's token) ──▶
//!                 │         Watcher{id: next, ...} ──▶ Broadcasts::add
//!                 │         cancel: Broadcasts::remove ──▶ canceled response
//!                 │         progress: ignored, as etcd's proxy does
//!                 └─send◀── responses of every broadcast this stream's watches are in
//! ```
//!
//! When the client goes away every one of its watches leaves its broadcast.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use cairn_proto::etcdserverpb as pb;
use futures_core::Stream;
use tokio::sync::{mpsc, oneshot};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::broadcast::Broadcasts;
use super::upstream::{with_metadata, Upstream};
use super::watcher::{ClientSink, WatchSpec, Watcher};

/// Responses waiting for one client stream (etcd's proxy: 1024).
const STREAM_BUFFER: usize = 1024;

/// The proxy's Watch service.
#[derive(Debug)]
pub struct WatchProxy {
    upstream: Arc<Upstream>,
    broadcasts: Arc<Broadcasts>,
    next_stream_id: AtomicU64,
}

impl WatchProxy {
    pub fn new(upstream: Arc<Upstream>) -> WatchProxy {
        WatchProxy {
            broadcasts: Broadcasts::new(upstream.clone()),
            upstream,
            next_stream_id: AtomicU64::new(1),
        }
    }
}

/// The responses of one client stream; ends when the proxy closes it.
pub struct ResponseStream {
    responses: mpsc::Receiver<Result<pb::WatchResponse, Status>>,
    closed: oneshot::Receiver<()>,
}

impl Stream for ResponseStream {
    type Item = Result<pb::WatchResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(Ok(())) = Pin::new(&mut self.closed).poll(cx) {
            return Poll::Ready(None);
        }
        self.responses.poll_recv(cx)
    }
}

/// One client stream's watches.
struct ClientStream {
    upstream: Arc<Upstream>,
    broadcasts: Arc<Broadcasts>,
    sink: Arc<ClientSink>,
    metadata: MetadataMap,
    watchers: Mutex<BTreeMap<i64, Arc<Watcher>>>,
    next_watch_id: Mutex<i64>,
}

impl ClientStream {
    /// etcd's `checkPermissionForWatch`.
    async fn check_permission(
        &self,
        key: &bytes::Bytes,
        range_end: &bytes::Bytes,
    ) -> Result<(), Status> {
        let (mut key, mut range_end) = if key.is_empty() {
            (bytes::Bytes::from(vec![0]), bytes::Bytes::from(vec![0]))
        } else {
            (key.clone(), range_end.clone())
        };
        self.upstream.namespace.interval(&mut key, &mut range_end);
        let request = pb::RangeRequest {
            key,
            range_end,
            serializable: true,
            count_only: true,
            limit: 1,
            ..Default::default()
        };
        self.upstream
            .kv()
            .range(with_metadata(&self.metadata, request))
            .await
            .map(|_| ())
    }

    async fn create(&self, request: pb::WatchCreateRequest) {
        if let Err(status) = self
            .check_permission(&request.key, &request.range_end)
            .await
        {
            self.sink
                .post(pb::WatchResponse {
                    header: Some(pb::ResponseHeader::default()),
                    watch_id: -1,
                    created: true,
                    canceled: true,
                    cancel_reason: status.message().to_string(),
                    ..Default::default()
                })
                .await;
            return;
        }
        let spec = WatchSpec::from_request(&request);
        if !spec.valid() {
            self.sink
                .post(pb::WatchResponse {
                    watch_id: -1,
                    created: true,
                    canceled: true,
                    ..Default::default()
                })
                .await;
            return;
        }
        let id = {
            let mut next = self.next_watch_id.lock().unwrap_or_else(|e| e.into_inner());
            let id = *next;
            *next += 1;
            id
        };
        let watcher = Arc::new(Watcher::new(id, spec, self.sink.clone()));
        self.watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, watcher.clone());
        self.broadcasts.add(watcher, &self.metadata);
    }

    async fn cancel(&self, watch_id: i64) {
        let removed = self
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&watch_id);
        let Some(watcher) = removed else {
            return;
        };
        self.broadcasts.remove(self.sink.stream_id, watch_id);
        self.sink
            .post(pb::WatchResponse {
                header: Some(watcher.last_header()),
                watch_id,
                canceled: true,
                ..Default::default()
            })
            .await;
    }

    fn close(&self) {
        let watchers =
            std::mem::take(&mut *self.watchers.lock().unwrap_or_else(|e| e.into_inner()));
        for id in watchers.keys() {
            self.broadcasts.remove(self.sink.stream_id, *id);
        }
    }

    async fn receive(self, mut requests: Streaming<pb::WatchRequest>) {
        use pb::watch_request::RequestUnion;
        loop {
            let next = tokio::select! {
                next = requests.message() => next,
                _ = self.sink.sender.closed() => break,
            };
            let Ok(Some(request)) = next else {
                break;
            };
            match request.request_union {
                Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
                Some(RequestUnion::CancelRequest(cancel)) => self.cancel(cancel.watch_id).await,
                _ => {}
            }
        }
        self.close();
    }
}

#[tonic::async_trait]
impl pb::watch_server::Watch for WatchProxy {
    type WatchStream = ResponseStream;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (sender, responses) = mpsc::channel(STREAM_BUFFER);
        let (close, closed) = oneshot::channel();
        let stream_id = self.next_stream_id.fetch_add(1, Ordering::Relaxed);
        let metadata = with_metadata(request.metadata(), ()).metadata().clone();
        let client = ClientStream {
            upstream: self.upstream.clone(),
            broadcasts: self.broadcasts.clone(),
            sink: Arc::new(ClientSink {
                sender,
                close: Mutex::new(Some(close)),
                stream_id,
            }),
            metadata,
            watchers: Mutex::new(BTreeMap::new()),
            next_watch_id: Mutex::new(0),
        };
        tokio::spawn(client.receive(request.into_inner()));
        Ok(Response::new(ResponseStream { responses, closed }))
    }
}
