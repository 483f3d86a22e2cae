//! Certificates, keys and CA bundles read from PEM files, and the
//! self-signed certificate `--auto-tls` / `--peer-auto-tls` generate.
//!
//! Every failure is a startup error naming the file, worded as Go's
//! `tls.X509KeyPair` words it; nothing a file holds can panic the server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

/// A certificate chain with its private key, read from `--cert-file` and
/// `--key-file`.
#[derive(Debug)]
pub struct KeyPair {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The same, loaded for signing (the key checked against the leaf).
    pub certified: Arc<CertifiedKey>,
}

/// Reads a certificate chain and its key; the key must match the leaf.
pub fn load_key_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<KeyPair, String> {
    let cert_pem = read(cert_file)?;
    let key_pem = read(key_file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    if chain.is_empty() {
        return Err(format!(
            "{}: tls: failed to find any PEM data in certificate input",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        format!(
            "{}: tls: failed to find any PEM data in key input",
            key_file.display()
        )
    })?;
    if x509_parser::parse_x509_certificate(&chain[0]).is_err() {
        return Err(format!(
            "{}: x509: malformed certificate",
            cert_file.display()
        ));
    }
    let certified =
        CertifiedKey::from_der(chain.clone(), key.clone_key(), provider).map_err(|error| {
            match error {
                rustls::Error::InconsistentKeys(_) => format!(
                    "{} and {}: tls: private key does not match public key",
                    cert_file.display(),
                    key_file.display()
                ),
                rustls::Error::InvalidCertificate(_) => {
                    format!("{}: x509: malformed certificate", cert_file.display())
                }
                _ => format!("{}: tls: failed to parse private key", key_file.display()),
            }
        })?;
    Ok(KeyPair {
        chain,
        key,
        certified: Arc::new(certified),
    })
}

/// Reads a CA bundle (`--trusted-ca-file`): every certificate in it becomes
/// a trust anchor. A bundle with none is an error, not an empty trust.
pub fn load_roots(ca_file: &Path) -> Result<RootCertStore, String> {
    let pem = read(ca_file)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|error| format!("{}: {error}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|_| format!("{}: x509: malformed certificate", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "{}: no CA certificate found (expected PEM \"CERTIFICATE\" blocks)",
            ca_file.display()
        ));
    }
    Ok(roots)
}

/// Reads a file, with Go's wording of the failure (`open /x: no such file or
/// directory`).
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("open {}: {}", path.display(), io_text(&error)))
}

/// `No such file or directory (os error 2)` → `no such file or directory`.
pub fn io_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(end) => text[..end].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Days a generated certificate is valid (etcd: one year).
const SELF_CERT_VALID_DAYS: i64 = 365;

/// etcd's `transport.SelfCert`: `<dir>/cert.pem` and `<dir>/key.pem`,
/// reused when both exist, else a new ECDSA key and a self-signed
/// certificate (organisation "etcd", valid one year) for `hosts` (the listen
/// URLs' hosts; IPs become IP SANs, names DNS SANs). `client_auth` adds the
/// client-authentication usage, for peers that present it when dialing.
pub fn self_cert(
    dir: &Path,
    hosts: &[String],
    client_auth: bool,
) -> Result<(PathBuf, PathBuf), String> {
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
        KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
    };
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create cert directory {}: {}",
            dir.display(),
            io_text(&e)
        )
    })?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| format!("cannot generate ECDSA key: {e}"))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "etcd");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(SELF_CERT_VALID_DAYS);
    let mut serial = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut serial)
        .map_err(|_| "cannot generate random number".to_string())?;
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if client_auth {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    for host in hosts {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            continue;
        }
        let san = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => match host.to_string().try_into() {
                Ok(name) => SanType::DnsName(name),
                Err(_) => continue,
            },
        };
        if !params.subject_alt_names.contains(&san) {
            params.subject_alt_names.push(san);
        }
    }
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot generate x509 certificate: {e}"))?;
    std::fs::write(&cert_path, cert.pem())
        .map_err(|e| format!("cannot cert file {}: {}", cert_path.display(), io_text(&e)))?;
    write_private(&key_path, key.serialize_pem().as_bytes())
        .map_err(|e| format!("cannot key file {}: {}", key_path.display(), io_text(&e)))?;
    Ok((cert_path, key_path))
}

/// Writes a file only its owner can read (mode 0600, as etcd's key.pem).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cairn-tls-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn self_cert_is_generated_once_and_loads() {
        let dir = temp("self");
        let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let (cert, key) = self_cert(&dir.join("fixtures/client"), &hosts, false).unwrap();
        let first = std::fs::read(&cert).unwrap();
        let provider = rustls::crypto::ring::default_provider();
        let pair = load_key_pair(&cert, &key, &provider).unwrap();
        assert_eq!(pair.chain.len(), 1);
        let (_, parsed) = x509_parser::parse_x509_certificate(&pair.chain[0]).unwrap();
        let sans = parsed.subject_alternative_name().unwrap().unwrap();
        assert_eq!(sans.value.general_names.len(), 2);
        // A second start reuses the files.
        let (again, _) = self_cert(&dir.join("fixtures/client"), &hosts, false).unwrap();
        assert_eq!(std::fs::read(again).unwrap(), first);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_garbage_and_mismatched_files_are_clear_errors() {
        let dir = temp("bad");
        let provider = rustls::crypto::ring::default_provider();
        let missing = load_key_pair(&dir.join("nope.pem"), &dir.join("nope.key"), &provider);
        assert_eq!(
            missing.unwrap_err(),
            format!(
                "open {}: no such file or directory",
                dir.join("nope.pem").display()
            )
        );
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, b"not a certificate\n").unwrap();
        let error = load_key_pair(&garbage, &garbage, &provider).unwrap_err();
        assert!(
            error.ends_with("tls: failed to find any PEM data in certificate input"),
            "{error}"
        );
        let (cert_a, _) = self_cert(&dir.join("a"), &[], false).unwrap();
        let (_, key_b) = self_cert(&dir.join("b"), &[], false).unwrap();
        let error = load_key_pair(&cert_a, &key_b, &provider).unwrap_err();
        assert!(
            error.ends_with("tls: private key does not match public key"),
            "{error}"
        );
        let error = load_key_pair(&cert_a, &garbage, &provider).unwrap_err();
        assert!(
            error.ends_with("tls: failed to find any PEM data in key input"),
            "{error}"
        );
        let error = load_roots(&garbage).unwrap_err();
        assert!(error.contains("no CA certificate found"), "{error}");
        // A PEM block whose body is not a certificate.
        let fake = dir.join("fake.pem");
        std::fs::write(
            &fake,
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let (_, key_a) = self_cert(&dir.join("a"), &[], false).unwrap();
        let error = load_key_pair(&fake, &key_a, &provider).unwrap_err();
        assert!(error.contains("x509: malformed certificate"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
