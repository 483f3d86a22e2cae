//! The `v2_request` fuzz body: a v2 keys request as a client sends it
//! (method, URL path, query, content type, body) through the path decoding,
//! the clean-path redirect, the form parser and etcd's checks; what parses
//! must encode into a log payload and back identically, apply to a v2 store
//! without panicking, and render as JSON.
//!
//! Input layout: `method u8 | path \0 query \0 content-type \0 body`.

use axum::http::{HeaderMap, HeaderValue, Method};
use cairn_core::v2store::{put_v2_write, V2Store};

use super::keys::{parse, KeysRequest};

const METHODS: [&str; 7] = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"];

/// The fuzz body (see the module docs).
pub fn v2_request(data: &[u8]) {
    let Some((&method, rest)) = data.split_first() else {
        return;
    };
    let method =
        Method::from_bytes(METHODS[method as usize % METHODS.len()].as_bytes()).expect("a method");
    let mut parts = rest.splitn(4, |&b| b == 0);
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let content_type = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    let url_path = format!("/v2/keys/{path}");
    let Some(decoded) = super::percent_decode_path(&url_path) else {
        return;
    };
    if let Ok(uri) = format!("{}?{query}", url_path.replace(['#', ' '], "")).parse() {
        let _ = super::redirect_unclean(&decoded, &uri, &method);
    }
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        headers.insert(axum::http::header::CONTENT_TYPE, value);
    }
    let key_path = decoded.strip_prefix("/v2/keys").unwrap_or_default();
    match parse(&method, key_path, &query, &headers, body) {
        Err(error) => {
            let text = super::json::error(&error);
            assert!(text.ends_with("}\n"), "{text}");
            assert!((100..600).contains(&error.http_status()), "{error:?}");
        }
        Ok(KeysRequest::Write { write, .. }) => {
            let mut payload = Vec::new();
            put_v2_write(&mut payload, &write);
            let proposal = cairn_core::member::Proposal {
                origin: 1,
                seq: 1,
                identity: cairn_core::auth::Identity::System,
                op: cairn_core::member::Op::V2(write.clone()),
            };
            let encoded = cairn_core::member::encode_proposal(&proposal);
            let decoded = cairn_core::member::decode_proposal(&encoded).expect("decodes");
            assert_eq!(decoded, proposal, "a v2 write changed through the log");
            let mut store = V2Store::new();
            for answer in [store.apply(&write), store.apply(&write)] {
                match answer {
                    Ok(events) => {
                        for event in events {
                            let text = super::json::event(&event, 0, false);
                            assert!(
                                serde_json::from_str::<serde_json::Value>(&text).is_ok(),
                                "{text}"
                            );
                        }
                    }
                    Err(error) => {
                        let _ = super::json::error(&error);
                    }
                }
            }
        }
        Ok(KeysRequest::Read {
            path,
            recursive,
            sorted,
            ..
        }) => {
            let mut store = V2Store::new();
            let _ = store.get(&path, recursive, sorted);
        }
        Ok(KeysRequest::Watch {
            path,
            recursive,
            since,
            ..
        }) => {
            let store = V2Store::new();
            let _ = store.watch_history(&path, recursive, since);
        }
    }
}

/// Requests as curl and etcdctl send them.
pub fn seeds() -> Vec<Vec<u8>> {
    let form = b"application/x-www-form-urlencoded".as_slice();
    let seed = |method: u8, path: &str, query: &str, content_type: &[u8], body: &str| {
        let mut out = vec![method];
        out.extend_from_slice(path.as_bytes());
        out.push(0);
        out.extend_from_slice(query.as_bytes());
        out.push(0);
        out.extend_from_slice(content_type);
        out.push(0);
        out.extend_from_slice(body.as_bytes());
        out
    };
    vec![
        seed(2, "message", "", form, "value=Hello+world"),
        seed(0, "message", "", b"", ""),
        seed(2, "foo", "", form, "value=bar&ttl=5"),
        seed(0, "foo", "wait=true&waitIndex=7", b"", ""),
        seed(2, "dir", "", form, "dir=true"),
        seed(0, "dir", "recursive=true&sorted=true", b"", ""),
        seed(4, "dir", "dir=true&recursive=true", b"", ""),
        seed(2, "foo", "prevValue=bar", form, "value=changed"),
        seed(4, "foo", "prevIndex=3", b"", ""),
        seed(3, "queue", "", form, "value=job1"),
        seed(2, "a/../b", "", form, "value=%zz"),
        seed(2, "k", "", form, "refresh=true&ttl=5&prevExist=true"),
    ]
}
