//! gRPC surface: method paths as etcd 3.4 serves them, and a loopback round
//! trip through the generated clients and servers (unary, a hand-built
//! etcd path, and the bidirectional Watch stream).

use std::pin::Pin;

use bytes::Bytes;
use cairn_proto::etcdserverpb::{
    auth_server, cluster_server, kv_client::KvClient, kv_server, lease_server, maintenance_server,
    watch_client::WatchClient, watch_request, watch_server, CompactionRequest, CompactionResponse,
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    ResponseHeader, TxnRequest, TxnResponse, WatchCancelRequest, WatchCreateRequest, WatchRequest,
    WatchResponse,
};
use cairn_proto::mvccpb::KeyValue;
use cairn_proto::{v3electionpb::election_server, v3lockpb::lock_server};
use prost::Message as _;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::tokio_stream::{self, Stream, StreamExt as _};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tonic::{Code, Request, Response, Status, Streaming};

/// Every gRPC method path of etcd 3.4's v3 API, in etcd's declaration order.
const ETCD_METHOD_PATHS: [&str; 47] = [
    "/etcdserverpb.KV/Range",
    "/etcdserverpb.KV/Put",
    "/etcdserverpb.KV/DeleteRange",
    "/etcdserverpb.KV/Txn",
    "/etcdserverpb.KV/Compact",
    "/etcdserverpb.Watch/Watch",
    "/etcdserverpb.Lease/LeaseGrant",
    "/etcdserverpb.Lease/LeaseRevoke",
    "/etcdserverpb.Lease/LeaseKeepAlive",
    "/etcdserverpb.Lease/LeaseTimeToLive",
    "/etcdserverpb.Lease/LeaseLeases",
    "/etcdserverpb.Cluster/MemberAdd",
    "/etcdserverpb.Cluster/MemberRemove",
    "/etcdserverpb.Cluster/MemberUpdate",
    "/etcdserverpb.Cluster/MemberList",
    "/etcdserverpb.Cluster/MemberPromote",
    "/etcdserverpb.Maintenance/Alarm",
    "/etcdserverpb.Maintenance/Status",
    "/etcdserverpb.Maintenance/Defragment",
    "/etcdserverpb.Maintenance/Hash",
    "/etcdserverpb.Maintenance/HashKV",
    "/etcdserverpb.Maintenance/Snapshot",
    "/etcdserverpb.Maintenance/MoveLeader",
    "/etcdserverpb.Auth/AuthEnable",
    "/etcdserverpb.Auth/AuthDisable",
    // etcd 3.5's addition, served by cairn too.
    "/etcdserverpb.Auth/AuthStatus",
    "/etcdserverpb.Auth/Authenticate",
    "/etcdserverpb.Auth/UserAdd",
    "/etcdserverpb.Auth/UserGet",
    "/etcdserverpb.Auth/UserList",
    "/etcdserverpb.Auth/UserDelete",
    "/etcdserverpb.Auth/UserChangePassword",
    "/etcdserverpb.Auth/UserGrantRole",
    "/etcdserverpb.Auth/UserRevokeRole",
    "/etcdserverpb.Auth/RoleAdd",
    "/etcdserverpb.Auth/RoleGet",
    "/etcdserverpb.Auth/RoleList",
    "/etcdserverpb.Auth/RoleDelete",
    "/etcdserverpb.Auth/RoleGrantPermission",
    "/etcdserverpb.Auth/RoleRevokePermission",
    "/v3lockpb.Lock/Lock",
    "/v3lockpb.Lock/Unlock",
    "/v3electionpb.Election/Campaign",
    "/v3electionpb.Election/Proclaim",
    "/v3electionpb.Election/Leader",
    "/v3electionpb.Election/Observe",
    "/v3electionpb.Election/Resign",
];

/// The streaming methods: (path, client streams, server streams).
const ETCD_STREAMING: [(&str, bool, bool); 4] = [
    ("/etcdserverpb.Watch/Watch", true, true),
    ("/etcdserverpb.Lease/LeaseKeepAlive", true, true),
    ("/etcdserverpb.Maintenance/Snapshot", false, true),
    ("/v3electionpb.Election/Observe", false, true),
];

#[test]
fn method_paths_and_streaming_match_etcd() {
    let set = prost_types::FileDescriptorSet::decode(cairn_proto::FILE_DESCRIPTOR_SET).unwrap();
    let files_in_etcd_order = ["etcdserverpb", "v3lockpb", "v3electionpb"];
    let mut paths = Vec::new();
    let mut streaming = Vec::new();
    for package in files_in_etcd_order {
        let file = set.file.iter().find(|f| f.package() == package).unwrap();
        for service in &file.service {
            for method in &service.method {
                let path = format!("/{package}.{}/{}", service.name(), method.name());
                if method.client_streaming() || method.server_streaming() {
                    streaming.push((
                        path.clone(),
                        method.client_streaming(),
                        method.server_streaming(),
                    ));
                }
                paths.push(path);
            }
        }
    }
    assert_eq!(paths, ETCD_METHOD_PATHS);
    let expected: Vec<_> = ETCD_STREAMING
        .iter()
        .map(|(path, client, server)| (path.to_string(), *client, *server))
        .collect();
    assert_eq!(streaming, expected);
}

#[test]
fn generated_service_names() {
    assert_eq!(kv_server::SERVICE_NAME, "etcdserverpb.KV");
    assert_eq!(watch_server::SERVICE_NAME, "etcdserverpb.Watch");
    assert_eq!(lease_server::SERVICE_NAME, "etcdserverpb.Lease");
    assert_eq!(cluster_server::SERVICE_NAME, "etcdserverpb.Cluster");
    assert_eq!(maintenance_server::SERVICE_NAME, "etcdserverpb.Maintenance");
    assert_eq!(auth_server::SERVICE_NAME, "etcdserverpb.Auth");
    assert_eq!(lock_server::SERVICE_NAME, "v3lockpb.Lock");
    assert_eq!(election_server::SERVICE_NAME, "v3electionpb.Election");
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        cluster_id: 1,
        member_id: 2,
        revision,
        raft_term: 3,
    })
}

/// Answers Range with the requested key and Put with the written pair as
/// `prev_kv`; everything else is unimplemented.
#[derive(Debug)]
struct EchoKv;

#[tonic::async_trait]
impl kv_server::Kv for EchoKv {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let key = request.into_inner().key;
        Ok(Response::new(RangeResponse {
            header: header(7),
            kvs: vec![KeyValue {
                value: [b"value of ".as_slice(), &key].concat().into(),
                key,
                create_revision: 5,
                mod_revision: 7,
                version: 2,
                lease: 0,
            }],
            more: false,
            count: 1,
        }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let put = request.into_inner();
        Ok(Response::new(PutResponse {
            header: header(8),
            prev_kv: Some(KeyValue {
                key: put.key,
                value: put.value,
                lease: put.lease,
                ..Default::default()
            }),
        }))
    }

    async fn delete_range(
        &self,
        _: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        Err(Status::unimplemented("delete_range"))
    }

    async fn txn(&self, _: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        Err(Status::unimplemented("txn"))
    }

    async fn compact(
        &self,
        _: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        Err(Status::unimplemented("compact"))
    }
}

/// Answers each create request with `created` and each cancel request with
/// `canceled`, echoing the watch id.
#[derive(Debug)]
struct EchoWatch;

type WatchResponses = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl watch_server::Watch for EchoWatch {
    type WatchStream = WatchResponses;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let responses = request.into_inner().map(|request| {
            let mut response = WatchResponse {
                header: header(9),
                ..Default::default()
            };
            match request?.request_union {
                Some(watch_request::RequestUnion::CreateRequest(create)) => {
                    response.watch_id = create.watch_id;
                    response.created = true;
                }
                Some(watch_request::RequestUnion::CancelRequest(cancel)) => {
                    response.watch_id = cancel.watch_id;
                    response.canceled = true;
                }
                Some(watch_request::RequestUnion::ProgressRequest(_)) | None => {}
            }
            Ok(response)
        });
        Ok(Response::new(Box::pin(responses) as WatchResponses))
    }
}

#[tokio::test]
async fn loopback_round_trip() {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).expect("bind loopback");
    let address = incoming.local_addr().unwrap();
    let server = tokio::spawn(
        Server::builder()
            .add_service(kv_server::KvServer::new(EchoKv))
            .add_service(watch_server::WatchServer::new(EchoWatch))
            .serve_with_incoming(incoming),
    );
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to loopback server");

    // Unary through the generated client.
    let mut kv = KvClient::new(channel.clone());
    let range = kv
        .range(RangeRequest {
            key: Bytes::from_static(b"foo"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(range.header.unwrap().revision, 7);
    assert_eq!(range.kvs[0].key, Bytes::from_static(b"foo"));
    assert_eq!(range.kvs[0].value, Bytes::from_static(b"value of foo"));

    let status = kv.txn(TxnRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);

    // Unary through a hand-written etcd method path, as etcd's Go client
    // would send it.
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let put: PutResponse = grpc
        .unary(
            Request::new(PutRequest {
                key: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
                lease: 42,
                ..Default::default()
            }),
            PathAndQuery::from_static("/etcdserverpb.KV/Put"),
            tonic_prost::ProstCodec::<PutRequest, PutResponse>::default(),
        )
        .await
        .unwrap()
        .into_inner();
    let prev = put.prev_kv.unwrap();
    assert_eq!(
        (prev.key.as_ref(), prev.value.as_ref()),
        (&b"k"[..], &b"v"[..])
    );
    assert_eq!(prev.lease, 42);

    // Bidirectional stream.
    let mut watch = WatchClient::new(channel);
    let requests = tokio_stream::iter([
        WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest {
                    key: Bytes::from_static(b"a"),
                    watch_id: 3,
                    ..Default::default()
                },
            )),
        },
        WatchRequest {
            request_union: Some(watch_request::RequestUnion::CancelRequest(
                WatchCancelRequest { watch_id: 3 },
            )),
        },
    ]);
    let mut responses = watch.watch(requests).await.unwrap().into_inner();
    let created = responses.message().await.unwrap().expect("created");
    assert!(created.created && created.watch_id == 3, "{created:?}");
    let canceled = responses.message().await.unwrap().expect("canceled");
    assert!(canceled.canceled && canceled.watch_id == 3, "{canceled:?}");
    assert!(responses.message().await.unwrap().is_none());

    server.abort();
}
