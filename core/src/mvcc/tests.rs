//! Scenario tests of etcd 3.4 semantics, each checking what etcd answers.

use bytes::Bytes;

use super::*;
use crate::lease::{Lessor, LessorConfig};
use crate::time::Instant;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// An applied write in tests, where dropping the events is fine.
struct Done<R> {
    response: R,
    events: Vec<Event>,
}

impl<R> From<Applied<R>> for Done<R> {
    fn from(applied: Applied<R>) -> Done<R> {
        Done {
            response: applied.response,
            events: applied.events,
        }
    }
}

struct Fixture {
    store: Store,
    leases: Lessor,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            store: Store::default(),
            leases: Lessor::new(LessorConfig { min_ttl_secs: 1 }),
        }
    }

    fn put(&mut self, key: &str, value: &str) -> Done<PutResponse> {
        let request = PutRequest {
            key: b(key),
            value: b(value),
            ..PutRequest::default()
        };
        self.store
            .put(&mut self.leases, &request)
            .expect("put")
            .into()
    }

    fn delete(&mut self, key: &str, end: &str) -> Done<DeleteRangeResponse> {
        let request = DeleteRangeRequest {
            key: b(key),
            range_end: b(end),
            prev_kv: true,
        };
        self.store
            .delete_range(&mut self.leases, &request)
            .expect("delete")
            .into()
    }

    fn range(&self, key: &str, end: &str) -> RangeResponse {
        self.store
            .range(&RangeRequest {
                key: b(key),
                range_end: b(end),
                ..RangeRequest::default()
            })
            .expect("range")
    }

    fn txn(&mut self, request: TxnRequest) -> Result<Done<TxnResponse>, MvccError> {
        self.store.txn(&mut self.leases, &request).map(Done::from)
    }
}

fn keys(response: &RangeResponse) -> Vec<String> {
    response
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

fn compare(key: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare {
        key: b(key),
        range_end: Bytes::new(),
        result,
        target,
    }
}

fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp::Put(PutRequest {
        key: b(key),
        value: b(value),
        ..PutRequest::default()
    })
}

#[test]
fn revisions_versions_and_generations_follow_etcd() {
    let mut f = Fixture::new();
    assert_eq!(
        f.store.current_revision(),
        1,
        "a fresh etcd is at revision 1"
    );
    assert_eq!(f.put("foo", "a").response.header.revision, 2);
    f.put("foo", "b");
    let kv = &f.range("foo", "").kvs[0];
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
    let deleted = f.delete("foo", "");
    assert_eq!(deleted.response.deleted, 1);
    assert_eq!(deleted.response.header.revision, 4);
    assert_eq!(deleted.response.prev_kvs[0].value, b("b"));
    f.put("foo", "c");
    let kv = &f.range("foo", "").kvs[0];
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
    // Old revisions still read the old generation.
    let old = f
        .store
        .range(&RangeRequest {
            key: b("foo"),
            revision: 3,
            ..RangeRequest::default()
        })
        .expect("range at 3");
    assert_eq!(old.kvs[0].value, b("b"));
    assert_eq!(
        old.header.revision, 5,
        "header carries the current revision"
    );
}

#[test]
fn deleting_nothing_takes_no_revision() {
    let mut f = Fixture::new();
    f.put("a", "1");
    let applied = f.delete("zzz", "");
    assert_eq!(applied.response.deleted, 0);
    assert_eq!(applied.response.header.revision, 2);
    assert!(applied.events.is_empty());
    assert_eq!(f.store.current_revision(), 2);
}

#[test]
fn range_end_special_cases() {
    let mut f = Fixture::new();
    for key in ["a", "ab", "abc", "b", "c"] {
        f.put(key, "v");
    }
    assert_eq!(keys(&f.range("ab", "")), ["ab"]);
    assert_eq!(keys(&f.range("ab", "\0")), ["ab", "abc", "b", "c"]);
    assert_eq!(
        keys(&f.range("a", "b")),
        ["a", "ab", "abc"],
        "prefix a via range_end b"
    );
    assert_eq!(keys(&f.range("\0", "\0")), ["a", "ab", "abc", "b", "c"]);
    assert_eq!(
        keys(&f.range("c", "a")),
        Vec::<String>::new(),
        "end before key"
    );
}

#[test]
fn limit_more_count_and_filters_interact_as_in_etcd() {
    let mut f = Fixture::new();
    for key in ["a", "b", "c", "d"] {
        f.put(key, key);
    }
    f.put("a", "a2"); // a: mod 6, version 2
    let range = |request: RangeRequest| f.store.range(&request).expect("range");
    let base = RangeRequest {
        key: b("a"),
        range_end: b("\0"),
        ..RangeRequest::default()
    };
    let limited = range(RangeRequest {
        limit: 2,
        ..base.clone()
    });
    assert_eq!(
        (keys(&limited), limited.more, limited.count),
        (vec!["a".into(), "b".into()], true, 4)
    );
    let exact = range(RangeRequest {
        limit: 4,
        ..base.clone()
    });
    assert!(!exact.more);
    // Count ignores filters: it is the number of keys in the range.
    let filtered = range(RangeRequest {
        min_mod_revision: 4,
        ..base.clone()
    });
    assert_eq!(
        (keys(&filtered), filtered.count),
        (vec!["a".into(), "c".into(), "d".into()], 4)
    );
    // Filters apply before the limit; `more` reflects the filtered set.
    let filtered_limited = range(RangeRequest {
        min_mod_revision: 4,
        limit: 2,
        ..base.clone()
    });
    assert_eq!(
        (keys(&filtered_limited), filtered_limited.more),
        (vec!["a".into(), "c".into()], true)
    );
    // A non-KEY target with order NONE sorts ascending.
    let by_mod = range(RangeRequest {
        sort_target: SortTarget::Mod,
        ..base.clone()
    });
    assert_eq!(keys(&by_mod), ["b", "c", "d", "a"]);
    let by_key_desc = range(RangeRequest {
        sort_order: SortOrder::Descend,
        limit: 1,
        ..base.clone()
    });
    assert_eq!(
        (keys(&by_key_desc), by_key_desc.more),
        (vec!["d".into()], true)
    );
    let count_only = range(RangeRequest {
        count_only: true,
        limit: 1,
        ..base.clone()
    });
    assert_eq!(
        (count_only.kvs.len(), count_only.count, count_only.more),
        (0, 4, false)
    );
    let keys_only = range(RangeRequest {
        keys_only: true,
        ..base
    });
    assert!(keys_only
        .kvs
        .iter()
        .all(|kv| kv.value.is_empty() && kv.version > 0));
}

#[test]
fn read_revision_errors() {
    let mut f = Fixture::new();
    for i in 0..5 {
        f.put("k", &i.to_string());
    }
    let at = |revision| {
        f.store.range(&RangeRequest {
            key: b("k"),
            revision,
            ..RangeRequest::default()
        })
    };
    assert_eq!(at(7).err(), Some(MvccError::FutureRevision));
    assert_eq!(at(2).map(|r| r.kvs[0].value.clone()), Ok(b("0")));
    assert_eq!(
        f.store
            .range(&RangeRequest::default())
            .err()
            .map(|e| e.to_string()),
        Some("etcdserver: key is not provided".to_string())
    );
}

#[test]
fn compaction_rules() {
    let mut f = Fixture::new();
    f.put("a", "1"); // 2
    f.put("a", "2"); // 3
    f.put("b", "1"); // 4
    f.delete("b", ""); // 5
    f.put("c", "1"); // 6
    assert_eq!(f.store.compact(7), Err(MvccError::FutureRevision));
    assert_eq!(f.store.compact(5), Ok(6));
    assert_eq!(f.store.compact(5), Err(MvccError::Compacted));
    assert_eq!(f.store.compact(4), Err(MvccError::Compacted));
    let at = |store: &Store, revision| {
        store.range(&RangeRequest {
            key: b("a"),
            range_end: b("\0"),
            revision,
            ..RangeRequest::default()
        })
    };
    assert_eq!(at(&f.store, 4).err(), Some(MvccError::Compacted));
    assert_eq!(
        MvccError::Compacted.to_string(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    let at5 = at(&f.store, 5).expect("compact revision itself is readable");
    assert_eq!(keys(&at5), ["a"]);
    assert_eq!(at5.kvs[0].version, 2);
    assert_eq!(f.store.key_count(), 2, "b's tombstone at 5 is gone");
}

#[test]
fn put_flags_and_leases() {
    let mut f = Fixture::new();
    let ignore_value = PutRequest {
        key: b("k"),
        ignore_value: true,
        ..PutRequest::default()
    };
    assert_eq!(
        f.store.put(&mut f.leases, &ignore_value).err(),
        Some(MvccError::KeyNotFound)
    );
    assert_eq!(f.store.current_revision(), 1);
    let leased = PutRequest {
        key: b("k"),
        value: b("v"),
        lease: 42,
        ..PutRequest::default()
    };
    assert_eq!(
        f.store.put(&mut f.leases, &leased).err(),
        Some(MvccError::LeaseNotFound)
    );
    f.leases.grant(42, 60, Instant::ZERO).expect("grant");
    let _ = f.store.put(&mut f.leases, &leased).expect("put with lease");
    let kept = PutRequest {
        key: b("k"),
        value: b("new"),
        ignore_lease: true,
        prev_kv: true,
        ..PutRequest::default()
    };
    let applied = f.store.put(&mut f.leases, &kept).expect("ignore lease");
    assert_eq!(applied.response.prev_kv.map(|kv| kv.value), Some(b("v")));
    assert_eq!(f.range("k", "").kvs[0].lease, 42);
    assert_eq!(
        f.store.put(&mut f.leases, &ignore_value).map(|_| ()),
        Ok(())
    );
    assert_eq!(f.range("k", "").kvs[0].value, b("new"));
    // Overwriting without a lease detaches the key.
    f.put("k", "plain");
    assert_eq!(f.leases.get(42).map(|l| l.keys().count()), Some(0));
}

#[test]
fn revoking_a_lease_deletes_its_keys_in_one_revision() {
    let mut f = Fixture::new();
    f.leases.grant(7, 60, Instant::ZERO).expect("grant");
    for key in ["b", "a", "c"] {
        let request = PutRequest {
            key: b(key),
            value: b("v"),
            lease: 7,
            ..PutRequest::default()
        };
        let _ = f.store.put(&mut f.leases, &request).expect("put");
    }
    f.put("d", "unleased");
    let applied = f.store.revoke_lease(&mut f.leases, 7).expect("revoke");
    assert_eq!(applied.response, 6);
    let deleted: Vec<_> = applied
        .events
        .iter()
        .map(|e| (e.kv.key.clone(), e.kv.mod_revision, e.sub_revision))
        .collect();
    assert_eq!(
        deleted,
        vec![(b("a"), 6, 0), (b("b"), 6, 1), (b("c"), 6, 2)]
    );
    assert_eq!(keys(&f.range("a", "\0")), ["d"]);
    assert_eq!(
        f.store.revoke_lease(&mut f.leases, 7).err(),
        Some(MvccError::LeaseNotFound)
    );
}

#[test]
fn txn_compares_like_etcd() {
    let mut f = Fixture::new();
    f.put("a", "1"); // 2
    f.put("b", "2"); // 3
    let run = |f: &mut Fixture, compare: Compare| {
        f.txn(TxnRequest {
            compare: vec![compare],
            ..TxnRequest::default()
        })
        .expect("txn")
        .response
        .succeeded
    };
    assert!(run(
        &mut f,
        compare("a", CompareResult::Equal, CompareTarget::Value(b("1")))
    ));
    assert!(run(
        &mut f,
        compare("a", CompareResult::Greater, CompareTarget::Value(b("0")))
    ));
    assert!(run(
        &mut f,
        compare("a", CompareResult::Equal, CompareTarget::Create(2))
    ));
    assert!(run(
        &mut f,
        compare("a", CompareResult::Less, CompareTarget::Mod(3))
    ));
    assert!(run(
        &mut f,
        compare("a", CompareResult::NotEqual, CompareTarget::Lease(5))
    ));
    // A missing key has version/create/mod/lease 0 and fails every VALUE compare.
    assert!(run(
        &mut f,
        compare("zz", CompareResult::Equal, CompareTarget::Version(0))
    ));
    assert!(run(
        &mut f,
        compare("zz", CompareResult::Equal, CompareTarget::Create(0))
    ));
    assert!(!run(
        &mut f,
        compare("zz", CompareResult::NotEqual, CompareTarget::Value(b("x")))
    ));
    assert!(!run(
        &mut f,
        compare(
            "zz",
            CompareResult::Equal,
            CompareTarget::Value(Bytes::new())
        )
    ));
    // On a range, every key must satisfy the compare.
    let mut over_range = compare("a", CompareResult::Greater, CompareTarget::Mod(1));
    over_range.range_end = b("c");
    assert!(run(&mut f, over_range.clone()));
    over_range.target = CompareTarget::Mod(2);
    assert!(!run(&mut f, over_range));
    assert_eq!(
        f.store.current_revision(),
        3,
        "read-only txns keep the revision"
    );
}

#[test]
fn txn_writes_share_one_revision_and_nested_txns_decide_up_front() {
    let mut f = Fixture::new();
    f.put("x", "0"); // 2
    let nested = TxnRequest {
        // Decided against the state before the outer txn: "x" is still "0".
        compare: vec![compare(
            "x",
            CompareResult::Equal,
            CompareTarget::Value(b("0")),
        )],
        success: vec![put_op("n", "then")],
        failure: vec![put_op("n", "else")],
    };
    let request = TxnRequest {
        compare: vec![compare(
            "x",
            CompareResult::Equal,
            CompareTarget::Version(1),
        )],
        success: vec![
            RequestOp::Range(RangeRequest {
                key: b("x"),
                ..RangeRequest::default()
            }),
            put_op("x", "1"),
            RequestOp::Range(RangeRequest {
                key: b("x"),
                ..RangeRequest::default()
            }),
            RequestOp::Txn(nested),
            RequestOp::DeleteRange(DeleteRangeRequest {
                key: b("nothing"),
                ..DeleteRangeRequest::default()
            }),
        ],
        failure: vec![],
    };
    let applied = f.txn(request).expect("txn");
    let response = applied.response;
    assert!(response.succeeded);
    assert_eq!(response.header.revision, 3);
    let ResponseOp::Range(before) = &response.responses[0] else {
        panic!()
    };
    assert_eq!(
        (before.header.revision, before.kvs[0].value.clone()),
        (2, b("0"))
    );
    let ResponseOp::Range(after) = &response.responses[2] else {
        panic!()
    };
    assert_eq!(
        (after.header.revision, after.kvs[0].value.clone()),
        (3, b("1"))
    );
    let ResponseOp::Txn(inner) = &response.responses[3] else {
        panic!()
    };
    assert!(inner.succeeded);
    assert_eq!(
        inner.header.revision, 0,
        "nested headers stay empty as in etcd"
    );
    let ResponseOp::DeleteRange(nothing) = &response.responses[4] else {
        panic!()
    };
    assert_eq!(nothing.header.revision, 3);
    assert_eq!(f.range("n", "").kvs[0].value, b("then"));
    let subs: Vec<_> = applied
        .events
        .iter()
        .map(|e| (e.kv.mod_revision, e.sub_revision))
        .collect();
    assert_eq!(subs, vec![(3, 0), (3, 1)]);
    assert_eq!(f.store.current_revision(), 3);
}

#[test]
fn txn_checks_fail_before_any_write() {
    let mut f = Fixture::new();
    f.put("a", "1");
    let request = TxnRequest {
        success: vec![
            put_op("b", "2"),
            RequestOp::Put(PutRequest {
                key: b("missing"),
                ignore_value: true,
                ..PutRequest::default()
            }),
        ],
        ..TxnRequest::default()
    };
    assert_eq!(f.txn(request).err(), Some(MvccError::KeyNotFound));
    let future = TxnRequest {
        success: vec![
            put_op("b", "2"),
            RequestOp::Range(RangeRequest {
                key: b("a"),
                revision: 99,
                ..RangeRequest::default()
            }),
        ],
        ..TxnRequest::default()
    };
    assert_eq!(f.txn(future).err(), Some(MvccError::FutureRevision));
    let duplicate = TxnRequest {
        success: vec![put_op("b", "2"), put_op("b", "3")],
        ..TxnRequest::default()
    };
    assert_eq!(
        f.txn(duplicate).err().map(|e| e.to_string()),
        Some("etcdserver: duplicate key given in txn request".to_string())
    );
    assert_eq!(f.store.current_revision(), 2);
    assert!(f.range("b", "").kvs.is_empty());
}

#[test]
fn events_and_history_carry_prev_kv() {
    let mut f = Fixture::new();
    let first = f.put("k", "1"); // 2
    assert_eq!(first.events[0].prev_kv, None);
    let second = f.put("k", "2"); // 3
    assert_eq!(
        second.events[0].prev_kv.as_ref().map(|kv| kv.value.clone()),
        Some(b("1"))
    );
    f.put("other", "x"); // 4
    let deleted = f.delete("k", ""); // 5
    assert_eq!(deleted.events[0].kind, EventKind::Delete);
    assert_eq!(deleted.events[0].kv.mod_revision, 5);
    assert_eq!(deleted.events[0].kv.version, 0);
    let history = f.store.events(b"k", b"", 3, 10).expect("history");
    let summary: Vec<_> = history
        .iter()
        .map(|e| {
            (
                e.kind,
                e.kv.mod_revision,
                e.prev_kv.as_ref().map(|kv| kv.mod_revision),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (EventKind::Put, 3, Some(2)),
            (EventKind::Delete, 5, Some(3))
        ]
    );
    let all = f.store.events(b"\0", b"\0", 0, 10).expect("history");
    let revisions: Vec<i64> = all.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(revisions, vec![2, 3, 4, 5]);
    f.store.compact(4).expect("compact");
    assert_eq!(
        f.store.events(b"k", b"", 3, 10).err(),
        Some(MvccError::Compacted)
    );
}

#[test]
fn hashes_agree_on_equal_histories_and_image_round_trips() {
    let build = |last: &str| {
        let mut f = Fixture::new();
        f.put("a", "1");
        f.put("b", "2");
        f.delete("a", "");
        f.put("c", last);
        f
    };
    let one = build("3");
    let two = build("3");
    let other = build("4");
    assert_eq!(one.store.hash(), two.store.hash());
    assert_ne!(one.store.hash(), other.store.hash());
    assert_eq!(
        one.store.hash_kv(4),
        other.store.hash_kv(4),
        "same history up to 4"
    );
    assert_ne!(
        one.store.hash_kv(0).map(|h| h.hash),
        other.store.hash_kv(0).map(|h| h.hash)
    );
    assert_eq!(one.store.hash_kv(9).err(), Some(MvccError::FutureRevision));

    let mut image = Vec::new();
    one.store.encode_image(&mut image);
    let image = Bytes::from(image);
    let decoded = Store::decode_image(&image, StoreConfig::default()).expect("decode");
    assert_eq!(decoded.hash(), one.store.hash());
    for cut in 0..image.len() {
        assert!(Store::decode_image(&image.slice(..cut), StoreConfig::default()).is_err());
    }
}

#[test]
fn too_many_ops() {
    let mut f = Fixture::new();
    f.store = Store::new(StoreConfig { max_txn_ops: 2 });
    let request = TxnRequest {
        success: vec![put_op("a", "1"), put_op("b", "1"), put_op("c", "1")],
        ..TxnRequest::default()
    };
    assert_eq!(f.txn(request).err(), Some(MvccError::TooManyOps));
}
