//! What the replicated log carries: one [`Proposal`] per normal entry, and one
//! [`MemberInfo`] as the context of every membership change.

use bytes::Bytes;

use crate::lease::LeaseId;
use crate::mvcc::{DeleteRangeRequest, PutRequest, TxnRequest};
use crate::raft::NodeId;

/// A state change proposed through Raft and applied identically everywhere.
///
/// `origin` and `seq` identify it so that the member that proposed it (and only
/// that member) answers its client when it is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub origin: NodeId,
    pub seq: u64,
    pub op: Op,
}

/// The operations the state machine applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact {
        revision: i64,
        physical: bool,
    },
    LeaseGrant {
        id: LeaseId,
        ttl_secs: i64,
    },
    LeaseRevoke {
        id: LeaseId,
    },
    /// A member announces its name and client URLs (etcd's "publish"), so that
    /// every member lists them.
    PublishAttributes {
        member: NodeId,
        name: String,
        client_urls: Vec<String>,
    },
}

/// Who a member is, carried in the context of a membership change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberInfo {
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

/// Opaque bytes with a length, for codecs' error messages.
#[allow(dead_code)]
pub(crate) fn describe(bytes: &Bytes) -> String {
    format!("{} bytes", bytes.len())
}
