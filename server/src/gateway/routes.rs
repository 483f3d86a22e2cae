//! Every route etcd 3.4's gateway serves (from its generated
//! `rpc.pb.gw.go`, `v3lock.pb.gw.go`, `v3election.pb.gw.go`): the path after
//! `/v3/`, the gRPC method it calls, and the JSON codecs of its messages.
//!
//! ```text
//!   "kv/put" ──▶ /etcdserverpb.KV/Put   Unary   PutRequest ⇄ PutResponse
//!   "watch"  ──▶ /etcdserverpb.Watch/Watch  Bidi (one JSON object a line)
//! ```
//!
//! All are POST. `maintenance/hash` is declared twice in etcd (Hash and
//! HashKV); grpc-gateway v1 takes the first pattern that matches, so HashKV
//! is unreachable over etcd's gateway, and here too. Lock and Election go
//! through the gRPC router like the rest: once their services are
//! registered there, these routes serve them with no change here.

use cairn_proto::etcdserverpb as pb;
use cairn_proto::v3electionpb as election;
use cairn_proto::v3lockpb as lock;

use super::json::{self, Next};

/// How a method's messages flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStream,
    /// A stream of requests (JSON values in the body), a stream of responses.
    Bidi,
}

/// One gateway route.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// The path after `/v3/`.
    pub path: &'static str,
    /// The gRPC method path, e.g. `/etcdserverpb.KV/Put`.
    pub grpc_path: &'static str,
    /// How its messages flow.
    pub kind: Kind,
    /// A whole JSON body as the protobuf request.
    pub request: fn(&[u8]) -> Result<Vec<u8>, String>,
    /// The next JSON request of a stream body.
    pub next_request: fn(&[u8]) -> Next,
    /// A protobuf response as JSON.
    pub response: fn(&[u8]) -> Result<Vec<u8>, String>,
    /// A protobuf request as JSON (for the round-trip checks).
    pub request_json: fn(&[u8]) -> Result<Vec<u8>, String>,
}

macro_rules! route {
    ($path:literal, $grpc:literal, $kind:ident, $request:ty, $response:ty) => {
        Route {
            path: $path,
            grpc_path: $grpc,
            kind: Kind::$kind,
            request: json::request_to_proto::<$request>,
            next_request: json::next_request::<$request>,
            response: json::response_to_json::<$response>,
            request_json: json::response_to_json::<$request>,
        }
    };
}

/// etcd 3.4's gateway routes, in its registration order.
pub const ROUTES: &[Route] = &[
    route!(
        "kv/range",
        "/etcdserverpb.KV/Range",
        Unary,
        pb::RangeRequest,
        pb::RangeResponse
    ),
    route!(
        "kv/put",
        "/etcdserverpb.KV/Put",
        Unary,
        pb::PutRequest,
        pb::PutResponse
    ),
    route!(
        "kv/deleterange",
        "/etcdserverpb.KV/DeleteRange",
        Unary,
        pb::DeleteRangeRequest,
        pb::DeleteRangeResponse
    ),
    route!(
        "kv/txn",
        "/etcdserverpb.KV/Txn",
        Unary,
        pb::TxnRequest,
        pb::TxnResponse
    ),
    route!(
        "kv/compaction",
        "/etcdserverpb.KV/Compact",
        Unary,
        pb::CompactionRequest,
        pb::CompactionResponse
    ),
    route!(
        "watch",
        "/etcdserverpb.Watch/Watch",
        Bidi,
        pb::WatchRequest,
        pb::WatchResponse
    ),
    route!(
        "lease/grant",
        "/etcdserverpb.Lease/LeaseGrant",
        Unary,
        pb::LeaseGrantRequest,
        pb::LeaseGrantResponse
    ),
    route!(
        "lease/revoke",
        "/etcdserverpb.Lease/LeaseRevoke",
        Unary,
        pb::LeaseRevokeRequest,
        pb::LeaseRevokeResponse
    ),
    route!(
        "kv/lease/revoke",
        "/etcdserverpb.Lease/LeaseRevoke",
        Unary,
        pb::LeaseRevokeRequest,
        pb::LeaseRevokeResponse
    ),
    route!(
        "lease/keepalive",
        "/etcdserverpb.Lease/LeaseKeepAlive",
        Bidi,
        pb::LeaseKeepAliveRequest,
        pb::LeaseKeepAliveResponse
    ),
    route!(
        "lease/timetolive",
        "/etcdserverpb.Lease/LeaseTimeToLive",
        Unary,
        pb::LeaseTimeToLiveRequest,
        pb::LeaseTimeToLiveResponse
    ),
    route!(
        "kv/lease/timetolive",
        "/etcdserverpb.Lease/LeaseTimeToLive",
        Unary,
        pb::LeaseTimeToLiveRequest,
        pb::LeaseTimeToLiveResponse
    ),
    route!(
        "lease/leases",
        "/etcdserverpb.Lease/LeaseLeases",
        Unary,
        pb::LeaseLeasesRequest,
        pb::LeaseLeasesResponse
    ),
    route!(
        "kv/lease/leases",
        "/etcdserverpb.Lease/LeaseLeases",
        Unary,
        pb::LeaseLeasesRequest,
        pb::LeaseLeasesResponse
    ),
    route!(
        "cluster/member/add",
        "/etcdserverpb.Cluster/MemberAdd",
        Unary,
        pb::MemberAddRequest,
        pb::MemberAddResponse
    ),
    route!(
        "cluster/member/remove",
        "/etcdserverpb.Cluster/MemberRemove",
        Unary,
        pb::MemberRemoveRequest,
        pb::MemberRemoveResponse
    ),
    route!(
        "cluster/member/update",
        "/etcdserverpb.Cluster/MemberUpdate",
        Unary,
        pb::MemberUpdateRequest,
        pb::MemberUpdateResponse
    ),
    route!(
        "cluster/member/list",
        "/etcdserverpb.Cluster/MemberList",
        Unary,
        pb::MemberListRequest,
        pb::MemberListResponse
    ),
    route!(
        "cluster/member/promote",
        "/etcdserverpb.Cluster/MemberPromote",
        Unary,
        pb::MemberPromoteRequest,
        pb::MemberPromoteResponse
    ),
    route!(
        "maintenance/alarm",
        "/etcdserverpb.Maintenance/Alarm",
        Unary,
        pb::AlarmRequest,
        pb::AlarmResponse
    ),
    route!(
        "maintenance/status",
        "/etcdserverpb.Maintenance/Status",
        Unary,
        pb::StatusRequest,
        pb::StatusResponse
    ),
    route!(
        "maintenance/defragment",
        "/etcdserverpb.Maintenance/Defragment",
        Unary,
        pb::DefragmentRequest,
        pb::DefragmentResponse
    ),
    route!(
        "maintenance/hash",
        "/etcdserverpb.Maintenance/Hash",
        Unary,
        pb::HashRequest,
        pb::HashResponse
    ),
    route!(
        "maintenance/snapshot",
        "/etcdserverpb.Maintenance/Snapshot",
        ServerStream,
        pb::SnapshotRequest,
        pb::SnapshotResponse
    ),
    route!(
        "maintenance/transfer-leadership",
        "/etcdserverpb.Maintenance/MoveLeader",
        Unary,
        pb::MoveLeaderRequest,
        pb::MoveLeaderResponse
    ),
    route!(
        "auth/enable",
        "/etcdserverpb.Auth/AuthEnable",
        Unary,
        pb::AuthEnableRequest,
        pb::AuthEnableResponse
    ),
    route!(
        "auth/disable",
        "/etcdserverpb.Auth/AuthDisable",
        Unary,
        pb::AuthDisableRequest,
        pb::AuthDisableResponse
    ),
    route!(
        "auth/authenticate",
        "/etcdserverpb.Auth/Authenticate",
        Unary,
        pb::AuthenticateRequest,
        pb::AuthenticateResponse
    ),
    route!(
        "auth/user/add",
        "/etcdserverpb.Auth/UserAdd",
        Unary,
        pb::AuthUserAddRequest,
        pb::AuthUserAddResponse
    ),
    route!(
        "auth/user/get",
        "/etcdserverpb.Auth/UserGet",
        Unary,
        pb::AuthUserGetRequest,
        pb::AuthUserGetResponse
    ),
    route!(
        "auth/user/list",
        "/etcdserverpb.Auth/UserList",
        Unary,
        pb::AuthUserListRequest,
        pb::AuthUserListResponse
    ),
    route!(
        "auth/user/delete",
        "/etcdserverpb.Auth/UserDelete",
        Unary,
        pb::AuthUserDeleteRequest,
        pb::AuthUserDeleteResponse
    ),
    route!(
        "auth/user/changepw",
        "/etcdserverpb.Auth/UserChangePassword",
        Unary,
        pb::AuthUserChangePasswordRequest,
        pb::AuthUserChangePasswordResponse
    ),
    route!(
        "auth/user/grant",
        "/etcdserverpb.Auth/UserGrantRole",
        Unary,
        pb::AuthUserGrantRoleRequest,
        pb::AuthUserGrantRoleResponse
    ),
    route!(
        "auth/user/revoke",
        "/etcdserverpb.Auth/UserRevokeRole",
        Unary,
        pb::AuthUserRevokeRoleRequest,
        pb::AuthUserRevokeRoleResponse
    ),
    route!(
        "auth/role/add",
        "/etcdserverpb.Auth/RoleAdd",
        Unary,
        pb::AuthRoleAddRequest,
        pb::AuthRoleAddResponse
    ),
    route!(
        "auth/role/get",
        "/etcdserverpb.Auth/RoleGet",
        Unary,
        pb::AuthRoleGetRequest,
        pb::AuthRoleGetResponse
    ),
    route!(
        "auth/role/list",
        "/etcdserverpb.Auth/RoleList",
        Unary,
        pb::AuthRoleListRequest,
        pb::AuthRoleListResponse
    ),
    route!(
        "auth/role/delete",
        "/etcdserverpb.Auth/RoleDelete",
        Unary,
        pb::AuthRoleDeleteRequest,
        pb::AuthRoleDeleteResponse
    ),
    route!(
        "auth/role/grant",
        "/etcdserverpb.Auth/RoleGrantPermission",
        Unary,
        pb::AuthRoleGrantPermissionRequest,
        pb::AuthRoleGrantPermissionResponse
    ),
    route!(
        "auth/role/revoke",
        "/etcdserverpb.Auth/RoleRevokePermission",
        Unary,
        pb::AuthRoleRevokePermissionRequest,
        pb::AuthRoleRevokePermissionResponse
    ),
    route!(
        "lock/lock",
        "/v3lockpb.Lock/Lock",
        Unary,
        lock::LockRequest,
        lock::LockResponse
    ),
    route!(
        "lock/unlock",
        "/v3lockpb.Lock/Unlock",
        Unary,
        lock::UnlockRequest,
        lock::UnlockResponse
    ),
    route!(
        "election/campaign",
        "/v3electionpb.Election/Campaign",
        Unary,
        election::CampaignRequest,
        election::CampaignResponse
    ),
    route!(
        "election/proclaim",
        "/v3electionpb.Election/Proclaim",
        Unary,
        election::ProclaimRequest,
        election::ProclaimResponse
    ),
    route!(
        "election/leader",
        "/v3electionpb.Election/Leader",
        Unary,
        election::LeaderRequest,
        election::LeaderResponse
    ),
    route!(
        "election/observe",
        "/v3electionpb.Election/Observe",
        ServerStream,
        election::LeaderRequest,
        election::LeaderResponse
    ),
    route!(
        "election/resign",
        "/v3electionpb.Election/Resign",
        Unary,
        election::ResignRequest,
        election::ResignResponse
    ),
];

/// The route for a path after `/v3/`.
pub fn find(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|route| route.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_names_a_method_the_metrics_table_knows() {
        // Lock and Election join the table when their services do.
        for route in ROUTES
            .iter()
            .filter(|r| r.grpc_path.starts_with("/etcdserverpb."))
        {
            assert!(
                crate::metrics::grpc::find_method(route.grpc_path).is_some(),
                "{}",
                route.grpc_path
            );
        }
        assert_eq!(
            find("kv/lease/revoke").map(|r| r.grpc_path),
            Some("/etcdserverpb.Lease/LeaseRevoke")
        );
        assert!(find("kv/nope").is_none());
    }
}
