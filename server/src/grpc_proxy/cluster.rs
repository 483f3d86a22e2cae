//! The Cluster service through the proxy and the proxy's registration
//! (etcd's `proxy/grpcproxy/cluster.go`, `register.go`).
//!
//! ```text
//!   --resolver-prefix P, --advertise-client-url A, --resolver-ttl T:
//!     register: lease(T) ─▶ put P/A = {"Op":0,"Addr":A,"Metadata":"{\"name\":host}"}
//!               ─▶ keep-alive every T/3 ─▶ lease lost? register again (1/s)
//!   MemberList: A set and P set ─▶ the proxies registered under P (or this one)
//!               A set, P not    ─▶ this proxy alone {name: host, clientURLs: [A]}
//!               A empty         ─▶ the cluster's member list
//!   MemberAdd/Remove/Update ─▶ forwarded; MemberPromote ─▶ "not implemented"
//! ```
//!
//! As in etcd, `--advertise-client-url` defaults to 127.0.0.1:23790, so
//! `member list` through a proxy started without flags names the proxy.
//! The registered members are read when asked (a serializable range of
//! P/), where etcd keeps them from a watch.

use std::sync::Arc;
use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use tonic::{Code, Request, Response, Status};

use super::upstream::{forward, Upstream};

/// How often registration is tried again after a failure (etcd: 1/s).
const REGISTER_RETRY: Duration = Duration::from_secs(1);

/// The proxy's Cluster service.
#[derive(Clone, Debug)]
pub struct ClusterProxy {
    upstream: Arc<Upstream>,
    advertise: String,
    prefix: String,
}

/// Go's `os.Hostname` on Linux.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim_end().to_string())
        .unwrap_or_default()
}

/// The value etcd's endpoints manager writes for an endpoint.
pub fn endpoint_value(addr: &str) -> String {
    let metadata = serde_json::json!({ "name": hostname() }).to_string();
    serde_json::json!({ "Op": 0, "Addr": addr, "Metadata": metadata }).to_string()
}

impl ClusterProxy {
    pub fn new(upstream: Arc<Upstream>, advertise: &str, prefix: &str) -> ClusterProxy {
        ClusterProxy {
            upstream,
            advertise: advertise.to_string(),
            prefix: prefix.to_string(),
        }
    }

    /// The proxies registered under the prefix, sorted by address.
    async fn registered(&self) -> Result<Vec<pb::Member>, Status> {
        let key = self.upstream.namespace.key(self.prefix.as_bytes());
        let range_end = prefix_end(&key).into();
        let response = self
            .upstream
            .kv()
            .range(pb::RangeRequest {
                key,
                range_end,
                serializable: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        let mut members = Vec::new();
        for kv in response.kvs {
            let Ok(update) = serde_json::from_slice::<serde_json::Value>(&kv.value) else {
                continue;
            };
            let addr = update["Addr"].as_str().unwrap_or_default().to_string();
            let metadata = update["Metadata"].as_str().unwrap_or("{}");
            let name = serde_json::from_str::<serde_json::Value>(metadata)
                .ok()
                .and_then(|m| m["name"].as_str().map(str::to_string))
                .unwrap_or_default();
            members.push(pb::Member {
                name,
                client_ur_ls: vec![addr],
                ..Default::default()
            });
        }
        members.sort_by(|a, b| a.client_ur_ls.cmp(&b.client_ur_ls));
        Ok(members)
    }
}

/// The end of the range of keys starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterProxy {
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        let message = request.get_ref().clone();
        self.upstream
            .cluster()
            .member_add(forward(&request, message))
            .await
    }

    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        let message = *request.get_ref();
        self.upstream
            .cluster()
            .member_remove(forward(&request, message))
            .await
    }

    async fn member_update(
        &self,
        request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        let message = request.get_ref().clone();
        self.upstream
            .cluster()
            .member_update(forward(&request, message))
            .await
    }

    async fn member_list(
        &self,
        request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        if self.advertise.is_empty() {
            let message = *request.get_ref();
            return self
                .upstream
                .cluster()
                .member_list(forward(&request, message))
                .await;
        }
        if !self.prefix.is_empty() {
            let members = self.registered().await?;
            if !members.is_empty() {
                return Ok(Response::new(pb::MemberListResponse {
                    members,
                    ..Default::default()
                }));
            }
        }
        Ok(Response::new(pb::MemberListResponse {
            members: vec![pb::Member {
                name: hostname(),
                client_ur_ls: vec![self.advertise.clone()],
                ..Default::default()
            }],
            ..Default::default()
        }))
    }

    async fn member_promote(
        &self,
        _request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(Status::new(Code::Unknown, "not implemented"))
    }
}

/// Keeps `<prefix>/<addr>` registered with a `ttl_seconds` lease, forever.
pub async fn register(upstream: Arc<Upstream>, prefix: String, addr: String, ttl_seconds: i64) {
    loop {
        match register_once(&upstream, &prefix, &addr, ttl_seconds).await {
            Ok(()) => {
                upstream.log.warn(
                    "grpcproxy",
                    "session expired; possible network partition or server restart",
                );
                upstream
                    .log
                    .warn("grpcproxy", "creating a new session to rejoin");
            }
            Err(status) => upstream.log.warn(
                "grpcproxy",
                &format!("failed to create a session {}", status.message()),
            ),
        }
        tokio::time::sleep(REGISTER_RETRY).await;
    }
}

/// One session: grant, put, keep alive until the lease is lost.
async fn register_once(
    upstream: &Upstream,
    prefix: &str,
    addr: &str,
    ttl_seconds: i64,
) -> Result<(), Status> {
    let lease = upstream
        .lease()
        .lease_grant(pb::LeaseGrantRequest {
            ttl: ttl_seconds,
            id: 0,
        })
        .await?
        .into_inner();
    let key = upstream
        .namespace
        .key(format!("{prefix}/{addr}").as_bytes());
    upstream
        .kv()
        .put(pb::PutRequest {
            key,
            value: endpoint_value(addr).into_bytes().into(),
            lease: lease.id,
            ..Default::default()
        })
        .await?;
    upstream.log.info(
        "grpcproxy",
        &format!("registered {addr:?} with {ttl_seconds}-second lease"),
    );
    let every = Duration::from_millis((ttl_seconds.max(1) as u64 * 1000 / 3).max(100));
    let (requests, outgoing) = tokio::sync::mpsc::channel(1);
    let mut responses = upstream
        .lease()
        .lease_keep_alive(tokio_stream::wrappers::ReceiverStream::new(outgoing))
        .await?
        .into_inner();
    loop {
        if requests
            .send(pb::LeaseKeepAliveRequest { id: lease.id })
            .await
            .is_err()
        {
            return Ok(());
        }
        match responses.message().await {
            Ok(Some(answer)) if answer.ttl > 0 => {}
            _ => return Ok(()),
        }
        tokio::time::sleep(every).await;
    }
}
