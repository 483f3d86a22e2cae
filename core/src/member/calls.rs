//! Typed calls: every request a client can make of a member, each paired
//! with the one response it gets.
//!
//! The member itself speaks the umbrella enums [`ClientRequest`] and
//! [`ClientResponse`] (one queue, one `Respond` action). A caller that wants
//! a put answered with a put response, and nothing else, goes through
//! [`Call`]: the request type names its response type, and [`answer`] is the
//! one place where the umbrella response is taken apart.
//!
//! ```text
//!   PutRequest ──into_request──▶ ClientRequest::Put ──▶ Member
//!                                                        │ Respond { header, result }
//!   (Header, PutResponse) ◀──answer::<PutRequest>── ClientResponse::Put
//!   (Header, ClientError) ◀──────────────────────── Err(error)
//! ```
//!
//! Errors keep the header the member answered with, so a caller that turns
//! an error into a reply (an unknown lease's TTL of -1, say) has the
//! member's header at hand without asking again.
//!
//! Requests whose payload is a type of its own (`PutRequest`, `AuthOp`, ...)
//! implement [`Call`] directly; the others are the small structs below,
//! named after etcd's RPCs.

pub use super::backup::Backup;
use super::client::{
    AlarmAction, AuthRequest, ClientError, ClientRequest, ClientResponse, Header, MemberStatus,
    StatusInfo,
};
use super::counters::MemberCounters;
use super::request::AlarmKind;
use crate::auth::{AuthOp, AuthQuery, AuthResponse, Permission};
use crate::lease::{LeaseId, TimeToLive};
use crate::mvcc::{
    DeleteRangeRequest, DeleteRangeResponse, KvHash, PutRequest, PutResponse, RangeRequest,
    RangeResponse, TxnRequest, TxnResponse,
};
use crate::raft::NodeId;

/// A request of a client, and the shape of its answer.
pub trait Call {
    /// What the member answers when the request succeeds.
    type Response;

    /// The request as the member takes it.
    fn into_request(self) -> ClientRequest;

    /// This call's answer out of the member's response; `None` if the
    /// response has another request's shape.
    fn from_response(response: ClientResponse) -> Option<Self::Response>;
}

/// A call's outcome: its answer or its error, each with the member's header.
pub type CallResult<T> = Result<(Header, T), (Header, ClientError)>;

/// Types the member's answer to call `C`.
///
/// # Panics
/// If the member answered with another request's response: the member pairs
/// every request with its response (tested in `core/tests/member_calls.rs`),
/// so a mismatch is a bug in the member, never a client's doing.
pub fn answer<C: Call>(
    header: Header,
    result: Result<ClientResponse, ClientError>,
) -> CallResult<C::Response> {
    match result {
        Ok(response) => match C::from_response(response) {
            Some(typed) => Ok((header, typed)),
            None => panic!(
                "the member answered a {} with another request's response",
                std::any::type_name::<C>()
            ),
        },
        Err(error) => Err((header, error)),
    }
}

// ----- KV -----

impl Call for RangeRequest {
    type Response = RangeResponse;

    fn into_request(self) -> ClientRequest {
        ClientRequest::Range(self)
    }

    fn from_response(response: ClientResponse) -> Option<RangeResponse> {
        match response {
            ClientResponse::Range(range) => Some(range),
            _ => None,
        }
    }
}

impl Call for PutRequest {
    type Response = PutResponse;

    fn into_request(self) -> ClientRequest {
        ClientRequest::Put(self)
    }

    fn from_response(response: ClientResponse) -> Option<PutResponse> {
        match response {
            ClientResponse::Put(put) => Some(put),
            _ => None,
        }
    }
}

impl Call for DeleteRangeRequest {
    type Response = DeleteRangeResponse;

    fn into_request(self) -> ClientRequest {
        ClientRequest::DeleteRange(self)
    }

    fn from_response(response: ClientResponse) -> Option<DeleteRangeResponse> {
        match response {
            ClientResponse::DeleteRange(deleted) => Some(deleted),
            _ => None,
        }
    }
}

impl Call for TxnRequest {
    type Response = TxnResponse;

    fn into_request(self) -> ClientRequest {
        ClientRequest::Txn(self)
    }

    fn from_response(response: ClientResponse) -> Option<TxnResponse> {
        match response {
            ClientResponse::Txn(txn) => Some(txn),
            _ => None,
        }
    }
}

/// `KV.Compact`: discard revisions before `revision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compact {
    pub revision: i64,
    pub physical: bool,
}

impl Call for Compact {
    type Response = ();

    fn into_request(self) -> ClientRequest {
        ClientRequest::Compact {
            revision: self.revision,
            physical: self.physical,
        }
    }

    fn from_response(response: ClientResponse) -> Option<()> {
        match response {
            ClientResponse::Compact => Some(()),
            _ => None,
        }
    }
}

// ----- Cluster and Maintenance -----

/// `Cluster.MemberList`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberList;

impl Call for MemberList {
    type Response = Vec<MemberStatus>;

    fn into_request(self) -> ClientRequest {
        ClientRequest::MemberList
    }

    fn from_response(response: ClientResponse) -> Option<Vec<MemberStatus>> {
        match response {
            ClientResponse::MemberList(members) => Some(members),
            _ => None,
        }
    }
}

/// A change of `Cluster` (MemberAdd, MemberRemove, MemberUpdate,
/// MemberPromote): answered with the members after it.
impl Call for super::client::MemberChange {
    type Response = Vec<MemberStatus>;

    fn into_request(self) -> ClientRequest {
        ClientRequest::ChangeMember(self)
    }

    fn from_response(response: ClientResponse) -> Option<Vec<MemberStatus>> {
        match response {
            ClientResponse::MemberChanged(members) => Some(members),
            _ => None,
        }
    }
}

/// `Maintenance.MoveLeader`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveLeader {
    pub target: NodeId,
}

impl Call for MoveLeader {
    type Response = ();

    fn into_request(self) -> ClientRequest {
        ClientRequest::MoveLeader {
            target: self.target,
        }
    }

    fn from_response(response: ClientResponse) -> Option<()> {
        match response {
            ClientResponse::LeaderMoved => Some(()),
            _ => None,
        }
    }
}

/// `Maintenance.Defragment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defragment;

impl Call for Defragment {
    type Response = ();

    fn into_request(self) -> ClientRequest {
        ClientRequest::Defragment
    }

    fn from_response(response: ClientResponse) -> Option<()> {
        match response {
            ClientResponse::Defragmented => Some(()),
            _ => None,
        }
    }
}

/// `Maintenance.Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status;

impl Call for Status {
    type Response = StatusInfo;

    fn into_request(self) -> ClientRequest {
        ClientRequest::Status
    }

    fn from_response(response: ClientResponse) -> Option<StatusInfo> {
        match response {
            ClientResponse::Status(info) => Some(info),
            _ => None,
        }
    }
}

/// `Maintenance.Hash`: the hash of the whole store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash;

impl Call for Hash {
    type Response = u32;

    fn into_request(self) -> ClientRequest {
        ClientRequest::Hash
    }

    fn from_response(response: ClientResponse) -> Option<u32> {
        match response {
            ClientResponse::Hash { hash } => Some(hash),
            _ => None,
        }
    }
}

/// `Maintenance.HashKV`: the hash of the keys up to `revision` (0: all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKv {
    pub revision: i64,
}

impl Call for HashKv {
    type Response = KvHash;

    fn into_request(self) -> ClientRequest {
        ClientRequest::HashKv {
            revision: self.revision,
        }
    }

    fn from_response(response: ClientResponse) -> Option<KvHash> {
        match response {
            ClientResponse::HashKv(hash) => Some(hash),
            _ => None,
        }
    }
}

/// `Maintenance.Alarm`; answers the alarms active afterwards, as
/// (member, kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alarm {
    pub action: AlarmAction,
    /// 0 with [`AlarmAction::Get`] lists every member's.
    pub member: NodeId,
    pub alarm: Option<AlarmKind>,
}

impl Call for Alarm {
    type Response = Vec<(NodeId, AlarmKind)>;

    fn into_request(self) -> ClientRequest {
        ClientRequest::Alarm {
            action: self.action,
            member: self.member,
            alarm: self.alarm,
        }
    }

    fn from_response(response: ClientResponse) -> Option<Vec<(NodeId, AlarmKind)>> {
        match response {
            ClientResponse::Alarms(alarms) => Some(alarms),
            _ => None,
        }
    }
}

// ----- Lease -----

/// A lease and its TTL in seconds, as granted or as just renewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTtl {
    pub id: LeaseId,
    pub ttl_secs: i64,
}

/// `Lease.LeaseGrant`; `id` 0 lets the member choose one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseGrant {
    pub id: LeaseId,
    pub ttl_secs: i64,
}

impl Call for LeaseGrant {
    type Response = LeaseTtl;

    fn into_request(self) -> ClientRequest {
        ClientRequest::LeaseGrant {
            id: self.id,
            ttl_secs: self.ttl_secs,
        }
    }

    fn from_response(response: ClientResponse) -> Option<LeaseTtl> {
        match response {
            ClientResponse::LeaseGrant { id, ttl_secs } => Some(LeaseTtl { id, ttl_secs }),
            _ => None,
        }
    }
}

/// `Lease.LeaseRevoke`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseRevoke {
    pub id: LeaseId,
}

impl Call for LeaseRevoke {
    type Response = ();

    fn into_request(self) -> ClientRequest {
        ClientRequest::LeaseRevoke { id: self.id }
    }

    fn from_response(response: ClientResponse) -> Option<()> {
        match response {
            ClientResponse::LeaseRevoke => Some(()),
            _ => None,
        }
    }
}

/// One renewal of `Lease.LeaseKeepAlive` (answered by the leader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseKeepAlive {
    pub id: LeaseId,
}

impl Call for LeaseKeepAlive {
    type Response = LeaseTtl;

    fn into_request(self) -> ClientRequest {
        ClientRequest::LeaseKeepAlive { id: self.id }
    }

    fn from_response(response: ClientResponse) -> Option<LeaseTtl> {
        match response {
            ClientResponse::LeaseKeepAlive { id, ttl_secs } => Some(LeaseTtl { id, ttl_secs }),
            _ => None,
        }
    }
}

/// `Lease.LeaseTimeToLive` (answered by the leader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimeToLive {
    pub id: LeaseId,
    /// Also list the keys attached to the lease.
    pub keys: bool,
}

impl Call for LeaseTimeToLive {
    type Response = TimeToLive;

    fn into_request(self) -> ClientRequest {
        ClientRequest::LeaseTimeToLive {
            id: self.id,
            keys: self.keys,
        }
    }

    fn from_response(response: ClientResponse) -> Option<TimeToLive> {
        match response {
            ClientResponse::LeaseTimeToLive(ttl) => Some(ttl),
            _ => None,
        }
    }
}

/// `Lease.LeaseLeases`: every lease's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseLeases;

impl Call for LeaseLeases {
    type Response = Vec<LeaseId>;

    fn into_request(self) -> ClientRequest {
        ClientRequest::LeaseLeases
    }

    fn from_response(response: ClientResponse) -> Option<Vec<LeaseId>> {
        match response {
            ClientResponse::Leases(ids) => Some(ids),
            _ => None,
        }
    }
}

// ----- Auth -----

/// A change of the auth state: it goes through the log and answers nothing
/// but its header.
impl Call for AuthOp {
    type Response = ();

    fn into_request(self) -> ClientRequest {
        ClientRequest::Auth(AuthRequest::Change(self))
    }

    fn from_response(response: ClientResponse) -> Option<()> {
        match response {
            ClientResponse::Auth(AuthResponse::Done) => Some(()),
            _ => None,
        }
    }
}

/// Implements [`Call`] for an auth query: the struct, the query it asks, and
/// the answer it takes out of [`AuthResponse`].
macro_rules! auth_query {
    ($call:ty => $response:ty,
     |$this:ident| $query:expr,
     $pattern:pat => $answer:expr) => {
        impl Call for $call {
            type Response = $response;

            fn into_request(self) -> ClientRequest {
                let $this = self;
                ClientRequest::Auth(AuthRequest::Query($query))
            }

            fn from_response(response: ClientResponse) -> Option<$response> {
                match response {
                    ClientResponse::Auth($pattern) => Some($answer),
                    _ => None,
                }
            }
        }
    };
}

/// `Auth.AuthStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthStatus;

/// Whether auth is enabled, and the auth revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthState {
    pub enabled: bool,
    pub revision: u64,
}

auth_query!(AuthStatus => AuthState,
    |_this| AuthQuery::Status,
    AuthResponse::Status { enabled, revision } => AuthState { enabled, revision });

/// `Auth.UserGet`: answers the user's roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserGet {
    pub name: String,
}

auth_query!(UserGet => Vec<String>,
    |this| AuthQuery::UserGet { name: this.name },
    AuthResponse::User { roles } => roles);

/// `Auth.UserList`: answers every user's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserList;

auth_query!(UserList => Vec<String>,
    |_this| AuthQuery::UserList,
    AuthResponse::Users(users) => users);

/// `Auth.RoleGet`: answers the role's permissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleGet {
    pub name: String,
}

auth_query!(RoleGet => Vec<Permission>,
    |this| AuthQuery::RoleGet { name: this.name },
    AuthResponse::Role { perms } => perms);

/// `Auth.RoleList`: answers every role's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleList;

auth_query!(RoleList => Vec<String>,
    |_this| AuthQuery::RoleList,
    AuthResponse::Roles(roles) => roles);

/// The hash to check a user's password against (the server's own question,
/// on behalf of `Auth.Authenticate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordHash {
    pub name: String,
}

/// A user's password hash, read at auth revision `revision`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPassword {
    pub hash: Vec<u8>,
    pub revision: u64,
}

auth_query!(PasswordHash => StoredPassword,
    |this| AuthQuery::PasswordHash { name: this.name },
    AuthResponse::PasswordHash { hash, revision } => StoredPassword { hash, revision });

// ----- Metrics -----

/// The member's counters, for `/metrics` (the server's own question).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters;

impl Call for Counters {
    type Response = MemberCounters;

    fn into_request(self) -> ClientRequest {
        ClientRequest::Counters
    }

    fn from_response(response: ClientResponse) -> Option<MemberCounters> {
        match response {
            ClientResponse::Counters(counters) => Some(counters),
            _ => None,
        }
    }
}

// ----- v2 -----

impl Call for super::client::V2Request {
    type Response = super::client::V2Answer;

    fn into_request(self) -> ClientRequest {
        ClientRequest::V2(self)
    }

    fn from_response(response: ClientResponse) -> Option<super::client::V2Answer> {
        match response {
            ClientResponse::V2(answer) => Some(answer),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LeaseError;

    fn kv_hash() -> KvHash {
        KvHash {
            hash: 1,
            hash_revision: 2,
            current_revision: 3,
            compact_revision: 0,
        }
    }

    /// One response of every shape the member answers.
    fn every_response() -> Vec<ClientResponse> {
        vec![
            ClientResponse::Range(RangeResponse::default()),
            ClientResponse::Put(PutResponse::default()),
            ClientResponse::DeleteRange(DeleteRangeResponse::default()),
            ClientResponse::Txn(TxnResponse::default()),
            ClientResponse::Compact,
            ClientResponse::MemberList(Vec::new()),
            ClientResponse::Status(StatusInfo::default()),
            ClientResponse::Hash { hash: 7 },
            ClientResponse::HashKv(kv_hash()),
            ClientResponse::Alarms(Vec::new()),
            ClientResponse::LeaseGrant { id: 1, ttl_secs: 5 },
            ClientResponse::LeaseRevoke,
            ClientResponse::LeaseKeepAlive { id: 1, ttl_secs: 5 },
            ClientResponse::LeaseTimeToLive(TimeToLive {
                id: 1,
                remaining_secs: 4,
                granted_ttl_secs: 5,
                keys: Vec::new(),
            }),
            ClientResponse::Leases(vec![1]),
            ClientResponse::MemberChanged(Vec::new()),
            ClientResponse::LeaderMoved,
            ClientResponse::Defragmented,
            ClientResponse::Auth(AuthResponse::Done),
            ClientResponse::Auth(AuthResponse::Status {
                enabled: true,
                revision: 2,
            }),
            ClientResponse::Auth(AuthResponse::User { roles: Vec::new() }),
            ClientResponse::Auth(AuthResponse::Users(Vec::new())),
            ClientResponse::Auth(AuthResponse::Role { perms: Vec::new() }),
            ClientResponse::Auth(AuthResponse::Roles(Vec::new())),
            ClientResponse::Auth(AuthResponse::PasswordHash {
                hash: b"$2b$".to_vec(),
                revision: 2,
            }),
            ClientResponse::Counters(MemberCounters::default()),
            ClientResponse::V2(v2_answer()),
        ]
    }

    /// `call` becomes `request`, takes exactly `response` among every shape
    /// (as `expected`), and keeps the header of an answer and of an error.
    fn pairs<C>(call: C, request: ClientRequest, response: ClientResponse, expected: C::Response)
    where
        C: Call + std::fmt::Debug,
        C::Response: std::fmt::Debug + PartialEq,
    {
        let name = format!("{call:?}");
        assert_eq!(call.into_request(), request, "{name}");
        let taken: Vec<ClientResponse> = every_response()
            .into_iter()
            .filter(|candidate| C::from_response(candidate.clone()).is_some())
            .collect();
        assert_eq!(taken, vec![response.clone()], "{name} takes one shape");
        let header = Header {
            cluster_id: 1,
            member_id: 2,
            revision: 3,
            raft_term: 4,
        };
        assert_eq!(
            answer::<C>(header, Ok(response)),
            Ok((header, expected)),
            "{name}"
        );
        assert_eq!(
            answer::<C>(header, Err(ClientError::NoLeader)),
            Err((header, ClientError::NoLeader)),
            "{name}"
        );
    }

    #[test]
    fn kv_calls_pair_with_their_responses() {
        let range = RangeRequest::default();
        pairs(
            range.clone(),
            ClientRequest::Range(range),
            ClientResponse::Range(RangeResponse::default()),
            RangeResponse::default(),
        );
        let put = PutRequest::default();
        pairs(
            put.clone(),
            ClientRequest::Put(put),
            ClientResponse::Put(PutResponse::default()),
            PutResponse::default(),
        );
        let delete = DeleteRangeRequest::default();
        pairs(
            delete.clone(),
            ClientRequest::DeleteRange(delete),
            ClientResponse::DeleteRange(DeleteRangeResponse::default()),
            DeleteRangeResponse::default(),
        );
        let txn = TxnRequest::default();
        pairs(
            txn.clone(),
            ClientRequest::Txn(txn),
            ClientResponse::Txn(TxnResponse::default()),
            TxnResponse::default(),
        );
        pairs(
            Compact {
                revision: 9,
                physical: true,
            },
            ClientRequest::Compact {
                revision: 9,
                physical: true,
            },
            ClientResponse::Compact,
            (),
        );
    }

    #[test]
    fn cluster_and_maintenance_calls_pair_with_their_responses() {
        pairs(
            MemberList,
            ClientRequest::MemberList,
            ClientResponse::MemberList(Vec::new()),
            Vec::new(),
        );
        let change = super::super::client::MemberChange::Remove { id: 9 };
        pairs(
            change.clone(),
            ClientRequest::ChangeMember(change),
            ClientResponse::MemberChanged(Vec::new()),
            Vec::new(),
        );
        pairs(
            MoveLeader { target: 2 },
            ClientRequest::MoveLeader { target: 2 },
            ClientResponse::LeaderMoved,
            (),
        );
        pairs(
            Defragment,
            ClientRequest::Defragment,
            ClientResponse::Defragmented,
            (),
        );
        pairs(
            Status,
            ClientRequest::Status,
            ClientResponse::Status(StatusInfo::default()),
            StatusInfo::default(),
        );
        pairs(
            Hash,
            ClientRequest::Hash,
            ClientResponse::Hash { hash: 7 },
            7,
        );
        pairs(
            HashKv { revision: 3 },
            ClientRequest::HashKv { revision: 3 },
            ClientResponse::HashKv(kv_hash()),
            kv_hash(),
        );
        let alarm = Alarm {
            action: AlarmAction::Activate,
            member: 5,
            alarm: Some(AlarmKind::NoSpace),
        };
        pairs(
            alarm,
            ClientRequest::Alarm {
                action: AlarmAction::Activate,
                member: 5,
                alarm: Some(AlarmKind::NoSpace),
            },
            ClientResponse::Alarms(Vec::new()),
            Vec::new(),
        );
    }

    #[test]
    fn lease_calls_pair_with_their_responses() {
        let ttl = LeaseTtl { id: 1, ttl_secs: 5 };
        pairs(
            LeaseGrant { id: 0, ttl_secs: 5 },
            ClientRequest::LeaseGrant { id: 0, ttl_secs: 5 },
            ClientResponse::LeaseGrant { id: 1, ttl_secs: 5 },
            ttl,
        );
        pairs(
            LeaseRevoke { id: 1 },
            ClientRequest::LeaseRevoke { id: 1 },
            ClientResponse::LeaseRevoke,
            (),
        );
        pairs(
            LeaseKeepAlive { id: 1 },
            ClientRequest::LeaseKeepAlive { id: 1 },
            ClientResponse::LeaseKeepAlive { id: 1, ttl_secs: 5 },
            ttl,
        );
        let remaining = TimeToLive {
            id: 1,
            remaining_secs: 4,
            granted_ttl_secs: 5,
            keys: Vec::new(),
        };
        pairs(
            LeaseTimeToLive { id: 1, keys: true },
            ClientRequest::LeaseTimeToLive { id: 1, keys: true },
            ClientResponse::LeaseTimeToLive(remaining.clone()),
            remaining,
        );
        pairs(
            LeaseLeases,
            ClientRequest::LeaseLeases,
            ClientResponse::Leases(vec![1]),
            vec![1],
        );
    }

    #[test]
    fn auth_calls_pair_with_their_responses() {
        pairs(
            AuthOp::Enable,
            ClientRequest::Auth(AuthRequest::Change(AuthOp::Enable)),
            ClientResponse::Auth(AuthResponse::Done),
            (),
        );
        pairs(
            AuthStatus,
            ClientRequest::Auth(AuthRequest::Query(AuthQuery::Status)),
            ClientResponse::Auth(AuthResponse::Status {
                enabled: true,
                revision: 2,
            }),
            AuthState {
                enabled: true,
                revision: 2,
            },
        );
        pairs(
            UserGet { name: "u".into() },
            ClientRequest::Auth(AuthRequest::Query(AuthQuery::UserGet { name: "u".into() })),
            ClientResponse::Auth(AuthResponse::User { roles: Vec::new() }),
            Vec::new(),
        );
        pairs(
            UserList,
            ClientRequest::Auth(AuthRequest::Query(AuthQuery::UserList)),
            ClientResponse::Auth(AuthResponse::Users(Vec::new())),
            Vec::new(),
        );
        pairs(
            RoleGet { name: "r".into() },
            ClientRequest::Auth(AuthRequest::Query(AuthQuery::RoleGet { name: "r".into() })),
            ClientResponse::Auth(AuthResponse::Role { perms: Vec::new() }),
            Vec::new(),
        );
        pairs(
            RoleList,
            ClientRequest::Auth(AuthRequest::Query(AuthQuery::RoleList)),
            ClientResponse::Auth(AuthResponse::Roles(Vec::new())),
            Vec::new(),
        );
        pairs(
            PasswordHash { name: "u".into() },
            ClientRequest::Auth(AuthRequest::Query(AuthQuery::PasswordHash {
                name: "u".into(),
            })),
            ClientResponse::Auth(AuthResponse::PasswordHash {
                hash: b"$2b$".to_vec(),
                revision: 2,
            }),
            StoredPassword {
                hash: b"$2b$".to_vec(),
                revision: 2,
            },
        );
    }

    #[test]
    fn errors_keep_their_header_and_error() {
        let header = Header {
            revision: 11,
            ..Header::default()
        };
        let error = ClientError::Lease(LeaseError::NotFound);
        assert_eq!(
            answer::<LeaseKeepAlive>(header, Err(error.clone())),
            Err((header, error))
        );
    }

    #[test]
    #[should_panic(expected = "another request's response")]
    fn a_mismatched_response_is_a_bug() {
        let _ = answer::<PutRequest>(Header::default(), Ok(ClientResponse::Compact));
    }

    fn v2_answer() -> super::super::client::V2Answer {
        super::super::client::V2Answer {
            raft_index: 3,
            store_index: 5,
            result: super::super::client::V2Result::Waiting { since: 4 },
        }
    }

    #[test]
    fn the_v2_call_pairs_with_its_response() {
        let request = super::super::client::V2Request::Stats;
        pairs(
            request.clone(),
            ClientRequest::V2(request),
            ClientResponse::V2(v2_answer()),
            v2_answer(),
        );
    }

    #[test]
    fn the_counters_call_pairs_with_its_response() {
        pairs(
            Counters,
            ClientRequest::Counters,
            ClientResponse::Counters(MemberCounters::default()),
            MemberCounters::default(),
        );
    }
}
