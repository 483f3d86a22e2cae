//! Files written by real etcd 3.4.23 (Debian's `etcd-server`), read with
//! cairn-bbolt: an `etcdctl snapshot save` file (its trailing SHA-256 cut
//! off) and a stopped member's `member/snap/db`. What `etcdctl snapshot
//! status` reports of the snapshot (its CRC-32C hash over every bucket's
//! name, keys and values, its revision and its key count) is computed again
//! from what cairn-bbolt reads, and must be the same. Without etcd the test
//! prints SKIPPED, unless `CAIRN_REQUIRE_ETCD=1` (as in CI), where it fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_bbolt::Db;

mod common;

use common::{json_number, status_of, tools_available, ETCD, ETCDCTL};

/// A loopback port below Linux's ephemeral range, free when asked.
fn free_port(offset: u16) -> u16 {
    let base = 33_000 + (std::process::id() % 200) as u16 * 10 + offset;
    (base..base + 2000)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port")
}

struct Etcd(Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn etcdctl(endpoint: &str, args: &[&str]) -> String {
    let output = Command::new(ETCDCTL)
        .args(["--endpoints", endpoint])
        .args(args)
        .env("ETCDCTL_API", "3")
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl");
    assert!(
        output.status.success(),
        "etcdctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-bbolt-etcd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn etcds_own_files_read_as_etcdctl_reports_them() {
    if !tools_available("etcds_own_files_read_as_etcdctl_reports_them") {
        return;
    }
    let dir = temp_dir();
    let (client, peer) = (free_port(0), free_port(1000));
    let endpoint = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let etcd = Etcd(
        Command::new(ETCD)
            .args(["--data-dir", dir.join("etcd").to_str().expect("utf-8")])
            .args([
                "--listen-client-urls",
                &endpoint,
                "--advertise-client-urls",
                &endpoint,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etcd"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while Command::new(ETCDCTL)
        .args(["--endpoints", &endpoint, "endpoint", "health"])
        .env("ETCDCTL_API", "3")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        assert!(Instant::now() < deadline, "etcd never served");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Enough keys for branch pages, with overwrites, deletes, a lease with
    // keys on it, a compaction, and a user and a role.
    let puts: String = (0..3000)
        .map(|i| format!("put key{i:05} value-{i}-{}\n", "x".repeat(i % 300)))
        .collect();
    for chunk in puts.lines().collect::<Vec<_>>().chunks(100) {
        let mut txn = Command::new(ETCDCTL)
            .args(["--endpoints", &endpoint, "txn"])
            .env("ETCDCTL_API", "3")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("etcdctl txn");
        use std::io::Write;
        let body = format!("\n{}\n\n\n", chunk.join("\n"));
        txn.stdin
            .take()
            .expect("stdin")
            .write_all(body.as_bytes())
            .expect("write");
        assert!(txn.wait().expect("txn").success());
    }
    etcdctl(&endpoint, &["put", "key00001", "overwritten"]);
    etcdctl(&endpoint, &["del", "key00002"]);
    let lease = etcdctl(&endpoint, &["lease", "grant", "600"]);
    let lease_id = lease
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    etcdctl(&endpoint, &["put", "leased", "v", "--lease", &lease_id]);
    etcdctl(&endpoint, &["compaction", "5"]);
    etcdctl(&endpoint, &["user", "add", "alice:secret"]);
    etcdctl(&endpoint, &["role", "add", "reader"]);
    let snapshot = dir.join("snap.db");
    etcdctl(
        &endpoint,
        &["snapshot", "save", snapshot.to_str().expect("utf-8")],
    );
    let status = etcdctl(
        &endpoint,
        &[
            "snapshot",
            "status",
            snapshot.to_str().expect("utf-8"),
            "-w",
            "json",
        ],
    );

    let bytes = std::fs::read(&snapshot).expect("read the snapshot");
    // The snapshot ends with the SHA-256 of what comes before it.
    let db = Db::open(&bytes[..bytes.len() - 32]).expect("cairn-bbolt opens etcd's snapshot");
    let (hash, revision, keys) = status_of(&db);
    assert_eq!(u64::from(hash), json_number(&status, "hash"), "{status}");
    assert_eq!(
        revision as u64,
        json_number(&status, "revision"),
        "{status}"
    );
    assert_eq!(keys, json_number(&status, "totalKey"), "{status}");
    for bucket in [
        "key",
        "meta",
        "lease",
        "members",
        "cluster",
        "auth",
        "authUsers",
        "authRoles",
    ] {
        assert!(
            db.bucket(bucket.as_bytes()).expect("reads").is_some(),
            "bucket {bucket}"
        );
    }
    assert!(keys > 3000, "{keys}");
    eprintln!(
        "etcd's snapshot: revision {revision}, {keys} keys, hash {hash:#x}, as etcdctl reports"
    );

    // The member's own file, once etcd has stopped.
    drop(etcd);
    let member_db = std::fs::read(dir.join("etcd/member/snap/db")).expect("read member db");
    let db = Db::open(&member_db).expect("cairn-bbolt opens etcd's data dir");
    let (_, member_revision, member_keys) = status_of(&db);
    assert!(
        member_revision >= revision,
        "{member_revision} < {revision}"
    );
    assert!(member_keys >= keys - 1, "{member_keys} vs {keys}");
    let _ = std::fs::remove_dir_all(&dir);
}
