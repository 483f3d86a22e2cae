//! lease-keepalive: each client grants a lease, opens a LeaseKeepAlive stream
//! and times request/response round trips on it.

use cairn_client::AuthedChannel as Conn;
use cairn_proto::etcdserverpb::lease_client::LeaseClient;
use cairn_proto::etcdserverpb::{LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

/// TTL of the benchmark's leases; long enough to outlive any run's pauses.
const LEASE_TTL_S: i64 = 300;
/// Keep-alive requests buffered towards the stream (one is in flight at a time).
const KEEPALIVE_QUEUE_REQUESTS: usize = 4;

#[derive(Debug)]
pub struct KeepAliveWorker {
    lease_id: i64,
    requests: mpsc::Sender<LeaseKeepAliveRequest>,
    responses: Streaming<LeaseKeepAliveResponse>,
}

impl KeepAliveWorker {
    pub async fn new(channel: Conn) -> Result<Self, String> {
        let mut client = LeaseClient::new(channel);
        let grant = client
            .lease_grant(LeaseGrantRequest {
                ttl: LEASE_TTL_S,
                id: 0,
            })
            .await
            .map_err(|status| format!("lease grant: {}", crate::recorder::status_text(&status)))?
            .into_inner();
        let (requests, receiver) = mpsc::channel(KEEPALIVE_QUEUE_REQUESTS);
        // grpc-go (etcd) sends the response headers only with the first
        // response, so queue one keep-alive before opening the call.
        let warm_up = LeaseKeepAliveRequest { id: grant.id };
        requests
            .send(warm_up)
            .await
            .map_err(|_| "keep-alive queue closed".to_string())?;
        let mut responses = client
            .lease_keep_alive(ReceiverStream::new(receiver))
            .await
            .map_err(|status| format!("lease keep-alive stream: {}", status.message()))?
            .into_inner();
        match responses.message().await {
            Ok(Some(_)) => {}
            Ok(None) => return Err("keep-alive stream ended".to_string()),
            Err(status) => return Err(format!("lease keep-alive: {}", status.message())),
        }
        Ok(Self {
            lease_id: grant.id,
            requests,
            responses,
        })
    }
}

impl crate::driver::Worker for KeepAliveWorker {
    async fn call(&mut self, _ticket: u64) -> Result<(), Status> {
        self.requests
            .send(LeaseKeepAliveRequest { id: self.lease_id })
            .await
            .map_err(|_| Status::unavailable("keep-alive stream closed"))?;
        match self.responses.message().await? {
            Some(response) if response.ttl > 0 => Ok(()),
            Some(_) => Err(Status::not_found("lease expired or revoked (TTL <= 0)")),
            None => Err(Status::unavailable("keep-alive stream ended")),
        }
    }
}
