//! etcd's `GET /members` on the peer port: how a member started with
//! `--initial-cluster-state existing` learns the cluster it joins — the
//! cluster's ID (header `X-Etcd-Cluster-ID`) and every member with its ID, so
//! it can find its own by its peer URLs (etcd's
//! `GetClusterFromRemotePeers`).
//!
//! The peer port speaks cairn's peer protocol; a connection whose first
//! bytes are `GET ` is served this one HTTP/1.1 answer instead, then closed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::member::MemberStatus;
use cairn_core::raft::NodeId;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::transport::{BoxedStream, PeerSecurity};

/// A member as etcd's `/members` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerMember {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
    #[serde(
        rename = "isLearner",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub is_learner: bool,
}

/// The members the driver last applied, as `/members` serves them.
#[derive(Clone, Debug, Default)]
pub struct MemberDirectory {
    members: Arc<Mutex<Vec<PeerMember>>>,
}

impl MemberDirectory {
    pub fn update(&self, members: &[MemberStatus]) {
        let listed = members
            .iter()
            .map(|m| PeerMember {
                id: m.id,
                name: m.name.clone(),
                peer_urls: m.peer_urls.clone(),
                client_urls: m.client_urls.clone(),
                is_learner: m.is_learner,
            })
            .collect();
        *self.members.lock().expect("member directory lock") = listed;
    }

    fn json(&self) -> String {
        let members = self.members.lock().expect("member directory lock");
        serde_json::to_string(&*members).unwrap_or_else(|_| "[]".to_string())
    }
}

/// The most of a request read before answering.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Answers one HTTP request whose first 4 bytes (`GET `) were read already.
pub(crate) async fn serve_http(
    mut stream: BoxedStream,
    directory: &MemberDirectory,
    cluster_id: u64,
) -> std::io::Result<()> {
    let mut request = b"GET ".to_vec();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST_BYTES {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let path = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
    let (status, body) = if path == b"/members" {
        ("200 OK", directory.json())
    } else {
        ("404 Not Found", "404 page not found\n".to_string())
    };
    let content_type = if status.starts_with("200") {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nX-Etcd-Cluster-ID: {cluster_id:x}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

/// What a member of a running cluster answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteCluster {
    pub cluster_id: u64,
    pub members: Vec<PeerMember>,
}

/// Asks the member at peer URL `url` for its cluster (`https://` through
/// `security`).
pub async fn fetch_members(
    url: &str,
    security: Option<&Arc<dyn PeerSecurity>>,
    timeout: Duration,
) -> Result<RemoteCluster, String> {
    let work = async {
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let address = rest.split('/').next().unwrap_or(rest);
        let host = match address.rsplit_once(':') {
            Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
            None => address,
        };
        let unix = crate::net::is_unix_scheme(scheme);
        let tcp = crate::net::NetStream::connect(unix, address)
            .await
            .map_err(|e| format!("dial {} {address}: {e}", if unix { "unix" } else { "tcp" }))?;
        let mut stream: BoxedStream = match (scheme, security) {
            ("https" | "unixs", Some(security)) => security.connect(tcp, host.to_string()).await?,
            ("https" | "unixs", None) => return Err(format!("{url}: no peer TLS configured")),
            _ => Box::new(tcp),
        };
        let request =
            format!("GET /members HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .take(4 * 1024 * 1024)
            .read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        parse_response(&response)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(format!("{url}: timed out")),
    }
}

/// Reads the status, `X-Etcd-Cluster-ID` and the JSON body of an answer.
pub fn parse_response(response: &[u8]) -> Result<RemoteCluster, String> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete HTTP response")?;
    let head = std::str::from_utf8(&response[..split]).map_err(|_| "response head is not UTF-8")?;
    let body = &response[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        return Err(format!("unexpected answer: {status}"));
    }
    let cluster_id = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("x-etcd-cluster-id"))
        .and_then(|(_, value)| u64::from_str_radix(value.trim(), 16).ok())
        .ok_or("no X-Etcd-Cluster-ID in the answer")?;
    let members: Vec<PeerMember> =
        serde_json::from_slice(body).map_err(|e| format!("bad member list: {e}"))?;
    Ok(RemoteCluster {
        cluster_id,
        members,
    })
}

/// The member of `remote` whose peer URLs are `own` (in any order).
pub fn find_own(remote: &RemoteCluster, own: &[String]) -> Option<NodeId> {
    let mut own: Vec<&String> = own.iter().collect();
    own.sort();
    remote.members.iter().find_map(|m| {
        let mut theirs: Vec<&String> = m.peer_urls.iter().collect();
        theirs.sort();
        (theirs == own).then_some(m.id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_answer_and_refuses_garbage() {
        let ok = b"HTTP/1.1 200 OK\r\nX-Etcd-Cluster-ID: cdf818194e3a8c32\r\n\r\n\
            [{\"id\":1,\"name\":\"a\",\"peerURLs\":[\"http://a:2380\"],\"clientURLs\":[]}]";
        let remote = parse_response(ok).expect("parses");
        assert_eq!(remote.cluster_id, 0xcdf8_1819_4e3a_8c32);
        assert_eq!(find_own(&remote, &["http://a:2380".to_string()]), Some(1));
        assert_eq!(find_own(&remote, &["http://b:2380".to_string()]), None);
        for bad in [
            &b""[..],
            b"HTTP/1.1 404 Not Found\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n[]",
            b"HTTP/1.1 200 OK\r\nX-Etcd-Cluster-ID: zz\r\n\r\n[]",
            b"HTTP/1.1 200 OK\r\nX-Etcd-Cluster-ID: 1\r\n\r\n{",
            b"\xff\xfe\r\n\r\n",
        ] {
            assert!(parse_response(bad).is_err(), "{bad:?}");
        }
    }
}
