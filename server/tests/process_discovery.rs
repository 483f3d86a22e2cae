//! Discovery bootstrap on real processes, against the services etcd's
//! operators use: Debian's `etcd-discovery` (discovery.etcd.io, backed by a
//! real etcd with the v2 API) for `--discovery`, and `dnsmasq` serving SRV
//! records on a loopback port for `--discovery-srv` (cairn is pointed at it
//! with `CAIRN_DNS_NAMESERVER`). Without those tools the tests print
//! SKIPPED, unless `CAIRN_REQUIRE_ETCD=1` (as in CI), where they fail.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use cairn_server::ids;
use pb::cluster_client::ClusterClient;
use pb::kv_client::KvClient;
use pb::maintenance_client::MaintenanceClient;
use support::child::{spawn, start_dnsmasq, Proc, DNSMASQ};
use support::etcd::ETCD;
use support::{free_port, temp_dir, tools_available};
use tonic::transport::Channel;

const DISCOVERY_SERVICE: &str = "/usr/bin/discovery.etcd.io";

/// A GET on loopback, answering status and body.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let answer = support::http::request(port, "GET", path).await.ok()?;
    Some((answer.status, answer.body))
}

/// Debian's discovery service on loopback, over a real etcd with `--enable-v2`.
struct DiscoveryService {
    etcd: Proc,
    service: Proc,
    etcd_port: u16,
    port: u16,
    dir: PathBuf,
}

impl DiscoveryService {
    async fn start(tag: &str) -> DiscoveryService {
        let dir = temp_dir(&format!("discovery-{tag}"));
        let (etcd_port, etcd_peer, port) = (free_port(), free_port(), free_port());
        let client = format!("http://127.0.0.1:{etcd_port}");
        let peer = format!("http://127.0.0.1:{etcd_peer}");
        let etcd = spawn(
            ETCD,
            &[
                "--name",
                "store",
                "--data-dir",
                dir.join("store.etcd").to_str().expect("utf-8"),
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &format!("store={peer}"),
                "--enable-v2",
            ]
            .map(String::from),
            &dir.join("store.log"),
            &[],
        );
        wait_until("the backing etcd", || async {
            matches!(get(etcd_port, "/health").await, Some((200, body)) if body.contains("true"))
        })
        .await;
        let service = spawn(
            DISCOVERY_SERVICE,
            &[
                "--addr".to_string(),
                format!("127.0.0.1:{port}"),
                "--etcd".to_string(),
                client,
                "--host".to_string(),
                format!("http://127.0.0.1:{port}"),
            ],
            &dir.join("service.log"),
            &[],
        );
        wait_until("the discovery service", || async {
            get(port, "/health").await.is_some()
        })
        .await;
        DiscoveryService {
            etcd,
            service,
            etcd_port,
            port,
            dir,
        }
    }

    /// A new token URL for a cluster of `size` (`GET /new?size=N`).
    async fn new_token(&self, size: usize) -> String {
        let (status, body) = get(self.port, &format!("/new?size={size}"))
            .await
            .expect("the discovery service answers /new");
        assert_eq!(status, 200, "{body}");
        body.trim().to_string()
    }

    fn stop(&mut self) {
        self.service.stop();
        self.etcd.stop();
    }
}

async fn wait_until<F, Fut>(what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready().await {
        assert!(Instant::now() < deadline, "{what} not ready within 15s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One cairn member started with flags of the test's choosing (no
/// `--initial-cluster`).
struct Node {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    proc: Proc,
}

impl Node {
    fn new(dir: &std::path::Path, name: &str) -> Node {
        Node {
            name: name.to_string(),
            client_port: free_port(),
            peer_port: free_port(),
            data_dir: dir.join(format!("{name}.etcd")),
            log: dir.join(format!("{name}.log")),
            proc: Proc(None),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn start(&mut self, flags: &[&str], env: &[(String, String)]) {
        let mut args: Vec<String> = [
            "--name",
            &self.name,
            "--data-dir",
            self.data_dir.to_str().expect("utf-8"),
            "--listen-client-urls",
            &self.endpoint(),
            "--advertise-client-urls",
            &self.endpoint(),
            "--listen-peer-urls",
            &self.peer_url(),
            "--initial-advertise-peer-urls",
            &self.peer_url(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(flags.iter().map(|s| s.to_string()));
        self.proc = spawn(env!("CARGO_BIN_EXE_cairn"), &args, &self.log, env);
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) for the process to exit; its success.
    fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let child = self.proc.0.as_mut().expect("started");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.proc.0 = None;
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "{} still runs after {within:?}; log:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn channel(&self) -> Option<Channel> {
        Channel::from_shared(self.endpoint())
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .ok()
    }

    async fn wait_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(channel) = self.channel().await {
                if let Ok(status) = MaintenanceClient::new(channel)
                    .status(pb::StatusRequest {})
                    .await
                {
                    if status.into_inner().leader != 0 {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not serve within 20s; log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// (cluster ID, local member ID, sorted (id, name, peer URLs)).
    async fn members(&self) -> (u64, u64, Vec<(u64, String, Vec<String>)>) {
        let channel = self.channel().await.expect("connect");
        let response = ClusterClient::new(channel)
            .member_list(pb::MemberListRequest {})
            .await
            .expect("member list")
            .into_inner();
        let header = response.header.expect("header");
        let mut members: Vec<(u64, String, Vec<String>)> = response
            .members
            .into_iter()
            .map(|m| (m.id, m.name, m.peer_ur_ls))
            .collect();
        members.sort();
        (header.cluster_id, header.member_id, members)
    }
}

async fn put(node: &Node, key: &str, value: &str) {
    KvClient::new(node.channel().await.expect("connect"))
        .put(pb::PutRequest {
            key: key.as_bytes().to_vec().into(),
            value: value.as_bytes().to_vec().into(),
            ..Default::default()
        })
        .await
        .expect("put");
}

async fn read(node: &Node, key: &str) -> Option<String> {
    let response = KvClient::new(node.channel().await.expect("connect"))
        .range(pb::RangeRequest {
            key: key.as_bytes().to_vec().into(),
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    response
        .kvs
        .first()
        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
}

fn discovery_tools(test: &str) -> bool {
    tools_available(
        test,
        &[ETCD, DISCOVERY_SERVICE],
        "etcd-server etcd-discovery",
    )
}

/// Checks that `nodes` form one cluster of exactly them, with the IDs etcd
/// derives from their peer URLs and `token`.
async fn assert_one_cluster(nodes: &[Node], token: &str) {
    let mut expected: Vec<u64> = nodes
        .iter()
        .map(|n| ids::member_id(&[n.peer_url()], token, None))
        .collect();
    expected.sort();
    let cluster_id = ids::cluster_id(&expected);
    for node in nodes {
        let (cluster, local, members) = node.members().await;
        assert_eq!(cluster, cluster_id, "{}: cluster ID", node.name);
        assert_eq!(
            local,
            ids::member_id(&[node.peer_url()], token, None),
            "{}: member ID",
            node.name
        );
        let found: Vec<u64> = members.iter().map(|m| m.0).collect();
        assert_eq!(found, expected, "{}: members {members:?}", node.name);
        for other in nodes {
            assert!(
                members.iter().any(|m| m.2 == vec![other.peer_url()]),
                "{}: {} missing from {members:?}",
                node.name,
                other.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_bootstraps_three_members_then_refuses_a_fourth() {
    if !discovery_tools("discovery_bootstraps_three_members_then_refuses_a_fourth") {
        return;
    }
    let mut service = DiscoveryService::start("three").await;
    let token = service.new_token(3).await;
    let dir = temp_dir("discovery-three");
    let mut nodes: Vec<Node> = (1..=3).map(|i| Node::new(&dir, &format!("m{i}"))).collect();
    for node in &mut nodes {
        node.start(&["--discovery", &token], &[]);
    }
    for node in &nodes {
        node.wait_serving().await;
    }
    assert_one_cluster(&nodes, &token).await;
    put(&nodes[0], "k", "through discovery").await;
    assert_eq!(
        read(&nodes[1], "k").await.as_deref(),
        Some("through discovery")
    );
    assert!(nodes[0].log_text().contains("in the cluster"));

    // A fourth member finds the cluster full.
    let mut late = Node::new(&dir, "m4");
    late.start(
        &["--discovery", &token, "--discovery-fallback", "exit"],
        &[],
    );
    assert!(!late.wait_exit(Duration::from_secs(15)));
    assert!(
        late.log_text()
            .contains("failed to join discovery cluster (discovery: cluster is full)"),
        "{}",
        late.log_text()
    );
    // With etcd's default fallback (a v2 proxy, which cairn does not have)
    // it stops too, and says why.
    let mut proxied = Node::new(&dir, "m5");
    proxied.start(&["--discovery", &token], &[]);
    assert!(!proxied.wait_exit(Duration::from_secs(15)));
    let log = proxied.log_text();
    assert!(
        log.contains("discovery: cluster is full") && log.contains("not supported by cairn"),
        "{log}"
    );

    // A restarted member reads its WAL and contacts no discovery: with the
    // service gone it still rejoins.
    service.stop();
    nodes[0].proc.stop();
    nodes[0].start(&["--discovery", &token], &[]);
    nodes[0].wait_serving().await;
    assert!(
        nodes[0].log_text().contains("discovery token ignored"),
        "{}",
        nodes[0].log_text()
    );
    assert_one_cluster(&nodes, &token).await;
    assert_eq!(
        read(&nodes[0], "k").await.as_deref(),
        Some("through discovery")
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&service.dir);
}

/// The errors etcd 3.4.23 stops with, word for word (checked against it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_errors_are_etcds() {
    if !discovery_tools("discovery_errors_are_etcds") {
        return;
    }
    let service = DiscoveryService::start("errors").await;
    let dir = temp_dir("discovery-errors");
    let base = format!("http://127.0.0.1:{}", service.port);
    let unknown = "00000000000000000000000000000000";
    // etcd 3.4 prints the keys API's error for an unknown token.
    let mut node = Node::new(&dir, "u");
    node.start(
        &[
            "--discovery",
            &format!("{base}/{unknown}"),
            "--discovery-fallback",
            "exit",
        ],
        &[],
    );
    assert!(!node.wait_exit(Duration::from_secs(15)));
    let expected = format!(
        "failed to join discovery cluster (100: Key not found (/_etcd/registry/{unknown}) ["
    );
    assert!(node.log_text().contains(&expected), "{}", node.log_text());
    assert!(node
        .log_text()
        .contains("please generate a new discovery token"));
    // Not the keys API at all.
    let mut node = Node::new(&dir, "b");
    node.start(
        &[
            "--discovery",
            &format!("{base}/nothex"),
            "--discovery-fallback",
            "exit",
        ],
        &[],
    );
    assert!(!node.wait_exit(Duration::from_secs(15)));
    assert!(
        node.log_text()
            .contains("failed to join discovery cluster (discovery: bad discovery endpoint)"),
        "{}",
        node.log_text()
    );
    // A size key that is not a number.
    let token = service.new_token(3).await;
    let id = token.rsplit('/').next().expect("a token").to_string();
    let answer = support::http::request(
        service.etcd_port,
        "PUT",
        &format!("/v2/keys/_etcd/registry/{id}/_config/size?value=three"),
    )
    .await
    .expect("set the size");
    assert!(answer.status < 300, "{answer:?}");
    let mut node = Node::new(&dir, "s");
    node.start(
        &["--discovery", &token, "--discovery-fallback", "exit"],
        &[],
    );
    assert!(!node.wait_exit(Duration::from_secs(15)));
    assert!(
        node.log_text()
            .contains("failed to join discovery cluster (discovery: size key is bad)"),
        "{}",
        node.log_text()
    );
    // --discovery-proxy: the service is reached through the proxy only (the
    // discovery URL's host does not exist; the service takes the
    // absolute-form request a proxy would forward).
    let token = service.new_token(1).await;
    let id = token.rsplit('/').next().expect("a token").to_string();
    let unreachable = format!("http://cairn-discovery.invalid:1/{id}");
    let mut node = Node::new(&dir, "p");
    node.start(
        &[
            "--discovery",
            &unreachable,
            "--discovery-proxy",
            &format!("127.0.0.1:{}", service.port),
        ],
        &[],
    );
    node.wait_serving().await;
    assert_one_cluster(std::slice::from_ref(&node), &unreachable).await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&service.dir);
}

/// Three real etcd members bootstrapped through a token get the IDs cairn
/// derives for the same peer URLs and token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_derives_discovered_ids_as_cairn_does() {
    if !discovery_tools("etcd_derives_discovered_ids_as_cairn_does") {
        return;
    }
    let service = DiscoveryService::start("etcd").await;
    let token = service.new_token(3).await;
    let dir = temp_dir("discovery-etcd");
    let mut procs = Vec::new();
    let mut nodes: Vec<Node> = (1..=3).map(|i| Node::new(&dir, &format!("e{i}"))).collect();
    for node in &mut nodes {
        let args: Vec<String> = [
            "--name",
            &node.name,
            "--data-dir",
            node.data_dir.to_str().expect("utf-8"),
            "--listen-client-urls",
            &node.endpoint(),
            "--advertise-client-urls",
            &node.endpoint(),
            "--listen-peer-urls",
            &node.peer_url(),
            "--initial-advertise-peer-urls",
            &node.peer_url(),
            "--discovery",
            &token,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        procs.push(spawn(ETCD, &args, &node.log, &[]));
    }
    for node in &nodes {
        node.wait_serving().await;
    }
    assert_one_cluster(&nodes, &token).await;
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&service.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_srv_discovery_bootstraps_three_members() {
    if !tools_available(
        "dns_srv_discovery_bootstraps_three_members",
        &[DNSMASQ],
        "dnsmasq",
    ) {
        return;
    }
    let dir = temp_dir("discovery-srv");
    let mut nodes: Vec<Node> = (1..=3).map(|i| Node::new(&dir, &format!("m{i}"))).collect();
    let records: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "--srv-host=_etcd-server._tcp.cairn.test,127.0.0.1,{}",
                n.peer_port
            )
        })
        .collect();
    let (_dns, port) = start_dnsmasq(&dir, &records);
    let env = vec![(
        "CAIRN_DNS_NAMESERVER".to_string(),
        format!("127.0.0.1:{port}"),
    )];
    for node in &mut nodes {
        node.start(
            &[
                "--discovery-srv",
                "cairn.test",
                "--initial-cluster-token",
                "srv",
            ],
            &env,
        );
    }
    for node in &nodes {
        node.wait_serving().await;
    }
    assert_one_cluster(&nodes, "srv").await;
    put(&nodes[2], "dns", "srv").await;
    assert_eq!(read(&nodes[0], "dns").await.as_deref(), Some("srv"));
    assert!(nodes[0]
        .log_text()
        .contains("got bootstrap from DNS for etcd-server at m1=http://127.0.0.1:"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--discovery-srv-name` picks `_etcd-server-<name>`; a target by name is
/// resolved to find this member, and kept as a name in its peer URL; a
/// member missing from the records is refused with etcd's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_srv_name_and_target_names() {
    if !tools_available("dns_srv_name_and_target_names", &[DNSMASQ], "dnsmasq") {
        return;
    }
    let dir = temp_dir("discovery-srv-name");
    let mut node = Node::new(&dir, "solo");
    let records = vec![
        format!(
            "--srv-host=_etcd-server-blue._tcp.cairn.test,solo.cairn.test,{}",
            node.peer_port
        ),
        "--host-record=solo.cairn.test,127.0.0.1".to_string(),
        format!(
            "--srv-host=_etcd-server._tcp.cairn.test,127.0.0.1,{}",
            free_port()
        ),
    ];
    let (_dns, port) = start_dnsmasq(&dir, &records);
    let env = vec![(
        "CAIRN_DNS_NAMESERVER".to_string(),
        format!("127.0.0.1:{port}"),
    )];
    node.start(
        &[
            "--discovery-srv",
            "cairn.test",
            "--discovery-srv-name",
            "blue",
        ],
        &env,
    );
    node.wait_serving().await;
    let named = format!("http://solo.cairn.test:{}", node.peer_port);
    let (cluster, local, members) = node.members().await;
    let id = ids::member_id(std::slice::from_ref(&named), "etcd-cluster", None);
    assert_eq!(local, id);
    assert_eq!(cluster, ids::cluster_id(&[id]));
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].2, vec![named]);

    // Without the service name, the records list another member only.
    let mut other = Node::new(&dir, "other");
    other.start(&["--discovery-srv", "cairn.test"], &env);
    assert!(!other.wait_exit(Duration::from_secs(15)));
    assert!(
        other.log_text().contains(
            "error setting up initial cluster: cannot find local etcd member \"other\" in SRV records"
        ),
        "{}",
        other.log_text()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Serves TLS on a new loopback port and forwards each connection, in
/// plain, to `target`: an `https://` discovery service in front of the
/// plain one. The server certificate is issued by `ca` for `localhost`.
async fn tls_front(target: u16, dir: &std::path::Path) -> (u16, PathBuf) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let ca = support::certs::Ca::new("discovery test CA");
    let ca_file = ca.write(dir, "discovery-ca.pem");
    let leaf = ca
        .issue("discovery", &["localhost", "127.0.0.1"], 7)
        .write(dir, "discovery");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(leaf.cert())
        .expect("cert file")
        .collect::<Result<_, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(leaf.key()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the TLS front");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, ca_file)
}

/// An `https://` discovery URL (discovery.etcd.io's own scheme): the
/// service's certificate is checked against the system's CAs, or the file
/// `SSL_CERT_FILE` names, as Go's TLS does for etcd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_over_https_checks_the_services_certificate() {
    if !discovery_tools("discovery_over_https_checks_the_services_certificate") {
        return;
    }
    let service = DiscoveryService::start("https").await;
    let dir = temp_dir("discovery-https");
    let (tls_port, ca_file) = tls_front(service.port, &dir).await;
    let plain = service.new_token(2).await;
    let token = plain.replace(
        &format!("http://127.0.0.1:{}", service.port),
        &format!("https://localhost:{tls_port}"),
    );
    assert!(token.starts_with("https://"), "{token}");
    // With another CA the service is not trusted: no cluster, and the log
    // says why while discovery retries.
    let other_ca = support::certs::Ca::new("another CA").write(&dir, "other-ca.pem");
    let mut untrusting = Node::new(&dir, "stranger");
    untrusting.start(
        &["--discovery", &token],
        &[("SSL_CERT_FILE".to_string(), other_ca.display().to_string())],
    );
    wait_until("the refusal of an untrusted service", || async {
        untrusting.log_text().contains("UnknownIssuer")
    })
    .await;
    untrusting.proc.stop();
    let env = [("SSL_CERT_FILE".to_string(), ca_file.display().to_string())];
    let mut nodes: Vec<Node> = (1..=2).map(|i| Node::new(&dir, &format!("s{i}"))).collect();
    for node in &mut nodes {
        node.start(&["--discovery", &token], &env);
    }
    for node in &nodes {
        node.wait_serving().await;
    }
    assert_one_cluster(&nodes, &token).await;
    put(&nodes[0], "k", "through https discovery").await;
    assert_eq!(
        read(&nodes[1], "k").await.as_deref(),
        Some("through https discovery")
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&service.dir);
}
