//! The HTTP/1.1 endpoints etcd serves on the client port beside gRPC:
//! `/version`, `/health` and `/metrics`.

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cairn_core::auth::Caller;
use cairn_core::member::calls;
use cairn_core::mvcc::RangeRequest;
use cairn_runtime_tokio::MemberHandle;

use crate::version::{ETCD_CLUSTER_VERSION, ETCD_VERSION};

pub fn routes(handle: MemberHandle) -> Router {
    let health = handle.clone();
    let metrics = handle;
    Router::new()
        .route("/version", get(version))
        .route("/health", get(move || health_check(health.clone())))
        .route("/metrics", get(move || metrics_text(metrics.clone())))
}

async fn version() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"etcdserver\":\"{ETCD_VERSION}\",\"etcdcluster\":\"{ETCD_CLUSTER_VERSION}\"}}"),
    )
}

/// Healthy when a leader is known and a linearizable read completes in time
/// (etcd 3.4 checks alarms, the leader, and a quorum read).
async fn health_check(handle: MemberHandle) -> impl IntoResponse {
    let healthy = async {
        match handle.call(Caller::System, calls::Status).await {
            Ok((_, status)) if status.leader != 0 => {}
            _ => return false,
        }
        let read = RangeRequest {
            key: Bytes::from_static(b"health"),
            ..RangeRequest::default()
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), handle.call(Caller::System, read)).await,
            Ok(Ok(_))
        )
    }
    .await;
    let (code, body) = if healthy {
        (StatusCode::OK, "{\"health\":\"true\"}")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "{\"health\":\"false\"}")
    };
    (code, [(header::CONTENT_TYPE, "application/json")], body)
}

/// A few of etcd's metrics, in Prometheus's text format.
async fn metrics_text(handle: MemberHandle) -> impl IntoResponse {
    let mut out = String::new();
    if let Ok((header, status)) = handle.call(Caller::System, calls::Status).await {
        let mut gauge = |name: &str, help: &str, value: String| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
            ));
        };
        gauge(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            u8::from(status.leader != 0).to_string(),
        );
        gauge(
            "etcd_server_is_leader",
            "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            u8::from(status.leader == header.member_id).to_string(),
        );
        gauge(
            "etcd_server_is_learner",
            "Whether or not this member is a learner. 1 if is, 0 otherwise.",
            u8::from(status.is_learner).to_string(),
        );
        gauge(
            "etcd_server_term",
            "The current term.",
            status.raft_term.to_string(),
        );
        gauge(
            "etcd_server_committed_index",
            "The last raft index this member knows of.",
            status.raft_index.to_string(),
        );
        gauge(
            "etcd_server_applied_index",
            "The current applied index of raft.",
            status.raft_applied_index.to_string(),
        );
        gauge(
            "etcd_mvcc_db_total_size_in_bytes",
            "Total size of the keys and values held, all revisions.",
            status.db_size.to_string(),
        );
        gauge(
            "etcd_debugging_mvcc_current_revision",
            "The current revision of the store.",
            header.revision.to_string(),
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
