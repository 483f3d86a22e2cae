//! etcd's `v3lockpb.Lock` service: cairn-client's [`Mutex`] run inside the
//! member, as the caller (etcd 3.4's `etcdserver/api/v3lock`).
//!
//! ```text
//!   Lock{name, lease} ──▶ Session on the caller's lease (no keep-alive:
//!        │                the caller keeps its lease alive)
//!        └─▶ Mutex(name).lock() ──▶ {header, key = name/<lease hex>}
//!   Unlock{key} ──▶ delete(key) ──▶ {header}
//! ```
//!
//! Every call goes through [`InProcess`] with the caller's credentials, so
//! the caller needs read and write permission on `name/`.

use cairn_client::concurrency::{Mutex, Session, SessionOptions};
use cairn_proto::etcdserverpb as pb;
use cairn_proto::v3lockpb::{self as lockpb, lock_server::Lock};
use tonic::{Request, Response, Status};

use super::in_process::{recipe_status, InProcess};

/// The `Lock` service.
#[derive(Clone, Debug)]
pub struct LockService {
    in_process: InProcess,
}

impl LockService {
    pub fn new(in_process: InProcess) -> LockService {
        LockService { in_process }
    }
}

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(
        &self,
        request: Request<lockpb::LockRequest>,
    ) -> Result<Response<lockpb::LockResponse>, Status> {
        let client = self.in_process.client_for(&request);
        let request = request.into_inner();
        let options = SessionOptions::default()
            .with_lease(request.lease)
            .without_keep_alive();
        let session = Session::new(&client, options)
            .await
            .map_err(recipe_status)?;
        let mut mutex = Mutex::new(&session, &request.name);
        mutex.lock().await.map_err(recipe_status)?;
        Ok(Response::new(lockpb::LockResponse {
            header: mutex.header(),
            key: mutex.key().clone(),
        }))
    }

    async fn unlock(
        &self,
        request: Request<lockpb::UnlockRequest>,
    ) -> Result<Response<lockpb::UnlockResponse>, Status> {
        let client = self.in_process.client_for(&request);
        let deleted = client
            .kv()
            .delete_range(pb::DeleteRangeRequest {
                key: request.into_inner().key,
                ..pb::DeleteRangeRequest::default()
            })
            .await
            .map_err(|status| recipe_status(status.into()))?
            .into_inner();
        Ok(Response::new(lockpb::UnlockResponse {
            header: deleted.header,
        }))
    }
}
