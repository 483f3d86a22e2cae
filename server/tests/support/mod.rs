//! Real `cairn` processes on loopback for tests: start, wait until serving,
//! kill -9, restart on the same data directory.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use pb::kv_client::KvClient;
use pb::maintenance_client::MaintenanceClient;
use tonic::transport::Channel;

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("cairn-test-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct Cluster {
    pub members: Vec<Member>,
    initial_cluster: String,
    token: String,
    pub dir: PathBuf,
    extra: Vec<String>,
}

impl Cluster {
    /// Starts `size` members and waits until every one serves.
    pub async fn start(tag: &str, size: usize) -> Cluster {
        Cluster::start_with(tag, size, &[]).await
    }

    /// Like [`Cluster::start`], with extra flags for every member.
    pub async fn start_with(tag: &str, size: usize, extra: &[&str]) -> Cluster {
        let dir = temp_dir(tag);
        let members: Vec<Member> = (1..=size)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                data_dir: dir.join(format!("m{i}.etcd")),
                log: dir.join(format!("m{i}.log")),
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
            initial_cluster,
            token: format!("token-{tag}"),
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..size {
            cluster.spawn(i);
        }
        for i in 0..size {
            cluster.wait_serving(i).await;
        }
        cluster
    }

    /// Starts member `i` (again) on its data directory.
    pub fn spawn(&mut self, i: usize) {
        let member = &self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args([
                "--name",
                &member.name,
                "--data-dir",
                member.data_dir.to_str().expect("utf-8"),
                "--listen-client-urls",
                &member.endpoint(),
                "--advertise-client-urls",
                &member.endpoint(),
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{}", member.peer_port),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{}", member.peer_port),
                "--initial-cluster",
                &self.initial_cluster,
                "--initial-cluster-token",
                &self.token,
            ])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn cairn");
        self.members[i].child = Some(child);
    }

    /// kill -9.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn wait_serving(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut client) = self.maintenance(i).await {
                if let Ok(status) = client.status(pb::StatusRequest {}).await {
                    if status.into_inner().leader != 0 {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "member {i} did not serve within 20s; log:\n{}",
                self.members[i].log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn kv(&self, i: usize) -> Result<KvClient<Channel>, tonic::transport::Error> {
        let channel = Channel::from_shared(self.members[i].endpoint())
            .expect("valid endpoint")
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(10))
            .connect()
            .await?;
        Ok(KvClient::new(channel))
    }

    pub async fn maintenance(
        &self,
        i: usize,
    ) -> Result<MaintenanceClient<Channel>, tonic::transport::Error> {
        let channel = Channel::from_shared(self.members[i].endpoint())
            .expect("valid endpoint")
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .connect()
            .await?;
        Ok(MaintenanceClient::new(channel))
    }

    /// The index of the member that leads, as the members report it.
    pub async fn leader(&self) -> Option<usize> {
        for i in 0..self.members.len() {
            if !self.members[i].is_running() {
                continue;
            }
            let Ok(mut client) = self.maintenance(i).await else {
                continue;
            };
            let Ok(status) = client.status(pb::StatusRequest {}).await else {
                continue;
            };
            let status = status.into_inner();
            if status.leader != 0 && status.leader == status.header.map_or(0, |h| h.member_id) {
                return Some(i);
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
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("logs kept in {}", self.dir.display());
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

/// The store's current revision, as a linearizable read of `key` reports it.
pub async fn current_revision(kv: &mut KvClient<Channel>, key: &str) -> i64 {
    kv.range(get(key))
        .await
        .expect("range")
        .into_inner()
        .header
        .expect("header")
        .revision
}
