//! etcd v3 API types and gRPC services, wire-compatible with etcd 3.4.
//!
//! The `.proto` files under `proto/proto/` restate etcd 3.4's API (same
//! packages, names, field numbers and types; gogoproto and HTTP annotations
//! dropped). `build.rs` compiles them with protox, so no system `protoc` is
//! needed, and generates prost messages plus tonic clients and servers.
//!
//! Modules mirror the protobuf packages, so gRPC method paths are etcd's own
//! (`/etcdserverpb.KV/Range`, `/v3lockpb.Lock/Lock`, ...). Every protobuf
//! `bytes` field is a [`bytes::Bytes`].

/// Storage-level types: [`mvccpb::KeyValue`] and watch [`mvccpb::Event`]s.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// Auth records: users, roles and permissions.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod authpb {
    tonic::include_proto!("authpb");
}

/// The client API: the KV, Watch, Lease, Cluster, Maintenance and Auth
/// services and their messages.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// The distributed lock service (`v3lockpb.Lock`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
}

/// The leader election service (`v3electionpb.Election`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
}

/// Encoded `google.protobuf.FileDescriptorSet` of all five packages (with
/// source info), for gRPC reflection and descriptor-level tests.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/cairn_descriptor.bin"));
