//! Files written by `DbWriter`, judged by real etcd 3.4.23 (Debian's
//! `etcd-client`): a file with etcd's buckets (`alarm` empty; `key` with
//! 20,000 revision keys, some values 10 KiB, trees with branch levels) is
//! accepted by `etcdctl snapshot status`, which runs bbolt's `tx.Check()`
//! over the whole file, with and without the SHA-256 trailer `etcdctl
//! snapshot save` appends, with either freelist choice; and its hash,
//! revision and key count are what cairn-bbolt's reader computes. The
//! trailered file then goes through `etcdctl snapshot restore`, which opens
//! it with bbolt for writing and rebuilds etcd's state from it; the
//! restored member's db reads back with every key. Without etcd the test
//! prints SKIPPED, unless `CAIRN_REQUIRE_ETCD=1` (as in CI), where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cairn_bbolt::{Db, DbWriter, Freelist};
use sha2::{Digest, Sha256};

mod common;

use common::{json_number, status_of, tools_available, ETCDCTL};

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A protobuf field: varint (wire type 0) or bytes (wire type 2).
fn field_varint(out: &mut Vec<u8>, number: u64, n: u64) {
    varint(out, number << 3);
    varint(out, n);
}

fn field_bytes(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    varint(out, (number << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// etcd's `mvccpb.KeyValue`, as the `key` bucket holds it.
fn key_value(key: &[u8], revision: u64, value: &[u8], lease: u64) -> Vec<u8> {
    let mut out = Vec::new();
    field_bytes(&mut out, 1, key);
    field_varint(&mut out, 2, revision); // create_revision
    field_varint(&mut out, 3, revision); // mod_revision
    field_varint(&mut out, 4, 1); // version
    field_bytes(&mut out, 5, value);
    if lease != 0 {
        field_varint(&mut out, 6, lease);
    }
    out
}

/// A revision key: 8-byte big-endian main, `_`, 8-byte big-endian sub.
fn revision_key(main: u64, sub: u64) -> Vec<u8> {
    let mut key = main.to_be_bytes().to_vec();
    key.push(b'_');
    key.extend_from_slice(&sub.to_be_bytes());
    key
}

/// Writes an etcd-like file to `path` (no trailer); answers its last
/// revision and the number of entries in its `key` bucket.
fn write_etcd_like(path: &Path, freelist: Freelist) -> (u64, usize) {
    let file = std::fs::File::create(path).expect("create the file");
    let mut writer = DbWriter::with_freelist(file, freelist).expect("a writer");
    writer.bucket(b"alarm").unwrap();
    writer.bucket(b"auth").unwrap();
    writer.put(b"authEnabled", &[0]).unwrap();
    writer.put(b"authRevision", &1u64.to_be_bytes()).unwrap();
    writer.bucket(b"authRoles").unwrap();
    writer.bucket(b"authUsers").unwrap();
    writer.bucket(b"cluster").unwrap();
    writer.put(b"clusterVersion", b"3.4.0").unwrap();
    writer.bucket(b"key").unwrap();
    let (mut main, mut keys) = (1u64, 0);
    for i in 0..20_000u64 {
        // Two changes in one revision now and then (sub revisions 0, 1).
        let sub = u64::from(i % 7 == 3);
        if sub == 0 && i > 0 {
            main += 1;
        }
        let user_key = format!("/registry/item/{i:06}");
        let value = if i % 500 == 17 {
            vec![b'x'; 10 * 1024]
        } else {
            format!("value {i} {}", "y".repeat((i % 90) as usize)).into_bytes()
        };
        let lease = if i % 1000 == 1 { 0x1234 } else { 0 };
        writer
            .put(
                &revision_key(main, sub),
                &key_value(user_key.as_bytes(), main, &value, lease),
            )
            .unwrap();
        keys += 1;
    }
    writer.bucket(b"lease").unwrap();
    let mut lease = Vec::new();
    field_varint(&mut lease, 1, 0x1234); // ID
    field_varint(&mut lease, 2, 3600); // TTL
    writer.put(&0x1234u64.to_be_bytes(), &lease).unwrap();
    writer.bucket(b"members").unwrap();
    writer
        .put(
            b"8e9e05c52164694d",
            br#"{"id":10276657743932975437,"peerURLs":["http://127.0.0.1:2380"]}"#,
        )
        .unwrap();
    writer.bucket(b"members_removed").unwrap();
    writer.bucket(b"meta").unwrap();
    writer
        .put(b"consistent_index", &20_000u64.to_be_bytes())
        .unwrap();
    writer.finish().expect("finish").sync_all().expect("sync");
    (main, keys)
}

fn etcdctl(args: &[&str]) -> std::process::Output {
    Command::new(ETCDCTL)
        .args(args)
        .env("ETCDCTL_API", "3")
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl")
}

/// `etcdctl snapshot status` of `path`: must succeed, and agree with the
/// reader on `bytes` (the file without its trailer).
fn status_agrees(path: &Path, bytes: &[u8]) {
    let output = etcdctl(&["snapshot", "status", path.to_str().unwrap(), "-w", "json"]);
    let status = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "etcdctl snapshot status {}: {}{status}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let db = Db::open(bytes).expect("cairn-bbolt opens the file");
    let (hash, revision, keys) = status_of(&db);
    assert_eq!(u64::from(hash), json_number(&status, "hash"), "{status}");
    assert_eq!(
        revision as u64,
        json_number(&status, "revision"),
        "{status}"
    );
    assert_eq!(keys, json_number(&status, "totalKey"), "{status}");
    assert_eq!(
        bytes.len() as u64,
        json_number(&status, "totalSize"),
        "{status}"
    );
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-bbolt-writer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn etcdctl_accepts_written_files() {
    if !tools_available("etcdctl_accepts_written_files") {
        return;
    }
    let dir = temp_dir();
    for (name, freelist) in [
        ("not-synced", Freelist::NotSynced),
        ("empty-page", Freelist::EmptyPage),
    ] {
        let plain = dir.join(format!("{name}.db"));
        let (revision, key_entries) = write_etcd_like(&plain, freelist);
        let bytes = std::fs::read(&plain).expect("read the file");
        assert_eq!(bytes.len() % 4096, 0);
        let db = Db::open(&bytes).expect("opens");
        let (_, read_revision, _) = status_of(&db);
        assert_eq!(read_revision as u64, revision);
        status_agrees(&plain, &bytes);

        // As `etcdctl snapshot save` leaves it: the SHA-256 appended.
        let snapshot = dir.join(format!("{name}.snapshot"));
        let mut trailered = bytes.clone();
        trailered.extend_from_slice(&Sha256::digest(&bytes));
        std::fs::write(&snapshot, &trailered).expect("write the snapshot");
        status_agrees(&snapshot, &bytes);

        // Restore: bbolt opens the file for writing, etcd rebuilds its
        // index from the `key` bucket and rewrites `members` and `meta`.
        let data_dir = dir.join(format!("{name}.etcd"));
        let output = etcdctl(&[
            "snapshot",
            "restore",
            snapshot.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--name",
            "restored",
            "--initial-cluster",
            "restored=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
        ]);
        assert!(
            output.status.success(),
            "etcdctl snapshot restore: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let restored =
            std::fs::read(data_dir.join("member/snap/db")).expect("read the restored db");
        let db = Db::open(&restored).expect("cairn-bbolt opens the restored db");
        let bucket = db.bucket(b"key").unwrap().expect("the key bucket");
        let mut entries = 0;
        db.for_each(bucket, |_, _| {
            entries += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(entries, key_entries, "the restored key bucket");
        eprintln!(
            "{name}: {} pages, revision {revision}, {key_entries} keys: status and restore pass",
            bytes.len() / 4096
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
