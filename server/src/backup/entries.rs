//! etcd 3.4's Raft log entries as cairn's: what a stopped etcd member had
//! logged after its database's last commit becomes cairn's log, so cairn's
//! Raft commits and applies it exactly as etcd would have on restart.
//!
//! * A normal entry holds an `InternalRaftRequest` (v3 requests), or a v2
//!   `Request` (etcd 3.4 publishes members' names and client URLs, and the
//!   cluster version, through the v2 store). Writes become cairn proposals;
//!   reads, authentications and v2 writes cairn has no store for become
//!   no-op entries, so every index keeps its place in the log.
//! * A conf change holds `raftpb.ConfChange` with the member's JSON as its
//!   context; etcd's "add" of a node that is a learner is a promotion, and
//!   its "update" is cairn's `UpdateMember` proposal.

use std::collections::BTreeSet;

use bytes::Bytes;
use cairn_core::auth::{AuthOp, Identity, PermType, Permission};
use cairn_core::member::{
    encode_member_info, encode_proposal, AlarmKind, MemberInfo, Op, Proposal,
};
use cairn_core::raft::{ConfChange, ConfChangeKind, Entry, EntryKind, NodeId};
use cairn_etcd_wal as etcd;
use cairn_proto::etcdserverpb as pb;
use prost::Message;

use super::buckets::MemberJson;
use crate::grpc::convert;

/// etcd's `RequestHeader` in an `InternalRaftRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct RequestHeader {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub username: String,
    #[prost(uint64, tag = "3")]
    pub auth_revision: u64,
}

/// etcd's v2 `Request` (the fields cairn reads).
#[derive(Clone, PartialEq, Message)]
pub struct RequestV2 {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub method: String,
    #[prost(string, tag = "3")]
    pub path: String,
    #[prost(string, tag = "4")]
    pub val: String,
}

/// etcd's `InternalRaftRequest`, with the requests that change state.
/// Reads and token requests are left out: prost skips them, and they
/// become no-ops.
#[derive(Clone, PartialEq, Message)]
pub struct InternalRaftRequest {
    #[prost(message, optional, tag = "100")]
    pub header: Option<RequestHeader>,
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(message, optional, tag = "2")]
    pub v2: Option<RequestV2>,
    #[prost(message, optional, tag = "4")]
    pub put: Option<pb::PutRequest>,
    #[prost(message, optional, tag = "5")]
    pub delete_range: Option<pb::DeleteRangeRequest>,
    #[prost(message, optional, tag = "6")]
    pub txn: Option<pb::TxnRequest>,
    #[prost(message, optional, tag = "7")]
    pub compaction: Option<pb::CompactionRequest>,
    #[prost(message, optional, tag = "8")]
    pub lease_grant: Option<pb::LeaseGrantRequest>,
    #[prost(message, optional, tag = "9")]
    pub lease_revoke: Option<pb::LeaseRevokeRequest>,
    #[prost(message, optional, tag = "10")]
    pub alarm: Option<pb::AlarmRequest>,
    #[prost(message, optional, tag = "1000")]
    pub auth_enable: Option<pb::AuthEnableRequest>,
    #[prost(message, optional, tag = "1011")]
    pub auth_disable: Option<pb::AuthDisableRequest>,
    #[prost(message, optional, tag = "1100")]
    pub auth_user_add: Option<pb::AuthUserAddRequest>,
    #[prost(message, optional, tag = "1101")]
    pub auth_user_delete: Option<pb::AuthUserDeleteRequest>,
    #[prost(message, optional, tag = "1103")]
    pub auth_user_change_password: Option<pb::AuthUserChangePasswordRequest>,
    #[prost(message, optional, tag = "1104")]
    pub auth_user_grant_role: Option<pb::AuthUserGrantRoleRequest>,
    #[prost(message, optional, tag = "1105")]
    pub auth_user_revoke_role: Option<pb::AuthUserRevokeRoleRequest>,
    #[prost(message, optional, tag = "1200")]
    pub auth_role_add: Option<pb::AuthRoleAddRequest>,
    #[prost(message, optional, tag = "1201")]
    pub auth_role_delete: Option<pb::AuthRoleDeleteRequest>,
    #[prost(message, optional, tag = "1203")]
    pub auth_role_grant_permission: Option<pb::AuthRoleGrantPermissionRequest>,
    #[prost(message, optional, tag = "1204")]
    pub auth_role_revoke_permission: Option<pb::AuthRoleRevokePermissionRequest>,
}

/// etcd checked each txn against its own `--max-txn-ops` before logging it.
const ANY_TXN_OPS: usize = u32::MAX as usize;

/// An entry cairn cannot take.
#[derive(Debug, thiserror::Error)]
#[error("etcd log entry {index}: {what}")]
pub struct EntryError {
    pub index: u64,
    pub what: String,
}

/// Counts for the import's log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    pub writes: u64,
    pub conf_changes: u64,
    /// Reads, token requests, v2 writes and etcd's own empty entries.
    pub no_ops: u64,
}

/// Hashes the passwords of users added or changed in the log (etcd 3.4
/// logs them in clear and hashes when applying; cairn logs the hash).
pub type HashPassword<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, String>;

/// Converts etcd's entries, in order. `learners` is the learners before the
/// first entry; it follows the conf changes converted.
pub fn convert_entries(
    entries: &[etcd::Entry],
    learners: &mut BTreeSet<NodeId>,
    hash: HashPassword<'_>,
    counts: &mut Converted,
) -> Result<Vec<Entry>, EntryError> {
    entries
        .iter()
        .map(|entry| {
            let error = |what: String| EntryError {
                index: entry.index,
                what,
            };
            let (kind, data) = match entry.kind {
                etcd::EntryType::Normal => {
                    let data = normal(&entry.data, hash).map_err(error)?;
                    if data.is_empty() {
                        counts.no_ops += 1;
                    } else {
                        counts.writes += 1;
                    }
                    (EntryKind::Normal, data)
                }
                etcd::EntryType::ConfChange => {
                    counts.conf_changes += 1;
                    conf_change(&entry.data, learners).map_err(error)?
                }
                etcd::EntryType::ConfChangeV2 => return Err(error(
                    "a ConfChangeV2 entry (etcd 3.4 writes none; joint consensus is not supported)"
                        .into(),
                )),
            };
            Ok(Entry {
                term: entry.term,
                index: entry.index,
                kind,
                data,
            })
        })
        .collect()
}

/// A normal entry's cairn payload; empty for a no-op.
fn normal(data: &[u8], hash: HashPassword<'_>) -> Result<Bytes, String> {
    if data.is_empty() {
        return Ok(Bytes::new());
    }
    // As etcd's apply: an InternalRaftRequest, else a bare v2 Request.
    let request = match InternalRaftRequest::decode(data) {
        Ok(request) => request,
        Err(_) => {
            let v2 = RequestV2::decode(data)
                .map_err(|e| format!("neither an InternalRaftRequest nor a v2 Request: {e}"))?;
            return Ok(v2_op(&v2)?.map_or_else(Bytes::new, |op| proposal(Identity::System, op)));
        }
    };
    let identity = match request.header.as_ref().map(|h| h.username.as_str()) {
        Some(user) if !user.is_empty() => Identity::User(user.to_string()),
        _ => Identity::System,
    };
    let invalid = |e: tonic::Status| e.message().to_string();
    let op = if let Some(v2) = &request.v2 {
        v2_op(v2)?
    } else if let Some(put) = request.put {
        Some(Op::Put(convert::put_request(put).map_err(invalid)?))
    } else if let Some(delete) = request.delete_range {
        Some(Op::DeleteRange(
            convert::delete_range_request(delete).map_err(invalid)?,
        ))
    } else if let Some(txn) = request.txn {
        Some(Op::Txn(
            convert::txn_request(txn, ANY_TXN_OPS).map_err(invalid)?,
        ))
    } else if let Some(compaction) = request.compaction {
        Some(Op::Compact {
            revision: compaction.revision,
            physical: compaction.physical,
        })
    } else if let Some(grant) = request.lease_grant {
        Some(Op::LeaseGrant {
            id: grant.id,
            ttl_secs: grant.ttl,
        })
    } else if let Some(revoke) = request.lease_revoke {
        Some(Op::LeaseRevoke { id: revoke.id })
    } else if let Some(alarm) = request.alarm {
        alarm_op(&alarm)
    } else {
        auth_op(request, hash)?.map(Op::Auth)
    };
    Ok(op.map_or_else(Bytes::new, |op| proposal(identity, op)))
}

fn proposal(identity: Identity, op: Op) -> Bytes {
    // Origin 0: no member waits for these entries' answers.
    encode_proposal(&Proposal {
        origin: 0,
        seq: 0,
        identity,
        op,
    })
}

fn alarm_op(alarm: &pb::AlarmRequest) -> Option<Op> {
    use pb::alarm_request::AlarmAction;
    let activate = match AlarmAction::try_from(alarm.action) {
        Ok(AlarmAction::Activate) => true,
        Ok(AlarmAction::Deactivate) => false,
        _ => return None,
    };
    let kind: AlarmKind = convert::alarm_kind(alarm.alarm)?;
    Some(Op::Alarm {
        activate,
        member: alarm.member_id,
        alarm: kind,
    })
}

fn auth_op(request: InternalRaftRequest, hash: HashPassword<'_>) -> Result<Option<AuthOp>, String> {
    Ok(Some(if request.auth_enable.is_some() {
        AuthOp::Enable
    } else if request.auth_disable.is_some() {
        AuthOp::Disable
    } else if let Some(add) = request.auth_user_add {
        let no_password = add.options.is_some_and(|o| o.no_password);
        AuthOp::UserAdd {
            password_hash: if no_password {
                Vec::new()
            } else {
                hash(&add.password)?
            },
            name: add.name,
            no_password,
        }
    } else if let Some(delete) = request.auth_user_delete {
        AuthOp::UserDelete { name: delete.name }
    } else if let Some(change) = request.auth_user_change_password {
        AuthOp::UserChangePassword {
            password_hash: hash(&change.password)?,
            name: change.name,
        }
    } else if let Some(grant) = request.auth_user_grant_role {
        AuthOp::UserGrantRole {
            user: grant.user,
            role: grant.role,
        }
    } else if let Some(revoke) = request.auth_user_revoke_role {
        AuthOp::UserRevokeRole {
            name: revoke.name,
            role: revoke.role,
        }
    } else if let Some(add) = request.auth_role_add {
        AuthOp::RoleAdd { name: add.name }
    } else if let Some(delete) = request.auth_role_delete {
        AuthOp::RoleDelete { name: delete.role }
    } else if let Some(grant) = request.auth_role_grant_permission {
        let perm = grant.perm.unwrap_or_default();
        let perm_type = u8::try_from(perm.perm_type)
            .ok()
            .and_then(PermType::from_byte)
            .ok_or_else(|| format!("permission type {}", perm.perm_type))?;
        AuthOp::RoleGrantPermission {
            name: grant.name,
            perm: Permission {
                key: perm.key.to_vec(),
                range_end: perm.range_end.to_vec(),
                perm_type,
            },
        }
    } else if let Some(revoke) = request.auth_role_revoke_permission {
        AuthOp::RoleRevokePermission {
            role: revoke.role,
            key: revoke.key.to_vec(),
            range_end: revoke.range_end.to_vec(),
        }
    } else {
        return Ok(None);
    }))
}

/// etcd's v2 attributes JSON (`membership.Attributes`).
#[derive(serde::Deserialize)]
struct Attributes {
    #[serde(default)]
    name: String,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
}

/// The one v2 write cairn keeps: a member publishing its name and client
/// URLs (`PUT /0/members/<id>/attributes`). The cluster version and the v2
/// keys are not cairn's to keep.
fn v2_op(request: &RequestV2) -> Result<Option<Op>, String> {
    Ok(
        v2_publication(request)?.map(|(member, name, client_urls)| Op::PublishAttributes {
            member,
            name,
            client_urls,
        }),
    )
}

/// A member's publication of its name and client URLs in a normal entry's
/// data, if that is what it holds.
pub fn publication(data: &[u8]) -> Result<Option<(NodeId, String, Vec<String>)>, String> {
    if data.is_empty() {
        return Ok(None);
    }
    let v2 = match InternalRaftRequest::decode(data) {
        Ok(request) => request.v2,
        Err(_) => RequestV2::decode(data).ok(),
    };
    v2.map_or(Ok(None), |v2| v2_publication(&v2))
}

fn v2_publication(request: &RequestV2) -> Result<Option<(NodeId, String, Vec<String>)>, String> {
    let member = request
        .path
        .strip_prefix("/0/members/")
        .and_then(|rest| rest.strip_suffix("/attributes"))
        .and_then(|id| u64::from_str_radix(id, 16).ok());
    let Some(member) = member.filter(|_| request.method == "PUT") else {
        return Ok(None);
    };
    let attributes: Attributes = serde_json::from_str(&request.val)
        .map_err(|e| format!("member {member:x}'s attributes: {e}"))?;
    Ok(Some((member, attributes.name, attributes.client_urls)))
}

/// A conf change entry in cairn's form (kind, data).
fn conf_change(data: &[u8], learners: &mut BTreeSet<NodeId>) -> Result<(EntryKind, Bytes), String> {
    let change = etcd::decode_conf_change(data).map_err(|e| e.to_string())?;
    let node = change.node_id;
    let member = || -> Result<MemberJson, String> {
        serde_json::from_slice(&change.context).map_err(|e| format!("member {node:x}'s JSON: {e}"))
    };
    let info = |member: MemberJson| MemberInfo {
        name: member.name,
        peer_urls: member.peer_urls,
        client_urls: member.client_urls,
    };
    let conf = |kind, context: MemberInfo| {
        let change = ConfChange {
            kind,
            node,
            context: encode_member_info(&context),
        };
        (EntryKind::ConfChange, change.encode())
    };
    Ok(match change.kind {
        etcd::ConfChangeType::AddNode if learners.remove(&node) => {
            conf(ConfChangeKind::PromoteLearner, info(member()?))
        }
        etcd::ConfChangeType::AddNode => conf(ConfChangeKind::AddVoter, info(member()?)),
        etcd::ConfChangeType::AddLearnerNode => {
            learners.insert(node);
            conf(ConfChangeKind::AddLearner, info(member()?))
        }
        etcd::ConfChangeType::RemoveNode => {
            learners.remove(&node);
            conf(ConfChangeKind::Remove, MemberInfo::default())
        }
        etcd::ConfChangeType::UpdateNode => {
            let op = Op::UpdateMember {
                member: node,
                peer_urls: member()?.peer_urls,
            };
            (EntryKind::Normal, proposal(Identity::System, op))
        }
    })
}
