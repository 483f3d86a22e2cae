//! Client listeners: plain, TLS, or both on one port, as etcd serves them.
//!
//! ```text
//!   accept ──▶ first byte ──0x16 (TLS handshake)──▶ TLS accept ──▶ hyper
//!                 │                                  │ refused: "rejected connection from ..."
//!                 └──anything else (HTTP/1.1, h2)───────────────▶ hyper
//! ```
//!
//! A port listed only as `https://` takes TLS only; only as `http://`, plain
//! only; listed both ways, the first byte decides. hyper serves gRPC (h2)
//! and the HTTP endpoints (HTTP/1.1) on every connection. On a TLS
//! connection with a verified client certificate, every request carries the
//! certificate's CN as a [`ClientCommonName`] extension.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::Request;
use cairn_runtime_tokio::{NetListener, NetStream};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::{Scheme, Url};
use crate::logging::Logger;
use crate::tls::{ClientCommonName, ServerTls, HANDSHAKE_TIMEOUT};

/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// One bound client port and what it serves.
#[derive(Debug)]
pub struct ClientListener {
    pub listener: NetListener,
    /// The address as configured (`host:port`; for a Unix URL, the socket
    /// file's name).
    pub address: String,
    /// Listed as `http://`.
    pub plain: bool,
    /// Listed as `https://`.
    pub tls: bool,
}

impl ClientListener {
    /// The address actually bound (port 0 resolved).
    pub fn local_address(&self) -> String {
        self.listener
            .local_address()
            .unwrap_or_else(|_| self.address.clone())
    }

    /// The TCP port bound (`None` for a Unix socket).
    pub fn local_port(&self) -> Option<u16> {
        match &self.listener {
            NetListener::Tcp(listener) => listener.local_addr().ok().map(|a| a.port()),
            NetListener::Unix { .. } => None,
        }
    }
}

/// Binds each client port once; a port listed as both `http://` and
/// `https://` (or `unix://` and `unixs://`) serves both (TCP port 0 always
/// means a new port). A Unix URL binds the socket file named by its
/// `host:port`, as etcd does.
pub async fn bind(urls: &[Url]) -> Result<Vec<ClientListener>, String> {
    let mut bound: Vec<ClientListener> = Vec::new();
    for url in urls {
        let address = url.host_port();
        let tls = url.scheme.is_tls();
        let unix = url.scheme.is_unix();
        if url.port != 0 || unix {
            if let Some(existing) = bound.iter_mut().find(|l| l.address == address) {
                existing.tls |= tls;
                existing.plain |= !tls;
                continue;
            }
        }
        let listener = NetListener::listen(unix, &address).await?;
        bound.push(ClientListener {
            listener,
            address,
            plain: !tls,
            tls,
        });
    }
    Ok(bound)
}

/// Whether any client URL asks for TLS.
pub fn any_tls(urls: &[Url]) -> bool {
    urls.iter()
        .any(|url| url.scheme == Scheme::Https || url.scheme == Scheme::Unixs)
}

/// Serves one client listener forever.
pub async fn serve(
    client: ClientListener,
    router: axum::Router,
    tls: Option<Arc<ServerTls>>,
    max_concurrent_streams: u32,
    log: Arc<Logger>,
) {
    let ClientListener {
        listener,
        address,
        plain,
        ..
    } = client;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                log.warn(
                    "embed",
                    &format!("accepting a client connection on {address} failed: {error}"),
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small gRPC frames must not wait for delayed ACKs (Nagle).
        let _ = stream.set_nodelay();
        let router = router.clone();
        let tls = tls.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let Some(tls) = tls else {
                serve_connection(stream, router, None, max_concurrent_streams).await;
                return;
            };
            if plain && !starts_with_tls(&stream).await {
                serve_connection(stream, router, None, max_concurrent_streams).await;
                return;
            }
            match tls.accept(stream, remote).await {
                Ok(accepted) => {
                    serve_connection(
                        accepted.stream,
                        router,
                        accepted.common_name,
                        max_concurrent_streams,
                    )
                    .await;
                }
                Err(rejected) => log.info("embed", &rejected.to_string()),
            }
        });
    }
}

/// Peeks at the first byte (waiting at most the handshake timeout).
async fn starts_with_tls(stream: &NetStream) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await,
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD
    )
}

/// HTTP/1.1 or h2 on one connection, with etcd's
/// `--max-concurrent-streams`; a connection's end (or a client's protocol
/// error) ends only it.
async fn serve_connection<S>(
    stream: S,
    router: axum::Router,
    common_name: Option<ClientCommonName>,
    max_concurrent_streams: u32,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = TowerToHyperService::new(WithCommonName {
        inner: router,
        common_name,
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http2()
        .max_concurrent_streams(max_concurrent_streams);
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Puts the connection's client certificate CN into every request.
#[derive(Clone, Debug)]
struct WithCommonName<S> {
    inner: S,
    common_name: Option<ClientCommonName>,
}

impl<S, B> tower::Service<Request<B>> for WithCommonName<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(name) = &self.common_name {
            request.extensions_mut().insert(name.clone());
        }
        self.inner.call(request)
    }
}
