//! etcd's v2 HTTP+JSON API on the client port, behind `--enable-v2`:
//!
//! ```text
//!   /v2/keys[/path]        GET HEAD PUT POST DELETE   keys.rs (the v2 store in core)
//!   /v2/members[/id]       GET POST PUT DELETE        members.rs (the Cluster service)
//!   /v2/members/leader     GET
//!   /v2/machines           GET HEAD
//!   /v2/stats/store        GET                        members.rs
//!   /v2/stats/self         GET                        (Raft traffic: runtime-tokio's raft_stats)
//!   /v2/stats/leader       GET                        (the leader only)
//!   /v2/auth/...           see auth.rs                auth.rs (v2 auth state in core)
//! ```
//!
//! While v2 auth is on, keys requests need a role that grants the key and
//! membership changes need root (`auth_check.rs`).
//!
//! With `--enable-v2=false` (etcd 3.4's default) every `/v2/` path answers
//! 404 and says how to turn the API on.

pub mod auth;
pub mod auth_check;
pub mod auth_json;
pub mod form;
pub mod fuzz;
pub mod json;
pub mod keys;
pub mod members;
pub mod proxy;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use cairn_runtime_tokio::MemberHandle;

use crate::grpc::cluster::ClusterService;

/// The largest v2 request body read (Go's `ParseForm` limit).
const MAX_FORM_BYTES: usize = 10 << 20;

/// Methods the keys API takes (etcd's `allowMethod` order, for `Allow`).
pub const ALLOWED_KEYS_METHODS: &[&str] = &["HEAD", "GET", "PUT", "POST", "DELETE"];

/// What the v2 handlers share.
#[derive(Clone, Debug)]
pub struct V2Shared {
    pub handle: MemberHandle,
    pub cluster_id: u64,
    /// This member's ID and name, and when its process started (unix ms).
    pub member_id: u64,
    pub name: String,
    pub start_time_ms: i64,
    /// Membership changes, forwarded to the leader as the gRPC Cluster
    /// service forwards them.
    pub cluster: ClusterService,
    /// v2 auth: password hashing (`--bcrypt-cost`) and checking.
    pub passwords: auth_check::V2Passwords,
}

/// The `/v2/` routes: the API when `shared` is given, otherwise a 404 that
/// names the flag.
pub fn routes(shared: Option<V2Shared>) -> Router {
    let Some(shared) = shared else {
        return Router::new()
            .route("/v2", any(disabled))
            .route("/v2/{*rest}", any(disabled));
    };
    let keys = shared.clone();
    let members = shared.clone();
    let stats = shared.clone();
    Router::new()
        .route(
            "/v2/keys",
            any(move |request: Request| serve_keys(keys.clone(), request)),
        )
        .route(
            "/v2/keys/",
            any({
                let keys = shared.clone();
                move |request: Request| serve_keys(keys.clone(), request)
            }),
        )
        .route(
            "/v2/keys/{*rest}",
            any({
                let keys = shared.clone();
                move |request: Request| serve_keys(keys.clone(), request)
            }),
        )
        .route(
            "/v2/members",
            any({
                let members = members.clone();
                move |request: Request| members::serve_members(members.clone(), request)
            }),
        )
        .route(
            "/v2/members/{*rest}",
            any(move |request: Request| members::serve_members(members.clone(), request)),
        )
        .route(
            "/v2/machines",
            any({
                let shared = shared.clone();
                move |request: Request| members::serve_machines(shared.clone(), request)
            }),
        )
        .route(
            "/v2/stats/store",
            any(move |request: Request| members::serve_store_stats(stats.clone(), request)),
        )
        .route(
            "/v2/stats/self",
            any({
                let shared = shared.clone();
                move |request: Request| members::serve_self_stats(shared.clone(), request)
            }),
        )
        .route(
            "/v2/stats/leader",
            any({
                let shared = shared.clone();
                move |request: Request| members::serve_leader_stats(shared.clone(), request)
            }),
        )
        .merge(auth_routes(&shared))
        .route("/v2", any(not_found))
        .route("/v2/{*rest}", any(not_found))
}

/// `/v2/auth/enable`, `/v2/auth/users[/...]`, `/v2/auth/roles[/...]` (Go's
/// mux sends both `users` and `users/` to the handler).
fn auth_routes(shared: &V2Shared) -> Router {
    let enable = shared.clone();
    let mut router = Router::new().route(
        "/v2/auth/enable",
        any(move |request: Request| auth::serve_enable(enable.clone(), request)),
    );
    for path in [
        "/v2/auth/users",
        "/v2/auth/users/",
        "/v2/auth/users/{*rest}",
    ] {
        let users = shared.clone();
        router = router.route(
            path,
            any(move |request: Request| auth::serve_users(users.clone(), request)),
        );
    }
    for path in [
        "/v2/auth/roles",
        "/v2/auth/roles/",
        "/v2/auth/roles/{*rest}",
    ] {
        let roles = shared.clone();
        router = router.route(
            path,
            any(move |request: Request| auth::serve_roles(roles.clone(), request)),
        );
    }
    router
}

async fn serve_keys(shared: V2Shared, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let decoded = match percent_decode_path(parts.uri.path()) {
        Some(path) => path,
        None => return bad_request("invalid URL escape in path"),
    };
    if let Some(redirect) = redirect_unclean(&decoded, &parts.uri, &parts.method) {
        return redirect;
    }
    let key_path = decoded
        .strip_prefix("/v2/keys")
        .unwrap_or_default()
        .to_string();
    let body = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return keys::error_response(
                &format!("{:x}", shared.cluster_id),
                &cairn_core::v2store::V2Error::new(210, "http: POST too large", 0),
            )
        }
    };
    let query = parts.uri.query().unwrap_or_default().to_string();
    keys::serve(shared, parts.method, key_path, query, parts.headers, body).await
}

/// Go's `ServeMux` answers a path that is not clean with a redirect to the
/// clean one (301, the query kept).
pub(crate) fn redirect_unclean(
    path: &str,
    uri: &Uri,
    method: &axum::http::Method,
) -> Option<Response> {
    let mut clean = cairn_core::v2store::clean_path(path);
    if path.ends_with('/') && clean != "/" {
        clean.push('/');
    }
    if clean == path {
        return None;
    }
    // Go's `url.URL.String`: the path escaped again, the query as sent.
    let location = match uri.query() {
        Some(query) => format!("{}?{query}", escape_path(&clean)),
        None => escape_path(&clean),
    };
    // Go's `http.Redirect`: the HTML body and its Content-Type only to a
    // GET or HEAD.
    let get_or_head = *method == axum::http::Method::GET || *method == axum::http::Method::HEAD;
    let body = if get_or_head {
        format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            html_escape(&location)
        )
    } else {
        String::new()
    };
    let mut builder = Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header("Location", location);
    if get_or_head {
        builder = builder.header("Content-Type", "text/html; charset=utf-8");
    }
    Some(builder.body(Body::from(body)).expect("valid response"))
}

/// A path escaped as Go's `url.URL.EscapedPath` does (`shouldEscape` in
/// path mode): letters, digits, `-_.~` and `$&+,/:;=@` as they are, every
/// other byte `%XX`.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b'/'
            | b':'
            | b';'
            | b'='
            | b'@' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Go's `htmlEscape` (`http.Redirect`'s body).
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// A URL path with its `%XX` escapes decoded (Go's `URL.Path`); `+` stays.
pub(crate) fn percent_decode_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

pub(crate) fn bad_request(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("400 Bad Request: {text}")).into_response()
}

/// Go's `http.Error(w, "Method Not Allowed", 405)` with etcd's `Allow`.
pub fn method_not_allowed(allowed: &[&str]) -> Response {
    Response::builder()
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .header("Allow", allowed.join(","))
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::from("Method Not Allowed\n"))
        .expect("valid response")
}

async fn not_found() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::from("404 page not found\n"))
        .expect("valid response")
}

async fn disabled() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::from(
            "404 page not found: the v2 API is off; start cairn with --enable-v2=true (ETCD_ENABLE_V2=true) to serve it\n",
        ))
        .expect("valid response")
}

/// The wall clock in unix milliseconds (TTLs are absolute times).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_decode_and_unclean_ones_redirect() {
        assert_eq!(
            percent_decode_path("/v2/keys/a%20b+c").as_deref(),
            Some("/v2/keys/a b+c")
        );
        assert_eq!(percent_decode_path("/v2/keys/%zz"), None);
        let uri: Uri = "/v2/keys/a/../b?x=1".parse().unwrap();
        let redirect = redirect_unclean("/v2/keys/a/../b", &uri, &axum::http::Method::GET).unwrap();
        assert_eq!(redirect.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(redirect.headers()["Location"], "/v2/keys/b?x=1");
        assert!(redirect_unclean("/v2/keys/dir/", &uri, &axum::http::Method::PUT).is_none());
        // Go escapes the clean path again (etcd 3.4.23's answer).
        let uri: Uri = "/v2/keys/x//a!b'(c)*$&+,:;=@%22%3C%3E?q=1&r=%22"
            .parse()
            .unwrap();
        let decoded = percent_decode_path(uri.path()).unwrap();
        let redirect = redirect_unclean(&decoded, &uri, &axum::http::Method::PUT).unwrap();
        assert_eq!(
            redirect.headers()["Location"],
            "/v2/keys/x/a%21b%27%28c%29%2A$&+,:;=@%22%3C%3E?q=1&r=%22"
        );
        assert!(redirect.headers().get("Content-Type").is_none());
        assert!(redirect_unclean("/v2/keys//x", &uri, &axum::http::Method::PUT).is_some());
    }
}
