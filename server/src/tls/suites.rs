//! `--cipher-suites`: Go's cipher suite names, mapped onto the suites rustls
//! implements.
//!
//! Go applies the list to TLS 1.2 only; TLS 1.3 suites are always on and not
//! configurable, and naming one is accepted and changes nothing. cairn does
//! the same. rustls implements only the AEAD suites (AES-GCM, ChaCha20-Poly1305
//! with ECDHE); a Go name for a CBC, RC4 or 3DES suite is known but skipped
//! with a warning. A name Go does not know is refused with etcd's error.

use rustls::crypto::ring::{cipher_suite, DEFAULT_CIPHER_SUITES};
use rustls::SupportedCipherSuite;

/// The TLS 1.2 suites rustls (ring) implements, by every name Go accepts.
const SUPPORTED_TLS12: &[(&str, SupportedCipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    // Go's older spellings (tlsutil.GetCipherSuite accepts them).
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// TLS 1.3 suites: Go accepts the names and ignores them (TLS 1.3 suites are
/// not configurable), as cairn does.
const TLS13_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Suites Go knows (`tls.CipherSuites()` and `tls.InsecureCipherSuites()`)
/// that rustls does not implement.
const UNSUPPORTED_GO_NAMES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// The suites a configuration offers, and the names it had to skip.
#[derive(Debug)]
pub struct CipherSuites {
    /// In offer order: every TLS 1.3 suite, then the TLS 1.2 suites listed
    /// (all of them when the list is empty).
    pub suites: Vec<SupportedCipherSuite>,
    /// Names Go knows that rustls does not implement.
    pub skipped: Vec<String>,
}

/// Maps `--cipher-suites` names; an unknown name is etcd's startup error.
pub fn parse(names: &[String]) -> Result<CipherSuites, String> {
    let mut suites: Vec<SupportedCipherSuite> = DEFAULT_CIPHER_SUITES
        .iter()
        .copied()
        .filter(|suite| matches!(suite, SupportedCipherSuite::Tls13(_)))
        .collect();
    if names.is_empty() {
        suites.extend(
            DEFAULT_CIPHER_SUITES
                .iter()
                .copied()
                .filter(|suite| matches!(suite, SupportedCipherSuite::Tls12(_))),
        );
        return Ok(CipherSuites {
            suites,
            skipped: Vec::new(),
        });
    }
    let mut skipped = Vec::new();
    for name in names {
        if let Some((_, suite)) = SUPPORTED_TLS12.iter().find(|(known, _)| known == name) {
            let already = suites.iter().any(|s| s.suite() == suite.suite());
            if !already {
                suites.push(*suite);
            }
        } else if UNSUPPORTED_GO_NAMES.contains(&name.as_str()) {
            skipped.push(name.clone());
        } else if !TLS13_NAMES.contains(&name.as_str()) {
            return Err(format!("unexpected TLS cipher suite {name:?}"));
        }
    }
    Ok(CipherSuites { suites, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn tls12(suites: &CipherSuites) -> Vec<CipherSuite> {
        suites
            .suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .map(|s| s.suite())
            .collect()
    }

    #[test]
    fn an_empty_list_offers_every_suite() {
        let parsed = parse(&[]).unwrap();
        assert_eq!(parsed.suites.len(), DEFAULT_CIPHER_SUITES.len());
        assert!(parsed.skipped.is_empty());
    }

    #[test]
    fn listed_tls12_suites_keep_their_order_and_tls13_stays_on() {
        let parsed = parse(&names(&[
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ]))
        .unwrap();
        assert_eq!(
            tls12(&parsed),
            [
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ]
        );
        assert_eq!(parsed.suites.len(), 3 + 2, "three TLS 1.3 suites first");
    }

    #[test]
    fn go_aliases_and_duplicates() {
        let parsed = parse(&names(&[
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ]))
        .unwrap();
        assert_eq!(
            tls12(&parsed),
            [CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]
        );
    }

    #[test]
    fn tls13_names_are_accepted_and_change_nothing() {
        let parsed = parse(&names(&["TLS_AES_128_GCM_SHA256"])).unwrap();
        assert!(tls12(&parsed).is_empty());
        assert_eq!(parsed.suites.len(), 3);
    }

    #[test]
    fn suites_go_knows_but_rustls_lacks_are_skipped() {
        let parsed = parse(&names(&[
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ]))
        .unwrap();
        assert_eq!(parsed.skipped, ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]);
        assert_eq!(
            tls12(&parsed),
            [CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
    }

    #[test]
    fn unknown_names_are_etcds_error() {
        assert_eq!(
            parse(&names(&["TLS_FOO"])).unwrap_err(),
            "unexpected TLS cipher suite \"TLS_FOO\""
        );
        // Case matters, as in Go.
        assert!(parse(&names(&["tls_ecdhe_rsa_with_aes_128_gcm_sha256"])).is_err());
    }
}
