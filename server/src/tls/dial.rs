//! The dialing side: TLS to peers (`https://` peer URLs), and the dialer for
//! other members' client URLs (the server's own gRPC calls: lease
//! forwarding, the initial corruption check), which is cairn-client's with
//! this member's client TLS.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cairn_runtime_tokio::transport::{BoxFuture, BoxedStream, PeerSecurity};
use cairn_runtime_tokio::NetStream;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tonic::transport::Channel;

use super::accept::ServerTls;
use super::errors::{describe_io, End};

/// How long a dial (TCP connect plus handshake) may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

/// TLS for connections this member opens.
pub struct ClientTls {
    /// As built from the flags; gRPC dialing adds h2 by ALPN to its copy.
    config: Arc<ClientConfig>,
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
        let config = Arc::new(config);
        ClientTls {
            peer: TlsConnector::from(config.clone()),
            config,
        }
    }

    /// Handshakes `stream` with the peer at `host` (a name or an IP, which
    /// its certificate must carry unless verification is off).
    pub async fn connect<S>(&self, stream: S, host: &str) -> io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = cairn_client::tls::server_name(host)?;
        self.peer.connect(name, stream).await
    }
}

/// Opens gRPC channels to members' client URLs: `http://` plainly,
/// `https://` with this member's client TLS (its certificate as the client
/// certificate, verified against `--trusted-ca-file`, or not verified under
/// `--auto-tls`, as etcd's member-to-member client does). Handshake
/// failures are worded as Go's crypto/tls words them.
#[derive(Clone, Debug, Default)]
pub struct Dialer {
    dialer: cairn_client::Dialer,
}

impl Dialer {
    pub fn new(tls: Option<Arc<ClientTls>>) -> Dialer {
        let dialer = cairn_client::Dialer::new(tls.map(|tls| tls.config.clone()))
            .with_dial_timeout(DIAL_TIMEOUT)
            .with_handshake_error_text(|error| describe_io(error, End::Dialing));
        Dialer { dialer }
    }

    /// A connected channel whose requests time out after `timeout`.
    pub async fn channel(&self, url: &str, timeout: Duration) -> Result<Channel, String> {
        self.dialer
            .clone()
            .with_request_timeout(timeout)
            .channel_to(url)
            .await
            .map_err(|error| error.to_string())
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
        stream: NetStream,
        remote: Option<SocketAddr>,
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
        stream: NetStream,
        host: String,
    ) -> BoxFuture<'static, Result<BoxedStream, String>> {
        let client = self.client.clone();
        Box::pin(async move {
            match tokio::time::timeout(DIAL_TIMEOUT, client.connect(stream, &host)).await {
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
