//! Real etcd 3.4.23 members on loopback (Debian's `etcd-server`), for tests
//! that compare cairn with etcd side by side. Without `/usr/bin/etcd` such a
//! test prints SKIPPED, unless `CAIRN_REQUIRE_ETCD=1` (as in CI), where it
//! fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, temp_dir};

pub const ETCD: &str = "/usr/bin/etcd";

/// Whether the real etcd is here; fails when CI requires it.
pub fn etcd_available(test: &str) -> bool {
    super::tools_available(test, &[ETCD], "etcd-server")
}

/// One real etcd member.
pub struct EtcdMember {
    pub client_port: u16,
    pub peer_port: u16,
    child: Option<Child>,
}

impl EtcdMember {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A real etcd cluster on loopback, killed when dropped.
pub struct EtcdCluster {
    pub members: Vec<EtcdMember>,
    dir: PathBuf,
}

impl EtcdCluster {
    /// Starts `size` members with `extra` flags each, and waits until every
    /// one answers `/health` with a leader.
    pub async fn start(tag: &str, size: usize, extra: &[&str]) -> EtcdCluster {
        let dir = temp_dir(&format!("etcd-{tag}"));
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("e{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for (i, (client, peer)) in ports.into_iter().enumerate() {
            let log = std::fs::File::create(dir.join(format!("e{i}.log"))).expect("log file");
            let child = Command::new(ETCD)
                .args([
                    "--name",
                    &format!("e{i}"),
                    "--data-dir",
                    dir.join(format!("e{i}.etcd")).to_str().expect("utf-8"),
                    "--listen-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                    "--advertise-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                    "--listen-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                    "--initial-cluster",
                    &initial_cluster,
                    "--initial-cluster-token",
                    &format!("etcd-{tag}"),
                ])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start etcd");
            members.push(EtcdMember {
                client_port: client,
                peer_port: peer,
                child: Some(child),
            });
        }
        let cluster = EtcdCluster { members, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        for member in &cluster.members {
            loop {
                let healthy = super::http::request(member.client_port, "GET", "/health")
                    .await
                    .is_ok_and(|answer| answer.status == 200);
                if healthy {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "etcd did not start; logs in {}",
                    cluster.dir.display()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        cluster
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            member.kill();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("etcd logs kept in {}", self.dir.display());
        }
    }
}
