//! `/v2/keys`: etcd's v2 keys API (`v2http/client.go` with `apply_v2.go`'s
//! choice of store method): the request's form decides the write, reads come
//! from this member's copy unless `quorum=true`, and `wait=true` streams the
//! watched events (headers at once, as etcd flushes them, so that clients'
//! header timeouts never fire on a long poll).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use cairn_core::auth::Caller;
use cairn_core::member::{ClientError, Header, V2Answer, V2Request, V2Result};
use cairn_core::v2store::{V2Action, V2Error, V2Event, V2Write};

use super::form::Form;
use super::{json, wall_clock_ms, V2Shared, ALLOWED_KEYS_METHODS};

/// How long one wait of a watch lasts in the member before it is asked
/// again (a client gone meanwhile leaves a waiter behind at most this long).
const WATCH_ROUND_MS: u64 = 30_000;

/// A parsed keys request.
#[derive(Debug)]
pub(crate) enum KeysRequest {
    Read {
        path: String,
        recursive: bool,
        sorted: bool,
        quorum: bool,
        head: bool,
    },
    Watch {
        path: String,
        recursive: bool,
        since: u64,
        stream: bool,
    },
    Write {
        write: V2Write,
        no_value: bool,
    },
}

/// Serves one `/v2/keys` request; `key_path` is the decoded URL path after
/// `/v2/keys`.
pub async fn serve(
    shared: V2Shared,
    method: Method,
    key_path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !ALLOWED_KEYS_METHODS.contains(&method.as_str()) {
        return super::method_not_allowed(ALLOWED_KEYS_METHODS);
    }
    let cluster_id = format!("{:x}", shared.cluster_id);
    let request = match parse(&method, &key_path, &query, &headers, &body) {
        Ok(request) => request,
        Err(error) => return error_response(&cluster_id, &error),
    };
    let recursive = super::auth_check::form_recursive(&method, &query, &headers, &body);
    if !super::auth_check::has_key_access(&shared, &method, &headers, &key_path, recursive).await {
        return error_response(
            &cluster_id,
            &V2Error::new(110, "Insufficient credentials", 0),
        );
    }
    match request {
        KeysRequest::Watch {
            path,
            recursive,
            since,
            stream,
        } => watch(shared, cluster_id, path, recursive, since, stream).await,
        KeysRequest::Read {
            path,
            recursive,
            sorted,
            quorum,
            head,
        } => {
            let request = V2Request::Get {
                path,
                recursive,
                sorted,
                quorum,
            };
            let answer = call_with_leader(&shared, request).await;
            answer_response(&cluster_id, answer, false, head)
        }
        KeysRequest::Write { write, no_value } => {
            let answer = call_with_leader(&shared, V2Request::Write(write)).await;
            answer_response(&cluster_id, answer, no_value, false)
        }
    }
}

/// How long a write or a quorum read waits for a leader, as etcd's
/// proposals wait for one during an election.
const LEADER_WAIT: Duration = Duration::from_secs(5);

/// Makes `request`, asking again while there is no leader (nothing was
/// proposed then) for up to [`LEADER_WAIT`].
async fn call_with_leader(
    shared: &V2Shared,
    request: V2Request,
) -> Result<(Header, V2Answer), (Header, ClientError)> {
    let deadline = tokio::time::Instant::now() + LEADER_WAIT;
    loop {
        let answer = shared.handle.call(Caller::Anonymous, request.clone()).await;
        match &answer {
            Err((_, ClientError::NoLeader | ClientError::LeaderChanged))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => return answer,
        }
    }
}

/// The form's request, with etcd's checks in etcd's order.
pub(crate) fn parse(
    method: &Method,
    key_path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<KeysRequest, V2Error> {
    let form_body = (matches!(*method, Method::POST | Method::PUT | Method::PATCH)
        && is_urlencoded(headers))
    .then_some(body);
    let (form, form_error) = Form::parse(query, form_body);
    if let Some(error) = form_error {
        return Err(V2Error::new(210, error, 0));
    }
    let path = cairn_core::v2store::clean_path(key_path);
    let index_nan = |name: &str| V2Error::new(203, format!("invalid value for {name:?}"), 0);
    let invalid = |name: &str| V2Error::new(209, format!("invalid value for {name:?}"), 0);
    let prev_index = form
        .uint("prevIndex")
        .map_err(|()| index_nan("prevIndex"))?;
    let wait_index = form
        .uint("waitIndex")
        .map_err(|()| index_nan("waitIndex"))?;
    let recursive = form.bool("recursive").map_err(|()| invalid("recursive"))?;
    let sorted = form.bool("sorted").map_err(|()| invalid("sorted"))?;
    let wait = form.bool("wait").map_err(|()| invalid("wait"))?;
    let dir = form.bool("dir").map_err(|()| invalid("dir"))?;
    let quorum = form.bool("quorum").map_err(|()| invalid("quorum"))?;
    let stream = form.bool("stream").map_err(|()| invalid("stream"))?;
    if wait && *method != Method::GET {
        return Err(V2Error::new(
            209,
            "\"wait\" can only be used with GET requests",
            0,
        ));
    }
    let prev_value = form.value("prevValue").to_string();
    if form.has("prevValue") && prev_value.is_empty() {
        return Err(V2Error::new(201, "\"prevValue\" cannot be empty", 0));
    }
    let no_value = form
        .bool("noValueOnSuccess")
        .map_err(|()| invalid("noValueOnSuccess"))?;
    let ttl = if form.value("ttl").is_empty() {
        None
    } else {
        Some(
            form.uint("ttl")
                .map_err(|()| V2Error::new(202, "invalid value for \"ttl\"", 0))?,
        )
    };
    let prev_exist = if form.has("prevExist") {
        Some(
            form.bool("prevExist")
                .map_err(|()| V2Error::new(209, "invalid value for prevExist", 0))?,
        )
    } else {
        None
    };
    let mut refresh = false;
    if form.has("refresh") {
        refresh = form
            .bool("refresh")
            .map_err(|()| V2Error::new(209, "invalid value for refresh", 0))?;
        if refresh {
            if form.has("value") && !form.value("value").is_empty() {
                return Err(V2Error::new(211, "A value was provided on a refresh", 0));
            }
            if ttl.is_none() {
                return Err(V2Error::new(212, "No TTL value set", 0));
            }
        }
    }
    let value = form.value("value").to_string();
    let expire_ms = ttl.map(|secs| {
        wall_clock_ms().saturating_add(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
    });
    let write = |write: V2Write| Ok(KeysRequest::Write { write, no_value });
    match *method {
        Method::GET | Method::HEAD if wait => Ok(KeysRequest::Watch {
            path,
            recursive,
            since: wait_index,
            stream,
        }),
        Method::GET | Method::HEAD => Ok(KeysRequest::Read {
            path,
            recursive,
            sorted,
            // etcd reads HEAD locally whatever `quorum` says.
            quorum: quorum && *method == Method::GET,
            head: *method == Method::HEAD,
        }),
        Method::POST => write(V2Write::Create {
            path,
            dir,
            value,
            unique: true,
            expire_ms,
        }),
        Method::PUT => match (prev_exist, prev_index > 0 || !prev_value.is_empty()) {
            (Some(true), false) => write(V2Write::Update {
                path,
                value,
                expire_ms,
                refresh,
            }),
            (Some(false), _) => write(V2Write::Create {
                path,
                dir,
                value,
                unique: false,
                expire_ms,
            }),
            // A condition, with or without prevExist=true.
            (Some(true) | None, true) => write(V2Write::CompareAndSwap {
                path,
                prev_value,
                prev_index,
                value,
                expire_ms,
                refresh,
            }),
            (None, false) => write(V2Write::Set {
                path,
                dir,
                value,
                expire_ms,
                refresh,
            }),
        },
        // DELETE (the method was checked above).
        _ if prev_index > 0 || !prev_value.is_empty() => write(V2Write::CompareAndDelete {
            path,
            prev_value,
            prev_index,
        }),
        _ => write(V2Write::Delete {
            path,
            dir,
            recursive,
        }),
    }
}

pub(crate) fn is_urlencoded(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|ct| ct == "application/x-www-form-urlencoded")
}

/// A member's answer to a read or a write as etcd writes it.
fn answer_response(
    cluster_id: &str,
    answer: Result<(Header, V2Answer), (Header, ClientError)>,
    no_value: bool,
    head: bool,
) -> Response {
    match answer {
        Ok((header, answer)) => match answer.result {
            V2Result::Event(event) => {
                // etcd's `Event.IsCreated`: a create, or a set of a node
                // that was not there.
                let created = event.action == V2Action::Create
                    || (event.action == V2Action::Set && event.prev_node.is_none());
                let no_value = no_value
                    && matches!(
                        event.action,
                        V2Action::Set
                            | V2Action::CompareAndSwap
                            | V2Action::Create
                            | V2Action::Update
                    );
                let body = json::event(&event, wall_clock_ms(), no_value);
                let status = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                let builder = event_headers(
                    Response::builder().status(status),
                    cluster_id,
                    event.etcd_index,
                    answer.raft_index,
                    header.raft_term,
                );
                if head {
                    // Go counts the body a handler writes to a HEAD, then
                    // drops it.
                    builder
                        .header(axum::http::header::CONTENT_LENGTH, body.len())
                        .body(Body::empty())
                        .expect("valid response")
                } else {
                    builder.body(Body::from(body)).expect("valid response")
                }
            }
            _ => error_response(
                cluster_id,
                &V2Error::new(300, "received response with no Event/Watcher", 0),
            ),
        },
        Err((_, ClientError::V2(error))) => error_response(cluster_id, &error),
        Err((_, error)) => error_response(cluster_id, &V2Error::new(300, error.to_string(), 0)),
    }
}

fn event_headers(
    builder: axum::http::response::Builder,
    cluster_id: &str,
    etcd_index: u64,
    raft_index: u64,
    raft_term: u64,
) -> axum::http::response::Builder {
    builder
        .header("Content-Type", "application/json")
        .header("X-Etcd-Cluster-Id", cluster_id)
        .header("X-Etcd-Index", etcd_index.to_string())
        .header("X-Raft-Index", raft_index.to_string())
        .header("X-Raft-Term", raft_term.to_string())
}

/// A v2 error as etcd writes it (`v2error.Error.WriteTo`).
pub fn error_response(cluster_id: &str, error: &V2Error) -> Response {
    let mut builder = Response::builder()
        .status(error.http_status())
        .header("Content-Type", "application/json")
        .header("X-Etcd-Index", error.index.to_string());
    if !cluster_id.is_empty() {
        builder = builder.header("X-Etcd-Cluster-Id", cluster_id);
    }
    builder
        .body(Body::from(json::error(error)))
        .expect("valid response")
}

/// `wait=true`: an error of the history (401) before any header; otherwise
/// headers at once, then the event (or, with `stream=true`, every event).
async fn watch(
    shared: V2Shared,
    cluster_id: String,
    path: String,
    recursive: bool,
    since: u64,
    stream: bool,
) -> Response {
    let first = V2Request::Watch {
        path: path.clone(),
        recursive,
        since,
        timeout_ms: 0,
    };
    let (header, answer) = match shared.handle.call(Caller::Anonymous, first).await {
        Ok(answered) => answered,
        Err((_, ClientError::V2(error))) => return error_response(&cluster_id, &error),
        Err((_, error)) => {
            return error_response(&cluster_id, &V2Error::new(300, error.to_string(), 0))
        }
    };
    let start_index = answer.store_index;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let handle = shared.handle.clone();
    tokio::spawn(async move {
        let mut next = match answer.result {
            V2Result::Event(event) => {
                let since = event.etcd_index + 1;
                if send_event(&tx, &event).await.is_err() || !stream {
                    return;
                }
                since
            }
            V2Result::Waiting { since } => since,
            V2Result::Stats { .. } | V2Result::Auth(_) | V2Result::AuthState(_) => return,
        };
        loop {
            let request = V2Request::Watch {
                path: path.clone(),
                recursive,
                since: next,
                timeout_ms: WATCH_ROUND_MS,
            };
            let answer = tokio::select! {
                answer = handle.call(Caller::Anonymous, request) => answer,
                // The client went away.
                () = tx.closed() => return,
            };
            match answer {
                Ok((_, answer)) => match answer.result {
                    V2Result::Event(event) => {
                        next = event.etcd_index + 1;
                        if send_event(&tx, &event).await.is_err() || !stream {
                            return;
                        }
                    }
                    V2Result::Waiting { since } => next = since,
                    V2Result::Stats { .. } | V2Result::Auth(_) | V2Result::AuthState(_) => return,
                },
                // History overrun, or the member stopped: end the stream,
                // as etcd closes a watcher that falls behind.
                Err((_, ClientError::Timeout)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => return,
            }
        }
    });
    event_headers(
        Response::builder().status(StatusCode::OK),
        &cluster_id,
        start_index,
        answer.raft_index,
        header.raft_term,
    )
    .body(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ))
    .expect("valid response")
}

async fn send_event(
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    event: &V2Event,
) -> Result<(), ()> {
    let line = json::event(event, wall_clock_ms(), false);
    tx.send(Ok(Bytes::from(line))).await.map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form_request(method: Method, path: &str, body: &str) -> Result<KeysRequest, V2Error> {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        parse(&method, path, "", &headers, body.as_bytes())
    }

    #[test]
    fn the_form_decides_the_store_method() {
        let put = |body| match form_request(Method::PUT, "/a/../b", body) {
            Ok(KeysRequest::Write { write, .. }) => write,
            other => panic!("{other:?}"),
        };
        assert!(matches!(put("value=1"), V2Write::Set { path, .. } if path == "/b"));
        assert!(matches!(
            put("value=1&prevExist=true"),
            V2Write::Update { .. }
        ));
        assert!(matches!(
            put("value=1&prevExist=false"),
            V2Write::Create { unique: false, .. }
        ));
        assert!(matches!(
            put("value=1&prevValue=0"),
            V2Write::CompareAndSwap { .. }
        ));
        assert!(matches!(
            put("value=1&prevExist=true&prevIndex=3"),
            V2Write::CompareAndSwap { prev_index: 3, .. }
        ));
        assert!(matches!(
            form_request(Method::POST, "/q", "value=j"),
            Ok(KeysRequest::Write {
                write: V2Write::Create { unique: true, .. },
                ..
            })
        ));
        // A DELETE's body is not a form (Go's ParseForm): conditions go in
        // the query.
        let delete = parse(&Method::DELETE, "/q", "prevIndex=2", &HeaderMap::new(), b"");
        assert!(matches!(
            delete,
            Ok(KeysRequest::Write {
                write: V2Write::CompareAndDelete { .. },
                ..
            })
        ));
        assert!(matches!(
            form_request(Method::DELETE, "/q", "prevIndex=2"),
            Ok(KeysRequest::Write {
                write: V2Write::Delete { .. },
                ..
            })
        ));
    }

    #[test]
    fn bad_forms_get_etcds_codes() {
        let code = |method, body| form_request(method, "/k", body).unwrap_err().code;
        assert_eq!(code(Method::PUT, "ttl=abc"), 202);
        assert_eq!(code(Method::PUT, "ttl=-1"), 202);
        assert_eq!(code(Method::PUT, "prevIndex=x"), 203);
        assert_eq!(code(Method::PUT, "prevValue="), 201);
        assert_eq!(code(Method::PUT, "wait=true"), 209);
        assert_eq!(code(Method::PUT, "dir=maybe"), 209);
        assert_eq!(code(Method::PUT, "refresh=true&value=x&ttl=5"), 211);
        assert_eq!(code(Method::PUT, "refresh=true"), 212);
        assert_eq!(code(Method::PUT, "value=%zz"), 210);
    }
}
