//! Conversions between etcd's protobuf messages (`cairn-proto`) and cairn-core's
//! plain types, with the checks etcd's gRPC layer makes before a request reaches
//! raft (`etcdserver/api/v3rpc/key.go`).
//!
//! Requests go protobuf → core and are checked on the way, in etcd's order, so
//! a request with several faults gets the error etcd would send. The checks
//! themselves are core's ([`mvcc::validate_range`] and friends); this file adds
//! only what a core type cannot express: a `RequestOp` with no request, and
//! enum values etcd does not know.
//!
//! Responses go core → protobuf with etcd's headers:
//!
//! ```text
//!  outermost response    cluster_id, member_id, raft_term of this member;
//!                        revision = the store's (after the write) or, if 0,
//!                        the member's current revision (etcd's header.fill)
//!  ops inside a txn      revision only; a nested txn's header is all zeros
//!  member list           no revision (etcd's ClusterServer.header)
//! ```
//!
//! Unknown enum values (protobuf keeps them as plain integers) are handled as
//! etcd 3.4's apply code does:
//!
//! * `sort_order` unknown: etcd fetches everything, picks a sorter, but calls
//!   neither ascending nor descending sort, so results stay in key order. We
//!   ask core for an ascending sort by key, which is the same order.
//! * `sort_target` unknown (with a known order): etcd calls `sort.Sort(nil)` and
//!   panics. cairn refuses with [`status::UNKNOWN_SORT_TARGET`] instead, after
//!   every check etcd would make first.
//! * compare `target` unknown: etcd compares nothing, so the outcome is `0 op 0`
//!   for every key (EQUAL holds, the others fail), and an unknown `result`
//!   holds whatever the target. We give core an equivalent compare that always
//!   holds or never does.
//! * compare `result` unknown with a known target: etcd holds for every key,
//!   except that a VALUE compare on a range with no keys fails; for VALUE we
//!   give core "create_revision > 0", which holds exactly when the range has a
//!   key.
//!
//! A compare whose `target_union` does not match its `target` compares against
//! zero (or the empty value), as in etcd: `mvcc::CompareTarget` carries the
//! target with a zero value.

use bytes::Bytes;
use cairn_core::member::{AlarmKind, ClientRequest, Header, MemberStatus, StatusInfo};
use cairn_core::mvcc::{self, KvHash, MvccError};
use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;
use tonic::Status;

use super::status::{self, EtcdError};

/// The etcd version `Maintenance.Status` reports: the API cairn implements.
/// Clients (etcdctl, the Go client's version checks) parse it as semver.
pub const ETCD_VERSION: &str = "3.4.0";

/// The text `Maintenance.Status` lists in `errors` when the member knows no
/// leader (etcd's `etcdserver.ErrNoLeader`).
const NO_LEADER_TEXT: &str = "etcdserver: no leader";

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// `KV.Range`: etcd's checkRangeRequest, then the conversion.
pub fn range_request(request: pb::RangeRequest) -> Result<mvcc::RangeRequest, Status> {
    let mut refused = None;
    let range = range(request, &mut refused);
    mvcc::validate_range(&range).map_err(|error| status::mvcc_error(&error))?;
    refusal(range, refused)
}

/// `KV.Put`: etcd's checkPutRequest, then the conversion.
pub fn put_request(request: pb::PutRequest) -> Result<mvcc::PutRequest, Status> {
    let put = put(request);
    mvcc::validate_put(&put).map_err(|error| status::mvcc_error(&error))?;
    Ok(put)
}

/// `KV.DeleteRange`: etcd's checkDeleteRequest, then the conversion.
pub fn delete_range_request(
    request: pb::DeleteRangeRequest,
) -> Result<mvcc::DeleteRangeRequest, Status> {
    let delete = delete_range(request);
    mvcc::validate_delete(&delete).map_err(|error| status::mvcc_error(&error))?;
    Ok(delete)
}

/// `KV.Txn`: etcd's checkTxnRequest (sizes against `max_txn_ops`, i.e.
/// `--max-txn-ops`, empty keys, empty `RequestOp`s, recursively and in etcd's
/// order), then checkIntervals (a key put twice, or put and deleted, in one
/// branch).
pub fn txn_request(
    request: pb::TxnRequest,
    max_txn_ops: usize,
) -> Result<mvcc::TxnRequest, Status> {
    let mut refused = None;
    let txn = checked_txn(request, max_txn_ops, &mut refused)
        .map_err(|error| status::mvcc_error(&error))?;
    // Sizes and keys pass again here (same shape, same budget); what this adds
    // is the overlap check, which etcd also runs only after the others.
    mvcc::validate_txn(&txn, max_txn_ops).map_err(|error| status::mvcc_error(&error))?;
    refusal(txn, refused)
}

/// `KV.Compact`: `(revision, physical)`. etcd checks nothing before raft (the
/// store refuses compacted and future revisions); the `Result` keeps the shape
/// of the other request conversions.
pub fn compaction_request(request: pb::CompactionRequest) -> Result<(i64, bool), Status> {
    Ok((request.revision, request.physical))
}

/// `Maintenance.HashKV`.
pub fn hash_kv_request(request: pb::HashKvRequest) -> ClientRequest {
    ClientRequest::HashKv {
        revision: request.revision,
    }
}

fn refusal<T>(converted: T, refused: Option<EtcdError>) -> Result<T, Status> {
    match refused {
        None => Ok(converted),
        Some(error) => Err(error.status()),
    }
}

/// Converts a txn and checks it as etcd's checkTxnRequest/checkRequestOp do:
/// op count of this level against the budget, then compare keys, then each op
/// of success and failure in order, nested txns with the budget left over.
fn checked_txn(
    request: pb::TxnRequest,
    max_ops: usize,
    refused: &mut Option<EtcdError>,
) -> Result<mvcc::TxnRequest, MvccError> {
    let budget = mvcc::check_txn_level(
        request.compare.len(),
        request.success.len(),
        request.failure.len(),
        request.compare.iter().any(|compare| compare.key.is_empty()),
        max_ops,
    )?;
    let compare = request.compare.into_iter().map(compare).collect();
    let success = checked_ops(request.success, budget, refused)?;
    let failure = checked_ops(request.failure, budget, refused)?;
    Ok(mvcc::TxnRequest {
        compare,
        success,
        failure,
    })
}

fn checked_ops(
    ops: Vec<pb::RequestOp>,
    budget: usize,
    refused: &mut Option<EtcdError>,
) -> Result<Vec<mvcc::RequestOp>, MvccError> {
    use pb::request_op::Request;
    ops.into_iter()
        .map(|op| match op.request {
            // etcd: "empty op / nil entry".
            None => Err(MvccError::KeyNotFound),
            Some(Request::RequestRange(request)) => {
                let range = range(request, refused);
                mvcc::validate_range(&range)?;
                Ok(mvcc::RequestOp::Range(range))
            }
            Some(Request::RequestPut(request)) => {
                let put = put(request);
                mvcc::validate_put(&put)?;
                Ok(mvcc::RequestOp::Put(put))
            }
            Some(Request::RequestDeleteRange(request)) => {
                let delete = delete_range(request);
                mvcc::validate_delete(&delete)?;
                Ok(mvcc::RequestOp::DeleteRange(delete))
            }
            Some(Request::RequestTxn(request)) => {
                checked_txn(request, budget, refused).map(mvcc::RequestOp::Txn)
            }
        })
        .collect()
}

/// Converts a range; an unknown sort target is noted in `refused` (the first
/// one wins) and sorted by key meanwhile.
fn range(request: pb::RangeRequest, refused: &mut Option<EtcdError>) -> mvcc::RangeRequest {
    use pb::range_request::{SortOrder, SortTarget};
    let order = SortOrder::try_from(request.sort_order).ok();
    let target = SortTarget::try_from(request.sort_target).ok();
    let (sort_order, sort_target) = match (order, target) {
        (Some(order), Some(target)) => (sort_order(order), sort_target(target)),
        // etcd sorts with neither order: key order, as an ascending key sort.
        (None, _) => (mvcc::SortOrder::Ascend, mvcc::SortTarget::Key),
        (Some(_), None) => {
            refused.get_or_insert(status::UNKNOWN_SORT_TARGET);
            (mvcc::SortOrder::None, mvcc::SortTarget::Key)
        }
    };
    mvcc::RangeRequest {
        key: request.key,
        range_end: request.range_end,
        limit: request.limit,
        revision: request.revision,
        sort_order,
        sort_target,
        serializable: request.serializable,
        keys_only: request.keys_only,
        count_only: request.count_only,
        min_mod_revision: request.min_mod_revision,
        max_mod_revision: request.max_mod_revision,
        min_create_revision: request.min_create_revision,
        max_create_revision: request.max_create_revision,
    }
}

fn sort_order(order: pb::range_request::SortOrder) -> mvcc::SortOrder {
    use pb::range_request::SortOrder;
    match order {
        SortOrder::None => mvcc::SortOrder::None,
        SortOrder::Ascend => mvcc::SortOrder::Ascend,
        SortOrder::Descend => mvcc::SortOrder::Descend,
    }
}

fn sort_target(target: pb::range_request::SortTarget) -> mvcc::SortTarget {
    use pb::range_request::SortTarget;
    match target {
        SortTarget::Key => mvcc::SortTarget::Key,
        SortTarget::Version => mvcc::SortTarget::Version,
        SortTarget::Create => mvcc::SortTarget::Create,
        SortTarget::Mod => mvcc::SortTarget::Mod,
        SortTarget::Value => mvcc::SortTarget::Value,
    }
}

fn put(request: pb::PutRequest) -> mvcc::PutRequest {
    mvcc::PutRequest {
        key: request.key,
        value: request.value,
        lease: request.lease,
        prev_kv: request.prev_kv,
        ignore_value: request.ignore_value,
        ignore_lease: request.ignore_lease,
    }
}

fn delete_range(request: pb::DeleteRangeRequest) -> mvcc::DeleteRangeRequest {
    mvcc::DeleteRangeRequest {
        key: request.key,
        range_end: request.range_end,
        prev_kv: request.prev_kv,
    }
}

fn compare(compare: pb::Compare) -> mvcc::Compare {
    use pb::compare::{CompareResult, CompareTarget};
    let target = CompareTarget::try_from(compare.target).ok();
    let result = CompareResult::try_from(compare.result).ok();
    match (target, result) {
        (Some(target), Some(result)) => mvcc::Compare {
            key: compare.key,
            range_end: compare.range_end,
            result: compare_result(result),
            target: compare_target(target, compare.target_union),
        },
        // Unknown target: etcd's outcome is `0 result 0` for every key.
        (None, Some(CompareResult::Equal) | None) => always(compare.key, true),
        (None, Some(_)) => always(compare.key, false),
        // Unknown result, VALUE: fails on a range without keys, else holds.
        (Some(CompareTarget::Value), None) => mvcc::Compare {
            key: compare.key,
            range_end: compare.range_end,
            result: mvcc::CompareResult::Greater,
            target: mvcc::CompareTarget::Create(0),
        },
        // Unknown result, other targets: holds for any key, present or not.
        (Some(_), None) => always(compare.key, true),
    }
}

/// A compare on `key` alone that always holds (`version > -1`) or never does
/// (`version < 0`): versions are never negative, and an absent key compares
/// as version 0.
fn always(key: Bytes, holds: bool) -> mvcc::Compare {
    let (result, version) = if holds {
        (mvcc::CompareResult::Greater, -1)
    } else {
        (mvcc::CompareResult::Less, 0)
    };
    mvcc::Compare {
        key,
        range_end: Bytes::new(),
        result,
        target: mvcc::CompareTarget::Version(version),
    }
}

fn compare_result(result: pb::compare::CompareResult) -> mvcc::CompareResult {
    use pb::compare::CompareResult;
    match result {
        CompareResult::Equal => mvcc::CompareResult::Equal,
        CompareResult::Greater => mvcc::CompareResult::Greater,
        CompareResult::Less => mvcc::CompareResult::Less,
        CompareResult::NotEqual => mvcc::CompareResult::NotEqual,
    }
}

/// The target with its value; a union of another kind (or none) means zero or
/// the empty value, as etcd's compareKV reads it.
fn compare_target(
    target: pb::compare::CompareTarget,
    union: Option<pb::compare::TargetUnion>,
) -> mvcc::CompareTarget {
    use pb::compare::{CompareTarget, TargetUnion};
    match (target, union) {
        (CompareTarget::Version, Some(TargetUnion::Version(version))) => {
            mvcc::CompareTarget::Version(version)
        }
        (CompareTarget::Version, _) => mvcc::CompareTarget::Version(0),
        (CompareTarget::Create, Some(TargetUnion::CreateRevision(revision))) => {
            mvcc::CompareTarget::Create(revision)
        }
        (CompareTarget::Create, _) => mvcc::CompareTarget::Create(0),
        (CompareTarget::Mod, Some(TargetUnion::ModRevision(revision))) => {
            mvcc::CompareTarget::Mod(revision)
        }
        (CompareTarget::Mod, _) => mvcc::CompareTarget::Mod(0),
        (CompareTarget::Value, Some(TargetUnion::Value(value))) => {
            mvcc::CompareTarget::Value(value)
        }
        (CompareTarget::Value, _) => mvcc::CompareTarget::Value(Bytes::new()),
        (CompareTarget::Lease, Some(TargetUnion::Lease(lease))) => {
            mvcc::CompareTarget::Lease(lease)
        }
        (CompareTarget::Lease, _) => mvcc::CompareTarget::Lease(0),
    }
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/// The member's header as it stands.
pub fn header(header: &Header) -> pb::ResponseHeader {
    pb::ResponseHeader {
        cluster_id: header.cluster_id,
        member_id: header.member_id,
        revision: header.revision,
        raft_term: header.raft_term,
    }
}

/// etcd's `header.fill` on an outermost response: the store's revision when
/// it set one, else the member's current revision.
fn filled(member: &Header, revision: i64) -> Option<pb::ResponseHeader> {
    let revision = if revision != 0 {
        revision
    } else {
        member.revision
    };
    Some(pb::ResponseHeader {
        revision,
        ..header(member)
    })
}

/// The header of a response inside a txn: the store's revision and nothing else.
fn nested(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        revision,
        ..pb::ResponseHeader::default()
    })
}

pub fn range_response(member: &Header, response: mvcc::RangeResponse) -> pb::RangeResponse {
    let header = filled(member, response.header.revision);
    range_body(header, response)
}

pub fn put_response(member: &Header, response: mvcc::PutResponse) -> pb::PutResponse {
    let header = filled(member, response.header.revision);
    put_body(header, response)
}

pub fn delete_range_response(
    member: &Header,
    response: mvcc::DeleteRangeResponse,
) -> pb::DeleteRangeResponse {
    let header = filled(member, response.header.revision);
    delete_range_body(header, response)
}

pub fn txn_response(member: &Header, response: mvcc::TxnResponse) -> pb::TxnResponse {
    let header = filled(member, response.header.revision);
    txn_body(header, response)
}

/// `KV.Compact`: the member's current revision (etcd reads it after compacting).
pub fn compaction_response(member: &Header) -> pb::CompactionResponse {
    pb::CompactionResponse {
        header: Some(header(member)),
    }
}

/// `Cluster.MemberList`. etcd's cluster responses carry no revision.
pub fn member_list_response(member: &Header, members: Vec<MemberStatus>) -> pb::MemberListResponse {
    pb::MemberListResponse {
        header: Some(pb::ResponseHeader {
            revision: 0,
            ..header(member)
        }),
        members: members.into_iter().map(member_of).collect(),
    }
}

/// etcd's Member: ID, name, peerURLs, clientURLs, isLearner. A member that has
/// not published its attributes yet has an empty name and no client URLs.
pub fn member_of(member: MemberStatus) -> pb::Member {
    pb::Member {
        id: member.id,
        name: member.name,
        peer_ur_ls: member.peer_urls,
        client_ur_ls: member.client_urls,
        is_learner: member.is_learner,
    }
}

/// `Maintenance.Status`; `errors` lists "etcdserver: no leader" when the
/// member knows no leader, as etcd's does (alarms would follow; cairn raises
/// none).
pub fn status_response(member: &Header, info: StatusInfo) -> pb::StatusResponse {
    let mut errors = if info.leader == 0 {
        vec![NO_LEADER_TEXT.to_owned()]
    } else {
        Vec::new()
    };
    // etcd lists each active alarm in its protobuf text form.
    for &(member_id, kind) in &info.alarms {
        let name = match kind {
            AlarmKind::NoSpace => "NOSPACE",
            AlarmKind::Corrupt => "CORRUPT",
        };
        errors.push(format!("memberID:{member_id} alarm:{name} "));
    }
    pb::StatusResponse {
        header: Some(header(member)),
        version: ETCD_VERSION.to_owned(),
        db_size: info.db_size,
        leader: info.leader,
        raft_index: info.raft_index,
        raft_term: info.raft_term,
        raft_applied_index: info.raft_applied_index,
        errors,
        db_size_in_use: info.db_size_in_use,
        is_learner: info.is_learner,
    }
}

/// `Maintenance.Hash`: the hash of the whole store at the current revision.
pub fn hash_response(member: &Header, hash: u32) -> pb::HashResponse {
    pb::HashResponse {
        header: Some(header(member)),
        hash,
    }
}

/// `Maintenance.HashKV`: the header carries the store's current revision (as
/// etcd's HashByRev returns it), not the revision hashed up to.
pub fn hash_kv_response(member: &Header, hash: KvHash) -> pb::HashKvResponse {
    pb::HashKvResponse {
        header: filled(member, hash.current_revision),
        hash: hash.hash,
        compact_revision: hash.compact_revision,
    }
}

/// `Maintenance.Alarm`: cairn raises no alarms. (etcd 3.4 sends this response
/// with no header at all, which makes `etcdctl alarm list -w fields` crash on
/// a nil pointer; like etcd 3.5, we fill it.)
pub fn alarm_response(member: &Header, alarms: &[(u64, AlarmKind)]) -> pb::AlarmResponse {
    pb::AlarmResponse {
        header: Some(header(member)),
        alarms: alarms
            .iter()
            .map(|&(member_id, kind)| pb::AlarmMember {
                member_id,
                alarm: alarm_type(kind) as i32,
            })
            .collect(),
    }
}

/// etcd's protobuf alarm type for cairn's.
pub fn alarm_type(kind: AlarmKind) -> pb::AlarmType {
    match kind {
        AlarmKind::NoSpace => pb::AlarmType::Nospace,
        AlarmKind::Corrupt => pb::AlarmType::Corrupt,
    }
}

/// cairn's alarm kind for etcd's protobuf alarm type (`None` for NONE).
pub fn alarm_kind(alarm: i32) -> Option<AlarmKind> {
    match pb::AlarmType::try_from(alarm) {
        Ok(pb::AlarmType::Nospace) => Some(AlarmKind::NoSpace),
        Ok(pb::AlarmType::Corrupt) => Some(AlarmKind::Corrupt),
        _ => None,
    }
}

pub fn key_value(kv: mvcc::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

/// A watch event. A delete's `kv` holds the key and the delete's revision.
pub fn event(event: mvcc::Event) -> mvccpb::Event {
    let kind = match event.kind {
        mvcc::EventKind::Put => mvccpb::event::EventType::Put,
        mvcc::EventKind::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event {
        r#type: kind.into(),
        kv: Some(key_value(event.kv)),
        prev_kv: event.prev_kv.map(key_value),
    }
}

fn range_body(
    header: Option<pb::ResponseHeader>,
    response: mvcc::RangeResponse,
) -> pb::RangeResponse {
    pb::RangeResponse {
        header,
        kvs: response.kvs.into_iter().map(key_value).collect(),
        more: response.more,
        count: response.count,
    }
}

fn put_body(header: Option<pb::ResponseHeader>, response: mvcc::PutResponse) -> pb::PutResponse {
    pb::PutResponse {
        header,
        prev_kv: response.prev_kv.map(key_value),
    }
}

fn delete_range_body(
    header: Option<pb::ResponseHeader>,
    response: mvcc::DeleteRangeResponse,
) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header,
        deleted: response.deleted,
        prev_kvs: response.prev_kvs.into_iter().map(key_value).collect(),
    }
}

fn txn_body(header: Option<pb::ResponseHeader>, response: mvcc::TxnResponse) -> pb::TxnResponse {
    use pb::response_op::Response;
    let responses = response
        .responses
        .into_iter()
        .map(|op| {
            let response = match op {
                mvcc::ResponseOp::Range(range) => {
                    Response::ResponseRange(range_body(nested(range.header.revision), range))
                }
                mvcc::ResponseOp::Put(put) => {
                    Response::ResponsePut(put_body(nested(put.header.revision), put))
                }
                mvcc::ResponseOp::DeleteRange(delete) => Response::ResponseDeleteRange(
                    delete_range_body(nested(delete.header.revision), delete),
                ),
                mvcc::ResponseOp::Txn(txn) => {
                    Response::ResponseTxn(txn_body(nested(txn.header.revision), txn))
                }
            };
            pb::ResponseOp {
                response: Some(response),
            }
        })
        .collect();
    pb::TxnResponse {
        header,
        succeeded: response.succeeded,
        responses,
    }
}

#[cfg(test)]
mod tests {
    use cairn_core::lease::{Lessor, LessorConfig};
    use cairn_core::mvcc::Store;
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    use pb::range_request::{SortOrder, SortTarget};
    use pb::request_op::Request;

    use super::*;

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
            assert_status(range_request(request), status::UNKNOWN_SORT_TARGET);
        }
        // An empty key is etcd's error and comes first.
        let request = pb::RangeRequest {
            sort_target: 9,
            ..pb_range("")
        };
        assert_status(range_request(request), status::EMPTY_KEY);
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
        assert_status(txn_request(request, 128), status::DUPLICATE_KEY);
        let request = pb_txn(vec![bad_range], vec![]);
        assert_status(txn_request(request, 128), status::UNKNOWN_SORT_TARGET);
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
        assert_status(range_request(pb_range("")), status::EMPTY_KEY);
        assert_status(delete_range_request(pb_delete("", "z")), status::EMPTY_KEY);
        assert_status(put_request(pb_put("")), status::EMPTY_KEY);
        let ignore_value = pb::PutRequest {
            ignore_value: true,
            ..pb_put("k")
        };
        assert_status(put_request(ignore_value), status::VALUE_PROVIDED);
        let ignore_lease = pb::PutRequest {
            ignore_lease: true,
            lease: 7,
            ..pb_put("k")
        };
        assert_status(put_request(ignore_lease), status::LEASE_PROVIDED);
        // etcd's order: key, then value, then lease.
        let everything = pb::PutRequest {
            key: Bytes::new(),
            ignore_value: true,
            ignore_lease: true,
            lease: 7,
            ..pb_put("")
        };
        assert_status(put_request(everything.clone()), status::EMPTY_KEY);
        let value_and_lease = pb::PutRequest {
            key: b("k"),
            ..everything
        };
        assert_status(put_request(value_and_lease), status::VALUE_PROVIDED);
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
            ClientRequest::HashKv { revision: 3 }
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
            status::TOO_MANY_OPS,
        );
        assert_status(
            txn_request(pb_txn(vec![], puts(129)), 128),
            status::TOO_MANY_OPS,
        );
        let compares = pb::TxnRequest {
            compare: (0..3).map(|_| pb_compare("k", 0, 0, None)).collect(),
            ..pb_txn(vec![], vec![])
        };
        assert_status(txn_request(compares.clone(), 2), status::TOO_MANY_OPS);
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
        assert_status(txn_request(outer(3), 4), status::TOO_MANY_OPS);
    }

    #[test]
    fn txn_checks_run_in_etcds_order() {
        let put = |key: &str| op(Request::RequestPut(pb_put(key)));
        // An op with no request: etcd's "key not found".
        assert_status(
            txn_request(pb_txn(vec![empty_op()], vec![]), 128),
            status::KEY_NOT_FOUND,
        );
        assert_status(
            txn_request(pb_txn(vec![], vec![empty_op()]), 128),
            status::KEY_NOT_FOUND,
        );
        // Ops are checked in order, success before failure.
        assert_status(
            txn_request(pb_txn(vec![empty_op(), put("")], vec![]), 128),
            status::KEY_NOT_FOUND,
        );
        assert_status(
            txn_request(pb_txn(vec![put(""), empty_op()], vec![]), 128),
            status::EMPTY_KEY,
        );
        assert_status(
            txn_request(pb_txn(vec![put("a")], vec![empty_op(), put("")]), 128),
            status::KEY_NOT_FOUND,
        );
        // Size, then compare keys, then ops.
        let compare_without_key = pb::TxnRequest {
            compare: vec![pb_compare("", 0, 0, None)],
            ..pb_txn(vec![empty_op()], vec![])
        };
        assert_status(
            txn_request(compare_without_key.clone(), 128),
            status::EMPTY_KEY,
        );
        assert_status(txn_request(compare_without_key, 0), status::TOO_MANY_OPS);
        // Nested: the same checks inside, in place.
        let nested = op(Request::RequestTxn(pb_txn(vec![empty_op()], vec![])));
        assert_status(
            txn_request(pb_txn(vec![nested.clone(), put("")], vec![]), 128),
            status::KEY_NOT_FOUND,
        );
        assert_status(
            txn_request(pb_txn(vec![put(""), nested], vec![]), 128),
            status::EMPTY_KEY,
        );
        // Every leaf check applies inside a txn.
        let range = op(Request::RequestRange(pb_range("")));
        assert_status(
            txn_request(pb_txn(vec![range], vec![]), 128),
            status::EMPTY_KEY,
        );
        let delete = op(Request::RequestDeleteRange(pb_delete("", "")));
        assert_status(
            txn_request(pb_txn(vec![delete], vec![]), 128),
            status::EMPTY_KEY,
        );
        let value = op(Request::RequestPut(pb::PutRequest {
            ignore_value: true,
            ..pb_put("k")
        }));
        assert_status(
            txn_request(pb_txn(vec![value], vec![]), 128),
            status::VALUE_PROVIDED,
        );
        let lease = op(Request::RequestPut(pb::PutRequest {
            ignore_lease: true,
            lease: 1,
            ..pb_put("k")
        }));
        assert_status(
            txn_request(pb_txn(vec![lease], vec![]), 128),
            status::LEASE_PROVIDED,
        );
        // Overlaps only after everything else.
        assert_status(
            txn_request(pb_txn(vec![put("a"), put("a")], vec![]), 128),
            status::DUPLICATE_KEY,
        );
        assert_status(
            txn_request(pb_txn(vec![put("a"), put("a"), empty_op()], vec![]), 128),
            status::KEY_NOT_FOUND,
        );
        let delete = op(Request::RequestDeleteRange(pb_delete("a", "c")));
        assert_status(
            txn_request(pb_txn(vec![put("b"), delete], vec![]), 128),
            status::DUPLICATE_KEY,
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
            version: "3.4.0".to_owned(),
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
}
