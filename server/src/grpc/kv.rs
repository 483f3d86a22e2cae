//! etcd's `KV` service: each request is checked and converted, made as a
//! typed call from its caller (the member checks permissions), and its
//! response converted back.

use cairn_core::member::{calls, ClientError};
use cairn_proto::etcdserverpb as pb;
use prost::Message as _;
use tonic::{Request, Response, Status};

use super::backend::Backend;
use super::{convert, errors};

/// The `KV` service.
#[derive(Clone, Debug)]
pub struct KvService {
    backend: Backend,
    /// etcd's `--max-request-bytes`: a write whose encoding is larger is
    /// refused with "etcdserver: request is too large".
    max_request_bytes: usize,
    /// etcd's `--max-txn-ops`, checked before a txn is proposed.
    max_txn_ops: usize,
}

impl KvService {
    pub fn new(backend: Backend, max_request_bytes: usize, max_txn_ops: usize) -> KvService {
        KvService {
            backend,
            max_request_bytes,
            max_txn_ops,
        }
    }

    fn check_size(&self, encoded_len: usize) -> Result<(), Status> {
        if encoded_len > self.max_request_bytes {
            return Err(errors::client_error(&ClientError::TooLarge));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl pb::kv_server::Kv for KvService {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let range = convert::range_request(request.into_inner())?;
        let (header, range) = self.backend.call(caller, range).await?;
        Ok(Response::new(convert::range_response(&header, range)))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let request = request.into_inner();
        self.check_size(request.encoded_len())?;
        let put = convert::put_request(request)?;
        let (header, put) = self.backend.call(caller, put).await?;
        Ok(Response::new(convert::put_response(&header, put)))
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let request = request.into_inner();
        self.check_size(request.encoded_len())?;
        let delete = convert::delete_range_request(request)?;
        let (header, deleted) = self.backend.call(caller, delete).await?;
        Ok(Response::new(convert::delete_range_response(
            &header, deleted,
        )))
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let request = request.into_inner();
        self.check_size(request.encoded_len())?;
        let txn = convert::txn_request(request, self.max_txn_ops)?;
        let (header, txn) = self.backend.call(caller, txn).await?;
        Ok(Response::new(convert::txn_response(&header, txn)))
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let caller = self.backend.caller(&request)?;
        let (revision, physical) = convert::compaction_request(request.into_inner())?;
        let compact = calls::Compact { revision, physical };
        let (header, ()) = self.backend.call(caller, compact).await?;
        Ok(Response::new(convert::compaction_response(&header)))
    }
}
