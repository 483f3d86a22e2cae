//! The proxy's side towards the cluster: one `cairn-client` [`Client`]
//! (its endpoints, TLS, reconnection), the client's token passed through,
//! and what every service shares.
//!
//! ```text
//!   client request (metadata "token": T) ──▶ forward(&request, message)
//!        ──▶ upstream request (metadata "token": T) ──▶ Client's channel ──▶ cluster
//! ```
//!
//! The proxy authenticates as no one: each request carries its own
//! client's token, so the cluster checks the client's permissions, as
//! etcd's proxy (`AuthUnaryClientInterceptor`) does.

use std::sync::Arc;

use cairn_client::{AuthedChannel, Client};
use cairn_proto::etcdserverpb as pb;
use cairn_proto::{v3electionpb, v3lockpb};
use tonic::metadata::MetadataMap;
use tonic::Request;

use super::cache::RangeCache;
use super::metrics::ProxyMetrics;
use super::namespace::Namespace;
use crate::logging::Logger;

/// The metadata keys passed through to the cluster.
const FORWARDED_METADATA: [&str; 2] = ["token", "hasleader"];

/// What every service of the proxy shares.
#[derive(Debug)]
pub struct Upstream {
    pub client: Client,
    pub namespace: Namespace,
    pub cache: RangeCache,
    pub metrics: ProxyMetrics,
    pub log: Arc<Logger>,
    /// `--max-recv-bytes` / `--max-send-bytes` on calls to the cluster.
    pub max_recv_bytes: usize,
    pub max_send_bytes: usize,
}

/// A request to the cluster carrying `message` and the caller's token.
pub fn forward<T, U>(incoming: &Request<T>, message: U) -> Request<U> {
    with_metadata(incoming.metadata(), message)
}

/// Like [`forward`], from metadata kept apart from its request.
pub fn with_metadata<U>(metadata: &MetadataMap, message: U) -> Request<U> {
    let mut request = Request::new(message);
    for key in FORWARDED_METADATA {
        if let Some(value) = metadata.get(key) {
            request.metadata_mut().insert(key, value.clone());
        }
    }
    request
}

impl Upstream {
    pub fn kv(&self) -> pb::kv_client::KvClient<AuthedChannel> {
        self.client
            .kv()
            .max_decoding_message_size(self.max_recv_bytes)
            .max_encoding_message_size(self.max_send_bytes)
    }

    pub fn watch(&self) -> pb::watch_client::WatchClient<AuthedChannel> {
        self.client
            .watch()
            .max_decoding_message_size(self.max_recv_bytes)
            .max_encoding_message_size(self.max_send_bytes)
    }

    pub fn lease(&self) -> pb::lease_client::LeaseClient<AuthedChannel> {
        self.client
            .lease()
            .max_decoding_message_size(self.max_recv_bytes)
            .max_encoding_message_size(self.max_send_bytes)
    }

    pub fn cluster(&self) -> pb::cluster_client::ClusterClient<AuthedChannel> {
        self.client
            .cluster()
            .max_decoding_message_size(self.max_recv_bytes)
            .max_encoding_message_size(self.max_send_bytes)
    }

    pub fn maintenance(&self) -> pb::maintenance_client::MaintenanceClient<AuthedChannel> {
        self.client
            .maintenance()
            .max_decoding_message_size(self.max_recv_bytes)
            .max_encoding_message_size(self.max_send_bytes)
    }

    pub fn auth(&self) -> pb::auth_client::AuthClient<AuthedChannel> {
        self.client
            .auth()
            .max_decoding_message_size(self.max_recv_bytes)
            .max_encoding_message_size(self.max_send_bytes)
    }

    pub fn lock(&self) -> v3lockpb::lock_client::LockClient<AuthedChannel> {
        v3lockpb::lock_client::LockClient::new(self.client.channel())
            .max_decoding_message_size(self.max_recv_bytes)
            .max_encoding_message_size(self.max_send_bytes)
    }

    pub fn election(&self) -> v3electionpb::election_client::ElectionClient<AuthedChannel> {
        v3electionpb::election_client::ElectionClient::new(self.client.channel())
            .max_decoding_message_size(self.max_recv_bytes)
            .max_encoding_message_size(self.max_send_bytes)
    }
}
