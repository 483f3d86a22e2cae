//! The services the proxy forwards as they are, each request with its
//! caller's token (etcd's `maintenance.go`, `auth.go`, `lease.go`,
//! `lock.go`, `election.go`).
//!
//! ```text
//!   Maintenance, Auth, Lock, Election ──▶ the same call on the cluster
//!   Lease: unary calls forwarded; LeaseKeepAlive: the client's stream piped
//!          to one upstream stream and back; TimeToLive keys lose --namespace
//! ```
//!
//! Lock and Election names are not namespaced: etcd's proxy namespaces
//! only its KV, Watch and Lease clients.

use std::sync::Arc;

use cairn_proto::etcdserverpb as pb;
use cairn_proto::{v3electionpb as election, v3lockpb as lock};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::upstream::{forward, Upstream};

/// One forwarding service; which services it implements is below.
#[derive(Clone, Debug)]
pub struct PassThrough {
    upstream: Arc<Upstream>,
}

impl PassThrough {
    pub fn new(upstream: Arc<Upstream>) -> PassThrough {
        PassThrough { upstream }
    }
}

/// Implements `$trait` for [`PassThrough`]: each listed unary method is
/// sent on `self.upstream.$client()` unchanged; `$extra` adds the rest.
macro_rules! pass_through {
    ($trait:path, $client:ident { $($method:ident($req:ty) -> $resp:ty;)* } $($extra:tt)*) => {
        #[tonic::async_trait]
        impl $trait for PassThrough {
            $(
                #[allow(clippy::clone_on_copy)] // some requests are Copy, most are not
                async fn $method(&self, request: Request<$req>) -> Result<Response<$resp>, Status> {
                    let message = request.get_ref().clone();
                    self.upstream.$client().$method(forward(&request, message)).await
                }
            )*
            $($extra)*
        }
    };
}

pass_through!(pb::maintenance_server::Maintenance, maintenance {
    alarm(pb::AlarmRequest) -> pb::AlarmResponse;
    status(pb::StatusRequest) -> pb::StatusResponse;
    defragment(pb::DefragmentRequest) -> pb::DefragmentResponse;
    hash(pb::HashRequest) -> pb::HashResponse;
    hash_kv(pb::HashKvRequest) -> pb::HashKvResponse;
    move_leader(pb::MoveLeaderRequest) -> pb::MoveLeaderResponse;
}
    type SnapshotStream = Streaming<pb::SnapshotResponse>;

    async fn snapshot(
        &self,
        request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let message = *request.get_ref();
        self.upstream.maintenance().snapshot(forward(&request, message)).await
    }
);

pass_through!(pb::auth_server::Auth, auth {
    auth_enable(pb::AuthEnableRequest) -> pb::AuthEnableResponse;
    auth_disable(pb::AuthDisableRequest) -> pb::AuthDisableResponse;
    auth_status(pb::AuthStatusRequest) -> pb::AuthStatusResponse;
    authenticate(pb::AuthenticateRequest) -> pb::AuthenticateResponse;
    user_add(pb::AuthUserAddRequest) -> pb::AuthUserAddResponse;
    user_get(pb::AuthUserGetRequest) -> pb::AuthUserGetResponse;
    user_list(pb::AuthUserListRequest) -> pb::AuthUserListResponse;
    user_delete(pb::AuthUserDeleteRequest) -> pb::AuthUserDeleteResponse;
    user_change_password(pb::AuthUserChangePasswordRequest) -> pb::AuthUserChangePasswordResponse;
    user_grant_role(pb::AuthUserGrantRoleRequest) -> pb::AuthUserGrantRoleResponse;
    user_revoke_role(pb::AuthUserRevokeRoleRequest) -> pb::AuthUserRevokeRoleResponse;
    role_add(pb::AuthRoleAddRequest) -> pb::AuthRoleAddResponse;
    role_get(pb::AuthRoleGetRequest) -> pb::AuthRoleGetResponse;
    role_list(pb::AuthRoleListRequest) -> pb::AuthRoleListResponse;
    role_delete(pb::AuthRoleDeleteRequest) -> pb::AuthRoleDeleteResponse;
    role_grant_permission(pb::AuthRoleGrantPermissionRequest) -> pb::AuthRoleGrantPermissionResponse;
    role_revoke_permission(pb::AuthRoleRevokePermissionRequest) -> pb::AuthRoleRevokePermissionResponse;
});

pass_through!(lock::lock_server::Lock, lock {
    lock(lock::LockRequest) -> lock::LockResponse;
    unlock(lock::UnlockRequest) -> lock::UnlockResponse;
});

pass_through!(election::election_server::Election, election {
    campaign(election::CampaignRequest) -> election::CampaignResponse;
    proclaim(election::ProclaimRequest) -> election::ProclaimResponse;
    leader(election::LeaderRequest) -> election::LeaderResponse;
    resign(election::ResignRequest) -> election::ResignResponse;
}
    type ObserveStream = Streaming<election::LeaderResponse>;

    async fn observe(
        &self,
        request: Request<election::LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let message = request.get_ref().clone();
        self.upstream.election().observe(forward(&request, message)).await
    }
);

pass_through!(pb::lease_server::Lease, lease {
    lease_grant(pb::LeaseGrantRequest) -> pb::LeaseGrantResponse;
    lease_revoke(pb::LeaseRevokeRequest) -> pb::LeaseRevokeResponse;
    lease_leases(pb::LeaseLeasesRequest) -> pb::LeaseLeasesResponse;
}
    type LeaseKeepAliveStream = Streaming<pb::LeaseKeepAliveResponse>;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let metadata = request.metadata().clone();
        // The client's requests, until its stream ends or breaks.
        let requests = request.into_inner().map_while(Result::ok);
        let outgoing = super::upstream::with_metadata(&metadata, requests);
        self.upstream.lease().lease_keep_alive(outgoing).await
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let message = *request.get_ref();
        let mut response = self
            .upstream
            .lease()
            .lease_time_to_live(forward(&request, message))
            .await?;
        self.upstream.namespace.lease_keys(&mut response.get_mut().keys);
        Ok(response)
    }
);
