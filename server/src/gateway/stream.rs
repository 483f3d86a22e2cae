//! Streaming calls: snapshot and election observe (one request, many
//! answers), watch and lease keep-alive (requests read from the body as
//! they arrive, answers written as they come).
//!
//! ```text
//!   HTTP body ──reader task: JSON values ─▶ frames──▶ mpsc ──▶ gRPC request body
//!                (first value read before the call: a bad one is a 500, code 2;
//!                 a later bad one or the body's end closes the sending side)
//!   gRPC frames ──pump task──▶ {"result":{...}}\n  (flushed one by one)
//!                 error     ──▶ {"error":{"grpc_code":..,"http_code":..,...}}
//!                 the HTTP status is the first event's: 200, or the error's
//! ```
//!
//! The pump stops when the call ends or the client goes away (the response
//! body is dropped), which drops the call and so cancels it.

use std::convert::Infallible;

use super::call::Upstream;
use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::call::{self, Call, Event, GrpcStatus};
use super::json::{self, Next};
use super::routes::Route;
use super::{error_response, http_status_from_code, read_request, MAX_BODY_BYTES};

/// Requests or answer lines waiting between the tasks and the sockets.
const STREAM_QUEUE_MESSAGES: usize = 16;

/// One request, a stream of answers.
pub async fn server_stream(
    grpc: Upstream,
    route: &'static Route,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let request = match read_request(route, body).await {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let call = call::start(grpc, route.grpc_path, headers, Body::from(request)).await;
    respond(route, call).await
}

/// Streams both ways: JSON requests from the body, answers one a line.
pub async fn bidi(
    grpc: Upstream,
    route: &'static Route,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut reader = BodyReader {
        body,
        buffer: BytesMut::new(),
        finished: false,
    };
    let first = match reader.next(route).await {
        Ok(first) => first,
        // etcd's gateway: not a gRPC status, so Unknown (500).
        Err(message) => return error_response(&GrpcStatus { code: 2, message }),
    };
    let (sender, receiver) = mpsc::channel::<Result<Bytes, Infallible>>(STREAM_QUEUE_MESSAGES);
    match first {
        Some(first) => {
            let _ = sender.send(Ok(call::frame(&first))).await;
            tokio::spawn(async move {
                // A bad value or the body's end: stop sending (CloseSend).
                while let Ok(Some(message)) = reader.next(route).await {
                    if sender.send(Ok(call::frame(&message))).await.is_err() {
                        break;
                    }
                }
            });
        }
        // An empty body: nothing to send, the sending side closes at once.
        None => drop(sender),
    }
    let requests = Body::from_stream(ReceiverStream::new(receiver));
    let call = call::start(grpc, route.grpc_path, &headers, requests).await;
    respond(route, call).await
}

/// The streamed answer: its status from the first event, then one line
/// per message.
async fn respond(route: &'static Route, mut call: Call) -> Response {
    let first = call.next().await;
    let status = match &first {
        Event::End(status) if status.code != 0 => http_status_from_code(status.code),
        _ => StatusCode::OK,
    };
    let (sender, receiver) = mpsc::channel::<Result<Bytes, Infallible>>(STREAM_QUEUE_MESSAGES);
    tokio::spawn(async move {
        let mut event = first;
        loop {
            let (line, last) = match event {
                Event::Message(message) => match (route.response)(&message) {
                    Ok(json) => (result_line(&json), false),
                    Err(error) => (error_line(&GrpcStatus::internal(error)), true),
                },
                Event::End(status) if status.code == 0 => break,
                Event::End(status) => (error_line(&status), true),
            };
            if sender.send(Ok(line)).await.is_err() || last {
                break;
            }
            event = tokio::select! {
                event = call.next() => event,
                () = sender.closed() => break,
            };
        }
    });
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                "application/json".parse().expect("valid"),
            ),
            call::metadata_content_type(),
        ],
        Body::from_stream(ReceiverStream::new(receiver)),
    )
        .into_response()
}

/// `{"result":<json>}` and the newline after it.
fn result_line(json: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(json.len() + 12);
    line.extend_from_slice(b"{\"result\":");
    line.extend_from_slice(json);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// The in-stream error grpc-gateway writes last (no newline after it).
fn error_line(status: &GrpcStatus) -> Bytes {
    let http = http_status_from_code(status.code);
    Bytes::from(json::stream_error_line(
        status.code,
        http.as_u16(),
        http.canonical_reason().unwrap_or(""),
        &status.message,
    ))
}

/// Reads JSON requests out of a body as its bytes arrive.
struct BodyReader {
    body: Body,
    buffer: BytesMut,
    finished: bool,
}

impl BodyReader {
    /// The next request (protobuf-encoded), `None` at the body's end, or
    /// why the body is not a stream of requests.
    async fn next(&mut self, route: &Route) -> Result<Option<Vec<u8>>, String> {
        loop {
            match (route.next_request)(&self.buffer) {
                Next::Message(message, used) => {
                    let _ = self.buffer.split_to(used);
                    return Ok(Some(message));
                }
                Next::Invalid(error) => return Err(error),
                Next::End if self.finished => return Ok(None),
                Next::NeedMore if self.finished => return Err("unexpected EOF".to_string()),
                Next::End | Next::NeedMore => {}
            }
            if self.buffer.len() > MAX_BODY_BYTES {
                return Err(format!("a request larger than {MAX_BODY_BYTES} bytes"));
            }
            match self.body.frame().await {
                None => self.finished = true,
                Some(Err(error)) => return Err(error.to_string()),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}
