//! Endpoints and gRPC connections: `--endpoints`, `--conns`, `--target-leader`;
//! `https://` endpoints over TLS (see tls.rs).

use std::time::Duration;

use cairn_proto::etcdserverpb::auth_client::AuthClient;
use cairn_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use cairn_proto::etcdserverpb::AuthenticateRequest;
use cairn_proto::etcdserverpb::StatusRequest;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::{InterceptedService, Interceptor};
use tonic::transport::{Channel, Endpoint};

use crate::tls::Tls;

/// How long to wait for one TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Turns `host:port`, `http://host:port` or `https://host:port` into a
/// plain URI tonic accepts, and whether the endpoint asks for TLS.
fn endpoint_uri(endpoint: &str) -> Result<(String, bool), String> {
    let endpoint = endpoint.trim();
    if endpoint.starts_with("unix://") || endpoint.starts_with("unixs://") {
        return Err(format!(
            "endpoint {endpoint}: unix sockets are not supported"
        ));
    }
    let (host_port, tls) = match endpoint.strip_prefix("https://") {
        Some(rest) => (rest, true),
        None => (endpoint.strip_prefix("http://").unwrap_or(endpoint), false),
    };
    let host_port = host_port.trim_end_matches('/');
    if host_port.is_empty() {
        return Err("empty endpoint".to_string());
    }
    Ok((format!("http://{host_port}"), tls))
}

async fn connect_one(endpoint: &str, tls: Option<&Tls>) -> Result<Channel, String> {
    let (uri, wants_tls) = endpoint_uri(endpoint)?;
    let builder = Endpoint::from_shared(uri.clone())
        .map_err(|error| format!("endpoint {endpoint}: {error}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    if !wants_tls {
        return builder
            .connect()
            .await
            .map_err(|error| format!("connect to {uri}: {error}"));
    }
    let Some(tls) = tls else {
        return Err(format!(
            "endpoint {endpoint}: https:// needs --cacert (and --cert/--key) or --insecure-skip-tls-verify"
        ));
    };
    let host = builder.uri().host().unwrap_or_default().to_string();
    builder
        .connect_with_connector(tls.connector(&host)?)
        .await
        .map_err(|error| format!("connect to {endpoint}: {error:?}"))
}

/// Opens `conns` connections; connection i goes to endpoint i mod n.
pub async fn connect_all(
    endpoints: &[String],
    conns: usize,
    tls: Option<&Tls>,
) -> Result<Vec<Channel>, String> {
    if endpoints.is_empty() {
        return Err("no endpoints".to_string());
    }
    let mut channels = Vec::with_capacity(conns.max(1));
    for index in 0..conns.max(1) {
        channels.push(connect_one(&endpoints[index % endpoints.len()], tls).await?);
    }
    Ok(channels)
}

/// Asks every endpoint for its status and returns the one whose member is
/// the leader (as the answering member itself believes).
pub async fn find_leader(endpoints: &[String], tls: Option<&Tls>) -> Result<String, String> {
    let mut last_error = String::from("no endpoint answered");
    for endpoint in endpoints {
        let channel = match connect_one(endpoint, tls).await {
            Ok(channel) => channel,
            Err(error) => {
                last_error = error;
                continue;
            }
        };
        match MaintenanceClient::new(channel)
            .status(StatusRequest {})
            .await
        {
            Ok(response) => {
                let status = response.into_inner();
                let member_id = status.header.map(|header| header.member_id);
                if status.leader != 0 && member_id == Some(status.leader) {
                    return Ok(endpoint.clone());
                }
            }
            Err(status) => last_error = format!("status of {endpoint}: {}", status.message()),
        }
    }
    Err(format!("no endpoint is the leader ({last_error})"))
}

/// A connection that puts the `--user`'s auth token on every request.
pub type Conn = InterceptedService<Channel, Token>;

/// The token etcd's clients send as `token` metadata (none without `--user`).
#[derive(Clone, Debug, Default)]
pub struct Token(Option<MetadataValue<Ascii>>);

impl Interceptor for Token {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("token", token.clone());
        }
        Ok(request)
    }
}

/// Authenticates `user` (`name:password`, as etcdctl's `--user`) once, so
/// every request of the run carries the same token, as etcd's benchmark does.
pub async fn authenticate(channel: &Channel, user: Option<&str>) -> Result<Token, String> {
    let Some(user) = user else {
        return Ok(Token::default());
    };
    let (name, password) = user
        .split_once(':')
        .ok_or_else(|| format!("--user {user:?}: expected name:password"))?;
    let token = AuthClient::new(channel.clone())
        .authenticate(AuthenticateRequest {
            name: name.to_string(),
            password: password.to_string(),
        })
        .await
        .map_err(|status| format!("authenticate as {name}: {}", status.message()))?
        .into_inner()
        .token;
    let token = token
        .parse()
        .map_err(|_| format!("the token for {name} is not ASCII"))?;
    Ok(Token(Some(token)))
}

/// Wraps connections with the token.
pub fn with_token(channels: Vec<Channel>, token: &Token) -> Vec<Conn> {
    channels
        .into_iter()
        .map(|channel| InterceptedService::new(channel, token.clone()))
        .collect()
}
