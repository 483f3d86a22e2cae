//! `snapshot save/status/restore`: cairnctl against etcdctl 3.4.23 on the
//! same servers and files, and the restored directories started by both
//! real etcd and cairn.
//!
//! ```text
//!   etcd, cairn (same writes) ──save by etcdctl, cairnctl──▶ 4 files
//!   4 files ──status by both (every format)──▶ equal output
//!   4 files ──restore by both──▶ equal output, identical WAL and .snap
//!   8 dirs ──▶ cairn, then etcd, started on each: the keys read back
//! ```

#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::process::Command;

use common::snapshot::{run_in, Restored, TempDir};
use common::{available, cairn_binary, free_port, Outcome, Server, CAIRNCTL, ETCD, ETCDCTL};

const TOOLS: [(&str, &str); 2] = [("etcdctl", ETCDCTL), ("cairnctl", CAIRNCTL)];
const WAL: &str = "member/wal/0000000000000000-0000000000000000.wal";
const SNAP: &str = "member/snap/0000000000000001-0000000000000001.snap";
const KEYS: &str = "k1\nv1\nk3\nv3\n";

/// Runs `args` with both tools, each in its own copy of the inputs
/// (`<dir>/<tool>`), and checks the outcomes are equal; cairnctl's.
fn both(dir: &Path, args: &[&str], failures: &mut Vec<String>) -> Outcome {
    let reference = run_in(&dir.join("etcdctl"), ETCDCTL, args);
    let ours = run_in(&dir.join("cairnctl"), CAIRNCTL, args);
    if ours != reference {
        failures.push(format!(
            "`{}`:\n  etcdctl:  {reference:?}\n  cairnctl: {ours:?}",
            args.join(" ")
        ));
    }
    ours
}

/// The same writes on a server.
fn write_keys(port: u16) {
    for line in [
        ["put", "k1", "v1"],
        ["put", "k2", "v2"],
        ["put", "k3", "v3"],
    ] {
        let ok = Command::new(ETCDCTL)
            .args(["--endpoints", &format!("127.0.0.1:{port}")])
            .args(line)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "{line:?}");
    }
    let ok = Command::new(ETCDCTL)
        .args(["--endpoints", &format!("127.0.0.1:{port}"), "del", "k2"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok);
}

/// `script -qfec <command> /dev/null`: the command on a pseudo-terminal;
/// what it wrote there.
fn on_a_terminal(dir: &Path, command: &str) -> String {
    let output = Command::new("script")
        .args(["-qfec", command, "/dev/null"])
        .current_dir(dir)
        .output()
        .expect("script (util-linux)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn save_status_restore_and_start_on_both_servers() {
    if !available() {
        return;
    }
    let etcd = Server::start(Path::new(ETCD), "snap-etcd");
    let cairn = Server::start(&cairn_binary(), "snap-cairn");
    for server in [&etcd, &cairn] {
        server.wait_ready();
        write_keys(server.port);
    }
    let work = TempDir::new("snapshot");
    let mut failures = Vec::new();
    let peer = format!("http://127.0.0.1:{}", free_port());
    let cluster = format!("m1={peer}");
    let mut restored = Vec::new();
    for (server_name, server) in [("etcd", &etcd), ("cairn", &cairn)] {
        let endpoint = format!("127.0.0.1:{}", server.port);
        for (saver, binary) in TOOLS {
            // The file `saver` saved from `server`, as `snap.db` in both
            // tools' directories.
            let dir = work.sub(&format!("{server_name}-{saver}"));
            let saved = run_in(
                &work.sub(&format!("{server_name}-{saver}/{saver}")),
                binary,
                &["--endpoints", &endpoint, "snapshot", "save", "snap.db"],
            );
            assert_eq!(
                (saved.code, saved.stdout.as_str()),
                (0, "Snapshot saved at snap.db\n"),
                "{saved:?}"
            );
            let other = if saver == "etcdctl" {
                "cairnctl"
            } else {
                "etcdctl"
            };
            let _ = std::fs::create_dir_all(dir.join(other));
            std::fs::copy(
                dir.join(saver).join("snap.db"),
                dir.join(other).join("snap.db"),
            )
            .expect("copy the file");
            for format in ["simple", "json", "table", "fields"] {
                let status = both(
                    &dir,
                    &["snapshot", "status", "snap.db", "-w", format],
                    &mut failures,
                );
                assert_eq!(status.code, 0, "{status:?}");
            }
            let out = both(
                &dir,
                &[
                    "snapshot",
                    "restore",
                    "snap.db",
                    "--data-dir",
                    "restored",
                    "--name",
                    "m1",
                    "--initial-cluster",
                    &cluster,
                    "--initial-advertise-peer-urls",
                    &peer,
                ],
                &mut failures,
            );
            assert_eq!(out.code, 0, "{out:?}");
            for file in [WAL, SNAP] {
                let read = |tool: &str| std::fs::read(dir.join(tool).join("restored").join(file));
                assert_eq!(
                    read("etcdctl").expect("etcdctl's file"),
                    read("cairnctl").expect("cairnctl's file"),
                    "{file} of the restore of {server_name}-{saver}"
                );
            }
            for tool in ["etcdctl", "cairnctl"] {
                restored.push(dir.join(tool).join("restored"));
            }
        }
    }
    // Progress: drawn on a terminal, absent when piped (compared above).
    let endpoint = format!("127.0.0.1:{}", etcd.port);
    let tty = on_a_terminal(
        &work.0,
        &format!("{CAIRNCTL} --endpoints {endpoint} snapshot save tty.db"),
    );
    assert!(tty.contains("receiving snapshot"), "{tty}");
    assert!(tty.contains("Snapshot saved at tty.db"), "{tty}");
    let tty = on_a_terminal(
        &work.0,
        &format!("{CAIRNCTL} snapshot restore tty.db --data-dir tty.etcd"),
    );
    assert!(tty.contains("writing the WAL"), "{tty}");
    assert_eq!(restored.len(), 8);
    drop((etcd, cairn));

    // Each restored directory: cairn imports it (leaving etcd's files as
    // they are), then etcd starts on it; both serve the keys.
    let threads: Vec<_> = restored
        .into_iter()
        .map(|dir| {
            let peer = peer.clone();
            std::thread::spawn(move || {
                let mut found = Vec::new();
                for binary in [cairn_binary(), Path::new(ETCD).to_path_buf()] {
                    let server = Restored::start(&binary, &dir, &peer);
                    found.push((binary.display().to_string(), server.all_keys()));
                }
                (dir, found)
            })
        })
        .collect();
    for thread in threads {
        let (dir, found) = thread.join().expect("a restored server");
        for (binary, keys) in found {
            if keys.as_deref() != Some(KEYS) {
                failures.push(format!("{binary} on {}: {keys:?}", dir.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A small bbolt file as etcd's snapshot holds it, with its SHA-256.
fn snapshot_file() -> Vec<u8> {
    use sha2::Digest;
    let mut writer = cairn_bbolt::DbWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
    for bucket in [&b"key"[..], b"meta"] {
        writer.bucket(bucket).unwrap();
        let (key, value): (&[u8], &[u8]) = if bucket == b"key" {
            (&[0, 0, 0, 0, 0, 0, 0, 2, b'_', 0, 0, 0, 0, 0, 0, 0, 0], b"")
        } else {
            (b"consistent_index", &[0, 0, 0, 0, 0, 0, 0, 5])
        };
        writer.put(key, value).unwrap();
    }
    let mut bytes = writer.finish().unwrap().into_inner();
    let sha = sha2::Sha256::digest(&bytes);
    bytes.extend_from_slice(&sha);
    bytes
}

#[test]
fn errors_are_etcdctls() {
    if !available() {
        return;
    }
    let work = TempDir::new("snapshot-errors");
    let good = snapshot_file();
    let mut bad_hash = good.clone();
    bad_hash[5000] ^= 1;
    let mut wrong_size = good.clone();
    wrong_size.pop();
    for tool in ["etcdctl", "cairnctl"] {
        let dir = work.sub(tool);
        for (name, bytes) in [
            ("good.db", &good[..]),
            ("bad-hash.db", &bad_hash),
            ("no-hash.db", &wrong_size),
            ("short.db", b"hello\n"),
            ("text.db", &[b'x'; 5000][..]),
            ("text2.db", &[b'x'; 9000][..]),
        ] {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        std::fs::create_dir_all(dir.join("existing")).unwrap();
    }
    let mut failures = Vec::new();
    let closed = format!("127.0.0.1:{}", free_port());
    let cases: &[&[&str]] = &[
        &["snapshot", "status", "good.db"],
        &["snapshot", "status", "good.db", "-w", "protobuf"],
        &["snapshot", "status", "missing.db"],
        &["snapshot", "status", "short.db"],
        &["snapshot", "status", "text.db"],
        &["snapshot", "status", "text2.db"],
        &["snapshot", "status", "bad-hash.db"],
        &["snapshot", "status"],
        &["snapshot", "status", "a", "b"],
        &["snapshot", "restore", "missing.db", "--data-dir", "r1"],
        &["snapshot", "restore", "bad-hash.db", "--data-dir", "r2"],
        &["snapshot", "restore", "no-hash.db", "--data-dir", "r3"],
        &["snapshot", "restore", "short.db", "--data-dir", "r4"],
        &["snapshot", "restore", "good.db", "--data-dir", "existing"],
        &[
            "snapshot",
            "restore",
            "good.db",
            "--data-dir",
            "r5",
            "--wal-dir",
            "existing",
        ],
        &[
            "snapshot",
            "restore",
            "good.db",
            "--data-dir",
            "r6",
            "--initial-cluster",
            "bad",
        ],
        &[
            "snapshot",
            "restore",
            "good.db",
            "--data-dir",
            "r7",
            "--initial-cluster",
            "x=ftp://h:1",
        ],
        &[
            "snapshot",
            "restore",
            "good.db",
            "--data-dir",
            "r8",
            "--name",
            "nobody",
        ],
        &[
            "snapshot",
            "restore",
            "good.db",
            "--data-dir",
            "r9",
            "--initial-cluster",
            "default=http://localhost:2380,b=http://localhost:2380",
        ],
        &[
            "snapshot",
            "restore",
            "good.db",
            "--data-dir",
            "r10",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
        ],
        &[
            "snapshot",
            "restore",
            "good.db",
            "--data-dir",
            "r13",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:1",
        ],
        &[
            "snapshot",
            "restore",
            "good.db",
            "--data-dir",
            "r11",
            "--initial-advertise-peer-urls",
            "http://h:1/path",
        ],
        &["snapshot", "restore"],
        &[
            "snapshot",
            "restore",
            "no-hash.db",
            "--data-dir",
            "r12",
            "--skip-hash-check",
        ],
        &["snapshot", "save"],
        &[
            "--endpoints",
            "127.0.0.1:1,127.0.0.1:2",
            "snapshot",
            "save",
            "x.db",
        ],
    ];
    for args in cases {
        both(&work.0, args, &mut failures);
    }
    // An unreachable endpoint (etcdctl's log line there carries a Go stack
    // trace; the outcome is the same).
    let out = run_in(
        &work.0.join("cairnctl"),
        CAIRNCTL,
        &[
            "--endpoints",
            &closed,
            "--command-timeout",
            "1s",
            "snapshot",
            "save",
            "x.db",
        ],
    );
    assert_eq!(out.code, 5, "{out:?}");
    assert!(
        out.stderr.ends_with("Error: context deadline exceeded\n"),
        "{out:?}"
    );
    assert!(!work.0.join("cairnctl/x.db.part").exists());
    // What both left behind (etcdctl keeps the partial data dir).
    for dir in ["r2", "r3", "r12"] {
        let listed = |tool: &str| {
            let mut names: Vec<String> =
                std::fs::read_dir(work.0.join(tool).join(dir).join("member/snap"))
                    .map(|d| {
                        d.filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
            names.sort();
            names
        };
        if listed("etcdctl") != listed("cairnctl") {
            failures.push(format!(
                "{dir}: {:?} != {:?}",
                listed("etcdctl"),
                listed("cairnctl")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
