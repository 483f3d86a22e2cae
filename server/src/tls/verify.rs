//! Certificate checks beyond chain validation, as etcd makes them:
//!
//! * `--peer-cert-allowed-cn` / `--peer-cert-allowed-hostname` /
//!   `--client-cert-allowed-hostname`: checked during the handshake (a
//!   refusal sends the client a bad_certificate alert; we log "client
//!   certificate authentication failed");
//! * `--client-crl-file` / `--peer-crl-file`: after the handshake, against
//!   the file as it is then (etcd rereads it for every connection, so a new
//!   CRL needs no restart);
//! * peers only: a client certificate that names IP addresses or hosts must
//!   name the address the connection comes from (etcd's `checkCertSAN`,
//!   off with `--experimental-peer-skip-client-san-verification`).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

/// What the checks need from a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertFacts {
    pub common_name: Option<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    /// Big-endian magnitude, no leading zeros (Go's `SerialNumber.Bytes()`).
    pub serial: Vec<u8>,
}

impl CertFacts {
    /// `None` when the DER does not parse.
    pub fn parse(der: &[u8]) -> Option<CertFacts> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        let mut facts = CertFacts {
            common_name,
            serial: cert.serial.to_bytes_be(),
            ..CertFacts::default()
        };
        if facts.serial == [0] {
            facts.serial.clear();
        }
        if let Ok(Some(sans)) = cert.subject_alternative_name() {
            for name in &sans.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => facts.dns_names.push(dns.to_string()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            facts.ip_addresses.push(ip);
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(facts)
    }

    /// Go's `Certificate.VerifyHostname`: an IP is matched against the IP
    /// SANs, a name (case-insensitively, `*.` matching one label) against
    /// the DNS SANs. The CN is not consulted (Go 1.15 and later).
    pub fn matches_hostname(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.ip_addresses.contains(&ip);
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return false;
        }
        self.dns_names
            .iter()
            .any(|pattern| dns_name_matches(&pattern.to_ascii_lowercase(), &host))
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// One DNS SAN against a host name (both lowercase).
fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(suffix) => match host.split_once('.') {
            Some((label, rest)) => !label.is_empty() && rest == suffix,
            None => false,
        },
        None => pattern == host,
    }
}

/// Which names a client certificate must carry to be let in (etcd's
/// `AllowedCN` and `AllowedHostname`, mutually exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Anyone,
    CommonName(String),
    Hostname(String),
}

impl Allowed {
    pub fn admits(&self, facts: &CertFacts) -> bool {
        match self {
            Allowed::Anyone => true,
            Allowed::CommonName(cn) => facts.common_name.as_deref() == Some(cn.as_str()),
            Allowed::Hostname(host) => facts.matches_hostname(host),
        }
    }
}

/// Chain validation (webpki) followed by the allowed-name check. A refusal
/// is `NotValidForName`: the client gets a bad_certificate alert, as from
/// Go, and we log etcd's "client certificate authentication failed".
#[derive(Debug)]
pub struct CheckedClientVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub allowed: Allowed,
}

impl ClientCertVerifier for CheckedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.allowed == Allowed::Anyone {
            return Ok(verified);
        }
        match CertFacts::parse(end_entity) {
            Some(facts) if self.allowed.admits(&facts) => Ok(verified),
            _ => Err(Error::InvalidCertificate(CertificateError::NotValidForName)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Reads a CRL (PEM "X509 CRL" or DER) and refuses a chain any of whose
/// certificates it revokes, with etcd's text.
pub fn check_crl(crl_file: &Path, chain: &[CertificateDer<'_>]) -> Result<(), String> {
    let bytes = super::files::read(crl_file)?;
    let der = match CertificateRevocationListDer::from_pem_slice(&bytes) {
        Ok(der) => der.as_ref().to_vec(),
        Err(_) => bytes,
    };
    let (_, crl) = x509_parser::parse_x509_crl(&der)
        .map_err(|_| format!("{}: x509: malformed crl", crl_file.display()))?;
    for cert in chain {
        let Some(facts) = CertFacts::parse(cert) else {
            continue;
        };
        let revoked = crl.iter_revoked_certificates().any(|revoked| {
            let mut serial = revoked.user_certificate.to_bytes_be();
            if serial == [0] {
                serial.clear();
            }
            serial == facts.serial
        });
        if revoked {
            return Err(format!(
                "transport: certificate serial {} revoked",
                hex(&facts.serial)
            ));
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// etcd's `checkCertSAN` for peer connections: a client certificate without
/// IP or DNS SANs passes; otherwise the connection's source address must be
/// one of its IPs or what one of its DNS names resolves to.
pub async fn check_san(facts: &CertFacts, remote: IpAddr) -> Result<(), String> {
    if facts.ip_addresses.is_empty() && facts.dns_names.is_empty() {
        return Ok(());
    }
    if facts.ip_addresses.contains(&remote) {
        return Ok(());
    }
    if facts.dns_names.is_empty() {
        let valid: Vec<String> = facts.ip_addresses.iter().map(IpAddr::to_string).collect();
        return Err(format!(
            "x509: certificate is valid for {}, not {remote}",
            valid.join(", ")
        ));
    }
    let mut lookup_error = None;
    for name in facts.dns_names.iter().filter(|n| !n.starts_with("*.")) {
        match tokio::net::lookup_host((name.as_str(), 0)).await {
            Ok(mut addresses) => {
                if addresses.any(|address| address.ip() == remote) {
                    return Ok(());
                }
            }
            Err(error) => lookup_error = Some(error.to_string()),
        }
    }
    let names: Vec<String> = facts.dns_names.iter().map(|n| format!("{n:?}")).collect();
    let detail = lookup_error.map_or(String::new(), |e| format!(" ({e})"));
    Err(format!(
        "tls: \"{remote}\" does not match any of DNSNames [{}]{detail}",
        names.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(cn: &str, dns: &[&str], ips: &[&str]) -> CertFacts {
        CertFacts {
            common_name: Some(cn.to_string()),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            ip_addresses: ips.iter().map(|s| s.parse().unwrap()).collect(),
            serial: vec![1],
        }
    }

    #[test]
    fn hostnames_match_as_go_verifies_them() {
        let cert = facts(
            "m1",
            &["etcd.example.com", "*.peers.example.com"],
            &["10.0.0.1"],
        );
        assert!(cert.matches_hostname("etcd.example.com"));
        assert!(cert.matches_hostname("ETCD.example.com."));
        assert!(cert.matches_hostname("m1.peers.example.com"));
        assert!(
            !cert.matches_hostname("a.m1.peers.example.com"),
            "one label only"
        );
        assert!(!cert.matches_hostname("peers.example.com"));
        assert!(cert.matches_hostname("10.0.0.1"));
        assert!(!cert.matches_hostname("10.0.0.2"));
        assert!(!cert.matches_hostname("m1"), "the CN is not a hostname");
        assert!(!cert.matches_hostname(""));
        let v6 = facts("m1", &[], &["::1"]);
        assert!(v6.matches_hostname("[::1]"));
    }

    #[test]
    fn allowed_names() {
        let cert = facts("member-1", &["m1.example.com"], &[]);
        assert!(Allowed::Anyone.admits(&cert));
        assert!(Allowed::CommonName("member-1".into()).admits(&cert));
        assert!(!Allowed::CommonName("member-2".into()).admits(&cert));
        assert!(!Allowed::CommonName("member".into()).admits(&cert), "exact");
        assert!(Allowed::Hostname("m1.example.com".into()).admits(&cert));
        assert!(!Allowed::Hostname("member-1".into()).admits(&cert));
        let no_cn = CertFacts::default();
        assert!(!Allowed::CommonName(String::new()).admits(&no_cn));
    }

    #[tokio::test]
    async fn san_check_of_peer_connections() {
        let remote: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check_san(&facts("x", &[], &[]), remote).await.is_ok());
        assert!(check_san(&facts("x", &[], &["127.0.0.1"]), remote)
            .await
            .is_ok());
        assert_eq!(
            check_san(&facts("x", &[], &["10.0.0.1"]), remote).await,
            Err("x509: certificate is valid for 10.0.0.1, not 127.0.0.1".to_string())
        );
        assert!(check_san(&facts("x", &["localhost"], &[]), remote)
            .await
            .is_ok());
    }

    #[test]
    fn facts_from_a_generated_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "a.example".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0, 0x9a]));
        let cert = params.self_signed(&key).unwrap();
        let facts = CertFacts::parse(cert.der()).unwrap();
        assert_eq!(facts.common_name.as_deref(), Some("alice"));
        assert_eq!(facts.dns_names, ["a.example"]);
        assert_eq!(facts.ip_addresses, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(facts.serial, [0x9a]);
        assert!(CertFacts::parse(b"garbage").is_none());
    }
}
