//! `cairn grpc-proxy start`: etcd's stateless L7 gRPC proxy in front of a
//! cluster (etcd's `etcdmain/grpc_proxy.go`, `proxy/grpcproxy/`).
//!
//! ```text
//!   clients (etcdctl, SDKs) ── h2, plain or TLS (--cert-file/--key-file/--trusted-ca-file)
//!        │
//!        ▼  --listen-addr (hyper, serve.rs)           HTTP: /metrics /proxy/metrics /health
//!   ┌──────────────────────────── proxy ─────────────────────────────┐
//!   │ KV ─── range cache (cache.rs) ───────────────┐                  │
//!   │ Watch ─ client streams (watch.rs) ─▶ broadcasts: one upstream   │
//!   │         watch per shared range (broadcast.rs, watcher.rs)       │
//!   │ Lease, Maintenance, Auth, Lock, Election (passthrough.rs)       │
//!   │ Cluster (cluster.rs): --resolver-prefix registration            │
//!   │ --namespace (namespace.rs) on KV, Watch, Lease                  │
//!   └──────────── upstream.rs: one cairn-client Client ───────────────┘
//!        │  each request with the client's own token
//!        ▼  --endpoints, TLS by --cert/--key/--cacert
//!   the cluster (cairn or etcd members)
//! ```
//!
//! The proxy keeps nothing on disk (`--data-dir` only holds `--auto-tls`
//! certificates) and its only state is the cache and the shared watches.

mod broadcast;
mod cache;
mod cluster;
mod flags;
mod kv;
mod metrics;
mod namespace;
mod passthrough;
mod upstream;
mod watch;
mod watcher;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use cairn_client::{Client, ClientConfig, TlsOptions};
use cairn_proto::etcdserverpb as pb;
use cairn_proto::{v3electionpb, v3lockpb};

pub use flags::{parse, Command, Flags};

use crate::config::{Scheme, TlsSettings, Url};
use crate::logging::{Level, Logger};
use metrics::MetricsSource;
use upstream::Upstream;

/// etcd's proxy dials the cluster with a 5 s timeout.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the first connection to the cluster is tried again.
const CONNECT_RETRY: Duration = Duration::from_secs(1);

/// Runs `cairn grpc-proxy <args>`; returns the process's exit code.
pub fn main(args: &[String]) -> ExitCode {
    let flags = match flags::parse(args) {
        Command::Start(flags) => flags,
        Command::Help(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Command::Refused(text) => {
            eprintln!("{text}");
            return ExitCode::from(1);
        }
    };
    let level = if flags.debug {
        Level::Debug
    } else {
        Level::Info
    };
    let log = Arc::new(Logger::new(true, level, Box::new(std::io::stderr())));
    let refused = flags.refused();
    if let Err(code) = crate::process::refuse_unimplemented(&log, &refused) {
        return code;
    }
    let runtime = match crate::process::runtime(|text| log.error("etcdmain", text)) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(run(*flags, log.clone())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("{reason}");
            ExitCode::from(1)
        }
    }
}

/// The proxy's TLS towards the cluster, as etcd's `newClientCfg` reads it.
fn upstream_tls(flags: &Flags) -> Option<TlsOptions> {
    let given = flags.cert.is_some() || flags.key.is_some() || flags.cacert.is_some();
    (given || flags.insecure_skip_tls_verify).then(|| TlsOptions {
        ca_file: flags.cacert.clone(),
        cert_file: flags.cert.clone(),
        key_file: flags.key.clone(),
        insecure_skip_verify: flags.insecure_skip_tls_verify,
    })
}

/// Connects to the cluster, trying again every second until it answers.
async fn connect(flags: &Flags, log: &Logger) -> Result<Client, String> {
    // etcd's mustNewClient: endpoints from --discovery-srv, else --endpoints.
    let mut listed = Vec::new();
    if !flags.discovery_srv.is_empty() {
        (listed, _) = crate::tcp_gateway::discover(
            &flags.discovery_srv,
            &flags.discovery_srv_name,
            flags.insecure_discovery,
            &|warn, msg, fields| {
                let fields: Vec<(&str, String)> = fields
                    .iter()
                    .map(|(name, value)| (*name, crate::tcp_gateway::log::json(value)))
                    .collect();
                let level = if warn { Level::Warning } else { Level::Info };
                log.log_json_fields(level, "etcdmain", msg, &fields);
            },
        )
        .await?;
    }
    if listed.is_empty() {
        listed = flags.endpoints.clone();
    }
    let endpoints = cairn_client::endpoint::parse_list(listed.iter()).map_err(|e| e.to_string())?;
    let mut config = ClientConfig::new(endpoints).with_dial_timeout(DIAL_TIMEOUT);
    if let Some(tls) = upstream_tls(flags) {
        if tls.insecure_skip_verify {
            log.warn("etcdmain", "--insecure-skip-tls-verify was given, this grpc proxy process skips authentication of etcd server TLS certificates. This option should be enabled only for testing purposes.");
        }
        log.log_fields(
            Level::Info,
            "etcdmain/grpc_proxy.go",
            "gRPC proxy client TLS",
            &[("tls-info", &format!("{tls:?}"))],
        );
        config = config.with_tls(tls);
    }
    loop {
        match Client::connect(config.clone()).await {
            Ok(client) => return Ok(client),
            Err(cairn_client::Error::Unreachable(why)) => {
                log.warn(
                    "grpcproxy",
                    &format!("cannot reach the cluster yet: {}", why.join("; ")),
                );
                tokio::time::sleep(CONNECT_RETRY).await;
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// The clients' side TLS (`--cert-file`, `--key-file`, `--trusted-ca-file`,
/// `--auto-tls`, `--client-crl-file`, `--listen-cipher-suites`).
fn listen_tls(flags: &Flags, log: &Logger) -> Result<Option<crate::tls::SideTls>, String> {
    let settings = TlsSettings {
        cert_file: flags.cert_file.clone(),
        key_file: flags.key_file.clone(),
        client_cert_auth: flags.trusted_ca_file.is_some(),
        trusted_ca_file: flags.trusted_ca_file.clone(),
        crl_file: flags.client_crl_file.clone(),
        auto_tls: flags.auto_tls && flags.cert_file.is_none() && flags.key_file.is_none(),
        ..TlsSettings::default()
    };
    let host = flags
        .listen_addr
        .rsplit_once(':')
        .map_or(flags.listen_addr.clone(), |(host, _)| host.to_string());
    let built = crate::tls::build(
        crate::tls::Side::Client,
        &settings,
        &flags.listen_cipher_suites,
        &[host],
        std::path::Path::new(&flags.data_dir),
    )?;
    if let Some(tls) = &built {
        log.log_fields(
            Level::Info,
            "etcdmain/grpc_proxy.go",
            "gRPC proxy server TLS",
            &[("tls-info", &tls.info)],
        );
    }
    Ok(built)
}

/// The proxy's gRPC services and HTTP endpoints.
fn router(upstream: Arc<Upstream>, flags: &Flags, source: MetricsSource) -> Router {
    let max = flags.max_recv_bytes.clamp(0, i64::from(i32::MAX)) as usize;
    let pass = passthrough::PassThrough::new(upstream.clone());
    let grpc = tonic::service::Routes::new(
        pb::kv_server::KvServer::new(kv::KvProxy::new(upstream.clone()))
            .max_decoding_message_size(max),
    )
    .add_service(
        pb::watch_server::WatchServer::new(watch::WatchProxy::new(upstream.clone()))
            .max_decoding_message_size(max),
    )
    .add_service(
        pb::cluster_server::ClusterServer::new(cluster::ClusterProxy::new(
            upstream.clone(),
            &flags.advertise_client_url,
            &flags.resolver_prefix,
        ))
        .max_decoding_message_size(max),
    )
    .add_service(pb::lease_server::LeaseServer::new(pass.clone()).max_decoding_message_size(max))
    .add_service(
        pb::maintenance_server::MaintenanceServer::new(pass.clone()).max_decoding_message_size(max),
    )
    .add_service(pb::auth_server::AuthServer::new(pass.clone()).max_decoding_message_size(max))
    .add_service(
        v3electionpb::election_server::ElectionServer::new(pass.clone())
            .max_decoding_message_size(max),
    )
    .add_service(v3lockpb::lock_server::LockServer::new(pass).max_decoding_message_size(max))
    .into_axum_router();
    grpc.fallback_service(http_routes(upstream, source))
}

/// `/metrics`, `/proxy/metrics`, `/health`; anything else is Go's 404.
fn http_routes(upstream: Arc<Upstream>, source: MetricsSource) -> Router {
    let (for_metrics, for_proxy, for_health) = (upstream.clone(), upstream.clone(), upstream);
    Router::new()
        .route(
            "/metrics",
            get(move || metrics::metrics(for_metrics.clone(), source.clone())),
        )
        .route(
            "/proxy/metrics",
            get(move || metrics::proxy_metrics(for_proxy.clone())),
        )
        .route("/health", get(move || metrics::health(for_health.clone())))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "404 page not found\n") })
}

/// Binds `address` (`host:port`) as a client listener.
async fn bind(address: &str, tls: bool) -> Result<crate::serve::ClientListener, String> {
    let scheme = if tls { "https" } else { "http" };
    let url = Url::parse(&format!("{scheme}://{address}")).map_err(|e| e.to_string())?;
    let mut bound = crate::serve::bind(&[url]).await?;
    bound
        .pop()
        .ok_or_else(|| format!("cannot listen on {address}"))
}

/// Starts the proxy and serves until a listener fails.
async fn run(flags: Flags, log: Arc<Logger>) -> Result<(), String> {
    let side_tls = listen_tls(&flags, &log)?;
    let listener = bind(&flags.listen_addr, side_tls.is_some()).await?;
    log.log_fields(
        Level::Info,
        "etcdmain/grpc_proxy.go:345",
        "listening for gRPC proxy client requests",
        &[("address", &flags.listen_addr)],
    );
    let client = connect(&flags, &log).await?;
    let endpoint = client.endpoints()[0].clone();
    let metrics_tls = match upstream_tls(&flags) {
        Some(options) if endpoint.uses_tls(true) => Some(Arc::new(
            options.client_config().map_err(|e| e.to_string())?,
        )),
        _ if endpoint.scheme() == cairn_client::Scheme::Https => Some(Arc::new(
            TlsOptions::default()
                .client_config()
                .map_err(|e| e.to_string())?,
        )),
        _ => None,
    };
    let source = MetricsSource {
        host: endpoint.host().to_string(),
        port: endpoint.port(),
        tls: metrics_tls,
    };
    let upstream = Arc::new(Upstream {
        client,
        namespace: namespace::Namespace::new(&flags.namespace),
        cache: cache::RangeCache::default(),
        metrics: metrics::ProxyMetrics::default(),
        log: log.clone(),
        max_recv_bytes: flags.max_recv_bytes.clamp(0, i64::from(i32::MAX)) as usize,
        max_send_bytes: flags.max_send_bytes.clamp(0, i64::from(i32::MAX)) as usize,
    });
    if !flags.resolver_prefix.is_empty() {
        tokio::spawn(cluster::register(
            upstream.clone(),
            flags.resolver_prefix.clone(),
            flags.advertise_client_url.clone(),
            flags.resolver_ttl_seconds,
        ));
    }
    let server_tls = side_tls.map(|tls| tls.server);
    let router = router(upstream.clone(), &flags, source.clone());
    let mut tasks = vec![tokio::spawn(crate::serve::serve(
        listener,
        router,
        server_tls.clone(),
        flags.max_concurrent_streams,
        log.clone(),
    ))];
    if !flags.metrics_addr.is_empty() {
        let url = Url::parse(&flags.metrics_addr)
            .map_err(|_| format!("cannot parse {:?}", flags.metrics_addr))?;
        let tls = url.scheme == Scheme::Https;
        let metrics_listener = bind(&url.host_port(), tls).await?;
        log.log_fields(
            Level::Info,
            "etcdmain/grpc_proxy.go",
            "gRPC proxy listening for metrics",
            &[("address", &flags.metrics_addr)],
        );
        tasks.push(tokio::spawn(crate::serve::serve(
            metrics_listener,
            http_routes(upstream, source),
            server_tls.filter(|_| tls),
            flags.max_concurrent_streams,
            log.clone(),
        )));
    }
    log.log_fields(
        Level::Info,
        "etcdmain/grpc_proxy.go:240",
        "started gRPC proxy",
        &[("address", &flags.listen_addr)],
    );
    for task in tasks {
        let _ = task.await;
    }
    Err("every listener stopped".to_string())
}
