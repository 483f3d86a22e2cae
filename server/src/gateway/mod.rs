//! etcd's HTTP/JSON gateway (grpc-gateway v1) on the client port: every v3
//! RPC as `POST /v3/<path>` (and `/v3beta/<path>`, which etcd 3.4 rewrites
//! to `/v3/`) with protobuf's JSON mapping, answered as etcd's gateway
//! answers, status codes and error bodies included.
//!
//! ```text
//!   POST /v3/kv/put {"key":"Zm9v","value":"YmFy"}
//!     │ routes::find("kv/put")          unknown: 404 "Not Found"; not POST: 405
//!     │ json: JSON ──pbjson──▶ PutRequest ──prost──▶ bytes   bad JSON: 400 {"error",..,"code":3}
//!     ▼
//!   call: application/grpc request, Authorization → `authorization` metadata
//!     │  through the client port's own gRPC router (auth, limits, metrics as gRPC)
//!     ▼
//!   frames + grpc-status ──▶ unary:  200 {"header":{...}}  or  HTTPStatusFromCode + {"error",..}
//!                            stream: 200 {"result":{...}}\n … (stream.rs)
//! ```
//!
//! With `--client-cert-auth` and auth enabled, a request whose client
//! certificate has a common name is refused (400, etcd's text): the gateway
//! never acts as the certificate's user, and neither does etcd's.
//!
//! Watch and lease keep-alive read their JSON requests from the body as
//! they arrive (one or more values) and stream one `{"result":...}` per
//! line, flushed as events come, until the client hangs up.

pub mod call;
#[doc(hidden)]
pub mod fuzz;
pub mod json;
pub mod routes;
mod stream;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use cairn_core::auth::Caller;
use cairn_core::member::calls;
use cairn_runtime_tokio::MemberHandle;

use crate::tls::ClientCommonName;
use call::{Event, GrpcStatus, Upstream};
use routes::{Kind, Route};

/// The largest JSON body the gateway reads for one request (or holds
/// unparsed in a stream): far above `--max-request-bytes`' default in
/// base64, bounded so that a client cannot make the server buffer without
/// limit.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// etcd's refusal of a gateway request from a certificate with a common
/// name while auth is enabled (its gateway would not act as that user).
const COMMON_NAME_IGNORED: &str = "CommonName of client sending a request against gateway will be ignored and not used as expected";

/// The gateway's routes: `/v3/...` and `/v3beta/...`, calling the services
/// through `grpc` (the client port's gRPC router).
pub fn routes(grpc: Router, max_concurrent_streams: u32) -> Router {
    let grpc = Upstream::new(grpc, max_concurrent_streams);
    let v3 = grpc.clone();
    let v3_root = grpc.clone();
    let beta = grpc;
    Router::new()
        // Go's ServeMux redirects a subtree's root without its slash.
        .route("/v3", any(redirect_to_subtree))
        .route(
            "/v3/",
            any(move |request: Request| serve(v3_root.clone(), request, "/v3/")),
        )
        .route(
            "/v3/{*rest}",
            any(move |request: Request| serve(v3.clone(), request, "/v3/")),
        )
        .route(
            "/v3beta/{*rest}",
            any(move |request: Request| serve(beta.clone(), request, "/v3beta/")),
        )
}

/// One gateway request.
async fn serve(grpc: Upstream, request: Request, prefix: &str) -> Response {
    let path = request.uri().path().strip_prefix(prefix).unwrap_or("");
    let Some(route) = routes::find(path) else {
        drain(request.into_body()).await;
        return go_http_error(StatusCode::NOT_FOUND, "Not Found");
    };
    if request.method() != Method::POST {
        drain(request.into_body()).await;
        return go_http_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    let (parts, body) = request.into_parts();
    match route.kind {
        Kind::Unary => unary(grpc, route, &parts.headers, body).await,
        Kind::ServerStream => stream::server_stream(grpc, route, &parts.headers, body).await,
        Kind::Bidi => stream::bidi(grpc, route, parts.headers, body).await,
    }
}

/// etcd's access controller, before CORS and routing, with
/// `--client-cert-auth` (`handle` set): while auth is enabled, a gateway
/// request (`/v3/...`, `/v3beta/...`) whose client certificate has a
/// common name is refused.
pub async fn refuse_common_names(
    handle: Option<MemberHandle>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let gateway_path = path.starts_with("/v3/") || path.starts_with("/v3beta/");
    if let (true, Some(handle), Some(name)) = (
        gateway_path,
        &handle,
        request.extensions().get::<ClientCommonName>(),
    ) {
        if !name.0.is_empty() && auth_enabled(handle).await {
            drain(request.into_body()).await;
            return go_http_error(StatusCode::BAD_REQUEST, COMMON_NAME_IGNORED);
        }
    }
    next.run(request).await
}

/// Whether auth is enabled (as the member last applied it).
async fn auth_enabled(handle: &MemberHandle) -> bool {
    handle
        .call(Caller::System, calls::AuthStatus)
        .await
        .is_ok_and(|(_, state)| state.enabled)
}

/// A unary call: one JSON request, one JSON answer or error.
async fn unary(grpc: Upstream, route: &Route, headers: &HeaderMap, body: Body) -> Response {
    let request = match read_request(route, body).await {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let mut call = call::start(grpc, route.grpc_path, headers, Body::from(request)).await;
    let message = match call.next().await {
        Event::Message(message) => message,
        Event::End(status) => return error_response(&without_ok(status)),
    };
    match call.next().await {
        Event::End(status) if status.code == 0 => {}
        Event::End(status) => return error_response(&status),
        Event::Message(_) => {
            return error_response(&GrpcStatus::internal("more than one unary response"))
        }
    }
    match (route.response)(&message) {
        Ok(json) => (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    "application/json".parse().expect("valid"),
                ),
                call::metadata_content_type(),
            ],
            json,
        )
            .into_response(),
        Err(error) => error_response(&GrpcStatus::internal(error)),
    }
}

/// The whole body as one framed protobuf request, or the 400 (or 429)
/// etcd's gateway gives a body it cannot use.
async fn read_request(route: &Route, body: Body) -> Result<bytes::Bytes, Box<Response>> {
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|error| Box::new(body_error(&error)))?;
    let protobuf = (route.request)(&body).map_err(|error| {
        Box::new(error_response(&GrpcStatus {
            code: 3,
            message: error,
        }))
    })?;
    Ok(call::frame(&protobuf))
}

/// A body that could not be read (too large, or the connection broke).
fn body_error(error: &axum::Error) -> Response {
    error_response(&GrpcStatus {
        code: 8,
        message: format!(
            "gateway: request body unreadable or larger than {MAX_BODY_BYTES} bytes: {error}"
        ),
    })
}

/// A status that should have been an error but says OK (a unary call
/// without a response).
fn without_ok(status: GrpcStatus) -> GrpcStatus {
    if status.code == 0 {
        GrpcStatus::internal("no response from the service")
    } else {
        status
    }
}

/// grpc-gateway's `DefaultHTTPError`: the status from
/// `HTTPStatusFromCode`, the body `{"error":..,"message":..,"code":N}`.
pub fn error_response(status: &GrpcStatus) -> Response {
    (
        http_status_from_code(status.code),
        [(header::CONTENT_TYPE, "application/json")],
        json::error_body(status.code, &status.message),
    )
        .into_response()
}

/// grpc-gateway v1's `runtime.HTTPStatusFromCode`.
pub fn http_status_from_code(code: i32) -> StatusCode {
    match code {
        0 => StatusCode::OK,
        1 => StatusCode::REQUEST_TIMEOUT,
        3 | 11 => StatusCode::BAD_REQUEST,
        4 => StatusCode::GATEWAY_TIMEOUT,
        5 => StatusCode::NOT_FOUND,
        6 | 10 => StatusCode::CONFLICT,
        7 => StatusCode::FORBIDDEN,
        8 => StatusCode::TOO_MANY_REQUESTS,
        9 => StatusCode::PRECONDITION_FAILED,
        12 => StatusCode::NOT_IMPLEMENTED,
        14 => StatusCode::SERVICE_UNAVAILABLE,
        16 => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Reads (and drops) up to [`DRAIN_BYTES_MAX`] of a body answered without
/// it: over HTTP/2 an answer sent before the request's end resets the
/// stream, and curl may then show nothing of the answer.
async fn drain(body: Body) {
    let _ = axum::body::to_bytes(body, DRAIN_BYTES_MAX).await;
}

/// The most of an unused request body [`drain`] reads.
const DRAIN_BYTES_MAX: usize = 1024 * 1024;

/// Go's `http.Error`: the text and a newline, plain, not sniffed.
fn go_http_error(status: StatusCode, text: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{text}\n"),
    )
        .into_response()
}

/// Go's `ServeMux` answer for `/v3`: a permanent redirect to `/v3/`.
async fn redirect_to_subtree() -> Response {
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/v3/")]).into_response()
}

#[cfg(test)]
mod proptests;
