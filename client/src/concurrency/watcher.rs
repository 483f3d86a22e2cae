//! One watch on its own `Watch` stream, as the recipes need it: created at
//! a revision, read response by response, ended by dropping it.
//!
//! ```text
//!   start ── WatchCreateRequest ──▶ server ── created ──▶ (skipped)
//!   next() ◀─────────────── events / progress ──────────── │
//!   next() ◀── canceled (compacted, ...) ──▶ Err(status)    │
//!   drop ──▶ request stream ends ──▶ the server closes the watch
//! ```

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::client::Client;

/// etcd's `ErrCompacted` text, for a watch canceled by compaction.
const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";

/// A watch on `[key, range_end)` from a revision.
#[derive(Debug)]
pub(crate) struct Watcher {
    /// Kept so that the request stream stays open while watching.
    _requests: mpsc::Sender<pb::WatchRequest>,
    responses: Streaming<pb::WatchResponse>,
}

impl Watcher {
    /// Opens a stream and creates the watch (`start_revision` 0: from now).
    pub(crate) async fn start(
        client: &Client,
        key: Bytes,
        range_end: Bytes,
        start_revision: i64,
    ) -> Result<Watcher, Status> {
        let (requests, receiver) = mpsc::channel(1);
        let create = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
                pb::WatchCreateRequest {
                    key,
                    range_end,
                    start_revision,
                    ..pb::WatchCreateRequest::default()
                },
            )),
        };
        requests
            .send(create)
            .await
            .map_err(|_| Status::internal("watch request stream closed"))?;
        let responses = client
            .watch()
            .watch(ReceiverStream::new(receiver))
            .await?
            .into_inner();
        Ok(Watcher {
            _requests: requests,
            responses,
        })
    }

    /// The next response with events or progress; `None` when the stream
    /// ends; the cancel reason (or etcd's compaction text) as an error when
    /// the server cancels the watch.
    pub(crate) async fn next(&mut self) -> Result<Option<pb::WatchResponse>, Status> {
        loop {
            let Some(response) = self.responses.message().await? else {
                return Ok(None);
            };
            if response.canceled {
                let reason = if response.compact_revision != 0 || response.cancel_reason.is_empty()
                {
                    COMPACTED.to_string()
                } else {
                    response.cancel_reason
                };
                return Err(Status::unknown(reason));
            }
            if response.created && response.events.is_empty() {
                continue;
            }
            return Ok(Some(response));
        }
    }
}
