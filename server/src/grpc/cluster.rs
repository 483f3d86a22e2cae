//! etcd's `Cluster` service. cairn lists members; changing membership at
//! run time is not offered yet, and says so.

use cairn_core::auth::Caller;
use cairn_core::member::calls;
use cairn_proto::etcdserverpb as pb;
use tonic::{Request, Response, Status};

use super::backend::Backend;
use super::convert;
use super::errors::not_supported;

/// The `Cluster` service.
#[derive(Clone, Debug)]
pub struct ClusterService {
    backend: Backend,
}

impl ClusterService {
    pub fn new(backend: Backend) -> ClusterService {
        ClusterService { backend }
    }
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn member_add(
        &self,
        _request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        Err(not_supported("MemberAdd"))
    }

    async fn member_remove(
        &self,
        _request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        Err(not_supported("MemberRemove"))
    }

    async fn member_update(
        &self,
        _request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        Err(not_supported("MemberUpdate"))
    }

    async fn member_list(
        &self,
        _request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let (header, members) = self
            .backend
            .call(Caller::Anonymous, calls::MemberList)
            .await?;
        Ok(Response::new(convert::member_list_response(
            &header, members,
        )))
    }

    async fn member_promote(
        &self,
        _request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(not_supported("MemberPromote"))
    }
}
