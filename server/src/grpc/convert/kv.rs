//! `KV`: range, put, delete-range, txn and compaction requests, checked as
//! etcd checks them, and their responses.
//!
//! Unknown enum values (protobuf keeps them as plain integers) are handled as
//! etcd 3.4's apply code does:
//!
//! * `sort_order` unknown: etcd fetches everything, picks a sorter, but calls
//!   neither ascending nor descending sort, so results stay in key order. We
//!   ask core for an ascending sort by key, which is the same order.
//! * `sort_target` unknown (with a known order): etcd calls `sort.Sort(nil)` and
//!   panics. cairn refuses with [`errors::UNKNOWN_SORT_TARGET`] instead, after
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
use cairn_core::member::Header;
use cairn_core::mvcc::{self, MvccError};
use cairn_proto::etcdserverpb as pb;
use tonic::Status;

use super::{filled, header, key_value, nested};
use crate::grpc::errors::{self, EtcdError};

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// `KV.Range`: etcd's checkRangeRequest, then the conversion.
pub fn range_request(request: pb::RangeRequest) -> Result<mvcc::RangeRequest, Status> {
    let mut refused = None;
    let range = range(request, &mut refused);
    mvcc::validate_range(&range).map_err(|error| errors::mvcc_error(&error))?;
    refusal(range, refused)
}

/// `KV.Put`: etcd's checkPutRequest, then the conversion.
pub fn put_request(request: pb::PutRequest) -> Result<mvcc::PutRequest, Status> {
    let put = put(request);
    mvcc::validate_put(&put).map_err(|error| errors::mvcc_error(&error))?;
    Ok(put)
}

/// `KV.DeleteRange`: etcd's checkDeleteRequest, then the conversion.
pub fn delete_range_request(
    request: pb::DeleteRangeRequest,
) -> Result<mvcc::DeleteRangeRequest, Status> {
    let delete = delete_range(request);
    mvcc::validate_delete(&delete).map_err(|error| errors::mvcc_error(&error))?;
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
        .map_err(|error| errors::mvcc_error(&error))?;
    // Sizes and keys pass again here (same shape, same budget); what this adds
    // is the overlap check, which etcd also runs only after the others.
    mvcc::validate_txn(&txn, max_txn_ops).map_err(|error| errors::mvcc_error(&error))?;
    refusal(txn, refused)
}

/// `KV.Compact`: `(revision, physical)`. etcd checks nothing before raft (the
/// store refuses compacted and future revisions); the `Result` keeps the shape
/// of the other request conversions.
pub fn compaction_request(request: pb::CompactionRequest) -> Result<(i64, bool), Status> {
    Ok((request.revision, request.physical))
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
            refused.get_or_insert(errors::UNKNOWN_SORT_TARGET);
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
