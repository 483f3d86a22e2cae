//! `snapshot save` and `snapshot status` (ctlv3/command/snapshot_command.go,
//! clientv3/snapshot/v3_snapshot.go), and what `snapshot restore`
//! (snapshot_restore.rs) shares with them: etcd's zap log lines, Go's
//! error texts for files, humanize's byte sizes.
//!
//! ```text
//!   save <file>    Maintenance.Snapshot ─▶ <file>.part (bbolt db ‖ SHA-256)
//!                  ─▶ size % 512 == 32, SHA-256 checked ─▶ rename <file>
//!   status <file>  bbolt reader: CRC-32C over bucket names, keys, values;
//!                  revision of the last `key`; keys; size (pages × page size)
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_bbolt::{BoltError, Db, Entry};
use cairn_proto::etcdserverpb as pb;
use sha2::{Digest, Sha256};

use crate::exit::{CtlError, EXIT_BAD_FEATURE, EXIT_ERROR, EXIT_INTERRUPTED};
use crate::flags::Values;
use crate::global::{connect, env_name, error_text, zap_time};
use crate::printer::{self, json_string};
use crate::progress::Progress;

type Env = [(String, String)];

/// The size of the SHA-256 an etcd snapshot file ends with.
pub const SHA_BYTES: u64 = 32;

/// etcd's `hasChecksum`: a file of `size` bytes ends with a SHA-256 (a
/// bbolt file is whole pages, multiples of 512 bytes).
pub fn has_checksum(size: u64) -> bool {
    size % 512 == SHA_BYTES
}

/// A field of a zap log line.
#[derive(Debug)]
pub enum Field<'a> {
    Str(&'a str),
    Strs(&'a [String]),
    Seconds(Duration),
}

/// A line of etcdctl's zap production logger (`ts` in Unix seconds).
pub fn zap_line(caller: &str, msg: &str, fields: &[(&str, Field<'_>)]) -> String {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut line = format!(
        "{{\"level\":\"info\",\"ts\":{ts},\"caller\":\"{caller}\",\"msg\":{}",
        json_string(msg)
    );
    for (name, value) in fields {
        let value = match value {
            Field::Str(text) => json_string(text),
            Field::Strs(list) => {
                let items: Vec<String> = list.iter().map(|s| json_string(s)).collect();
                format!("[{}]", items.join(","))
            }
            Field::Seconds(duration) => duration.as_secs_f64().to_string(),
        };
        line.push_str(&format!(",\"{name}\":{value}"));
    }
    line.push('}');
    line
}

/// A line of clientv3's own logger (ISO 8601 `ts`).
fn client_line(level: &str, caller: &str, msg: &str, error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| format!(",\"error\":{}", json_string(e)));
    format!(
        "{{\"level\":\"{level}\",\"ts\":\"{}\",\"caller\":\"clientv3/{caller}\",\"msg\":\"{msg}\"{error}}}",
        zap_time()
    )
}

/// Go's text for an OS error (`no such file or directory`): the C
/// library's message, as Rust has it, without Rust's `(os error N)`.
pub fn go_io_error(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Go's `*PathError` text: `open x: no such file or directory`.
pub fn path_error(op: &str, path: &str, error: &std::io::Error) -> CtlError {
    CtlError::new(EXIT_ERROR, format!("{op} {path}: {}", go_io_error(error)))
}

/// go-humanize's `Bytes`: SI units, one decimal below 10.
pub fn humanize_bytes(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if size < 10 {
        return format!("{size} B");
    }
    let exp = ((size as f64).ln() / 1000f64.ln()).floor() as usize;
    let exp = exp.min(UNITS.len() - 1);
    let value = (size as f64 / 1000f64.powi(exp as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[exp])
    } else {
        format!("{value:.0} {}", UNITS[exp])
    }
}

/// Go's `%v` of a byte slice: `[1 2 3]`.
pub fn go_bytes(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("[{}]", items.join(" "))
}

/// The endpoints the command will dial: the flag, else `ETCDCTL_ENDPOINTS`
/// (etcd's environment rule), else the default.
fn endpoints(values: &Values, env: &Env) -> Vec<String> {
    if !values.changed("endpoints") {
        let key = env_name("endpoints");
        if let Some((_, value)) = env.iter().rev().find(|(k, v)| *k == key && !v.is_empty()) {
            return value.split(',').map(str::to_string).collect();
        }
    }
    values.strings("endpoints")
}

/// `snapshot save <file>`.
pub async fn save(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args("snapshot save expects one argument"));
    }
    let endpoints = endpoints(values, env);
    if endpoints.len() != 1 {
        return Err(CtlError::new(
            EXIT_INTERRUPTED,
            format!(
                "snapshot must be requested to one selected node, not multiple [{}]",
                endpoints.join(" ")
            ),
        ));
    }
    // Without --command-timeout, etcdctl puts no deadline on a save.
    let deadline = values
        .changed("command-timeout")
        .then(|| values.duration("command-timeout"));
    let global = connect(values, env).await.map_err(|mut error| {
        if error.code == EXIT_ERROR {
            error.code = EXIT_INTERRUPTED;
        }
        error
    })?;
    let path = &args[0];
    let part = format!("{path}.part");
    let result = fetch(&global.client, &endpoints[0], path, &part, deadline).await;
    // etcd's `defer os.RemoveAll(partpath)`: gone whatever happened.
    let _ = std::fs::remove_file(&part);
    result.map_err(|message| CtlError::new(EXIT_INTERRUPTED, message))?;
    println!("Snapshot saved at {path}");
    Ok(())
}

/// Streams the snapshot into `part`, checks it, renames it to `path`.
async fn fetch(
    client: &cairn_client::Client,
    endpoint: &str,
    path: &str,
    part: &str,
    deadline: Option<Duration>,
) -> Result<(), String> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(part)
        .map_err(|e| format!("could not open {part} ({})", go_io_error(&e)))?;
    eprintln!(
        "{}",
        zap_line(
            "snapshot/v3_snapshot.go:119",
            "created temporary db file",
            &[("path", Field::Str(part))]
        )
    );
    let started = Instant::now();
    let stream = download(client, endpoint, &mut file);
    let size = match deadline {
        Some(limit) => tokio::time::timeout(limit, stream)
            .await
            .map_err(|_| "context deadline exceeded".to_string())??,
        None => stream.await?,
    };
    file.sync_all().map_err(|e| go_io_error(&e))?;
    drop(file);
    eprintln!(
        "{}",
        zap_line(
            "snapshot/v3_snapshot.go:142",
            "fetched snapshot",
            &[
                ("endpoint", Field::Str(endpoint)),
                ("size", Field::Str(&humanize_bytes(size))),
                ("took", Field::Seconds(started.elapsed())),
            ]
        )
    );
    std::fs::rename(part, path)
        .map_err(|e| format!("could not rename {part} to {path} ({})", go_io_error(&e)))?;
    eprintln!(
        "{}",
        zap_line(
            "snapshot/v3_snapshot.go:152",
            "saved",
            &[("path", Field::Str(path))]
        )
    );
    Ok(())
}

/// The Maintenance.Snapshot stream into `file`, with a progress bar: the
/// bytes written, once the trailer is checked (size and SHA-256).
async fn download(
    client: &cairn_client::Client,
    endpoint: &str,
    file: &mut File,
) -> Result<u64, String> {
    let mut stream = client
        .maintenance()
        .snapshot(pb::SnapshotRequest {})
        .await
        .map_err(|status| error_text(&status))?
        .into_inner();
    eprintln!(
        "{}",
        client_line(
            "info",
            "maintenance.go:200",
            "opened snapshot stream; downloading",
            None
        )
    );
    eprintln!(
        "{}",
        zap_line(
            "snapshot/v3_snapshot.go:127",
            "fetching snapshot",
            &[("endpoint", Field::Str(endpoint))]
        )
    );
    let mut progress: Option<Progress> = None;
    let mut trailer = TrailerCheck::default();
    loop {
        let message = match stream.message().await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(status) => {
                let text = error_text(&status);
                eprintln!(
                    "{}",
                    client_line(
                        "warn",
                        "maintenance.go:210",
                        "failed to receive from snapshot stream; closing",
                        Some(&text)
                    )
                );
                return Err(text);
            }
        };
        let progress = progress.get_or_insert_with(|| {
            let total = message.remaining_bytes + message.blob.len() as u64;
            Progress::bytes(Some(total), "receiving snapshot")
        });
        file.write_all(&message.blob).map_err(|e| go_io_error(&e))?;
        trailer.update(&message.blob);
        progress.advance(message.blob.len() as u64);
    }
    if let Some(progress) = &progress {
        progress.finish();
    }
    eprintln!(
        "{}",
        client_line(
            "info",
            "maintenance.go:208",
            "completed snapshot read; closing",
            None
        )
    );
    trailer.finish()
}

/// SHA-256 of a stream but its last 32 bytes, and those bytes.
#[derive(Default)]
struct TrailerCheck {
    hasher: Sha256,
    /// The last (up to) 32 bytes seen, not hashed yet.
    held: Vec<u8>,
    size: u64,
}

impl TrailerCheck {
    fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        self.held.extend_from_slice(bytes);
        let keep = SHA_BYTES as usize;
        if self.held.len() > keep {
            let cut = self.held.len() - keep;
            self.hasher.update(&self.held[..cut]);
            self.held.drain(..cut);
        }
    }

    /// The size, if it ends with a SHA-256 (etcd's check) that matches
    /// what came before it (etcdctl does not check that; cairnctl does).
    fn finish(self) -> Result<u64, String> {
        if !has_checksum(self.size) {
            return Err(format!("sha256 checksum not found [bytes: {}]", self.size));
        }
        let computed = self.hasher.finalize();
        if computed.as_slice() != self.held.as_slice() {
            return Err(format!(
                "expected sha256 {}, got {}",
                go_bytes(&self.held),
                go_bytes(&computed)
            ));
        }
        Ok(self.size)
    }
}

/// What `snapshot status` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbStatus {
    pub hash: u32,
    pub revision: i64,
    pub total_key: u64,
    pub total_size: u64,
}

/// bbolt's open and `tx.Check()` failures as etcdctl reports them.
pub fn bolt_error(error: &BoltError) -> String {
    match error {
        BoltError::NotBolt(_) => "invalid database".to_string(),
        BoltError::Version(_) => "version mismatch".to_string(),
        other => format!("snapshot file integrity check failed. 1 errors found.\n{other}"),
    }
}

/// bbolt's `meta.validate()` of the meta page at `at`: its error text.
fn validate_meta(data: &[u8], at: usize) -> Result<u32, &'static str> {
    let meta = data.get(at + 16..at + 80).ok_or("invalid database")?;
    let word = |i: usize| u32::from_le_bytes([meta[i], meta[i + 1], meta[i + 2], meta[i + 3]]);
    let checksum = u64::from_le_bytes(meta[56..64].try_into().unwrap_or_default());
    if word(0) != 0xED0C_DAED {
        Err("invalid database")
    } else if word(4) != 2 {
        Err("version mismatch")
    } else if checksum != 0 && checksum != cairn_bbolt::fnv1a64(&meta[..56]) {
        Err("checksum error")
    } else {
        Ok(word(8))
    }
}

/// bbolt's `Open` of a file's bytes, its checks in its order: the first
/// 4096 bytes, the page size from the first meta (else 4096), two pages,
/// one valid meta; then the tree is read (a fault there is reported as
/// `tx.Check()` reports it).
pub fn open_db(data: &[u8]) -> Result<Db<'_>, String> {
    if data.len() < 4096 {
        return Err("invalid database".to_string());
    }
    let page_size = validate_meta(data, 0).map_or(4096, |size| size as usize);
    if data.len() < 2 * page_size {
        return Err("file size too small".to_string());
    }
    if let (Err(first), Err(_)) = (validate_meta(data, 0), validate_meta(data, page_size)) {
        return Err(first.to_string());
    }
    Db::open(data).map_err(|e| bolt_error(&e))
}

/// etcd's `Status` of a bbolt file's bytes: CRC-32C (Castagnoli) over each
/// top-level bucket's name and its keys and values in order, the main
/// revision of the `key` bucket's last key, the number of keys, and the
/// size the meta describes.
pub fn db_status(data: &[u8]) -> Result<DbStatus, String> {
    let db = open_db(data)?;
    let meta = db.meta();
    let mut status = DbStatus {
        hash: 0,
        revision: 0,
        total_key: 0,
        total_size: meta.high_water.saturating_mul(u64::from(meta.page_size)),
    };
    let mut buckets = Vec::new();
    db.for_each(db.root(), |name, entry| {
        buckets.push((name, entry));
        Ok(())
    })
    .map_err(|e| bolt_error(&e))?;
    for (name, entry) in buckets {
        let Entry::Bucket(root) = entry else {
            return Err(format!(
                "cannot get hash of bucket {}",
                String::from_utf8_lossy(name)
            ));
        };
        status.hash = crc32c::crc32c_append(status.hash, name);
        let is_key = name == b"key";
        db.for_each(root, |key, value| {
            status.hash = crc32c::crc32c_append(status.hash, key);
            if let Entry::Value(value) = value {
                status.hash = crc32c::crc32c_append(status.hash, value);
            }
            if is_key {
                if let Some(main) = key.get(..8) {
                    let main: [u8; 8] = main.try_into().unwrap_or_default();
                    status.revision = i64::from_be_bytes(main);
                }
            }
            status.total_key += 1;
            Ok(())
        })
        .map_err(|e| bolt_error(&e))?;
    }
    Ok(status)
}

/// `snapshot status <file>`: simple, json, table, fields (the output flag
/// only: etcdctl applies no `ETCDCTL_*` variable here).
pub fn status(values: &Values, args: &[String]) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "snapshot status requires exactly one argument",
        ));
    }
    let format = values.string("write-out");
    if !["simple", "json", "table", "fields", "protobuf"].contains(&format.as_str()) {
        return Err(CtlError::new(EXIT_BAD_FEATURE, "unsupported output format"));
    }
    let path = &args[0];
    std::fs::metadata(path).map_err(|e| path_error("stat", path, &e))?;
    let data = std::fs::read(path).map_err(|e| path_error("open", path, &e))?;
    let status = db_status(&data).map_err(|message| CtlError::new(EXIT_ERROR, message))?;
    let size = humanize_bytes(status.total_size);
    match format.as_str() {
        "simple" => println!(
            "{:x}, {}, {}, {size}",
            status.hash, status.revision, status.total_key
        ),
        "json" => println!(
            "{{\"hash\":{},\"revision\":{},\"totalKey\":{},\"totalSize\":{}}}",
            status.hash, status.revision, status.total_key, status.total_size
        ),
        "table" => print!(
            "{}",
            printer::table(
                &["hash", "revision", "total keys", "total size"],
                &[vec![
                    format!("{:x}", status.hash),
                    status.revision.to_string(),
                    status.total_key.to_string(),
                    size,
                ]]
            )
        ),
        "fields" => {
            println!("\"Hash\" : {}", status.hash);
            println!("\"Revision\" : {}", status.revision);
            println!("\"Keys\" : {}", status.total_key);
            println!("\"Size\" : {}", status.total_size);
        }
        _ => {
            return Err(CtlError::new(
                EXIT_BAD_FEATURE,
                "protobuf not supported as output format",
            ))
        }
    }
    Ok(())
}

/// Whether `path` exists (etcd's `fileutil.Exist`).
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_humanized_as_go_humanize_does() {
        assert_eq!(humanize_bytes(0), "0 B");
        assert_eq!(humanize_bytes(9), "9 B");
        assert_eq!(humanize_bytes(999), "999 B");
        assert_eq!(humanize_bytes(1000), "1.0 kB");
        assert_eq!(humanize_bytes(20_480), "20 kB");
        // etcdctl printed "20 kB" for a 20512-byte file: 20.5 rounds to even.
        assert_eq!(humanize_bytes(20_512), "20 kB");
        assert_eq!(humanize_bytes(64_000_000), "64 MB");
    }

    #[test]
    fn the_trailer_is_the_sha256_of_what_precedes_it() {
        let body = vec![7u8; 512];
        let mut good = TrailerCheck::default();
        good.update(&body[..100]);
        good.update(&body[100..]);
        good.update(&Sha256::digest(&body));
        assert_eq!(good.finish(), Ok(544));
        let mut bad = TrailerCheck::default();
        bad.update(&body);
        bad.update(&[0u8; 32]);
        assert!(bad
            .finish()
            .unwrap_err()
            .starts_with("expected sha256 [0 0"));
        let mut short = TrailerCheck::default();
        short.update(&body);
        assert_eq!(
            short.finish(),
            Err("sha256 checksum not found [bytes: 512]".to_string())
        );
    }

    #[test]
    fn go_io_errors_read_as_go_writes_them() {
        let error = std::io::Error::from_raw_os_error(2);
        assert_eq!(go_io_error(&error), "no such file or directory");
    }
}
