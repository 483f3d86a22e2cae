//! `defrag --data-dir <dir>`: etcdctl's offline defragmentation of an etcd
//! member's database, `<dir>/member/snap/db` (a bbolt file), with the
//! member stopped. The file is read whole, written again compactly (every
//! bucket and key in order, pages 90% full, as etcd's own defragmentation
//! fills them) to `db.tmp` beside it, synced, and renamed over it.
//!
//! ```text
//!   flock(db) ── held by a running etcd? after 1 s: "waiting for etcd to
//!                close and release its lock on ..." (and wait, as etcdctl)
//!   read ──▶ cairn_bbolt::Db ──▶ DbWriter(db.tmp) ──▶ fsync, rename
//!   cannot open / not bbolt: etcd's backend panic ("cannot open database
//!   at ... (...)", exit 2); a failed rewrite: "Failed to defragment etcd
//!   data[<dir>] (...)", exit 1
//! ```
//!
//! A cairn member's data directory holds no bbolt file (a WAL and
//! snapshots); `defrag` against a running cairn member compacts those.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_bbolt::{Db, DbWriter, Entry};

use crate::exit::{CtlError, EXIT_BAD_CONNECTION, EXIT_ERROR};
use crate::global::log_time;

/// `defrag --data-dir <dir>`.
pub fn defrag_data_dir(dir: &str) -> Result<(), CtlError> {
    let path = Path::new(dir).join("member").join("snap").join("db");
    // etcd's backend creates the file when only it is missing.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| cannot_open(&path, &go_io_error(&e, &path)))?;
    wait_for_lock(&file, &path);
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| cannot_open(&path, &go_io_error(&e, &path)))?;
    let db = if data.is_empty() {
        None
    } else {
        Some(Db::open(&data).map_err(|_| cannot_open(&path, "invalid database"))?)
    };
    rewrite(db.as_ref(), &path).map_err(|why| {
        eprintln!("Failed to defragment etcd data[{dir}] ({why})");
        CtlError::new(EXIT_ERROR, "")
    })
}

/// etcd's backend refusing the file: a critical log line and a panic.
fn cannot_open(path: &Path, why: &str) -> CtlError {
    let path = path.display();
    eprintln!(
        "{} C | mvcc/backend: cannot open database at {path} ({why})",
        log_time()
    );
    eprintln!("panic: cannot open database at {path} ({why})");
    CtlError::new(EXIT_BAD_CONNECTION, "")
}

/// Go's words for the usual `open` failures.
fn go_io_error(error: &std::io::Error, path: &Path) -> String {
    let why = match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    };
    format!("open {}: {why}", path.display())
}

/// Takes bbolt's exclusive lock on the file, as a running etcd holds it;
/// says after a second why it is still waiting (etcdctl's words).
fn wait_for_lock(file: &File, path: &Path) {
    let started = Instant::now();
    let mut told = false;
    loop {
        // SAFETY: flock on a file descriptor this function borrows.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if locked {
            return;
        }
        if !told && started.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "waiting for etcd to close and release its lock on {:?}. To defrag a running etcd instance, omit --data-dir.",
                path.display().to_string()
            );
            told = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes `db` (none: an empty database) compactly to `db.tmp` and renames
/// it over `path`.
fn rewrite(db: Option<&Db>, path: &Path) -> Result<(), String> {
    let temp: PathBuf = path.with_extension("tmp");
    let result = write_copy(db, &temp).and_then(|()| {
        std::fs::rename(&temp, path).map_err(|e| format!("rename {}: {e}", temp.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn write_copy(db: Option<&Db>, temp: &Path) -> Result<(), String> {
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(temp)
        .map_err(|e| format!("create {}: {e}", temp.display()))?;
    let mut writer = DbWriter::new(out).map_err(|e| e.to_string())?;
    if let Some(db) = db {
        let mut buckets = Vec::new();
        db.for_each(db.root(), |name, entry| {
            buckets.push((name, entry));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        for (name, entry) in buckets {
            let Entry::Bucket(root) = entry else {
                return Err(format!("{:?} is a value, not a bucket", lossy(name)));
            };
            let mut pairs = Vec::new();
            let mut nested = None;
            db.for_each(root, |key, entry| match entry {
                Entry::Value(value) => {
                    pairs.push((key, value));
                    Ok(())
                }
                Entry::Bucket(_) => {
                    nested = Some(key);
                    Err(cairn_bbolt::BoltError::Stopped)
                }
            })
            .map_err(|e| match nested {
                Some(key) => format!(
                    "bucket {:?} holds a bucket ({:?}): not an etcd database",
                    lossy(name),
                    lossy(key)
                ),
                None => e.to_string(),
            })?;
            writer.bucket(name).map_err(|e| e.to_string())?;
            for (key, value) in pairs {
                writer.put(key, value).map_err(|e| e.to_string())?;
            }
        }
    }
    let out = writer.finish().map_err(|e| e.to_string())?;
    out.sync_all().map_err(|e| e.to_string())
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
