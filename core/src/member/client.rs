//! What clients ask a member and what it answers. The server converts the gRPC
//! messages into these and back.

use crate::auth::{AuthError, AuthOp, AuthQuery, AuthResponse};
use crate::lease::LeaseId;
use crate::mvcc::{
    DeleteRangeRequest, DeleteRangeResponse, KvHash, MvccError, PutRequest, PutResponse,
    RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::raft::NodeId;
use crate::v2store::{V2Auth, V2AuthAnswer, V2AuthError, V2Error, V2Event, V2Stats, V2Write};

/// Names a client request so its response can find its way back; chosen by the
/// runtime, opaque to the member.
pub type ClientToken = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRequest {
    /// Linearizable unless `serializable` is set.
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact {
        revision: i64,
        physical: bool,
    },
    MemberList,
    Status,
    Hash,
    HashKv {
        revision: i64,
    },
    /// Grant a lease; `id` 0 lets the member choose one.
    LeaseGrant {
        id: LeaseId,
        ttl_secs: i64,
    },
    /// Revoke a lease, deleting its keys in one revision.
    LeaseRevoke {
        id: LeaseId,
    },
    /// Renew a lease (the leader keeps the clock; others say "not leader").
    LeaseKeepAlive {
        id: LeaseId,
    },
    /// A lease's remaining TTL (answered by the leader).
    LeaseTimeToLive {
        id: LeaseId,
        keys: bool,
    },
    /// Every lease's id.
    LeaseLeases,
    /// Manage or query users, roles and the enabled flag.
    Auth(AuthRequest),
    /// List, raise or clear alarms (etcd's `Maintenance.Alarm`). `member` 0
    /// with `Get` lists all.
    Alarm {
        action: AlarmAction,
        member: NodeId,
        alarm: Option<super::AlarmKind>,
    },
    /// Add, remove, update or promote a member (etcd's Cluster service).
    /// Decided by the leader; another member answers [`ClientError::NotLeader`].
    ChangeMember(MemberChange),
    /// Hand leadership to `target` (etcd's `Maintenance.MoveLeader`); only
    /// the leader takes it.
    MoveLeader {
        target: NodeId,
    },
    /// etcd's `Maintenance.Defragment`: cairn has no B+tree file to rewrite,
    /// so it takes a fresh snapshot and releases every older snapshot and
    /// every WAL segment the new snapshot makes unnecessary. Answered once
    /// the new snapshot is durable; the member serves throughout.
    Defragment,
    /// etcd's `Maintenance.Snapshot`: a copy of the applied state.
    Backup,
    /// The member's counters, for `/metrics`.
    Counters,
    /// etcd's v2 keys API (its own keyspace, see [`crate::v2store`]).
    V2(V2Request),
}

/// A request of etcd's v2 keys API, after the HTTP layer decided what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2Request {
    /// A write, through the log.
    Write(V2Write),
    /// `GET` a key or directory; `quorum`: after a read index (linearizable),
    /// otherwise from this member's copy, as etcd answers v2 reads.
    Get {
        path: String,
        recursive: bool,
        sorted: bool,
        quorum: bool,
    },
    /// `GET ?wait=true`: the first event at or after `since` (0: the next
    /// one) under `path`, from the history or when it happens. Answered with
    /// [`V2Result::Waiting`] after `timeout_ms` if none came (at once for
    /// 0), so that a caller gone away leaves nothing behind for long; the
    /// caller asks again with the `since` it was given.
    Watch {
        path: String,
        recursive: bool,
        since: u64,
        timeout_ms: u64,
    },
    /// The v2 store's statistics (`/v2/stats/store`).
    Stats,
    /// The v2 auth state (users, roles, whether auth is on), from this
    /// member's copy (etcd reads it unquorate too): for `/v2/auth` reads and
    /// the server's credential and permission checks.
    AuthGet,
}

/// What the member answers a [`V2Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Answer {
    /// The member's applied Raft index (etcd's `X-Raft-Index`).
    pub raft_index: u64,
    /// The v2 store's index when the member answered.
    pub store_index: u64,
    pub result: V2Result,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2Result {
    /// A write's, a read's or a watch's event.
    Event(Box<V2Event>),
    /// No event came before the watch's timeout: ask again from `since`.
    Waiting {
        since: u64,
    },
    Stats {
        stats: Box<V2Stats>,
        index: u64,
    },
    /// An applied auth write's answer.
    Auth(V2AuthAnswer),
    /// [`V2Request::AuthGet`]'s answer.
    AuthState(Box<V2Auth>),
}

/// A membership change a client asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// A new member with `id` (chosen by the server, as etcd derives it from
    /// the peer URLs, the cluster token and the time), a voter or a learner.
    Add {
        id: NodeId,
        peer_urls: Vec<String>,
        learner: bool,
    },
    Remove {
        id: NodeId,
    },
    /// New peer URLs for a member.
    Update {
        id: NodeId,
        peer_urls: Vec<String>,
    },
    /// A learner becomes a voter.
    Promote {
        id: NodeId,
    },
}

/// An auth request: a change goes through the log, a query is answered
/// after a linearizable read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthRequest {
    Change(AuthOp),
    Query(AuthQuery),
}

/// What an alarm request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmAction {
    Get,
    Activate,
    Deactivate,
}

impl ClientRequest {
    /// Whether the request changes state (and so goes through the log).
    pub fn is_write(&self) -> bool {
        match self {
            ClientRequest::Put(_)
            | ClientRequest::DeleteRange(_)
            | ClientRequest::Compact { .. } => true,
            ClientRequest::Txn(txn) => txn_is_write(txn),
            ClientRequest::Alarm { action, .. } => *action != AlarmAction::Get,
            ClientRequest::LeaseGrant { .. } | ClientRequest::LeaseRevoke { .. } => true,
            ClientRequest::Auth(AuthRequest::Change(_)) => true,
            ClientRequest::ChangeMember(_) | ClientRequest::MoveLeader { .. } => true,
            ClientRequest::V2(V2Request::Write(_)) => true,
            _ => false,
        }
    }
}

/// A txn whose branches hold only ranges is a read (etcd's `isTxnReadonly`).
pub fn txn_is_write(txn: &TxnRequest) -> bool {
    use crate::mvcc::RequestOp;
    txn.success
        .iter()
        .chain(txn.failure.iter())
        .any(|op| match op {
            RequestOp::Range(_) => false,
            RequestOp::Txn(inner) => txn_is_write(inner),
            RequestOp::Put(_) | RequestOp::DeleteRange(_) => true,
        })
}

/// The header etcd puts on every response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub cluster_id: u64,
    pub member_id: NodeId,
    pub revision: i64,
    pub raft_term: u64,
}

/// A member as `MemberList` shows it: the one member record, the same a
/// snapshot keeps.
pub use crate::snapshot::Member as MemberStatus;

/// What `Maintenance.Status` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusInfo {
    pub leader: NodeId,
    pub raft_index: u64,
    pub raft_term: u64,
    pub raft_applied_index: u64,
    /// Bytes of keys and values held, all revisions (etcd's `dbSize` analogue).
    pub db_size: i64,
    pub db_size_in_use: i64,
    pub is_learner: bool,
    /// Active alarms, as (member, kind).
    pub alarms: Vec<(NodeId, super::AlarmKind)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientResponse {
    Range(RangeResponse),
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compact,
    MemberList(Vec<MemberStatus>),
    Status(StatusInfo),
    Hash {
        hash: u32,
    },
    HashKv(KvHash),
    /// The alarms after the request, as (member, kind).
    Alarms(Vec<(NodeId, super::AlarmKind)>),
    LeaseGrant {
        id: LeaseId,
        ttl_secs: i64,
    },
    LeaseRevoke,
    LeaseKeepAlive {
        id: LeaseId,
        ttl_secs: i64,
    },
    LeaseTimeToLive(crate::lease::TimeToLive),
    Leases(Vec<LeaseId>),
    Auth(AuthResponse),
    /// The members after a membership change was applied.
    MemberChanged(Vec<MemberStatus>),
    /// Leadership is where the client asked.
    LeaderMoved,
    /// The member's files are compacted.
    Defragmented,
    Backup(Box<super::BackupImage>),
    Counters(super::MemberCounters),
    V2(V2Answer),
}

/// Why a request failed. The texts are etcd's wire texts: clients match on them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Mvcc(#[from] MvccError),
    #[error("etcdserver: no leader")]
    NoLeader,
    #[error("etcdserver: request timed out")]
    Timeout,
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    #[error("etcdserver: server stopped")]
    Stopped,
    #[error("etcdserver: request is too large")]
    TooLarge,
    #[error("etcdserver: corrupt cluster")]
    Corrupt,
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    #[error(transparent)]
    Lease(#[from] crate::lease::LeaseError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Only the leader answers this (lease keep-alives and TTLs); the server
    /// forwards it there.
    #[error("etcdserver: not leader")]
    NotLeader,
    #[error("etcdserver: member ID already exist")]
    MemberExists,
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    #[error("etcdserver: member not found")]
    MemberNotFound,
    #[error("etcdserver: can only promote a learner member")]
    MemberNotLearner,
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    #[error("etcdserver: too many learner members in cluster")]
    TooManyLearners,
    /// The strict reconfiguration check: the change would leave fewer
    /// started voters than a quorum.
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    NotEnoughStarted,
    /// The leader is not connected to enough voters for the change to be safe.
    #[error("etcdserver: unhealthy cluster")]
    Unhealthy,
    #[error("etcdserver: bad leader transferee")]
    BadLeaderTransferee,
    #[error("etcdserver: request timed out, leader transfer took too long")]
    LeaderTransferTimeout,
    /// A learner serves serializable ranges and status only.
    #[error("etcdserver: rpc not supported for learner")]
    NotSupportedForLearner,
    /// A v2 keys API error (etcd's v2 error JSON).
    #[error("{}: {} ({}) [{}]", .0.code, .0.message(), .0.cause, .0.index)]
    V2(V2Error),
    /// A refused v2 auth write (etcd's `{"message":..}` with its status).
    #[error("{0}")]
    V2Auth(V2AuthError),
}
