//! Request validation, as etcd's gRPC layer does it before proposing
//! (`v3rpc/key.go`: checkRangeRequest, checkPutRequest, checkDeleteRequest,
//! checkTxnRequest, checkIntervals). The store runs these again on apply; being
//! pure and deterministic, that cannot make members diverge.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::error::MvccError;
use super::types::{DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest};

pub fn validate_range(request: &RangeRequest) -> Result<(), MvccError> {
    if request.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    Ok(())
}

pub fn validate_put(request: &PutRequest) -> Result<(), MvccError> {
    if request.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    if request.ignore_value && !request.value.is_empty() {
        return Err(MvccError::ValueProvided);
    }
    if request.ignore_lease && request.lease != 0 {
        return Err(MvccError::LeaseProvided);
    }
    Ok(())
}

pub fn validate_delete(request: &DeleteRangeRequest) -> Result<(), MvccError> {
    if request.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    Ok(())
}

/// Checks sizes, keys and overlaps of a txn; `max_ops` is `--max-txn-ops`.
pub fn validate_txn(request: &TxnRequest, max_ops: usize) -> Result<(), MvccError> {
    check_txn(request, max_ops)?;
    // Overlaps are checked after sizes, which bounds their quadratic cost.
    check_intervals(&request.success)?;
    check_intervals(&request.failure)?;
    Ok(())
}

/// etcd's checks of one txn level, in etcd's order: the number of compares and
/// of ops in each branch against `max_ops`, then that every compare names a
/// key. Returns the budget left for nested txns (etcd passes it down).
pub fn check_txn_level(
    compares: usize,
    success: usize,
    failure: usize,
    any_compare_key_empty: bool,
    max_ops: usize,
) -> Result<usize, MvccError> {
    let ops = compares.max(success).max(failure);
    if ops > max_ops {
        return Err(MvccError::TooManyOps);
    }
    if any_compare_key_empty {
        return Err(MvccError::EmptyKey);
    }
    Ok(max_ops - ops)
}

fn check_txn(request: &TxnRequest, max_ops: usize) -> Result<(), MvccError> {
    let budget = check_txn_level(
        request.compare.len(),
        request.success.len(),
        request.failure.len(),
        request.compare.iter().any(|compare| compare.key.is_empty()),
        max_ops,
    )?;
    for op in request.success.iter().chain(&request.failure) {
        match op {
            RequestOp::Range(range) => validate_range(range)?,
            RequestOp::Put(put) => validate_put(put)?,
            RequestOp::DeleteRange(delete) => validate_delete(delete)?,
            RequestOp::Txn(txn) => check_txn(txn, budget)?,
        }
    }
    Ok(())
}

/// A deleted key interval `[begin, end)`; a single-key delete is `end = None`.
/// `end` compares literally, so a delete with range_end "\0" covers nothing here:
/// etcd 3.4's interval check has the same blind spot, and we match it.
struct Deleted {
    begin: Bytes,
    end: Option<Bytes>,
}

impl Deleted {
    fn covers(&self, key: &[u8]) -> bool {
        match &self.end {
            None => self.begin == key,
            Some(end) => self.begin[..] <= *key && *key < end[..],
        }
    }
}

fn deleted(intervals: &[Deleted], key: &[u8]) -> bool {
    intervals.iter().any(|interval| interval.covers(key))
}

/// etcd's checkIntervals: within one branch, no key may be put twice or both
/// put and deleted, nested txns included; a key put in both the success and the
/// failure branch of one nested txn is fine (only one runs).
fn check_intervals(ops: &[RequestOp]) -> Result<(BTreeSet<Bytes>, Vec<Deleted>), MvccError> {
    let mut deletes: Vec<Deleted> = ops
        .iter()
        .filter_map(|op| match op {
            RequestOp::DeleteRange(delete) => Some(Deleted {
                begin: delete.key.clone(),
                end: (!delete.range_end.is_empty()).then(|| delete.range_end.clone()),
            }),
            _ => None,
        })
        .collect();
    let mut puts: BTreeSet<Bytes> = BTreeSet::new();
    for op in ops {
        let RequestOp::Txn(txn) = op else { continue };
        let (puts_then, deletes_then) = check_intervals(&txn.success)?;
        let (puts_else, deletes_else) = check_intervals(&txn.failure)?;
        for key in &puts_then {
            if puts.contains(key) || deleted(&deletes, key) {
                return Err(MvccError::DuplicateKey);
            }
            puts.insert(key.clone());
        }
        for key in puts_else {
            if puts.contains(&key) && !puts_then.contains(&key) || deleted(&deletes, &key) {
                return Err(MvccError::DuplicateKey);
            }
            puts.insert(key);
        }
        deletes.extend(deletes_then);
        deletes.extend(deletes_else);
    }
    for op in ops {
        let RequestOp::Put(put) = op else { continue };
        if puts.contains(&put.key) || deleted(&deletes, &put.key) {
            return Err(MvccError::DuplicateKey);
        }
        puts.insert(put.key.clone());
    }
    Ok((puts, deletes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::types::{Compare, CompareResult, CompareTarget};

    fn put(key: &'static str) -> RequestOp {
        RequestOp::Put(PutRequest {
            key: Bytes::from_static(key.as_bytes()),
            ..PutRequest::default()
        })
    }

    fn delete(key: &'static str, end: &'static str) -> RequestOp {
        RequestOp::DeleteRange(DeleteRangeRequest {
            key: Bytes::from_static(key.as_bytes()),
            range_end: Bytes::from_static(end.as_bytes()),
            prev_kv: false,
        })
    }

    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare: Vec::new(),
            success,
            failure,
        }
    }

    #[test]
    fn duplicate_puts_and_put_delete_overlaps_are_refused() {
        let check = |t: TxnRequest| validate_txn(&t, 128);
        assert_eq!(
            check(txn(vec![put("a"), put("a")], vec![])),
            Err(MvccError::DuplicateKey)
        );
        assert_eq!(
            check(txn(vec![put("b"), delete("a", "c")], vec![])),
            Err(MvccError::DuplicateKey)
        );
        assert_eq!(
            check(txn(vec![delete("a", ""), delete("a", "c")], vec![])),
            Ok(())
        );
        assert_eq!(check(txn(vec![put("a")], vec![put("a")])), Ok(()));
        // Nested: then/else of one txn may share a key, but not with the outer level.
        let nested = RequestOp::Txn(txn(vec![put("x")], vec![put("x")]));
        assert_eq!(check(txn(vec![nested.clone()], vec![])), Ok(()));
        assert_eq!(
            check(txn(vec![nested, put("x")], vec![])),
            Err(MvccError::DuplicateKey)
        );
        // etcd's blind spot: a "\0" range end covers nothing in the overlap check.
        assert_eq!(
            check(txn(vec![put("b"), delete("a", "\0")], vec![])),
            Ok(())
        );
    }

    #[test]
    fn sizes_and_empty_keys() {
        let ops: Vec<RequestOp> = (0..129).map(|_| delete("a", "")).collect();
        assert_eq!(
            validate_txn(&txn(ops, vec![]), 128),
            Err(MvccError::TooManyOps)
        );
        let compare = Compare {
            key: Bytes::new(),
            range_end: Bytes::new(),
            result: CompareResult::Equal,
            target: CompareTarget::Version(0),
        };
        let request = TxnRequest {
            compare: vec![compare],
            ..TxnRequest::default()
        };
        assert_eq!(validate_txn(&request, 128), Err(MvccError::EmptyKey));
        // Nested txns get the remaining budget: 2 outer ops leave 1 for the inner txn.
        let inner = RequestOp::Txn(txn(vec![delete("a", ""), delete("b", "")], vec![]));
        assert_eq!(
            validate_txn(&txn(vec![inner, delete("c", "")], vec![]), 3),
            Err(MvccError::TooManyOps)
        );
        assert_eq!(
            validate_put(&PutRequest {
                key: Bytes::from_static(b"k"),
                ignore_value: true,
                value: Bytes::from_static(b"v"),
                ..PutRequest::default()
            }),
            Err(MvccError::ValueProvided)
        );
    }
}
