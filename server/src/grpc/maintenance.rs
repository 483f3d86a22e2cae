//! etcd's `Maintenance` service: status, hashes, alarms, defragmenting and
//! moving the leader, and snapshots in etcd's backup format (`backup`).

use std::pin::Pin;
use std::sync::Arc;

use cairn_core::auth::Caller;
use cairn_core::member::{calls, AlarmAction};
use cairn_proto::etcdserverpb as pb;
use futures_core::Stream;
use tonic::{Request, Response, Status};

use super::backend::Backend;
use super::convert;
use crate::logging::Logger;
use cairn_runtime_tokio::DataDir;

/// The `Maintenance` service.
#[derive(Clone, Debug)]
pub struct MaintenanceService {
    backend: Backend,
    /// The member's files, whose size `Status` reports as the db size.
    files: Option<DataDir>,
    log: Arc<Logger>,
}

impl MaintenanceService {
    pub fn new(backend: Backend, files: Option<DataDir>, log: Arc<Logger>) -> MaintenanceService {
        MaintenanceService {
            backend,
            files,
            log,
        }
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
        let (header, mut info) = self.backend.call(Caller::Anonymous, calls::Status).await?;
        if let Some(files) = self.files.clone() {
            // The size on disk, as etcd's db size is its file's (never less
            // than what is in use, which is in memory before any snapshot).
            let on_disk = tokio::task::spawn_blocking(move || files.snapshot_bytes())
                .await
                .unwrap_or(0);
            info.db_size = info
                .db_size_in_use
                .max(i64::try_from(on_disk).unwrap_or(i64::MAX));
        }
        Ok(Response::new(convert::status_response(&header, info)))
    }

    /// Compacts the member's files: a fresh snapshot, every older snapshot
    /// and WAL segment released. The member keeps serving meanwhile.
    async fn defragment(
        &self,
        request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let (header, ()) = self.backend.call(caller, calls::Defragment).await?;
        Ok(Response::new(pb::DefragmentResponse {
            header: Some(convert::header(&header)),
        }))
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
        request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let caller = self.backend.caller(&request)?;
        let (_, image) = self.backend.call(caller, calls::Backup).await?;
        let dir = self
            .files
            .as_ref()
            .map_or_else(std::env::temp_dir, |files| files.snap.clone());
        let messages = crate::backup::stream_backup(image, dir, self.log.clone());
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(messages),
        )))
    }

    /// Asked of the leader (etcdctl finds it); another member answers "not
    /// leader", as etcd's does. The answer has no header: etcd 3.4's has
    /// none (`etcdctl move-leader -w json` prints `{}`).
    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let target = request.into_inner().target_id;
        self.backend
            .call(caller, calls::MoveLeader { target })
            .await?;
        Ok(Response::new(pb::MoveLeaderResponse { header: None }))
    }
}
