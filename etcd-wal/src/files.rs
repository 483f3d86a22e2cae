//! The directories: which files to read. Files are opened read-only and
//! nothing in either directory is written, renamed or removed.

use std::path::Path;

use crate::decode::{parse_wal_name, select};
use crate::{decode_segments, decode_snap_file, wal_snapshots};
use crate::{EtcdFileError, RaftSnapshot, WalContents};

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> EtcdFileError + '_ {
    move |source| EtcdFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The UTF-8 names of a directory's entries, sorted.
fn names(dir: &Path) -> Result<Vec<String>, EtcdFileError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The WAL segments' names in `wal_dir`, sorted (other files are ignored,
/// as etcd ignores them).
fn wal_names(wal_dir: &Path) -> Result<Vec<String>, EtcdFileError> {
    let names: Vec<String> = names(wal_dir)?
        .into_iter()
        .filter(|name| parse_wal_name(name).is_some())
        .collect();
    if names.is_empty() {
        return Err(EtcdFileError::NoSegments);
    }
    Ok(names)
}

fn read_all(dir: &Path, names: &[String]) -> Result<Vec<(String, Vec<u8>)>, EtcdFileError> {
    names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(io_error(&path))?;
            Ok((name.clone(), bytes))
        })
        .collect()
}

/// What etcd's `wal.Open(wal_dir, walpb.Snapshot{from_index, from_term})`
/// and `ReadAll` return (see [`decode_segments`]), reading only the
/// segments from the one holding `from_index` on, each whole into memory
/// (etcd preallocates 64 MB per segment, and keeps five by default). Where
/// etcd would repair a torn tail by truncating the last segment, this
/// reads as if it had ([`crate::Tail::Torn`]) and leaves the file as it is.
pub fn read_wal(
    wal_dir: &Path,
    from_index: u64,
    from_term: u64,
) -> Result<WalContents, EtcdFileError> {
    let names = wal_names(wal_dir)?;
    let parsed: Vec<(u64, u64)> = names.iter().filter_map(|n| parse_wal_name(n)).collect();
    let start =
        select(&parsed, from_index).ok_or(EtcdFileError::NoSegmentFor { index: from_index })?;
    let files = read_all(wal_dir, &names[start..])?;
    let segments: Vec<(String, &[u8])> = files
        .iter()
        .map(|(name, bytes)| (name.clone(), bytes.as_slice()))
        .collect();
    decode_segments(&segments, from_index, from_term)
}

/// The newest `*.snap` file in `snap_dir` (by name, etcd's
/// `<term:016x>-<index:016x>.snap`) that decodes and passes its checksum,
/// as etcd's `Snapshotter.Load` picks it; broken ones are skipped (etcd
/// renames them `*.broken`, this leaves them). None if no file decodes.
pub fn read_newest_snapshot(snap_dir: &Path) -> Result<Option<RaftSnapshot>, EtcdFileError> {
    newest_matching(snap_dir, |_| true)
}

/// As etcd 3.4's server picks its snapshot at start
/// (`Snapshotter.LoadNewestAvailable(wal.ValidSnapshotEntries(wal_dir))`):
/// the newest `*.snap` that decodes and whose (index, term) the WAL also
/// records, at or below the WAL's last commit index. A snap file written
/// just before a crash, whose WAL record never made it, is passed over.
/// Reads every segment of `wal_dir` into memory first.
pub fn read_newest_available_snapshot(
    snap_dir: &Path,
    wal_dir: &Path,
) -> Result<Option<RaftSnapshot>, EtcdFileError> {
    let names = wal_names(wal_dir)?;
    let files = read_all(wal_dir, &names)?;
    let segments: Vec<(String, &[u8])> = files
        .iter()
        .map(|(name, bytes)| (name.clone(), bytes.as_slice()))
        .collect();
    let in_wal = wal_snapshots(&segments)?;
    drop(segments);
    drop(files);
    newest_matching(snap_dir, |snap| in_wal.contains(&(snap.index, snap.term)))
}

fn newest_matching(
    snap_dir: &Path,
    wanted: impl Fn(&RaftSnapshot) -> bool,
) -> Result<Option<RaftSnapshot>, EtcdFileError> {
    for name in names(snap_dir)?.iter().rev() {
        if !name.ends_with(".snap") {
            continue;
        }
        let Ok(bytes) = std::fs::read(snap_dir.join(name)) else {
            continue;
        };
        if let Ok(snap) = decode_snap_file(name, &bytes) {
            if wanted(&snap) {
                return Ok(Some(snap));
            }
        }
    }
    Ok(None)
}
