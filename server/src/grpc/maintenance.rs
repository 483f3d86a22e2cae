//! etcd's `Maintenance` service: status, hashes, alarms and moving the
//! leader. Defragment and Snapshot are not offered yet, and say so.

use std::pin::Pin;

use cairn_core::auth::Caller;
use cairn_core::member::{calls, AlarmAction};
use cairn_proto::etcdserverpb as pb;
use futures_core::Stream;
use tonic::{Request, Response, Status};

use super::backend::Backend;
use super::convert;
use super::errors::not_supported;

/// The `Maintenance` service.
#[derive(Clone, Debug)]
pub struct MaintenanceService {
    backend: Backend,
}

impl MaintenanceService {
    pub fn new(backend: Backend) -> MaintenanceService {
        MaintenanceService { backend }
    }
}

/// etcd's alarm action for its protobuf number.
fn alarm_action(action: i32) -> Result<AlarmAction, Status> {
    use pb::alarm_request::AlarmAction as Wire;
    match Wire::try_from(action) {
        Ok(Wire::Get) => Ok(AlarmAction::Get),
        Ok(Wire::Activate) => Ok(AlarmAction::Activate),
        Ok(Wire::Deactivate) => Ok(AlarmAction::Deactivate),
        Err(_) => Err(Status::invalid_argument("etcdserver: unknown alarm action")),
    }
}

type SnapshotStream =
    Pin<Box<dyn Stream<Item = Result<pb::SnapshotResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::maintenance_server::Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let request = request.into_inner();
        let action = alarm_action(request.action)?;
        let alarm = convert::alarm_kind(request.alarm);
        if action != AlarmAction::Get && alarm.is_none() {
            // etcd ignores activating or clearing the NONE alarm, and answers
            // with the member's header all the same.
            let (Ok((header, _)) | Err((header, _))) = self
                .backend
                .try_call(Caller::Anonymous, calls::Status)
                .await;
            return Ok(Response::new(convert::alarm_response(&header, &[])));
        }
        let call = calls::Alarm {
            action,
            member: request.member_id,
            alarm,
        };
        let (header, alarms) = self.backend.call(caller, call).await?;
        // A Get lists every alarm; a change answers with the alarm it changed
        // (etcd's shape).
        let shown: Vec<_> = match (action, alarm) {
            (AlarmAction::Get, _) | (_, None) => alarms,
            (_, Some(alarm)) => vec![(request.member_id, alarm)],
        };
        Ok(Response::new(convert::alarm_response(&header, &shown)))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let (header, info) = self.backend.call(Caller::Anonymous, calls::Status).await?;
        Ok(Response::new(convert::status_response(&header, info)))
    }

    async fn defragment(
        &self,
        _request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        Err(not_supported("Defragment"))
    }

    async fn hash(
        &self,
        request: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let (header, hash) = self.backend.call(caller, calls::Hash).await?;
        Ok(Response::new(convert::hash_response(&header, hash)))
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let call = convert::hash_kv_request(request.into_inner());
        let (header, hash) = self.backend.call(caller, call).await?;
        Ok(Response::new(convert::hash_kv_response(&header, hash)))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        _request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(not_supported("Snapshot"))
    }

    /// Asked of the leader (etcdctl finds it); another member answers "not
    /// leader", as etcd's does.
    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let target = request.into_inner().target_id;
        let (header, ()) = self
            .backend
            .call(caller, calls::MoveLeader { target })
            .await?;
        Ok(Response::new(pb::MoveLeaderResponse {
            header: Some(convert::header(&header)),
        }))
    }
}
