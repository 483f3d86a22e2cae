//! Writes: put, delete-range, txn and lease revocation, each one write
//! transaction (etcd's `storeTxnWrite`) that takes one main revision if it changes
//! anything, with a sub revision per change.
//!
//! Lease rules (etcd's `storeTxnWrite.put/delete`): a put detaches the key from
//! its previous lease and attaches it to the new one; a delete detaches it.

use bytes::Bytes;

use super::error::MvccError;
use super::key_index::KeyIndex;
use super::revision::Revision;
use super::store::{Applied, KeyRange, Store};
use super::txn_check::{validate_delete, validate_put, validate_txn};
use super::types::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, Event,
    EventKind, KeyValue, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use crate::lease::{LeaseId, Lessor, NO_LEASE};

/// One write transaction in progress.
///
/// Invariant: the index holds this transaction's changes at main revision
/// `begin + 1`; `store.current_revision` is still `begin` until [`finish`].
struct WriteTxn<'a> {
    store: &'a mut Store,
    leases: &'a mut Lessor,
    begin: i64,
    events: Vec<Event>,
}

impl<'a> WriteTxn<'a> {
    fn new(store: &'a mut Store, leases: &'a mut Lessor) -> WriteTxn<'a> {
        let begin = store.current_revision;
        WriteTxn {
            store,
            leases,
            begin,
            events: Vec::new(),
        }
    }

    /// The newest revision reads in this transaction see.
    fn view(&self) -> i64 {
        if self.events.is_empty() {
            self.begin
        } else {
            self.begin + 1
        }
    }

    fn finish<R>(self, response: R) -> Applied<R> {
        if !self.events.is_empty() {
            self.store.current_revision = self.begin + 1;
        }
        Applied {
            response,
            events: self.events,
        }
    }

    fn range(&self, request: &RangeRequest) -> Result<RangeResponse, MvccError> {
        self.store.range_in_view(request, self.view())
    }

    /// etcd's `applierV3backend.Put` inside a transaction. Fails before changing
    /// anything.
    fn put(&mut self, request: &PutRequest) -> Result<PutResponse, MvccError> {
        let needs_previous = request.ignore_value || request.ignore_lease || request.prev_kv;
        let previous = needs_previous
            .then(|| self.store.get(&request.key, self.view()))
            .flatten();
        if (request.ignore_value || request.ignore_lease) && previous.is_none() {
            return Err(MvccError::KeyNotFound);
        }
        let value = match (&previous, request.ignore_value) {
            (Some(previous), true) => previous.value.clone(),
            _ => Bytes::copy_from_slice(&request.value),
        };
        let lease = match (&previous, request.ignore_lease) {
            (Some(previous), true) => previous.lease,
            _ => request.lease,
        };
        self.put_key(&request.key, value, lease);
        Ok(PutResponse {
            header: ResponseHeader {
                revision: self.begin + 1,
            },
            prev_kv: if request.prev_kv { previous } else { None },
        })
    }

    fn put_key(&mut self, key: &Bytes, value: Bytes, lease: LeaseId) {
        let revision = Revision::new(self.begin + 1, self.events.len() as i64);
        let previous = self.store.get(key, revision.main);
        match self.store.index.get_mut(&key[..]) {
            Some(index) => index.put(revision, value, lease),
            None => {
                let mut index = KeyIndex::default();
                index.put(revision, value, lease);
                // Copy the key so the index never pins a request's larger buffer.
                self.store.index.insert(Bytes::copy_from_slice(key), index);
            }
        }
        if let Some(old) = previous.as_ref().filter(|old| old.lease != NO_LEASE) {
            // etcd logs and ignores a failed detach; so do we.
            let _ = self.leases.detach(old.lease, key);
        }
        if lease != NO_LEASE {
            // Checked before the write began (and leases are revoked only through
            // the log), so this attaches; a miss would leave the key unattached.
            let _ = self.leases.attach(lease, key.clone());
        }
        let kv = self
            .store
            .get(key, revision.main)
            .expect("a key just put is live");
        self.events.push(Event {
            kind: EventKind::Put,
            kv,
            prev_kv: previous,
            sub_revision: revision.sub,
        });
    }

    /// etcd's `applierV3backend.DeleteRange` inside a transaction.
    fn delete_range(&mut self, request: &DeleteRangeRequest) -> DeleteRangeResponse {
        let range = KeyRange::new(&request.key, &request.range_end);
        let (live, _) = self.store.collect(range, self.view(), 0, false);
        for kv in &live {
            self.delete_key(kv.clone());
        }
        let changed = !live.is_empty() || !self.events.is_empty();
        DeleteRangeResponse {
            header: ResponseHeader {
                revision: if changed { self.begin + 1 } else { self.begin },
            },
            deleted: live.len() as i64,
            prev_kvs: if request.prev_kv { live } else { Vec::new() },
        }
    }

    fn delete_key(&mut self, previous: KeyValue) {
        let revision = Revision::new(self.begin + 1, self.events.len() as i64);
        self.store
            .index
            .get_mut(&previous.key[..])
            .expect("a live key is indexed")
            .tombstone(revision);
        if previous.lease != NO_LEASE {
            let _ = self.leases.detach(previous.lease, &previous.key);
        }
        self.events.push(Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: previous.key.clone(),
                mod_revision: revision.main,
                ..KeyValue::default()
            },
            prev_kv: Some(previous),
            sub_revision: revision.sub,
        });
    }

    /// Runs the branch `plan` chose, recursively (etcd's `applyTxn`).
    fn execute(&mut self, request: &TxnRequest, plan: &Plan) -> TxnResponse {
        let ops = if plan.succeeded {
            &request.success
        } else {
            &request.failure
        };
        let mut nested = plan.nested.iter();
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            // Every failure was ruled out by the checks before execution began.
            let response = match op {
                RequestOp::Range(range) => {
                    ResponseOp::Range(self.range(range).expect("txn ranges were checked"))
                }
                RequestOp::Put(put) => {
                    ResponseOp::Put(self.put(put).expect("txn puts were checked"))
                }
                RequestOp::DeleteRange(delete) => {
                    ResponseOp::DeleteRange(self.delete_range(delete))
                }
                RequestOp::Txn(txn) => {
                    let plan = nested.next().expect("a plan per nested txn");
                    ResponseOp::Txn(self.execute(txn, plan))
                }
            };
            responses.push(response);
        }
        TxnResponse {
            // Nested txn headers stay empty, as in etcd.
            header: ResponseHeader::default(),
            succeeded: plan.succeeded,
            responses,
        }
    }
}

/// Which branch each txn takes, decided against the state before the txn
/// (etcd's `compareToPath`): `nested` has one plan per txn op of that branch.
struct Plan {
    succeeded: bool,
    nested: Vec<Plan>,
}

impl Store {
    /// A Put (applying a committed entry).
    pub fn put(
        &mut self,
        leases: &mut Lessor,
        request: &PutRequest,
    ) -> Result<Applied<PutResponse>, MvccError> {
        validate_put(request)?;
        if request.lease != NO_LEASE && !leases.contains(request.lease) {
            return Err(MvccError::LeaseNotFound);
        }
        let mut txn = WriteTxn::new(self, leases);
        let response = txn.put(request)?;
        Ok(txn.finish(response))
    }

    /// A DeleteRange (applying a committed entry). Deleting nothing does not
    /// take a revision.
    pub fn delete_range(
        &mut self,
        leases: &mut Lessor,
        request: &DeleteRangeRequest,
    ) -> Result<Applied<DeleteRangeResponse>, MvccError> {
        validate_delete(request)?;
        let mut txn = WriteTxn::new(self, leases);
        let response = txn.delete_range(request);
        Ok(txn.finish(response))
    }

    /// A Txn (applying a committed entry): compares decide the branch of every
    /// (nested) txn against the state before it; puts and ranges of the chosen
    /// branches are checked before anything is written; then all writes share
    /// one main revision. A txn that writes nothing keeps the revision.
    pub fn txn(
        &mut self,
        leases: &mut Lessor,
        request: &TxnRequest,
    ) -> Result<Applied<TxnResponse>, MvccError> {
        validate_txn(request, self.config.max_txn_ops)?;
        let plan = self.plan(request);
        self.check_plan(leases, request, &plan)?;
        let mut txn = WriteTxn::new(self, leases);
        let mut response = txn.execute(request, &plan);
        response.header.revision = txn.view();
        Ok(txn.finish(response))
    }

    /// Revokes lease `id` and deletes its keys in one revision, in key order (etcd's
    /// `lessor.Revoke`). The response is the store's revision afterwards.
    pub fn revoke_lease(
        &mut self,
        leases: &mut Lessor,
        id: LeaseId,
    ) -> Result<Applied<i64>, MvccError> {
        let keys = leases.revoke(id).map_err(|_| MvccError::LeaseNotFound)?;
        let mut txn = WriteTxn::new(self, leases);
        for key in keys {
            let request = DeleteRangeRequest {
                key,
                range_end: Bytes::new(),
                prev_kv: false,
            };
            let _ = txn.delete_range(&request);
        }
        let revision = txn.view();
        Ok(txn.finish(revision))
    }

    fn plan(&self, request: &TxnRequest) -> Plan {
        let succeeded = request
            .compare
            .iter()
            .all(|compare| self.compare_holds(compare));
        let ops = if succeeded {
            &request.success
        } else {
            &request.failure
        };
        let nested = ops
            .iter()
            .filter_map(|op| match op {
                RequestOp::Txn(txn) => Some(self.plan(txn)),
                _ => None,
            })
            .collect();
        Plan { succeeded, nested }
    }

    /// etcd's checkRequestPut and checkRequestRange over the chosen branches.
    fn check_plan(
        &self,
        leases: &Lessor,
        request: &TxnRequest,
        plan: &Plan,
    ) -> Result<(), MvccError> {
        let ops = if plan.succeeded {
            &request.success
        } else {
            &request.failure
        };
        let mut nested = plan.nested.iter();
        for op in ops {
            match op {
                RequestOp::Put(put) => {
                    if put.lease != NO_LEASE && !leases.contains(put.lease) {
                        return Err(MvccError::LeaseNotFound);
                    }
                    if (put.ignore_value || put.ignore_lease)
                        && self.get(&put.key, self.current_revision).is_none()
                    {
                        return Err(MvccError::KeyNotFound);
                    }
                }
                RequestOp::Range(range) if range.revision != 0 => {
                    if range.revision > self.current_revision {
                        return Err(MvccError::FutureRevision);
                    }
                    if range.revision < self.compact_revision {
                        return Err(MvccError::Compacted);
                    }
                }
                RequestOp::Txn(txn) => {
                    let plan = nested.next().expect("a plan per nested txn");
                    self.check_plan(leases, txn, plan)?;
                }
                RequestOp::Range(_) | RequestOp::DeleteRange(_) => {}
            }
        }
        Ok(())
    }

    /// etcd's `applyCompare`: every key in the range must satisfy the compare; a
    /// range with no key compares a zero key-value, except VALUE compares, which fail.
    fn compare_holds(&self, compare: &Compare) -> bool {
        let range = KeyRange::new(&compare.key, &compare.range_end);
        let (kvs, _) = self.collect(range, self.current_revision, 0, false);
        if kvs.is_empty() {
            if matches!(compare.target, CompareTarget::Value(_)) {
                return false;
            }
            return compare_kv(compare, &KeyValue::default());
        }
        kvs.iter().all(|kv| compare_kv(compare, kv))
    }
}

fn compare_kv(compare: &Compare, kv: &KeyValue) -> bool {
    let ordering = match &compare.target {
        CompareTarget::Value(value) => kv.value[..].cmp(&value[..]),
        CompareTarget::Version(version) => kv.version.cmp(version),
        CompareTarget::Create(revision) => kv.create_revision.cmp(revision),
        CompareTarget::Mod(revision) => kv.mod_revision.cmp(revision),
        CompareTarget::Lease(lease) => kv.lease.cmp(lease),
    };
    match compare.result {
        CompareResult::Equal => ordering.is_eq(),
        CompareResult::NotEqual => ordering.is_ne(),
        CompareResult::Greater => ordering.is_gt(),
        CompareResult::Less => ordering.is_lt(),
    }
}
