//! Real `cairn` processes on loopback for tests: start, wait until serving,
//! kill -9, pause with SIGSTOP, restart on the same data directory; members
//! may talk to each other over TLS (`https://` peer URLs) with flags of their
//! own, or through fault-injecting proxies ([`netfault`]).

#![allow(dead_code)]

pub mod auth;
pub mod certs;
pub mod child;
pub mod etcd;
pub mod gateway;
pub mod http;
pub mod lock;
pub mod netfault;
pub mod v2;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use pb::kv_client::KvClient;
use pb::maintenance_client::MaintenanceClient;
use tonic::transport::Channel;

mod ports;
pub use ports::free_port;

/// Whether every one of `tools` (paths) is installed. A test that needs
/// them prints SKIPPED without them, unless `CAIRN_REQUIRE_ETCD=1` (as in
/// CI), where it fails, naming the Debian `packages` to install.
pub fn tools_available(test: &str, tools: &[&str], packages: &str) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| !std::path::Path::new(tool).exists())
        .collect();
    let required = std::env::var("CAIRN_REQUIRE_ETCD").is_ok_and(|v| v != "0" && !v.is_empty());
    if !missing.is_empty() {
        assert!(
            !required,
            "{test}: CAIRN_REQUIRE_ETCD is set but {missing:?} missing: apt-get install {packages}"
        );
        eprintln!("SKIPPED {test}: {missing:?} not installed");
    }
    missing.is_empty()
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

/// Removes a directory when dropped, unless the test is failing (then it
/// says where the directory is, for its logs). Tests' data directories hold
/// 64 MB WAL segments: leaving them behind fills CI's disk.
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub struct Member {
    pub name: String,
    pub client_port: u16,
    /// The port the member listens on for peers.
    pub peer_port: u16,
    /// The port other members dial: `peer_port`, or the member's proxy's
    /// ([`Options::peer_proxy`]).
    pub advertised_peer_port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// `http` or `https` (peer TLS).
    pub peer_scheme: &'static str,
    /// `http` or `https` (client TLS).
    pub client_scheme: &'static str,
    /// Flags for this member only (after the cluster's).
    pub extra: Vec<String>,
    /// A member added at run time: the `--initial-cluster` that
    /// `etcdctl member add` printed for it (it starts with
    /// `--initial-cluster-state existing`).
    pub joined_with: Option<String>,
    child: Option<Child>,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.client_scheme, self.client_port)
    }

    pub fn peer_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.peer_scheme, self.peer_port)
    }

    pub fn advertised_peer_url(&self) -> String {
        format!(
            "{}://127.0.0.1:{}",
            self.peer_scheme, self.advertised_peer_port
        )
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The process ID, while the member runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
    env: Vec<(String, String)>,
    client_tls: Option<ClientTls>,
    /// The peer proxies, with [`Options::peer_proxy`].
    pub netfault: Option<netfault::NetFault>,
}

/// What the test's own gRPC clients present to `https://` client URLs.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl ClientTls {
    pub fn config(&self) -> tonic::transport::ClientTlsConfig {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
    }
}

/// How a test cluster's members are started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Flags for every member.
    pub extra: Vec<String>,
    /// `https://` peer URLs (give the peer TLS flags in `extra`).
    pub peer_tls: bool,
    /// Flags for member i only, by index (missing: none).
    pub member_extra: Vec<Vec<String>>,
    /// `https://` client URLs (give the client TLS flags in `extra`); the
    /// test's clients connect with this.
    pub client_tls: Option<ClientTls>,
    /// Members reach each other through proxies that can cut links
    /// ([`Cluster::netfault`]); needs a tokio runtime.
    pub peer_proxy: bool,
    /// Environment variables for every member.
    pub env: Vec<(String, String)>,
}

impl Options {
    pub fn extra(flags: &[&str]) -> Options {
        Options {
            extra: flags.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        }
    }

    /// Peers over TLS with self-signed certificates (`--peer-auto-tls`).
    pub fn peer_auto_tls() -> Options {
        Options {
            peer_tls: true,
            ..Options::extra(&["--peer-auto-tls"])
        }
    }
}

impl Cluster {
    /// Starts `size` members and waits until every one serves.
    pub async fn start(tag: &str, size: usize) -> Cluster {
        Cluster::start_with(tag, size, &[]).await
    }

    /// Like [`Cluster::start`], with extra flags for every member.
    pub async fn start_with(tag: &str, size: usize, extra: &[&str]) -> Cluster {
        Cluster::start_with_options(tag, size, Options::extra(extra)).await
    }

    /// Like [`Cluster::start`], as `options` say.
    pub async fn start_with_options(tag: &str, size: usize, options: Options) -> Cluster {
        let cluster = Cluster::launch(tag, size, options);
        for i in 0..size {
            cluster.wait_serving(i).await;
        }
        if let Some(netfault) = &cluster.netfault {
            netfault.set_member_ids(cluster.member_ids().await);
        }
        cluster
    }

    /// Starts `size` members without waiting for them.
    pub fn launch(tag: &str, size: usize, options: Options) -> Cluster {
        let dir = temp_dir(tag);
        let peer_scheme = if options.peer_tls { "https" } else { "http" };
        let client_scheme = if options.client_tls.is_some() {
            "https"
        } else {
            "http"
        };
        let peer_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let netfault = options
            .peer_proxy
            .then(|| netfault::NetFault::start(&peer_ports));
        let members: Vec<Member> = (1..=size)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: peer_ports[i - 1],
                advertised_peer_port: netfault
                    .as_ref()
                    .map_or(peer_ports[i - 1], |netfault| netfault.port(i - 1)),
                data_dir: dir.join(format!("m{i}.etcd")),
                log: dir.join(format!("m{i}.log")),
                peer_scheme,
                client_scheme,
                extra: options.member_extra.get(i - 1).cloned().unwrap_or_default(),
                joined_with: None,
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.advertised_peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            members,
            initial_cluster,
            token: format!("token-{tag}"),
            dir,
            extra: options.extra,
            env: options.env,
            client_tls: options.client_tls,
            netfault,
        };
        for i in 0..size {
            cluster.spawn(i);
        }
        cluster
    }

    /// Starts member `i` (again) on its data directory.
    pub fn spawn(&mut self, i: usize) {
        let member = &self.members[i];
        let (initial_cluster, state) = match &member.joined_with {
            Some(initial) => (initial.as_str(), "existing"),
            None => (self.initial_cluster.as_str(), "new"),
        };
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
                &member.peer_url(),
                "--initial-advertise-peer-urls",
                &member.advertised_peer_url(),
                "--initial-cluster",
                initial_cluster,
                "--initial-cluster-state",
                state,
                "--initial-cluster-token",
                &self.token,
            ])
            .args(&self.extra)
            .args(&member.extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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

    /// SIGSTOP: the member stops running until [`Cluster::resume`].
    pub fn pause(&self, i: usize) {
        self.signal(i, libc::SIGSTOP);
    }

    /// SIGCONT.
    pub fn resume(&self, i: usize) {
        self.signal(i, libc::SIGCONT);
    }

    fn signal(&self, i: usize, signal: libc::c_int) {
        let pid = self.members[i].pid().expect("a running member");
        let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
        // SAFETY: kill(2) takes plain integers and touches no memory of ours;
        // the pid is our own child's, not yet reaped (`kill` reaps it).
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(result, 0, "kill({pid}, {signal}) failed");
    }

    /// Each member's Raft member ID, as it reports it (all must serve).
    pub async fn member_ids(&self) -> Vec<u64> {
        let mut ids = Vec::new();
        for i in 0..self.members.len() {
            let mut client = self.maintenance(i).await.expect("connect");
            let status = client.status(pb::StatusRequest {}).await.expect("status");
            let header = status.into_inner().header.expect("a header");
            ids.push(header.member_id);
        }
        ids
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

    /// A connected channel to member i (over TLS for `https://` members).
    pub async fn channel(
        &self,
        i: usize,
        timeout: Duration,
    ) -> Result<Channel, tonic::transport::Error> {
        let mut endpoint = Channel::from_shared(self.members[i].endpoint())
            .expect("valid endpoint")
            .connect_timeout(Duration::from_secs(1))
            .timeout(timeout);
        if let Some(tls) = &self.client_tls {
            endpoint = endpoint.tls_config(tls.config())?;
        }
        endpoint.connect().await
    }

    pub async fn kv(&self, i: usize) -> Result<KvClient<Channel>, tonic::transport::Error> {
        Ok(KvClient::new(
            self.channel(i, Duration::from_secs(10)).await?,
        ))
    }

    pub async fn maintenance(
        &self,
        i: usize,
    ) -> Result<MaintenanceClient<Channel>, tonic::transport::Error> {
        Ok(MaintenanceClient::new(
            self.channel(i, Duration::from_secs(5)).await?,
        ))
    }

    /// Adds a member through member `via` (`Cluster.MemberAdd`) and starts
    /// it joining the cluster with the `--initial-cluster` that etcdctl would
    /// print, as an operator does after `etcdctl member add`. Returns its
    /// index and its member ID. Does not wait for it to serve.
    pub async fn add_member(&mut self, via: usize, learner: bool) -> (usize, u64) {
        use pb::cluster_client::ClusterClient;
        let n = self.members.len() + 1;
        let name = format!("m{n}");
        let template = &self.members[0];
        let member = Member {
            name: name.clone(),
            client_port: free_port(),
            peer_port: free_port(),
            advertised_peer_port: 0,
            data_dir: self.dir.join(format!("{name}.etcd")),
            log: self.dir.join(format!("{name}.log")),
            peer_scheme: template.peer_scheme,
            client_scheme: template.client_scheme,
            extra: Vec::new(),
            joined_with: None,
            child: None,
        };
        let mut member = member;
        member.advertised_peer_port = member.peer_port;
        let channel = self
            .channel(via, Duration::from_secs(10))
            .await
            .expect("connect to add a member");
        let response = ClusterClient::new(channel)
            .member_add(pb::MemberAddRequest {
                peer_ur_ls: vec![member.advertised_peer_url()],
                is_learner: learner,
            })
            .await
            .expect("member add")
            .into_inner();
        let id = response.member.as_ref().expect("the added member").id;
        // etcdctl's ETCD_INITIAL_CLUSTER: every member's name (the new one's
        // own) with each of its peer URLs.
        let initial = response
            .members
            .iter()
            .flat_map(|m| {
                let name = if m.id == id {
                    name.clone()
                } else {
                    m.name.clone()
                };
                m.peer_ur_ls
                    .iter()
                    .map(move |url| format!("{name}={url}"))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .join(",");
        member.joined_with = Some(initial);
        self.members.push(member);
        let index = self.members.len() - 1;
        self.spawn(index);
        (index, id)
    }

    /// Removes member `id` through member `via` (`Cluster.MemberRemove`).
    pub async fn remove_member(&self, via: usize, id: u64) -> Result<(), tonic::Status> {
        use pb::cluster_client::ClusterClient;
        let channel = self
            .channel(via, Duration::from_secs(10))
            .await
            .expect("connect to remove a member");
        ClusterClient::new(channel)
            .member_remove(pb::MemberRemoveRequest { id })
            .await
            .map(|_| ())
    }

    /// Waits for member i's process to exit by itself; its exit status.
    pub fn wait_exit(&mut self, i: usize, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        let child = self.members[i].child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.members[i].child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The active alarms, as member i lists them.
    pub async fn alarms(&self, i: usize) -> Vec<pb::AlarmMember> {
        let channel = self
            .channel(i, Duration::from_secs(10))
            .await
            .expect("connect");
        MaintenanceClient::new(channel)
            .alarm(pb::AlarmRequest {
                action: pb::alarm_request::AlarmAction::Get as i32,
                member_id: 0,
                alarm: pb::AlarmType::None as i32,
            })
            .await
            .expect("alarm list")
            .into_inner()
            .alarms
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
