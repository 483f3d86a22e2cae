//! Starting from etcd's data directory: a member etcd 3.4 stopped (or
//! `etcdctl snapshot restore` made) becomes a cairn member with the same
//! identity, state and log, without a byte of etcd's files changed.
//!
//! ```text
//!  etcd: member/snap/db ─────────── state at the consistent index CI
//!        member/snap/*.snap ─────── membership (v2 store) at snapshot S ≤ CI
//!        member/wal/*.wal ───────── metadata (IDs), hard state, entries > S
//!  cairn: member/cairn/snap/{term}-{CI}.snap  the state at CI, membership
//!         replayed over (S, CI]
//!         member/cairn/wal/…                  metadata, entries > CI in
//!         cairn's form, hard state: Raft commits and applies them on start
//! ```
//!
//! The files are written into `member/cairn.import`, synced, and renamed to
//! `member/cairn` only when complete: an import that fails leaves nothing
//! behind, and a directory with `member/cairn` is a cairn member from then
//! on (etcd's files stay, untouched, for a way back).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_core::mvcc::StoreConfig;
use cairn_core::raft::{ConfState, Entry, HardState, NodeId, SnapshotMeta};
use cairn_core::snapshot::{self, SnapshotView};
use cairn_core::wal::{Metadata, SnapshotMarker, WalWriter, SEGMENT_SIZE_BYTES};
use cairn_etcd_wal as etcd;
use cairn_runtime_tokio::DataDir;

use super::buckets::MemberJson;
use super::entries::{self, Converted, HashPassword};
use super::import::{self, ImportError, ImportedDb};
use cairn_core::member::MemberStatus;

/// Why an etcd data directory was not imported.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: {1}")]
    Db(PathBuf, ImportError),
    #[error("etcd's WAL or snapshots: {0}")]
    Etcd(#[from] etcd::EtcdFileError),
    #[error(transparent)]
    Entry(#[from] entries::EntryError),
    #[error("{0}")]
    Inconsistent(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MigrateError + '_ {
    move |source| MigrateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What was imported, for the log.
#[derive(Debug)]
pub struct Summary {
    pub member_id: NodeId,
    pub cluster_id: u64,
    pub consistent_index: u64,
    pub revision: i64,
    pub compact_revision: i64,
    pub revisions: u64,
    pub keys: usize,
    pub leases: usize,
    pub users: usize,
    pub roles: usize,
    pub members: usize,
    /// Alarms active in etcd's database: cairn's snapshot keeps none.
    pub alarms_dropped: usize,
    pub entries: Converted,
    pub commit: u64,
    pub last_index: u64,
}

/// etcd's files in a data directory.
#[derive(Clone, Debug)]
pub struct EtcdFiles {
    pub db: PathBuf,
    pub snap: PathBuf,
    pub wal: PathBuf,
}

/// etcd's files, if `files` is a data directory etcd wrote.
pub fn etcd_files(files: &DataDir) -> Option<EtcdFiles> {
    let etcd = files.etcd.as_ref()?;
    Some(EtcdFiles {
        db: etcd.snap.join("db"),
        snap: etcd.snap.clone(),
        wal: etcd.wal.clone(),
    })
}

/// Imports etcd's data directory into cairn's files (`files.wal`,
/// `files.snap`), all or nothing.
pub fn import(
    etcd_files: &EtcdFiles,
    files: &DataDir,
    config: StoreConfig,
    token_ttl_ms: u64,
    hash: HashPassword<'_>,
) -> Result<Summary, MigrateError> {
    let file = File::open(&etcd_files.db).map_err(io(&etcd_files.db))?;
    refuse_if_locked(&file, &etcd_files.db)?;
    // SAFETY: read-only; nothing in this process writes etcd's database, and
    // an etcd still running against it holds its lock (refused above).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(&etcd_files.db))?;
    let db = import::read_db(&map, config, token_ttl_ms)
        .map_err(|e| MigrateError::Db(etcd_files.db.clone(), e))?;
    drop(map);

    let raft_snapshot = etcd::read_newest_available_snapshot(&etcd_files.snap, &etcd_files.wal)?;
    let (from_index, from_term) = raft_snapshot.as_ref().map_or((0, 0), |s| (s.index, s.term));
    let wal = etcd::read_wal(&etcd_files.wal, from_index, from_term)?;
    let ci = db.consistent_index;
    if ci < from_index {
        return Err(MigrateError::Inconsistent(format!(
            "the database is at index {ci}, before etcd's snapshot at {from_index}"
        )));
    }
    let last_index = wal.entries.last().map_or(from_index, |e| e.index);
    if ci > last_index {
        return Err(MigrateError::Inconsistent(format!(
            "the database is at index {ci}, after the last entry of the WAL ({last_index})"
        )));
    }
    let ci_term = if ci == from_index {
        from_term
    } else {
        wal.entries
            .iter()
            .find(|entry| entry.index == ci)
            .map(|entry| entry.term)
            .ok_or_else(|| {
                MigrateError::Inconsistent(format!(
                    "the WAL has no entry {ci}, where the database is"
                ))
            })?
    };
    let (applied, pending): (Vec<_>, Vec<_>) =
        wal.entries.iter().cloned().partition(|e| e.index <= ci);

    // Membership: etcd 3.4 keeps it in the v2 store (the Raft snapshot),
    // then changes it with the conf changes and publications it applies.
    let mut roster = match &raft_snapshot {
        Some(snapshot) => v2_members(&snapshot.data)?,
        None => Roster::default(),
    };
    for entry in &applied {
        roster.apply(entry)?;
    }
    let mut learners: BTreeSet<NodeId> = roster
        .members
        .values()
        .filter(|m| m.is_learner)
        .map(|m| m.id)
        .collect();
    let mut counts = Converted::default();
    let converted = entries::convert_entries(&pending, &mut learners, hash, &mut counts)?;
    let hard_state = HardState {
        term: wal.hard_state.term.max(ci_term),
        vote: wal.hard_state.vote,
        commit: wal.hard_state.commit.clamp(ci, last_index),
    };

    let members: Vec<MemberStatus> = roster.members.values().cloned().collect();
    let conf_state = ConfState {
        voters: members
            .iter()
            .filter(|m| !m.is_learner)
            .map(|m| m.id)
            .collect(),
        learners: members
            .iter()
            .filter(|m| m.is_learner)
            .map(|m| m.id)
            .collect(),
    };
    if !conf_state.voters.contains(&wal.metadata.node_id)
        && !conf_state.learners.contains(&wal.metadata.node_id)
    {
        return Err(MigrateError::Inconsistent(format!(
            "member {:x} (the WAL's) is not among the members at index {ci}: {:?}",
            wal.metadata.node_id,
            members
                .iter()
                .map(|m| format!("{:x}", m.id))
                .collect::<Vec<_>>()
        )));
    }
    let removed: Vec<NodeId> = roster.removed.iter().copied().collect();
    let meta = SnapshotMeta {
        index: ci,
        term: ci_term,
        conf_state,
    };
    let image = snapshot::encode(&SnapshotView {
        meta: &meta,
        members: &members,
        removed: &removed,
        kv: &db.store,
        leases: &db.leases,
        v2: &[],
        auth: &db.auth,
    });
    let summary = summarize(&db, &wal.metadata, &members, counts, hard_state, last_index);
    write_cairn_files(
        files,
        &image,
        &meta,
        Metadata {
            cluster_id: wal.metadata.cluster_id,
            member_id: wal.metadata.node_id,
        },
        &converted,
        hard_state,
    )?;
    Ok(summary)
}

fn summarize(
    db: &ImportedDb,
    metadata: &etcd::Metadata,
    members: &[MemberStatus],
    entries: Converted,
    hard_state: HardState,
    last_index: u64,
) -> Summary {
    Summary {
        member_id: metadata.node_id,
        cluster_id: metadata.cluster_id,
        consistent_index: db.consistent_index,
        revision: db.store.current_revision(),
        compact_revision: db.store.compact_revision(),
        revisions: db.revisions,
        keys: db.store.live_key_count(),
        leases: db.leases.len(),
        users: db.auth.users().count(),
        roles: db.auth.roles().count(),
        members: members.len(),
        alarms_dropped: db.alarms.len(),
        entries,
        commit: hard_state.commit,
        last_index,
    }
}

/// The members etcd's v2 store and applied entries describe.
#[derive(Debug, Default)]
struct Roster {
    members: BTreeMap<NodeId, MemberStatus>,
    removed: BTreeSet<NodeId>,
}

impl Roster {
    fn apply(&mut self, entry: &etcd::Entry) -> Result<(), MigrateError> {
        let bad = |what: String| {
            MigrateError::Inconsistent(format!("etcd log entry {}: {what}", entry.index))
        };
        match entry.kind {
            etcd::EntryType::ConfChange => {
                let change =
                    etcd::decode_conf_change(&entry.data).map_err(|e| bad(e.to_string()))?;
                let json = || -> Result<MemberJson, MigrateError> {
                    serde_json::from_slice(&change.context).map_err(|e| bad(e.to_string()))
                };
                match change.kind {
                    etcd::ConfChangeType::AddNode | etcd::ConfChangeType::AddLearnerNode => {
                        let member = json()?;
                        let known = self.members.entry(change.node_id).or_insert(MemberStatus {
                            id: change.node_id,
                            name: member.name.clone(),
                            peer_urls: Vec::new(),
                            client_urls: member.client_urls.clone(),
                            is_learner: false,
                        });
                        known.peer_urls = member.peer_urls;
                        known.is_learner = change.kind == etcd::ConfChangeType::AddLearnerNode;
                    }
                    etcd::ConfChangeType::RemoveNode => {
                        self.members.remove(&change.node_id);
                        self.removed.insert(change.node_id);
                    }
                    etcd::ConfChangeType::UpdateNode => {
                        let member = json()?;
                        if let Some(known) = self.members.get_mut(&change.node_id) {
                            known.peer_urls = member.peer_urls;
                        }
                    }
                }
            }
            etcd::EntryType::Normal => {
                // A publication of a member's name and client URLs.
                if let Ok(Some((id, name, client_urls))) = entries::publication(&entry.data) {
                    if let Some(known) = self.members.get_mut(&id) {
                        known.name = name;
                        known.client_urls = client_urls;
                    }
                }
            }
            etcd::EntryType::ConfChangeV2 => {
                return Err(bad("a ConfChangeV2 entry (etcd 3.4 writes none)".into()))
            }
        }
        Ok(())
    }
}

/// A member's `raftAttributes` in etcd's v2 store.
#[derive(serde::Deserialize)]
struct RaftAttributes {
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
    #[serde(rename = "isLearner", default)]
    is_learner: bool,
}

/// A member's `attributes` in etcd's v2 store (what it published).
#[derive(Default, serde::Deserialize)]
struct Attributes {
    #[serde(default)]
    name: String,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
}

/// The members and removed members of etcd's v2 store JSON (fuzzing).
pub(crate) fn v2_members_of(data: &[u8]) -> Result<(usize, usize), MigrateError> {
    v2_members(data).map(|roster| (roster.members.len(), roster.removed.len()))
}

/// etcd's v2 store JSON: `/0/members/<id>/{raftAttributes,attributes}` and
/// `/0/removed_members/<id>`.
fn v2_members(data: &[u8]) -> Result<Roster, MigrateError> {
    let bad = |what: String| MigrateError::Inconsistent(format!("etcd's snapshot: {what}"));
    let store: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| bad(format!("the v2 store is not JSON: {e}")))?;
    let children = |node: &serde_json::Value, name: &str| -> Option<serde_json::Value> {
        node.get("Children")?.get(name).cloned()
    };
    let root = store.get("Root").cloned().unwrap_or_default();
    let cluster = children(&root, "0").unwrap_or_default();
    let mut roster = Roster::default();
    let parse_id =
        |name: &str| u64::from_str_radix(name, 16).map_err(|_| bad(format!("member ID {name:?}")));
    if let Some(members) = children(&cluster, "members")
        .and_then(|m| m.get("Children").and_then(|c| c.as_object().cloned()))
    {
        for (name, node) in members {
            let id = parse_id(&name)?;
            let value = |attribute: &str| -> Option<String> {
                children(&node, attribute)?
                    .get("Value")?
                    .as_str()
                    .map(str::to_string)
            };
            let raft: RaftAttributes = value("raftAttributes")
                .ok_or_else(|| bad(format!("member {name} has no raftAttributes")))
                .and_then(|text| {
                    serde_json::from_str(&text)
                        .map_err(|e| bad(format!("member {name}'s raftAttributes: {e}")))
                })?;
            let attributes: Attributes = value("attributes")
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| bad(format!("member {name}'s attributes: {e}")))?
                .unwrap_or_default();
            roster.members.insert(
                id,
                MemberStatus {
                    id,
                    name: attributes.name,
                    peer_urls: raft.peer_urls,
                    client_urls: attributes.client_urls,
                    is_learner: raft.is_learner,
                },
            );
        }
    }
    if let Some(removed) = children(&cluster, "removed_members")
        .and_then(|m| m.get("Children").and_then(|c| c.as_object().cloned()))
    {
        for name in removed.keys() {
            roster.removed.insert(parse_id(name)?);
        }
    }
    Ok(roster)
}

/// Writes cairn's snapshot and WAL into `member/cairn.import`, syncs them,
/// and renames the directory into place.
fn write_cairn_files(
    files: &DataDir,
    image: &[u8],
    meta: &SnapshotMeta,
    metadata: Metadata,
    entries: &[Entry],
    hard_state: HardState,
) -> Result<(), MigrateError> {
    let home = files
        .wal
        .parent()
        .ok_or_else(|| MigrateError::Inconsistent("cairn's WAL directory has no parent".into()))?
        .to_path_buf();
    let staging = home.with_extension("import");
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let result = (|| {
        let snap = staging.join("snap");
        let wal = staging.join("wal");
        for dir in [&staging, &snap, &wal] {
            fs::create_dir_all(dir).map_err(io(dir))?;
            set_private(dir).map_err(io(dir))?;
        }
        let name = snapshot::snapshot_name(meta.term, meta.index);
        write_synced(&snap.join(name), image, None)?;

        let marker = SnapshotMarker {
            index: meta.index,
            term: meta.term,
        };
        let (mut writer, mut segment) = WalWriter::create(metadata, marker);
        let mut segments = Vec::new();
        for entry in entries {
            writer.append_entries(&mut segment.bytes, std::slice::from_ref(entry));
            if writer.should_cut() {
                let next = writer.cut();
                segments.push(std::mem::replace(&mut segment, next));
            }
        }
        writer.append_hard_state(&mut segment.bytes, hard_state);
        segments.push(segment);
        for segment in &segments {
            let size = SEGMENT_SIZE_BYTES.max(segment.bytes.len() as u64);
            write_synced(&wal.join(&segment.name), &segment.bytes, Some(size))?;
        }
        for dir in [&snap, &wal, &staging] {
            sync_dir(dir)?;
        }
        fs::rename(&staging, &home).map_err(io(&home))?;
        sync_dir(home.parent().unwrap_or(&home))
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// etcd (bbolt) holds an exclusive `flock` on its database while it runs:
/// importing under a live etcd would copy a state that is moving.
fn refuse_if_locked(file: &File, path: &Path) -> Result<(), MigrateError> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function borrows; no memory involved.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if locked != 0 {
        return Err(MigrateError::Inconsistent(format!(
            "{} is locked: is etcd still running on this data directory? Stop it first",
            path.display()
        )));
    }
    // Released when `file` is closed.
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8], size: Option<u64>) -> Result<(), MigrateError> {
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    if let Some(size) = size {
        file.set_len(size).map_err(io(path))?;
    }
    file.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), MigrateError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn set_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::v2_members_of;

    fn store(raft: &str, attributes: &str) -> String {
        let value = |text: &str| serde_json::to_string(text).expect("a JSON string");
        format!(
            r#"{{"Root":{{"Children":{{"0":{{"Children":{{"members":{{"Children":{{"8e9e05c52164694d":{{"Children":{{"raftAttributes":{{"Value":{}}},"attributes":{{"Value":{}}}}}}}}}}}}}}}}}}}}}"#,
            value(raft),
            value(attributes)
        )
    }

    #[test]
    fn members_are_read_from_the_v2_store() {
        let json = store(
            r#"{"peerURLs":["http://127.0.0.1:2380"]}"#,
            r#"{"name":"m1","clientURLs":["http://127.0.0.1:2379"]}"#,
        );
        assert_eq!(v2_members_of(json.as_bytes()).expect("members"), (1, 0));
    }

    /// Attributes of the wrong JSON shape are an error, never a panic.
    #[test]
    fn attributes_of_another_shape_are_refused() {
        for (raft, attributes) in [
            ("[1]", "{}"),
            ("\"text\"", "{}"),
            (r#"{"peerURLs":["u"]}"#, "[1]"),
            (r#"{"peerURLs":["u"]}"#, "7"),
            ("", "{}"),
        ] {
            let json = store(raft, attributes);
            assert!(
                v2_members_of(json.as_bytes()).is_err(),
                "{raft} {attributes}"
            );
        }
    }
}
