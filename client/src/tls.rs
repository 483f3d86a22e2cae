//! The client side of TLS, as etcdctl's flags describe it: `--cacert`,
//! `--cert`/`--key`, `--insecure-skip-tls-verify`. rustls on the ring
//! provider.
//!
//! Which certificates a server may show:
//!
//! ```text
//!   --insecure-skip-tls-verify   any (its signatures are still checked)
//!   --cacert FILE                those that chain to FILE's CAs
//!   neither                      those that chain to the system's CAs
//! ```
//!
//! The system's CAs are read from the same files Go reads on Linux (what
//! etcdctl trusts by default), starting with `$SSL_CERT_FILE`.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// CA bundles Go's crypto/x509 looks for on Linux, in its order.
const SYSTEM_CA_FILES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// TLS settings for dialling `https://` (and, with settings given, bare
/// `host:port`) endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `--cacert`: the CAs a server's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// `--cert`: the client certificate (chain) to present.
    pub cert_file: Option<PathBuf>,
    /// `--key`: the client certificate's private key.
    pub key_file: Option<PathBuf>,
    /// `--insecure-skip-tls-verify`: accept any server certificate.
    pub insecure_skip_verify: bool,
}

/// Why TLS settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}: no certificate found", path.display())]
    NoCertificate { path: PathBuf },
    #[error("a client certificate needs both --cert and --key")]
    HalfIdentity,
    #[error("no --cacert given and no system CA bundle found ($SSL_CERT_FILE, {})", SYSTEM_CA_FILES.join(", "))]
    NoSystemRoots,
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

impl TlsOptions {
    /// Whether any option was given: etcdctl then dials bare `host:port`
    /// endpoints over TLS too.
    pub fn is_empty(&self) -> bool {
        *self == TlsOptions::default()
    }

    /// The rustls configuration these options describe (without ALPN: the
    /// dialer adds `h2`).
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if self.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCert::new(provider)))
        } else {
            let roots = match &self.ca_file {
                Some(path) => roots_from(path)?,
                None => system_roots()?,
            };
            builder.with_root_certificates(roots)
        };
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
                    path: key.clone(),
                    message: e.to_string(),
                })?;
                builder
                    .with_client_auth_cert(certificates(cert)?, key_der)
                    .map_err(|e| TlsError::File {
                        path: cert.clone(),
                        message: e.to_string(),
                    })
            }
            (None, None) => Ok(builder.with_no_client_auth()),
            _ => Err(TlsError::HalfIdentity),
        }
    }
}

/// `127.0.0.1`, `::1`, `[::1]` or `example.com` as the name a server's
/// certificate is checked against (and sent as SNI when it is a name).
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
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

/// Every certificate of a PEM file; none is an error.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |e: rustls::pki_types::pem::Error| TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(file_error)?
        .collect::<Result<_, _>>()
        .map_err(file_error)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn roots_from(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path)? {
        roots.add(cert).map_err(|e| TlsError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// The first system CA bundle that holds a usable certificate. A bundle may
/// carry certificates rustls cannot use; those are skipped, as Go does.
fn system_roots() -> Result<RootCertStore, TlsError> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let candidates = from_env
        .into_iter()
        .chain(SYSTEM_CA_FILES.iter().map(PathBuf::from));
    for path in candidates {
        let Ok(certs) = certificates(&path) else {
            continue;
        };
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added > 0 {
            return Ok(roots);
        }
    }
    Err(TlsError::NoSystemRoots)
}

/// `--insecure-skip-tls-verify`: any certificate is accepted, but the
/// handshake's signatures are still checked against it.
#[derive(Debug)]
pub struct AnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl AnyServerCert {
    pub fn new(provider: Arc<CryptoProvider>) -> AnyServerCert {
        AnyServerCert { provider }
    }
}

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_addresses_or_dns_names() {
        assert!(matches!(
            server_name("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("m1.example.com").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(server_name("not a name").is_err());
    }

    #[test]
    fn half_an_identity_is_refused() {
        let options = TlsOptions {
            cert_file: Some("c.pem".into()),
            insecure_skip_verify: true,
            ..TlsOptions::default()
        };
        assert!(matches!(
            options.client_config(),
            Err(TlsError::HalfIdentity)
        ));
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let options = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let text = options.client_config().unwrap_err().to_string();
        assert!(text.starts_with("/nonexistent/ca.pem: "), "{text}");
    }
}
