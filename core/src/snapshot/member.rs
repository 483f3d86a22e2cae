//! Cluster membership as the server knows it (etcd's `membership.Member`):
//! the one member record, in snapshots and in `MemberList` answers.

use crate::raft::NodeId;

/// One member of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    pub id: NodeId,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}
