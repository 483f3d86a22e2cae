//! etcd's `Watch` service: one bidirectional stream per client carrying
//! create, cancel and progress requests one way and watch responses the other.
//! The member's watch hub decides everything; this converts and routes.

use std::pin::Pin;
use std::task::{Context, Poll};

use cairn_core::member::{Header, WatchInput};
use cairn_core::watch::{CreateRequest, WatchFilters, WatchResponse};
use cairn_proto::etcdserverpb as pb;
use cairn_runtime_tokio::{MemberHandle, WatchStream};
use futures_core::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::services::Services;

/// A watch stream's responses, converted, telling the driver as each is
/// taken so it can pace a slow reader. Closing it closes the stream's
/// watchers.
#[derive(Debug)]
pub struct WatchResponses {
    stream: WatchStream,
    handle: MemberHandle,
}

impl Stream for WatchResponses {
    type Item = Result<pb::WatchResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.stream.responses.poll_recv(cx) {
            Poll::Ready(Some((header, response))) => {
                self.stream.received();
                Poll::Ready(Some(Ok(watch_response(&header, response))))
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
impl pb::watch_server::Watch for Services {
    type WatchStream = WatchResponses;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut requests = request.into_inner();
        let stream = self.handle.open_watch();
        let id = stream.stream;
        let handle = self.handle.clone();
        tokio::spawn(async move {
            // Requests are handed to the member in order; the stream's end
            // (or a broken one) closes its watchers.
            while let Ok(Some(request)) = requests.message().await {
                let input = match request.request_union {
                    Some(pb::watch_request::RequestUnion::CreateRequest(create)) => {
                        WatchInput::Create {
                            stream: id,
                            request: create_request(create),
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
            handle: self.handle.clone(),
        }))
    }
}
