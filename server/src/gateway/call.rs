//! One in-process gRPC call: the gateway sends an `application/grpc`
//! request through the same router the client port serves gRPC with, so
//! auth, limits, metrics and every service behave exactly as for a gRPC
//! client, and reads the answer's frames and status back.
//!
//! ```text
//!   HTTP headers ── Authorization ──▶ `authorization` metadata
//!                ── Grpc-Metadata-K ─▶ `k` metadata
//!   protobuf bytes ─▶ [0][len u32 BE][bytes] … ─▶ router ─▶ service
//!   Event::Message(bytes) … Event::End(status) ◀── frames, then grpc-status
//!                                                  (trailers, or headers
//!                                                  when trailers-only)
//! ```

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Version};
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// gRPC's length-prefixed message header: a compression flag and a length.
const FRAME_HEADER_BYTES: usize = 5;
/// The prefix grpc-gateway strips from headers it passes on as metadata.
const METADATA_HEADER_PREFIX: &str = "grpc-metadata-";

/// A gRPC status: its code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcStatus {
    /// The `grpc-status` code.
    pub code: i32,
    /// The `grpc-message`, percent-decoded.
    pub message: String,
}

impl GrpcStatus {
    /// Code 13 with `message`: something broke between gateway and service.
    pub fn internal(message: impl Into<String>) -> Self {
        GrpcStatus {
            code: 13,
            message: message.into(),
        }
    }
}

/// What a call delivers next.
#[derive(Debug)]
pub enum Event {
    /// One response message, protobuf-encoded.
    Message(Bytes),
    /// The call ended with this status (0 is OK).
    End(GrpcStatus),
}

/// A call under way.
#[derive(Debug)]
pub struct Call {
    body: Body,
    buffer: BytesMut,
    /// The status, once seen (in the headers of a trailers-only answer, or
    /// in the trailers).
    status: Option<GrpcStatus>,
    finished: bool,
    /// The call's stream slot, if streams are limited.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Where gateway calls go: the client port's gRPC router, and the stream
/// slots `--max-concurrent-streams` allows. etcd's gateway sends every call
/// over one gRPC connection to its own port, so that limit holds for all
/// gateway calls together; `None` is unlimited (the default).
#[derive(Clone, Debug)]
pub struct Upstream {
    pub grpc: Router,
    pub streams: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

impl Upstream {
    /// `max_concurrent_streams` as the flag gives it (`u32::MAX`: no limit).
    pub fn new(grpc: Router, max_concurrent_streams: u32) -> Upstream {
        let streams = (max_concurrent_streams != u32::MAX).then(|| {
            let permits =
                (max_concurrent_streams as usize).min(tokio::sync::Semaphore::MAX_PERMITS);
            std::sync::Arc::new(tokio::sync::Semaphore::new(permits))
        });
        Upstream { grpc, streams }
    }
}

/// One gRPC frame holding `message`.
pub fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(FRAME_HEADER_BYTES + message.len());
    framed.extend_from_slice(&[0]);
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed.freeze()
}

/// Starts calling `grpc_path` through `grpc` with `body` (gRPC frames),
/// carrying the HTTP request's auth and metadata headers.
pub async fn start(upstream: Upstream, grpc_path: &str, headers: &HeaderMap, body: Body) -> Call {
    let request = match build_request(grpc_path, headers, body) {
        Ok(request) => request,
        Err(message) => return Call::ended(GrpcStatus::internal(message)),
    };
    // A stream slot of `--max-concurrent-streams`, held as long as the call
    // (waited for, as grpc-go's client waits for one on etcd's gateway
    // connection).
    let permit = match &upstream.streams {
        Some(streams) => match streams.clone().acquire_owned().await {
            Ok(permit) => Some(permit),
            Err(_) => return Call::ended(GrpcStatus::internal("the gateway is closing")),
        },
        None => None,
    };
    let response = match upstream.grpc.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = status_from(response.headers());
    Call {
        body: response.into_body(),
        buffer: BytesMut::new(),
        status,
        finished: false,
        _permit: permit,
    }
}

fn build_request(
    grpc_path: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Request<Body>, String> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(grpc_path)
        .version(Version::HTTP_2)
        .header(header::CONTENT_TYPE, "application/grpc")
        .header(header::TE, "trailers")
        .body(body)
        .map_err(|e| e.to_string())?;
    let metadata = request.headers_mut();
    for (name, value) in headers {
        if name == header::AUTHORIZATION {
            // grpc-gateway passes it on unprefixed, for compatibility.
            metadata.append(HeaderName::from_static("authorization"), value.clone());
        } else if let Some(key) = name.as_str().strip_prefix(METADATA_HEADER_PREFIX) {
            if let Ok(key) = HeaderName::from_bytes(key.as_bytes()) {
                metadata.append(key, value.clone());
            }
        }
    }
    Ok(request)
}

impl Call {
    fn ended(status: GrpcStatus) -> Self {
        Call {
            body: Body::empty(),
            buffer: BytesMut::new(),
            status: Some(status),
            finished: true,
            _permit: None,
        }
    }

    /// The next message, or the end of the call with its status.
    pub async fn next(&mut self) -> Event {
        loop {
            if let Some(event) = self.take_frame() {
                return event;
            }
            if self.finished {
                return Event::End(self.status.take().unwrap_or_else(|| {
                    GrpcStatus::internal("server closed the stream without sending trailers")
                }));
            }
            match self.body.frame().await {
                None => self.finished = true,
                Some(Err(error)) => {
                    self.finished = true;
                    self.status = Some(GrpcStatus::internal(error.to_string()));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.buffer.extend_from_slice(&data),
                    Err(frame) => {
                        if let Some(trailers) = frame.trailers_ref() {
                            if let Some(status) = status_from(trailers) {
                                self.status = Some(status);
                            }
                        }
                    }
                },
            }
        }
    }

    /// A whole message from the buffer, if one is there.
    fn take_frame(&mut self) -> Option<Event> {
        if self.buffer.len() < FRAME_HEADER_BYTES {
            return None;
        }
        let compressed = self.buffer[0] != 0;
        let length = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if compressed {
            self.buffer.clear();
            self.finished = true;
            return Some(Event::End(GrpcStatus::internal(
                "compressed gRPC messages are not expected",
            )));
        }
        if self.buffer.len() < FRAME_HEADER_BYTES + length {
            return None;
        }
        self.buffer.advance(FRAME_HEADER_BYTES);
        Some(Event::Message(self.buffer.split_to(length).freeze()))
    }
}

/// The status in `grpc-status`/`grpc-message`, if any.
fn status_from(headers: &HeaderMap) -> Option<GrpcStatus> {
    let code = headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i32>().ok())?;
    let message = headers
        .get("grpc-message")
        .map(|value| percent_decode(value.as_bytes()))
        .unwrap_or_default();
    Some(GrpcStatus { code, message })
}

/// gRPC's percent-encoding of `grpc-message` undone (an invalid escape is
/// kept as it is, as grpc-go does).
fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at)
                .and_then(|b| (*b as char).to_digit(16))
                .map(|d| d as u8)
        };
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `Grpc-Metadata-Content-Type` header grpc-gateway adds to answers
/// that carried gRPC response headers.
pub fn metadata_content_type() -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static("grpc-metadata-content-type"),
        HeaderValue::from_static("application/grpc"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(percent_decode(b"a%20b%zz%"), "a b%zz%");
    }

    #[tokio::test]
    async fn frames_are_split_from_a_body() {
        let mut both = frame(b"one").to_vec();
        both.extend_from_slice(&frame(b""));
        let mut call = Call {
            body: Body::from(both),
            buffer: BytesMut::new(),
            status: None,
            finished: false,
            _permit: None,
        };
        assert!(matches!(call.next().await, Event::Message(m) if &m[..] == b"one"));
        assert!(matches!(call.next().await, Event::Message(m) if m.is_empty()));
        assert!(matches!(call.next().await, Event::End(s) if s.code == 13));
    }
}
