//! The accepting side: a TLS handshake on an accepted connection, then
//! etcd's checks that need the connection (CRL, peers' SANs), and the
//! client certificate's CN for auth.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::errors::{describe_io, End};
use super::verify::{check_crl, check_san, CertFacts};
use super::ClientCommonName;

/// How long an accepted connection may take to finish its handshake (a
/// client that connects and says nothing is dropped, not kept forever).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS for one listener side.
#[derive(Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    crl_file: Option<PathBuf>,
    /// Peers only: the client certificate's SANs must name the remote address.
    check_san: bool,
}

/// A connection that passed the handshake and every check.
#[derive(Debug)]
pub struct Accepted<S> {
    pub stream: TlsStream<S>,
    /// The CN of the verified client certificate, if one was presented.
    pub common_name: Option<ClientCommonName>,
}

/// A refused connection; displays as etcd logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// `None` on a Unix socket (logged as Go logs one: "").
    pub remote: Option<SocketAddr>,
    pub error: String,
    pub server_name: String,
    /// The client certificate's SANs, when the refusal came after the
    /// handshake (etcd then logs them too).
    pub certificate: Option<(Vec<IpAddr>, Vec<String>)>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rejected connection from \"{}\" (error {:?}, ServerName {:?}",
            self.remote
                .map_or_else(String::new, |remote| remote.to_string()),
            self.error,
            self.server_name
        )?;
        if let Some((ips, names)) = &self.certificate {
            let ips: Vec<String> = ips.iter().map(|ip| format!("\"{ip}\"")).collect();
            let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
            write!(
                f,
                ", IPAddresses [{}], DNSNames [{}]",
                ips.join(" "),
                names.join(" ")
            )?;
        }
        write!(f, ")")
    }
}

impl ServerTls {
    pub fn new(config: Arc<ServerConfig>, crl_file: Option<PathBuf>, check_san: bool) -> ServerTls {
        ServerTls {
            config,
            crl_file,
            check_san,
        }
    }

    /// Handshakes `stream` (from `remote`; `None` on a Unix socket) within
    /// [`HANDSHAKE_TIMEOUT`] and checks the client certificate.
    pub async fn accept<S>(
        &self,
        stream: S,
        remote: Option<SocketAddr>,
    ) -> Result<Accepted<S>, Rejected>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.handshake(stream, remote)).await {
            Ok(result) => result,
            Err(_) => Err(Rejected {
                remote,
                error: "tls: handshake timed out".to_string(),
                server_name: String::new(),
                certificate: None,
            }),
        }
    }

    async fn handshake<S>(
        &self,
        stream: S,
        remote: Option<SocketAddr>,
    ) -> Result<Accepted<S>, Rejected>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let rejected = |error: String, server_name: &str| Rejected {
            remote,
            error,
            server_name: server_name.to_string(),
            certificate: None,
        };
        // Read the ClientHello first, so a failure can name the SNI.
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream)
            .await
            .map_err(|e| rejected(describe_io(&e, End::Accepting), ""))?;
        let server_name = start.client_hello().server_name().unwrap_or("").to_string();
        let stream = start
            .into_stream(self.config.clone())
            .await
            .map_err(|e| rejected(describe_io(&e, End::Accepting), &server_name))?;
        let (_, connection) = stream.get_ref();
        let chain: Vec<_> = connection
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let Some(leaf) = chain.first() else {
            return Ok(Accepted {
                stream,
                common_name: None,
            });
        };
        // The verifier parsed it already; a leaf x509-parser cannot read is
        // refused rather than let in without a name.
        let Some(facts) = CertFacts::parse(leaf) else {
            return Err(rejected("x509: malformed certificate".into(), &server_name));
        };
        let with_certificate = |error: String| Rejected {
            remote,
            error,
            server_name: server_name.clone(),
            certificate: Some((facts.ip_addresses.clone(), facts.dns_names.clone())),
        };
        if let Some(crl_file) = &self.crl_file {
            check_crl(crl_file, &chain).map_err(with_certificate)?;
        }
        if self.check_san {
            // A Unix socket's peer has no address to check: refused, as
            // etcd refuses it ("missing port in address").
            let remote = remote
                .ok_or_else(|| with_certificate("address : missing port in address".into()))?;
            check_san(&facts, remote.ip())
                .await
                .map_err(with_certificate)?;
        }
        Ok(Accepted {
            stream,
            common_name: facts.common_name.clone().map(ClientCommonName),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_read_as_etcds() {
        let remote: Option<SocketAddr> = Some("127.0.0.1:1234".parse().unwrap());
        let short = Rejected {
            remote,
            error: "remote error: tls: bad certificate".into(),
            server_name: String::new(),
            certificate: None,
        };
        assert_eq!(
            short.to_string(),
            r#"rejected connection from "127.0.0.1:1234" (error "remote error: tls: bad certificate", ServerName "")"#
        );
        let long = Rejected {
            certificate: Some((vec!["127.0.0.1".parse().unwrap()], vec!["localhost".into()])),
            error: "transport: certificate serial 02 revoked".into(),
            ..short
        };
        assert_eq!(
            long.to_string(),
            r#"rejected connection from "127.0.0.1:1234" (error "transport: certificate serial 02 revoked", ServerName "", IPAddresses ["127.0.0.1"], DNSNames ["localhost"])"#
        );
    }
}
