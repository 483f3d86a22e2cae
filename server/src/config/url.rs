//! The URLs etcd accepts in its `--*-urls` flags and in `--initial-cluster`.
//!
//! etcd (`pkg/types/urls.go`) requires every URL to be `scheme://host:port` with a
//! scheme of http, https, unix or unixs and no path. Unix URLs use the same form
//! (`unix://name:port`): the listener takes `host:port` as the socket's name.
//! Port 0 is accepted ("any free port"), which tests rely on.

use std::fmt;
use std::net::IpAddr;

/// The scheme of a URL etcd accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    Http,
    Https,
    Unix,
    Unixs,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Unix => "unix",
            Scheme::Unixs => "unixs",
        }
    }

    /// Whether the scheme asks for TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Unixs)
    }

    /// A Unix domain socket (`unix://`, `unixs://`).
    pub fn is_unix(self) -> bool {
        matches!(self, Scheme::Unix | Scheme::Unixs)
    }
}

/// One `scheme://host:port` URL. `host` is kept without IPv6 brackets and may be
/// empty (`http://:2379`), as in Go; validation rejects an empty host where etcd does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

/// Why a URL was refused; the texts are etcd's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("no valid URLs given")]
    Empty,
    #[error("URL scheme must be http, https, unix, or unixs: {0}")]
    Scheme(String),
    #[error("URL address does not have the form \"host:port\": {0}")]
    HostPort(String),
    #[error("URL must not contain a path: {0}")]
    Path(String),
    #[error("parse {0:?}: invalid port {1:?} after host")]
    Port(String, String),
}

impl Url {
    /// Parses one URL with etcd's rules (surrounding whitespace is trimmed).
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let text = input.trim();
        let (scheme_text, rest) = match text.split_once("://") {
            Some(parts) => parts,
            None => return Err(UrlError::Scheme(text.to_string())),
        };
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "unix" => Scheme::Unix,
            "unixs" => Scheme::Unixs,
            _ => return Err(UrlError::Scheme(text.to_string())),
        };
        // Everything after the authority is a path (or query/fragment) to etcd.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(UrlError::HostPort(text.to_string()));
        }
        let (host, port_text) =
            split_host_port(authority).ok_or_else(|| UrlError::HostPort(text.to_string()))?;
        if !tail.is_empty() {
            return Err(UrlError::Path(text.to_string()));
        }
        if port_text.is_empty() {
            return Err(UrlError::HostPort(text.to_string()));
        }
        let port = port_text
            .parse::<u16>()
            .ok()
            .filter(|_| port_text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| UrlError::Port(text.to_string(), format!(":{port_text}")))?;
        Ok(Url {
            scheme,
            host: host.to_string(),
            port,
        })
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The URL as compared after name resolution. cairn resolves no names: it only
    /// maps `localhost` to `127.0.0.1`, which is what etcd's resolver yields on a
    /// usual host.
    pub(crate) fn resolved(&self) -> Url {
        let mut url = self.clone();
        if url.host.eq_ignore_ascii_case("localhost") {
            url.host = "127.0.0.1".to_string();
        }
        url
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host_port())
    }
}

/// Splits `host:port` the way Go's `net.SplitHostPort` does (IPv6 in brackets).
fn split_host_port(authority: &str) -> Option<(&str, &str)> {
    if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        let port = after.strip_prefix(':')?;
        if port.contains(':') {
            return None;
        }
        return Some((host, port));
    }
    let (host, port) = authority.rsplit_once(':')?;
    if host.contains(':') {
        return None; // an IPv6 address needs brackets
    }
    Some((host, port))
}

/// Parses a comma-separated URL list as etcd's `types.NewURLs` does: each item must
/// be valid and the result is sorted by its text. Duplicates are dropped.
pub fn parse_url_list(text: &str) -> Result<Vec<Url>, UrlError> {
    let mut urls = text
        .split(',')
        .map(Url::parse)
        .collect::<Result<Vec<_>, _>>()?;
    sort_urls(&mut urls);
    urls.dedup();
    Ok(urls)
}

/// Sorts URLs by their text, as Go's `types.URLs.Sort` does.
pub fn sort_urls(urls: &mut [Url]) {
    urls.sort_by_cached_key(|url| url.to_string());
}

/// Joins URLs with commas, the form etcd prints them in.
pub fn join_urls(urls: &[Url]) -> String {
    urls.iter()
        .map(Url::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_etcd_accepts() {
        let url = Url::parse(" http://localhost:2379 ").unwrap();
        assert_eq!(url.scheme, Scheme::Http);
        assert_eq!(url.host, "localhost");
        assert_eq!(url.port, 2379);
        assert_eq!(url.to_string(), "http://localhost:2379");
        assert_eq!(Url::parse("https://10.0.0.1:0").unwrap().port, 0);
        let v6 = Url::parse("http://[::1]:2380").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "http://[::1]:2380");
        assert_eq!(Url::parse("unix://sock:1").unwrap().scheme, Scheme::Unix);
        assert_eq!(Url::parse("HTTP://a:1").unwrap().scheme, Scheme::Http);
        assert_eq!(Url::parse("http://:2379").unwrap().host, "");
    }

    #[test]
    fn refuses_with_etcds_texts() {
        assert_eq!(
            Url::parse("ftp://x:1").unwrap_err().to_string(),
            "URL scheme must be http, https, unix, or unixs: ftp://x:1"
        );
        assert_eq!(
            Url::parse("http://127.0.0.1").unwrap_err().to_string(),
            "URL address does not have the form \"host:port\": http://127.0.0.1"
        );
        assert_eq!(
            Url::parse("http://127.0.0.1:2379/x")
                .unwrap_err()
                .to_string(),
            "URL must not contain a path: http://127.0.0.1:2379/x"
        );
        assert!(matches!(Url::parse("http://a:b"), Err(UrlError::Port(..))));
        assert!(matches!(
            Url::parse("http://a:70000"),
            Err(UrlError::Port(..))
        ));
        assert!(matches!(
            Url::parse("localhost:2379"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            Url::parse("http://::1:2"),
            Err(UrlError::HostPort(_))
        ));
    }

    #[test]
    fn lists_are_sorted_and_deduplicated() {
        let urls = parse_url_list("http://b:1,http://a:1,http://b:1").unwrap();
        assert_eq!(join_urls(&urls), "http://a:1,http://b:1");
        assert!(parse_url_list("http://a:1,").is_err());
    }
}
