//! `snapshot restore <file>`: a new member's data directory from a
//! snapshot file, laid out as etcdctl 3.4.23 lays it out, so that etcd and
//! cairn both start on it (clientv3/snapshot/v3_snapshot.go `Restore`).
//!
//! ```text
//!   <data-dir>/member/snap/db      the snapshot (SHA-256 trailer checked and
//!                                  cut), meta/consistent_index = n members;
//!                                  key/meta/lease buckets present
//!   <wal-dir>/0000000000000000-0000000000000000.wal   (64 MB, zero-filled)
//!       crc, metadata{member, cluster}, snapshot{0,0},
//!       entries 1..n: ConfChangeAddNode(member JSON), term 1,
//!       hard state{term 1, vote lowest ID, commit n}, snapshot{n,1}
//!   <data-dir>/member/snap/<term 1>-<index n>.snap   v2 store of the members
//! ```
//!
//! etcd 3.4.23 leaves the old cluster's `members` and `members_removed`
//! buckets in the db as they are (its restore "deletes" their keys from
//! the kv keyspace instead, which holds no such keys in practice); cairnctl
//! leaves them too. The files are etcd's byte for byte, but for the db,
//! which bbolt lays out its own way (the same buckets, keys and values).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use cairn_bbolt::{BoltError, BucketRoot, DbWriter, Entry};
use cairn_etcd_wal as etcd;
use sha2::{Digest, Sha256};

use crate::exit::{CtlError, EXIT_ERROR};
use crate::flags::Values;
use crate::printer::go_quote;
use crate::progress::Progress;
use crate::snapshot::{
    bolt_error, exists, go_bytes, go_io_error, has_checksum, open_db, path_error, zap_line, Field,
    SHA_BYTES,
};
use crate::snapshot_cluster::{new_cluster, NewCluster};

/// The buckets etcd's backend, mvcc store and lessor create on opening a
/// db: a restored db has them even if the snapshot did not.
const CREATED_BUCKETS: [&[u8]; 3] = [b"key", b"lease", b"meta"];
const META: &[u8] = b"meta";
const CONSISTENT_INDEX: &[u8] = b"consistent_index";

fn error(message: impl Into<String>) -> CtlError {
    CtlError::new(EXIT_ERROR, message)
}

/// Where the restore writes.
struct Layout {
    snapshot: String,
    data_dir: String,
    wal_dir: String,
    snap_dir: String,
}

impl Layout {
    fn log(&self, progress: &Progress, line: u32, msg: &str) {
        progress.log(&zap_line(
            &format!("snapshot/v3_snapshot.go:{line}"),
            msg,
            &[
                ("path", Field::Str(&self.snapshot)),
                ("wal-dir", Field::Str(&self.wal_dir)),
                ("data-dir", Field::Str(&self.data_dir)),
                ("snap-dir", Field::Str(&self.snap_dir)),
            ],
        ));
    }
}

/// `snapshot restore <file> [--data-dir --wal-dir --name --initial-cluster
/// --initial-cluster-token --initial-advertise-peer-urls --skip-hash-check]`.
pub fn restore(values: &Values, args: &[String]) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "snapshot restore requires exactly one argument",
        ));
    }
    let name = values.string("name");
    let data_dir = match values.string("data-dir") {
        dir if dir.is_empty() => format!("{name}.etcd"),
        dir => dir,
    };
    let wal_given = values.string("wal-dir");
    let wal_dir = if wal_given.is_empty() {
        join(&data_dir, &["member", "wal"])
    } else {
        wal_given.clone()
    };
    let cluster = new_cluster(
        &name,
        &values.string("initial-advertise-peer-urls"),
        &values.string("initial-cluster"),
        &values.string("initial-cluster-token"),
    )
    .map_err(error)?;
    if exists(Path::new(&data_dir)) {
        return Err(error(format!(
            "data-dir {} exists",
            go_quote(data_dir.as_bytes())
        )));
    }
    if !wal_given.is_empty() && exists(Path::new(&wal_dir)) {
        return Err(error(format!(
            "wal-dir {} exists",
            go_quote(wal_dir.as_bytes())
        )));
    }
    let layout = Layout {
        snapshot: args[0].clone(),
        snap_dir: join(&data_dir, &["member", "snap"]),
        data_dir,
        wal_dir,
    };
    let progress = Progress::steps(4, "restoring snapshot");
    layout.log(&progress, 296, "restoring snapshot");
    let skip_hash_check = values.bool("skip-hash-check");
    save_db(&layout, &cluster, skip_hash_check, &progress)?;
    save_wal_and_snap(&layout, &cluster, &name, &progress)?;
    progress.finish();
    layout.log(&progress, 309, "restored snapshot");
    Ok(())
}

/// Go's `filepath.Join`.
fn join(base: &str, parts: &[&str]) -> String {
    let mut path = PathBuf::from(base);
    path.extend(parts);
    path.to_string_lossy().into_owned()
}

/// etcd's `fileutil.CreateDirAll`: the directory and its parents, 0700.
fn create_dir_all(dir: &str) -> Result<(), CtlError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| path_error("mkdir", dir, &e))
}

fn create_file(path: &Path, mode: u32) -> Result<File, CtlError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| path_error("open", &path.to_string_lossy(), &e))
}

/// Copies the snapshot to `member/snap/db`, cuts and checks its SHA-256
/// (in etcd's order: the copy stays behind when the check fails), then
/// rewrites the db for the new cluster.
fn save_db(
    layout: &Layout,
    cluster: &NewCluster,
    skip_hash_check: bool,
    progress: &Progress,
) -> Result<(), CtlError> {
    let path = &layout.snapshot;
    let mut source = File::open(path).map_err(|e| path_error("open", path, &e))?;
    let size = source
        .metadata()
        .map_err(|e| path_error("stat", path, &e))?
        .len();
    if size < SHA_BYTES {
        return Err(error(format!("seek {path}: invalid argument")));
    }
    create_dir_all(&layout.snap_dir)?;
    let db_path = Path::new(&layout.snap_dir).join("db");
    progress.step("copying the snapshot");
    let mut db = create_file(&db_path, 0o600)?;
    std::io::copy(&mut source, &mut db).map_err(|e| error(go_io_error(&e)))?;
    drop(db);
    let mut bytes = std::fs::read(&db_path).map_err(|e| error(go_io_error(&e)))?;
    let has_hash = has_checksum(size);
    let sha = bytes.split_off(bytes.len() - SHA_BYTES as usize);
    if !has_hash {
        bytes.extend_from_slice(&sha);
    }
    if has_hash {
        OpenOptions::new()
            .write(true)
            .open(&db_path)
            .and_then(|f| f.set_len(bytes.len() as u64))
            .map_err(|e| error(go_io_error(&e)))?;
    }
    if !has_hash && !skip_hash_check {
        return Err(error("snapshot missing hash but --skip-hash-check=false"));
    }
    if has_hash && !skip_hash_check {
        progress.step("checking its SHA-256");
        let computed = Sha256::digest(&bytes);
        if computed.as_slice() != sha.as_slice() {
            return Err(error(format!(
                "expected sha256 {}, got {}",
                go_bytes(&sha),
                go_bytes(&computed)
            )));
        }
    }
    progress.step("rewriting the database");
    rewrite_db(&bytes, &db_path, cluster.members.len() as u64)
}

/// The db for the new cluster: every bucket and key of the snapshot, the
/// buckets etcd's backend creates, and `meta/consistent_index` set to the
/// new log's last index (the n conf changes), written beside and renamed
/// over `member/snap/db`.
fn rewrite_db(bytes: &[u8], db_path: &Path, consistent_index: u64) -> Result<(), CtlError> {
    let failed = |what: String| error(format!("{}: {what}", db_path.display()));
    let db = open_db(bytes).map_err(failed)?;
    let mut buckets: Vec<(&[u8], Option<BucketRoot<'_>>)> = Vec::new();
    db.for_each(db.root(), |name, entry| match entry {
        Entry::Bucket(root) => {
            buckets.push((name, Some(root)));
            Ok(())
        }
        Entry::Value(_) => Err(not_etcds("a value at the top level")),
    })
    .map_err(|e| failed(bolt_error(&e)))?;
    for name in CREATED_BUCKETS {
        if !buckets.iter().any(|(n, _)| *n == name) {
            buckets.push((name, None));
        }
    }
    buckets.sort_by(|a, b| a.0.cmp(b.0));
    let temporary = db_path.with_extension("rewrite");
    let file = create_file(&temporary, 0o600)?;
    let mut writer = DbWriter::new(file).map_err(|e| failed(e.to_string()))?;
    let index = consistent_index.to_be_bytes();
    for (name, root) in buckets {
        writer.bucket(name).map_err(|e| failed(e.to_string()))?;
        let mut entries: Vec<(&[u8], &[u8])> = Vec::new();
        if let Some(root) = root {
            db.for_each(root, |key, value| match value {
                Entry::Value(value) => {
                    entries.push((key, value));
                    Ok(())
                }
                Entry::Bucket(_) => Err(not_etcds("a nested bucket")),
            })
            .map_err(|e| failed(bolt_error(&e)))?;
        }
        if name == META {
            entries.retain(|(key, _)| *key != CONSISTENT_INDEX);
            let at = entries.partition_point(|(key, _)| *key < CONSISTENT_INDEX);
            entries.insert(at, (CONSISTENT_INDEX, &index));
        }
        for (key, value) in entries {
            writer.put(key, value).map_err(|e| failed(e.to_string()))?;
        }
    }
    let file = writer.finish().map_err(|e| failed(e.to_string()))?;
    file.sync_all().map_err(|e| failed(go_io_error(&e)))?;
    std::fs::rename(&temporary, db_path).map_err(|e| failed(go_io_error(&e)))
}

/// What etcd's backend never writes, refused.
fn not_etcds(what: &str) -> BoltError {
    BoltError::Corrupt {
        page: 0,
        problem: format!("{what} (etcd writes none)"),
    }
}

/// The WAL of the new cluster's first n entries and the raft snapshot of
/// its membership at index n.
fn save_wal_and_snap(
    layout: &Layout,
    cluster: &NewCluster,
    name: &str,
    progress: &Progress,
) -> Result<(), CtlError> {
    progress.step("writing the WAL and raft snapshot");
    create_dir_all(&layout.wal_dir)?;
    let cluster_hex = format!("{:x}", cluster.id);
    for member in &cluster.members {
        progress.log(&zap_line(
            "membership/cluster.go:392",
            "added member",
            &[
                ("cluster-id", Field::Str(&cluster_hex)),
                ("local-member-id", Field::Str("0")),
                ("added-peer-id", Field::Str(&format!("{:x}", member.id))),
                ("added-peer-peer-urls", Field::Strs(&member.peer_urls)),
            ],
        ));
    }
    let own = cluster
        .members
        .iter()
        .find(|m| m.name == name)
        .map_or(0, |m| m.id);
    let count = cluster.members.len() as u64;
    let mut segment = etcd::SegmentEncoder::new(0);
    segment
        .metadata(etcd::Metadata {
            node_id: own,
            cluster_id: cluster.id,
        })
        .snapshot(0, 0);
    for (i, member) in cluster.members.iter().enumerate() {
        let change = etcd::ConfChange {
            id: 0,
            kind: etcd::ConfChangeType::AddNode,
            node_id: member.id,
            context: etcd::member_json(member).into_bytes(),
        };
        segment.entry(&etcd::Entry {
            index: i as u64 + 1,
            term: 1,
            kind: etcd::EntryType::ConfChange,
            data: etcd::encode_conf_change(&change),
        });
    }
    segment
        .hard_state(etcd::HardState {
            term: 1,
            vote: cluster.members.first().map_or(0, |m| m.id),
            commit: count,
        })
        .snapshot(count, 1);
    let wal_path = Path::new(&layout.wal_dir).join(etcd::wal_name(0, 0));
    let mut wal = create_file(&wal_path, 0o600)?;
    let io = |e: std::io::Error| error(go_io_error(&e));
    wal.write_all(&segment.finish()).map_err(io)?;
    wal.set_len(etcd::SEGMENT_SIZE_BYTES).map_err(io)?;
    wal.sync_all().map_err(io)?;

    let snapshot = etcd::RaftSnapshot {
        index: count,
        term: 1,
        voters: cluster.members.iter().map(|m| m.id).collect(),
        learners: Vec::new(),
        data: etcd::bootstrap_v2_store(&cluster.members),
        file: etcd::snap_name(1, count),
    };
    let snap_path = Path::new(&layout.snap_dir).join(&snapshot.file);
    let mut snap = create_file(&snap_path, 0o666)?;
    snap.write_all(&etcd::encode_snap_file(&snapshot))
        .map_err(io)?;
    snap.sync_all().map_err(io)
}
