//! etcd 3.4's backend buckets and the encoding of each record in them, both
//! ways. Facts from etcd's `mvcc/revision.go`, `mvcc/kvstore.go`,
//! `lease/lessor.go`, `auth/store.go`, `etcdserver/api/membership/store.go`
//! and `etcdserver/apply.go` (alarms).
//!
//! ```text
//!  bucket           key                               value
//!  alarm            AlarmMember protobuf              (empty)
//!  auth             "authEnabled" | "authRevision"    0x01/0x00 | u64 BE
//!  authRoles        role name                         authpb.Role
//!  authUsers        user name                         authpb.User
//!  cluster          "clusterVersion"                  "3.4.0"
//!  key              main u64 BE '_' sub u64 BE ['t']  mvccpb.KeyValue ('t': a delete, {key} only;
//!                                                     written by cairn_core's RevisionView)
//!  lease            lease ID u64 BE                   leasepb.Lease {ID, TTL}
//!  members          member ID in hex                  member JSON
//!  members_removed  member ID in hex                  "removed"
//!  meta             "consistent_index"                u64 BE
//!                   "scheduledCompactRev"/"finishedCompactRev"  revision key (17 bytes)
//! ```

use bytes::Bytes;
use cairn_core::auth::{PermType, Permission, Role, User};
use cairn_core::member::{AlarmKind, MemberStatus};
use cairn_core::mvcc::RevisionRecord;
use cairn_proto::{authpb, etcdserverpb as pb, mvccpb};
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::grpc::convert::{alarm_kind, alarm_type};

pub const ALARM: &[u8] = b"alarm";
pub const AUTH: &[u8] = b"auth";
pub const AUTH_ROLES: &[u8] = b"authRoles";
pub const AUTH_USERS: &[u8] = b"authUsers";
pub const CLUSTER: &[u8] = b"cluster";
pub const KEY: &[u8] = b"key";
pub const LEASE: &[u8] = b"lease";
pub const MEMBERS: &[u8] = b"members";
pub const MEMBERS_REMOVED: &[u8] = b"members_removed";
pub const META: &[u8] = b"meta";

pub const AUTH_ENABLED: &[u8] = b"authEnabled";
pub const AUTH_REVISION: &[u8] = b"authRevision";
pub const CLUSTER_VERSION: &[u8] = b"clusterVersion";
pub const CONSISTENT_INDEX: &[u8] = b"consistent_index";
pub const SCHEDULED_COMPACT: &[u8] = b"scheduledCompactRev";
pub const FINISHED_COMPACT: &[u8] = b"finishedCompactRev";
/// The cluster version cairn reports (etcd 3.4's).
pub const CLUSTER_VERSION_VALUE: &[u8] = b"3.4.0";

/// A record etcd would not have written.
#[derive(Debug, thiserror::Error)]
#[error("bucket {bucket}: {what}")]
pub struct RecordError {
    pub bucket: &'static str,
    pub what: String,
}

fn bad(bucket: &'static str, what: impl Into<String>) -> RecordError {
    RecordError {
        bucket,
        what: what.into(),
    }
}

/// `(main, sub, tombstone)` of a `key` bucket key.
pub fn parse_revision_key(key: &[u8]) -> Result<(i64, i64, bool), RecordError> {
    let tombstone = match key.len() {
        17 => false,
        18 if key[17] == b't' => true,
        _ => {
            return Err(bad(
                "key",
                format!(
                    "{} is not a revision key (17 bytes, or 18 ending in 't')",
                    hex(key)
                ),
            ))
        }
    };
    if key[8] != b'_' {
        return Err(bad(
            "key",
            format!("{} has no '_' after its main revision", hex(key)),
        ));
    }
    let main = i64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let sub = i64::from_be_bytes(key[9..17].try_into().expect("8 bytes"));
    Ok((main, sub, tombstone))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The revision record a `key` bucket entry holds.
pub fn parse_key_value(key: &[u8], value: &[u8]) -> Result<RevisionRecord, RecordError> {
    let (main, sub, tombstone) = parse_revision_key(key)?;
    let kv = mvccpb::KeyValue::decode(value).map_err(|e| {
        bad(
            "key",
            format!("revision {main}_{sub}: not an mvccpb.KeyValue: {e}"),
        )
    })?;
    if !tombstone && kv.mod_revision != main {
        return Err(bad(
            "key",
            format!(
                "revision {main}_{sub} holds a key modified at revision {}",
                kv.mod_revision
            ),
        ));
    }
    Ok(RevisionRecord {
        key: kv.key,
        main,
        sub,
        tombstone,
        create_revision: kv.create_revision,
        version: kv.version,
        lease: kv.lease,
        value: kv.value,
    })
}

/// etcd's `leasepb.Lease`.
#[derive(Clone, PartialEq, Message)]
pub struct LeasePb {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(int64, tag = "2")]
    pub ttl: i64,
    #[prost(int64, tag = "3")]
    pub remaining_ttl: i64,
}

pub fn lease_key(id: i64) -> [u8; 8] {
    (id as u64).to_be_bytes()
}

/// `(id, ttl)` of a `lease` bucket entry.
pub fn parse_lease(key: &[u8], value: &[u8]) -> Result<(i64, i64), RecordError> {
    let lease =
        LeasePb::decode(value).map_err(|e| bad("lease", format!("not a leasepb.Lease: {e}")))?;
    if key != lease_key(lease.id) || lease.id <= 0 {
        return Err(bad(
            "lease",
            format!("key {} holds lease {:x}", hex(key), lease.id),
        ));
    }
    Ok((lease.id, lease.ttl))
}

/// A member as etcd's `membership.Member` marshals to JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberJson {
    pub id: u64,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(
        rename = "isLearner",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub is_learner: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "clientURLs", default, skip_serializing_if = "Vec::is_empty")]
    pub client_urls: Vec<String>,
}

/// etcd's `backendMemberKey`: the ID in lower-case hex, no padding.
pub fn member_key(id: u64) -> String {
    format!("{id:x}")
}

/// A member's value in the `members` bucket, as Go's `json.Marshal`
/// writes it (shared with cairnctl's `snapshot restore`, in cairn-etcd-wal).
pub fn member_json(member: &MemberStatus) -> Vec<u8> {
    cairn_etcd_wal::member_record_json(
        member.id,
        &member.peer_urls,
        member.is_learner,
        &member.name,
        &member.client_urls,
    )
    .into_bytes()
}

pub fn parse_member(key: &[u8], value: &[u8]) -> Result<MemberStatus, RecordError> {
    let member: MemberJson = serde_json::from_slice(value)
        .map_err(|e| bad("members", format!("not a member's JSON: {e}")))?;
    if key != member_key(member.id).as_bytes() || member.id == 0 {
        return Err(bad(
            "members",
            format!(
                "key {:?} holds member {:x}",
                String::from_utf8_lossy(key),
                member.id
            ),
        ));
    }
    Ok(MemberStatus {
        id: member.id,
        name: member.name,
        peer_urls: member.peer_urls,
        client_urls: member.client_urls,
        is_learner: member.is_learner,
    })
}

pub fn parse_removed(key: &[u8]) -> Result<u64, RecordError> {
    std::str::from_utf8(key)
        .ok()
        .and_then(|text| u64::from_str_radix(text, 16).ok())
        .filter(|id| *id != 0)
        .ok_or_else(|| {
            bad(
                "members_removed",
                format!("{:?} is not a member ID", String::from_utf8_lossy(key)),
            )
        })
}

pub fn user_value(user: &User) -> Vec<u8> {
    authpb::User {
        name: Bytes::copy_from_slice(user.name.as_bytes()),
        password: Bytes::copy_from_slice(&user.password_hash),
        roles: user.roles.clone(),
        options: user
            .no_password
            .then_some(authpb::UserAddOptions { no_password: true }),
    }
    .encode_to_vec()
}

pub fn parse_user(key: &[u8], value: &[u8]) -> Result<User, RecordError> {
    let user = authpb::User::decode(value)
        .map_err(|e| bad("authUsers", format!("not an authpb.User: {e}")))?;
    let name = String::from_utf8(user.name.to_vec())
        .map_err(|_| bad("authUsers", "a user name that is not UTF-8"))?;
    if key != name.as_bytes() || name.is_empty() {
        return Err(bad(
            "authUsers",
            format!("key {:?} holds user {name:?}", String::from_utf8_lossy(key)),
        ));
    }
    Ok(User {
        name,
        password_hash: user.password.to_vec(),
        roles: user.roles,
        no_password: user.options.is_some_and(|o| o.no_password),
    })
}

pub fn role_value(role: &Role) -> Vec<u8> {
    authpb::Role {
        name: Bytes::copy_from_slice(role.name.as_bytes()),
        key_permission: role
            .perms
            .iter()
            .map(|perm| authpb::Permission {
                perm_type: i32::from(perm.perm_type.to_byte()),
                key: Bytes::copy_from_slice(&perm.key),
                range_end: Bytes::copy_from_slice(&perm.range_end),
            })
            .collect(),
    }
    .encode_to_vec()
}

pub fn parse_role(key: &[u8], value: &[u8]) -> Result<Role, RecordError> {
    let role = authpb::Role::decode(value)
        .map_err(|e| bad("authRoles", format!("not an authpb.Role: {e}")))?;
    let name = String::from_utf8(role.name.to_vec())
        .map_err(|_| bad("authRoles", "a role name that is not UTF-8"))?;
    if key != name.as_bytes() || name.is_empty() {
        return Err(bad(
            "authRoles",
            format!("key {:?} holds role {name:?}", String::from_utf8_lossy(key)),
        ));
    }
    let perms = role
        .key_permission
        .into_iter()
        .map(|perm| {
            let perm_type = u8::try_from(perm.perm_type)
                .ok()
                .and_then(PermType::from_byte)
                .ok_or_else(|| {
                    bad(
                        "authRoles",
                        format!("role {name:?}: permission type {}", perm.perm_type),
                    )
                })?;
            Ok(Permission {
                key: perm.key.to_vec(),
                range_end: perm.range_end.to_vec(),
                perm_type,
            })
        })
        .collect::<Result<Vec<_>, RecordError>>()?;
    Ok(Role { name, perms })
}

pub fn alarm_key(member: u64, kind: AlarmKind) -> Vec<u8> {
    pb::AlarmMember {
        member_id: member,
        alarm: alarm_type(kind) as i32,
    }
    .encode_to_vec()
}

pub fn parse_alarm(key: &[u8]) -> Result<(u64, AlarmKind), RecordError> {
    let alarm = pb::AlarmMember::decode(key)
        .map_err(|e| bad("alarm", format!("not an AlarmMember: {e}")))?;
    let kind = alarm_kind(alarm.alarm)
        .ok_or_else(|| bad("alarm", format!("alarm type {}", alarm.alarm)))?;
    Ok((alarm.member_id, kind))
}

/// A big-endian u64 (`consistent_index`, `authRevision`).
pub fn parse_u64(bucket: &'static str, name: &str, value: &[u8]) -> Result<u64, RecordError> {
    <[u8; 8]>::try_from(value)
        .map(u64::from_be_bytes)
        .map_err(|_| bad(bucket, format!("{name} is {} bytes, not 8", value.len())))
}

/// A compaction revision in `meta` (a revision key whose main is the revision).
pub fn parse_compact_revision(name: &str, value: &[u8]) -> Result<i64, RecordError> {
    match parse_revision_key(value) {
        Ok((main, _, false)) if main >= 0 => Ok(main),
        _ => Err(bad(
            "meta",
            format!("{name} is not a revision: {}", hex(value)),
        )),
    }
}
