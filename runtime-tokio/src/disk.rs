//! The data directory on a real disk: reading it back at startup, and a worker
//! thread that carries out the member's disk actions one after another.
//!
//! Layout, as etcd's: `<data-dir>/member/wal/*.wal` (or `--wal-dir`) and
//! `<data-dir>/member/snap/*.snap`. In a data directory etcd wrote
//! (`member/snap/db`), cairn keeps its own files apart, in
//! `<data-dir>/member/cairn/{wal,snap}`, and never touches etcd's (the
//! server imports them first: `server/src/backup/migrate.rs`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant as StdInstant;

use bytes::Bytes;
use cairn_core::member::{Action, WalOp};
use cairn_core::snapshot::parse_snapshot_name;
use cairn_core::wal::{parse_segment_name, SEGMENT_SIZE_BYTES};

pub use crate::io::DiskDone;
use crate::metrics::RuntimeMetrics;

/// Where a member's files live.
#[derive(Clone, Debug)]
pub struct DataDir {
    pub root: PathBuf,
    pub wal: PathBuf,
    pub snap: PathBuf,
    /// etcd's own files, when etcd wrote this directory.
    pub etcd: Option<EtcdLayout>,
}

/// Where etcd keeps its WAL and snapshots (and `snap/db`).
#[derive(Clone, Debug)]
pub struct EtcdLayout {
    pub wal: PathBuf,
    pub snap: PathBuf,
}

/// What was found on disk at startup.
#[derive(Debug)]
pub struct OnDisk {
    /// WAL segments in name order, mapped read-only.
    pub segments: Vec<(String, memmap2::Mmap)>,
    /// Snapshot files, newest last.
    pub snapshots: Vec<String>,
}

/// Why a data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} holds etcd's database (member/snap/db) and cairn has not imported it yet")]
    NotImported(PathBuf),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl DataDir {
    pub fn new(data_dir: &Path, wal_dir: Option<&Path>) -> DataDir {
        let member = data_dir.join("member");
        let wal = wal_dir.map_or_else(|| member.join("wal"), Path::to_path_buf);
        let snap = member.join("snap");
        if snap.join("db").exists() {
            let cairn = member.join("cairn");
            return DataDir {
                root: data_dir.to_path_buf(),
                wal: cairn.join("wal"),
                snap: cairn.join("snap"),
                etcd: Some(EtcdLayout { wal, snap }),
            };
        }
        DataDir {
            root: data_dir.to_path_buf(),
            wal,
            snap,
            etcd: None,
        }
    }

    /// Creates the directories (0700, as etcd does).
    pub fn create(&self) -> Result<(), DataDirError> {
        for dir in [&self.wal, &self.snap] {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
            set_private(dir).map_err(io_error(dir))?;
        }
        Ok(())
    }

    /// Whether a WAL exists (the member has started before).
    pub fn has_wal(&self) -> bool {
        fs::read_dir(&self.wal)
            .map(|entries| {
                entries.flatten().any(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| parse_segment_name(n).is_some())
                })
            })
            .unwrap_or(false)
    }

    /// Bytes the snapshot files take on disk: cairn's counterpart of etcd's
    /// database file (etcd's WAL is not part of its db size either). Several
    /// are kept (`--max-snapshots`); a defragment keeps one.
    pub fn snapshot_bytes(&self) -> u64 {
        fs::read_dir(&self.snap)
            .into_iter()
            .flat_map(|entries| entries.flatten())
            .filter_map(|entry| entry.metadata().ok())
            .filter(|metadata| metadata.is_file())
            .map(|metadata| metadata.len())
            .sum()
    }

    /// Who this data directory belongs to: the cluster and member IDs its
    /// first WAL segment records (`None` without a readable WAL).
    pub fn wal_metadata(&self) -> Option<cairn_core::wal::Metadata> {
        let mut names: Vec<String> = list(&self.wal)
            .ok()?
            .into_iter()
            .filter(|n| parse_segment_name(n).is_some())
            .collect();
        names.sort();
        // The metadata record is the segment's first: a few KiB hold it.
        let mut bytes = Vec::with_capacity(4096);
        let file = File::open(self.wal.join(names.first()?)).ok()?;
        io::Read::read_to_end(&mut io::Read::take(file, 4096), &mut bytes).ok()?;
        cairn_core::wal::read_metadata(&bytes)
    }

    /// Reads what a restart needs: refuses a directory etcd wrote that was
    /// not imported.
    pub fn load(&self) -> Result<OnDisk, DataDirError> {
        if let Some(etcd) = &self.etcd {
            if !self.has_wal() {
                return Err(DataDirError::NotImported(etcd.snap.join("db")));
            }
        }
        let mut names: Vec<String> = list(&self.wal)?
            .into_iter()
            .filter(|n| parse_segment_name(n).is_some())
            .collect();
        names.sort();
        let mut segments = Vec::new();
        for name in names {
            let path = self.wal.join(&name);
            let file = File::open(&path).map_err(io_error(&path))?;
            // SAFETY: the segment is only written by this process's disk worker,
            // which is not running yet; nothing truncates it while mapped.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_error(&path))?;
            segments.push((name, map));
        }
        let mut snapshots: Vec<(u64, String)> = list(&self.snap)?
            .into_iter()
            .filter_map(|n| parse_snapshot_name(&n).map(|(_, index)| (index, n)))
            .collect();
        snapshots.sort();
        Ok(OnDisk {
            segments,
            snapshots: snapshots.into_iter().map(|(_, n)| n).collect(),
        })
    }

    pub fn read_snapshot(&self, name: &str) -> io::Result<Bytes> {
        fs::read(self.snap.join(name)).map(Bytes::from)
    }
}

fn list(dir: &Path) -> Result<Vec<String>, DataDirError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(io_error(dir)(error)),
    }
}

fn set_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Carries out disk actions one after another on its own thread, so that
/// fsyncs never block ticks, heartbeats or request handling; the member's own
/// snapshots are written by a second thread, so that WAL writes (and so every
/// client write) never wait behind a snapshot of hundreds of megabytes.
#[derive(Debug)]
pub struct DiskWorker {
    tx: mpsc::Sender<Action>,
    background: mpsc::Sender<Action>,
    dir: DataDir,
}

impl crate::driver::Disk for DiskWorker {
    fn submit(&mut self, action: Action) {
        // The workers only stop after a fatal failure, which the driver sees.
        let _ = match action {
            Action::SaveSnapshot {
                background: true, ..
            } => self.background.send(action),
            action => self.tx.send(action),
        };
    }

    fn snapshot_source(&mut self, name: &str) -> io::Result<crate::io::SnapshotSource> {
        let path = self.dir.snap.join(name);
        // Fail now (reported to Raft) rather than in the middle of a stream.
        fs::metadata(&path)?;
        Ok(crate::io::SnapshotSource::File(path))
    }
}

impl DiskWorker {
    /// Starts the worker; completions go to `done`, durations to `metrics`.
    pub fn start(
        dir: DataDir,
        done: tokio::sync::mpsc::UnboundedSender<DiskDone>,
        metrics: RuntimeMetrics,
    ) -> DiskWorker {
        let tx = spawn_worker("cairn-disk", dir.clone(), done.clone(), metrics.clone());
        let background = spawn_worker("cairn-snap", dir.clone(), done, metrics);
        DiskWorker {
            tx,
            background,
            dir,
        }
    }
}

/// A thread that carries out the actions it is sent, in order.
fn spawn_worker(
    name: &str,
    dir: DataDir,
    done: tokio::sync::mpsc::UnboundedSender<DiskDone>,
    metrics: RuntimeMetrics,
) -> mpsc::Sender<Action> {
    let (tx, rx) = mpsc::channel::<Action>();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let mut files = OpenFiles::new(dir, metrics);
            while let Ok(action) = rx.recv() {
                let report = files.execute(action);
                if let Some(report) = report {
                    let fatal = matches!(report, DiskDone::Failed { .. });
                    if done.send(report).is_err() || fatal {
                        return;
                    }
                }
            }
        })
        .expect("spawn a disk thread");
    tx
}

struct OpenFiles {
    dir: DataDir,
    wal: BTreeMap<String, File>,
    metrics: RuntimeMetrics,
}

impl OpenFiles {
    fn new(dir: DataDir, metrics: RuntimeMetrics) -> OpenFiles {
        OpenFiles {
            dir,
            wal: BTreeMap::new(),
            metrics,
        }
    }

    fn segment(&mut self, name: &str) -> io::Result<&File> {
        if !self.wal.contains_key(name) {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(self.dir.wal.join(name))?;
            // Keep only the newest few handles open.
            while self.wal.len() >= 4 {
                let oldest = self.wal.keys().next().cloned().expect("non-empty");
                self.wal.remove(&oldest);
            }
            self.wal.insert(name.to_string(), file);
        }
        Ok(&self.wal[name])
    }

    fn execute(&mut self, action: Action) -> Option<DiskDone> {
        match action {
            Action::WriteWal { token, ops, sync } => {
                let started = StdInstant::now();
                match self.write_wal(&ops, sync) {
                    Ok(()) => Some(DiskDone::WalWritten {
                        token,
                        took: started.elapsed(),
                    }),
                    Err(error) => Some(DiskDone::Failed {
                        action: "write WAL",
                        error,
                    }),
                }
            }
            Action::TruncateWal { segment, offset } => match self.zero_tail(&segment, offset) {
                Ok(()) => None,
                Err(error) => Some(DiskDone::Failed {
                    action: "truncate the WAL's torn tail",
                    error,
                }),
            },
            Action::SaveSnapshot { name, bytes, .. } => match self.save_snapshot(&name, &bytes) {
                Ok(took) => {
                    self.metrics.backend_commit.observe(took.as_secs_f64());
                    Some(DiskDone::SnapshotSaved { name })
                }
                Err(error) => Some(DiskDone::Failed {
                    action: "save snapshot",
                    error,
                }),
            },
            Action::DeleteFiles { wal, snapshots } => match self.delete(&wal, &snapshots) {
                Ok(()) => None,
                Err(error) => Some(DiskDone::Failed {
                    action: "delete old files",
                    error,
                }),
            },
            _ => None,
        }
    }

    fn write_wal(&mut self, ops: &[WalOp], sync: bool) -> io::Result<()> {
        let mut touched: Vec<String> = Vec::new();
        let mut created = false;
        for op in ops {
            match op {
                WalOp::Create(segment) => {
                    self.create_segment(&segment.name, &segment.bytes)?;
                    created = true;
                }
                WalOp::Append {
                    segment,
                    offset,
                    bytes,
                } => {
                    self.segment(segment)?.write_all_at(bytes, *offset)?;
                    self.metrics.wal_write_bytes.add(bytes.len() as i64);
                    if !touched.contains(segment) {
                        touched.push(segment.clone());
                    }
                }
            }
        }
        // One fdatasync per file per batch: this is where group commit pays.
        for name in touched.iter().filter(|_| sync) {
            let started = StdInstant::now();
            self.segment(name)?.sync_data()?;
            self.metrics
                .wal_fsync
                .observe(started.elapsed().as_secs_f64());
        }
        if created {
            sync_dir(&self.dir.wal)?;
        }
        Ok(())
    }

    /// A new segment: written and preallocated under a temporary name, synced,
    /// then renamed into place, so a crash never leaves a half-made segment.
    fn create_segment(&mut self, name: &str, header: &[u8]) -> io::Result<()> {
        let final_path = self.dir.wal.join(name);
        let temp_path = self.dir.wal.join(format!("{name}.tmp"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp_path)?;
        preallocate(&file, SEGMENT_SIZE_BYTES)?;
        file.write_all_at(header, 0)?;
        file.sync_all()?;
        fs::rename(&temp_path, &final_path)?;
        sync_dir(&self.dir.wal)?;
        self.wal.insert(name.to_string(), file);
        Ok(())
    }

    fn zero_tail(&mut self, segment: &str, offset: u64) -> io::Result<()> {
        let file = self.segment(segment)?;
        let length = file.metadata()?.len();
        let zeros = vec![0u8; 1 << 20];
        let mut at = offset;
        while at < length {
            let chunk = ((length - at) as usize).min(zeros.len());
            file.write_all_at(&zeros[..chunk], at)?;
            at += chunk as u64;
        }
        file.sync_all()
    }

    /// Writes a snapshot file and makes it durable; answers how long that
    /// took (cairn's backend commit: its state image reaching the disk).
    fn save_snapshot(&mut self, name: &str, bytes: &[u8]) -> io::Result<std::time::Duration> {
        let started = StdInstant::now();
        let temp_path = self.dir.snap.join(format!("{name}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp_path)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp_path, self.dir.snap.join(name))?;
        sync_dir(&self.dir.snap)?;
        Ok(started.elapsed())
    }

    fn delete(&mut self, wal: &[String], snapshots: &[String]) -> io::Result<()> {
        for name in wal {
            self.wal.remove(name);
            remove_if_present(&self.dir.wal.join(name))?;
        }
        for name in snapshots {
            remove_if_present(&self.dir.snap.join(name))?;
        }
        sync_dir(&self.dir.wal)?;
        sync_dir(&self.dir.snap)
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Reserves the segment's blocks up front (zero-filled), so appends never
/// extend the file and an fdatasync never has to flush file-size metadata.
fn preallocate(file: &File, bytes: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fallocate on a valid, owned file descriptor; no memory is shared.
    let result = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, bytes as libc::off_t) };
    if result == 0 {
        return Ok(());
    }
    // Filesystems without fallocate: a sparse file of the right size still
    // reads back as zeros, which is what recovery relies on.
    file.set_len(bytes)
}
