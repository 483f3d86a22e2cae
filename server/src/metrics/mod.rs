//! `/metrics`: every metric cairn serves lives in one registry here, under
//! etcd 3.4's names, types, labels and help texts (cairn's own under
//! `cairn_`), written by the `prometheus` crate's text encoder.
//!
//! ```text
//!   member (core)  ── Status + Counters calls at each scrape ──▶ member.rs
//!   runtime-tokio  ── disk and transport measure as they go ───▶ RuntimeMetrics
//!   gRPC layer     ── every call through the client router ────▶ grpc.rs
//!   /health        ── each check ──────────────────────────────▶ health counters
//!   the process    ── /proc at each scrape ────────────────────▶ process_*
//! ```

pub mod grpc;
mod member;

use std::time::Duration;

use cairn_core::auth::Caller;
use cairn_core::member::calls;
use cairn_runtime_tokio::{MemberHandle, RuntimeMetrics};
use prometheus::{Encoder, IntCounter, Registry, TextEncoder};

pub use grpc::{GrpcMetrics, GrpcMetricsLayer};
use member::MemberMetrics;

/// The content type etcd serves `/metrics` with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for the member's numbers before it shows the
/// ones it has.
const MEMBER_ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// What the metrics are set up from.
#[derive(Clone, Copy, Debug)]
pub struct MetricsConfig {
    /// `--metrics extensive`: adds the gRPC handling-time histograms.
    pub extensive: bool,
    /// `--quota-backend-bytes` as given.
    pub quota_backend_bytes: i64,
    pub member_id: u64,
}

/// Every metric of this process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Handed to the runtime, which measures the disk and the network.
    pub runtime: RuntimeMetrics,
    /// The gRPC layer's counters.
    pub grpc: GrpcMetrics,
    member: MemberMetrics,
    health_success: IntCounter,
    health_failures: IntCounter,
}

impl Metrics {
    pub fn new(config: MetricsConfig) -> Result<Metrics, String> {
        Metrics::register(config).map_err(|e| format!("setting up metrics: {e}"))
    }

    fn register(config: MetricsConfig) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let runtime = RuntimeMetrics::new();
        runtime.register(&registry)?;
        let grpc = GrpcMetrics::register(&registry, config.extensive)?;
        let member =
            MemberMetrics::register(&registry, config.member_id, config.quota_backend_bytes)?;
        let health_success = IntCounter::new(
            "etcd_server_health_success",
            "The total number of successful health checks",
        )?;
        let health_failures = IntCounter::new(
            "etcd_server_health_failures",
            "The total number of failed health checks",
        )?;
        registry.register(Box::new(health_success.clone()))?;
        registry.register(Box::new(health_failures.clone()))?;
        Ok(Metrics {
            registry,
            runtime,
            grpc,
            member,
            health_success,
            health_failures,
        })
    }

    /// Counts a `/health` check.
    pub fn health_checked(&self, healthy: bool) {
        if healthy {
            self.health_success.inc();
        } else {
            self.health_failures.inc();
        }
    }

    /// Every metric in Prometheus's text format, the member's as it
    /// answers now (as last answered if it does not within a second).
    pub async fn render(&self, handle: &MemberHandle) -> String {
        let answers = async {
            let (header, status) = handle.call(Caller::System, calls::Status).await.ok()?;
            let (_, counters) = handle.call(Caller::System, calls::Counters).await.ok()?;
            Some((header, status, counters))
        };
        if let Ok(Some((header, status, counters))) =
            tokio::time::timeout(MEMBER_ANSWER_TIMEOUT, answers).await
        {
            self.member.update(&header, &status, &counters);
        }
        self.encode()
    }

    fn encode(&self) -> String {
        let mut text = Vec::new();
        // Encoding registered metrics into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_registers_once() {
        let metrics = Metrics::new(MetricsConfig {
            extensive: true,
            quota_backend_bytes: 0,
            member_id: 0x8e9e05c52164694d,
        })
        .expect("metrics");
        let text = metrics.encode();
        for line in [
            "etcd_server_id{server_id=\"8e9e05c52164694d\"} 1",
            "etcd_server_version{server_version=\"3.4.0\"} 1",
            "etcd_cluster_version{cluster_version=\"3.4\"} 1",
            "etcd_server_quota_backend_bytes 2147483648",
            "# TYPE etcd_disk_wal_fsync_duration_seconds histogram",
            "# TYPE grpc_server_handling_seconds histogram",
            "# TYPE process_resident_memory_bytes gauge",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
