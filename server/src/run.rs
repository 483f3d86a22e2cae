//! Starting a member from a validated configuration: IDs, listeners, the
//! runtime, the gRPC and HTTP services, and etcd's well-known log lines.

use std::net::SocketAddr;
use std::sync::Arc;

use cairn_core::member::{MemberConfig, MemberEvent, MemberInfo};
use cairn_core::raft::{self, NodeId, Role};
use cairn_core::snapshot::RetentionPolicy;
use cairn_runtime_tokio::{RuntimeEvent, StartKind, StartOptions};
use tokio::net::TcpListener;

use crate::config::{ClusterState, Config, InitialCluster, Url};
use crate::logging::Logger;
use crate::{grpc, http, ids, serve, tls};

/// Runs a member until it fails; returns the reason.
pub async fn run(config: Config, log: Arc<Logger>) -> Result<(), String> {
    // etcd checks --initial-cluster against the advertised URLs only when the
    // member is new; a restarted member keeps the identity its WAL records.
    let cluster = if has_wal(&config) {
        InitialCluster::parse(&config.initial_cluster).map_err(|e| e.to_string())?
    } else {
        config.verify_initial_cluster().map_err(|e| e.to_string())?
    };
    let token = config.initial_cluster_token.clone();
    let mut initial: Vec<(NodeId, MemberInfo)> = Vec::new();
    let mut local_id = None;
    for (name, urls) in cluster.members() {
        let peer_urls: Vec<String> = urls.iter().map(Url::to_string).collect();
        let id = ids::member_id(&peer_urls, &token);
        if *name == config.name {
            local_id = Some(id);
        }
        initial.push((
            id,
            MemberInfo {
                name: name.clone(),
                peer_urls,
                client_urls: Vec::new(),
            },
        ));
    }
    let local_id = local_id.ok_or_else(|| {
        format!(
            "couldn't find local name {:?} in the initial cluster configuration",
            config.name
        )
    })?;
    let member_ids: Vec<NodeId> = initial.iter().map(|(id, _)| *id).collect();
    let cluster_id = ids::cluster_id(&member_ids, &token);

    // TLS first (etcd configures peer listeners, then client ones): bad
    // flags or certificate files stop the start before anything listens.
    let data_dir = config.data_dir_path();
    let (peer_tls, client_tls) = configure_tls(&config, &data_dir, &log)?;

    // Listeners next, so port 0 resolves to real ports we can advertise.
    let peer_url = config
        .listen_peer_urls
        .first()
        .ok_or("--listen-peer-urls is empty")?;
    let peer_address = peer_url.host_port();
    let peer_listener = TcpListener::bind(&peer_address)
        .await
        .map_err(|e| format!("listen tcp {peer_address}: bind: {e}"))?;
    let peer_listener_tls = peer_url.scheme.is_tls();
    if peer_listener_tls && peer_tls.is_none() {
        return Err(format!(
            "cannot listen on TLS for {}: KeyFile and CertFile are not presented",
            peer_listener.local_addr().map_err(|e| e.to_string())?
        ));
    }
    let client_listeners = serve::bind(&config.listen_client_urls).await?;
    let bound: Vec<SocketAddr> = client_listeners
        .iter()
        .filter_map(|l| l.listener.local_addr().ok())
        .collect();
    let client_urls: Vec<String> = config
        .advertise_client_urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            if url.port == 0 {
                let port = bound.get(i).or(bound.first()).map_or(0, SocketAddr::port);
                format!("{}://{}:{port}", url.scheme.as_str(), url.host)
            } else {
                url.to_string()
            }
        })
        .collect();

    let heartbeat_ms = config.heartbeat_interval_ms.max(1);
    let mut raft_config = raft::Config::new(local_id, seed());
    raft_config.tick_interval_ms = heartbeat_ms;
    raft_config.heartbeat_ticks = 1;
    raft_config.election_ticks = (config.election_timeout_ms / heartbeat_ms).max(2) as u32;
    raft_config.pre_vote = config.pre_vote;
    let mut member = MemberConfig::new(
        raft_config,
        cluster_id,
        config.name.clone(),
        client_urls.clone(),
    );
    member.snapshot_count = config.snapshot_count_effective();
    member.max_txn_ops = config.max_txn_ops as usize;
    member.quota_bytes = config.quota_backend_bytes_effective();
    member.force_new_cluster = config.force_new_cluster;
    member.retention = RetentionPolicy {
        max_snapshots: config.max_snapshots as usize,
        max_wals: config.max_wals as usize,
    };
    member.watch_progress_notify_interval_ms = (config
        .experimental_watch_progress_notify_interval
        .as_millis() as u64)
        .max(1);
    member.first_seq = wall_clock_micros();
    member.auth_token_ttl_ms = config.auth_token_ttl_s.saturating_mul(1000).max(1);
    let tokens = std::sync::Arc::new(crate::grpc::tokens::TokenProvider::from_flags(
        &config.auth_token,
        config.bcrypt_cost,
    )?);

    log.info("etcdserver", &format!("name = {}", config.name));
    log.info("etcdserver", &format!("data dir = {}", data_dir.display()));
    log.info(
        "etcdserver",
        &format!("member dir = {}", data_dir.join("member").display()),
    );
    log.info(
        "etcdserver",
        &format!("heartbeat = {}ms", config.heartbeat_interval_ms),
    );
    log.info(
        "etcdserver",
        &format!("election = {}ms", config.election_timeout_ms),
    );
    log.info(
        "etcdserver",
        &format!("snapshot count = {}", member.snapshot_count),
    );
    log.info(
        "embed",
        &format!(
            "listening for peers on {}",
            config
                .listen_peer_urls
                .iter()
                .map(Url::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    );

    let options = StartOptions {
        member,
        data_dir: data_dir.clone(),
        wal_dir: config.wal_dir.clone(),
        initial_cluster: initial,
        join_existing: config.initial_cluster_state == ClusterState::Existing,
        peer_listener,
        peer_listener_tls,
        peer_security: peer_tls.map(|tls| {
            Arc::new(tls::PeerTls {
                server: tls.server,
                client: tls.client,
            }) as Arc<dyn cairn_runtime_tokio::transport::PeerSecurity>
        }),
    };
    let events_log = log.clone();
    let on_event = Box::new(move |event: RuntimeEvent| log_event(&events_log, local_id, &event));
    let (driver, handle, kind) =
        cairn_runtime_tokio::start(options, on_event).map_err(|e| e.to_string())?;
    match kind {
        StartKind::Bootstrapped => log.info(
            "etcdserver",
            &format!("starting member {local_id:x} in cluster {cluster_id:x}"),
        ),
        StartKind::Joined => log.info(
            "etcdserver",
            &format!("joining cluster {cluster_id:x} as member {local_id:x}"),
        ),
        StartKind::Restarted => log.info(
            "etcdserver",
            &format!("restarting member {local_id:x} in cluster {cluster_id:x}"),
        ),
    }

    let dialer = tls::Dialer::new(client_tls.as_ref().map(|tls| tls.client.clone()));
    let limits = grpc::Limits {
        max_request_bytes: config.max_request_bytes as usize,
        max_txn_ops: config.max_txn_ops as usize,
    };
    let backend = grpc::Backend::new(handle.clone(), tokens);
    let router = grpc::router(backend, dialer.clone(), limits).merge(http::routes(handle.clone()));
    let driver = tokio::spawn(driver.run());
    if config.experimental_initial_corrupt_check {
        initial_corrupt_check(&handle, local_id, &dialer, &log).await?;
    }
    let client_server_tls = client_tls.map(|tls| tls.server);
    for listener in client_listeners {
        let address = listener.local_address();
        if listener.plain {
            log.notice(
                "embed",
                &format!(
                    "serving insecure client requests on {address}, this is strongly discouraged!"
                ),
            );
        }
        if listener.tls {
            log.info("embed", &format!("serving client requests on {address}"));
        }
        let tls = client_server_tls.clone().filter(|_| listener.tls);
        tokio::spawn(serve::serve(
            listener,
            router.clone(),
            tls,
            config.max_concurrent_streams,
            log.clone(),
        ));
    }
    Err(driver
        .await
        .unwrap_or_else(|e| format!("the member stopped: {e}")))
}

fn has_wal(config: &Config) -> bool {
    let dir = cairn_runtime_tokio::DataDir::new(&config.data_dir_path(), config.wal_dir.as_deref());
    dir.has_wal()
}

fn log_event(log: &Logger, local: NodeId, event: &RuntimeEvent) {
    match event {
        RuntimeEvent::Member(MemberEvent::RoleChanged(role)) => {
            let what = match role.role {
                Role::Leader => "leader",
                Role::Candidate => "candidate",
                Role::PreCandidate => "pre-candidate",
                Role::Follower => "follower",
            };
            log.info(
                "raft",
                &format!("{local:x} became {what} at term {}", role.term),
            );
            if role.leader != 0 {
                log.info(
                    "raft",
                    &format!(
                        "raft.node: {local:x} elected leader {:x} at term {}",
                        role.leader, role.term
                    ),
                );
            }
        }
        RuntimeEvent::Member(MemberEvent::Published {
            name,
            client_urls,
            cluster_id,
        }) => {
            log.info(
                "etcdserver",
                &format!(
                    "published {{Name:{name} ClientURLs:[{}]}} to cluster {cluster_id:x}",
                    client_urls.join(" ")
                ),
            );
            log.info("etcdserver/api", "enabled capabilities for version 3.4");
            log.info("embed", "ready to serve client requests");
        }
        RuntimeEvent::Member(MemberEvent::MemberAdded {
            id,
            peer_urls,
            learner,
        }) => {
            let kind = if *learner { "learner member" } else { "member" };
            log.info(
                "etcdserver/membership",
                &format!("added {kind} {id:x} [{}]", peer_urls.join(" ")),
            );
        }
        RuntimeEvent::Member(MemberEvent::MemberRemoved { id }) => {
            log.info("etcdserver/membership", &format!("removed member {id:x}"));
        }
        RuntimeEvent::Member(MemberEvent::MemberPromoted { id }) => {
            log.info("etcdserver/membership", &format!("promote member {id:x}"));
        }
        RuntimeEvent::Member(MemberEvent::SnapshotSaved { index, .. }) => {
            log.info("etcdserver", &format!("saved snapshot at index {index}"));
        }
        RuntimeEvent::Member(MemberEvent::SnapshotInstalled { index, .. }) => {
            log.info(
                "etcdserver",
                &format!("applied incoming snapshot at index {index}"),
            );
        }
        RuntimeEvent::Member(MemberEvent::SnapshotRefused { index, reason }) => {
            log.warn(
                "etcdserver",
                &format!("refused incoming snapshot at index {index}: {reason}"),
            );
        }
        RuntimeEvent::Member(MemberEvent::UndecodableEntry { index, reason }) => {
            log.error(
                "etcdserver",
                &format!("skipped undecodable entry at index {index}: {reason}"),
            );
        }
        RuntimeEvent::SlowFsync { took } => {
            log.warn(
                "wal",
                &format!("sync duration of {took:?}, expected less than 1s"),
            );
        }
        RuntimeEvent::PeerRefused(reason) => log.warn("rafthttp", reason),
        RuntimeEvent::Fatal(reason) => log.error("etcdserver", reason),
    }
}

/// Seeds election timeouts; the runtime logs nothing secret, and a restart
/// gets a new seed.
fn seed() -> u64 {
    let micros = wall_clock_micros();
    micros ^ (u64::from(std::process::id()) << 32)
}

fn wall_clock_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(1)
}

/// Builds peer and client TLS from the flags, logging etcd's lines about
/// them; refuses `https://` client URLs without a certificate.
fn configure_tls(
    config: &Config,
    data_dir: &std::path::Path,
    log: &Logger,
) -> Result<(Option<tls::SideTls>, Option<tls::SideTls>), String> {
    let hosts = |urls: &[Url]| -> Vec<String> { urls.iter().map(|u| u.host.clone()).collect() };
    let peer = tls::build(
        tls::Side::Peer,
        &config.peer_tls,
        &config.cipher_suites,
        &hosts(&config.listen_peer_urls),
        data_dir,
    )?;
    if let Some(peer) = &peer {
        for warning in &peer.warnings {
            log.warn("embed", warning);
        }
        log.info("embed", &format!("peerTLS: {}", peer.info));
    }
    for url in config
        .listen_peer_urls
        .iter()
        .filter(|u| !u.scheme.is_tls())
    {
        if peer.is_some() {
            log.warn("embed", &format!("The scheme of peer url {url} is HTTP while peer key/cert files are presented. Ignored peer key/cert files."));
        }
        if config.peer_tls.client_cert_auth {
            log.warn("embed", &format!("The scheme of peer url {url} is HTTP while client cert auth (--peer-client-cert-auth) is enabled. Ignored client cert auth for this url."));
        }
    }
    let client = tls::build(
        tls::Side::Client,
        &config.client_tls,
        &config.cipher_suites,
        &hosts(&config.listen_client_urls),
        data_dir,
    )?;
    for url in &config.listen_client_urls {
        if url.scheme.is_tls() {
            if client.is_none() {
                return Err(format!("TLS key/cert (--cert-file, --key-file) must be provided for client url {url} with HTTPS scheme"));
            }
            continue;
        }
        if client.is_some() {
            log.warn("embed", &format!("The scheme of client url {url} is HTTP while peer key/cert files are presented. Ignored key/cert files."));
        }
        if config.client_tls.client_cert_auth {
            log.warn("embed", &format!("The scheme of client url {url} is HTTP while client cert auth (--client-cert-auth) is enabled. Ignored client cert auth for this url."));
        }
    }
    if let Some(client) = &client {
        for warning in &client.warnings {
            log.warn("embed", warning);
        }
        log.info("embed", &format!("ClientTLS: {}", client.info));
    }
    Ok((peer, client))
}

/// etcd's `--experimental-initial-corrupt-check`: before serving clients,
/// compare this member's KV hash with every reachable peer's at the same
/// revision; a difference means the data diverged, and the member refuses to
/// serve. Peers that are unreachable, behind, or compacted differently are
/// skipped with a warning, as etcd does.
async fn initial_corrupt_check(
    handle: &cairn_runtime_tokio::MemberHandle,
    local: NodeId,
    dialer: &tls::Dialer,
    log: &Logger,
) -> Result<(), String> {
    use cairn_core::auth::Caller;
    use cairn_core::member::calls;
    use cairn_proto::etcdserverpb::{maintenance_client::MaintenanceClient, HashKvRequest};
    log.info(
        "etcdserver",
        &format!("{local:x} starting initial corruption check with timeout 7s..."),
    );
    // Wait until the member is part of a cluster with a leader (bounded).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(7);
    let members = loop {
        if let Ok((_, members)) = handle.call(Caller::System, calls::MemberList).await {
            let published = members
                .iter()
                .filter(|m| m.id != local)
                .all(|m| !m.client_urls.is_empty());
            if published || tokio::time::Instant::now() >= deadline {
                break members;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let local_hash = handle
        .call(Caller::System, calls::HashKv { revision: 0 })
        .await;
    let Ok((_, local_hash)) = local_hash else {
        return Err("initial corruption check: cannot hash the local store".to_string());
    };
    let mut compared = 0;
    for peer in members.iter().filter(|m| m.id != local) {
        let Some(url) = peer.client_urls.first() else {
            log.warn(
                "etcdserver",
                &format!("cannot check hash of peer {:x}: no client URL", peer.id),
            );
            continue;
        };
        let answer = async {
            let channel = dialer
                .channel(url, std::time::Duration::from_secs(5))
                .await?;
            let mut client = MaintenanceClient::new(channel);
            let request = HashKvRequest {
                revision: local_hash.hash_revision,
            };
            client
                .hash_kv(request)
                .await
                .map(|r| r.into_inner())
                .map_err(|e| e.message().to_string())
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), answer).await {
            Ok(Ok(remote)) if remote.compact_revision == local_hash.compact_revision => {
                compared += 1;
                if remote.hash != local_hash.hash {
                    log.error(
                        "etcdserver",
                        &format!(
                            "{local:x}'s hash {} != {:x}'s hash {} (revision {}, compact revision {})",
                            local_hash.hash, peer.id, remote.hash, local_hash.hash_revision, local_hash.compact_revision
                        ),
                    );
                    return Err(format!("{local:x} found data inconsistency with peers"));
                }
            }
            Ok(Ok(remote)) => log.warn(
                "etcdserver",
                &format!(
                    "{local:x} cannot check hash of peer {:x}: peer has a different compact revision {} (local {})",
                    peer.id, remote.compact_revision, local_hash.compact_revision
                ),
            ),
            Ok(Err(error)) => log.warn(
                "etcdserver",
                &format!("{local:x} cannot check the hash of peer {:x}: {error}", peer.id),
            ),
            Err(_) => log.warn("etcdserver", &format!("{local:x} cannot check the hash of peer {:x}: timed out", peer.id)),
        }
    }
    log.info(
        "etcdserver",
        &format!("{local:x} initial corruption checking passed; no corruption ({compared} peers compared)"),
    );
    Ok(())
}
