//! The TLS files of `--cert/--key/--cacert` read before dialling, failing
//! as etcd's `transport.TLSInfo.ClientConfig` does (exit 128, Go's texts),
//! so a script sees the same error for a missing or mixed-up file.
//!
//! ```text
//!   --cert without --key   ─▶ KeyFile and CertFile must both be present[key: , cert: c.pem]
//!   missing file           ─▶ open c.pem: no such file or directory
//!   key file holds a cert  ─▶ tls: found a certificate rather than a key in the PEM for the private key
//! ```
//!
//! Only reading and the PEM block types are checked here; the certificates
//! themselves are parsed by cairn-client when it dials.

use crate::exit::CtlError;
use crate::flags::Values;

/// Checks the files the TLS flags name.
pub fn check(values: &Values) -> Result<(), CtlError> {
    let (cert, key) = (values.string("cert"), values.string("key"));
    if !cert.is_empty() || !key.is_empty() {
        if cert.is_empty() || key.is_empty() {
            return Err(CtlError::bad_args(format!(
                "KeyFile and CertFile must both be present[key: {key}, cert: {cert}]"
            )));
        }
        let cert_pem = read_file(&cert).map_err(CtlError::bad_args)?;
        let key_pem = read_file(&key).map_err(CtlError::bad_args)?;
        key_pair(&cert_pem, &key_pem).map_err(CtlError::bad_args)?;
    }
    let ca = values.string("cacert");
    if !ca.is_empty() {
        read_file(&ca).map_err(CtlError::bad_args)?;
    }
    Ok(())
}

/// Go's `ioutil.ReadFile`, its errors worded as Go's (`open x: no such file
/// or directory`, `read x: is a directory`).
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let go = |op: &str, e: std::io::Error| {
        let text = e.to_string();
        let text = text.split(" (os error").next().unwrap_or(&text);
        let mut chars = text.chars();
        let lowered: String = chars
            .next()
            .map(|c| c.to_lowercase().chain(chars).collect())
            .unwrap_or_default();
        format!("{op} {path}: {lowered}")
    };
    let mut file = std::fs::File::open(path).map_err(|e| go("open", e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| go("read", e))?;
    Ok(bytes)
}

/// The types of the PEM blocks in `text` (`-----BEGIN X-----` lines that
/// have their `-----END X-----`).
fn pem_types(text: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(text);
    let mut types = Vec::new();
    let mut rest: &str = &text;
    while let Some(at) = rest.find("-----BEGIN ") {
        let after = &rest[at + 11..];
        let Some(close) = after.find("-----") else {
            break;
        };
        let kind = &after[..close];
        let end = format!("-----END {kind}-----");
        match after.find(&end) {
            Some(stop) => {
                types.push(kind.to_string());
                rest = &after[stop + end.len()..];
            }
            None => break,
        }
    }
    types
}

/// The PEM checks of Go's `tls.X509KeyPair`: a CERTIFICATE block in the
/// certificate file, a `... PRIVATE KEY` block in the key file.
fn key_pair(cert: &[u8], key: &[u8]) -> Result<(), String> {
    let cert_types = pem_types(cert);
    if !cert_types.iter().any(|t| t == "CERTIFICATE") {
        return Err(match cert_types.as_slice() {
            [] => "tls: failed to find any PEM data in certificate input".to_string(),
            [only] if only.ends_with("PRIVATE KEY") => "tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".to_string(),
            skipped => format!("tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [{}]", skipped.join(" ")),
        });
    }
    let key_types = pem_types(key);
    let is_key = |t: &String| t == "PRIVATE KEY" || t.ends_with(" PRIVATE KEY");
    if !key_types.iter().any(is_key) {
        return Err(match key_types.as_slice() {
            [] => "tls: failed to find any PEM data in key input".to_string(),
            [only] if only == "CERTIFICATE" => "tls: found a certificate rather than a key in the PEM for the private key".to_string(),
            skipped => format!("tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [{}]", skipped.join(" ")),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_told_apart() {
        let cert = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let key = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem_types(cert), ["CERTIFICATE"]);
        assert!(key_pair(cert, key).is_ok());
        assert_eq!(
            key_pair(cert, cert).unwrap_err(),
            "tls: found a certificate rather than a key in the PEM for the private key"
        );
        assert!(key_pair(key, key)
            .unwrap_err()
            .contains("PEM inputs may have been switched"));
        assert_eq!(
            key_pair(b"junk", key).unwrap_err(),
            "tls: failed to find any PEM data in certificate input"
        );
    }
}
