//! Cases of etcd's store_test.go: every write and its refusals, with etcd's
//! errors, causes and indexes (TTLs, history and watches: `tests_watch`).

use super::*;

/// A time after etcd's `minExpireTime` (2000-01-01).
pub(super) const T0: i64 = 1_700_000_000_000;

pub(super) fn set(path: &str, value: &str) -> V2Write {
    V2Write::Set {
        path: path.into(),
        dir: false,
        value: value.into(),
        expire_ms: None,
        refresh: false,
    }
}

pub(super) fn set_ttl(path: &str, value: &str, expire_ms: i64, refresh: bool) -> V2Write {
    V2Write::Set {
        path: path.into(),
        dir: false,
        value: value.into(),
        expire_ms: Some(expire_ms),
        refresh,
    }
}

pub(super) fn create(path: &str, dir: bool, value: &str) -> V2Write {
    V2Write::Create {
        path: path.into(),
        dir,
        value: value.into(),
        unique: false,
        expire_ms: None,
    }
}

pub(super) fn create_ttl(path: &str, dir: bool, expire_ms: i64) -> V2Write {
    V2Write::Create {
        path: path.into(),
        dir,
        value: String::new(),
        unique: false,
        expire_ms: Some(expire_ms),
    }
}

pub(super) fn update(path: &str, value: &str, expire_ms: Option<i64>, refresh: bool) -> V2Write {
    V2Write::Update {
        path: path.into(),
        value: value.into(),
        expire_ms,
        refresh,
    }
}

pub(super) fn cas(path: &str, prev_value: &str, prev_index: u64, value: &str) -> V2Write {
    V2Write::CompareAndSwap {
        path: path.into(),
        prev_value: prev_value.into(),
        prev_index,
        value: value.into(),
        expire_ms: None,
        refresh: false,
    }
}

pub(super) fn delete(path: &str, dir: bool, recursive: bool) -> V2Write {
    V2Write::Delete {
        path: path.into(),
        dir,
        recursive,
    }
}

pub(super) fn cad(path: &str, prev_value: &str, prev_index: u64) -> V2Write {
    V2Write::CompareAndDelete {
        path: path.into(),
        prev_value: prev_value.into(),
        prev_index,
    }
}

pub(super) fn ok(store: &mut V2Store, write: V2Write) -> V2Event {
    let mut events = store.apply(&write).expect("write succeeds");
    assert_eq!(events.len(), 1);
    events.remove(0)
}

pub(super) fn refused(store: &mut V2Store, write: V2Write) -> (u16, String, u64) {
    let before = store.clone();
    let error = store.apply(&write).expect_err("write refused");
    assert_eq!(*store, before, "a refused write changes nothing");
    (error.code, error.cause, error.index)
}

pub(super) fn get_error(store: &mut V2Store, path: &str) -> (u16, String, u64) {
    let error = store.get(path, false, false).expect_err("get refused");
    (error.code, error.cause, error.index)
}

pub(super) fn keys(nodes: &Option<Vec<V2Node>>) -> Vec<&str> {
    nodes.iter().flatten().map(|n| n.key.as_str()).collect()
}

#[test]
fn get_value_and_root() {
    let mut s = V2Store::new();
    ok(&mut s, create("/foo", false, "bar"));
    let e = s.get("/foo", false, false).unwrap();
    assert_eq!((e.action, e.etcd_index), (V2Action::Get, 1));
    assert_eq!(
        (e.node.key.as_str(), e.node.value.as_deref()),
        ("/foo", Some("bar"))
    );
    let root = s.get("/", false, false).unwrap();
    assert!(root.node.dir);
    assert_eq!((root.node.created_index, root.node.modified_index), (0, 0));
    assert_eq!(keys(&root.node.nodes), ["/foo"]);
    assert_eq!(s.get("//foo/./", false, false).unwrap().node.key, "/foo");
}

#[test]
fn get_directory_sorted_recursive_without_hidden_nodes() {
    let mut s = V2Store::new();
    ok(&mut s, create("/foo", true, ""));
    ok(&mut s, create("/foo/x", false, "0"));
    ok(&mut s, create("/foo/z", false, "0"));
    ok(&mut s, create("/foo/_hidden", false, "*"));
    ok(&mut s, create("/foo/y/a", false, "0"));
    ok(&mut s, create("/foo/y/_b", false, "0"));
    ok(&mut s, create_ttl("/foo/y/ttl", false, T0));
    let e = s.get("/foo", true, true).unwrap();
    assert_eq!(e.etcd_index, 7);
    assert_eq!(keys(&e.node.nodes), ["/foo/x", "/foo/y", "/foo/z"]);
    let y = &e.node.nodes.as_ref().unwrap()[1];
    assert_eq!(keys(&y.nodes), ["/foo/y/a", "/foo/y/ttl"]);
    assert_eq!(y.nodes.as_ref().unwrap()[1].expiration_ms, Some(T0));
    // Not recursive: one level, child directories without their nodes.
    let e = s.get("/foo", false, false).unwrap();
    assert_eq!(e.node.nodes.as_ref().unwrap()[1].nodes, None);
    // Hidden nodes are readable by their own path.
    assert_eq!(
        s.get("/foo/_hidden", false, false)
            .unwrap()
            .node
            .value
            .as_deref(),
        Some("*")
    );
    // An empty directory lists no nodes (Some: it is listed).
    ok(&mut s, create("/empty", true, ""));
    assert_eq!(
        s.get("/empty", true, false).unwrap().node.nodes,
        Some(Vec::new())
    );
}

#[test]
fn set_keys_and_directories() {
    let mut s = V2Store::new();
    let e = ok(&mut s, set("/foo", ""));
    assert_eq!(
        (e.action, e.etcd_index, e.node.modified_index),
        (V2Action::Set, 1, 1)
    );
    assert_eq!(
        (e.node.value.as_deref(), e.node.dir, e.prev_node),
        (Some(""), false, None)
    );
    let e = ok(&mut s, set("/foo", "bar"));
    assert_eq!(
        (e.etcd_index, e.node.created_index),
        (2, 2),
        "set replaces the node"
    );
    let prev = e.prev_node.unwrap();
    assert_eq!(
        (
            prev.key.as_str(),
            prev.value.as_deref(),
            prev.modified_index
        ),
        ("/foo", Some(""), 1)
    );
    let e = ok(&mut s, set("/a/b/c/d", "efg"));
    assert_eq!((e.etcd_index, e.node.key.as_str()), (3, "/a/b/c/d"));
    // Missing parents are created with the key's index.
    let a = s.get("/a/b", false, false).unwrap().node;
    assert!(a.dir);
    assert_eq!((a.created_index, a.modified_index), (3, 3));
    let e = ok(
        &mut s,
        V2Write::Set {
            path: "/dir".into(),
            dir: true,
            value: String::new(),
            expire_ms: None,
            refresh: false,
        },
    );
    assert!(e.node.dir && e.node.value.is_none());
    // A directory cannot be set (etcd: 102), nor anything below a key (104).
    assert_eq!(refused(&mut s, set("/dir", "x")), (102, "/dir".into(), 4));
    assert_eq!(
        refused(&mut s, set("/foo/bar", "x")),
        (104, "/foo".into(), 4)
    );
}

#[test]
fn create_and_its_refusals() {
    let mut s = V2Store::new();
    let e = ok(&mut s, create("/foo", false, "bar"));
    assert_eq!(
        (e.action, e.node.value.as_deref(), e.node.expiration_ms),
        (V2Action::Create, Some("bar"), None)
    );
    let e = ok(&mut s, create("/dir", true, ""));
    assert!(e.node.dir);
    assert_eq!(
        refused(&mut s, create("/dir", true, "")),
        (105, "/dir".into(), 2)
    );
    assert_eq!(
        refused(&mut s, create("/foo", false, "x")),
        (105, "/foo".into(), 2)
    );
    assert_eq!(
        refused(&mut s, create("/foo/x/y", false, "x")),
        (104, "/foo".into(), 2)
    );
}

#[test]
fn in_order_keys_are_named_by_their_index() {
    let mut s = V2Store::new();
    ok(&mut s, create("/other", false, ""));
    let unique = |path: &str| V2Write::Create {
        path: path.into(),
        dir: false,
        value: "job".into(),
        unique: true,
        expire_ms: None,
    };
    assert_eq!(
        ok(&mut s, unique("/queue")).node.key,
        "/queue/00000000000000000002"
    );
    assert_eq!(
        ok(&mut s, unique("/queue/")).node.key,
        "/queue/00000000000000000003"
    );
    assert_eq!(ok(&mut s, unique("")).node.key, "/00000000000000000004");
    assert_eq!(refused(&mut s, unique("/other")), (104, "/other".into(), 4));
}

#[test]
fn update_keys_and_directories() {
    let mut s = V2Store::new();
    ok(&mut s, create("/foo", false, "bar"));
    let e = ok(&mut s, update("/foo", "baz", None, false));
    assert_eq!(
        (
            e.action,
            e.etcd_index,
            e.node.modified_index,
            e.node.created_index
        ),
        (V2Action::Update, 2, 2, 1)
    );
    let prev = e.prev_node.unwrap();
    assert_eq!(
        (prev.value.as_deref(), prev.modified_index),
        (Some("bar"), 1)
    );
    assert_eq!(
        s.get("/foo", false, false).unwrap().node.value.as_deref(),
        Some("baz")
    );
    ok(&mut s, create("/dir/x", false, "x"));
    assert_eq!(
        refused(&mut s, update("/dir", "v", None, false)),
        (102, "/dir".into(), 3)
    );
    assert_eq!(
        refused(&mut s, update("/nope", "v", None, false)),
        (100, "/nope".into(), 3)
    );
    // A directory takes a TTL; its own modified index stays (as etcd's).
    let e = ok(&mut s, update("/dir", "", Some(T0), false));
    assert!(e.node.dir);
    assert_eq!((e.node.modified_index, e.node.expiration_ms), (4, Some(T0)));
    let dir = s.get("/dir", false, false).unwrap().node;
    assert_eq!((dir.modified_index, dir.expiration_ms), (3, Some(T0)));
    // An update without TTL makes the node permanent again.
    ok(&mut s, update("/dir", "", None, false));
    assert!(!s.has_ttl_keys());
}

#[test]
fn delete_keys_and_directories() {
    let mut s = V2Store::new();
    ok(&mut s, create("/foo", false, "bar"));
    let e = ok(&mut s, delete("/foo", false, false));
    assert_eq!(
        (
            e.action,
            e.etcd_index,
            e.node.modified_index,
            e.node.created_index
        ),
        (V2Action::Delete, 2, 2, 1)
    );
    assert_eq!(
        (e.node.value.clone(), e.prev_node.unwrap().value),
        (None, Some("bar".into()))
    );
    ok(&mut s, create("/dir", true, ""));
    assert_eq!(
        refused(&mut s, delete("/dir", false, false)),
        (102, "/dir".into(), 3)
    );
    let e = ok(&mut s, delete("/dir", true, false));
    assert!(e.node.dir && e.prev_node.unwrap().dir);
    ok(&mut s, create("/dir/sub/key", false, "v"));
    assert_eq!(
        refused(&mut s, delete("/dir", true, false)),
        (108, "/dir".into(), 5)
    );
    ok(&mut s, delete("/dir", false, true));
    assert_eq!(s.node_count(), 0);
    assert_eq!(
        refused(&mut s, delete("/dir", true, true)),
        (100, "/dir".into(), 6)
    );
}

#[test]
fn root_is_read_only() {
    let mut s = V2Store::new();
    for root in ["/", "", "/..", "//", "/a/.."] {
        let dir_set = V2Write::Set {
            path: root.into(),
            dir: true,
            value: String::new(),
            expire_ms: None,
            refresh: false,
        };
        assert_eq!(refused(&mut s, dir_set), (107, "/".into(), 0));
        assert_eq!(
            refused(&mut s, delete(root, true, true)),
            (107, "/".into(), 0)
        );
        assert_eq!(
            refused(&mut s, create(root, true, "")),
            (107, "/".into(), 0)
        );
        assert_eq!(
            refused(&mut s, update(root, "", None, false)),
            (107, "/".into(), 0)
        );
        assert_eq!(refused(&mut s, cas(root, "", 0, "")), (107, "/".into(), 0));
        // etcd's compare-and-delete has no read-only check: the root is a dir.
        assert_eq!(refused(&mut s, cad(root, "", 0)), (102, "/".into(), 0));
    }
}

#[test]
fn compare_and_swap_and_delete() {
    let mut s = V2Store::new();
    ok(&mut s, create("/foo", false, "bar"));
    assert_eq!(
        refused(&mut s, cas("/foo", "wrong", 0, "baz")),
        (101, "[wrong != bar]".into(), 1)
    );
    assert_eq!(
        refused(&mut s, cas("/foo", "", 100, "baz")),
        (101, "[100 != 1]".into(), 1)
    );
    assert_eq!(
        refused(&mut s, cas("/foo", "x", 7, "baz")),
        (101, "[x != bar] [7 != 1]".into(), 1)
    );
    let e = ok(&mut s, cas("/foo", "bar", 1, "baz"));
    assert_eq!(
        (e.action, e.etcd_index, e.node.value.as_deref()),
        (V2Action::CompareAndSwap, 2, Some("baz"))
    );
    let prev = e.prev_node.unwrap();
    assert_eq!(
        (
            prev.value.as_deref(),
            prev.modified_index,
            prev.created_index
        ),
        (Some("bar"), 1, 1)
    );
    assert_eq!(
        refused(&mut s, cad("/foo", "bar", 0)),
        (101, "[bar != baz]".into(), 2)
    );
    assert_eq!(
        refused(&mut s, cad("/foo", "", 100)),
        (101, "[100 != 2]".into(), 2)
    );
    let e = ok(&mut s, cad("/foo", "", 2));
    assert_eq!(
        (e.action, e.etcd_index, e.node.value.clone()),
        (V2Action::CompareAndDelete, 3, None)
    );
    ok(&mut s, create("/dir", true, ""));
    assert_eq!(
        refused(&mut s, cas("/dir", "", 0, "x")),
        (102, "/dir".into(), 4)
    );
    assert_eq!(refused(&mut s, cad("/dir", "", 0)), (102, "/dir".into(), 4));
    assert_eq!(
        refused(&mut s, cas("/nope", "a", 0, "x")),
        (100, "/nope".into(), 4)
    );
}

#[test]
fn lookup_errors_name_the_first_missing_node_or_the_key_in_the_way() {
    let mut s = V2Store::new();
    ok(&mut s, create("/foo", false, "bar"));
    assert_eq!(get_error(&mut s, "/missing"), (100, "/missing".into(), 1));
    assert_eq!(get_error(&mut s, "/a/b/c"), (100, "/a".into(), 1));
    assert_eq!(get_error(&mut s, "/foo/x/y"), (104, "/foo".into(), 1));
    assert_eq!(
        refused(&mut s, delete("/foo/x", false, false)),
        (104, "/foo".into(), 1)
    );
}

#[test]
fn keys_deeper_than_the_limit_are_refused() {
    let mut s = V2Store::new();
    let above = "/d".repeat(MAX_DEPTH - 1);
    ok(&mut s, set(&format!("{above}/k"), "v"));
    let (code, _, index) = refused(&mut s, set(&format!("{above}/e/x"), "v"));
    assert_eq!((code, index), (209, 1));
    assert_eq!(s.get("/", true, false).unwrap().etcd_index, 1);
}
