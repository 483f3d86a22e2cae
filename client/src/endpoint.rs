//! etcd-style endpoints: `host:port`, `http://host:port`, `https://host:port`,
//! `unix://socket` and `unixs://socket`, alone or in comma-separated lists
//! (`--endpoints`).
//!
//! Whether an endpoint is dialled over TLS follows etcd's client
//! (`client/v3/internal/endpoint`, "credentials requirement"):
//!
//! ```text
//!   written as           TLS options given      no TLS options
//!   https://host:port    TLS with them          TLS, system CA roots
//!   http://host:port     plain (options unused) plain
//!   host:port            TLS with them          plain
//!   unixs://socket       TLS with them          TLS, system CA roots
//!   unix://socket        plain (options unused) plain
//! ```
//!
//! A Unix endpoint names a socket file by everything after `unix://`, as
//! etcd's client does (`unix://localhost:2379` is the file `localhost:2379`
//! in the working directory, `unix:///run/etcd.sock` an absolute path).
//!
//! As in etcd, anything after the authority of a URL (a path, a query) is
//! ignored; a port is required (gRPC cannot dial without one).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// Longest host name accepted (RFC 1035's limit on a full domain name).
const HOST_NAME_BYTES_MAX: usize = 253;

/// How an endpoint was written, which decides its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `host:port`: TLS exactly when TLS options are given.
    Bare,
    /// `http://host:port`: always plain.
    Http,
    /// `https://host:port`: always TLS.
    Https,
    /// `unix://socket`: a Unix domain socket, plain.
    Unix,
    /// `unixs://socket`: a Unix domain socket, TLS.
    Unixs,
}

/// One parsed endpoint. Its [`Display`](fmt::Display) form parses back to
/// the same endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    scheme: Scheme,
    /// A name, an IPv4 address, or an IPv6 address without its brackets;
    /// for a Unix endpoint, the socket file's path (and the port is 0).
    host: String,
    port: u16,
}

/// Why an endpoint list was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("no endpoints given")]
    NoEndpoints,
    #[error("endpoint {endpoint:?}: {problem}")]
    Invalid { endpoint: String, problem: Problem },
}

/// What is wrong with one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("empty endpoint")]
    Empty,
    #[error("a Unix socket endpoint is written unix://<socket file> or unixs://<socket file>")]
    UnixSocket,
    #[error("unknown scheme {0:?} (expected http or https)")]
    UnknownScheme(String),
    #[error("user information in an endpoint is not supported")]
    UserInfo,
    #[error("missing port (expected host:port)")]
    MissingPort,
    #[error("invalid port {0:?} (expected 1 to 65535)")]
    InvalidPort(String),
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    #[error("an IPv6 address must be written in brackets, as [::1]:2379")]
    BareIpv6,
}

impl Endpoint {
    /// Parses one endpoint (surrounding white space is ignored).
    pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        parse_one(text.trim()).map_err(|problem| EndpointError::Invalid {
            endpoint: text.to_string(),
            problem,
        })
    }

    /// An endpoint from its parts; `host` is a name or an address (IPv6
    /// with or without brackets).
    pub fn new(scheme: Scheme, host: &str, port: u16) -> Result<Endpoint, EndpointError> {
        let bracketed;
        let host_text = if host.contains(':') && !host.starts_with('[') {
            bracketed = format!("[{host}]");
            bracketed.as_str()
        } else {
            host
        };
        let endpoint = Endpoint {
            scheme,
            host: parse_host(host_text).map_err(|problem| EndpointError::Invalid {
                endpoint: host.to_string(),
                problem,
            })?,
            port,
        };
        if port == 0 {
            return Err(EndpointError::Invalid {
                endpoint: endpoint.to_string(),
                problem: Problem::InvalidPort("0".to_string()),
            });
        }
        Ok(endpoint)
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host without brackets: `127.0.0.1`, `::1`, `m1.example.com`.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, an IPv6 host in brackets: what TCP connects to (for a
    /// Unix endpoint, `localhost`, the authority its requests carry).
    pub fn authority(&self) -> String {
        if self.socket_path().is_some() {
            "localhost".to_string()
        } else if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether this endpoint is dialled over TLS, given whether the client
    /// has TLS options (see the table at the top of this file).
    pub fn uses_tls(&self, tls_options_given: bool) -> bool {
        match self.scheme {
            Scheme::Https | Scheme::Unixs => true,
            Scheme::Http | Scheme::Unix => false,
            Scheme::Bare => tls_options_given,
        }
    }

    /// The socket file of a `unix://` or `unixs://` endpoint.
    pub fn socket_path(&self) -> Option<&str> {
        matches!(self.scheme, Scheme::Unix | Scheme::Unixs).then_some(self.host.as_str())
    }

    /// The name a TLS server's certificate is checked against: the host,
    /// or for a Unix socket the part of its file name before a `:port`
    /// (`localhost` for `unixs://localhost:2379`), as etcd's client does.
    pub fn tls_name(&self) -> &str {
        match self.socket_path() {
            Some(path) => {
                let file = path.rsplit('/').next().unwrap_or(path);
                match file.rsplit_once(':') {
                    Some((host, _)) if !host.is_empty() => host,
                    _ => "localhost",
                }
            }
            None => &self.host,
        }
    }

    /// The same host and port, as written with another scheme (a Unix
    /// endpoint keeps its own).
    pub fn with_scheme(&self, scheme: Scheme) -> Endpoint {
        if self.socket_path().is_some() {
            return self.clone();
        }
        Endpoint {
            scheme,
            ..self.clone()
        }
    }

    /// Whether two endpoints name the same server (same host and port,
    /// however they were written).
    pub fn same_server(&self, other: &Endpoint) -> bool {
        self.port == other.port && self.host.eq_ignore_ascii_case(&other.host)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.scheme {
            Scheme::Bare => "",
            Scheme::Http => "http://",
            Scheme::Https => "https://",
            Scheme::Unix => return write!(f, "unix://{}", self.host),
            Scheme::Unixs => return write!(f, "unixs://{}", self.host),
        };
        write!(f, "{prefix}{}", self.authority())
    }
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(text)
    }
}

/// Parses endpoint lists: each item may itself hold several endpoints
/// separated by commas (`--endpoints a:1,b:2` or repeated flags). An empty
/// item (`a:1,,b:2`, a trailing comma) is an error, not skipped, so a typo
/// does not silently shrink the cluster a client talks to.
pub fn parse_list<I, S>(items: I) -> Result<Vec<Endpoint>, EndpointError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut endpoints = Vec::new();
    for item in items {
        for text in item.as_ref().split(',') {
            endpoints.push(Endpoint::parse(text)?);
        }
    }
    if endpoints.is_empty() {
        return Err(EndpointError::NoEndpoints);
    }
    Ok(endpoints)
}

fn parse_one(text: &str) -> Result<Endpoint, Problem> {
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    let (scheme, authority) = match text.split_once("://") {
        Some((scheme, rest)) => {
            let scheme = match scheme.to_ascii_lowercase().as_str() {
                "http" => Scheme::Http,
                "https" => Scheme::Https,
                "unix" => return parse_unix(Scheme::Unix, rest),
                "unixs" => return parse_unix(Scheme::Unixs, rest),
                _ => return Err(Problem::UnknownScheme(scheme.to_string())),
            };
            // As etcd (Go's url.Host): the authority ends the URL's interest.
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            (scheme, &rest[..end])
        }
        None if text.starts_with("unix:") || text.starts_with("unixs:") => {
            return Err(Problem::UnixSocket)
        }
        None => (Scheme::Bare, text),
    };
    if authority.contains('@') {
        return Err(Problem::UserInfo);
    }
    let (host, port) = split_host_port(authority)?;
    Ok(Endpoint {
        scheme,
        host: parse_host(host)?,
        port: parse_port(port)?,
    })
}

/// A Unix endpoint: the socket file is everything up to a query or
/// fragment (etcd's client joins the URL's host and path).
fn parse_unix(scheme: Scheme, rest: &str) -> Result<Endpoint, Problem> {
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let path = &rest[..end];
    if path.is_empty() {
        return Err(Problem::Empty);
    }
    if path.contains('\0') {
        return Err(Problem::UnixSocket);
    }
    Ok(Endpoint {
        scheme,
        host: path.to_string(),
        port: 0,
    })
}

/// `host:port` or `[v6]:port` into its two texts.
fn split_host_port(authority: &str) -> Result<(&str, &str), Problem> {
    if authority.is_empty() {
        return Err(Problem::Empty);
    }
    if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or_else(|| Problem::InvalidHost(authority.to_string()))?;
        let (host, rest) = authority.split_at(close + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, port)),
            None if rest.is_empty() => Err(Problem::MissingPort),
            None => Err(Problem::InvalidHost(authority.to_string())),
        };
    }
    match authority.matches(':').count() {
        0 => Err(Problem::MissingPort),
        1 => Ok(authority.split_once(':').expect("one colon")),
        _ => Err(Problem::BareIpv6),
    }
}

fn parse_port(text: &str) -> Result<u16, Problem> {
    if text.is_empty() {
        return Err(Problem::MissingPort);
    }
    // u16's parser would also take "+80"; a port is digits only.
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::InvalidPort(text.to_string()));
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(Problem::InvalidPort(text.to_string())),
    }
}

/// A host as stored: a bracketed IPv6 address loses its brackets; a name
/// keeps to the characters host names and IPv4 addresses use.
fn parse_host(text: &str) -> Result<String, Problem> {
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| Problem::InvalidHost(text.to_string()))?;
        return match inner.parse::<Ipv6Addr>() {
            Ok(_) => Ok(inner.to_string()),
            Err(_) => Err(Problem::InvalidHost(text.to_string())),
        };
    }
    if let Ok(IpAddr::V4(_)) = text.parse::<IpAddr>() {
        return Ok(text.to_string());
    }
    let name_like = !text.is_empty()
        && text.len() <= HOST_NAME_BYTES_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && !text.starts_with(['.', '-'])
        && !text.contains("..");
    if name_like {
        Ok(text.to_string())
    } else {
        Err(Problem::InvalidHost(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Endpoint {
        Endpoint::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn problem(text: &str) -> Problem {
        match Endpoint::parse(text) {
            Err(EndpointError::Invalid { problem, .. }) => problem,
            other => panic!("{text}: expected a problem, got {other:?}"),
        }
    }

    #[test]
    fn the_three_forms_etcd_accepts() {
        let bare = parsed("127.0.0.1:2379");
        assert_eq!(
            (bare.scheme(), bare.host(), bare.port()),
            (Scheme::Bare, "127.0.0.1", 2379)
        );
        assert_eq!(parsed("http://localhost:2379").scheme(), Scheme::Http);
        let https = parsed("https://m1.example.com:2379");
        assert_eq!(
            (https.scheme(), https.host(), https.port()),
            (Scheme::Https, "m1.example.com", 2379)
        );
        let v6 = parsed("https://[::1]:2379");
        assert_eq!(v6.host(), "::1");
        assert_eq!(v6.authority(), "[::1]:2379");
        assert_eq!(v6.to_string(), "https://[::1]:2379");
    }

    #[test]
    fn tls_per_endpoint_follows_etcds_credentials_requirement() {
        for (text, with_options, without_options) in [
            ("https://h:1", true, true),
            ("http://h:1", false, false),
            ("h:1", true, false),
        ] {
            let endpoint = parsed(text);
            assert_eq!(endpoint.uses_tls(true), with_options, "{text}");
            assert_eq!(endpoint.uses_tls(false), without_options, "{text}");
        }
    }

    #[test]
    fn paths_and_queries_after_the_authority_are_ignored_as_etcd_does() {
        assert_eq!(parsed("http://h:1/").to_string(), "http://h:1");
        assert_eq!(parsed(" HTTPS://h:1/v3?x=1 ").to_string(), "https://h:1");
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        assert_eq!(problem(""), Problem::Empty);
        assert_eq!(problem("http://"), Problem::Empty);
        assert_eq!(problem("localhost"), Problem::MissingPort);
        assert_eq!(problem("http://h"), Problem::MissingPort);
        assert_eq!(problem("h:"), Problem::MissingPort);
        assert_eq!(problem("[::1]"), Problem::MissingPort);
        assert_eq!(problem("h:0"), Problem::InvalidPort("0".into()));
        assert_eq!(problem("h:+80"), Problem::InvalidPort("+80".into()));
        assert_eq!(problem("h:65536"), Problem::InvalidPort("65536".into()));
        assert_eq!(problem("h:1/x"), Problem::InvalidPort("1/x".into()));
        assert_eq!(problem("::1:2379"), Problem::BareIpv6);
        assert_eq!(problem("unix://"), Problem::Empty);
        assert_eq!(problem("unixs:a.sock"), Problem::UnixSocket);
        assert_eq!(problem("ftp://h:1"), Problem::UnknownScheme("ftp".into()));
        assert_eq!(problem("http://u:p@h:1"), Problem::UserInfo);
        assert_eq!(problem("h h:1"), Problem::InvalidHost("h h".into()));
        assert_eq!(problem("[nope]:1"), Problem::InvalidHost("[nope]".into()));
        let text = Endpoint::parse("h:0").unwrap_err().to_string();
        assert_eq!(
            text,
            "endpoint \"h:0\": invalid port \"0\" (expected 1 to 65535)"
        );
    }

    #[test]
    fn lists_split_on_commas_and_refuse_empty_items() {
        let endpoints = parse_list(["a:1,http://b:2", "https://c:3"]).expect("parses");
        let texts: Vec<String> = endpoints.iter().map(Endpoint::to_string).collect();
        assert_eq!(texts, ["a:1", "http://b:2", "https://c:3"]);
        assert_eq!(
            parse_list(Vec::<String>::new()),
            Err(EndpointError::NoEndpoints)
        );
        assert!(matches!(
            parse_list(["a:1,"]),
            Err(EndpointError::Invalid {
                problem: Problem::Empty,
                ..
            })
        ));
    }

    #[test]
    fn unix_endpoints_name_a_socket_file_as_etcds_client_does() {
        let relative = parsed("unix://localhost:2379");
        assert_eq!(relative.socket_path(), Some("localhost:2379"));
        assert_eq!(relative.to_string(), "unix://localhost:2379");
        assert_eq!(relative.tls_name(), "localhost");
        assert!(!relative.uses_tls(true));
        let absolute = parsed("unixs:///run/etcd/m1:2379");
        assert_eq!(absolute.socket_path(), Some("/run/etcd/m1:2379"));
        assert_eq!(absolute.tls_name(), "m1");
        assert!(absolute.uses_tls(false));
        assert_eq!(parsed("unix:///tmp/e.sock").tls_name(), "localhost");
        assert_eq!(relative.with_scheme(Scheme::Http), relative);
        assert_eq!(parsed(&relative.to_string()), relative);
        assert!(parsed("http://localhost:2379").socket_path().is_none());
    }

    #[test]
    fn endpoints_from_parts() {
        let v6 = Endpoint::new(Scheme::Http, "::1", 2379).expect("valid");
        assert_eq!(v6, parsed("http://[::1]:2379"));
        assert!(Endpoint::new(Scheme::Http, "h", 0).is_err());
        assert!(Endpoint::new(Scheme::Http, "a b", 1).is_err());
        assert!(parsed("H:1").same_server(&parsed("https://h:1")));
    }
}
