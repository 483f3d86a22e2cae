//! TLS failures in the words of Go's crypto/tls and crypto/x509, which is
//! what etcd logs and what its users grep for ("remote error: tls: bad
//! certificate", "x509: certificate signed by unknown authority", ...).

use std::io;

use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError, Error, InvalidMessage, PeerIncompatible};

/// Which end of the handshake saw the failure: a server words a bad client
/// certificate differently from a client that distrusts the server's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// We accepted the connection and checked the client's certificate.
    Accepting,
    /// We dialed and checked the server's certificate.
    Dialing,
}

/// The text of a failed handshake (an I/O error from tokio-rustls).
pub fn describe_io(error: &io::Error, end: End) -> String {
    if let Some(tls) = error.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        return describe(tls, end);
    }
    match error.kind() {
        io::ErrorKind::UnexpectedEof => "EOF".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        io::ErrorKind::BrokenPipe => "broken pipe".to_string(),
        io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => error.to_string(),
    }
}

/// The text of a rustls error, as Go would put it.
pub fn describe(error: &Error, end: End) -> String {
    match error {
        Error::AlertReceived(alert) => format!("remote error: tls: {}", alert_text(*alert)),
        Error::NoCertificatesPresented => match end {
            End::Accepting => "tls: client didn't provide a certificate".to_string(),
            End::Dialing => "tls: server didn't provide a certificate".to_string(),
        },
        Error::InvalidCertificate(CertificateError::NotValidForName) if end == End::Accepting => {
            // The allowed CN / hostname check (see verify.rs) reports this.
            "client certificate authentication failed".to_string()
        }
        Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
            if end == End::Accepting =>
        {
            "client certificate authentication failed".to_string()
        }
        Error::InvalidCertificate(certificate) => {
            let x509 = x509_text(certificate);
            match end {
                End::Accepting => format!("tls: failed to verify client certificate: {x509}"),
                End::Dialing => x509,
            }
        }
        Error::InvalidMessage(
            InvalidMessage::InvalidContentType | InvalidMessage::UnknownProtocolVersion,
        ) => "tls: first record does not look like a TLS handshake".to_string(),
        Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon) => {
            "tls: no cipher suite supported by both client and server".to_string()
        }
        Error::PeerIncompatible(
            PeerIncompatible::SupportedVersionsExtensionRequired
            | PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled,
        ) => "tls: client offered only unsupported versions".to_string(),
        other => format!("tls: {other}"),
    }
}

fn x509_text(error: &CertificateError) -> String {
    match error {
        CertificateError::UnknownIssuer => "x509: certificate signed by unknown authority".into(),
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => {
            "x509: certificate has expired or is not yet valid".into()
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = match expected {
                ServerName::DnsName(name) => name.as_ref().to_string(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                other => format!("{other:?}"),
            };
            // rustls words each name as `DnsName("a.b")` or `IpAddress(1.2.3.4)`.
            let presented: Vec<&str> = presented
                .iter()
                .map(|name| {
                    let name = name.trim_end_matches(')');
                    let name = name
                        .strip_prefix("DnsName(")
                        .or_else(|| name.strip_prefix("IpAddress("))
                        .unwrap_or(name);
                    name.trim_matches('"')
                })
                .collect();
            format!(
                "x509: certificate is valid for {}, not {expected}",
                presented.join(", ")
            )
        }
        CertificateError::NotValidForName => {
            "x509: certificate is not valid for the requested name".into()
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "x509: certificate specifies an incompatible key usage".into()
        }
        CertificateError::Revoked => "x509: certificate revoked".into(),
        CertificateError::BadEncoding => "x509: malformed certificate".into(),
        other => format!("x509: {other}"),
    }
}

/// Go's `alert.String()` texts.
fn alert_text(alert: AlertDescription) -> String {
    let text = match alert {
        AlertDescription::CloseNotify => "close notify",
        AlertDescription::UnexpectedMessage => "unexpected message",
        AlertDescription::BadRecordMac => "bad record MAC",
        AlertDescription::DecryptionFailed => "decryption failed",
        AlertDescription::RecordOverflow => "record overflow",
        AlertDescription::DecompressionFailure => "decompression failure",
        AlertDescription::HandshakeFailure => "handshake failure",
        AlertDescription::BadCertificate => "bad certificate",
        AlertDescription::UnsupportedCertificate => "unsupported certificate",
        AlertDescription::CertificateRevoked => "revoked certificate",
        AlertDescription::CertificateExpired => "expired certificate",
        AlertDescription::CertificateUnknown => "unknown certificate",
        AlertDescription::IllegalParameter => "illegal parameter",
        AlertDescription::UnknownCA => "unknown certificate authority",
        AlertDescription::AccessDenied => "access denied",
        AlertDescription::DecodeError => "error decoding message",
        AlertDescription::DecryptError => "error decrypting message",
        AlertDescription::ProtocolVersion => "protocol version not supported",
        AlertDescription::InsufficientSecurity => "insufficient security level",
        AlertDescription::InternalError => "internal error",
        AlertDescription::InappropriateFallback => "inappropriate fallback",
        AlertDescription::UserCanceled => "user canceled",
        AlertDescription::NoRenegotiation => "no renegotiation",
        AlertDescription::MissingExtension => "missing extension",
        AlertDescription::UnsupportedExtension => "unsupported extension",
        AlertDescription::UnrecognisedName => "unrecognized name",
        AlertDescription::UnknownPSKIdentity => "unknown PSK identity",
        AlertDescription::CertificateRequired => "certificate required",
        AlertDescription::NoApplicationProtocol => "no application protocol",
        other => return format!("alert({})", u8::from(other)),
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_words_for_common_failures() {
        assert_eq!(
            describe(
                &Error::AlertReceived(AlertDescription::BadCertificate),
                End::Accepting
            ),
            "remote error: tls: bad certificate"
        );
        assert_eq!(
            describe(&Error::NoCertificatesPresented, End::Accepting),
            "tls: client didn't provide a certificate"
        );
        assert_eq!(
            describe(
                &Error::InvalidCertificate(CertificateError::UnknownIssuer),
                End::Accepting
            ),
            "tls: failed to verify client certificate: x509: certificate signed by unknown authority"
        );
        assert_eq!(
            describe(
                &Error::InvalidCertificate(CertificateError::UnknownIssuer),
                End::Dialing
            ),
            "x509: certificate signed by unknown authority"
        );
        assert_eq!(
            describe(
                &Error::InvalidCertificate(CertificateError::NotValidForName),
                End::Accepting
            ),
            "client certificate authentication failed"
        );
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(describe_io(&eof, End::Accepting), "EOF");
        let wrapped = io::Error::new(
            io::ErrorKind::InvalidData,
            Error::AlertReceived(AlertDescription::UnknownCA),
        );
        assert_eq!(
            describe_io(&wrapped, End::Dialing),
            "remote error: tls: unknown certificate authority"
        );
    }
}
