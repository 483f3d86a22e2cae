//! The fuzz body of the gateway's JSON decoding (`fuzz/fuzz_targets/
//! gateway_json.rs`, and `server/tests/fuzz_requests.rs` on stable).
//!
//! ```text
//!   input: route u8 | JSON body
//!     whole body ─▶ request (JSON → protobuf) ─ok─▶ JSON again ─▶ protobuf: the same bytes
//!     stream     ─▶ next_request … each step consumes bytes, ends in End/Invalid/NeedMore
//! ```
//!
//! A body panics only on a bug: every input is a request or a clean error.

use super::json::Next;
use super::routes::ROUTES;

/// Runs one input (see the module doc).
///
/// # Panics
/// When decoding panics, a decoded request does not survive a JSON round
/// trip, or the stream reader stops advancing.
pub fn gateway_json(data: &[u8]) {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let route = &ROUTES[usize::from(*selector) % ROUTES.len()];
    if let Ok(protobuf) = (route.request)(body) {
        let json = (route.request_json)(&protobuf).expect("a decoded request encodes as JSON");
        let again = (route.request)(&json).expect("the gateway's own JSON decodes");
        assert_eq!(
            again,
            protobuf,
            "{}: JSON round trip changed the request: {}",
            route.path,
            String::from_utf8_lossy(&json)
        );
    }
    let mut rest = body;
    while let Next::Message(_, used) = (route.next_request)(rest) {
        assert!(used > 0 && used <= rest.len(), "no progress at {used}");
        rest = &rest[used..];
    }
}

/// Seeds: requests as curl users send them, by route index.
pub fn seeds() -> Vec<Vec<u8>> {
    let bodies: [(&str, &str); 8] = [
        ("kv/put", r#"{"key":"Zm9v","value":"YmFy","lease":"7"}"#),
        (
            "kv/range",
            r#"{"key":"Zm9v","range_end":"AA==","sort_order":"DESCEND","limit":10}"#,
        ),
        (
            "kv/txn",
            r#"{"compare":[{"key":"Zm9v","target":"VALUE","value":"YmF6"}],"success":[{"request_range":{"key":"Zm9v"}}],"failure":[{"request_put":{"key":"Zm9v","value":"eA=="}}]}"#,
        ),
        (
            "watch",
            r#"{"create_request":{"key":"Zm9v","filters":["NOPUT"]}} {"cancel_request":{"watch_id":"0"}}"#,
        ),
        ("lease/grant", r#"{"TTL":60,"ID":"4242"}"#),
        (
            "auth/role/grant",
            r#"{"name":"r","perm":{"permType":"READWRITE","key":"Zm9v"}}"#,
        ),
        (
            "cluster/member/add",
            r#"{"peerURLs":["http://127.0.0.1:2380"],"isLearner":true}"#,
        ),
        (
            "maintenance/alarm",
            r#"{"action":"ACTIVATE","memberID":"1","alarm":"NOSPACE"}"#,
        ),
    ];
    bodies
        .iter()
        .filter_map(|(path, body)| {
            let index = ROUTES.iter().position(|route| route.path == *path)?;
            let mut input = vec![u8::try_from(index).ok()?];
            input.extend_from_slice(body.as_bytes());
            Some(input)
        })
        .collect()
}
