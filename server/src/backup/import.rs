//! etcd 3.4's database in: the state a bbolt file (`member/snap/db`, or an
//! `etcdctl snapshot save` file without its hash) holds, checked record by
//! record and rebuilt as cairn's store, leases, auth and membership.
//!
//! Nothing is trusted: every bucket's records are decoded and checked (a
//! revision's key against its value, each key's versions against its
//! history), and any fault is an error naming the bucket and the record.
//! The caller imports all of it or nothing.

use cairn_bbolt::{BoltError, Db, Entry};
use cairn_core::auth::{AuthStore, Role, User};
use cairn_core::lease::LeaseRecord;
use cairn_core::member::{AlarmKind, MemberStatus};
use cairn_core::mvcc::{HistoryError, Store, StoreBuilder, StoreConfig};
use cairn_core::raft::NodeId;

use super::buckets::*;

/// Why a database cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the database is not a bbolt file etcd wrote: {0}")]
    Bolt(#[from] BoltError),
    #[error("the database holds a record etcd would not have written: {0}")]
    Record(#[from] RecordError),
    #[error("the database's revisions are not one history: {0}")]
    History(#[from] HistoryError),
    #[error("the database has no {0:?} bucket (not an etcd v3 database?)")]
    MissingBucket(&'static str),
}

/// What an etcd database holds, as cairn keeps it.
#[derive(Debug)]
pub struct ImportedDb {
    /// The Raft index the database is at (etcd's consistent index).
    pub consistent_index: u64,
    pub store: Store,
    pub leases: Vec<LeaseRecord>,
    pub auth: AuthStore,
    /// The `members` bucket; empty in a database `etcdctl snapshot restore`
    /// made (it clears them; membership is then in the Raft snapshot).
    pub members: Vec<MemberStatus>,
    pub removed: Vec<NodeId>,
    pub alarms: Vec<(NodeId, AlarmKind)>,
    /// Revisions read from the `key` bucket.
    pub revisions: u64,
    /// Deletes left by a compaction etcd had not finished, dropped.
    pub dropped_deletes: u64,
}

fn each(
    db: &Db<'_>,
    name: &'static [u8],
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), ImportError>,
) -> Result<bool, ImportError> {
    let Some(bucket) = db.bucket(name)? else {
        return Ok(false);
    };
    let mut failed = None;
    db.for_each(bucket, |key, entry| match entry {
        Entry::Value(value) => match visit(key, value) {
            Ok(()) => Ok(()),
            Err(error) => {
                failed = Some(error);
                Err(BoltError::Stopped)
            }
        },
        Entry::Bucket(_) => {
            failed = Some(ImportError::Record(RecordError {
                bucket: "?",
                what: format!(
                    "bucket {:?} nests a bucket, which etcd never does",
                    String::from_utf8_lossy(name)
                ),
            }));
            Err(BoltError::Stopped)
        }
    })
    .map_err(|error| failed.take().unwrap_or(ImportError::Bolt(error)))?;
    Ok(true)
}

/// Reads an etcd 3.4 database file.
pub fn read_db(
    data: &[u8],
    config: StoreConfig,
    token_ttl_ms: u64,
) -> Result<ImportedDb, ImportError> {
    let db = Db::open(data)?;

    let mut consistent_index = 0;
    let mut scheduled_compact = -1;
    let mut finished_compact = -1;
    let found = each(&db, META, |key, value| {
        match key {
            CONSISTENT_INDEX => consistent_index = parse_u64("meta", "consistent_index", value)?,
            SCHEDULED_COMPACT => {
                scheduled_compact = parse_compact_revision("scheduledCompactRev", value)?;
            }
            FINISHED_COMPACT => {
                finished_compact = parse_compact_revision("finishedCompactRev", value)?;
            }
            _ => {}
        }
        Ok(())
    })?;
    if !found {
        return Err(ImportError::MissingBucket("meta"));
    }

    let mut builder = StoreBuilder::new(config);
    let mut revisions = 0u64;
    let found = each(&db, KEY, |key, value| {
        builder.push(parse_key_value(key, value)?)?;
        revisions += 1;
        Ok(())
    })?;
    if !found {
        return Err(ImportError::MissingBucket("key"));
    }
    let dropped_deletes = builder.dropped_deletes();
    // etcd finishes a scheduled compaction when it starts; so does cairn.
    let store = builder.finish(1, scheduled_compact.max(finished_compact))?;

    let mut leases = Vec::new();
    each(&db, LEASE, |key, value| {
        let (id, ttl_secs) = parse_lease(key, value)?;
        leases.push(LeaseRecord { id, ttl_secs });
        Ok(())
    })?;

    let mut enabled = false;
    let mut auth_revision = 1;
    each(&db, AUTH, |key, value| {
        match key {
            AUTH_ENABLED => enabled = value == [1],
            AUTH_REVISION => auth_revision = parse_u64("auth", "authRevision", value)?,
            _ => {}
        }
        Ok(())
    })?;
    let mut users: Vec<User> = Vec::new();
    each(&db, AUTH_USERS, |key, value| {
        users.push(parse_user(key, value)?);
        Ok(())
    })?;
    let mut roles: Vec<Role> = Vec::new();
    each(&db, AUTH_ROLES, |key, value| {
        roles.push(parse_role(key, value)?);
        Ok(())
    })?;
    let auth = AuthStore::import(enabled, auth_revision, users, roles, token_ttl_ms);

    let mut members = Vec::new();
    each(&db, MEMBERS, |key, value| {
        members.push(parse_member(key, value)?);
        Ok(())
    })?;
    members.sort_by_key(|member| member.id);
    let mut removed = Vec::new();
    each(&db, MEMBERS_REMOVED, |key, _| {
        removed.push(parse_removed(key)?);
        Ok(())
    })?;
    removed.sort_unstable();
    let mut alarms = Vec::new();
    each(&db, ALARM, |key, _| {
        alarms.push(parse_alarm(key)?);
        Ok(())
    })?;

    Ok(ImportedDb {
        consistent_index,
        store,
        leases,
        auth,
        members,
        removed,
        alarms,
        revisions,
        dropped_deletes,
    })
}
