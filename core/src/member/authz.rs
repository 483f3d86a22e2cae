//! What each request needs of its caller, checked against the auth state:
//! when a request arrives, and for writes again when the log applies them
//! (permissions may have changed in between; the applied state decides, the
//! same on every member).
//!
//! The rules are etcd's (`authApplierV3`, `isWatchPermitted`, the auth
//! maintenance server), with these additions: compaction and lease grants
//! need an authenticated user, and alarms a root one.

use crate::auth::{Access, AuthError, AuthStore, Identity};
use crate::lease::{LeaseId, Lessor};
use crate::mvcc::{Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest};

use super::client::{AlarmAction, AuthRequest, ClientRequest};
use super::request::Op;

/// Checks made against one auth state.
pub(super) struct Authz<'a> {
    pub auth: &'a AuthStore,
    pub lessor: &'a Lessor,
    pub who: &'a Identity,
}

impl Authz<'_> {
    fn allow(&self, access: Access, key: &[u8], range_end: &[u8]) -> Result<(), AuthError> {
        self.auth.check(self.who, access, key, range_end)
    }

    pub fn range(&self, range: &RangeRequest) -> Result<(), AuthError> {
        self.allow(Access::Read, &range.key, &range.range_end)
    }

    pub fn put(&self, put: &PutRequest) -> Result<(), AuthError> {
        self.allow(Access::Write, &put.key, b"")?;
        if put.prev_kv {
            self.allow(Access::Read, &put.key, b"")?;
        }
        if put.lease != 0 {
            // Attaching to a lease lets its revocation delete the key, so it
            // takes write access to every key already on the lease.
            self.lease_keys(put.lease)?;
        }
        Ok(())
    }

    pub fn delete(&self, delete: &DeleteRangeRequest) -> Result<(), AuthError> {
        self.allow(Access::Write, &delete.key, &delete.range_end)?;
        if delete.prev_kv {
            self.allow(Access::Read, &delete.key, &delete.range_end)?;
        }
        Ok(())
    }

    pub fn txn(&self, txn: &TxnRequest) -> Result<(), AuthError> {
        for Compare { key, range_end, .. } in &txn.compare {
            self.allow(Access::Read, key, range_end)?;
        }
        for op in txn.success.iter().chain(&txn.failure) {
            match op {
                RequestOp::Range(range) => self.range(range)?,
                RequestOp::Put(put) => self.put(put)?,
                RequestOp::DeleteRange(delete) => self.delete(delete)?,
                RequestOp::Txn(inner) => self.txn(inner)?,
            }
        }
        Ok(())
    }

    /// Write access to every key attached to a lease (etcd's `checkLeasePuts`).
    fn lease_keys(&self, id: LeaseId) -> Result<(), AuthError> {
        if let Some(lease) = self.lessor.get(id) {
            for key in lease.keys() {
                self.allow(Access::Write, key, b"")?;
            }
        }
        Ok(())
    }

    /// A request as it arrives (auth queries are checked when answered).
    pub fn request(&self, request: &ClientRequest) -> Result<(), AuthError> {
        match request {
            ClientRequest::Range(range) => self.range(range),
            ClientRequest::Put(put) => self.put(put),
            ClientRequest::DeleteRange(delete) => self.delete(delete),
            ClientRequest::Txn(txn) => self.txn(txn),
            ClientRequest::LeaseRevoke { id } => self.lease_keys(*id),
            ClientRequest::Compact { .. } | ClientRequest::LeaseGrant { .. } => {
                self.auth.check_authenticated(self.who)
            }
            ClientRequest::Hash
            | ClientRequest::HashKv { .. }
            | ClientRequest::MoveLeader { .. }
            | ClientRequest::Backup => self.auth.check_admin(self.who),
            ClientRequest::Alarm { action, .. } if *action != AlarmAction::Get => {
                self.auth.check_admin(self.who)
            }
            ClientRequest::Auth(AuthRequest::Change(op)) if op.needs_admin() => {
                self.auth.check_admin(self.who)
            }
            _ => Ok(()),
        }
    }

    /// An operation as the log applies it (auth changes are checked by the
    /// auth store itself).
    pub fn op(&self, op: &Op) -> Result<(), AuthError> {
        match op {
            Op::Put(put) => self.put(put),
            Op::DeleteRange(delete) => self.delete(delete),
            Op::Txn(txn) => self.txn(txn),
            Op::LeaseRevoke { id } => self.lease_keys(*id),
            Op::Compact { .. } | Op::LeaseGrant { .. } => self.auth.check_authenticated(self.who),
            Op::Alarm { .. } => self.auth.check_admin(self.who),
            // The v2 keyspace is outside v3 auth, as in etcd.
            Op::Auth(_) | Op::PublishAttributes { .. } | Op::UpdateMember { .. } | Op::V2(_) => {
                Ok(())
            }
        }
    }
}

/// Requests answered without looking at credentials (etcd checks none of
/// these): membership and status, lease keep-alives and TTLs, which are
/// forwarded to the leader, the counters `/metrics` shows, and the v2 keys
/// API (etcd's v3 auth does not cover the v2 keyspace).
pub(super) fn unchecked(request: &ClientRequest) -> bool {
    matches!(
        request,
        ClientRequest::MemberList
            | ClientRequest::ChangeMember(_)
            | ClientRequest::Status
            | ClientRequest::LeaseKeepAlive { .. }
            | ClientRequest::LeaseTimeToLive { .. }
            | ClientRequest::LeaseLeases
            | ClientRequest::Alarm {
                action: AlarmAction::Get,
                ..
            }
            | ClientRequest::Counters
            | ClientRequest::V2(_)
    )
}
