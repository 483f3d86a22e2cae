//! etcd's `Lease` service. Grants and revocations go through the log; keep-
//! alives and TTL queries are answered by the leader, which keeps the lease
//! clock: a member that is not the leader forwards them there over the
//! leader's client URL, as etcd forwards them over its peer API.

use std::pin::Pin;

use cairn_core::auth::Caller;
use cairn_core::lease::LeaseError;
use cairn_core::member::{calls, ClientError};
use cairn_proto::etcdserverpb as pb;
use futures_core::Stream;
use pb::lease_client::LeaseClient;
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use super::backend::Backend;
use super::leader::LeaderLink;
use super::{convert, errors};

/// Keep-alive responses buffered per stream before the client must read.
const KEEPALIVE_QUEUE: usize = 64;

/// The `Lease` service.
#[derive(Clone, Debug)]
pub struct LeaseService {
    backend: Backend,
    /// Where keep-alives and TTL queries are forwarded.
    leader: LeaderLink,
}

impl LeaseService {
    pub fn new(backend: Backend, leader: LeaderLink) -> LeaseService {
        LeaseService { backend, leader }
    }

    /// A client connected to the current leader.
    async fn leader_client(&self) -> Result<LeaseClient<Channel>, Status> {
        Ok(LeaseClient::new(self.leader.channel().await?))
    }

    /// One keep-alive, here or at the leader. An unknown or expired lease is
    /// answered with TTL 0, as etcd does (not an error).
    async fn keep_alive_once(&self, id: i64) -> Result<pb::LeaseKeepAliveResponse, Status> {
        let renewal = self
            .backend
            .try_call(Caller::Anonymous, calls::LeaseKeepAlive { id })
            .await;
        match renewal {
            Ok((header, renewed)) => Ok(pb::LeaseKeepAliveResponse {
                header: Some(convert::header(&header)),
                id: renewed.id,
                ttl: renewed.ttl_secs,
            }),
            Err((header, ClientError::Lease(LeaseError::NotFound | LeaseError::Expired))) => {
                Ok(pb::LeaseKeepAliveResponse {
                    header: Some(convert::header(&header)),
                    id,
                    ttl: 0,
                })
            }
            Err((_, ClientError::NotLeader)) => {
                let mut leader = self.leader_client().await?;
                let request = pb::LeaseKeepAliveRequest { id };
                let once = tokio_stream::once(request);
                let mut responses = leader.lease_keep_alive(once).await?.into_inner();
                responses
                    .message()
                    .await?
                    .ok_or_else(|| errors::client_error(&ClientError::LeaderChanged))
            }
            Err((_, error)) => Err(errors::client_error(&error)),
        }
    }
}

type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<pb::LeaseKeepAliveResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::lease_server::Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let request = request.into_inner();
        let grant = calls::LeaseGrant {
            id: request.id,
            ttl_secs: request.ttl,
        };
        let (header, granted) = self.backend.call(caller, grant).await?;
        Ok(Response::new(pb::LeaseGrantResponse {
            header: Some(convert::header(&header)),
            id: granted.id,
            ttl: granted.ttl_secs,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let id = request.into_inner().id;
        let (header, ()) = self.backend.call(caller, calls::LeaseRevoke { id }).await?;
        Ok(Response::new(pb::LeaseRevokeResponse {
            header: Some(convert::header(&header)),
        }))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut requests = request.into_inner();
        let (tx, rx) = mpsc::channel(KEEPALIVE_QUEUE);
        let service = self.clone();
        tokio::spawn(async move {
            // Each request is answered in order; the stream ends with the
            // client's, or on an error.
            while let Ok(Some(request)) = requests.message().await {
                let answer = service.keep_alive_once(request.id).await;
                let failed = answer.is_err();
                if tx.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let query = calls::LeaseTimeToLive {
            id: request.id,
            keys: request.keys,
        };
        match self.backend.try_call(Caller::Anonymous, query).await {
            Ok((header, ttl)) => Ok(Response::new(pb::LeaseTimeToLiveResponse {
                header: Some(convert::header(&header)),
                id: ttl.id,
                ttl: ttl.remaining_secs,
                granted_ttl: ttl.granted_ttl_secs,
                keys: ttl.keys,
            })),
            // etcd answers an unknown lease with TTL -1, not an error.
            Err((header, ClientError::Lease(LeaseError::NotFound | LeaseError::Expired))) => {
                Ok(Response::new(pb::LeaseTimeToLiveResponse {
                    header: Some(convert::header(&header)),
                    id: request.id,
                    ttl: -1,
                    granted_ttl: 0,
                    keys: Vec::new(),
                }))
            }
            Err((_, ClientError::NotLeader)) => {
                let mut leader = self.leader_client().await?;
                leader.lease_time_to_live(request).await
            }
            Err((_, error)) => Err(errors::client_error(&error)),
        }
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        let (header, ids) = self
            .backend
            .call(Caller::Anonymous, calls::LeaseLeases)
            .await?;
        Ok(Response::new(pb::LeaseLeasesResponse {
            header: Some(convert::header(&header)),
            leases: ids.into_iter().map(|id| pb::LeaseStatus { id }).collect(),
        }))
    }
}
