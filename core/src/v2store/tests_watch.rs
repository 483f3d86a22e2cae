//! Cases of etcd's store_ttl_test.go, event_test.go, watcher_hub_test.go
//! and stats: expiry, refresh, the history and its scan, live watches;
//! and the codecs' known bytes.

use super::tests::{cad, cas, create, create_ttl, delete, ok, refused, set, set_ttl, update, T0};
use super::*;

#[test]
fn expiry_in_order_each_event_its_own_index() {
    let mut s = V2Store::new();
    ok(&mut s, create_ttl("/foo", false, T0 + 400));
    ok(&mut s, create_ttl("/foofoo", false, T0 + 450));
    ok(&mut s, create_ttl("/foodir", true, T0 + 500));
    ok(&mut s, create("/foodir/child", false, "c"));
    ok(&mut s, create_ttl("/old", false, 1_000)); // before 2000: no TTL
    assert_eq!(s.next_expiration_ms(), Some(T0 + 400));
    assert_eq!(
        s.apply(&V2Write::Expire { now_ms: T0 + 399 }).unwrap(),
        Vec::new()
    );
    let events = s.apply(&V2Write::Expire { now_ms: T0 + 500 }).unwrap();
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.action, e.node.key.as_str(), e.etcd_index, e.node.dir))
        .collect();
    assert_eq!(
        seen,
        [
            (V2Action::Expire, "/foo", 6, false),
            (V2Action::Expire, "/foofoo", 7, false),
            (V2Action::Expire, "/foodir", 8, true)
        ]
    );
    assert_eq!(
        events[0].prev_node.as_ref().unwrap().expiration_ms,
        Some(T0 + 400)
    );
    assert_eq!(
        (s.node_count(), s.has_ttl_keys(), s.stats().expire_count),
        (1, false, 3)
    );
    // The watch scan finds them (etcd's TestStoreWatchExpire).
    let e = s.watch_history("/", true, 7).unwrap().unwrap();
    assert_eq!((e.node.key.as_str(), e.etcd_index), ("/foofoo", 8));
    assert!(s
        .watch_history("/foodir/child", false, 8)
        .unwrap()
        .is_some());
}

#[test]
fn ttl_of_children_goes_with_an_expired_directory() {
    let mut s = V2Store::new();
    ok(&mut s, create_ttl("/dir", true, T0 + 10));
    ok(&mut s, create_ttl("/dir/a", false, T0 + 20));
    ok(&mut s, set_ttl("/dir/b", "b", T0 + 10, false));
    let events = s.apply(&V2Write::Expire { now_ms: T0 + 10 }).unwrap();
    assert_eq!(
        events.len(),
        1,
        "the directory expires first, its children with it"
    );
    assert!(!s.has_ttl_keys());
}

#[test]
fn refresh_keeps_the_value_and_wakes_no_watcher() {
    let mut s = V2Store::new();
    ok(&mut s, create_ttl("/foo", false, T0 + 500));
    let e = ok(&mut s, set_ttl("/foo", "ignored", T0 + 900, true));
    assert!(e.refresh);
    assert_eq!(
        (e.node.value.as_deref(), e.node.expiration_ms),
        (Some(""), Some(T0 + 900))
    );
    assert!(!watch_matches(&e, "/foo", false));
    let e = ok(&mut s, update("/foo", "", Some(T0 + 1000), true));
    assert!(e.refresh && !watch_matches(&e, "/", true));
    let e = ok(
        &mut s,
        V2Write::CompareAndSwap {
            path: "/foo".into(),
            prev_value: String::new(),
            prev_index: 3,
            value: "x".into(),
            expire_ms: Some(T0 + 1100),
            refresh: true,
        },
    );
    assert_eq!(e.node.value.as_deref(), Some(""));
    assert_eq!(s.next_expiration_ms(), Some(T0 + 1100));
    // Refreshes are in the history but never found by a watch.
    assert_eq!(s.watch_history("/foo", false, 2).unwrap(), None);
    assert_eq!(
        refused(&mut s, set_ttl("/nope", "v", T0, true)),
        (100, "/nope".into(), 4)
    );
    let expired = s.apply(&V2Write::Expire { now_ms: T0 + 2000 }).unwrap();
    assert_eq!(
        expired[0].prev_node.as_ref().unwrap().value.as_deref(),
        Some("")
    );
    assert_eq!(
        s.watch_history("/", true, 2).unwrap().unwrap().etcd_index,
        5
    );
}

#[test]
fn history_keeps_the_last_thousand_events() {
    let mut s = V2Store::new();
    for i in 0..1005 {
        ok(&mut s, set("/foo", &i.to_string()));
    }
    let error = s.watch_history("/foo", false, 5).unwrap_err();
    assert_eq!(error.code, 401);
    assert_eq!(error.cause, "the requested history has been cleared [6/5]");
    assert_eq!(error.index, 1005);
    assert_eq!(
        error.message(),
        "The event in requested index is outdated and cleared"
    );
    let e = s.watch_history("/foo", false, 6).unwrap().unwrap();
    assert_eq!((e.node.modified_index, e.etcd_index), (6, 1005));
    assert_eq!(s.watch_history("/foo", false, 0).unwrap(), None);
    assert_eq!(s.watch_history("/foo", false, 1006).unwrap(), None);
    assert_eq!(V2Store::new().watch_history("/", true, 1).unwrap(), None);
}

#[test]
fn history_scan_matches_as_etcd() {
    let mut s = V2Store::new();
    ok(&mut s, create("/foo", true, ""));
    ok(&mut s, create("/foo/bar", true, ""));
    ok(&mut s, create("/foo/foo", true, ""));
    ok(&mut s, create("/foo/bar/bar", false, ""));
    ok(&mut s, create("/foo/foo/foo", false, ""));
    ok(&mut s, create("/foobar", false, ""));
    ok(&mut s, delete("/foo", true, true));
    let at = |path: &str, recursive, since| {
        s.watch_history(path, recursive, since)
            .unwrap()
            .map(|e| e.node.modified_index)
    };
    assert_eq!(at("/foo", false, 1), Some(1));
    assert_eq!(at("/foo/bar", false, 1), Some(2));
    assert_eq!(at("/foo/bar", true, 3), Some(4));
    assert_eq!(
        at("/foo/foo/foo", false, 6),
        Some(7),
        "a deleted directory above"
    );
    assert_eq!(at("/foo", true, 6), Some(7));
    assert_eq!(at("/fo", true, 1), None, "recursive needs a '/' boundary");
    // etcd tests a deleted directory as a bare string prefix.
    assert_eq!(at("/foobar", false, 7), Some(7));
    assert_eq!(at("/foo/bar", true, 8), None);
}

#[test]
fn live_watches_follow_watcher_hub_rules() {
    let mut s = V2Store::new();
    let e = ok(&mut s, create("/foo/bar", false, "baz"));
    assert!(watch_matches(&e, "/foo/bar", false));
    assert!(watch_matches(&e, "/foo", true) && watch_matches(&e, "/", true));
    assert!(!watch_matches(&e, "/foo", false) && !watch_matches(&e, "/fo", true));
    assert!(!watch_matches(&e, "/foo/bar/baz", true));
    // Hidden keys: only by their own path, or from a watch below the hidden part.
    let e = ok(&mut s, create("/_foo", false, "bar"));
    assert!(watch_matches(&e, "/_foo", false) && !watch_matches(&e, "/", true));
    let e = ok(&mut s, create("/foo/_bar", false, "baz"));
    assert!(!watch_matches(&e, "/foo", true));
    let e = ok(&mut s, create("/foo/_baz/quux", false, "q"));
    assert!(!watch_matches(&e, "/foo", true));
    let e = ok(&mut s, create("/_foo2/bar/baz", false, "baz"));
    assert!(watch_matches(&e, "/_foo2/bar", true) && watch_matches(&e, "/_foo2", true));
    let e = ok(&mut s, delete("/foo/_bar", false, false));
    assert!(!watch_matches(&e, "/foo", true) && watch_matches(&e, "/foo/_bar", false));
    // A deleted or expired directory wakes the watchers below it, hidden too.
    let e = ok(&mut s, delete("/foo", true, true));
    assert!(watch_matches(&e, "/foo/bar", false) && watch_matches(&e, "/foo/_baz/quux", false));
    assert!(watch_matches(&e, "/foo", false) && !watch_matches(&e, "/foobar", false));
    ok(&mut s, create_ttl("/_hidden", false, T0));
    ok(&mut s, create_ttl("/ttl", true, T0 + 1));
    let events = s.apply(&V2Write::Expire { now_ms: T0 + 1 }).unwrap();
    assert!(
        !watch_matches(&events[0], "/", true),
        "etcd: hidden expiry unseen"
    );
    assert!(watch_matches(&events[1], "/", true) && watch_matches(&events[1], "/ttl/x", false));
}

#[test]
fn stats_count_as_etcd_does() {
    let mut s = V2Store::new();
    ok(&mut s, create("/foo", false, "bar"));
    ok(&mut s, create("/dir", true, ""));
    s.get("/foo", false, false).unwrap();
    s.get("/nope", false, false).unwrap_err();
    refused(&mut s, create("/foo", false, ""));
    // A create below a key counts a set failure too (etcd's checkDir).
    refused(&mut s, create("/foo/x", false, ""));
    ok(&mut s, set("/a", "b"));
    // etcd counts these refusals as successes.
    refused(&mut s, update("/", "", None, false));
    refused(&mut s, update("/dir", "v", None, false));
    refused(&mut s, update("/nope", "v", None, false));
    refused(&mut s, delete("/", true, true));
    refused(&mut s, delete("/nope", false, false));
    refused(&mut s, cas("/foo", "no", 0, "x"));
    refused(&mut s, cad("/foo", "no", 0));
    refused(&mut s, cad("/nope", "no", 0));
    let st = s.stats();
    assert_eq!((st.get_success, st.get_fail), (1, 1));
    assert_eq!(
        (
            st.create_success,
            st.create_fail,
            st.set_success,
            st.set_fail
        ),
        (2, 2, 1, 1)
    );
    assert_eq!(
        (
            st.update_success,
            st.update_fail,
            st.delete_success,
            st.delete_fail
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(
        (
            st.compare_and_swap_fail,
            st.compare_and_delete_success,
            st.compare_and_delete_fail
        ),
        (1, 1, 1)
    );
}

#[test]
fn error_table_is_etcds() {
    let e = |code| V2Error::new(code, "", 0);
    assert_eq!(
        (e(100).message(), e(100).http_status()),
        ("Key not found", 404)
    );
    assert_eq!(
        (e(101).message(), e(101).http_status()),
        ("Compare failed", 412)
    );
    assert_eq!(
        (e(102).message(), e(102).http_status()),
        ("Not a file", 403)
    );
    assert_eq!(
        (e(104).message(), e(104).http_status()),
        ("Not a directory", 400)
    );
    assert_eq!(
        (e(105).message(), e(105).http_status()),
        ("Key already exists", 412)
    );
    assert_eq!(
        (e(107).message(), e(107).http_status()),
        ("Root is read only", 400)
    );
    assert_eq!(
        (e(108).message(), e(108).http_status()),
        ("Directory not empty", 403)
    );
    assert_eq!(
        (
            e(110).http_status(),
            e(300).http_status(),
            e(301).http_status()
        ),
        (401, 500, 500)
    );
    assert_eq!(e(212).message(), "A TTL must be provided on refresh");
    assert_eq!((e(999).message(), e(999).http_status()), ("", 400));
    assert_eq!(
        V2Error::new(100, "/foo", 3).to_string(),
        "Key not found (/foo)"
    );
}

#[test]
fn paths_clean_as_go() {
    for (raw, clean) in [
        ("", "/"),
        ("/", "/"),
        ("foo", "/foo"),
        ("/foo/", "/foo"),
        ("//a//b", "/a/b"),
        ("/a/../b", "/b"),
        ("/../..", "/"),
        ("./a/.", "/a"),
        ("/a/b/../../..", "/"),
        ("/_x/.../y", "/_x/.../y"),
    ] {
        assert_eq!(clean_path(raw), clean, "{raw:?}");
    }
}

#[test]
fn image_round_trips_with_history_and_ttls() {
    let mut s = V2Store::new();
    assert_eq!(V2Store::decode(&[]).unwrap(), s);
    ok(&mut s, create("/a/é", false, "1"));
    ok(&mut s, create("/a/è/x", false, "2"));
    ok(&mut s, create_ttl("/t", true, T0));
    ok(&mut s, set("/a/é", "3"));
    ok(&mut s, update("/t", "", Some(T0 + 5), true));
    let bytes = s.encode();
    let decoded = V2Store::decode(&bytes).unwrap();
    assert_eq!(decoded, s);
    assert_eq!(decoded.encode(), bytes);
    assert_eq!(decoded.next_expiration_ms(), Some(T0 + 5));
    assert!(V2Store::decode(&[2]).is_err());
    assert!(V2Store::decode(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn write_payloads_have_known_bytes() {
    let mut out = Vec::new();
    put_v2_write(
        &mut out,
        &V2Write::Create {
            path: "/q".into(),
            dir: false,
            value: "v".into(),
            unique: true,
            expire_ms: Some(1),
        },
    );
    assert_eq!(out, [2, 2, b'/', b'q', 1, b'v', 0x0c, 1]);
    let bytes = bytes::Bytes::from(out);
    let mut reader = crate::codec::wire::Reader::new(&bytes, 0);
    assert!(matches!(
        read_v2_write(&mut reader),
        Ok(V2Write::Create { unique: true, .. })
    ));
    let bad = bytes::Bytes::from_static(&[5, 1, b'/', 0x20]);
    assert!(read_v2_write(&mut crate::codec::wire::Reader::new(&bad, 0)).is_err());
}
