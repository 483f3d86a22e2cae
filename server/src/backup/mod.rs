//! Backups and migration in etcd 3.4's own formats.
//!
//! * Out: `Maintenance.Snapshot` streams the member's state as the bbolt
//!   database etcd's `snapshot save` writes, then its SHA-256, so `etcdctl
//!   snapshot save/status/restore` work on cairn as on etcd ([`export`]).
//! * In: a data directory etcd wrote is imported at start-up ([`import`]).
//!
//! [`buckets`] is the record layout both directions share.

pub mod buckets;
pub mod entries;
pub mod export;
pub mod fuzz;
pub mod import;
pub mod migrate;

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cairn_core::member::BackupImage;
use cairn_proto::etcdserverpb as pb;
use tokio::sync::mpsc;
use tonic::Status;

use crate::logging::Logger;

/// etcd's `snapshotSendBufferSize`: the bytes of database in one message.
pub const SEND_CHUNK_BYTES: usize = 32 * 1024;

/// Messages in flight between the writer thread and gRPC: what bounds the
/// memory a slow client can make the member hold.
const CHANNEL_DEPTH: usize = 8;

/// Opens a file in `dir` that no one else can see: created, then unlinked
/// at once, so neither a crash nor a client that goes away leaves it behind.
fn hidden_file(dir: &Path) -> std::io::Result<File> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir)?;
    let name = format!(
        ".backup-{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    fs::remove_file(&path)?;
    Ok(file)
}

/// Streams `image` as etcd streams a snapshot: the database in chunks of
/// [`SEND_CHUNK_BYTES`], each with the bytes still to come, then one
/// message holding the SHA-256 of the database with `remaining_bytes` 0.
/// The database is written to an unlinked file in `dir` on a blocking
/// thread; a client that goes away stops it.
pub fn stream_backup(
    image: Box<BackupImage>,
    dir: PathBuf,
    log: Arc<Logger>,
) -> mpsc::Receiver<Result<pb::SnapshotResponse, Status>> {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::task::spawn_blocking(move || {
        if let Err(status) = send_backup(image, &dir, &tx, &log) {
            log.warn(
                LOG_PACKAGE,
                &format!(
                    "failed to send database snapshot to client ({})",
                    status.message()
                ),
            );
            let _ = tx.blocking_send(Err(status));
        }
    });
    rx
}

/// Where etcd's snapshot lines come from.
const LOG_PACKAGE: &str = "etcdserver/api/v3rpc";

/// go-humanize's `Bytes`, which etcd's snapshot lines use: SI units, one
/// decimal below 10 ("12 kB", "1.2 MB").
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 10 {
        return format!("{bytes} B");
    }
    let exponent = (bytes as f64).log(1000.0).floor() as usize;
    let exponent = exponent.min(UNITS.len() - 1);
    let value = ((bytes as f64) / 1000f64.powi(exponent as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[exponent])
    } else {
        format!("{value:.0} {}", UNITS[exponent])
    }
}

fn send_backup(
    image: Box<BackupImage>,
    dir: &Path,
    tx: &mpsc::Sender<Result<pb::SnapshotResponse, Status>>,
    log: &Logger,
) -> Result<(), Status> {
    let internal = |e: &dyn std::fmt::Display| Status::internal(format!("etcdserver: {e}"));
    let mut file = hidden_file(dir).map_err(|e| internal(&e))?;
    let written = export::write_database(&image, &mut file).map_err(|e| internal(&e))?;
    // The live store moves on; the copy's index is no longer needed.
    drop(image);
    let size = human_bytes(written.bytes);
    log.info(
        LOG_PACKAGE,
        &format!(
            "sending database snapshot to client {size} [{} bytes]",
            written.bytes
        ),
    );
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut sent = 0u64;
    let mut buf = vec![0u8; SEND_CHUNK_BYTES];
    while sent < written.bytes {
        let n = (written.bytes - sent).min(SEND_CHUNK_BYTES as u64) as usize;
        file.read_exact(&mut buf[..n]).map_err(|e| internal(&e))?;
        digest.update(&buf[..n]);
        sent += n as u64;
        let message = pb::SnapshotResponse {
            header: None,
            remaining_bytes: written.bytes - sent,
            blob: bytes::Bytes::copy_from_slice(&buf[..n]),
        };
        if tx.blocking_send(Ok(message)).is_err() {
            return Ok(()); // the client went away
        }
    }
    let sha = digest.finish();
    log.info(
        LOG_PACKAGE,
        &format!(
            "sending database sha256 checksum to client [{} bytes]",
            sha.as_ref().len()
        ),
    );
    if tx
        .blocking_send(Ok(pb::SnapshotResponse {
            header: None,
            remaining_bytes: 0,
            blob: bytes::Bytes::copy_from_slice(sha.as_ref()),
        }))
        .is_ok()
    {
        log.info(
            LOG_PACKAGE,
            &format!(
                "successfully sent database snapshot to client {size} [{} bytes]",
                written.bytes
            ),
        );
    }
    Ok(())
}

/// At start-up: if the data directory is etcd's and cairn has not imported
/// it yet, imports it (all or nothing) and logs what it found. A directory
/// cairn already imported, or wrote itself, is left alone.
pub async fn import_etcd_data_dir(
    config: &crate::config::Config,
    log: &crate::logging::Logger,
) -> Result<(), String> {
    let files =
        cairn_runtime_tokio::DataDir::new(&config.data_dir_path(), config.wal_dir.as_deref());
    let Some(etcd) = migrate::etcd_files(&files) else {
        return Ok(());
    };
    if files.has_wal() {
        return Ok(());
    }
    log.info(
        "etcdserver",
        &format!(
            "importing etcd's data directory {} (database {}, WAL {}); etcd's files are left as they are",
            files.root.display(),
            etcd.db.display(),
            etcd.wal.display()
        ),
    );
    let store = cairn_core::mvcc::StoreConfig {
        max_txn_ops: config.max_txn_ops as usize,
    };
    let token_ttl_ms = config.auth_token_ttl_s.saturating_mul(1000).max(1);
    let cost = u32::try_from(config.bcrypt_cost).unwrap_or(bcrypt::DEFAULT_COST);
    let summary = tokio::task::spawn_blocking(move || {
        let hash = |password: &str| {
            bcrypt::hash(password, cost)
                .map(String::into_bytes)
                .map_err(|e| e.to_string())
        };
        migrate::import(&etcd, &files, store, token_ttl_ms, &hash)
    })
    .await
    .map_err(|e| format!("importing etcd's data directory: {e}"))?
    .map_err(|e| format!("cannot import etcd's data directory: {e}"))?;
    log.info(
        "etcdserver",
        &format!(
            "imported etcd's data directory: member {:x} of cluster {:x} at index {}; {} keys ({} revisions, revision {}, compacted at {}), {} leases, {} users, {} roles, {} members; {} log entries after it ({} writes, {} membership changes, {} no-ops), commit {} of {}",
            summary.member_id,
            summary.cluster_id,
            summary.consistent_index,
            summary.keys,
            summary.revisions,
            summary.revision,
            summary.compact_revision,
            summary.leases,
            summary.users,
            summary.roles,
            summary.members,
            summary.entries.writes + summary.entries.conf_changes + summary.entries.no_ops,
            summary.entries.writes,
            summary.entries.conf_changes,
            summary.entries.no_ops,
            summary.commit,
            summary.last_index,
        ),
    );
    if summary.alarms_dropped > 0 {
        log.warn(
            "etcdserver",
            &format!(
                "etcd's database had {} active alarm(s); cairn does not carry alarms over (a NOSPACE alarm is raised again when the quota is exceeded)",
                summary.alarms_dropped
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_go_humanize_prints_them() {
        for (bytes, text) in [
            (5, "5 B"),
            (999, "999 B"),
            (1000, "1.0 kB"),
            (12_320, "12 kB"),
            (1_234_567, "1.2 MB"),
            (987_654_321, "988 MB"),
            (1_000_000_000, "1.0 GB"),
        ] {
            assert_eq!(super::human_bytes(bytes), text, "{bytes}");
        }
    }
}
