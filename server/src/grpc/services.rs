//! The v3 gRPC services a member serves: KV, Cluster and Maintenance, each a
//! thin layer that reads the caller's credentials, converts, submits to the
//! member (which checks them), and converts back.

use cairn_core::auth::Caller;
use cairn_core::member::{ClientError, ClientRequest, ClientResponse, Header};
use cairn_proto::etcdserverpb as pb;
use cairn_runtime_tokio::MemberHandle;
use prost::Message as _;
use tonic::{Request, Response, Status};

use super::{convert, status};

/// Shared by every service.
#[derive(Clone, Debug)]
pub struct Services {
    pub handle: MemberHandle,
    /// etcd's `--max-request-bytes`: a write whose encoding is larger is refused
    /// with "etcdserver: request is too large".
    pub max_request_bytes: usize,
    /// etcd's `--max-txn-ops`, checked before a txn is proposed.
    pub max_txn_ops: usize,
    /// The connection to the leader's client URL that keep-alives and TTL
    /// queries are forwarded over, kept while the leader stays the same.
    pub leader_channel: LeaderChannel,
    /// Reads callers' tokens and issues new ones (`--auth-token`).
    pub tokens: std::sync::Arc<super::auth::TokenProvider>,
    /// Opens that connection (TLS for `https://` client URLs).
    pub dialer: crate::tls::Dialer,
}

/// A cached channel to the leader, by its client URL.
pub type LeaderChannel =
    std::sync::Arc<std::sync::Mutex<Option<(String, tonic::transport::Channel)>>>;

impl Services {
    /// Submits a request from `caller`.
    pub(crate) async fn call_as(
        &self,
        caller: Caller,
        request: ClientRequest,
    ) -> Result<(Header, ClientResponse), Status> {
        let (header, result) = self.handle.request(caller, request).await;
        result
            .map(|response| (header, response))
            .map_err(|error| status::client_error(&error))
    }

    fn check_size(&self, encoded_len: usize) -> Result<(), Status> {
        if encoded_len > self.max_request_bytes {
            return Err(status::client_error(&ClientError::TooLarge));
        }
        Ok(())
    }
}

fn unexpected(response: &ClientResponse) -> Status {
    Status::internal(format!("etcdserver: unexpected response {response:?}"))
}

#[tonic::async_trait]
impl pb::kv_server::Kv for Services {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let caller = self.tokens.caller(&request)?;
        let request = convert::range_request(request.into_inner())?;
        match self.call_as(caller, ClientRequest::Range(request)).await? {
            (header, ClientResponse::Range(range)) => {
                Ok(Response::new(convert::range_response(&header, range)))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let caller = self.tokens.caller(&request)?;
        let request = request.into_inner();
        self.check_size(request.encoded_len())?;
        let request = convert::put_request(request)?;
        match self.call_as(caller, ClientRequest::Put(request)).await? {
            (header, ClientResponse::Put(put)) => {
                Ok(Response::new(convert::put_response(&header, put)))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let caller = self.tokens.caller(&request)?;
        let request = request.into_inner();
        self.check_size(request.encoded_len())?;
        let request = convert::delete_range_request(request)?;
        match self
            .call_as(caller, ClientRequest::DeleteRange(request))
            .await?
        {
            (header, ClientResponse::DeleteRange(deleted)) => Ok(Response::new(
                convert::delete_range_response(&header, deleted),
            )),
            (_, other) => Err(unexpected(&other)),
        }
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let caller = self.tokens.caller(&request)?;
        let request = request.into_inner();
        self.check_size(request.encoded_len())?;
        let request = convert::txn_request(request, self.max_txn_ops)?;
        match self.call_as(caller, ClientRequest::Txn(request)).await? {
            (header, ClientResponse::Txn(txn)) => {
                Ok(Response::new(convert::txn_response(&header, txn)))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let caller = self.tokens.caller(&request)?;
        let request = request.into_inner();
        let (revision, physical) = convert::compaction_request(request)?;
        match self
            .call_as(caller, ClientRequest::Compact { revision, physical })
            .await?
        {
            (header, ClientResponse::Compact) => {
                Ok(Response::new(convert::compaction_response(&header)))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }
}

fn not_supported(what: &str) -> Status {
    Status::unimplemented(format!("{what} is not supported by cairn yet"))
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for Services {
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
        match self
            .call_as(Caller::Anonymous, ClientRequest::MemberList)
            .await?
        {
            (header, ClientResponse::MemberList(members)) => Ok(Response::new(
                convert::member_list_response(&header, members),
            )),
            (_, other) => Err(unexpected(&other)),
        }
    }

    async fn member_promote(
        &self,
        _request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(not_supported("MemberPromote"))
    }
}

#[tonic::async_trait]
impl pb::maintenance_server::Maintenance for Services {
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        use cairn_core::member::AlarmAction;
        let caller = self.tokens.caller(&request)?;
        let request = request.into_inner();
        let action = match pb::alarm_request::AlarmAction::try_from(request.action) {
            Ok(pb::alarm_request::AlarmAction::Get) => AlarmAction::Get,
            Ok(pb::alarm_request::AlarmAction::Activate) => AlarmAction::Activate,
            Ok(pb::alarm_request::AlarmAction::Deactivate) => AlarmAction::Deactivate,
            Err(_) => return Err(Status::invalid_argument("etcdserver: unknown alarm action")),
        };
        let alarm = convert::alarm_kind(request.alarm);
        if action != AlarmAction::Get && alarm.is_none() {
            // etcd ignores activating or clearing the NONE alarm.
            let (header, _) = self
                .handle
                .request(Caller::Anonymous, ClientRequest::Status)
                .await;
            return Ok(Response::new(convert::alarm_response(&header, &[])));
        }
        let alarm_request = ClientRequest::Alarm {
            action,
            member: request.member_id,
            alarm,
        };
        match self.call_as(caller, alarm_request).await? {
            (header, ClientResponse::Alarms(alarms)) => {
                // A Get lists every alarm; a change answers with the alarm it
                // changed (etcd's shape).
                let shown: Vec<_> = match action {
                    AlarmAction::Get => alarms,
                    _ => vec![(request.member_id, alarm.expect("checked above"))],
                };
                Ok(Response::new(convert::alarm_response(&header, &shown)))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        match self
            .call_as(Caller::Anonymous, ClientRequest::Status)
            .await?
        {
            (header, ClientResponse::Status(info)) => {
                Ok(Response::new(convert::status_response(&header, info)))
            }
            (_, other) => Err(unexpected(&other)),
        }
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
        let caller = self.tokens.caller(&request)?;
        match self.call_as(caller, ClientRequest::Hash).await? {
            (header, ClientResponse::Hash { hash }) => {
                Ok(Response::new(convert::hash_response(&header, hash)))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        let caller = self.tokens.caller(&request)?;
        let revision = request.into_inner().revision;
        match self
            .call_as(caller, ClientRequest::HashKv { revision })
            .await?
        {
            (header, ClientResponse::HashKv(hash)) => {
                Ok(Response::new(convert::hash_kv_response(&header, hash)))
            }
            (_, other) => Err(unexpected(&other)),
        }
    }

    type SnapshotStream = std::pin::Pin<
        Box<dyn futures_core::Stream<Item = Result<pb::SnapshotResponse, Status>> + Send + 'static>,
    >;

    async fn snapshot(
        &self,
        _request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(not_supported("Snapshot"))
    }

    async fn move_leader(
        &self,
        _request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        Err(not_supported("MoveLeader"))
    }
}
