//! TLS for client and peer connections (rustls on the ring provider):
//! certificates read from files or generated at startup (`--auto-tls`,
//! `--peer-auto-tls`), client-certificate checks as etcd makes them, and
//! the identity a verified client certificate carries.
//!
//! ```text
//!   flags (TlsSettings, --cipher-suites)
//!        │ build(side, ...)
//!        ▼
//!   SideTls ─┬─ server: ServerTls ── accept ──▶ client listener (serve.rs) / peer listener
//!            └─ client: ClientTls ── connect ─▶ peers (https:// peer URLs) /
//!                                               other members' client URLs (Dialer,
//!                                               cairn-client's with this TLS)
//! ```
//!
//! etcd's rules kept here: a TLS side exists when a certificate and key are
//! given or generated; client certificates are required when a trusted CA
//! is given or client-cert-auth is on; `--auto-tls` replaces the side's
//! settings with a self-signed certificate (and so turns client-cert-auth
//! off, as in etcd 3.4); `--peer-auto-tls` makes this member trust any
//! certificate a peer shows (etcd's `InsecureSkipVerify`).

mod accept;
mod dial;
pub mod errors;
mod files;
pub mod suites;
mod verify;

use std::path::Path;
use std::sync::Arc;

use cairn_client::tls::AnyServerCert;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};

use crate::config::TlsSettings;

pub use accept::{Accepted, Rejected, ServerTls, HANDSHAKE_TIMEOUT};
pub use dial::{ClientTls, Dialer, PeerTls};
pub use verify::{Allowed, CertFacts};

/// The subject common name of the verified client certificate a connection
/// presented. The listener inserts it into the extensions of every request on
/// that connection, so handlers read it with
/// `request.extensions().get::<ClientCommonName>()`; when auth is enabled it is
/// the user name, as in etcd.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientCommonName(pub String);

/// Which connections a TLS configuration is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Peer,
}

impl Side {
    /// The flag prefix: `--cert-file` / `--peer-cert-file`.
    fn flag_prefix(self) -> &'static str {
        match self {
            Side::Client => "",
            Side::Peer => "peer-",
        }
    }

    /// Where `--auto-tls` writes its files under the data directory.
    fn fixtures(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Peer => "peer",
        }
    }
}

/// One side's TLS, ready to accept and to dial.
#[derive(Debug)]
pub struct SideTls {
    pub server: Arc<ServerTls>,
    pub client: Arc<ClientTls>,
    /// etcd's description of the settings in force ("cert = ..., key = ...,
    /// trusted-ca = ..., client-cert-auth = ..., crl-file = ...").
    pub info: String,
    /// What startup should warn about (skipped cipher suites, an auto-tls
    /// that certificates override, dialing without a CA to verify against).
    pub warnings: Vec<String>,
}

/// Builds one side's TLS from its flags; `Ok(None)` when the side has no
/// certificate (plain connections only). `hosts` are the listen URLs' hosts,
/// for a generated certificate under `data_dir/fixtures/`.
pub fn build(
    side: Side,
    settings: &TlsSettings,
    cipher_suites: &[String],
    hosts: &[String],
    data_dir: &Path,
) -> Result<Option<SideTls>, String> {
    // etcd parses --cipher-suites for both sides whether or not TLS is used.
    let suites = suites::parse(cipher_suites)?;
    let prefix = side.flag_prefix();
    let mut warnings = Vec::new();
    let mut settings = settings.clone();
    let mut trust_any_server = side == Side::Peer && settings.auto_tls;
    if settings.auto_tls {
        if settings.cert_file.is_some() || settings.key_file.is_some() {
            warnings.push(format!(
                "ignoring {} auto TLS since certs given",
                side.fixtures()
            ));
        } else {
            let dir = data_dir.join("fixtures").join(side.fixtures());
            let (cert_file, key_file) = files::self_cert(&dir, hosts, side == Side::Peer)
                .map_err(|e| format!("could not get certs ({e})"))?;
            settings = TlsSettings {
                cert_file: Some(cert_file),
                key_file: Some(key_file),
                ..TlsSettings::default()
            };
            trust_any_server = true;
        }
    }
    let (cert_file, key_file) = match (&settings.cert_file, &settings.key_file) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (cert, key) => {
            return Err(format!(
                "KeyFile and CertFile must both be present[key: {}, cert: {}] (--{prefix}key-file, --{prefix}cert-file)",
                key.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                cert.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            ))
        }
    };
    for name in &suites.skipped {
        warnings.push(format!(
            "cipher suite {name} is not implemented by rustls (AEAD suites only); skipping it"
        ));
    }
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites.suites,
        ..rustls::crypto::ring::default_provider()
    });
    let pair = files::load_key_pair(&cert_file, &key_file, &provider)?;
    let allowed = match (&settings.allowed_cn, &settings.allowed_hostname) {
        (Some(cn), Some(host)) => {
            return Err(format!(
            "AllowedCN and AllowedHostname are mutually exclusive (cn={cn:?}, hostname={host:?})"
        ))
        }
        (Some(cn), None) => Allowed::CommonName(cn.clone()),
        (None, Some(host)) => Allowed::Hostname(host.clone()),
        (None, None) => Allowed::Anyone,
    };
    let roots = match &settings.trusted_ca_file {
        Some(file) => Some(Arc::new(files::load_roots(file)?)),
        None => None,
    };
    let client_verifier = match (&roots, settings.client_cert_auth) {
        (Some(roots), _) => {
            let inner = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| format!("--{prefix}trusted-ca-file: {e}"))?;
            Arc::new(verify::CheckedClientVerifier { inner, allowed }) as _
        }
        (None, true) => {
            return Err(format!(
                "--{prefix}client-cert-auth needs --{prefix}trusted-ca-file: there is no CA to check client certificates against"
            ))
        }
        (None, false) => WebPkiClientVerifier::no_client_auth(),
    };
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("--cipher-suites: {e}"))?
        .with_client_cert_verifier(client_verifier)
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
            pair.certified.clone(),
        )));
    if side == Side::Client {
        // gRPC needs h2 by ALPN; curl and browsers may ask for http/1.1.
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    let server_verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match (
        &roots,
        trust_any_server,
    ) {
        (Some(roots), false) => rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| format!("--{prefix}trusted-ca-file: {e}"))?,
        (None, false) => {
            warnings.push(match side {
                    Side::Client => "no --trusted-ca-file: calls to other members' client URLs (lease forwarding, the initial corruption check) do not verify their certificates".to_string(),
                    Side::Peer => "no --peer-trusted-ca-file: peers' certificates are not verified when dialing them".to_string(),
                });
            Arc::new(AnyServerCert::new(provider.clone()))
        }
        (_, true) => Arc::new(AnyServerCert::new(provider.clone())),
    };
    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("--cipher-suites: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(server_verifier)
        .with_client_auth_cert(pair.chain, pair.key)
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    let info = format!(
        "cert = {}, key = {}, trusted-ca = {}, client-cert-auth = {}, crl-file = {}",
        cert_file.display(),
        key_file.display(),
        path_text(&settings.trusted_ca_file),
        settings.client_cert_auth,
        path_text(&settings.crl_file),
    );
    let server = ServerTls::new(
        Arc::new(server),
        settings.crl_file.clone(),
        side == Side::Peer && !settings.skip_client_san_verification,
    );
    Ok(Some(SideTls {
        server: Arc::new(server),
        client: Arc::new(ClientTls::new(client)),
        info,
        warnings,
    }))
}

fn path_text(path: &Option<std::path::PathBuf>) -> String {
    path.as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
