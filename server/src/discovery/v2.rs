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
//! What the service answers is decoded in [`super::keys`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::keys::{
    base_name, decode_answer, escape_path, escape_value, join_key, nodes_to_cluster, parse_decimal,
    registered, Answer, DiscoveryError, Endpoint, KeysResponse, Node, ERROR_NODE_EXIST,
};
use crate::logging::Logger;

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
