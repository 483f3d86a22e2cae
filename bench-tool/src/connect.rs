//! Endpoints and gRPC connections: `--endpoints`, `--conns`, `--target-leader`.

use std::time::Duration;

use cairn_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use cairn_proto::etcdserverpb::StatusRequest;
use tonic::transport::{Channel, Endpoint};

/// How long to wait for one TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Turns `host:port` or `http://host:port` into a URI tonic accepts.
pub fn endpoint_uri(endpoint: &str) -> Result<String, String> {
    let endpoint = endpoint.trim();
    if endpoint.starts_with("https://") || endpoint.starts_with("unixs://") {
        return Err(format!("endpoint {endpoint}: TLS is not supported"));
    }
    let host_port = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    let host_port = host_port.trim_end_matches('/');
    if host_port.is_empty() {
        return Err("empty endpoint".to_string());
    }
    Ok(format!("http://{host_port}"))
}

async fn connect_one(endpoint: &str) -> Result<Channel, String> {
    let uri = endpoint_uri(endpoint)?;
    Endpoint::from_shared(uri.clone())
        .map_err(|error| format!("endpoint {endpoint}: {error}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|error| format!("connect to {uri}: {error}"))
}

/// Opens `conns` connections; connection i goes to endpoint i mod n.
pub async fn connect_all(endpoints: &[String], conns: usize) -> Result<Vec<Channel>, String> {
    if endpoints.is_empty() {
        return Err("no endpoints".to_string());
    }
    let mut channels = Vec::with_capacity(conns.max(1));
    for index in 0..conns.max(1) {
        channels.push(connect_one(&endpoints[index % endpoints.len()]).await?);
    }
    Ok(channels)
}

/// Asks every endpoint for its status and returns the one whose member is
/// the leader (as the answering member itself believes).
pub async fn find_leader(endpoints: &[String]) -> Result<String, String> {
    let mut last_error = String::from("no endpoint answered");
    for endpoint in endpoints {
        let channel = match connect_one(endpoint).await {
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
