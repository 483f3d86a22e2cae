//! `--discovery`: bootstrapping through an etcd discovery service, as etcd
//! 3.4's `etcdserver/api/v2discovery` does it over the v2 keys API.
//!
//! ```text
//!   GET  <token>/_config/size               the cluster's size
//!   GET  <token>                            who registered so far (full?)
//!   PUT  <token>/<member id>?prevExist=false  value=name=peer-url,...
//!   GET  <token>/<member id>?wait=true&waitIndex=<created>   (seen)
//!   GET  <token>?recursive=true&wait=true&waitIndex=<n>      until `size`
//! ```
//!
//! The first `size` registrations by creation index make the cluster. Each
//! member's ID is derived from its peer URLs and the discovery URL, which is
//! the cluster token (etcd's `PeerURLsMapAndToken`).
//!
//! The decoders here never panic: whatever the service answers that is not
//! what etcd's v2 client expects becomes one of etcd's errors.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::InitialCluster;
use crate::logging::Logger;

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
const ERROR_NODE_EXIST: i64 = 105;

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

    fn host_port(&self) -> String {
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
fn escape_path(path: &str) -> String {
    escape(path, b"/")
}

/// Percent-encodes a form or query value.
fn escape_value(value: &str) -> String {
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

/// The service's connection: TCP, or TLS over it.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// etcd's `client.DefaultRequestTimeout`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// etcd's dial timeout for the discovery service.
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Back-off doubles up to 2^8 seconds.
const MAX_EXPONENTIAL_RETRIES: u32 = 8;

/// A discovery session of one member.
#[derive(Debug)]
pub struct Discovery<'a> {
    endpoint: Endpoint,
    /// `--discovery-proxy`, as `host:port`.
    proxy: Option<(String, u16)>,
    /// For an `https://` service: the system's CAs (or `SSL_CERT_FILE`'s),
    /// as etcd's discovery client uses Go's.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// This member's ID in hex, as etcd's `types.ID` prints it.
    self_name: String,
    retries: u32,
    url: String,
    log: &'a Logger,
}

impl<'a> Discovery<'a> {
    pub fn new(
        url: &str,
        proxy: Option<&str>,
        id: u64,
        log: &'a Logger,
    ) -> Result<Discovery<'a>, DiscoveryError> {
        let endpoint = Endpoint::parse(url)?;
        let proxy = match proxy.filter(|p| !p.is_empty()) {
            None => None,
            Some(text) => {
                let with_scheme = if text.contains("://") {
                    text.to_string()
                } else {
                    format!("http://{text}")
                };
                let parsed = Endpoint::parse(&with_scheme)
                    .ok()
                    .filter(|proxy| !proxy.tls)
                    .ok_or_else(|| {
                        DiscoveryError::Other(format!(
                            "invalid proxy address {text:?}: only http:// proxies are supported"
                        ))
                    })?;
                if endpoint.tls {
                    return Err(DiscoveryError::Other(format!(
                        "discovery URL {url}: an https:// discovery service through --discovery-proxy is not supported by cairn (no CONNECT tunnel)"
                    )));
                }
                log.info("discovery", &format!("using proxy {with_scheme:?}"));
                Some((parsed.host, parsed.port))
            }
        };
        let tls = if endpoint.tls {
            let config = cairn_client::tls::TlsOptions::default()
                .client_config()
                .map_err(|e| DiscoveryError::Other(format!("discovery URL {url}: {e}")))?;
            Some(Arc::new(config))
        } else {
            None
        };
        Ok(Discovery {
            url: endpoint.base(),
            endpoint,
            proxy,
            tls,
            self_name: format!("{id:x}"),
            retries: 0,
            log,
        })
    }

    fn self_key(&self) -> String {
        join_key(&[&self.endpoint.token, &self.self_name])
    }

    /// Registers this member with `config` (`name=peer-url,...`) and waits
    /// until the cluster is complete; answers the initial cluster
    /// (etcd's `JoinCluster`).
    pub async fn join_cluster(&mut self, config: &str) -> Result<String, DiscoveryError> {
        self.check_cluster().await?;
        self.create_self(config).await?;
        let (nodes, size, index) = self.check_cluster().await?;
        let all = self.wait_nodes(nodes, size, index).await?;
        let values: Vec<String> = all.into_iter().map(|n| n.value).collect();
        nodes_to_cluster(&values, size)
    }

    async fn create_self(&mut self, contents: &str) -> Result<(), DiscoveryError> {
        let key = self.self_key();
        let query = "?prevExist=false";
        let body = format!("value={}", escape_value(contents));
        let created = match self
            .request(Method::PUT, &key, query, Some(body), Some(REQUEST_TIMEOUT))
            .await
        {
            Answer::Ok(response) => response,
            Answer::Keys(error) if error.code == ERROR_NODE_EXIST => {
                return Err(DiscoveryError::DuplicateId)
            }
            Answer::Keys(error) => return Err(DiscoveryError::Keys(error)),
            Answer::InvalidJson => return Err(DiscoveryError::BadDiscoveryEndpoint),
            Answer::Unavailable(why) => return Err(DiscoveryError::Other(why)),
        };
        // Make sure this registration is visible where we read.
        let query = format!("?wait=true&waitIndex={}", created.node.created_index.max(1));
        match self.request(Method::GET, &key, &query, None, None).await {
            Answer::Ok(_) => Ok(()),
            Answer::Keys(error) => Err(DiscoveryError::Keys(error)),
            Answer::InvalidJson => Err(DiscoveryError::BadDiscoveryEndpoint),
            Answer::Unavailable(why) => Err(DiscoveryError::Other(why)),
        }
    }

    /// The registrations so far, the cluster's size and the store's index.
    async fn check_cluster(&mut self) -> Result<(Vec<Node>, u64, u64), DiscoveryError> {
        loop {
            let config_key = join_key(&[&self.endpoint.token, "_config"]);
            let size_key = join_key(&[&config_key, "size"]);
            // etcd 3.4 means to answer "size key not found" for a missing
            // size, but its check never matches (it tests for a pointer to
            // the error): what it prints is the keys API's error. So does
            // cairn.
            let Some(response) = self.status_get(&size_key).await? else {
                continue;
            };
            let size = parse_decimal(&response.node.value).ok_or(DiscoveryError::BadSizeKey)?;
            let token_key = join_key(&[&self.endpoint.token]);
            let Some(dir) = self.status_get(&token_key).await? else {
                continue;
            };
            return match registered(&dir.node, size, &self.self_name) {
                Ok(nodes) => Ok((nodes, size, dir.index)),
                Err(_full) => Err(DiscoveryError::FullCluster),
            };
        }
    }

    /// A GET of the cluster status check: the answer; `None` once an
    /// outage is logged and waited out (ask again); or etcd's error.
    async fn status_get(&mut self, key: &str) -> Result<Option<KeysResponse>, DiscoveryError> {
        match self
            .request(Method::GET, key, "", None, Some(REQUEST_TIMEOUT))
            .await
        {
            Answer::Ok(response) => Ok(Some(response)),
            Answer::Keys(error) => Err(DiscoveryError::Keys(error)),
            Answer::InvalidJson => Err(DiscoveryError::BadDiscoveryEndpoint),
            Answer::Unavailable(why) => {
                self.log.error("discovery", &why);
                self.back_off("cluster status check").await;
                Ok(None)
            }
        }
    }

    /// Waits until `size` members registered, watching the token from
    /// `index` on (etcd's `waitNodes`).
    async fn wait_nodes(
        &mut self,
        mut nodes: Vec<Node>,
        mut size: u64,
        mut index: u64,
    ) -> Result<Vec<Node>, DiscoveryError> {
        'retry: loop {
            nodes.truncate(usize::try_from(size).unwrap_or(usize::MAX));
            for node in &nodes {
                let name = base_name(&node.key);
                if name == self.self_name {
                    self.log
                        .notice("discovery", &format!("found self {name} in the cluster"));
                } else {
                    self.log
                        .notice("discovery", &format!("found peer {name} in the cluster"));
                }
            }
            let token_key = join_key(&[&self.endpoint.token]);
            let mut wait_index = index.saturating_add(1);
            while (nodes.len() as u64) < size {
                self.log.notice(
                    "discovery",
                    &format!(
                        "found {} peer(s), waiting for {} more",
                        nodes.len(),
                        size - nodes.len() as u64
                    ),
                );
                let query = format!("?recursive=true&wait=true&waitIndex={wait_index}");
                match self
                    .request(Method::GET, &token_key, &query, None, None)
                    .await
                {
                    Answer::Ok(response) => {
                        wait_index = response.node.modified_index.saturating_add(1);
                        self.log.notice(
                            "discovery",
                            &format!(
                                "found peer {} in the cluster",
                                base_name(&response.node.key)
                            ),
                        );
                        nodes.push(response.node);
                    }
                    Answer::Keys(error) => return Err(DiscoveryError::Keys(error)),
                    Answer::InvalidJson => return Err(DiscoveryError::BadDiscoveryEndpoint),
                    Answer::Unavailable(why) => {
                        self.log.error("discovery", &why);
                        self.back_off("waiting for other nodes").await;
                        (nodes, size, index) = self.check_cluster().await?;
                        continue 'retry;
                    }
                }
            }
            self.log.notice(
                "discovery",
                &format!("found {} needed peer(s)", nodes.len()),
            );
            return Ok(nodes);
        }
    }

    async fn back_off(&mut self, step: &str) {
        self.retries += 1;
        let seconds = 1u64 << self.retries.min(MAX_EXPONENTIAL_RETRIES);
        self.log.info(
            "discovery",
            &format!(
                "{step}: error connecting to {}, retrying in {seconds}s",
                self.url
            ),
        );
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }

    /// One request; transport failures and 5xx are `Unavailable`.
    async fn request(
        &self,
        method: Method,
        key: &str,
        query: &str,
        form: Option<String>,
        timeout: Option<Duration>,
    ) -> Answer {
        let exchange = self.exchange(method, key, query, form);
        let result = match timeout {
            Some(limit) => match tokio::time::timeout(limit, exchange).await {
                Ok(result) => result,
                Err(_) => Err(format!("{}: context deadline exceeded", self.url)),
            },
            None => exchange.await,
        };
        match result {
            Ok((status, index, body)) => decode_answer(status, index.as_deref(), &body),
            Err(why) => Answer::Unavailable(why),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        key: &str,
        query: &str,
        form: Option<String>,
    ) -> Result<(u16, Option<String>, Bytes), String> {
        let (host, port) = match &self.proxy {
            Some((host, port)) => (host.clone(), *port),
            None => (self.endpoint.host.clone(), self.endpoint.port),
        };
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let tcp = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(&address))
            .await
            .map_err(|_| format!("dial tcp {address}: i/o timeout"))?
            .map_err(|e| format!("dial tcp {address}: {e}"))?;
        let stream: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = cairn_client::tls::server_name(&self.endpoint.host)
                    .map_err(|e| format!("{}: {e}", self.url))?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let tls = tokio::time::timeout(DIAL_TIMEOUT, connector.connect(name, tcp))
                    .await
                    .map_err(|_| format!("{}: net/http: TLS handshake timeout", self.url))?
                    .map_err(|e| format!("{}: {e}", self.url))?;
                Box::new(tls)
            }
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{}: {e}", self.url))?;
        let connection = tokio::spawn(connection);
        let path = format!("{}{query}", escape_path(key));
        // Through a proxy, the request line carries the absolute URL.
        let target = if self.proxy.is_some() {
            format!("{}{path}", self.url)
        } else {
            path
        };
        let mut request = Request::builder()
            .method(method)
            .uri(target)
            .header(hyper::header::HOST, self.endpoint.host_port());
        let body = match form {
            Some(form) => {
                request = request.header(
                    hyper::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                );
                Full::new(Bytes::from(form))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request
            .body(body)
            .map_err(|e| format!("{}: {e}", self.url))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{}: {e}", self.url))?;
        let status = response.status().as_u16();
        let index = response
            .headers()
            .get("X-Etcd-Index")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{}: {e}", self.url))?
            .to_bytes();
        connection.abort();
        Ok((status, index, body))
    }
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
