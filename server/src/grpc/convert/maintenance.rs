//! `Maintenance`: status, hashes and alarms.

use cairn_core::member::{calls, AlarmKind, Header, StatusInfo};
use cairn_core::mvcc::KvHash;
use cairn_proto::etcdserverpb as pb;

use super::{filled, header};

/// The etcd version `Maintenance.Status` reports: the API cairn implements.
/// Clients (etcdctl, the Go client's version checks) parse it as semver.
pub use crate::version::ETCD_VERSION;

/// The text `Maintenance.Status` lists in `errors` when the member knows no
/// leader (etcd's `etcdserver.ErrNoLeader`).
const NO_LEADER_TEXT: &str = "etcdserver: no leader";

/// `Maintenance.HashKV`.
pub fn hash_kv_request(request: pb::HashKvRequest) -> calls::HashKv {
    calls::HashKv {
        revision: request.revision,
    }
}

/// `Maintenance.Status`; `errors` lists "etcdserver: no leader" when the
/// member knows no leader, as etcd's does (alarms would follow; cairn raises
/// none).
pub fn status_response(member: &Header, info: StatusInfo) -> pb::StatusResponse {
    let mut errors = if info.leader == 0 {
        vec![NO_LEADER_TEXT.to_owned()]
    } else {
        Vec::new()
    };
    // etcd lists each active alarm in its protobuf text form.
    for &(member_id, kind) in &info.alarms {
        let name = match kind {
            AlarmKind::NoSpace => "NOSPACE",
            AlarmKind::Corrupt => "CORRUPT",
        };
        errors.push(format!("memberID:{member_id} alarm:{name} "));
    }
    pb::StatusResponse {
        header: Some(header(member)),
        version: ETCD_VERSION.to_owned(),
        db_size: info.db_size,
        leader: info.leader,
        raft_index: info.raft_index,
        raft_term: info.raft_term,
        raft_applied_index: info.raft_applied_index,
        errors,
        db_size_in_use: info.db_size_in_use,
        is_learner: info.is_learner,
    }
}

/// `Maintenance.Hash`: the hash of the whole store at the current revision.
pub fn hash_response(member: &Header, hash: u32) -> pb::HashResponse {
    pb::HashResponse {
        header: Some(header(member)),
        hash,
    }
}

/// `Maintenance.HashKV`: the header carries the store's current revision (as
/// etcd's HashByRev returns it), not the revision hashed up to.
pub fn hash_kv_response(member: &Header, hash: KvHash) -> pb::HashKvResponse {
    pb::HashKvResponse {
        header: filled(member, hash.current_revision),
        hash: hash.hash,
        compact_revision: hash.compact_revision,
    }
}

/// `Maintenance.Alarm`: cairn raises no alarms. (etcd 3.4 sends this response
/// with no header at all, which makes `etcdctl alarm list -w fields` crash on
/// a nil pointer; like etcd 3.5, we fill it.)
pub fn alarm_response(member: &Header, alarms: &[(u64, AlarmKind)]) -> pb::AlarmResponse {
    pb::AlarmResponse {
        header: Some(header(member)),
        alarms: alarms
            .iter()
            .map(|&(member_id, kind)| pb::AlarmMember {
                member_id,
                alarm: alarm_type(kind) as i32,
            })
            .collect(),
    }
}

/// etcd's protobuf alarm type for cairn's.
pub fn alarm_type(kind: AlarmKind) -> pb::AlarmType {
    match kind {
        AlarmKind::NoSpace => pb::AlarmType::Nospace,
        AlarmKind::Corrupt => pb::AlarmType::Corrupt,
    }
}

/// cairn's alarm kind for etcd's protobuf alarm type (`None` for NONE).
pub fn alarm_kind(alarm: i32) -> Option<AlarmKind> {
    match pb::AlarmType::try_from(alarm) {
        Ok(pb::AlarmType::Nospace) => Some(AlarmKind::NoSpace),
        Ok(pb::AlarmType::Corrupt) => Some(AlarmKind::Corrupt),
        _ => None,
    }
}
