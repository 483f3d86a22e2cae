//! Starting a member from a validated configuration, as a sequence of steps:
//!
//! ```text
//!   identify        the initial cluster: this member's id, the cluster's id
//!                   (identity.rs)
//!   configure_tls   peer and client TLS (bad files stop the start here)
//!   bind_listeners  peer and client ports (port 0 resolved, to advertise)
//!   member_config   raft timing, quotas, retention (+ --auth-token parsed)
//!   log_settings    etcd's start-up lines
//!   start_member    open the data dir: recover, bootstrap or join
//!   corrupt_check   optionally, compare hashes with the other members
//!   serve_clients   gRPC and HTTP on every client listener, /metrics and
//!                   /health on every --listen-metrics-urls listener
//!   wait            until the member stops; its reason is the exit's
//! ```

use std::path::Path;
use std::sync::Arc;

use cairn_core::member::MemberConfig;
use cairn_core::raft;
use cairn_core::snapshot::RetentionPolicy;
use cairn_runtime_tokio::transport::PeerSecurity;
use cairn_runtime_tokio::NetListener;
use cairn_runtime_tokio::{MemberHandle, RuntimeEvent, StartKind, StartOptions, TokioDriver};
use tokio::task::JoinHandle;

use crate::config::{ClusterState, Config, Url};
use crate::grpc::tokens::TokenProvider;
use crate::identity::{self, Identity};
use crate::logging::Logger;
use crate::metrics::{Metrics, MetricsConfig};
use crate::serve::ClientListener;
use crate::{compactor, corrupt_check, events, grpc, http, serve, tls};

/// Runs a member until it fails; returns the reason.
pub async fn run(config: Config, log: Arc<Logger>) -> Result<(), String> {
    let started_ms = crate::v2::wall_clock_ms();
    let data_dir = config.data_dir_path();
    let (peer_tls, client_tls) = configure_tls(&config, &data_dir, &log)?;
    let peer_security: Option<Arc<dyn PeerSecurity>> = peer_tls.as_ref().map(|tls| {
        Arc::new(tls::PeerTls {
            server: tls.server.clone(),
            client: tls.client.clone(),
        }) as Arc<dyn PeerSecurity>
    });
    crate::backup::import_etcd_data_dir(&config, &log).await?;
    let identity = identity::identify(&config, peer_security.as_ref(), &log).await?;
    let metrics = Arc::new(Metrics::new(MetricsConfig {
        extensive: config.metrics == "extensive",
        quota_backend_bytes: config.quota_backend_bytes,
        member_id: identity.local_id,
    })?);
    let listeners = bind_listeners(&config, peer_tls.is_some(), client_tls.is_some()).await?;
    let member = member_config(&config, &identity, listeners.client_urls);
    let tokens = Arc::new(TokenProvider::from_flags(
        &config.auth_token,
        config.bcrypt_cost,
    )?);
    log_settings(&config, &data_dir, member.snapshot_count, &log);
    let (driver, handle) = start_member(
        &config,
        &identity,
        member,
        listeners.peer,
        peer_security,
        metrics.runtime.clone(),
        &log,
    )?;
    let dialer = tls::Dialer::new(client_tls.as_ref().map(|tls| tls.client.clone()));
    let limits = grpc::Limits {
        max_request_bytes: config.max_request_bytes as usize,
        max_txn_ops: config.max_txn_ops as usize,
    };
    let backend = grpc::Backend::new(handle.clone(), tokens);
    let cluster = grpc::cluster::ClusterSettings {
        token: config.initial_cluster_token.clone(),
    };
    let files =
        cairn_runtime_tokio::DataDir::new(&config.data_dir_path(), config.wal_dir.as_deref());
    let v2 = config.enable_v2.then(|| crate::v2::V2Shared {
        handle: handle.clone(),
        cluster_id: identity.cluster_id,
        member_id: identity.local_id,
        name: config.name.clone(),
        start_time_ms: started_ms,
        cluster: grpc::cluster::ClusterService::new(
            backend.clone(),
            grpc::leader::LeaderLink::new(backend.clone(), dialer.clone()),
            cluster.clone(),
        ),
        passwords: crate::v2::auth_check::V2Passwords::new(config.bcrypt_cost as u32),
    });
    let services = grpc::router(
        backend,
        dialer.clone(),
        limits,
        cluster,
        Some(files),
        log.clone(),
    );
    let options = http::HttpOptions {
        gateway: config.enable_grpc_gateway,
        cors: config.cors.clone(),
        client_cert_auth: config.client_tls.client_cert_auth,
        max_concurrent_streams: config.max_concurrent_streams,
    };
    let router = http::client_router(services, handle.clone(), metrics.clone(), v2, options)
        .layer(metrics.grpc.layer());
    let metrics_router = http::metrics_routes(handle.clone(), metrics.clone());
    let driver = tokio::spawn(driver.run());
    let compaction = config.auto_compaction().map_err(|e| e.to_string())?;
    compactor::spawn(handle.clone(), compaction, log.clone());
    if config.experimental_initial_corrupt_check {
        corrupt_check::initial_corrupt_check(&handle, identity.local_id, &dialer, &log).await?;
    }
    if !config.experimental_corrupt_check_time.is_zero() {
        tokio::spawn(corrupt_check::periodic_corrupt_check(
            handle.clone(),
            identity.local_id,
            dialer.clone(),
            config.experimental_corrupt_check_time,
            log.clone(),
        ));
    }
    let client_server_tls = client_tls.map(|tls| tls.server);
    serve_metrics(listeners.metrics, metrics_router, &client_server_tls, &log);
    serve_clients(listeners.clients, router, client_server_tls, &config, &log);
    let reason = wait(driver).await;
    if reason == cairn_runtime_tokio::MEMBER_REMOVED {
        // As etcd does, a removed member lingers a second before it exits:
        // answers in flight (a removal forwarded through it, say) still
        // reach their clients.
        tokio::time::sleep(REMOVED_MEMBER_LINGER).await;
    }
    Err(reason)
}

/// How long a removed member keeps serving what is in flight (etcd's
/// `stopWithDelay` of one second).
const REMOVED_MEMBER_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// The ports this member listens on, bound before anything starts.
#[derive(Debug)]
struct Listeners {
    peer: PeerListener,
    clients: Vec<ClientListener>,
    /// `--advertise-client-urls`, with port 0 replaced by the bound port.
    client_urls: Vec<String>,
    /// `--listen-metrics-urls`.
    metrics: Vec<ClientListener>,
}

/// Binds the peer and client ports (after TLS, as etcd configures peer
/// listeners, then client ones), so that port 0 resolves to real ports that
/// can be advertised.
async fn bind_listeners(
    config: &Config,
    has_peer_tls: bool,
    has_client_tls: bool,
) -> Result<Listeners, String> {
    let peer_url = config
        .listen_peer_urls
        .first()
        .ok_or("--listen-peer-urls is empty")?;
    let peer_address = peer_url.host_port();
    let peer = NetListener::listen(peer_url.scheme.is_unix(), &peer_address).await?;
    let peer_tls = peer_url.scheme.is_tls();
    if peer_tls && !has_peer_tls {
        return Err(format!(
            "cannot listen on TLS for {}: KeyFile and CertFile are not presented",
            peer.local_address().map_err(|e| e.to_string())?
        ));
    }
    let clients = serve::bind(&config.listen_client_urls).await?;
    let bound: Vec<u16> = clients
        .iter()
        .filter_map(ClientListener::local_port)
        .collect();
    let client_urls = config
        .advertise_client_urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            if url.port == 0 && !url.scheme.is_unix() {
                let port = bound.get(i).or(bound.first()).copied().unwrap_or(0);
                format!("{}://{}:{port}", url.scheme.as_str(), url.host)
            } else {
                url.to_string()
            }
        })
        .collect();
    // etcd serves https:// metrics URLs with the client certificate.
    if let Some(url) = config
        .listen_metrics_urls
        .iter()
        .find(|url| url.scheme.is_tls() && !has_client_tls)
    {
        return Err(format!(
            "cannot listen on TLS for {}: KeyFile and CertFile are not presented",
            url.host_port()
        ));
    }
    let metrics = serve::bind(&config.listen_metrics_urls).await?;
    Ok(Listeners {
        peer: PeerListener {
            listener: peer,
            tls: peer_tls,
        },
        clients,
        client_urls,
        metrics,
    })
}

/// The member's settings from the flags.
fn member_config(config: &Config, identity: &Identity, client_urls: Vec<String>) -> MemberConfig {
    let heartbeat_ms = config.heartbeat_interval_ms.max(1);
    let mut raft_config = raft::Config::new(identity.local_id, seed());
    raft_config.tick_interval_ms = heartbeat_ms;
    raft_config.heartbeat_ticks = 1;
    raft_config.election_ticks = (config.election_timeout_ms / heartbeat_ms).max(2) as u32;
    raft_config.pre_vote = config.pre_vote;
    let mut member = MemberConfig::new(
        raft_config,
        identity.cluster_id,
        config.name.clone(),
        client_urls,
    );
    member.snapshot_count = config.snapshot_count_effective();
    member.max_txn_ops = config.max_txn_ops as usize;
    member.quota_bytes = config.quota_backend_bytes_effective();
    member.force_new_cluster = config.force_new_cluster;
    member.strict_reconfig_check = config.strict_reconfig_check;
    member.auto_promote_learners = config.auto_promote_learners;
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
    member
}

/// etcd's lines about the settings a member starts with.
fn log_settings(config: &Config, data_dir: &Path, snapshot_count: u64, log: &Logger) {
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
    log.info("etcdserver", &format!("snapshot count = {snapshot_count}"));
    let peer_urls: Vec<String> = config.listen_peer_urls.iter().map(Url::to_string).collect();
    log.info(
        "embed",
        &format!("listening for peers on {}", peer_urls.join(",")),
    );
}

/// Where peers reach this member.
#[derive(Debug)]
struct PeerListener {
    listener: NetListener,
    /// The listen URL is `https://`.
    tls: bool,
}

/// Opens the data directory and starts the member: recovered from its WAL
/// and snapshots, bootstrapped with a new cluster, or joining one. The
/// driver is returned unstarted.
fn start_member(
    config: &Config,
    identity: &Identity,
    member: MemberConfig,
    peer: PeerListener,
    peer_security: Option<Arc<dyn PeerSecurity>>,
    metrics: cairn_runtime_tokio::RuntimeMetrics,
    log: &Arc<Logger>,
) -> Result<(TokioDriver, MemberHandle), String> {
    let options = StartOptions {
        member,
        data_dir: config.data_dir_path(),
        wal_dir: config.wal_dir.clone(),
        initial_cluster: identity.initial.clone(),
        join_existing: config.initial_cluster_state == ClusterState::Existing,
        peer_listener: peer.listener,
        peer_listener_tls: peer.tls,
        peer_security,
        metrics,
    };
    let (local_id, cluster_id) = (identity.local_id, identity.cluster_id);
    let events_log = log.clone();
    let on_event =
        Box::new(move |event: RuntimeEvent| events::log_event(&events_log, local_id, &event));
    let (driver, handle, kind) =
        cairn_runtime_tokio::start(options, on_event).map_err(|e| e.to_string())?;
    let started = match kind {
        StartKind::Bootstrapped => {
            format!("starting member {local_id:x} in cluster {cluster_id:x}")
        }
        StartKind::Joined => format!("joining cluster {cluster_id:x} as member {local_id:x}"),
        StartKind::Restarted => {
            format!("restarting member {local_id:x} in cluster {cluster_id:x}")
        }
    };
    log.info("etcdserver", &started);
    Ok((driver, handle))
}

/// Serves `router` on every client listener, each in its own task.
fn serve_clients(
    listeners: Vec<ClientListener>,
    router: axum::Router,
    tls: Option<Arc<tls::ServerTls>>,
    config: &Config,
    log: &Arc<Logger>,
) {
    for listener in listeners {
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
        let tls = tls.clone().filter(|_| listener.tls);
        tokio::spawn(serve::serve(
            listener,
            router.clone(),
            tls,
            config.max_concurrent_streams,
            log.clone(),
        ));
    }
}

/// Serves `/metrics` and `/health` on every `--listen-metrics-urls`
/// listener (https:// ones with the client certificate), each in its own
/// task.
fn serve_metrics(
    listeners: Vec<ClientListener>,
    router: axum::Router,
    tls: &Option<Arc<tls::ServerTls>>,
    log: &Arc<Logger>,
) {
    for listener in listeners {
        let scheme = match (listener.listener.is_unix(), listener.tls) {
            (false, false) => "http",
            (false, true) => "https",
            (true, false) => "unix",
            (true, true) => "unixs",
        };
        log.info(
            "embed",
            &format!(
                "listening for metrics on {scheme}://{}",
                listener.local_address()
            ),
        );
        let tls = tls.clone().filter(|_| listener.tls);
        tokio::spawn(serve::serve(
            listener,
            router.clone(),
            tls,
            DEFAULT_MAX_CONCURRENT_STREAMS,
            log.clone(),
        ));
    }
}

/// HTTP/2 streams per metrics connection (Go's default).
const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 250;

/// Waits for the member's driver to stop; answers why it did.
async fn wait(driver: JoinHandle<String>) -> String {
    driver
        .await
        .unwrap_or_else(|e| format!("the member stopped: {e}"))
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
pub(crate) fn configure_tls(
    config: &Config,
    data_dir: &Path,
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
