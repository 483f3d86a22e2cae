//! What an etcd discovery service speaks: the v2 keys API's answers and
//! errors, discovery URLs and key paths, and the rules that turn the
//! registrations under a token into an initial cluster (etcd 3.4's
//! `etcdserver/api/v2discovery` and its v2 client). The session that uses
//! them is [`super::v2`].
//!
//! The decoders here never panic: whatever the service answers that is not
//! what etcd's v2 client expects becomes one of etcd's errors.

use serde::Deserialize;

use crate::config::InitialCluster;

/// etcd's `v2discovery` errors, with its texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("discovery: invalid URL")]
    InvalidUrl,
    #[error("discovery: size key is bad")]
    BadSizeKey,
    #[error("discovery: size key not found")]
    SizeNotFound,
    #[error("discovery: found duplicate id")]
    DuplicateId,
    #[error("discovery: found duplicate name")]
    DuplicateName,
    #[error("discovery: cluster is full")]
    FullCluster,
    #[error("discovery: bad discovery endpoint")]
    BadDiscoveryEndpoint,
    /// An error the keys API answered with (etcd's `client.Error`).
    #[error("{0}")]
    Keys(KeysError),
    /// Anything else: a bad URL, a transport failure that is not retried.
    #[error("{0}")]
    Other(String),
}

/// An error of the v2 keys API: `{"errorCode":100,"message":"Key not found",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, thiserror::Error)]
#[error("{code}: {message} ({cause}) [{index}]")]
pub struct KeysError {
    #[serde(rename = "errorCode", default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub index: u64,
}

/// The v2 keys API's "key already exists".
pub(super) const ERROR_NODE_EXIST: i64 = 105;

/// One node of a keys API answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Node {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub dir: bool,
    #[serde(default)]
    pub nodes: Option<Vec<Node>>,
    #[serde(rename = "createdIndex", default)]
    pub created_index: u64,
    #[serde(rename = "modifiedIndex", default)]
    pub modified_index: u64,
}

/// A successful keys API answer: its node and the store's index
/// (`X-Etcd-Index`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysResponse {
    pub node: Node,
    pub index: u64,
}

#[derive(Deserialize)]
struct RawResponse {
    node: Option<Node>,
}

/// What one request to the service came to, as etcd's v2 client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok(KeysResponse),
    /// An error the keys API answered with.
    Keys(KeysError),
    /// Not the keys API's JSON (etcd's `client.ErrInvalidJSON`).
    InvalidJson,
    /// The service could not be reached, or answered 5xx: retried with
    /// back-off (etcd's `client.ClusterError`).
    Unavailable(String),
}

/// Decodes an HTTP answer of the keys API as etcd's v2 client does
/// (`unmarshalHTTPResponse`): 200 and 201 carry a node, anything below 500
/// else an error object; 5xx is the service being unavailable.
pub fn decode_answer(status: u16, index_header: Option<&str>, body: &[u8]) -> Answer {
    if status >= 500 {
        return Answer::Unavailable(format!("the discovery service answered {status}"));
    }
    if status == 200 || status == 201 {
        let Ok(raw) = serde_json::from_slice::<RawResponse>(body) else {
            return Answer::InvalidJson;
        };
        let Some(node) = raw.node else {
            return Answer::InvalidJson;
        };
        let index = match index_header {
            None => 0,
            Some(text) => match parse_decimal(text.trim()) {
                Some(index) => index,
                None => return Answer::InvalidJson,
            },
        };
        return Answer::Ok(KeysResponse { node, index });
    }
    match serde_json::from_slice::<KeysError>(body) {
        Ok(error) => Answer::Keys(error),
        Err(_) => Answer::InvalidJson,
    }
}

/// Go's `strconv.ParseUint(text, 10, 64)`: digits only, no sign.
pub fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A discovery URL split as etcd splits it: the service's address, and the
/// path, which names the cluster (the "token" directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://`: the service is dialled over TLS.
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The URL's path, e.g. `/c3f1588d34aa0406c2f3d5b4dceec985`.
    pub token: String,
}

impl Endpoint {
    /// Parses `http://host[:port]/path` or `https://host[:port]/path`.
    pub fn parse(url: &str) -> Result<Endpoint, DiscoveryError> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            DiscoveryError::Other(format!("parse {url:?}: missing protocol scheme"))
        })?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => {
                return Err(DiscoveryError::Other(format!(
                    "discovery URL {url}: unsupported protocol scheme {scheme:?}"
                )))
            }
        };
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = split_authority(authority, default_port)
            .ok_or_else(|| DiscoveryError::Other(format!("parse {url:?}: invalid host")))?;
        Ok(Endpoint {
            tls,
            host,
            port,
            token: path.to_string(),
        })
    }

    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `scheme://host:port` as etcd logs it.
    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host_port())
    }
}

/// `host[:port]` (IPv6 in brackets) with a default port.
fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => parse_decimal(port).and_then(|p| u16::try_from(p).ok())?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && !host.is_empty() => {
            let port = parse_decimal(port).and_then(|p| u16::try_from(p).ok())?;
            Some((host.to_string(), port))
        }
        Some(_) => None,
        None => Some((authority.to_string(), default_port)),
    }
}

/// `path.Join`-like: joins key segments with single slashes, cleaning
/// empty segments.
pub fn join_key(parts: &[&str]) -> String {
    let segments: Vec<&str> = parts
        .iter()
        .flat_map(|part| part.split('/'))
        .filter(|segment| !segment.is_empty() && *segment != ".")
        .collect();
    format!("/{}", segments.join("/"))
}

/// The last segment of a key (`path.Base`).
pub fn base_name(key: &str) -> &str {
    let trimmed = key.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or_default()
}

/// Percent-encodes a key path for the request line (slashes kept).
pub(super) fn escape_path(path: &str) -> String {
    escape(path, b"/")
}

/// Percent-encodes a form or query value.
pub(super) fn escape_value(value: &str) -> String {
    escape(value, b"")
}

fn escape(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) || keep.contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Of the registrations under the token (the config directory left out),
/// sorted by creation: the cluster's members if `self_name` is not among
/// the first `size`, which is etcd's "cluster is full" (`checkCluster`).
pub fn registered(dir: &Node, size: u64, self_name: &str) -> Result<Vec<Node>, Vec<Node>> {
    let mut nodes: Vec<Node> = dir
        .nodes
        .iter()
        .flatten()
        .filter(|node| base_name(&node.key) != "_config")
        .cloned()
        .collect();
    nodes.sort_by_key(|node| node.created_index);
    for (i, node) in nodes.iter().enumerate() {
        if base_name(&node.key) == self_name {
            break;
        }
        // etcd compares with `size-1` in unsigned arithmetic: a size of 0
        // never fills.
        if (i as u64) >= size.wrapping_sub(1) {
            let full: Vec<Node> = nodes.iter().take(size as usize).cloned().collect();
            return Err(full);
        }
    }
    Ok(nodes)
}

/// etcd's `nodesToCluster`: the registered values, joined, must parse as an
/// initial cluster of exactly `size` names.
pub fn nodes_to_cluster(values: &[String], size: u64) -> Result<String, DiscoveryError> {
    let joined = values.join(",");
    let cluster = InitialCluster::parse(&joined).map_err(|_| DiscoveryError::InvalidUrl)?;
    if cluster.members().len() as u64 != size {
        return Err(DiscoveryError::DuplicateName);
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_what_the_discovery_service_answers() {
        let body = br#"{"action":"get","node":{"key":"/_etcd/registry/c3/_config/size","value":"3","modifiedIndex":4,"createdIndex":4}}"#;
        let Answer::Ok(response) = decode_answer(200, Some("4"), body) else {
            panic!("not decoded")
        };
        assert_eq!(response.index, 4);
        assert_eq!(response.node.value, "3");
        let body = br#"{"errorCode":100,"message":"Key not found","cause":"/_etcd/registry/00","index":5}"#;
        let Answer::Keys(error) = decode_answer(404, Some("5"), body) else {
            panic!("not decoded")
        };
        assert_eq!(
            error.to_string(),
            "100: Key not found (/_etcd/registry/00) [5]"
        );
        assert_eq!(
            decode_answer(404, None, b"404 page not found\n"),
            Answer::InvalidJson
        );
        assert_eq!(decode_answer(200, None, b""), Answer::InvalidJson);
        assert_eq!(decode_answer(200, None, b"{}"), Answer::InvalidJson);
        assert_eq!(
            decode_answer(200, Some("x"), br#"{"node":{}}"#),
            Answer::InvalidJson
        );
        assert!(matches!(
            decode_answer(503, None, b"down"),
            Answer::Unavailable(_)
        ));
    }

    #[test]
    fn sizes_are_go_unsigned_decimals() {
        assert_eq!(parse_decimal("3"), Some(3));
        assert_eq!(parse_decimal("+3"), None);
        assert_eq!(parse_decimal("-3"), None);
        assert_eq!(parse_decimal(" 3"), None);
        assert_eq!(parse_decimal(""), None);
        assert_eq!(parse_decimal("99999999999999999999999"), None);
    }

    #[test]
    fn splits_discovery_urls_as_etcd() {
        let endpoint = Endpoint::parse("http://127.0.0.1:8087/c3f1").unwrap();
        assert_eq!(endpoint.host, "127.0.0.1");
        assert_eq!(endpoint.port, 8087);
        assert_eq!(endpoint.token, "/c3f1");
        let endpoint = Endpoint::parse("http://d.example/v2/keys/_etcd/registry/x?q=1").unwrap();
        assert_eq!(endpoint.port, 80);
        assert_eq!(endpoint.token, "/v2/keys/_etcd/registry/x");
        assert_eq!(
            Endpoint::parse("http://[::1]:1/t").unwrap().host_port(),
            "[::1]:1"
        );
        let public = Endpoint::parse("https://discovery.etcd.io/x").unwrap();
        assert!(public.tls);
        assert_eq!(
            (public.port, public.base()),
            (443, "https://discovery.etcd.io:443".to_string())
        );
        assert!(!endpoint.tls);
        assert!(Endpoint::parse("discovery.etcd.io/x").is_err());
        assert!(Endpoint::parse("http://:1/x").is_err());
        assert!(Endpoint::parse("http://h:99999/x").is_err());
    }

    #[test]
    fn keys_join_and_split_as_go_paths() {
        assert_eq!(join_key(&["/abc", "_config"]), "/abc/_config");
        assert_eq!(join_key(&["/v2/keys/x/", "8e9e"]), "/v2/keys/x/8e9e");
        assert_eq!(join_key(&[""]), "/");
        assert_eq!(base_name("/_etcd/registry/t/8e9e"), "8e9e");
        assert_eq!(escape_value("a=http://b:1,c"), "a%3Dhttp%3A%2F%2Fb%3A1%2Cc");
    }

    fn node(key: &str, created: u64) -> Node {
        Node {
            key: key.to_string(),
            value: format!("{}=http://h:{created}", base_name(key)),
            dir: false,
            nodes: None,
            created_index: created,
            modified_index: created,
        }
    }

    #[test]
    fn the_first_size_registrations_make_the_cluster() {
        let dir = Node {
            key: "/t".into(),
            value: String::new(),
            dir: true,
            nodes: Some(vec![
                node("/t/c", 9),
                node("/t/_config", 1),
                node("/t/a", 5),
                node("/t/b", 7),
            ]),
            created_index: 1,
            modified_index: 1,
        };
        let found = registered(&dir, 3, "b").unwrap();
        let names: Vec<&str> = found.iter().map(|n| base_name(&n.key)).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(registered(&dir, 3, "d").is_err(), "full");
        assert!(registered(&dir, 2, "c").is_err(), "third of two");
        assert!(registered(&dir, 4, "d").is_ok());
        assert!(
            registered(&dir, 0, "d").is_ok(),
            "etcd's size 0 never fills"
        );
    }

    #[test]
    fn registered_values_must_make_a_cluster_of_the_size() {
        let values = vec!["a=http://h:1".to_string(), "b=http://h:2".to_string()];
        assert_eq!(
            nodes_to_cluster(&values, 2).unwrap(),
            "a=http://h:1,b=http://h:2"
        );
        assert_eq!(
            nodes_to_cluster(&values, 3),
            Err(DiscoveryError::DuplicateName)
        );
        assert_eq!(
            nodes_to_cluster(&["a=ftp://x".to_string()], 1),
            Err(DiscoveryError::InvalidUrl)
        );
    }

    proptest! {
        #[test]
        fn decoding_never_panics(status in 0u16..600, index in proptest::option::of(".{0,12}"), body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_answer(status, index.as_deref(), &body);
        }

        #[test]
        fn decoding_json_never_panics(body in r#"\{("node"|"errorCode"|"nodes"|"key"|"value"|"createdIndex"|:|,|\{|\}|\[|\]|[0-9]|"x"|null|true){0,40}"#) {
            let _ = decode_answer(200, Some("1"), body.as_bytes());
            let _ = decode_answer(404, Some("1"), body.as_bytes());
        }

        #[test]
        fn urls_and_clusters_never_panic(text in ".{0,64}", size in any::<u64>()) {
            let _ = Endpoint::parse(&text);
            let _ = Endpoint::parse(&format!("http://{text}"));
            let _ = nodes_to_cluster(std::slice::from_ref(&text), size);
            let dir = Node { key: "/t".into(), value: String::new(), dir: true, nodes: Some(vec![node(&text, 1)]), created_index: 0, modified_index: 0 };
            let _ = registered(&dir, size, &text);
        }
    }
}
