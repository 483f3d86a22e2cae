//! Conversions between etcd's protobuf messages (`cairn-proto`) and cairn-core's
//! plain types, one file per service, with the checks etcd's gRPC layer makes
//! before a request reaches raft (`etcdserver/api/v3rpc/key.go`).
//!
//! Requests go protobuf → core and are checked on the way, in etcd's order, so
//! a request with several faults gets the error etcd would send. The checks
//! themselves are core's ([`mvcc::validate_range`] and friends); [`kv`] adds
//! only what a core type cannot express: a `RequestOp` with no request, and
//! enum values etcd does not know.
//!
//! Responses go core → protobuf with etcd's headers:
//!
//! ```text
//!  outermost response    cluster_id, member_id, raft_term of this member;
//!                        revision = the store's (after the write) or, if 0,
//!                        the member's current revision (etcd's header.fill)
//!  ops inside a txn      revision only; a nested txn's header is all zeros
//!  member list           no revision (etcd's ClusterServer.header)
//! ```

mod cluster;
mod kv;
mod maintenance;
#[cfg(test)]
mod tests;

use cairn_core::member::Header;
use cairn_core::mvcc;
use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;

pub use cluster::{member_list_response, member_of};
pub use kv::{
    compaction_request, compaction_response, delete_range_request, delete_range_response,
    put_request, put_response, range_request, range_response, txn_request, txn_response,
};
pub use maintenance::{
    alarm_kind, alarm_response, alarm_type, hash_kv_request, hash_kv_response, hash_response,
    status_response, ETCD_VERSION,
};

/// The member's header as it stands.
pub fn header(header: &Header) -> pb::ResponseHeader {
    pb::ResponseHeader {
        cluster_id: header.cluster_id,
        member_id: header.member_id,
        revision: header.revision,
        raft_term: header.raft_term,
    }
}

/// etcd's `header.fill` on an outermost response: the store's revision when
/// it set one, else the member's current revision.
pub(super) fn filled(member: &Header, revision: i64) -> Option<pb::ResponseHeader> {
    let revision = if revision != 0 {
        revision
    } else {
        member.revision
    };
    Some(pb::ResponseHeader {
        revision,
        ..header(member)
    })
}

/// The header of a response inside a txn: the store's revision and nothing else.
pub(super) fn nested(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        revision,
        ..pb::ResponseHeader::default()
    })
}

pub fn key_value(kv: mvcc::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

/// A watch event. A delete's `kv` holds the key and the delete's revision.
pub fn event(event: mvcc::Event) -> mvccpb::Event {
    let kind = match event.kind {
        mvcc::EventKind::Put => mvccpb::event::EventType::Put,
        mvcc::EventKind::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event {
        r#type: kind.into(),
        kv: Some(key_value(event.kv)),
        prev_kv: event.prev_kv.map(key_value),
    }
}
