//! etcd's v2 HTTP+JSON API from the client side, as etcd's Go `client`
//! package (what `ETCDCTL_API=2 etcdctl` is built on) speaks it: keys,
//! members, auth and health, over HTTP/1.1 connections opened by the
//! crate's one [`Dialer`] (TLS included).
//!
//! ```text
//!   V2Client { endpoints (URLs), Dialer, credentials, header timeout }
//!     ├── sync(): GET /v2/members ─▶ the members' client URLs
//!     ├── keys_*: /v2/keys/<key>  ─▶ KeysResponse | EtcdError
//!     ├── members_*: /v2/members  ─▶ Member
//!     ├── auth_*: /v2/auth/...    ─▶ JSON values
//!     └── health(url): GET <url>/health
//!   request(): each endpoint from the pinned one; failures gathered into
//!   V2Error::Cluster (etcd's ClusterError), "one-shot" writes give up
//!   after the first failure, as etcd's client does.
//! ```

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use serde::Deserialize;

use crate::dial::{DialError, Dialer};
use crate::endpoint::Endpoint;

mod types;
mod url;

pub use types::{EtcdError, KeysResponse, Member, Node, PrevExist, SetOptions, V2Error};
use url::{base64_encode, encode_form, escape_path, with_query};
pub use url::{canonical_path, keys_path};

/// What one HTTP exchange returned.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub index: Option<u64>,
    pub body: Bytes,
}

/// A request to send to each endpoint in turn.
struct Request<'a> {
    method: &'a str,
    /// Path and query, from `/`.
    target: String,
    body: Option<(&'a str, Vec<u8>)>,
    /// etcd's `oneShotCtxValue`: give up after the first failing endpoint.
    one_shot: bool,
}

/// A client of the v2 API on a list of endpoints.
#[derive(Debug, Clone)]
pub struct V2Client {
    endpoints: Vec<String>,
    pinned: usize,
    dialer: Dialer,
    credentials: Option<(String, String)>,
    header_timeout: Duration,
    /// Print each request as a curl command on stderr (etcdctl `--debug`).
    debug: bool,
}

impl V2Client {
    /// A client on `endpoints` (`http://host:port` URLs).
    pub fn new(endpoints: Vec<String>, dialer: Dialer) -> V2Client {
        V2Client {
            endpoints,
            pinned: 0,
            dialer,
            credentials: None,
            header_timeout: Duration::from_secs(2),
            debug: false,
        }
    }

    /// Basic authentication on every request.
    pub fn with_credentials(mut self, user: String, password: String) -> V2Client {
        self.credentials = Some((user, password));
        self
    }

    /// How long a request may wait for the answer's header (etcdctl's
    /// `--timeout`); zero for no bound.
    pub fn with_header_timeout(mut self, timeout: Duration) -> V2Client {
        self.header_timeout = timeout;
        self
    }

    /// Prints every request as etcd's client does with cURL debugging on
    /// (`cURL Command: curl -X GET http://...` on stderr).
    pub fn with_debug(mut self, debug: bool) -> V2Client {
        self.debug = debug;
        self
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// etcd's `Sync`: the members' client URLs become the endpoints.
    pub async fn sync(&mut self) -> Result<(), V2Error> {
        let members = self.members_list().await?;
        let urls: Vec<String> = members.into_iter().flat_map(|m| m.client_urls).collect();
        if urls.is_empty() {
            return Err(V2Error::NoEndpoints);
        }
        self.endpoints = urls;
        self.pinned = 0;
        Ok(())
    }

    /// Sends `request` to the endpoints from the pinned one on.
    async fn send(&mut self, request: Request<'_>) -> Result<Answer, V2Error> {
        if self.endpoints.is_empty() {
            return Err(V2Error::NoEndpoints);
        }
        let count = self.endpoints.len();
        let mut errors = Vec::new();
        for step in 0..count {
            let k = (self.pinned + step) % count;
            let url = self.endpoints[k].clone();
            let failure = match self.exchange(&url, &request).await {
                Ok(answer) if answer.status / 100 == 5 => {
                    if answer.status == 500 || answer.status == 503 {
                        format!("client: etcd member {url} has no leader")
                    } else {
                        format!(
                            "client: etcd member {url} returns server error [{}]",
                            status_text(answer.status)
                        )
                    }
                }
                Ok(answer) => {
                    self.pinned = k;
                    return Ok(answer);
                }
                Err(text) => text,
            };
            if request.one_shot {
                // etcd's client returns a one-shot request's error as it is.
                self.pinned = (k + 1) % count;
                return Err(V2Error::Message(failure));
            }
            errors.push(failure);
        }
        Err(V2Error::Cluster(errors))
    }

    /// One HTTP/1.1 exchange with the endpoint at `url`; a failure's text
    /// as Go's transport words it.
    async fn exchange(&self, url: &str, request: &Request<'_>) -> Result<Answer, String> {
        if self.debug {
            let mut command = format!(
                "curl -X {} {}{}",
                request.method,
                url.trim_end_matches('/'),
                request.target
            );
            if let Some((_, body)) = &request.body {
                command.push_str(&format!(" -d {:?}", String::from_utf8_lossy(body)));
            }
            eprintln!("cURL Command: {command}");
        }
        let scheme = match url.split_once("://") {
            Some((scheme, _)) => scheme,
            None => url.split(':').next().unwrap_or_default(),
        };
        if scheme != "http" && scheme != "https" {
            return Err(format!("unsupported protocol scheme {scheme:?}"));
        }
        let endpoint = Endpoint::parse(url).map_err(|e| e.to_string())?;
        let authority = endpoint.authority();
        let io = self
            .dialer
            .connect_http1(&endpoint)
            .await
            .map_err(|e| match e {
                DialError::Connect { message, .. } => dial_text(&authority, &message),
                other => other.to_string(),
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let mut builder = hyper::Request::builder()
            .method(request.method)
            .uri(request.target.as_str())
            .header(HOST, authority.as_str());
        if let Some((user, password)) = &self.credentials {
            let token = base64_encode(format!("{user}:{password}").as_bytes());
            builder = builder.header(AUTHORIZATION, format!("Basic {token}"));
        }
        let body = match &request.body {
            Some((content_type, bytes)) => {
                builder = builder.header(CONTENT_TYPE, *content_type);
                Bytes::from(bytes.clone())
            }
            None => Bytes::new(),
        };
        let http_request = builder.body(Full::new(body)).map_err(|e| e.to_string())?;
        let pending = sender.send_request(http_request);
        let response = if self.header_timeout.is_zero() {
            pending.await
        } else {
            tokio::time::timeout(self.header_timeout, pending)
                .await
                .map_err(|_| format!("client: endpoint {url} exceeded header timeout"))?
        }
        .map_err(|e| http_text(&e))?;
        let status = response.status().as_u16();
        let index = response
            .headers()
            .get("X-Etcd-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| http_text(&e))?
            .to_bytes();
        Ok(Answer {
            status,
            index,
            body,
        })
    }

    /// A keys API call: the answer, or the server's error JSON.
    async fn keys_call(&mut self, request: Request<'_>) -> Result<Option<KeysResponse>, V2Error> {
        let answer = self.send(request).await?;
        if answer.status == 200 || answer.status == 201 {
            if answer.body.is_empty() {
                return Ok(None);
            }
            let mut response: KeysResponse = serde_json::from_slice(&answer.body)
                .map_err(|_| V2Error::Message("client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.".into()))?;
            response.index = answer.index.unwrap_or(0);
            return Ok(Some(response));
        }
        match serde_json::from_slice::<EtcdError>(&answer.body) {
            Ok(error) => Err(V2Error::Etcd(error)),
            Err(_) => Err(V2Error::Message("client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.".into())),
        }
    }

    /// A keys call whose empty answer is an error.
    async fn keys(&mut self, request: Request<'_>) -> Result<KeysResponse, V2Error> {
        self.keys_call(request)
            .await?
            .ok_or_else(|| V2Error::Message("client: response body is empty".into()))
    }

    /// `GET /v2/keys/<key>`.
    pub async fn keys_get(
        &mut self,
        key: &str,
        recursive: bool,
        sorted: bool,
        quorum: bool,
    ) -> Result<KeysResponse, V2Error> {
        let query = format!("quorum={quorum}&recursive={recursive}&sorted={sorted}");
        self.keys(Request {
            method: "GET",
            target: format!("{}?{query}", keys_path(key)),
            body: None,
            one_shot: false,
        })
        .await
    }

    /// `PUT /v2/keys/<key>`: a set, create, update or directory.
    pub async fn keys_set(
        &mut self,
        key: &str,
        value: &str,
        options: &SetOptions,
    ) -> Result<KeysResponse, V2Error> {
        let mut query = Vec::new();
        let mut form = Vec::new();
        if options.dir {
            query.push(("dir", "true".to_string()));
        } else {
            if !options.prev_value.is_empty() {
                query.push(("prevValue", options.prev_value.clone()));
            }
            form.push(("value", value.to_string()));
        }
        if options.prev_index != 0 {
            query.push(("prevIndex", options.prev_index.to_string()));
        }
        match options.prev_exist {
            PrevExist::Ignore => {}
            PrevExist::Exist => query.push(("prevExist", "true".into())),
            PrevExist::NoExist => query.push(("prevExist", "false".into())),
        }
        if options.ttl > 0 {
            form.push(("ttl", options.ttl.to_string()));
        }
        self.keys(Request {
            method: "PUT",
            target: with_query(keys_path(key), &query),
            body: Some((
                "application/x-www-form-urlencoded",
                encode_form(&form).into_bytes(),
            )),
            one_shot: options.prev_exist == PrevExist::NoExist,
        })
        .await
    }

    /// `POST /v2/keys/<dir>`: an in-order key.
    pub async fn keys_create_in_order(
        &mut self,
        dir: &str,
        value: &str,
        ttl: u64,
    ) -> Result<KeysResponse, V2Error> {
        let mut form = vec![("value", value.to_string())];
        if ttl > 0 {
            form.push(("ttl", ttl.to_string()));
        }
        self.keys(Request {
            method: "POST",
            target: keys_path(dir),
            body: Some((
                "application/x-www-form-urlencoded",
                encode_form(&form).into_bytes(),
            )),
            one_shot: false,
        })
        .await
    }

    /// `DELETE /v2/keys/<key>`.
    pub async fn keys_delete(
        &mut self,
        key: &str,
        prev_value: &str,
        prev_index: u64,
        dir: bool,
        recursive: bool,
    ) -> Result<KeysResponse, V2Error> {
        let mut query = Vec::new();
        if !prev_value.is_empty() {
            query.push(("prevValue", prev_value.to_string()));
        }
        if prev_index != 0 {
            query.push(("prevIndex", prev_index.to_string()));
        }
        if dir {
            query.push(("dir", "true".to_string()));
        }
        if recursive {
            query.push(("recursive", "true".to_string()));
        }
        self.keys(Request {
            method: "DELETE",
            target: with_query(keys_path(key), &query),
            body: None,
            one_shot: true,
        })
        .await
    }

    /// One `wait=true` round from `wait_index`: `None` when the server
    /// ended the round without an event (the caller asks again).
    pub async fn keys_wait(
        &mut self,
        key: &str,
        wait_index: u64,
        recursive: bool,
    ) -> Result<Option<KeysResponse>, V2Error> {
        let query = format!("recursive={recursive}&wait=true&waitIndex={wait_index}");
        let saved = std::mem::replace(&mut self.header_timeout, Duration::ZERO);
        let result = self
            .keys_call(Request {
                method: "GET",
                target: format!("{}?{query}", keys_path(key)),
                body: None,
                one_shot: false,
            })
            .await;
        self.header_timeout = saved;
        result
    }

    /// A JSON call outside the keys API: the body of an answer with one of
    /// the `expected` statuses; otherwise the server's `{"message":..}`, or
    /// `unexpected status code N` (`message_on_error`: whether to look for
    /// the message, as the auth API does).
    async fn json_call(
        &mut self,
        method: &str,
        target: String,
        body: Option<Vec<u8>>,
        expected: &[u16],
        message_on_error: bool,
    ) -> Result<Answer, V2Error> {
        let answer = self
            .send(Request {
                method,
                target,
                body: body.map(|b| ("application/json", b)),
                one_shot: false,
            })
            .await?;
        if expected.contains(&answer.status) {
            return Ok(answer);
        }
        if message_on_error {
            return Err(message_of(&answer.body));
        }
        Err(V2Error::Message(format!(
            "unexpected status code {}",
            answer.status
        )))
    }

    /// `GET /v2/members`.
    pub async fn members_list(&mut self) -> Result<Vec<Member>, V2Error> {
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            members: Vec<Member>,
        }
        let answer = self
            .json_call("GET", "/v2/members".into(), None, &[200], false)
            .await?;
        let list: List = parse(&answer.body)?;
        Ok(list.members)
    }

    /// `GET /v2/members/leader`.
    pub async fn members_leader(&mut self) -> Result<Member, V2Error> {
        let answer = self
            .json_call("GET", "/v2/members/leader".into(), None, &[200], false)
            .await?;
        parse(&answer.body)
    }

    /// `POST /v2/members`: the new member (a 409's message as the error).
    pub async fn members_add(&mut self, peer_urls: &[String]) -> Result<Member, V2Error> {
        let body = serde_json::json!({ "peerURLs": peer_urls }).to_string();
        let answer = self
            .json_call(
                "POST",
                "/v2/members".into(),
                Some(body.into_bytes()),
                &[201, 409],
                false,
            )
            .await?;
        if answer.status == 409 {
            return Err(message_of(&answer.body));
        }
        parse(&answer.body)
    }

    /// `DELETE /v2/members/<id>`.
    pub async fn members_remove(&mut self, id: &str) -> Result<(), V2Error> {
        self.json_call(
            "DELETE",
            format!("/v2/members/{id}"),
            None,
            &[204, 410],
            false,
        )
        .await
        .map(drop)
    }

    /// `PUT /v2/members/<id>` with new peer URLs.
    pub async fn members_update(&mut self, id: &str, peer_urls: &[String]) -> Result<(), V2Error> {
        let body = serde_json::json!({ "peerURLs": peer_urls }).to_string();
        let target = format!("/v2/members/{id}");
        let answer = self
            .json_call(
                "PUT",
                target,
                Some(body.into_bytes()),
                &[204, 404, 409],
                false,
            )
            .await?;
        if answer.status != 204 {
            return Err(message_of(&answer.body));
        }
        Ok(())
    }

    /// An auth API call (`/v2/auth/<what>`): the answer's JSON.
    pub async fn auth(
        &mut self,
        method: &str,
        what: &str,
        body: Option<serde_json::Value>,
        expected: &[u16],
    ) -> Result<serde_json::Value, V2Error> {
        let target = format!("/v2/auth/{}", escape_path(what));
        let body = body.map(|b| b.to_string().into_bytes());
        let answer = self.json_call(method, target, body, expected, true).await?;
        if answer.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        parse(&answer.body)
    }

    /// `GET <url>/health` on one member: the body (a connection error's
    /// text on failure).
    pub async fn health(&self, url: &str) -> Result<Bytes, String> {
        let target = Request {
            method: "GET",
            target: "/health".into(),
            body: None,
            one_shot: true,
        };
        let full = format!("{}/health", url.trim_end_matches('/'));
        // etcdctl checks health with a plain HTTP client: no credentials,
        // no curl lines.
        let plain = V2Client {
            credentials: None,
            debug: false,
            ..self.clone()
        };
        match plain.exchange(url, &target).await {
            Ok(answer) => Ok(answer.body),
            Err(text) => Err(format!("Get {full:?}: {text}")),
        }
    }
}

/// A JSON body as `T`, or the Go decoder's failure.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, V2Error> {
    serde_json::from_slice(body).map_err(|e| V2Error::Message(e.to_string()))
}

/// The `{"message":..}` of an error answer.
fn message_of(body: &[u8]) -> V2Error {
    #[derive(Deserialize)]
    struct Message {
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Message>(body) {
        Ok(m) => V2Error::Message(m.message),
        Err(e) => V2Error::Message(e.to_string()),
    }
}

/// Go's words for a failed connection: `dial tcp 127.0.0.1:1: connect:
/// connection refused` or `... i/o timeout` (what etcdctl counts as
/// connection errors); a TLS failure as it is (`EOF` for a server that
/// hung up).
fn dial_text(authority: &str, message: &str) -> String {
    let lower = message.to_lowercase();
    if lower.contains("connection refused") {
        format!("dial tcp {authority}: connect: connection refused")
    } else if lower.contains("timeout") || lower.contains("timed out") {
        format!("dial tcp {authority}: i/o timeout")
    } else if lower.contains("eof") {
        "EOF".to_string()
    } else if message.contains("UnknownIssuer") {
        "x509: certificate signed by unknown authority".to_string()
    } else if message.contains("Expired") || message.contains("NotValidYet") {
        "x509: certificate has expired or is not yet valid".to_string()
    } else if message.contains("NotValidForName") {
        "x509: certificate is not valid for the requested name".to_string()
    } else {
        message.to_string()
    }
}

/// Go's words for an exchange that broke after connecting: `EOF` when the
/// server closed the connection without an answer.
fn http_text(error: &hyper::Error) -> String {
    if error.is_incomplete_message() {
        "EOF".to_string()
    } else {
        error.to_string()
    }
}

/// Go's `http.StatusText` for the 5xx codes etcd's client names.
fn status_text(status: u16) -> &'static str {
    match status {
        501 => "Not Implemented",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
