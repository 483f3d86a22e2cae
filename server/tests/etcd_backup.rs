//! Backups and migration in etcd's own formats, with the real tools
//! (Debian's etcd 3.4.23 and etcdctl): `etcdctl snapshot save` from cairn,
//! restored into etcd, and from etcd, restored into cairn; a stopped etcd
//! member's data directory started as cairn; a corrupt backup refused as
//! etcd refuses its own; a three-member cairn cluster restored from one
//! backup. Every key (with its history), lease, user and role is compared.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::{authpb, etcdserverpb as pb};
use serde_json::Value;
use support::{free_port, temp_dir};
use tonic::transport::Channel;

const ETCD: &str = "/usr/bin/etcd";
const ETCDCTL: &str = "/usr/bin/etcdctl";
const ROOT: &str = "root:rootpw";

fn tools(test: &str) -> bool {
    support::tools_available(test, &[ETCD, ETCDCTL], "etcd-server etcd-client")
}

/// A cairn or etcd process, killed (-9) when dropped.
struct Server {
    child: Option<Child>,
    client_port: u16,
    log: PathBuf,
}

impl Server {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the process has exited, returning its log.
    fn wait_exit(&mut self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("running");
        loop {
            if child.try_wait().expect("wait").is_some() {
                self.child = None;
                return std::fs::read_to_string(&self.log).unwrap_or_default();
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One member's flags.
#[derive(Clone)]
struct Flags {
    name: String,
    data_dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    initial_cluster: String,
    token: String,
}

impl Flags {
    fn single(dir: &Path, name: &str) -> Flags {
        let peer_port = free_port();
        Flags {
            name: name.to_string(),
            data_dir: dir.join(format!("{name}.data")),
            client_port: free_port(),
            peer_port,
            initial_cluster: format!("{name}=http://127.0.0.1:{peer_port}"),
            token: "backup-test".to_string(),
        }
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn start(&self, binary: &str, extra: &[&str]) -> Server {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let log = self.data_dir.with_extension("log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(binary)
            .args(["--name", &self.name, "--data-dir"])
            .arg(&self.data_dir)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args(["--listen-peer-urls", &self.peer_url()])
            .args(["--initial-advertise-peer-urls", &self.peer_url()])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-token", &self.token])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn server");
        Server {
            child: Some(child),
            client_port: self.client_port,
            log,
        }
    }

    /// `etcdctl snapshot restore` of `file` into this member's data dir.
    fn restore(&self, file: &Path) -> std::process::Output {
        Command::new(ETCDCTL)
            .arg("snapshot")
            .arg("restore")
            .arg(file)
            .args(["--name", &self.name, "--data-dir"])
            .arg(&self.data_dir)
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-token", &self.token])
            .args(["--initial-advertise-peer-urls", &self.peer_url()])
            .env("ETCDCTL_API", "3")
            .output()
            .expect("run etcdctl")
    }
}

fn cairn() -> &'static str {
    env!("CARGO_BIN_EXE_cairn")
}

fn etcdctl_output(endpoint: &str, user: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(ETCDCTL);
    command.args(["--endpoints", endpoint, "--command-timeout", "20s"]);
    if let Some(user) = user {
        command.args(["--user", user]);
    }
    command
        .args(args)
        .env("ETCDCTL_API", "3")
        .output()
        .expect("run etcdctl")
}

fn etcdctl(endpoint: &str, user: Option<&str>, args: &[&str]) -> String {
    let out = etcdctl_output(endpoint, user, args);
    assert!(
        out.status.success(),
        "etcdctl {args:?} against {endpoint}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Waits until `endpoint` answers a read (as `user`, if given).
fn wait_serving(server: &Server, user: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let out = etcdctl_output(&server.endpoint(), user, &["get", "probe"]);
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never served: {}\nlog:\n{}",
            server.endpoint(),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn connect(endpoint: &str) -> Channel {
    Channel::from_shared(endpoint.to_string())
        .expect("endpoint")
        .connect()
        .await
        .expect("connect")
}

fn put_op(key: String, value: Vec<u8>, lease: i64) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
            key: key.into_bytes().into(),
            value: value.into(),
            lease,
            ..Default::default()
        })),
    }
}

/// The same writes, in the same order, on any server: thousands of keys in
/// multi-op txns, overwrites, deletes (one of a whole prefix), a compaction,
/// large values, leases with keys (one revoked), users and roles, and auth
/// enabled at the end. Returns the compaction revision.
async fn workload(endpoint: &str) -> i64 {
    let channel = connect(endpoint).await;
    let mut kv = pb::kv_client::KvClient::new(channel.clone());
    for batch in 0..20 {
        let success = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                put_op(format!("key/{n:04}"), format!("first-{n}").into_bytes(), 0)
            })
            .collect();
        kv.txn(pb::TxnRequest {
            success,
            ..Default::default()
        })
        .await
        .expect("txn");
    }
    for i in 0..600u32 {
        let n = (i * 7) % 2000;
        kv.put(support::put(&format!("key/{n:04}"), &format!("second-{i}")))
            .await
            .expect("overwrite");
    }
    for i in 0..150u32 {
        let n = (i * 13) % 2000;
        kv.delete_range(pb::DeleteRangeRequest {
            key: format!("key/{n:04}").into_bytes().into(),
            ..Default::default()
        })
        .await
        .expect("delete");
    }
    kv.delete_range(pb::DeleteRangeRequest {
        key: b"key/19".to_vec().into(),
        range_end: b"key/1:".to_vec().into(),
        ..Default::default()
    })
    .await
    .expect("delete a prefix");
    let revision = support::current_revision(&mut kv, "key/0001").await;
    let compacted = revision - 300;
    kv.compact(pb::CompactionRequest {
        revision: compacted,
        physical: true,
    })
    .await
    .expect("compact");
    for i in 0..300u32 {
        let size = if i % 50 == 0 { 10 * 1024 } else { 40 };
        let value = vec![b'a' + (i % 26) as u8; size];
        kv.put(pb::PutRequest {
            key: format!("more/{i:03}").into_bytes().into(),
            value: value.into(),
            ..Default::default()
        })
        .await
        .expect("put more");
    }
    let mut lease = pb::lease_client::LeaseClient::new(channel.clone());
    for (id, ttl) in [(0x1001_i64, 600_i64), (0x1002, 900), (0x1003, 1200)] {
        lease
            .lease_grant(pb::LeaseGrantRequest { ttl, id })
            .await
            .expect("grant");
        for i in 0..5 {
            kv.put(pb::PutRequest {
                key: format!("lease/{id:x}/{i}").into_bytes().into(),
                value: b"leased".to_vec().into(),
                lease: id,
                ..Default::default()
            })
            .await
            .expect("put with a lease");
        }
    }
    lease
        .lease_revoke(pb::LeaseRevokeRequest { id: 0x1003 })
        .await
        .expect("revoke");
    let mut auth = pb::auth_client::AuthClient::new(channel);
    for (name, password) in [("root", "rootpw"), ("alice", "alicepw"), ("bob", "bobpw")] {
        auth.user_add(pb::AuthUserAddRequest {
            name: name.into(),
            password: password.into(),
            options: None,
        })
        .await
        .expect("user add");
    }
    for role in ["root", "reader", "writer"] {
        auth.role_add(pb::AuthRoleAddRequest { name: role.into() })
            .await
            .expect("role add");
    }
    for (role, key, end, perm) in [
        ("reader", "key/", "key0", 0),
        ("writer", "more/", "more0", 2),
        ("writer", "lease/1001/0", "", 1),
    ] {
        auth.role_grant_permission(pb::AuthRoleGrantPermissionRequest {
            name: role.into(),
            perm: Some(authpb::Permission {
                perm_type: perm,
                key: key.as_bytes().to_vec().into(),
                range_end: end.as_bytes().to_vec().into(),
            }),
        })
        .await
        .expect("grant permission");
    }
    for (user, role) in [
        ("root", "root"),
        ("alice", "reader"),
        ("alice", "writer"),
        ("bob", "reader"),
    ] {
        auth.user_grant_role(pb::AuthUserGrantRoleRequest {
            user: user.into(),
            role: role.into(),
        })
        .await
        .expect("grant role");
    }
    auth.auth_enable(pb::AuthEnableRequest {})
        .await
        .expect("auth enable");
    compacted
}

/// What a client can see of a server's state.
#[derive(Debug, PartialEq)]
struct State {
    revision: i64,
    /// Every key at the current revision and at older revisions.
    kvs: BTreeMap<i64, Value>,
    compacted_error: String,
    /// (id, granted TTL, keys).
    leases: Vec<(i64, i64, Vec<String>)>,
    users: BTreeMap<String, String>,
    roles: BTreeMap<String, String>,
    /// What an unauthenticated read gets.
    anonymous: String,
    /// `etcdctl endpoint hashkv` now and at an older revision.
    hashkv: Vec<Value>,
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn state(endpoint: &str, compacted: i64) -> State {
    let get = |rev: Option<i64>| {
        let rev = rev.map(|r| format!("--rev={r}"));
        let mut args = vec!["get", "", "--from-key", "-w", "json"];
        args.extend(rev.as_deref());
        json(&etcdctl(endpoint, Some(ROOT), &args))
    };
    let now = get(None);
    let revision = now["header"]["revision"].as_i64().expect("revision");
    let mut kvs = BTreeMap::new();
    kvs.insert(revision, now["kvs"].clone());
    for rev in [compacted, compacted + 1, compacted + 150, revision - 40] {
        kvs.insert(rev, get(Some(rev))["kvs"].clone());
    }
    let compacted_error = String::from_utf8_lossy(
        &etcdctl_output(
            endpoint,
            Some(ROOT),
            &["get", "key/0001", &format!("--rev={}", compacted - 1)],
        )
        .stderr,
    )
    .lines()
    .filter(|line| line.starts_with("Error"))
    .collect();
    let mut leases = Vec::new();
    let list = json(&etcdctl(
        endpoint,
        Some(ROOT),
        &["lease", "list", "-w", "json"],
    ));
    for lease in list["leases"].as_array().cloned().unwrap_or_default() {
        let id = lease["id"].as_i64().expect("lease id");
        let ttl = json(&etcdctl(
            endpoint,
            Some(ROOT),
            &[
                "lease",
                "timetolive",
                &format!("{id:x}"),
                "--keys",
                "-w",
                "json",
            ],
        ));
        let mut keys: Vec<String> = ttl["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|k| k.as_str().unwrap_or_default().to_string())
            .collect();
        keys.sort();
        leases.push((id, ttl["granted-ttl"].as_i64().expect("granted ttl"), keys));
    }
    leases.sort();
    let list = |what: &str| -> BTreeMap<String, String> {
        etcdctl(endpoint, Some(ROOT), &[what, "list"])
            .lines()
            .map(|name| {
                let detail = etcdctl(endpoint, Some(ROOT), &[what, "get", name]);
                (name.to_string(), detail)
            })
            .collect()
    };
    let anonymous =
        String::from_utf8_lossy(&etcdctl_output(endpoint, None, &["get", "key/0001"]).stderr)
            .lines()
            .filter(|line| line.starts_with("Error"))
            .collect();
    let hashkv = [0, compacted + 150]
        .iter()
        .map(|rev| {
            let out = json(&etcdctl(
                endpoint,
                Some(ROOT),
                &["endpoint", "hashkv", &format!("--rev={rev}"), "-w", "json"],
            ));
            let hash = &out[0]["HashKV"];
            serde_json::json!([hash["hash"], hash["compact_revision"]])
        })
        .collect();
    State {
        hashkv,
        revision,
        kvs,
        compacted_error,
        leases,
        users: list("user"),
        roles: list("role"),
        anonymous,
    }
}

fn assert_same_state(from: &State, to: &State, what: &str) {
    assert_eq!(from.revision, to.revision, "{what}: revision");
    for (rev, kvs) in &from.kvs {
        assert_eq!(Some(kvs), to.kvs.get(rev), "{what}: keys at revision {rev}");
    }
    assert!(
        from.kvs[&from.revision]
            .as_array()
            .is_some_and(|kvs| kvs.len() > 2000),
        "{what}: the workload's keys are there"
    );
    assert_eq!(
        from.compacted_error, to.compacted_error,
        "{what}: compaction"
    );
    assert!(
        from.compacted_error.contains("compacted"),
        "{what}: {}",
        from.compacted_error
    );
    assert_eq!(from.leases, to.leases, "{what}: leases");
    assert_eq!(from.leases.len(), 2, "{what}: two leases left");
    assert_eq!(from.users, to.users, "{what}: users");
    assert_eq!(from.roles, to.roles, "{what}: roles");
    assert_eq!(from.anonymous, to.anonymous, "{what}: auth stays enabled");
    assert_eq!(from.hashkv, to.hashkv, "{what}: endpoint hashkv");
    assert!(
        from.hashkv
            .iter()
            .all(|h| h[0].as_u64().is_some_and(|hash| hash != 0)),
        "{what}: hashes {:?}",
        from.hashkv
    );
    assert!(
        from.anonymous.contains("user name is empty"),
        "{what}: {}",
        from.anonymous
    );
}

/// `etcdctl snapshot status -w json`: (revision, totalKey).
fn status(file: &Path) -> (i64, i64) {
    let out = Command::new(ETCDCTL)
        .args(["snapshot", "status", "-w", "json"])
        .arg(file)
        .env("ETCDCTL_API", "3")
        .output()
        .expect("etcdctl");
    assert!(
        out.status.success(),
        "snapshot status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = json(&String::from_utf8_lossy(&out.stdout));
    (
        status["revision"].as_i64().expect("revision"),
        status["totalKey"].as_i64().expect("totalKey"),
    )
}

fn save(endpoint: &str, file: &Path) {
    etcdctl(
        endpoint,
        Some(ROOT),
        &["snapshot", "save", file.to_str().expect("utf-8")],
    );
}

fn restored(flags: &Flags, file: &Path) {
    let out = flags.restore(file);
    assert!(
        out.status.success(),
        "snapshot restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A single-member cairn and a single-member etcd, both serving.
fn start_side_by_side(dir: &Path) -> (Server, Server) {
    let cairn_server = Flags::single(dir, "c1").start(cairn(), &[]);
    let etcd_server = Flags::single(dir, "e1").start(ETCD, &[]);
    wait_serving(&cairn_server, None);
    wait_serving(&etcd_server, None);
    (cairn_server, etcd_server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_backups_restore_into_etcd_and_etcd_backups_into_cairn() {
    if !tools("cairn_backups_restore_into_etcd_and_etcd_backups_into_cairn") {
        return;
    }
    let dir = temp_dir("backup-both-ways");
    let (cairn_server, etcd_server) = start_side_by_side(&dir);
    let compacted = workload(&cairn_server.endpoint()).await;
    assert_eq!(compacted, workload(&etcd_server.endpoint()).await);
    let cairn_state = state(&cairn_server.endpoint(), compacted);
    let etcd_state = state(&etcd_server.endpoint(), compacted);
    assert_same_state(
        &etcd_state,
        &cairn_state,
        "the same writes on etcd and cairn",
    );

    let cairn_file = dir.join("cairn.db");
    let etcd_file = dir.join("etcd.db");
    save(&cairn_server.endpoint(), &cairn_file);
    save(&etcd_server.endpoint(), &etcd_file);
    let log = std::fs::read_to_string(&cairn_server.log).unwrap_or_default();
    assert!(
        log.contains("successfully sent database snapshot to client"),
        "{log}"
    );
    // The same state gives the same revision and record count.
    assert_eq!(status(&cairn_file), status(&etcd_file), "snapshot status");
    assert_eq!(status(&cairn_file).0, cairn_state.revision);

    // cairn's backup, restored by etcdctl, served by etcd.
    let into_etcd = Flags::single(&dir, "e2");
    restored(&into_etcd, &cairn_file);
    let etcd_restored = into_etcd.start(ETCD, &[]);
    wait_serving(&etcd_restored, Some(ROOT));
    assert_same_state(
        &cairn_state,
        &state(&etcd_restored.endpoint(), compacted),
        "cairn -> etcd",
    );

    // etcd's backup, restored by etcdctl, served by cairn.
    let into_cairn = Flags::single(&dir, "c2");
    restored(&into_cairn, &etcd_file);
    let cairn_restored = into_cairn.start(cairn(), &[]);
    wait_serving(&cairn_restored, Some(ROOT));
    assert_same_state(
        &etcd_state,
        &state(&cairn_restored.endpoint(), compacted),
        "etcd -> cairn",
    );
    let log = std::fs::read_to_string(&cairn_restored.log).unwrap_or_default();
    assert!(log.contains("imported etcd's data directory"), "{log}");

    // And cairn's backup back into cairn, through etcdctl's restore.
    let round_trip = Flags::single(&dir, "c3");
    restored(&round_trip, &cairn_file);
    let cairn_again = round_trip.start(cairn(), &[]);
    wait_serving(&cairn_again, Some(ROOT));
    assert_same_state(
        &cairn_state,
        &state(&cairn_again.endpoint(), compacted),
        "cairn -> cairn",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file under `dir` with its bytes' digest, `member/cairn` aside.
fn digests(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.ends_with("member/cairn") {
            continue;
        }
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                stack.push(entry.expect("entry").path());
            }
        } else {
            let bytes = std::fs::read(&path).expect("read");
            let digest = ring_free_digest(&bytes);
            out.insert(path, digest);
        }
    }
    out
}

/// A cheap fingerprint (length and FNV-1a) for "unchanged" checks.
fn ring_free_digest(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&cairn_bbolt::fnv1a64(bytes).to_le_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_member_killed_under_load_starts_as_cairn_with_every_acknowledged_write() {
    if !tools("an_etcd_member_killed_under_load_starts_as_cairn_with_every_acknowledged_write") {
        return;
    }
    let dir = temp_dir("backup-killed-etcd");
    let flags = Flags::single(&dir, "m1");
    // Small snapshots: etcd's Raft snapshot and WAL move on while it runs.
    let mut etcd = flags.start(ETCD, &["--snapshot-count", "300"]);
    wait_serving(&etcd, None);
    let endpoint = etcd.endpoint();
    let mut writers = Vec::new();
    for writer in 0..4 {
        let endpoint = endpoint.clone();
        writers.push(tokio::spawn(async move {
            let mut kv = pb::kv_client::KvClient::new(connect(&endpoint).await);
            let mut acknowledged = Vec::new();
            for i in 0..20_000u32 {
                let key = format!("ack/{writer}/{i:05}");
                let put = tokio::time::timeout(
                    Duration::from_secs(2),
                    kv.put(support::put(&key, &format!("value-{i}"))),
                )
                .await;
                match put {
                    Ok(Ok(_)) => acknowledged.push((key, format!("value-{i}"))),
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    etcd.kill();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer"));
    }
    assert!(
        acknowledged.len() > 500,
        "only {} writes before the kill",
        acknowledged.len()
    );
    let before = digests(&flags.data_dir);

    let cairn_server = flags.start(cairn(), &[]);
    wait_serving(&cairn_server, None);
    let kvs = json(&etcdctl(
        &cairn_server.endpoint(),
        None,
        &["get", "ack/", "--prefix", "-w", "json"],
    ));
    let served: BTreeMap<String, String> = kvs["kvs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|kv| {
            let decode = |field: &str| {
                String::from_utf8(base64_decode(kv[field].as_str().unwrap_or_default()))
                    .expect("utf-8")
            };
            (decode("key"), decode("value"))
        })
        .collect();
    let missing: Vec<&(String, String)> = acknowledged
        .iter()
        .filter(|(key, value)| served.get(key) != Some(value))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes missing after the import, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        missing.first()
    );
    let log = std::fs::read_to_string(&cairn_server.log).unwrap_or_default();
    assert!(log.contains("imported etcd's data directory"), "{log}");
    drop(cairn_server);
    assert_eq!(before, digests(&flags.data_dir), "etcd's files changed");
    let _ = std::fs::remove_dir_all(&dir);
}

fn base64_decode(text: &str) -> Vec<u8> {
    let table = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let mut out = Vec::new();
    for chunk in text.trim_end_matches('=').as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= table(*c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_backups_and_databases_are_refused_and_change_nothing() {
    if !tools("corrupt_backups_and_databases_are_refused_and_change_nothing") {
        return;
    }
    let dir = temp_dir("backup-corrupt");
    let (cairn_server, etcd_server) = start_side_by_side(&dir);
    for server in [&cairn_server, &etcd_server] {
        for i in 0..300 {
            etcdctl(&server.endpoint(), None, &["put", &format!("k{i:03}"), "v"]);
        }
    }
    let mut refusals = Vec::new();
    for (who, server) in [("cairn", &cairn_server), ("etcd", &etcd_server)] {
        let file = dir.join(format!("{who}.db"));
        save(&server.endpoint(), &file);
        let bytes = std::fs::read(&file).expect("read backup");
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        let cut = bytes[..bytes.len() - 100].to_vec();
        let mut seen = Vec::new();
        for (damage, damaged) in [("flipped", flipped), ("cut", cut)] {
            let path = dir.join(format!("{who}-{damage}.db"));
            std::fs::write(&path, damaged).expect("write");
            let target = Flags::single(&dir, &format!("{who}-{damage}"));
            let out = target.restore(&path);
            assert!(!out.status.success(), "{who}'s {damage} backup restored");
            let error = String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| l.starts_with("Error"))
                .map(|l| {
                    // The expected and actual digests differ from file to file.
                    l.split(" [").next().unwrap_or(l).to_string()
                })
                .collect::<String>();
            seen.push((damage, error));
        }
        refusals.push(seen);
    }
    assert_eq!(
        refusals[0], refusals[1],
        "etcdctl refuses cairn's damaged backups as etcd's"
    );
    assert!(
        refusals[0][0].1.contains("expected sha256"),
        "{:?}",
        refusals[0]
    );
    assert!(
        refusals[0][1].1.contains("snapshot missing hash"),
        "{:?}",
        refusals[0]
    );

    // A restored data directory whose database is cut short: cairn refuses
    // it, says why, and leaves every file as it was.
    let target = Flags::single(&dir, "c-bad-db");
    restored(&target, &dir.join("etcd.db"));
    let db = target.data_dir.join("member/snap/db");
    let bytes = std::fs::read(&db).expect("db");
    std::fs::write(&db, &bytes[..bytes.len() / 2]).expect("cut db");
    let before = digests(&target.data_dir);
    let mut refused = target.start(cairn(), &[]);
    let log = refused.wait_exit(Duration::from_secs(20));
    assert!(log.contains("cannot import etcd's data directory"), "{log}");
    assert_eq!(before, digests(&target.data_dir), "files changed");
    assert!(!target.data_dir.join("member/cairn").exists());
    assert!(!target.data_dir.join("member/cairn.import").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_cluster_restored_from_one_backup_starts_as_cairn() {
    if !tools("a_three_member_cluster_restored_from_one_backup_starts_as_cairn") {
        return;
    }
    let dir = temp_dir("backup-three");
    let source = Flags::single(&dir, "src");
    let server = source.start(cairn(), &[]);
    wait_serving(&server, None);
    for i in 0..200 {
        etcdctl(
            &server.endpoint(),
            None,
            &["put", &format!("k{i:03}"), &format!("v{i}")],
        );
    }
    let file = dir.join("backup.db");
    etcdctl(
        &server.endpoint(),
        None,
        &["snapshot", "save", file.to_str().expect("utf-8")],
    );
    drop(server);

    let peer_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let initial_cluster = (0..3)
        .map(|i| format!("m{i}=http://127.0.0.1:{}", peer_ports[i]))
        .collect::<Vec<_>>()
        .join(",");
    let members: Vec<Flags> = (0..3)
        .map(|i| Flags {
            name: format!("m{i}"),
            data_dir: dir.join(format!("m{i}.data")),
            client_port: free_port(),
            peer_port: peer_ports[i],
            initial_cluster: initial_cluster.clone(),
            token: "restored".to_string(),
        })
        .collect();
    for member in &members {
        restored(member, &file);
    }
    let servers: Vec<Server> = members.iter().map(|m| m.start(cairn(), &[])).collect();
    for server in &servers {
        wait_serving(server, None);
    }
    let list = etcdctl(&servers[0].endpoint(), None, &["member", "list"]);
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(list.lines().all(|l| l.contains("started")), "{list}");
    etcdctl(&servers[1].endpoint(), None, &["put", "after", "restore"]);
    for server in &servers {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let keys = etcdctl(
                &server.endpoint(),
                None,
                &["get", "", "--from-key", "--keys-only", "--consistency=s"],
            );
            let count = keys.lines().filter(|l| !l.is_empty()).count();
            if count == 201 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {count} keys",
                server.endpoint()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            etcdctl(
                &server.endpoint(),
                None,
                &["get", "k042", "--print-value-only", "--consistency=s"]
            ),
            "v42\n"
        );
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}
