//! Dialling: an [`Endpoint`] becomes a tonic [`Channel`], plain or over
//! rustls, on TCP or a Unix socket. tonic sees a plain `http://host:port`
//! URI either way; for TLS or a Unix socket a connector underneath makes the
//! connection (and the handshake), so tonic needs no TLS feature of its own.
//!
//! ```text
//!   Endpoint ── TLS or Unix? ──no──▶ tonic Endpoint::connect (TCP)
//!                  │yes
//!                  ▼
//!   Connect (tower::Service<Uri>): TCP or Unix socket ─▶ [rustls handshake
//!                                  (ALPN h2, server name = endpoint host)]
//! ```
//!
//! The dial timeout bounds the connection and the handshake together.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use tonic::codegen::http::Uri;
use tonic::transport::Channel;

use crate::endpoint::{Endpoint, EndpointError};
use crate::tls::server_name;

/// etcdctl's `--dial-timeout` default.
pub const DIAL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);

/// Words a failed handshake (e.g. as Go's crypto/tls would, for a server
/// whose logs users grep).
pub type HandshakeErrorText = fn(&io::Error) -> String;

/// Opens gRPC channels to endpoints: `http://` plainly, `https://` with its
/// TLS configuration, bare `host:port` with TLS when it has one.
#[derive(Clone)]
pub struct Dialer {
    tls: Option<TlsConnector>,
    /// The same TLS configuration with ALPN `http/1.1`, for etcd's v2
    /// HTTP+JSON API ([`Dialer::connect_http1`]).
    http1_tls: Option<TlsConnector>,
    dial_timeout: Duration,
    request_timeout: Option<Duration>,
    handshake_error_text: Option<HandshakeErrorText>,
}

/// Why a channel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("cannot dial {endpoint}: no TLS configured for https")]
    NoTls { endpoint: String },
    #[error("cannot dial {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("tls", &self.tls.is_some())
            .field("dial_timeout", &self.dial_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Dialer {
    /// Plain connections only.
    fn default() -> Dialer {
        Dialer::new(None)
    }
}

impl Dialer {
    /// A dialer with this TLS configuration (its ALPN is set to `h2`, which
    /// gRPC needs; the caller's configuration is left as it is).
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>) -> Dialer {
        let with_alpn = |protocol: &[u8]| {
            tls.as_ref().map(|config| {
                let mut config = (**config).clone();
                config.alpn_protocols = vec![protocol.to_vec()];
                TlsConnector::from(Arc::new(config))
            })
        };
        Dialer {
            tls: with_alpn(b"h2"),
            http1_tls: with_alpn(b"http/1.1"),
            dial_timeout: DIAL_TIMEOUT_DEFAULT,
            request_timeout: None,
            handshake_error_text: None,
        }
    }

    /// How long the TCP connection and the TLS handshake may take together.
    pub fn with_dial_timeout(mut self, timeout: Duration) -> Dialer {
        self.dial_timeout = timeout;
        self
    }

    /// Every request on the channels opened from now on fails after this
    /// long (tonic's per-request timeout); none by default.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Dialer {
        self.request_timeout = Some(timeout);
        self
    }

    /// Words handshake failures with `text` instead of rustls's words.
    pub fn with_handshake_error_text(mut self, text: HandshakeErrorText) -> Dialer {
        self.handshake_error_text = Some(text);
        self
    }

    /// Whether bare `host:port` endpoints are dialled over TLS.
    pub fn has_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn dial_timeout(&self) -> Duration {
        self.dial_timeout
    }

    /// A connected channel to `endpoint`.
    pub async fn channel(&self, endpoint: &Endpoint) -> Result<Channel, DialError> {
        let (builder, connector) = self.prepare(endpoint)?;
        let result = match connector {
            None => builder.connect().await,
            Some(connector) => builder.connect_with_connector(connector).await,
        };
        result.map_err(|error| DialError::Connect {
            endpoint: endpoint.to_string(),
            message: error_chain(&error),
        })
    }

    /// A channel to `endpoint` that connects on its first request (and
    /// again after the connection breaks).
    pub fn lazy_channel(&self, endpoint: &Endpoint) -> Result<Channel, DialError> {
        let (builder, connector) = self.prepare(endpoint)?;
        Ok(match connector {
            None => builder.connect_lazy(),
            Some(connector) => builder.connect_with_connector_lazy(connector),
        })
    }

    /// [`Dialer::channel`] to an endpoint written as text (a member's
    /// client URL).
    pub async fn channel_to(&self, url: &str) -> Result<Channel, DialError> {
        self.channel(&Endpoint::parse(url)?).await
    }

    /// A connection to `endpoint` for HTTP/1.1 (etcd's v2 API): TCP or a
    /// Unix socket, under TLS (ALPN `http/1.1`) when the endpoint uses it;
    /// bounded by the dial timeout.
    pub async fn connect_http1(
        &self,
        endpoint: &Endpoint,
    ) -> Result<TokioIo<Box<dyn Io>>, DialError> {
        let failed = |message: String| DialError::Connect {
            endpoint: endpoint.to_string(),
            message,
        };
        let tls = if endpoint.uses_tls(self.has_tls()) {
            let Some(connector) = self.http1_tls.clone() else {
                return Err(DialError::NoTls {
                    endpoint: endpoint.to_string(),
                });
            };
            let name = server_name(endpoint.tls_name()).map_err(|e| failed(e.to_string()))?;
            Some((connector, name))
        } else {
            None
        };
        let mut connect = Connect {
            socket: endpoint.socket_path().map(str::to_string),
            tls,
            error_text: self.handshake_error_text,
        };
        let uri: Uri = format!("http://{}", endpoint.authority())
            .parse()
            .map_err(|e: tonic::codegen::http::uri::InvalidUri| failed(e.to_string()))?;
        match tokio::time::timeout(self.dial_timeout, tower::Service::call(&mut connect, uri)).await
        {
            Ok(Ok(io)) => Ok(io),
            Ok(Err(error)) => Err(failed(error.to_string())),
            Err(_) => Err(failed("i/o timeout".to_string())),
        }
    }

    fn prepare(
        &self,
        endpoint: &Endpoint,
    ) -> Result<(tonic::transport::Endpoint, Option<Connect>), DialError> {
        let builder =
            tonic::transport::Endpoint::from_shared(format!("http://{}", endpoint.authority()))
                .map_err(|error| DialError::Connect {
                    endpoint: endpoint.to_string(),
                    message: error_chain(&error),
                })?
                .connect_timeout(self.dial_timeout)
                .tcp_nodelay(true);
        let builder = match self.request_timeout {
            Some(timeout) => builder.timeout(timeout),
            None => builder,
        };
        let socket = endpoint.socket_path().map(str::to_string);
        if !endpoint.uses_tls(self.has_tls()) {
            return Ok((
                builder,
                socket.map(|socket| Connect {
                    socket: Some(socket),
                    tls: None,
                    error_text: None,
                }),
            ));
        }
        let Some(connector) = self.tls.clone() else {
            return Err(DialError::NoTls {
                endpoint: endpoint.to_string(),
            });
        };
        let name = server_name(endpoint.tls_name()).map_err(|error| DialError::Connect {
            endpoint: endpoint.to_string(),
            message: error.to_string(),
        })?;
        let connector = Connect {
            socket,
            tls: Some((connector, name)),
            error_text: self.handshake_error_text,
        };
        Ok((builder, Some(connector)))
    }
}

/// An error and its sources, outermost first ("transport error: tcp
/// connect error: Connection refused (os error 111)").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.ends_with(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        source = inner.source();
    }
    text
}

/// A dialled connection: TCP or a Unix socket, maybe under TLS.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// tonic's connector for TLS and Unix endpoints: TCP to the URI's authority
/// (or the endpoint's socket file), then, for TLS, the handshake with the
/// endpoint's host as the server name.
#[derive(Clone)]
struct Connect {
    /// The socket file of a Unix endpoint.
    socket: Option<String>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    error_text: Option<HandshakeErrorText>,
}

impl tower::Service<Uri> for Connect {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let stream: Box<dyn Io> = match &this.socket {
                Some(path) => Box::new(UnixStream::connect(path).await?),
                None => {
                    let authority =
                        uri.authority()
                            .map(|a| a.as_str().to_string())
                            .ok_or_else(|| {
                                io::Error::new(io::ErrorKind::InvalidInput, "no authority")
                            })?;
                    let tcp = TcpStream::connect(authority.as_str()).await?;
                    tcp.set_nodelay(true)?;
                    Box::new(tcp)
                }
            };
            let Some((connector, name)) = this.tls else {
                return Ok(TokioIo::new(stream));
            };
            let stream =
                connector
                    .connect(name, stream)
                    .await
                    .map_err(|error| match this.error_text {
                        Some(text) => io::Error::new(error.kind(), text(&error)),
                        None => error,
                    })?;
            Ok(TokioIo::new(Box::new(stream) as Box<dyn Io>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn https_without_tls_is_refused_before_dialling() {
        let endpoint = Endpoint::parse("https://127.0.0.1:1").expect("valid");
        let error = Dialer::default().channel(&endpoint).await.unwrap_err();
        assert!(matches!(error, DialError::NoTls { .. }), "{error}");
        // A bare endpoint without TLS is plain (and here, refused by TCP).
        let bare = Endpoint::parse("127.0.0.1:1").expect("valid");
        let error = Dialer::default().channel(&bare).await.unwrap_err();
        assert!(matches!(error, DialError::Connect { .. }), "{error}");
    }
}
