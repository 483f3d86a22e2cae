//! The dialing side: TLS to peers (`https://` peer URLs) and to other
//! members' client URLs for the server's own gRPC calls (lease forwarding,
//! the initial corruption check).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use cairn_runtime_tokio::transport::{BoxFuture, BoxedStream, PeerSecurity};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};

use super::accept::ServerTls;
use super::errors::{describe_io, End};

/// How long a dial (TCP connect plus handshake) may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

/// TLS for connections this member opens.
pub struct ClientTls {
    /// For gRPC: offers h2 by ALPN.
    grpc: TlsConnector,
    /// For the peer transport (its own framing; no ALPN).
    peer: TlsConnector,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

impl ClientTls {
    pub fn new(config: ClientConfig) -> ClientTls {
        let mut grpc = config.clone();
        grpc.alpn_protocols = vec![b"h2".to_vec()];
        ClientTls {
            grpc: TlsConnector::from(Arc::new(grpc)),
            peer: TlsConnector::from(Arc::new(config)),
        }
    }

    /// Handshakes `stream` with the server at `host` (a name or an IP, which
    /// its certificate must carry unless verification is off).
    pub async fn connect<S>(&self, stream: S, host: &str, grpc: bool) -> io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = server_name(host)?;
        let connector = if grpc { &self.grpc } else { &self.peer };
        connector.connect(name, stream).await
    }
}

/// `127.0.0.1`, `[::1]` or `example.com` as the name a certificate is checked
/// against.
fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid server name {host:?}"),
        )
    })
}

/// Splits `scheme://host:port[/...]` into its scheme, `host:port` and host.
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    Some((scheme, authority, host))
}

/// Opens gRPC channels to members' client URLs: `http://` plainly,
/// `https://` with this member's client TLS (its certificate as the client
/// certificate, verified against `--trusted-ca-file`, or not verified under
/// `--auto-tls`, as etcd's member-to-member client does).
#[derive(Clone, Debug, Default)]
pub struct Dialer {
    tls: Option<Arc<ClientTls>>,
}

impl Dialer {
    pub fn new(tls: Option<Arc<ClientTls>>) -> Dialer {
        Dialer { tls }
    }

    /// A connected channel whose requests time out after `timeout`.
    pub async fn channel(&self, url: &str, timeout: Duration) -> Result<Channel, String> {
        let Some((scheme, authority, host)) = split_url(url) else {
            return Err(format!("invalid URL {url:?}"));
        };
        if scheme != "https" {
            return Endpoint::from_shared(url.to_string())
                .map_err(|e| e.to_string())?
                .connect_timeout(DIAL_TIMEOUT)
                .timeout(timeout)
                .connect()
                .await
                .map_err(|e| e.to_string());
        }
        let Some(tls) = self.tls.clone() else {
            return Err(format!(
                "cannot dial {url}: no client TLS configured (--cert-file/--key-file or --auto-tls)"
            ));
        };
        // tonic sees a plain URI; the connector below does the TLS.
        let endpoint = Endpoint::from_shared(format!("http://{authority}"))
            .map_err(|e| e.to_string())?
            .connect_timeout(DIAL_TIMEOUT)
            .timeout(timeout);
        let connector = TlsConnectService {
            tls,
            host: host.to_string(),
        };
        endpoint
            .connect_with_connector(connector)
            .await
            .map_err(|e| {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(inner) = source {
                    text = format!("{text}: {inner}");
                    source = inner.source();
                }
                text
            })
    }
}

/// tonic's connector for `https://` members: TCP, then the TLS handshake.
#[derive(Clone)]
struct TlsConnectService {
    tls: Arc<ClientTls>,
    host: String,
}

impl tower::Service<Uri> for TlsConnectService {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        let host = self.host.clone();
        Box::pin(async move {
            let authority = uri
                .authority()
                .map(|a| a.as_str().to_string())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no authority"))?;
            let tcp = TcpStream::connect(authority.as_str()).await?;
            tcp.set_nodelay(true)?;
            let stream = tls
                .connect(tcp, &host, true)
                .await
                .map_err(|e| io::Error::new(e.kind(), describe_io(&e, End::Dialing)))?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// TLS for the peer transport (`https://` peer URLs).
#[derive(Debug, Clone)]
pub struct PeerTls {
    pub server: Arc<ServerTls>,
    pub client: Arc<ClientTls>,
}

impl PeerSecurity for PeerTls {
    fn accept(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
    ) -> BoxFuture<'static, Result<BoxedStream, String>> {
        let server = self.server.clone();
        Box::pin(async move {
            match server.accept(stream, remote).await {
                Ok(accepted) => Ok(Box::new(accepted.stream) as BoxedStream),
                Err(rejected) => Err(rejected.to_string()),
            }
        })
    }

    fn connect(
        &self,
        stream: TcpStream,
        host: String,
    ) -> BoxFuture<'static, Result<BoxedStream, String>> {
        let client = self.client.clone();
        Box::pin(async move {
            match tokio::time::timeout(DIAL_TIMEOUT, client.connect(stream, &host, false)).await {
                Ok(Ok(stream)) => Ok(Box::new(stream) as BoxedStream),
                Ok(Err(error)) => Err(describe_io(&error, End::Dialing)),
                Err(_) => Err("tls: handshake timed out".to_string()),
            }
        })
    }

    /// Only TLS failures (a peer's alert) are worth a log line; a plain
    /// reset or close is a peer going away.
    fn describe(&self, error: &io::Error) -> Option<String> {
        let tls = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())?;
        Some(super::errors::describe(tls, End::Dialing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_what_dialing_needs() {
        assert_eq!(
            split_url("https://127.0.0.1:2379"),
            Some(("https", "127.0.0.1:2379", "127.0.0.1"))
        );
        assert_eq!(
            split_url("https://[::1]:2379/"),
            Some(("https", "[::1]:2379", "[::1]"))
        );
        assert_eq!(
            split_url("http://example.com"),
            Some(("http", "example.com", "example.com"))
        );
        assert_eq!(split_url("nope"), None);
        assert!(matches!(
            server_name("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("m1.example.com").unwrap(),
            ServerName::DnsName(_)
        ));
    }
}
