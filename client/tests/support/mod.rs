//! Real `cairn` members on loopback for the client's tests: started from the
//! binary cargo built for cairn-server (`cargo build -p cairn-server`, or
//! `$CAIRN_BIN`), killed with kill -9, their logs kept when a test fails.

#![allow(dead_code)]

pub mod certs;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_client::{Client, ClientConfig, Endpoint, TlsOptions};
use cairn_proto::etcdserverpb as pb;

/// How long a member may take to serve with a leader.
const SERVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The `cairn` binary: `$CAIRN_BIN`, or the one in this test's target
/// directory (`target/debug/deps/<test>` → `target/debug/cairn`).
pub fn cairn_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CAIRN_BIN") {
        return PathBuf::from(path);
    }
    let test = std::env::current_exe().expect("the test's path");
    let profile_dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("cairn");
    assert!(
        binary.exists(),
        "no {}: build it first with `cargo build -p cairn-server` (or set CAIRN_BIN)",
        binary.display()
    );
    binary
}

#[path = "../../../server/tests/support/ports.rs"]
mod ports;
pub use ports::free_port;

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "cairn-client-test-{tag}-{}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    child: Option<Child>,
}

/// Members started together; killed (and their directory removed unless a
/// test failed) when dropped.
pub struct Cluster {
    pub members: Vec<Member>,
    pub dir: PathBuf,
    /// `http` or `https` for the client URLs.
    pub client_scheme: &'static str,
    /// What the test's own clients use against `https://` members.
    pub tls: TlsOptions,
}

impl Cluster {
    /// `size` members with plain client URLs and `extra` flags each.
    pub async fn start(tag: &str, size: usize, extra: &[&str]) -> Cluster {
        Cluster::start_with_tls(tag, size, extra, "http", TlsOptions::default()).await
    }

    /// `size` members whose client URLs use `client_scheme`; `tls` is what
    /// waiting for them needs (give the server's TLS flags in `extra`).
    pub async fn start_with_tls(
        tag: &str,
        size: usize,
        extra: &[&str],
        client_scheme: &'static str,
        tls: TlsOptions,
    ) -> Cluster {
        let dir = temp_dir(tag);
        let members: Vec<Member> = (1..=size)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            members,
            dir,
            client_scheme,
            tls,
        };
        for i in 0..size {
            cluster.spawn(i, &initial_cluster, tag, extra);
        }
        for i in 0..size {
            cluster.wait_serving(i).await;
        }
        cluster
    }

    fn spawn(&mut self, i: usize, initial_cluster: &str, tag: &str, extra: &[&str]) {
        let client_url = self.url(i);
        let member = &self.members[i];
        let peer_url = format!("http://127.0.0.1:{}", member.peer_port);
        let log =
            std::fs::File::create(self.dir.join(format!("{}.log", member.name))).expect("log file");
        let child = Command::new(cairn_binary())
            .args(["--name", &member.name])
            .arg("--data-dir")
            .arg(self.dir.join(format!("{}.etcd", member.name)))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", initial_cluster])
            .args(["--initial-cluster-token", tag])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn cairn");
        self.members[i].child = Some(child);
    }

    /// Member i's client URL.
    pub fn url(&self, i: usize) -> String {
        format!(
            "{}://127.0.0.1:{}",
            self.client_scheme, self.members[i].client_port
        )
    }

    pub fn endpoint(&self, i: usize) -> Endpoint {
        Endpoint::parse(&self.url(i)).expect("a valid URL")
    }

    pub fn endpoints(&self) -> Vec<Endpoint> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.members[i].child.is_some()
    }

    /// kill -9.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.members[i].name)))
            .unwrap_or_default()
    }

    /// A client of member i alone, without retries.
    pub async fn client(&self, i: usize) -> Result<Client, cairn_client::Error> {
        let config = ClientConfig::new(vec![self.endpoint(i)])
            .with_tls(self.tls.clone())
            .with_dial_timeout(Duration::from_secs(1))
            .with_request_timeout(Duration::from_secs(5))
            .with_retry(cairn_client::RetryPolicy::none());
        Client::connect(config).await
    }

    /// Member i's own view: (its id, the leader's id or 0).
    pub async fn status(&self, i: usize) -> Option<(u64, u64)> {
        let client = self.client(i).await.ok()?;
        let status = client
            .maintenance()
            .status(pb::StatusRequest {})
            .await
            .ok()?
            .into_inner();
        Some((status.header?.member_id, status.leader))
    }

    async fn wait_serving(&self, i: usize) {
        let deadline = Instant::now() + SERVE_TIMEOUT;
        loop {
            if let Some((_, leader)) = self.status(i).await {
                if leader != 0 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "member {i} did not serve within {SERVE_TIMEOUT:?}; log:\n{}",
                self.log_text(i)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index of the running member that says it leads.
    pub async fn leader(&self) -> Option<usize> {
        for i in 0..self.members.len() {
            if !self.is_running(i) {
                continue;
            }
            if let Some((id, leader)) = self.status(i).await {
                if leader != 0 && leader == id {
                    return Some(i);
                }
            }
        }
        None
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn put(key: &str, value: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: key.as_bytes().to_vec().into(),
        value: value.as_bytes().to_vec().into(),
        ..Default::default()
    }
}

pub fn get(key: &str) -> pb::RangeRequest {
    pb::RangeRequest {
        key: key.as_bytes().to_vec().into(),
        ..Default::default()
    }
}

/// The value of `key` as `client` reads it.
pub async fn value_of(client: &Client, key: &str) -> Option<String> {
    let response = client.kv().range(get(key)).await.expect("range");
    let kv = response.into_inner().kvs.into_iter().next()?;
    Some(String::from_utf8(kv.value.to_vec()).expect("utf-8"))
}
