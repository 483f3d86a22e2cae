//! cairn's state out as etcd 3.4's backup: the bbolt database `etcdctl
//! snapshot save` writes, which `etcdctl snapshot restore` turns into a data
//! directory real etcd starts from.
//!
//! The database is written page by page into an unnamed temporary file,
//! then streamed from it; memory holds the image's revision list (shared
//! keys and values, see [`BackupImage`]) and a sorted list of references
//! to it, never a second copy of the data.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};

use cairn_bbolt::{DbWriter, WriteError};
use cairn_core::member::BackupImage;

use super::buckets::{self, *};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing the backup database: {0}")]
    Write(#[from] WriteError),
    #[error("writing the backup database: {0}")]
    Io(#[from] io::Error),
}

/// What was written, for the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub revisions: u64,
    pub leases: u64,
    pub users: u64,
    pub roles: u64,
}

/// Writes `image` as etcd's database into `file` (from its start) and
/// leaves `file` at its start, ready to be read back.
pub fn write_database(image: &BackupImage, file: &mut File) -> Result<Written, ExportError> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    let mut out = BufWriter::with_capacity(1 << 20, &mut *file);
    let mut written = write_database_to(image, &mut out)?;
    out.flush()?;
    drop(out);
    written.bytes = file.stream_position()?;
    file.seek(SeekFrom::Start(0))?;
    Ok(written)
}

/// Writes `image` as etcd's database to `out`, from where it stands.
pub fn write_database_to<W: Write + Seek>(
    image: &BackupImage,
    out: W,
) -> Result<Written, ExportError> {
    let mut written = Written::default();
    let mut db = DbWriter::new(out)?;

    db.bucket(ALARM)?;
    let mut alarms: Vec<Vec<u8>> = image
        .alarms
        .iter()
        .map(|(member, kind)| alarm_key(*member, *kind))
        .collect();
    alarms.sort();
    alarms.dedup();
    for key in &alarms {
        db.put(key, b"")?;
    }

    db.bucket(AUTH)?;
    // etcd writes the flag when auth is first enabled, and its revision
    // from the start: a store that never had auth has the revision alone.
    if image.auth.is_enabled() {
        db.put(AUTH_ENABLED, &[1])?;
    }
    db.put(AUTH_REVISION, &image.auth.revision().to_be_bytes())?;
    db.bucket(AUTH_ROLES)?;
    for role in image.auth.roles() {
        db.put(role.name.as_bytes(), &role_value(role))?;
        written.roles += 1;
    }
    db.bucket(AUTH_USERS)?;
    for user in image.auth.users() {
        db.put(user.name.as_bytes(), &user_value(user))?;
        written.users += 1;
    }

    db.bucket(CLUSTER)?;
    db.put(CLUSTER_VERSION, CLUSTER_VERSION_VALUE)?;

    db.bucket(KEY)?;
    let mut revisions = image.revisions.iter().collect::<Vec<_>>();
    revisions.sort_unstable_by_key(|revision| (revision.main, revision.sub));
    let mut value = Vec::new();
    for revision in revisions {
        value.clear();
        revision.backend_value(&mut value);
        db.put(&revision.backend_key(), &value)?;
        written.revisions += 1;
    }

    db.bucket(LEASE)?;
    let mut leases = image.leases.clone();
    leases.sort_by_key(|lease| lease.id as u64);
    for lease in &leases {
        let value = buckets::LeasePb {
            id: lease.id,
            ttl: lease.ttl_secs,
            remaining_ttl: 0,
        };
        db.put(&lease_key(lease.id), &prost::Message::encode_to_vec(&value))?;
        written.leases += 1;
    }

    // Members sort by their hex IDs as strings, as bbolt keeps them.
    db.bucket(MEMBERS)?;
    let mut members: Vec<(String, Vec<u8>)> = image
        .members
        .iter()
        .map(|member| (member_key(member.id), member_json(member)))
        .collect();
    members.sort();
    for (key, value) in &members {
        db.put(key.as_bytes(), value)?;
    }
    db.bucket(MEMBERS_REMOVED)?;
    let mut removed: Vec<String> = image.removed.iter().map(|id| member_key(*id)).collect();
    removed.sort();
    for key in &removed {
        db.put(key.as_bytes(), b"removed")?;
    }

    db.bucket(META)?;
    db.put(CONSISTENT_INDEX, &image.applied_index.to_be_bytes())?;
    let compacted = image.compact_revision;
    if compacted > 0 {
        let revision = cairn_core::mvcc::backend_key(compacted, 0, false);
        db.put(FINISHED_COMPACT, &revision)?;
        db.put(SCHEDULED_COMPACT, &revision)?;
    }

    let mut out = db.finish()?;
    written.bytes = out.stream_position()?;
    Ok(written)
}
