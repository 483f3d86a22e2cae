//! The KV service through the proxy (etcd's `proxy/grpcproxy/kv.go`):
//! requests forwarded with the caller's token, serializable ranges
//! answered from [`super::cache`], writes invalidating what they touch.
//!
//! ```text
//!   Range{serializable} ── cache hit ──▶ answer (cache_hits_total + 1)
//!        └── miss (cache_misses_total + 1) / linearizable ──▶ cluster ──▶ cache.add
//!   Put / DeleteRange ──▶ cache.invalidate(range) ──▶ cluster
//!   Txn ──▶ cluster ──▶ invalidate compares and the branch's writes, cache its ranges
//!   Compact ──▶ cluster ──▶ cache.compact(revision)
//! ```
//!
//! The cache holds responses as the client sees them (namespace stripped),
//! keyed by the client's request.

use std::sync::Arc;

use cairn_proto::etcdserverpb as pb;
use tonic::{Request, Response, Status};

use super::cache::Lookup;
use super::upstream::{forward, Upstream};

/// etcd's `ErrGRPCEmptyKey`, which a namespaced client returns itself.
const EMPTY_KEY: &str = "etcdserver: key is not provided";
/// etcd's `ErrGRPCCompacted`.
const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";

/// The proxy's KV service.
#[derive(Clone, Debug)]
pub struct KvProxy {
    upstream: Arc<Upstream>,
}

impl KvProxy {
    pub fn new(upstream: Arc<Upstream>) -> KvProxy {
        KvProxy { upstream }
    }

    fn check_key(&self, key: &[u8]) -> Result<(), Status> {
        if key.is_empty() && !self.upstream.namespace.is_empty() {
            return Err(Status::invalid_argument(EMPTY_KEY));
        }
        Ok(())
    }

    fn cache_gauge(&self) {
        let size = self.upstream.cache.size();
        self.upstream.metrics.cache_keys.set(size as i64);
    }

    /// After a txn: what its compares and the branch taken did to the cache.
    fn txn_to_cache(&self, ops: &[pb::RequestOp], responses: &[pb::ResponseOp]) {
        use pb::request_op::Request as Op;
        use pb::response_op::Response as Answer;
        let cache = &self.upstream.cache;
        for (op, answer) in ops.iter().zip(responses) {
            match (&op.request, &answer.response) {
                (Some(Op::RequestPut(put)), _) => cache.invalidate(&put.key, b""),
                (Some(Op::RequestDeleteRange(delete)), _) => {
                    cache.invalidate(&delete.key, &delete.range_end)
                }
                (Some(Op::RequestRange(range)), Some(Answer::ResponseRange(response))) => {
                    cache.add(range, response)
                }
                (Some(Op::RequestTxn(txn)), Some(Answer::ResponseTxn(response))) => {
                    for compare in &txn.compare {
                        cache.invalidate(&compare.key, &compare.range_end);
                    }
                    let branch = if response.succeeded {
                        &txn.success
                    } else {
                        &txn.failure
                    };
                    self.txn_to_cache(branch, &response.responses);
                }
                _ => {}
            }
        }
    }
}

#[tonic::async_trait]
impl pb::kv_server::Kv for KvProxy {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let asked = request.get_ref().clone();
        self.check_key(&asked.key)?;
        let metrics = &self.upstream.metrics;
        if asked.serializable {
            match self.upstream.cache.get(&asked) {
                Lookup::Hit(response) => {
                    metrics.cache_hits.inc();
                    return Ok(Response::new(response));
                }
                Lookup::Compacted => {
                    metrics.cache_hits.inc();
                    return Err(Status::out_of_range(COMPACTED));
                }
                Lookup::Miss => metrics.cache_misses.inc(),
            }
        }
        let mut message = asked.clone();
        self.upstream.namespace.range(&mut message);
        let mut response = self
            .upstream
            .kv()
            .range(forward(&request, message))
            .await?
            .into_inner();
        self.upstream.namespace.range_response(&mut response);
        self.upstream.cache.add(&asked, &response);
        self.cache_gauge();
        Ok(Response::new(response))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        self.check_key(&request.get_ref().key)?;
        self.upstream.cache.invalidate(&request.get_ref().key, b"");
        self.cache_gauge();
        let mut message = request.get_ref().clone();
        self.upstream.namespace.put(&mut message);
        let mut response = self
            .upstream
            .kv()
            .put(forward(&request, message))
            .await?
            .into_inner();
        self.upstream.namespace.put_response(&mut response);
        Ok(Response::new(response))
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let asked = request.get_ref();
        self.check_key(&asked.key)?;
        self.upstream.cache.invalidate(&asked.key, &asked.range_end);
        self.cache_gauge();
        let mut message = asked.clone();
        self.upstream.namespace.delete(&mut message);
        let mut response = self
            .upstream
            .kv()
            .delete_range(forward(&request, message))
            .await?
            .into_inner();
        self.upstream.namespace.delete_response(&mut response);
        Ok(Response::new(response))
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let asked = request.get_ref().clone();
        let mut message = asked.clone();
        self.upstream.namespace.txn(&mut message);
        let mut response = self
            .upstream
            .kv()
            .txn(forward(&request, message))
            .await?
            .into_inner();
        self.upstream.namespace.txn_response(&mut response);
        for compare in &asked.compare {
            self.upstream
                .cache
                .invalidate(&compare.key, &compare.range_end);
        }
        let branch = if response.succeeded {
            &asked.success
        } else {
            &asked.failure
        };
        self.txn_to_cache(branch, &response.responses);
        self.cache_gauge();
        Ok(Response::new(response))
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let revision = request.get_ref().revision;
        let message = *request.get_ref();
        let response = self
            .upstream
            .kv()
            .compact(forward(&request, message))
            .await?;
        self.upstream.cache.compact(revision);
        self.cache_gauge();
        Ok(response)
    }
}
