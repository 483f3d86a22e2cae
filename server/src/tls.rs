//! TLS for client and peer connections (rustls): certificates from files or
//! generated at startup (`--auto-tls`), client-certificate checks, and the
//! identity a verified client certificate carries.

/// The subject common name of the verified client certificate a connection
/// presented. The listener inserts it into the extensions of every request on
/// that connection, so handlers read it with
/// `request.extensions().get::<ClientCommonName>()`; when auth is enabled it is
/// the user name, as in etcd.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientCommonName(pub String);
