//! The HTTP endpoints etcd serves beside gRPC: `/version`, `/health` and
//! `/metrics` on the client port, `/metrics` and `/health` on the
//! `--listen-metrics-urls` ports, with etcd 3.4's status codes, content
//! types and bodies (Go's `net/http` texts included).
//!
//! ```text
//!   client port ──content-type application/grpc*──▶ gRPC services ◀──────────┐
//!        │                                            unknown: Unimplemented │ in-process
//!        └───── anything else ──▶ CORS (--cors) ──▶ /version /health /metrics │ gRPC calls
//!                                                   /v2/... (v2 API)         │
//!                                                   /v3/... /v3beta/... ─────┘ (gateway,
//!                                                   unknown: 404 "404 page   --enable-grpc-gateway)
//!                                                   not found"
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use cairn_core::auth::Caller;
use cairn_core::member::{calls, AlarmKind};
use cairn_core::mvcc::RangeRequest;
use cairn_runtime_tokio::MemberHandle;
use tower::ServiceExt;

use crate::metrics::{grpc, Metrics};
use crate::version::{ETCD_CLUSTER_VERSION, ETCD_VERSION};

/// Go's content type for text it writes with `http.Error` and sniffs on
/// plain writes.
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
/// How long `/health` waits for its linearizable read (etcd's QGET timeout).
const HEALTH_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// What the HTTP handlers share.
#[derive(Clone, Debug)]
struct Shared {
    handle: MemberHandle,
    metrics: Arc<Metrics>,
}

/// What the client port's HTTP side serves beside its fixed endpoints.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// `--enable-grpc-gateway`: serve the JSON gateway under `/v3/`.
    pub gateway: bool,
    /// `--cors`: the origins browsers may call from (`*`: any).
    pub cors: Vec<String>,
    /// `--client-cert-auth` on the client port.
    pub client_cert_auth: bool,
    /// `--max-concurrent-streams`: also the gateway's calls at once.
    pub max_concurrent_streams: u32,
}

/// The client port: gRPC requests to `grpc` (the services), the rest to
/// the HTTP endpoints (and the JSON gateway, which calls `grpc` in-process).
pub fn client_router(
    grpc: Router,
    handle: MemberHandle,
    metrics: Arc<Metrics>,
    v2: Option<crate::v2::V2Shared>,
    options: HttpOptions,
) -> Router {
    let grpc = grpc.fallback(grpc_unknown);
    let mut http = Router::new()
        .route("/version", any(version))
        .merge(crate::v2::routes(v2));
    if options.gateway {
        // Counted in the gRPC metrics as etcd counts its gateway's calls
        // (it dials its own gRPC port).
        http = http.merge(crate::gateway::routes(
            grpc.clone().layer(metrics.grpc.layer()),
            options.max_concurrent_streams,
        ));
    }
    let origins = Arc::new(options.cors);
    let cert_auth = (options.gateway && options.client_cert_auth).then(|| handle.clone());
    let http = http
        .merge(metrics_routes(handle, metrics))
        .layer(axum::middleware::from_fn(move |request, next| {
            cors(origins.clone(), request, next)
        }))
        .layer(axum::middleware::from_fn(move |request, next| {
            crate::gateway::refuse_common_names(cert_auth.clone(), request, next)
        }));
    Router::new().fallback(move |request: Request| {
        let bad_path =
            !grpc::is_grpc(request.headers()) && !path_escapes_valid(request.uri().path());
        let target = if bad_path {
            None
        } else if !grpc::is_grpc(request.headers()) {
            Some(http.clone())
        } else if unknown_method_of_known_service(request.uri().path()) {
            // tonic's services answer these without grpc-go's message.
            None
        } else {
            Some(grpc.clone())
        };
        async move {
            match target {
                Some(target) => target.oneshot(request).await.into_response(),
                None if bad_path => go_bad_request(),
                None => grpc_unknown(request.uri().clone()).await,
            }
        }
    })
}

/// Whether every `%` of a URL path starts a valid escape: Go's server
/// refuses a request whose path does not parse before routing it.
fn path_escapes_valid(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_hexdigit);
            if !hex(i + 1) || !hex(i + 2) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Go's answer to a request line it cannot parse: 400, plain text, and the
/// connection closed.
fn go_bad_request() -> Response {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONTENT_TYPE, TEXT_PLAIN)
        .header(header::CONNECTION, "close")
        .body(Body::from("400 Bad Request"))
        .expect("valid response")
}

/// etcd's access controller on the client port's HTTP side: with `*`
/// among the `--cors` origins (the default) every answer allows any origin;
/// otherwise a request whose `Origin` is listed gets it back, and others no
/// CORS headers. `OPTIONS` (a browser's preflight) is answered 200 at once.
async fn cors(
    origins: Arc<Vec<String>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let allowed = allowed_origin(&origins, request.headers().get(header::ORIGIN));
    let preflight = request.method() == Method::OPTIONS;
    let mut response = if preflight {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    let Some(origin) = allowed else {
        return response;
    };
    let headers = response.headers_mut();
    headers.insert(
        "Access-Control-Allow-Methods",
        HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE"),
    );
    headers.insert("Access-Control-Allow-Origin", origin);
    headers.insert(
        "Access-Control-Allow-Headers",
        HeaderValue::from_static("accept, content-type, authorization"),
    );
    response
}

/// etcd's `AccessController.OriginAllowed`: no origins or `*` allow all
/// (answered `*`); else the request's `Origin` if listed.
fn allowed_origin(origins: &[String], origin: Option<&HeaderValue>) -> Option<HeaderValue> {
    if origins.is_empty() || origins.iter().any(|allowed| allowed == "*") {
        return Some(HeaderValue::from_static("*"));
    }
    let origin = origin?;
    let text = origin.to_str().ok()?;
    origins
        .iter()
        .any(|allowed| allowed == text)
        .then(|| origin.clone())
}

/// Whether `path` names a method cairn does not serve of a service it does.
fn unknown_method_of_known_service(path: &str) -> bool {
    let service = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .map(|(service, _)| service);
    grpc::find_method(path).is_none()
        && service.is_some_and(|service| grpc::METHODS.iter().any(|m| m.service == service))
}

/// A `--listen-metrics-urls` port: `/metrics` and `/health` only.
pub fn metrics_routes(handle: MemberHandle, metrics: Arc<Metrics>) -> Router {
    let shared = Shared { handle, metrics };
    let health_shared = shared.clone();
    Router::new()
        .route(
            "/health",
            any(move |method: Method, uri: Uri| health(health_shared.clone(), method, uri)),
        )
        .route("/metrics", any(move || metrics_text(shared.clone())))
        .fallback(not_found)
}

/// Go's `http.Error`: the text and a newline, as plain text, not sniffed.
fn http_error(status: StatusCode, text: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, TEXT_PLAIN),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{text}\n"),
    )
        .into_response()
}

/// Go's `http.NotFound`.
async fn not_found() -> Response {
    http_error(StatusCode::NOT_FOUND, "404 page not found")
}

/// Refuses all but GET, as etcd's `/version` and `/health` do.
fn method_not_allowed() -> Response {
    let mut response = http_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    response
}

/// A gRPC call to a service or method cairn does not serve: Unimplemented,
/// in grpc-go's words (a trailers-only response, the message not
/// percent-encoded where gRPC allows it plain, as grpc-go sends it).
async fn grpc_unknown(uri: Uri) -> Response {
    let path = uri.path();
    let message = match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        None => format!("malformed method name: {path:?}"),
        Some((service, method)) if grpc::METHODS.iter().any(|m| m.service == service) => {
            format!("unknown method {method} for service {service}")
        }
        Some((service, _)) => format!("unknown service {service}"),
    };
    // Printable ASCII but '%' goes as is; anything else as tonic encodes it.
    let plain = message
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b'%');
    match HeaderValue::from_str(&message) {
        Ok(value) if plain => {
            let mut response = tonic::Status::unimplemented("")
                .into_http::<Body>()
                .into_response();
            response.headers_mut().insert("grpc-message", value);
            response
        }
        _ => tonic::Status::unimplemented(message)
            .into_http::<Body>()
            .into_response(),
    }
}

async fn version(method: Method) -> Response {
    if method != Method::GET {
        return method_not_allowed();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"etcdserver\":\"{ETCD_VERSION}\",\"etcdcluster\":\"{ETCD_CLUSTER_VERSION}\"}}"),
    )
        .into_response()
}

/// etcd 3.4's health check: unhealthy while an alarm is active (except
/// those named by `?exclude=`), while there is no leader, or when a
/// linearizable read does not complete within a second. `{"health":"true"}`
/// with 200, or `{"health":"false"}` with 503 (through `http.Error`).
async fn health(shared: Shared, method: Method, uri: Uri) -> Response {
    if method != Method::GET {
        return method_not_allowed();
    }
    let excluded = excluded_alarms(uri.query().unwrap_or(""));
    let healthy = is_healthy(&shared.handle, &excluded).await;
    shared.metrics.health_checked(healthy);
    if healthy {
        (
            [(header::CONTENT_TYPE, TEXT_PLAIN)],
            "{\"health\":\"true\"}",
        )
            .into_response()
    } else {
        http_error(StatusCode::SERVICE_UNAVAILABLE, "{\"health\":\"false\"}")
    }
}

async fn is_healthy(handle: &MemberHandle, excluded: &[String]) -> bool {
    let Ok((_, status)) = handle.call(Caller::System, calls::Status).await else {
        return false;
    };
    let alarmed = status
        .alarms
        .iter()
        .any(|(_, kind)| !excluded.iter().any(|name| name == alarm_name(*kind)));
    if alarmed || status.leader == 0 {
        return false;
    }
    let read = RangeRequest {
        key: Bytes::from_static(b"health"),
        ..RangeRequest::default()
    };
    matches!(
        tokio::time::timeout(HEALTH_READ_TIMEOUT, handle.call(Caller::System, read)).await,
        Ok(Ok(_))
    )
}

/// An alarm's name as etcd's `AlarmType` prints it (and `?exclude=` names it).
fn alarm_name(kind: AlarmKind) -> &'static str {
    match kind {
        AlarmKind::NoSpace => "NOSPACE",
        AlarmKind::Corrupt => "CORRUPT",
    }
}

/// The values of every `exclude` parameter of a query string.
fn excluded_alarms(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == "exclude")
        .map(|(_, value)| value.to_string())
        .collect()
}

/// Every metric, in Prometheus's text format (any method, as etcd's
/// `promhttp` handler).
async fn metrics_text(shared: Shared) -> Response {
    let text = shared.metrics.render(&shared.handle).await;
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_allowed_as_etcd_allows_them() {
        let origin = HeaderValue::from_static("http://a:1");
        let star = Some(HeaderValue::from_static("*"));
        assert_eq!(allowed_origin(&["*".to_string()], Some(&origin)), star);
        assert_eq!(allowed_origin(&[], None), star);
        let listed = ["http://a:1".to_string()];
        assert_eq!(allowed_origin(&listed, Some(&origin)), Some(origin.clone()));
        let other = HeaderValue::from_static("http://b:2");
        assert_eq!(allowed_origin(&listed, Some(&other)), None);
        assert_eq!(allowed_origin(&listed, None), None);
    }

    #[test]
    fn exclusions_are_read_from_the_query() {
        assert_eq!(
            excluded_alarms("exclude=NOSPACE&x=1&exclude=CORRUPT"),
            vec!["NOSPACE".to_string(), "CORRUPT".to_string()]
        );
        assert!(excluded_alarms("").is_empty());
    }
}
