//! `Cluster`: the member list.

use cairn_core::member::{Header, MemberStatus};
use cairn_proto::etcdserverpb as pb;

use super::header;

/// `Cluster.MemberList`. etcd's cluster responses carry no revision.
pub fn member_list_response(member: &Header, members: Vec<MemberStatus>) -> pb::MemberListResponse {
    pb::MemberListResponse {
        header: Some(pb::ResponseHeader {
            revision: 0,
            ..header(member)
        }),
        members: members.into_iter().map(member_of).collect(),
    }
}

/// etcd's Member: ID, name, peerURLs, clientURLs, isLearner. A member that has
/// not published its attributes yet has an empty name and no client URLs.
pub fn member_of(member: MemberStatus) -> pb::Member {
    pb::Member {
        id: member.id,
        name: member.name,
        peer_ur_ls: member.peer_urls,
        client_ur_ls: member.client_urls,
        is_learner: member.is_learner,
    }
}
