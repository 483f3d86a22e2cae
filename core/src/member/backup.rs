//! `Maintenance.Snapshot`: a point-in-time copy of the applied state, taken
//! between two applies and handed to the runtime, which writes it out in
//! etcd's backup format while the member goes on serving.
//!
//! Taking it costs a list of the store's revisions, about 100 bytes each:
//! keys and values are reference-counted and shared with the live store,
//! never copied. Writes after it do not change it.

use super::calls::Call;
use super::client::{ClientRequest, ClientResponse, MemberStatus};
use super::node::Member;
use super::request::AlarmKind;
use crate::auth::AuthStore;
use crate::lease::LeaseRecord;
use crate::mvcc::RevisionRecord;
use crate::raft::NodeId;

/// The applied state at one Raft index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupImage {
    /// The Raft index the state is at (etcd's consistent index) and its term.
    pub applied_index: u64,
    pub applied_term: u64,
    /// Every retained revision, in key order (sort by `(main, sub)` for
    /// etcd's order).
    pub revisions: Vec<RevisionRecord>,
    pub current_revision: i64,
    /// -1: never compacted.
    pub compact_revision: i64,
    pub leases: Vec<LeaseRecord>,
    /// Users, roles and the enabled flag; no tokens.
    pub auth: AuthStore,
    pub members: Vec<MemberStatus>,
    /// Members removed from the cluster, never to return.
    pub removed: Vec<NodeId>,
    /// Active alarms, as (member, kind).
    pub alarms: Vec<(NodeId, AlarmKind)>,
}

/// `Maintenance.Snapshot`: the state as this member has applied it (not a
/// linearizable read, as in etcd, which snapshots its local backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backup;

impl Call for Backup {
    type Response = Box<BackupImage>;

    fn into_request(self) -> ClientRequest {
        ClientRequest::Backup
    }

    fn from_response(response: ClientResponse) -> Option<Box<BackupImage>> {
        match response {
            ClientResponse::Backup(image) => Some(image),
            _ => None,
        }
    }
}

impl Member {
    pub(super) fn backup_image(&self) -> BackupImage {
        let meta = self.raft.snapshot_meta();
        BackupImage {
            applied_index: meta.index,
            applied_term: meta.term,
            revisions: self.state.store.revision_records(),
            current_revision: self.state.store.current_revision(),
            compact_revision: self.state.store.compact_revision(),
            leases: self.state.lessor.records(),
            auth: self.state.auth.without_tokens(),
            members: self.member_list(),
            removed: self.state.removed.iter().copied().collect(),
            alarms: self.state.alarms.iter().copied().collect(),
        }
    }
}
