//! etcd's v2 proxy mode (`--proxy on|readonly`): no member, just the client
//! port, forwarding every HTTP request to the cluster's members and
//! following the cluster's membership, as etcd's `httpproxy` does.
//!
//! ```text
//!   --initial-cluster peer URLs, or <data-dir>/proxy/cluster (kept up to date)
//!        │ GET <peer>/members, every --proxy-refresh-interval (1 s while no
//!        ▼ endpoint is up)
//!   endpoints: the members' client URLs; one that fails to answer is left
//!        │     out for --proxy-failure-wait
//!        ▼
//!   client ──▶ proxy ──▶ first endpoint up (the next on a connection error)
//! ```
//!
//! `readonly` answers anything but GET with 501. `/v2/config/local/proxy`
//! lists the endpoints.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use hyper_util::rt::TokioIo;

use super::members::http_error;
use crate::config::{Config, ProxyMode};
use crate::logging::Logger;
use crate::tls::ClientTls;

/// Headers that belong to one hop (Go's `httputil` list, as etcd's proxy
/// removes them).
const HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// The largest request body the proxy buffers (it may send it twice).
const MAX_BODY_BYTES: usize = 64 << 20;

#[derive(Clone, Debug)]
struct Endpoint {
    url: String,
    /// Left out until then after a failure.
    failed_until: Option<Instant>,
}

/// Where requests go, and where the membership comes from.
#[derive(Debug)]
struct Director {
    endpoints: Mutex<Vec<Endpoint>>,
    failure_wait: Duration,
}

impl Director {
    fn available(&self) -> Vec<String> {
        let now = Instant::now();
        self.endpoints
            .lock()
            .expect("endpoints lock")
            .iter()
            .filter(|e| e.failed_until.is_none_or(|until| until <= now))
            .map(|e| e.url.clone())
            .collect()
    }

    fn all(&self) -> Vec<String> {
        self.endpoints
            .lock()
            .expect("endpoints lock")
            .iter()
            .map(|e| e.url.clone())
            .collect()
    }

    fn failed(&self, url: &str) {
        let until = Instant::now() + self.failure_wait;
        if let Some(e) = self
            .endpoints
            .lock()
            .expect("endpoints lock")
            .iter_mut()
            .find(|e| e.url == url)
        {
            e.failed_until = Some(until);
        }
    }

    fn set(&self, urls: Vec<String>) {
        let mut endpoints = self.endpoints.lock().expect("endpoints lock");
        let kept: Vec<Endpoint> = urls
            .into_iter()
            .map(|url| {
                let failed_until = endpoints
                    .iter()
                    .find(|e| e.url == url)
                    .and_then(|e| e.failed_until);
                Endpoint { url, failed_until }
            })
            .collect();
        *endpoints = kept;
    }
}

#[derive(Clone, Debug)]
struct Proxy {
    director: Arc<Director>,
    tls: Option<Arc<ClientTls>>,
    readonly: bool,
    dial_timeout: Duration,
    log: Arc<Logger>,
}

/// Runs the v2 proxy until a listener fails.
pub async fn run(config: Config, log: Arc<Logger>) -> Result<(), String> {
    log.info("etcdmain", "proxy: this proxy supports v2 API only!");
    let dir = config.data_dir_path().join("proxy");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let cluster_file = dir.join("cluster");
    let peer_urls = initial_peer_urls(&config, &cluster_file, &log)?;
    let (_, client_tls) = crate::run::configure_tls(&config, &dir, &log)?;
    let peer_security: Option<Arc<dyn cairn_runtime_tokio::transport::PeerSecurity>> = None;
    let director = Arc::new(Director {
        endpoints: Mutex::new(Vec::new()),
        failure_wait: Duration::from_millis(config.proxy_failure_wait_ms),
    });
    let dial_timeout = Duration::from_millis(config.proxy_dial_timeout_ms.max(1));
    tokio::spawn(refresh_loop(
        director.clone(),
        peer_urls,
        cluster_file,
        peer_security,
        dial_timeout,
        Duration::from_millis(config.proxy_refresh_interval_ms.max(1)),
        log.clone(),
    ));
    let proxy = Proxy {
        director,
        tls: client_tls.as_ref().map(|tls| tls.client.clone()),
        readonly: config.proxy == ProxyMode::Readonly,
        dial_timeout,
        log: log.clone(),
    };
    let config_proxy = proxy.clone();
    let router = Router::new()
        .route(
            "/v2/config/local/proxy",
            any(move |request: Request| local_config(config_proxy.clone(), request)),
        )
        .fallback(move |request: Request| forward(proxy.clone(), request));
    let listeners = crate::serve::bind(&config.listen_client_urls).await?;
    let server_tls = client_tls.map(|tls| tls.server);
    let mut tasks = Vec::new();
    for listener in listeners {
        let address = listener.local_address();
        log.info(
            "etcdmain",
            &format!("v2 proxy started listening on client requests on {address:?}"),
        );
        let tls = server_tls.clone().filter(|_| listener.tls);
        tasks.push(tokio::spawn(crate::serve::serve(
            listener,
            router.clone(),
            tls,
            config.max_concurrent_streams,
            log.clone(),
        )));
    }
    for task in tasks {
        let _ = task.await;
    }
    Err("every client listener stopped".to_string())
}

/// The peer URLs to ask for the membership: those of the cluster file if a
/// previous run left one, otherwise `--initial-cluster`'s.
fn initial_peer_urls(
    config: &Config,
    cluster_file: &Path,
    log: &Logger,
) -> Result<Vec<String>, String> {
    match std::fs::read(cluster_file) {
        Ok(bytes) => {
            #[derive(serde::Deserialize)]
            struct File {
                #[serde(rename = "PeerURLs")]
                peer_urls: Vec<String>,
            }
            let file: File = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: {e}", cluster_file.display()))?;
            log.info(
                "etcdmain",
                &format!(
                    "proxy: using peer urls {:?} from cluster file {:?}",
                    file.peer_urls,
                    cluster_file.display().to_string()
                ),
            );
            Ok(file.peer_urls)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if config.discovery.is_some() || config.discovery_srv.is_some() {
                return Err(
                    "the v2 proxy finds its cluster from --initial-cluster in cairn; discovery is not implemented for it"
                        .to_string(),
                );
            }
            let cluster = config
                .initial_cluster_members()
                .map_err(|e| format!("error setting up initial cluster: {e}"))?;
            let mut urls: Vec<String> = cluster
                .members()
                .values()
                .flatten()
                .map(|u| u.to_string())
                .collect();
            urls.sort();
            log.info("etcdmain", &format!("proxy: using peer urls {urls:?} "));
            Ok(urls)
        }
        Err(e) => Err(format!("{}: {e}", cluster_file.display())),
    }
}

/// Asks the cluster for its members: at once, then every `interval`, or
/// every second while no endpoint is up.
async fn refresh_loop(
    director: Arc<Director>,
    mut peer_urls: Vec<String>,
    cluster_file: PathBuf,
    security: Option<Arc<dyn cairn_runtime_tokio::transport::PeerSecurity>>,
    dial_timeout: Duration,
    interval: Duration,
    log: Arc<Logger>,
) {
    loop {
        let mut found = None;
        for url in &peer_urls {
            match cairn_runtime_tokio::peer_members::fetch_members(
                url,
                security.as_ref(),
                dial_timeout,
            )
            .await
            {
                Ok(cluster) => {
                    found = Some(cluster);
                    break;
                }
                Err(error) => log.warn("proxy", &format!("proxy: {error}")),
            }
        }
        if let Some(cluster) = found {
            let mut client_urls: Vec<String> = cluster
                .members
                .iter()
                .flat_map(|m| m.client_urls.iter().cloned())
                .collect();
            client_urls.sort();
            client_urls.dedup();
            let mut new_peers: Vec<String> = cluster
                .members
                .iter()
                .flat_map(|m| m.peer_urls.iter().cloned())
                .collect();
            new_peers.sort();
            if let Err(error) = write_cluster_file(&cluster_file, &new_peers) {
                log.warn("proxy", &format!("proxy: error on writing urls {error}"));
            }
            if new_peers != peer_urls && !new_peers.is_empty() {
                log.notice(
                    "proxy",
                    &format!(
                        "proxy: updated peer urls in cluster file from {peer_urls:?} to {new_peers:?}"
                    ),
                );
                peer_urls = new_peers;
            }
            director.set(client_urls);
        }
        let wait = if director.available().is_empty() {
            Duration::from_secs(1)
        } else {
            interval
        };
        tokio::time::sleep(wait).await;
    }
}

/// The cluster file as etcd writes it: `{"PeerURLs":[...]}`, synced, then
/// renamed into place.
fn write_cluster_file(path: &Path, peer_urls: &[String]) -> std::io::Result<()> {
    use std::io::Write;
    let body = serde_json::json!({ "PeerURLs": peer_urls }).to_string();
    let backup = path.with_extension("bak");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&backup)?;
    file.write_all(body.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&backup, path)
}

async fn local_config(proxy: Proxy, request: Request) -> Response {
    if request.method() != axum::http::Method::GET {
        return super::method_not_allowed(&["GET"]);
    }
    let body = serde_json::json!({ "endpoints": proxy.director.all() }).to_string() + "\n";
    Response::builder()
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .expect("valid response")
}

async fn forward(proxy: Proxy, request: Request) -> Response {
    if proxy.readonly && request.method() != axum::http::Method::GET {
        return Response::builder()
            .status(StatusCode::NOT_IMPLEMENTED)
            .body(Body::empty())
            .expect("valid response");
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return http_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "httpproxy: failed to read request body",
        );
    };
    let endpoints = proxy.director.available();
    if endpoints.is_empty() {
        return http_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "httpproxy: zero endpoints currently available",
        );
    }
    let mut headers = parts.headers.clone();
    strip_hop_headers(&mut headers);
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    for endpoint in &endpoints {
        match send(
            &proxy,
            endpoint,
            &parts.method,
            &path,
            &headers,
            body.clone(),
        )
        .await
        {
            Ok(response) => return response,
            Err(error) => {
                proxy.log.warn(
                    "proxy",
                    &format!("failed to direct request to {endpoint}: {error}"),
                );
                proxy.director.failed(endpoint);
            }
        }
    }
    http_error(
        StatusCode::BAD_GATEWAY,
        &format!(
            "httpproxy: unable to get response from {} endpoint(s)",
            endpoints.len()
        ),
    )
}

fn strip_hop_headers(headers: &mut HeaderMap) {
    for name in HOP_HEADERS {
        headers.remove(*name);
    }
}

/// One request to one endpoint; an error means: try the next.
async fn send(
    proxy: &Proxy,
    endpoint: &str,
    method: &axum::http::Method,
    path: &str,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, String> {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("http", endpoint));
    let authority = rest.split('/').next().unwrap_or(rest).to_string();
    let host = match authority.rsplit_once(':') {
        Some((host, _)) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        None => authority.clone(),
    };
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("dial tcp {authority}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        Ok::<_, String>(tcp)
    };
    let tcp = tokio::time::timeout(proxy.dial_timeout, connect)
        .await
        .map_err(|_| format!("dial tcp {authority}: i/o timeout"))??;
    let mut builder = hyper::Request::builder().method(method.clone()).uri(path);
    for (name, value) in headers {
        if name != axum::http::header::HOST {
            builder = builder.header(name, value);
        }
    }
    builder = builder.header(axum::http::header::HOST, authority.as_str());
    let request = builder
        .body(http_body_util::Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = if scheme == "https" {
        let tls = proxy
            .tls
            .as_ref()
            .ok_or_else(|| format!("{endpoint}: no client TLS configured"))?;
        let stream = tls.connect(tcp, &host).await.map_err(|e| e.to_string())?;
        exchange(TokioIo::new(stream), request).await?
    } else {
        exchange(TokioIo::new(tcp), request).await?
    };
    let (mut parts, incoming) = response.into_parts();
    strip_hop_headers(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(incoming)))
}

async fn exchange<S>(
    io: TokioIo<S>,
    request: hyper::Request<http_body_util::Full<bytes::Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    // Runs until the response body is read (a watch may stream for long).
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}
