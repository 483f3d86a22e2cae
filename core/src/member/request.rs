//! What the replicated log carries: one [`Proposal`] per normal entry, and one
//! [`MemberInfo`] as the context of every membership change.

use bytes::Bytes;

use crate::auth::{AuthOp, Identity};
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
    /// Who asked: a client's request is checked against its permissions
    /// again when applied; the member's own operations run as `System`.
    pub identity: Identity,
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
    /// Raises (`activate`) or clears an alarm on `member` (etcd's AlarmRequest).
    /// Replicated so that every member refuses the same writes.
    Alarm {
        activate: bool,
        member: NodeId,
        alarm: AlarmKind,
    },
    /// A change to users, roles or the enabled flag, or a new simple token.
    Auth(AuthOp),
    /// A member announces its name and client URLs (etcd's "publish"), so that
    /// every member lists them.
    PublishAttributes {
        member: NodeId,
        name: String,
        client_urls: Vec<String>,
    },
    /// A member's new peer URLs (etcd's `ConfChangeUpdateNode`): only the
    /// roster changes, not Raft's configuration.
    UpdateMember {
        member: NodeId,
        peer_urls: Vec<String>,
    },
    /// A write of the v2 keyspace (etcd's v2 `Request`), including the
    /// leader's expiry of TTL'd nodes.
    V2(crate::v2store::V2Write),
}

/// etcd's alarm types, numbered as its `AlarmType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlarmKind {
    /// The space quota is exhausted: writes that add data are refused.
    NoSpace,
    /// Members disagree on their state.
    Corrupt,
}

impl AlarmKind {
    pub const fn to_byte(self) -> u8 {
        match self {
            AlarmKind::NoSpace => 1,
            AlarmKind::Corrupt => 2,
        }
    }

    pub const fn from_byte(byte: u8) -> Option<AlarmKind> {
        match byte {
            1 => Some(AlarmKind::NoSpace),
            2 => Some(AlarmKind::Corrupt),
            _ => None,
        }
    }
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
