//! The proxy's HTTP side: `/metrics` and `/health` (etcd's
//! `proxy/grpcproxy/metrics.go`, `health.go`).
//!
//! ```text
//!   GET /metrics ──▶ the first endpoint's /metrics (as etcd's proxy answers)
//!                    + the proxy's own etcd_grpc_proxy_* and cairn_grpc_proxy_*
//!   GET /proxy/metrics ──▶ the proxy's own only (as etcd 3.5's proxy)
//!   GET /health  ──▶ a Range of "a" through the cluster within 1 s:
//!                    {"health":"true"} (200) or {"health":"false"} (503)
//! ```
//!
//! etcd 3.4's proxy serves the member's body alone, and the member's
//! `etcd_grpc_proxy_*` lines there are its own (zero) gauges; cairn
//! replaces them with the proxy's, so the numbers mean something.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use cairn_proto::etcdserverpb as pb;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use prometheus::{Encoder, IntCounter, IntGauge, Registry, TextEncoder};

use super::upstream::Upstream;

/// How long `/health`'s read and the member's `/metrics` may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
const METRICS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// etcd's grpc-proxy metrics, plus cairn's count of upstream watches.
#[derive(Debug)]
pub struct ProxyMetrics {
    registry: Registry,
    pub watchers_coalescing: IntGauge,
    pub events_coalescing: IntCounter,
    pub cache_keys: IntGauge,
    pub cache_hits: IntGauge,
    pub cache_misses: IntGauge,
    /// Watches open on the cluster for client watches (cairn's own).
    pub upstream_watches: IntGauge,
    /// Client watches open through the proxy (cairn's own).
    pub client_watches: IntGauge,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    registry
        .register(Box::new(gauge.clone()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    gauge
}

impl Default for ProxyMetrics {
    fn default() -> ProxyMetrics {
        let registry = Registry::new();
        let events_coalescing = IntCounter::new(
            "etcd_grpc_proxy_events_coalescing_total",
            "Total number of events coalescing",
        )
        .unwrap_or_else(|e| panic!("metric: {e}"));
        registry
            .register(Box::new(events_coalescing.clone()))
            .unwrap_or_else(|e| panic!("metric: {e}"));
        ProxyMetrics {
            watchers_coalescing: gauge(
                &registry,
                "etcd_grpc_proxy_watchers_coalescing_total",
                "Total number of current watchers coalescing",
            ),
            events_coalescing,
            cache_keys: gauge(
                &registry,
                "etcd_grpc_proxy_cache_keys_total",
                "Total number of keys/ranges cached",
            ),
            cache_hits: gauge(
                &registry,
                "etcd_grpc_proxy_cache_hits_total",
                "Total number of cache hits",
            ),
            cache_misses: gauge(
                &registry,
                "etcd_grpc_proxy_cache_misses_total",
                "Total number of cache misses",
            ),
            upstream_watches: gauge(
                &registry,
                "cairn_grpc_proxy_upstream_watches",
                "Watches the proxy holds open on the cluster for its clients' watches",
            ),
            client_watches: gauge(
                &registry,
                "cairn_grpc_proxy_client_watches",
                "Client watches open through the proxy",
            ),
            registry,
        }
    }
}

impl ProxyMetrics {
    /// The proxy's own metrics in Prometheus' text format.
    pub fn text(&self) -> String {
        let mut text = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8_lossy(&text).into_owned()
    }
}

fn text_response(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("Content-Type", "text/plain; version=0.0.4")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// Where the member's `/metrics` is fetched from: the endpoint, and the
/// TLS to reach it with.
#[derive(Clone, Debug)]
pub struct MetricsSource {
    pub host: String,
    pub port: u16,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// `GET /metrics`.
pub async fn metrics(upstream: Arc<Upstream>, source: MetricsSource) -> Response<Body> {
    let fetched = tokio::time::timeout(METRICS_FETCH_TIMEOUT, fetch(&source)).await;
    let Ok(Ok(member)) = fetched else {
        return text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error\n".to_string(),
        );
    };
    let mut body = String::with_capacity(member.len() + 4096);
    let mut skipping = false;
    for line in member.lines() {
        // Drop the member's own (idle) grpc-proxy families: the proxy's replace them.
        let family = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        // A family starts at its HELP line; a sample line decides alone.
        if line.starts_with("# HELP ") || !line.starts_with('#') {
            skipping = family.starts_with("etcd_grpc_proxy_");
        }
        if !skipping {
            body.push_str(line);
            body.push('\n');
        }
    }
    body.push_str(&upstream.metrics.text());
    text_response(StatusCode::OK, body)
}

/// `GET /proxy/metrics`.
pub async fn proxy_metrics(upstream: Arc<Upstream>) -> Response<Body> {
    text_response(StatusCode::OK, upstream.metrics.text())
}

/// The member's `/metrics` body over HTTP/1.1 (plain or TLS).
async fn fetch(source: &MetricsSource) -> Result<String, String> {
    let stream = tokio::net::TcpStream::connect((source.host.as_str(), source.port))
        .await
        .map_err(|e| e.to_string())?;
    let request = axum::http::Request::get("/metrics")
        .header("Host", format!("{}:{}", source.host, source.port))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = match &source.tls {
        None => send(TokioIo::new(stream), request).await?,
        Some(config) => {
            let mut config = (**config).clone();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = cairn_client::tls::server_name(&source.host).map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, stream)
                .await
                .map_err(|e| e.to_string())?;
            send(TokioIo::new(tls), request).await?
        }
    };
    Ok(response)
}

async fn send<S>(
    io: TokioIo<S>,
    request: axum::http::Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<String, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `GET /health`: etcd's proxy reads "a"; permission denied counts as healthy.
pub async fn health(upstream: Arc<Upstream>) -> Response<Body> {
    let read = tokio::time::timeout(
        HEALTH_TIMEOUT,
        upstream.kv().range(pb::RangeRequest {
            key: upstream.namespace.key(b"a"),
            ..Default::default()
        }),
    )
    .await;
    let healthy = match read {
        Ok(Ok(_)) => true,
        Ok(Err(status)) => status.message() == "etcdserver: permission denied",
        Err(_) => false,
    };
    let (status, body) = if healthy {
        (StatusCode::OK, "{\"health\":\"true\"}")
    } else {
        // Go's http.Error adds a newline.
        (StatusCode::SERVICE_UNAVAILABLE, "{\"health\":\"false\"}\n")
    };
    Response::builder()
        .status(status)
        .body(Body::from(body))
        .unwrap_or_default()
}
