//! etcd's v3 gRPC API, one file per service:
//!
//! ```text
//!   kv.rs  watch.rs  lease.rs  cluster.rs  maintenance.rs  auth.rs
//!     │       │         │          │            │            │
//!     └───────┴─────────┴──── backend.rs ───────┴────────────┘
//!              caller (tokens.rs) + typed calls to the member
//!   convert/   protobuf ⇄ core, per service     errors.rs  etcd's error table
//! ```
//!
//! Each service reads its caller's credentials, converts and checks the
//! request, makes a typed call to the member (which checks permissions), and
//! converts the answer back. Lock and election run cairn-client's recipes
//! on a client of the other services, in process and as the caller:
//!
//! ```text
//!   lock.rs  election.rs ──▶ in_process.rs ══ (in memory) ══▶ KV, Lease, Watch
//! ```

pub mod auth;
pub mod backend;
pub mod cluster;
pub mod convert;
pub mod election;
pub mod errors;
pub mod in_process;
pub mod kv;
pub mod leader;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod tokens;
pub mod watch;

use cairn_proto::etcdserverpb::{
    auth_server::AuthServer, cluster_server::ClusterServer, kv_server::KvServer,
    lease_server::LeaseServer, maintenance_server::MaintenanceServer, watch_server::WatchServer,
};

use cairn_proto::v3electionpb::election_server::ElectionServer;
use cairn_proto::v3lockpb::lock_server::LockServer;

pub use backend::Backend;

use crate::tls::Dialer;

/// gRPC's own framing on top of `--max-request-bytes` (etcd's
/// `grpcOverheadBytes`).
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The limits the services enforce.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// etcd's `--max-request-bytes`.
    pub max_request_bytes: usize,
    /// etcd's `--max-txn-ops`.
    pub max_txn_ops: usize,
}

/// Every service, routed by its gRPC path. `dialer` opens connections to the
/// leader, which lease keep-alives and TTL queries are forwarded to.
pub fn router(
    backend: Backend,
    dialer: Dialer,
    limits: Limits,
    cluster: cluster::ClusterSettings,
    files: Option<cairn_runtime_tokio::DataDir>,
    log: std::sync::Arc<crate::logging::Logger>,
) -> axum::Router {
    let max_message = limits.max_request_bytes + GRPC_OVERHEAD_BYTES;
    let kv = kv::KvService::new(
        backend.clone(),
        limits.max_request_bytes,
        limits.max_txn_ops,
    );
    let leader = leader::LeaderLink::new(backend.clone(), dialer);
    let cluster = cluster::ClusterService::new(backend.clone(), leader.clone(), cluster);
    let maintenance = maintenance::MaintenanceService::new(backend.clone(), files, log);
    let lease = lease::LeaseService::new(backend.clone(), leader);
    let auth = auth::AuthService::new(backend.clone());
    let watch = watch::WatchService::new(backend, limits.max_request_bytes);
    let routes =
        tonic::service::Routes::new(KvServer::new(kv).max_decoding_message_size(max_message))
            .add_service(ClusterServer::new(cluster).max_decoding_message_size(max_message))
            .add_service(MaintenanceServer::new(maintenance).max_decoding_message_size(max_message))
            .add_service(LeaseServer::new(lease).max_decoding_message_size(max_message))
            .add_service(AuthServer::new(auth).max_decoding_message_size(max_message))
            .add_service(WatchServer::new(watch).max_decoding_message_size(max_message));
    // Lock and Election call the services above (not themselves).
    let in_process = in_process::InProcess::new(routes.clone().into_axum_router());
    let lock = lock::LockService::new(in_process.clone());
    let election = election::ElectionService::new(in_process);
    routes
        .add_service(LockServer::new(lock).max_decoding_message_size(max_message))
        .add_service(ElectionServer::new(election).max_decoding_message_size(max_message))
        .into_axum_router()
}
