//! etcd's `Watch` service: one bidirectional stream per client carrying
//! create, cancel and progress requests one way and watch responses the other.
//! The member's watch hub decides everything; this converts and routes.

use std::collections::{BTreeSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use cairn_core::member::{Header, WatchInput};
use cairn_core::watch::{CreateRequest, WatchFilters, WatchResponse};
use cairn_proto::etcdserverpb as pb;
use cairn_runtime_tokio::{MemberHandle, WatchStream};
use futures_core::Stream;
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::backend::Backend;
use super::convert;

/// The `Watch` service.
#[derive(Clone, Debug)]
pub struct WatchService {
    backend: Backend,
    /// `--max-request-bytes`: the size above which a fragmenting watcher's
    /// response is split.
    max_response_bytes: usize,
}

impl WatchService {
    pub fn new(backend: Backend, max_response_bytes: usize) -> WatchService {
        WatchService {
            backend,
            max_response_bytes,
        }
    }
}

/// A watch stream's responses, converted, telling the driver as each is
/// taken so it can pace a slow reader. Closing it closes the stream's
/// watchers.
#[derive(Debug)]
pub struct WatchResponses {
    stream: WatchStream,
    handle: MemberHandle,
    fragments: Arc<Mutex<Fragmenting>>,
    /// `--max-request-bytes`: the size above which a fragmenting watcher's
    /// response is split.
    max_response_bytes: usize,
    /// Fragments of a split response not yet sent.
    queued: VecDeque<pb::WatchResponse>,
}

/// Which watchers of a stream asked for `fragment`. Creates are answered in
/// the order they are made, so each `created` response takes the oldest
/// unanswered flag.
#[derive(Debug, Default)]
struct Fragmenting {
    unanswered: VecDeque<bool>,
    watch_ids: BTreeSet<i64>,
}

impl Fragmenting {
    fn on_response(&mut self, response: &pb::WatchResponse) {
        if response.created {
            if self.unanswered.pop_front() == Some(true) && !response.canceled {
                self.watch_ids.insert(response.watch_id);
            }
        } else if response.canceled {
            self.watch_ids.remove(&response.watch_id);
        }
    }
}

/// etcd's `fragment`: a response at least `max_bytes` long with two or more
/// events goes out as several, each holding as many events as fit (at least
/// one), all but the last marked `fragment`.
fn fragment(response: pb::WatchResponse, max_bytes: usize) -> Vec<pb::WatchResponse> {
    if response.encoded_len() < max_bytes || response.events.len() < 2 {
        return vec![response];
    }
    let mut template = response.clone();
    template.events.clear();
    template.fragment = true;
    let mut pieces = Vec::new();
    let mut piece = template.clone();
    for event in response.events {
        piece.events.push(event);
        if piece.events.len() > 1 && piece.encoded_len() >= max_bytes {
            let overflow = piece.events.pop().expect("just pushed");
            pieces.push(std::mem::replace(&mut piece, template.clone()));
            piece.events.push(overflow);
        }
    }
    piece.fragment = false;
    pieces.push(piece);
    pieces
}

impl Stream for WatchResponses {
    type Item = Result<pb::WatchResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(piece) = self.queued.pop_front() {
            return Poll::Ready(Some(Ok(piece)));
        }
        match self.stream.responses.poll_recv(cx) {
            Poll::Ready(Some((header, response))) => {
                self.stream.received();
                let response = watch_response(&header, response);
                let split = {
                    let mut fragments = self.fragments.lock().expect("fragment flags");
                    fragments.on_response(&response);
                    fragments.watch_ids.contains(&response.watch_id)
                };
                if !split {
                    return Poll::Ready(Some(Ok(response)));
                }
                let mut pieces: VecDeque<_> = fragment(response, self.max_response_bytes).into();
                let first = pieces.pop_front().expect("at least one piece");
                self.queued = pieces;
                Poll::Ready(Some(Ok(first)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for WatchResponses {
    fn drop(&mut self) {
        self.handle.watch(WatchInput::Close {
            stream: self.stream.stream,
        });
    }
}

fn watch_response(header: &Header, response: WatchResponse) -> pb::WatchResponse {
    let mut pb_header = convert::header(header);
    // etcd stamps each response with the revision it speaks for (0 where it
    // leaves the header revision unset, e.g. a compaction cancel).
    pb_header.revision = response.header_revision;
    pb::WatchResponse {
        header: Some(pb_header),
        watch_id: response.watch_id,
        created: response.created,
        canceled: response.canceled,
        compact_revision: response.compact_revision,
        cancel_reason: response.cancel_reason,
        fragment: false,
        events: response.events.into_iter().map(convert::event).collect(),
    }
}

fn create_request(request: pb::WatchCreateRequest) -> CreateRequest {
    let no_put = pb::watch_create_request::FilterType::Noput as i32;
    let no_delete = pb::watch_create_request::FilterType::Nodelete as i32;
    CreateRequest {
        key: request.key,
        range_end: request.range_end,
        start_revision: request.start_revision,
        filters: WatchFilters {
            no_put: request.filters.contains(&no_put),
            no_delete: request.filters.contains(&no_delete),
        },
        prev_kv: request.prev_kv,
        progress_notify: request.progress_notify,
        watch_id: request.watch_id,
    }
}

#[tonic::async_trait]
impl pb::watch_server::Watch for WatchService {
    type WatchStream = WatchResponses;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let caller = self.backend.caller(&request)?;
        let mut requests = request.into_inner();
        let stream = self.backend.handle().open_watch();
        let id = stream.stream;
        let handle = self.backend.handle().clone();
        let fragments = Arc::new(Mutex::new(Fragmenting::default()));
        let flags = fragments.clone();
        tokio::spawn(async move {
            // Requests are handed to the member in order. A broken stream
            // closes its watchers; a client that only closes its sending
            // side keeps them (etcd's recvLoop returns nil on EOF and the
            // answers go on: the JSON gateway's watch relies on it), until
            // the answers are dropped.
            loop {
                let request = match requests.message().await {
                    Ok(Some(request)) => request,
                    Ok(None) => return,
                    Err(_) => break,
                };
                let input = match request.request_union {
                    Some(pb::watch_request::RequestUnion::CreateRequest(create)) => {
                        flags
                            .lock()
                            .expect("fragment flags")
                            .unanswered
                            .push_back(create.fragment);
                        WatchInput::Create {
                            stream: id,
                            request: create_request(create),
                            caller: caller.clone(),
                        }
                    }
                    Some(pb::watch_request::RequestUnion::CancelRequest(cancel)) => {
                        WatchInput::Cancel {
                            stream: id,
                            watch_id: cancel.watch_id,
                        }
                    }
                    Some(pb::watch_request::RequestUnion::ProgressRequest(_)) => {
                        WatchInput::Progress { stream: id }
                    }
                    None => continue,
                };
                handle.watch(input);
            }
            handle.watch(WatchInput::Close { stream: id });
        });
        Ok(Response::new(WatchResponses {
            stream,
            handle: self.backend.handle().clone(),
            fragments,
            max_response_bytes: self.max_response_bytes,
            queued: VecDeque::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::mvccpb;

    fn event(value_bytes: usize) -> mvccpb::Event {
        mvccpb::Event {
            kv: Some(mvccpb::KeyValue {
                key: bytes::Bytes::from_static(b"k"),
                value: vec![b'v'; value_bytes].into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_large_response_is_split_into_fragments_that_fit() {
        let response = pb::WatchResponse {
            watch_id: 3,
            events: (0..10).map(|_| event(1000)).collect(),
            ..Default::default()
        };
        let pieces = fragment(response.clone(), 2500);
        assert!(pieces.len() > 1);
        let (last, rest) = pieces.split_last().expect("pieces");
        assert!(rest.iter().all(|p| p.fragment) && !last.fragment);
        assert!(pieces
            .iter()
            .all(|p| p.watch_id == 3 && !p.events.is_empty()));
        assert!(pieces
            .iter()
            .all(|p| p.events.len() == 1 || p.encoded_len() < 2500));
        let events: Vec<_> = pieces.into_iter().flat_map(|p| p.events).collect();
        assert_eq!(events, response.events);
    }

    #[test]
    fn small_or_single_event_responses_are_not_split() {
        let small = pb::WatchResponse {
            events: vec![event(10), event(10)],
            ..Default::default()
        };
        assert_eq!(fragment(small.clone(), 2500), vec![small]);
        let single = pb::WatchResponse {
            events: vec![event(10_000)],
            ..Default::default()
        };
        assert_eq!(fragment(single.clone(), 2500), vec![single]);
    }
}
