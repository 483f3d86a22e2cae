//! gRPC server metrics as go-grpc-prometheus gives them to etcd, taken by a
//! tower layer around the client router:
//!
//! ```text
//!   request ──▶ GrpcMetrics ──▶ router (tonic services, HTTP endpoints)
//!     │ known gRPC method?          │
//!     │  started_total +1           ▼
//!     │  request body:  frames ──▶ msg_received_total, client_grpc_received_bytes
//!     └  response body: frames ──▶ msg_sent_total,     client_grpc_sent_bytes
//!                       grpc-status (headers or trailers) ──▶ handled_total{grpc_code}
//!                                                             handling_seconds (extensive)
//! ```
//!
//! A response dropped before its status (the client went away) is handled
//! as `Canceled`. Requests that are not gRPC, or name no method cairn
//! serves, pass untouched (grpc-go answers those before its interceptors).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response};
use bytes::Buf;
use http_body::Frame;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

/// How a method streams, as go-grpc-prometheus's `grpc_type` label says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcType {
    Unary,
    ServerStream,
    BidiStream,
}

impl GrpcType {
    pub fn label(self) -> &'static str {
        match self {
            GrpcType::Unary => "unary",
            GrpcType::ServerStream => "server_stream",
            GrpcType::BidiStream => "bidi_stream",
        }
    }
}

/// One gRPC method cairn serves.
#[derive(Clone, Copy, Debug)]
pub struct Method {
    pub service: &'static str,
    pub name: &'static str,
    pub kind: GrpcType,
    /// Whether etcd 3.4 shows its counters at 0 before any call (it does
    /// for every method its gRPC server registers; cairn's extra methods
    /// appear once called).
    pub preinitialized: bool,
}

const fn method(service: &'static str, name: &'static str, kind: GrpcType) -> Method {
    Method {
        service,
        name,
        kind,
        preinitialized: true,
    }
}

const KV: &str = "etcdserverpb.KV";
const WATCH: &str = "etcdserverpb.Watch";
const LEASE: &str = "etcdserverpb.Lease";
const CLUSTER: &str = "etcdserverpb.Cluster";
const MAINTENANCE: &str = "etcdserverpb.Maintenance";
const AUTH: &str = "etcdserverpb.Auth";
const LOCK: &str = "v3lockpb.Lock";
const ELECTION: &str = "v3electionpb.Election";

/// A method etcd 3.4 registers after go-grpc-prometheus has taken its list
/// (Lock and Election, added by `embed/serve.go`): shown once called.
const fn late(service: &'static str, name: &'static str, kind: GrpcType) -> Method {
    Method {
        preinitialized: false,
        ..method(service, name, kind)
    }
}

/// Every method of the services cairn registers (`grpc::router`), as etcd
/// 3.4's `rpc.proto`, `v3lock.proto` and `v3election.proto` declare them.
pub const METHODS: &[Method] = &[
    method(KV, "Range", GrpcType::Unary),
    method(KV, "Put", GrpcType::Unary),
    method(KV, "DeleteRange", GrpcType::Unary),
    method(KV, "Txn", GrpcType::Unary),
    method(KV, "Compact", GrpcType::Unary),
    method(WATCH, "Watch", GrpcType::BidiStream),
    method(LEASE, "LeaseGrant", GrpcType::Unary),
    method(LEASE, "LeaseRevoke", GrpcType::Unary),
    method(LEASE, "LeaseKeepAlive", GrpcType::BidiStream),
    method(LEASE, "LeaseTimeToLive", GrpcType::Unary),
    method(LEASE, "LeaseLeases", GrpcType::Unary),
    method(CLUSTER, "MemberAdd", GrpcType::Unary),
    method(CLUSTER, "MemberRemove", GrpcType::Unary),
    method(CLUSTER, "MemberUpdate", GrpcType::Unary),
    method(CLUSTER, "MemberList", GrpcType::Unary),
    method(CLUSTER, "MemberPromote", GrpcType::Unary),
    method(MAINTENANCE, "Alarm", GrpcType::Unary),
    method(MAINTENANCE, "Status", GrpcType::Unary),
    method(MAINTENANCE, "Defragment", GrpcType::Unary),
    method(MAINTENANCE, "Hash", GrpcType::Unary),
    method(MAINTENANCE, "HashKV", GrpcType::Unary),
    method(MAINTENANCE, "Snapshot", GrpcType::ServerStream),
    method(MAINTENANCE, "MoveLeader", GrpcType::Unary),
    method(AUTH, "AuthEnable", GrpcType::Unary),
    method(AUTH, "AuthDisable", GrpcType::Unary),
    // etcd 3.5's; etcd 3.4 has no such method to show at 0.
    Method {
        preinitialized: false,
        ..method(AUTH, "AuthStatus", GrpcType::Unary)
    },
    method(AUTH, "Authenticate", GrpcType::Unary),
    method(AUTH, "UserAdd", GrpcType::Unary),
    method(AUTH, "UserGet", GrpcType::Unary),
    method(AUTH, "UserList", GrpcType::Unary),
    method(AUTH, "UserDelete", GrpcType::Unary),
    method(AUTH, "UserChangePassword", GrpcType::Unary),
    method(AUTH, "UserGrantRole", GrpcType::Unary),
    method(AUTH, "UserRevokeRole", GrpcType::Unary),
    method(AUTH, "RoleAdd", GrpcType::Unary),
    method(AUTH, "RoleGet", GrpcType::Unary),
    method(AUTH, "RoleList", GrpcType::Unary),
    method(AUTH, "RoleDelete", GrpcType::Unary),
    method(AUTH, "RoleGrantPermission", GrpcType::Unary),
    method(AUTH, "RoleRevokePermission", GrpcType::Unary),
    late(LOCK, "Lock", GrpcType::Unary),
    late(LOCK, "Unlock", GrpcType::Unary),
    late(ELECTION, "Campaign", GrpcType::Unary),
    late(ELECTION, "Proclaim", GrpcType::Unary),
    late(ELECTION, "Leader", GrpcType::Unary),
    late(ELECTION, "Observe", GrpcType::ServerStream),
    late(ELECTION, "Resign", GrpcType::Unary),
];

/// The method a request path (`/service/Method`) names, if cairn serves it.
pub fn find_method(path: &str) -> Option<&'static Method> {
    let (service, name) = path.strip_prefix('/')?.split_once('/')?;
    METHODS
        .iter()
        .find(|m| m.service == service && m.name == name)
}

/// gRPC's status codes by number, as their names print (`codes.Code.String()`).
pub const CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

const CANCELED: usize = 1;
const UNKNOWN: usize = 2;

/// The code a `grpc-status` header or trailer carries, if present.
fn status_code(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get("grpc-status")?;
    let code = value
        .to_str()
        .ok()
        .and_then(|text| text.parse::<usize>().ok())
        .filter(|&code| code < CODES.len())
        .unwrap_or(UNKNOWN);
    Some(code)
}

/// The gRPC metrics, registered in the server's registry.
#[derive(Clone, Debug)]
pub struct GrpcMetrics {
    started: IntCounterVec,
    handled: IntCounterVec,
    msg_received: IntCounterVec,
    msg_sent: IntCounterVec,
    /// `--metrics extensive` only.
    handling_seconds: Option<HistogramVec>,
    client_received_bytes: IntCounter,
    client_sent_bytes: IntCounter,
}

impl GrpcMetrics {
    /// The metrics, registered in `registry`, every method's counters
    /// shown at 0 as etcd shows them; `extensive` adds the handling-time
    /// histograms (`--metrics extensive`).
    pub fn register(registry: &Registry, extensive: bool) -> prometheus::Result<GrpcMetrics> {
        let labels = ["grpc_type", "grpc_service", "grpc_method"];
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let metrics = GrpcMetrics {
            started: counter(
                "grpc_server_started_total",
                "Total number of RPCs started on the server.",
                &labels,
            )?,
            handled: counter(
                "grpc_server_handled_total",
                "Total number of RPCs completed on the server, regardless of success or failure.",
                &["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
            )?,
            msg_received: counter(
                "grpc_server_msg_received_total",
                "Total number of RPC stream messages received on the server.",
                &labels,
            )?,
            msg_sent: counter(
                "grpc_server_msg_sent_total",
                "Total number of gRPC stream messages sent by the server.",
                &labels,
            )?,
            handling_seconds: if extensive {
                Some(HistogramVec::new(
                    HistogramOpts::new(
                        "grpc_server_handling_seconds",
                        "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
                    ),
                    &labels,
                )?)
            } else {
                None
            },
            client_received_bytes: IntCounter::new(
                "etcd_network_client_grpc_received_bytes_total",
                "The total number of bytes received from grpc clients.",
            )?,
            client_sent_bytes: IntCounter::new(
                "etcd_network_client_grpc_sent_bytes_total",
                "The total number of bytes sent to grpc clients.",
            )?,
        };
        registry.register(Box::new(metrics.client_received_bytes.clone()))?;
        registry.register(Box::new(metrics.client_sent_bytes.clone()))?;
        registry.register(Box::new(metrics.started.clone()))?;
        registry.register(Box::new(metrics.handled.clone()))?;
        registry.register(Box::new(metrics.msg_received.clone()))?;
        registry.register(Box::new(metrics.msg_sent.clone()))?;
        if let Some(histogram) = &metrics.handling_seconds {
            registry.register(Box::new(histogram.clone()))?;
        }
        for method in METHODS.iter().filter(|m| m.preinitialized) {
            let labels = [method.kind.label(), method.service, method.name];
            metrics.started.with_label_values(&labels);
            metrics.msg_received.with_label_values(&labels);
            metrics.msg_sent.with_label_values(&labels);
            if let Some(histogram) = &metrics.handling_seconds {
                histogram.with_label_values(&labels);
            }
            for code in CODES {
                metrics.handled.with_label_values(&[
                    method.kind.label(),
                    method.service,
                    method.name,
                    code,
                ]);
            }
        }
        Ok(metrics)
    }

    /// The layer that counts the calls of the router it wraps.
    pub fn layer(&self) -> GrpcMetricsLayer {
        GrpcMetricsLayer {
            metrics: Arc::new(self.clone()),
        }
    }
}

/// A call being counted: what its handled count is recorded under.
#[derive(Debug)]
struct Call {
    metrics: Arc<GrpcMetrics>,
    method: &'static Method,
    started: Instant,
    handled: bool,
}

impl Call {
    fn labels(&self) -> [&'static str; 3] {
        [
            self.method.kind.label(),
            self.method.service,
            self.method.name,
        ]
    }

    /// Records the call's end with status `code`, once.
    fn handled(&mut self, code: usize) {
        if std::mem::replace(&mut self.handled, true) {
            return;
        }
        let [kind, service, name] = self.labels();
        self.metrics
            .handled
            .with_label_values(&[kind, service, name, CODES[code]])
            .inc();
        if let Some(histogram) = &self.metrics.handling_seconds {
            histogram
                .with_label_values(&self.labels())
                .observe(self.started.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // The response went away before its status: the client cancelled.
        self.handled(CANCELED);
    }
}

/// Reads gRPC's length-prefixed messages out of a body's bytes, counting
/// messages and message bytes (the 5-byte prefixes excluded, as etcd's
/// codec counts only what it marshals and unmarshals).
#[derive(Debug, Default)]
struct FrameCounter {
    prefix: [u8; 5],
    prefix_read: usize,
    /// Message bytes still to come of the current message.
    remaining: u64,
}

impl FrameCounter {
    /// Feeds `data`; answers (messages begun, message bytes).
    fn feed(&mut self, mut data: &[u8]) -> (u64, u64) {
        let (mut messages, mut bytes) = (0, 0);
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = (self.remaining as usize).min(data.len());
                bytes += take as u64;
                self.remaining -= take as u64;
                data = &data[take..];
                continue;
            }
            let take = (5 - self.prefix_read).min(data.len());
            self.prefix[self.prefix_read..self.prefix_read + take].copy_from_slice(&data[..take]);
            self.prefix_read += take;
            data = &data[take..];
            if self.prefix_read == 5 {
                self.prefix_read = 0;
                messages += 1;
                self.remaining = u64::from(u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]));
            }
        }
        (messages, bytes)
    }
}

/// Which way a counted body flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Received,
    Sent,
}

/// A request or response body whose messages are counted; a response body
/// also records the call's status from its trailers.
struct CountedBody {
    inner: Body,
    direction: Direction,
    frames: FrameCounter,
    metrics: Arc<GrpcMetrics>,
    labels: [&'static str; 3],
    /// The call, on the response body only.
    call: Option<Call>,
}

impl http_body::Body for CountedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let (messages, bytes) = self.frames.feed(data.chunk());
                    self.count(messages, bytes);
                } else if let Some(trailers) = frame.trailers_ref() {
                    let code = status_code(trailers);
                    if let (Some(call), Some(code)) = (self.call.as_mut(), code) {
                        call.handled(code);
                    }
                }
            }
            Poll::Ready(None) => {
                // A body that ends without trailers ends the call unknown.
                if let Some(call) = self.call.as_mut() {
                    call.handled(UNKNOWN);
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl CountedBody {
    fn count(&self, messages: u64, bytes: u64) {
        let (message_counter, byte_counter) = match self.direction {
            Direction::Received => (
                &self.metrics.msg_received,
                &self.metrics.client_received_bytes,
            ),
            Direction::Sent => (&self.metrics.msg_sent, &self.metrics.client_sent_bytes),
        };
        if messages > 0 {
            message_counter
                .with_label_values(&self.labels)
                .inc_by(messages);
        }
        byte_counter.inc_by(bytes);
    }
}

/// Wraps a router with [`GrpcMetricsService`].
#[derive(Clone, Debug)]
pub struct GrpcMetricsLayer {
    metrics: Arc<GrpcMetrics>,
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> GrpcMetricsService<S> {
        GrpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// Counts the gRPC calls that pass through it.
#[derive(Clone, Debug)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

/// Whether a request is gRPC (by its content type, as grpc-go decides).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower::Service<Request<Body>> for GrpcMetricsService<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let method = is_grpc(request.headers())
            .then(|| find_method(request.uri().path()))
            .flatten();
        let Some(method) = method else {
            let future = self.inner.call(request);
            return Box::pin(future);
        };
        let metrics = self.metrics.clone();
        let labels = [method.kind.label(), method.service, method.name];
        metrics.started.with_label_values(&labels).inc();
        let mut call = Call {
            metrics: metrics.clone(),
            method,
            started: Instant::now(),
            handled: false,
        };
        let request = request.map(|body| {
            Body::new(CountedBody {
                inner: body,
                direction: Direction::Received,
                frames: FrameCounter::default(),
                metrics: metrics.clone(),
                labels,
                call: None,
            })
        });
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            // A trailers-only response (an error, mostly) carries its
            // status in its headers.
            if let Some(code) = status_code(response.headers()) {
                call.handled(code);
            }
            Ok(response.map(|body| {
                Body::new(CountedBody {
                    inner: body,
                    direction: Direction::Sent,
                    frames: FrameCounter::default(),
                    metrics,
                    labels,
                    call: Some(call),
                })
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_counted_across_chunks() {
        let mut counter = FrameCounter::default();
        // Two messages of 3 and 0 bytes, then the start of a third of 4.
        let bytes = [
            0, 0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, b'w',
        ];
        let mut total = (0, 0);
        for chunk in bytes.chunks(2) {
            let (messages, payload) = counter.feed(chunk);
            total = (total.0 + messages, total.1 + payload);
        }
        assert_eq!(total, (3, 4));
        assert_eq!(counter.remaining, 3);
    }

    #[test]
    fn the_method_table_is_the_protos() {
        use prost::Message;
        let set = prost_types::FileDescriptorSet::decode(cairn_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptors");
        let mut declared: Vec<(String, String, GrpcType)> = Vec::new();
        let served = ["etcdserverpb", "v3lockpb", "v3electionpb"];
        for file in set.file.iter().filter(|f| served.contains(&f.package())) {
            for service in &file.service {
                for method in &service.method {
                    let kind = match (method.client_streaming(), method.server_streaming()) {
                        (false, false) => GrpcType::Unary,
                        (false, true) => GrpcType::ServerStream,
                        (true, true) => GrpcType::BidiStream,
                        (true, false) => panic!("no client-streaming method is expected"),
                    };
                    let service = format!("{}.{}", file.package(), service.name());
                    declared.push((service, method.name().to_string(), kind));
                }
            }
        }
        let mut table: Vec<(String, String, GrpcType)> = METHODS
            .iter()
            .map(|m| (m.service.to_string(), m.name.to_string(), m.kind))
            .collect();
        let order = |a: &(String, String, GrpcType), b: &(String, String, GrpcType)| {
            (&a.0, &a.1).cmp(&(&b.0, &b.1))
        };
        declared.sort_by(order);
        table.sort_by(order);
        assert_eq!(table, declared);
    }

    #[test]
    fn paths_name_methods() {
        let put = find_method("/etcdserverpb.KV/Put").expect("Put");
        assert_eq!(
            (put.service, put.kind),
            ("etcdserverpb.KV", GrpcType::Unary)
        );
        assert_eq!(
            find_method("/etcdserverpb.Watch/Watch").map(|m| m.kind),
            Some(GrpcType::BidiStream)
        );
        assert!(find_method("/etcdserverpb.KV/Nope").is_none());
        assert!(find_method("/metrics").is_none());
        assert_eq!(
            find_method("/v3electionpb.Election/Observe").map(|m| (m.kind, m.preinitialized)),
            Some((GrpcType::ServerStream, false))
        );
        assert!(find_method("/v3lockpb.Lock/Lock").is_some());
    }

    #[test]
    fn every_method_is_shown_at_zero_with_every_code() {
        let registry = Registry::new();
        GrpcMetrics::register(&registry, false).expect("register");
        let families = registry.gather();
        let handled = families
            .iter()
            .find(|f| f.name() == "grpc_server_handled_total")
            .expect("handled");
        let shown = METHODS.iter().filter(|m| m.preinitialized).count();
        assert_eq!(shown, 39, "etcd 3.4's methods of the six services");
        assert_eq!(handled.get_metric().len(), shown * CODES.len());
        assert!(!families
            .iter()
            .any(|f| f.name() == "grpc_server_handling_seconds"));
    }
}
