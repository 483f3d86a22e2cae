//! The conversions, checked against etcd's behaviour.

use bytes::Bytes;
use cairn_core::lease::{Lessor, LessorConfig};
use cairn_core::member::{calls, AlarmKind, MemberStatus, StatusInfo};
use cairn_core::mvcc::{KvHash, Store};
use pb::compare::{CompareResult, CompareTarget, TargetUnion};
use pb::range_request::{SortOrder, SortTarget};
use pb::request_op::Request;

use super::*;
use crate::grpc::errors::{self, EtcdError};
use tonic::Status;

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn assert_status(result: Result<impl std::fmt::Debug, Status>, expected: EtcdError) {
    let status = result.expect_err("the request must be refused");
    assert_eq!(
        (status.code(), status.message()),
        (expected.code, expected.message),
        "{}",
        expected.name
    );
}

fn pb_range(key: &str) -> pb::RangeRequest {
    pb::RangeRequest {
        key: b(key),
        ..pb::RangeRequest::default()
    }
}

fn pb_put(key: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: b(key),
        value: b("v"),
        ..pb::PutRequest::default()
    }
}

fn pb_delete(key: &str, end: &str) -> pb::DeleteRangeRequest {
    pb::DeleteRangeRequest {
        key: b(key),
        range_end: b(end),
        prev_kv: false,
    }
}

fn op(request: Request) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(request),
    }
}

fn empty_op() -> pb::RequestOp {
    pb::RequestOp { request: None }
}

fn pb_txn(success: Vec<pb::RequestOp>, failure: Vec<pb::RequestOp>) -> pb::TxnRequest {
    pb::TxnRequest {
        compare: Vec::new(),
        success,
        failure,
    }
}

fn pb_compare(key: &str, result: i32, target: i32, union: Option<TargetUnion>) -> pb::Compare {
    pb::Compare {
        result,
        target,
        key: b(key),
        target_union: union,
        range_end: Bytes::new(),
    }
}

// -- requests: every field --------------------------------------------

#[test]
fn range_request_carries_every_field() {
    let request = pb::RangeRequest {
        key: b("a"),
        range_end: b("z"),
        limit: 3,
        revision: 4,
        sort_order: SortOrder::Descend.into(),
        sort_target: SortTarget::Mod.into(),
        serializable: true,
        keys_only: true,
        count_only: true,
        min_mod_revision: 5,
        max_mod_revision: 6,
        min_create_revision: 7,
        max_create_revision: 8,
    };
    let expected = mvcc::RangeRequest {
        key: b("a"),
        range_end: b("z"),
        limit: 3,
        revision: 4,
        sort_order: mvcc::SortOrder::Descend,
        sort_target: mvcc::SortTarget::Mod,
        serializable: true,
        keys_only: true,
        count_only: true,
        min_mod_revision: 5,
        max_mod_revision: 6,
        min_create_revision: 7,
        max_create_revision: 8,
    };
    assert_eq!(range_request(request).unwrap(), expected);
}

#[test]
fn every_sort_order_and_target() {
    let orders = [
        (SortOrder::None, mvcc::SortOrder::None),
        (SortOrder::Ascend, mvcc::SortOrder::Ascend),
        (SortOrder::Descend, mvcc::SortOrder::Descend),
    ];
    let targets = [
        (SortTarget::Key, mvcc::SortTarget::Key),
        (SortTarget::Version, mvcc::SortTarget::Version),
        (SortTarget::Create, mvcc::SortTarget::Create),
        (SortTarget::Mod, mvcc::SortTarget::Mod),
        (SortTarget::Value, mvcc::SortTarget::Value),
    ];
    for (order, expected_order) in orders {
        for (target, expected_target) in targets {
            let request = pb::RangeRequest {
                sort_order: order.into(),
                sort_target: target.into(),
                ..pb_range("k")
            };
            let range = range_request(request).unwrap();
            assert_eq!(
                (range.sort_order, range.sort_target),
                (expected_order, expected_target)
            );
        }
    }
}

#[test]
fn unknown_sort_order_keeps_key_order_whatever_the_target() {
    for sort_order in [3, 7, -1, i32::MAX] {
        for sort_target in [0, 1, 4, 5, -2] {
            let request = pb::RangeRequest {
                sort_order,
                sort_target,
                ..pb_range("k")
            };
            let range = range_request(request).unwrap();
            assert_eq!(
                (range.sort_order, range.sort_target),
                (mvcc::SortOrder::Ascend, mvcc::SortTarget::Key),
                "order {sort_order} target {sort_target}"
            );
        }
    }
}

#[test]
fn unknown_sort_target_is_refused_after_etcds_own_checks() {
    for sort_order in [0, 1, 2] {
        let request = pb::RangeRequest {
            sort_order,
            sort_target: 5,
            ..pb_range("k")
        };
        assert_status(range_request(request), errors::UNKNOWN_SORT_TARGET);
    }
    // An empty key is etcd's error and comes first.
    let request = pb::RangeRequest {
        sort_target: 9,
        ..pb_range("")
    };
    assert_status(range_request(request), errors::EMPTY_KEY);
    // In a txn, after the overlap check too.
    let bad_range = op(Request::RequestRange(pb::RangeRequest {
        sort_target: 9,
        ..pb_range("k")
    }));
    let request = pb_txn(
        vec![
            bad_range.clone(),
            op(Request::RequestPut(pb_put("a"))),
            op(Request::RequestPut(pb_put("a"))),
        ],
        vec![],
    );
    assert_status(txn_request(request, 128), errors::DUPLICATE_KEY);
    let request = pb_txn(vec![bad_range], vec![]);
    assert_status(txn_request(request, 128), errors::UNKNOWN_SORT_TARGET);
}

#[test]
fn put_and_delete_carry_every_field() {
    let request = pb::PutRequest {
        key: b("k"),
        value: b("v"),
        lease: 42,
        prev_kv: true,
        ignore_value: false,
        ignore_lease: false,
    };
    let expected = mvcc::PutRequest {
        key: b("k"),
        value: b("v"),
        lease: 42,
        prev_kv: true,
        ignore_value: false,
        ignore_lease: false,
    };
    assert_eq!(put_request(request).unwrap(), expected);
    let request = pb::PutRequest {
        key: b("k"),
        value: Bytes::new(),
        lease: 0,
        prev_kv: false,
        ignore_value: true,
        ignore_lease: true,
    };
    let put = put_request(request).unwrap();
    assert!(put.ignore_value && put.ignore_lease && !put.prev_kv);

    let request = pb::DeleteRangeRequest {
        key: b("a"),
        range_end: b("\0"),
        prev_kv: true,
    };
    let expected = mvcc::DeleteRangeRequest {
        key: b("a"),
        range_end: b("\0"),
        prev_kv: true,
    };
    assert_eq!(delete_range_request(request).unwrap(), expected);
}

#[test]
fn single_request_checks_have_etcds_texts() {
    assert_status(range_request(pb_range("")), errors::EMPTY_KEY);
    assert_status(delete_range_request(pb_delete("", "z")), errors::EMPTY_KEY);
    assert_status(put_request(pb_put("")), errors::EMPTY_KEY);
    let ignore_value = pb::PutRequest {
        ignore_value: true,
        ..pb_put("k")
    };
    assert_status(put_request(ignore_value), errors::VALUE_PROVIDED);
    let ignore_lease = pb::PutRequest {
        ignore_lease: true,
        lease: 7,
        ..pb_put("k")
    };
    assert_status(put_request(ignore_lease), errors::LEASE_PROVIDED);
    // etcd's order: key, then value, then lease.
    let everything = pb::PutRequest {
        key: Bytes::new(),
        ignore_value: true,
        ignore_lease: true,
        lease: 7,
        ..pb_put("")
    };
    assert_status(put_request(everything.clone()), errors::EMPTY_KEY);
    let value_and_lease = pb::PutRequest {
        key: b("k"),
        ..everything
    };
    assert_status(put_request(value_and_lease), errors::VALUE_PROVIDED);
}

#[test]
fn compaction_and_hash_kv_requests() {
    let request = pb::CompactionRequest {
        revision: 9,
        physical: true,
    };
    assert_eq!(compaction_request(request).unwrap(), (9, true));
    assert_eq!(
        hash_kv_request(pb::HashKvRequest { revision: 3 }),
        calls::HashKv { revision: 3 }
    );
}

// -- compares -----------------------------------------------------------

const RESULTS: [(CompareResult, mvcc::CompareResult); 4] = [
    (CompareResult::Equal, mvcc::CompareResult::Equal),
    (CompareResult::Greater, mvcc::CompareResult::Greater),
    (CompareResult::Less, mvcc::CompareResult::Less),
    (CompareResult::NotEqual, mvcc::CompareResult::NotEqual),
];

fn unions() -> [(CompareTarget, TargetUnion, mvcc::CompareTarget); 5] {
    [
        (
            CompareTarget::Version,
            TargetUnion::Version(3),
            mvcc::CompareTarget::Version(3),
        ),
        (
            CompareTarget::Create,
            TargetUnion::CreateRevision(4),
            mvcc::CompareTarget::Create(4),
        ),
        (
            CompareTarget::Mod,
            TargetUnion::ModRevision(5),
            mvcc::CompareTarget::Mod(5),
        ),
        (
            CompareTarget::Value,
            TargetUnion::Value(b("x")),
            mvcc::CompareTarget::Value(b("x")),
        ),
        (
            CompareTarget::Lease,
            TargetUnion::Lease(6),
            mvcc::CompareTarget::Lease(6),
        ),
    ]
}

fn zero(target: CompareTarget) -> mvcc::CompareTarget {
    match target {
        CompareTarget::Version => mvcc::CompareTarget::Version(0),
        CompareTarget::Create => mvcc::CompareTarget::Create(0),
        CompareTarget::Mod => mvcc::CompareTarget::Mod(0),
        CompareTarget::Value => mvcc::CompareTarget::Value(Bytes::new()),
        CompareTarget::Lease => mvcc::CompareTarget::Lease(0),
    }
}

fn convert_compare(compare: pb::Compare) -> mvcc::Compare {
    let request = pb::TxnRequest {
        compare: vec![compare],
        success: Vec::new(),
        failure: Vec::new(),
    };
    let mut txn = txn_request(request, 128).unwrap();
    txn.compare.pop().unwrap()
}

#[test]
fn every_compare_result_and_target_with_its_union() {
    for (result, expected_result) in RESULTS {
        for (target, union, expected_target) in unions() {
            let compare = pb::Compare {
                range_end: b("z"),
                ..pb_compare("a", result.into(), target.into(), Some(union))
            };
            let expected = mvcc::Compare {
                key: b("a"),
                range_end: b("z"),
                result: expected_result,
                target: expected_target,
            };
            assert_eq!(convert_compare(compare), expected);
        }
    }
}

#[test]
fn a_union_of_another_kind_or_none_compares_against_zero() {
    for (target, _, _) in unions() {
        for (_, union, _) in unions() {
            let matching = CompareTarget::try_from(match union {
                TargetUnion::Version(_) => 0,
                TargetUnion::CreateRevision(_) => 1,
                TargetUnion::ModRevision(_) => 2,
                TargetUnion::Value(_) => 3,
                TargetUnion::Lease(_) => 4,
            })
            .unwrap();
            if matching == target {
                continue;
            }
            let compare = pb_compare("k", 0, target.into(), Some(union));
            assert_eq!(convert_compare(compare).target, zero(target));
        }
        let compare = pb_compare("k", 0, target.into(), None);
        assert_eq!(convert_compare(compare).target, zero(target));
    }
}

/// A store holding `k` (version 1, create 2, mod 2, value "v", no lease)
/// and nothing else; runs a txn with one compare and says which branch ran.
fn holds(compare: pb::Compare) -> bool {
    let mut store = Store::default();
    let mut leases = Lessor::new(LessorConfig { min_ttl_secs: 1 });
    let put = mvcc::PutRequest {
        key: b("k"),
        value: b("v"),
        ..mvcc::PutRequest::default()
    };
    let _events = store.put(&mut leases, &put).unwrap();
    let request = pb::TxnRequest {
        compare: vec![compare],
        success: Vec::new(),
        failure: Vec::new(),
    };
    let txn = txn_request(request, 128).unwrap();
    store.txn(&mut leases, &txn).unwrap().response.succeeded
}

/// etcd's compareKV/applyCompare, restated: the outcome for an unknown
/// target or result, on a present key ("k") and an absent one ("nope").
#[test]
fn unknown_compare_enums_behave_as_etcd() {
    let results = [0, 1, 2, 3, 4, -1, 99];
    let targets = [0, 1, 2, 3, 4, 5, -1, 99];
    for result in results {
        for target in targets {
            let known_result = (0..=3).contains(&result);
            let known_target = (0..=4).contains(&target);
            if known_result && known_target {
                continue;
            }
            for (key, present) in [("k", true), ("nope", false)] {
                let expected = if !known_target {
                    // result := 0; EQUAL holds, the others fail, unknown holds.
                    result == 0 || !known_result
                } else {
                    // Unknown result holds, but VALUE on no keys fails first.
                    target != 3 || present
                };
                let compare = pb_compare(key, result, target, Some(TargetUnion::Version(1)));
                assert_eq!(
                    holds(compare),
                    expected,
                    "result {result} target {target} key {key}"
                );
            }
        }
    }
}

#[test]
fn unknown_result_on_value_over_a_range_holds_iff_the_range_has_keys() {
    let compare = |end: &str| pb::Compare {
        range_end: b(end),
        ..pb_compare("a", 7, CompareTarget::Value.into(), None)
    };
    assert!(holds(compare("z")));
    assert!(!holds(compare("b")));
}

#[test]
fn known_compares_run_against_the_store() {
    let value = |result: CompareResult, value: &str| {
        pb_compare(
            "k",
            result.into(),
            CompareTarget::Value.into(),
            Some(TargetUnion::Value(b(value))),
        )
    };
    assert!(holds(value(CompareResult::Equal, "v")));
    assert!(holds(value(CompareResult::Greater, "u")));
    assert!(holds(value(CompareResult::Less, "w")));
    assert!(holds(value(CompareResult::NotEqual, "x")));
    // Mismatched union: VERSION against 0, and "k" has version 1.
    let mismatched = pb_compare(
        "k",
        CompareResult::Greater.into(),
        CompareTarget::Version.into(),
        Some(TargetUnion::Value(b("zzz"))),
    );
    assert!(holds(mismatched));
}

// -- txns -----------------------------------------------------------------

#[test]
fn nested_txns_convert_recursively() {
    let inner = pb::TxnRequest {
        compare: vec![pb_compare(
            "c",
            CompareResult::Less.into(),
            CompareTarget::Mod.into(),
            Some(TargetUnion::ModRevision(9)),
        )],
        success: vec![op(Request::RequestPut(pb_put("p")))],
        failure: vec![op(Request::RequestDeleteRange(pb_delete("d", "e")))],
    };
    let outer = pb::TxnRequest {
        compare: Vec::new(),
        success: vec![
            op(Request::RequestRange(pb_range("r"))),
            op(Request::RequestTxn(inner)),
        ],
        failure: vec![op(Request::RequestTxn(pb_txn(vec![], vec![])))],
    };
    let expected_inner = mvcc::TxnRequest {
        compare: vec![mvcc::Compare {
            key: b("c"),
            range_end: Bytes::new(),
            result: mvcc::CompareResult::Less,
            target: mvcc::CompareTarget::Mod(9),
        }],
        success: vec![mvcc::RequestOp::Put(mvcc::PutRequest {
            key: b("p"),
            value: b("v"),
            ..mvcc::PutRequest::default()
        })],
        failure: vec![mvcc::RequestOp::DeleteRange(mvcc::DeleteRangeRequest {
            key: b("d"),
            range_end: b("e"),
            prev_kv: false,
        })],
    };
    let expected = mvcc::TxnRequest {
        compare: Vec::new(),
        success: vec![
            mvcc::RequestOp::Range(mvcc::RangeRequest {
                key: b("r"),
                ..mvcc::RangeRequest::default()
            }),
            mvcc::RequestOp::Txn(expected_inner),
        ],
        failure: vec![mvcc::RequestOp::Txn(mvcc::TxnRequest::default())],
    };
    assert_eq!(txn_request(outer, 128).unwrap(), expected);
}

#[test]
fn txn_sizes_follow_max_txn_ops() {
    let puts = |n: usize| -> Vec<pb::RequestOp> {
        (0..n)
            .map(|i| op(Request::RequestPut(pb_put(&format!("k{i}")))))
            .collect()
    };
    assert!(txn_request(pb_txn(puts(128), puts(128)), 128).is_ok());
    assert_status(
        txn_request(pb_txn(puts(129), vec![]), 128),
        errors::TOO_MANY_OPS,
    );
    assert_status(
        txn_request(pb_txn(vec![], puts(129)), 128),
        errors::TOO_MANY_OPS,
    );
    let compares = pb::TxnRequest {
        compare: (0..3).map(|_| pb_compare("k", 0, 0, None)).collect(),
        ..pb_txn(vec![], vec![])
    };
    assert_status(txn_request(compares.clone(), 2), errors::TOO_MANY_OPS);
    assert!(txn_request(compares, 3).is_ok());
    // A nested txn gets what its parent leaves: 4 - 2 = 2 here.
    let nested = |n| op(Request::RequestTxn(pb_txn(puts(n), vec![])));
    let outer = |n| {
        pb_txn(
            vec![nested(n), op(Request::RequestRange(pb_range("r")))],
            vec![],
        )
    };
    assert!(txn_request(outer(2), 4).is_ok());
    assert_status(txn_request(outer(3), 4), errors::TOO_MANY_OPS);
}

#[test]
fn txn_checks_run_in_etcds_order() {
    let put = |key: &str| op(Request::RequestPut(pb_put(key)));
    // An op with no request: etcd's "key not found".
    assert_status(
        txn_request(pb_txn(vec![empty_op()], vec![]), 128),
        errors::KEY_NOT_FOUND,
    );
    assert_status(
        txn_request(pb_txn(vec![], vec![empty_op()]), 128),
        errors::KEY_NOT_FOUND,
    );
    // Ops are checked in order, success before failure.
    assert_status(
        txn_request(pb_txn(vec![empty_op(), put("")], vec![]), 128),
        errors::KEY_NOT_FOUND,
    );
    assert_status(
        txn_request(pb_txn(vec![put(""), empty_op()], vec![]), 128),
        errors::EMPTY_KEY,
    );
    assert_status(
        txn_request(pb_txn(vec![put("a")], vec![empty_op(), put("")]), 128),
        errors::KEY_NOT_FOUND,
    );
    // Size, then compare keys, then ops.
    let compare_without_key = pb::TxnRequest {
        compare: vec![pb_compare("", 0, 0, None)],
        ..pb_txn(vec![empty_op()], vec![])
    };
    assert_status(
        txn_request(compare_without_key.clone(), 128),
        errors::EMPTY_KEY,
    );
    assert_status(txn_request(compare_without_key, 0), errors::TOO_MANY_OPS);
    // Nested: the same checks inside, in place.
    let nested = op(Request::RequestTxn(pb_txn(vec![empty_op()], vec![])));
    assert_status(
        txn_request(pb_txn(vec![nested.clone(), put("")], vec![]), 128),
        errors::KEY_NOT_FOUND,
    );
    assert_status(
        txn_request(pb_txn(vec![put(""), nested], vec![]), 128),
        errors::EMPTY_KEY,
    );
    // Every leaf check applies inside a txn.
    let range = op(Request::RequestRange(pb_range("")));
    assert_status(
        txn_request(pb_txn(vec![range], vec![]), 128),
        errors::EMPTY_KEY,
    );
    let delete = op(Request::RequestDeleteRange(pb_delete("", "")));
    assert_status(
        txn_request(pb_txn(vec![delete], vec![]), 128),
        errors::EMPTY_KEY,
    );
    let value = op(Request::RequestPut(pb::PutRequest {
        ignore_value: true,
        ..pb_put("k")
    }));
    assert_status(
        txn_request(pb_txn(vec![value], vec![]), 128),
        errors::VALUE_PROVIDED,
    );
    let lease = op(Request::RequestPut(pb::PutRequest {
        ignore_lease: true,
        lease: 1,
        ..pb_put("k")
    }));
    assert_status(
        txn_request(pb_txn(vec![lease], vec![]), 128),
        errors::LEASE_PROVIDED,
    );
    // Overlaps only after everything else.
    assert_status(
        txn_request(pb_txn(vec![put("a"), put("a")], vec![]), 128),
        errors::DUPLICATE_KEY,
    );
    assert_status(
        txn_request(pb_txn(vec![put("a"), put("a"), empty_op()], vec![]), 128),
        errors::KEY_NOT_FOUND,
    );
    let delete = op(Request::RequestDeleteRange(pb_delete("a", "c")));
    assert_status(
        txn_request(pb_txn(vec![put("b"), delete], vec![]), 128),
        errors::DUPLICATE_KEY,
    );
    assert!(txn_request(pb_txn(vec![put("a")], vec![put("a")]), 128).is_ok());
}

// -- responses -----------------------------------------------------------

const MEMBER: Header = Header {
    cluster_id: 11,
    member_id: 22,
    revision: 33,
    raft_term: 44,
};

fn kv(key: &str) -> mvcc::KeyValue {
    mvcc::KeyValue {
        key: b(key),
        create_revision: 2,
        mod_revision: 3,
        version: 4,
        value: b("value"),
        lease: 5,
    }
}

fn pb_kv(key: &str) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: b(key),
        create_revision: 2,
        mod_revision: 3,
        version: 4,
        value: b("value"),
        lease: 5,
    }
}

fn pb_header(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        cluster_id: 11,
        member_id: 22,
        revision,
        raft_term: 44,
    })
}

fn revision_only(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        cluster_id: 0,
        member_id: 0,
        revision,
        raft_term: 0,
    })
}

#[test]
fn header_and_key_value_carry_every_field() {
    assert_eq!(Some(header(&MEMBER)), pb_header(33));
    assert_eq!(key_value(kv("k")), pb_kv("k"));
}

#[test]
fn outermost_headers_take_the_store_revision_else_the_members() {
    let response = mvcc::RangeResponse {
        header: mvcc::ResponseHeader { revision: 7 },
        kvs: vec![kv("a"), kv("b")],
        more: true,
        count: 5,
    };
    let expected = pb::RangeResponse {
        header: pb_header(7),
        kvs: vec![pb_kv("a"), pb_kv("b")],
        more: true,
        count: 5,
    };
    assert_eq!(range_response(&MEMBER, response), expected);
    let response = mvcc::RangeResponse::default();
    assert_eq!(range_response(&MEMBER, response).header, pb_header(33));

    let response = mvcc::PutResponse {
        header: mvcc::ResponseHeader { revision: 34 },
        prev_kv: Some(kv("p")),
    };
    let expected = pb::PutResponse {
        header: pb_header(34),
        prev_kv: Some(pb_kv("p")),
    };
    assert_eq!(put_response(&MEMBER, response), expected);
    let response = mvcc::PutResponse::default();
    let converted = put_response(&MEMBER, response);
    assert_eq!((converted.header, converted.prev_kv), (pb_header(33), None));

    let response = mvcc::DeleteRangeResponse {
        header: mvcc::ResponseHeader { revision: 35 },
        deleted: 2,
        prev_kvs: vec![kv("d"), kv("e")],
    };
    let expected = pb::DeleteRangeResponse {
        header: pb_header(35),
        deleted: 2,
        prev_kvs: vec![pb_kv("d"), pb_kv("e")],
    };
    assert_eq!(delete_range_response(&MEMBER, response), expected);
    let response = mvcc::DeleteRangeResponse::default();
    assert_eq!(
        delete_range_response(&MEMBER, response).header,
        pb_header(33)
    );
}

#[test]
fn txn_responses_nest_with_revision_only_headers() {
    use pb::response_op::Response;
    let inner = mvcc::TxnResponse {
        header: mvcc::ResponseHeader::default(),
        succeeded: false,
        responses: vec![mvcc::ResponseOp::DeleteRange(mvcc::DeleteRangeResponse {
            header: mvcc::ResponseHeader { revision: 40 },
            deleted: 1,
            prev_kvs: vec![kv("d")],
        })],
    };
    let response = mvcc::TxnResponse {
        header: mvcc::ResponseHeader { revision: 40 },
        succeeded: true,
        responses: vec![
            mvcc::ResponseOp::Range(mvcc::RangeResponse {
                header: mvcc::ResponseHeader { revision: 40 },
                kvs: vec![kv("r")],
                more: false,
                count: 1,
            }),
            mvcc::ResponseOp::Put(mvcc::PutResponse {
                header: mvcc::ResponseHeader { revision: 40 },
                prev_kv: None,
            }),
            mvcc::ResponseOp::Txn(inner),
        ],
    };
    let op = |response| pb::ResponseOp {
        response: Some(response),
    };
    let expected_inner = pb::TxnResponse {
        header: revision_only(0),
        succeeded: false,
        responses: vec![op(Response::ResponseDeleteRange(pb::DeleteRangeResponse {
            header: revision_only(40),
            deleted: 1,
            prev_kvs: vec![pb_kv("d")],
        }))],
    };
    let expected = pb::TxnResponse {
        header: pb_header(40),
        succeeded: true,
        responses: vec![
            op(Response::ResponseRange(pb::RangeResponse {
                header: revision_only(40),
                kvs: vec![pb_kv("r")],
                more: false,
                count: 1,
            })),
            op(Response::ResponsePut(pb::PutResponse {
                header: revision_only(40),
                prev_kv: None,
            })),
            op(Response::ResponseTxn(expected_inner)),
        ],
    };
    assert_eq!(txn_response(&MEMBER, response), expected);
    // A read-only txn on an empty response still gets the member's revision.
    let converted = txn_response(&MEMBER, mvcc::TxnResponse::default());
    assert_eq!(converted.header, pb_header(33));
}

#[test]
fn txn_responses_from_the_store_round_trip() {
    let mut store = Store::default();
    let mut leases = Lessor::new(LessorConfig { min_ttl_secs: 1 });
    let request = pb_txn(
        vec![
            op(Request::RequestPut(pb_put("a"))),
            op(Request::RequestTxn(pb_txn(
                vec![op(Request::RequestRange(pb_range("a")))],
                vec![],
            ))),
        ],
        vec![],
    );
    let txn = txn_request(request, 128).unwrap();
    let applied = store.txn(&mut leases, &txn).unwrap().response;
    let converted = txn_response(&MEMBER, applied);
    assert_eq!(converted.header, pb_header(2));
    assert!(converted.succeeded);
    let Some(pb::response_op::Response::ResponseTxn(nested)) = &converted.responses[1].response
    else {
        panic!("expected a nested txn response: {converted:?}");
    };
    assert_eq!(nested.header, revision_only(0));
    let Some(pb::response_op::Response::ResponseRange(range)) = &nested.responses[0].response
    else {
        panic!("expected a range response: {nested:?}");
    };
    assert_eq!(range.kvs.len(), 1);
    assert_eq!(range.header, revision_only(2));
}

#[test]
fn maintenance_and_cluster_responses() {
    assert_eq!(
        compaction_response(&MEMBER),
        pb::CompactionResponse {
            header: pb_header(33)
        }
    );
    let members = vec![
        MemberStatus {
            id: 1,
            name: "one".to_owned(),
            peer_urls: vec!["http://127.0.0.1:2380".to_owned()],
            client_urls: vec!["http://127.0.0.1:2379".to_owned()],
            is_learner: false,
        },
        MemberStatus {
            id: 2,
            name: String::new(),
            peer_urls: vec!["http://127.0.0.2:2380".to_owned()],
            client_urls: Vec::new(),
            is_learner: true,
        },
    ];
    let expected = pb::MemberListResponse {
        header: pb_header(0),
        members: vec![
            pb::Member {
                id: 1,
                name: "one".to_owned(),
                peer_ur_ls: vec!["http://127.0.0.1:2380".to_owned()],
                client_ur_ls: vec!["http://127.0.0.1:2379".to_owned()],
                is_learner: false,
            },
            pb::Member {
                id: 2,
                name: String::new(),
                peer_ur_ls: vec!["http://127.0.0.2:2380".to_owned()],
                client_ur_ls: Vec::new(),
                is_learner: true,
            },
        ],
    };
    assert_eq!(member_list_response(&MEMBER, members), expected);

    let info = StatusInfo {
        leader: 22,
        raft_index: 100,
        raft_term: 44,
        raft_applied_index: 99,
        db_size: 4096,
        db_size_in_use: 2048,
        is_learner: false,
        alarms: vec![(MEMBER.member_id, AlarmKind::NoSpace)],
    };
    let expected = pb::StatusResponse {
        header: pb_header(33),
        version: ETCD_VERSION.to_owned(),
        db_size: 4096,
        leader: 22,
        raft_index: 100,
        raft_term: 44,
        raft_applied_index: 99,
        errors: vec!["memberID:22 alarm:NOSPACE ".to_owned()],
        db_size_in_use: 2048,
        is_learner: false,
    };
    assert_eq!(status_response(&MEMBER, info.clone()), expected);
    let leaderless = StatusInfo {
        leader: 0,
        is_learner: true,
        ..info
    };
    let converted = status_response(&MEMBER, leaderless);
    assert_eq!(
        converted.errors,
        vec![
            "etcdserver: no leader".to_owned(),
            "memberID:22 alarm:NOSPACE ".to_owned()
        ]
    );
    assert!(converted.is_learner);

    assert_eq!(
        hash_response(&MEMBER, 0xdead_beef),
        pb::HashResponse {
            header: pb_header(33),
            hash: 0xdead_beef
        }
    );
    let kv_hash = KvHash {
        hash: 7,
        hash_revision: 20,
        current_revision: 30,
        compact_revision: -1,
    };
    assert_eq!(
        hash_kv_response(&MEMBER, kv_hash),
        pb::HashKvResponse {
            header: pb_header(30),
            hash: 7,
            compact_revision: -1
        }
    );
    assert_eq!(
        alarm_response(&MEMBER, &[]),
        pb::AlarmResponse {
            header: pb_header(33),
            alarms: Vec::new()
        }
    );
}

#[test]
fn version_parses_as_semver() {
    let parts: Vec<u64> = ETCD_VERSION
        .split('.')
        .map(|part| part.parse().unwrap())
        .collect();
    assert_eq!(parts, vec![3, 4, 0]);
}

#[test]
fn events() {
    let put = mvcc::Event {
        kind: mvcc::EventKind::Put,
        kv: kv("k"),
        prev_kv: Some(kv("k")),
        sub_revision: 0,
    };
    let expected = mvccpb::Event {
        r#type: mvccpb::event::EventType::Put.into(),
        kv: Some(pb_kv("k")),
        prev_kv: Some(pb_kv("k")),
    };
    assert_eq!(event(put), expected);
    let delete = mvcc::Event {
        kind: mvcc::EventKind::Delete,
        kv: mvcc::KeyValue {
            key: b("k"),
            mod_revision: 9,
            ..mvcc::KeyValue::default()
        },
        prev_kv: None,
        sub_revision: 1,
    };
    let converted = event(delete);
    assert_eq!(converted.r#type, 1);
    assert_eq!(converted.prev_kv, None);
    assert_eq!(converted.kv.unwrap().mod_revision, 9);
}
