//! The member's own metrics: set at every scrape from what the member
//! answers to `Status` and `Counters` (core keeps the numbers; the server
//! only shows them).

use std::sync::Mutex;

use cairn_core::member::{Header, MemberCounters, StatusInfo};
use prometheus::{IntCounter, IntGauge, IntGaugeVec, Opts, Registry};

use crate::version::{ETCD_CLUSTER_VERSION, ETCD_VERSION};

/// A counter whose total core keeps: shown by adding what core counted since
/// the last scrape.
#[derive(Clone, Debug)]
struct MirroredCounter(IntCounter);

impl MirroredCounter {
    fn set(&self, total: u64) {
        self.0.inc_by(total.saturating_sub(self.0.get()));
    }
}

#[derive(Debug)]
pub(super) struct MemberMetrics {
    has_leader: IntGauge,
    is_leader: IntGauge,
    is_learner: IntGauge,
    leader_changes: MirroredCounter,
    proposals_committed: IntGauge,
    proposals_applied: IntGauge,
    proposals_pending: IntGauge,
    proposals_failed: MirroredCounter,
    slow_apply: MirroredCounter,
    db_total_size: IntGauge,
    db_total_size_in_use: IntGauge,
    debugging_db_total_size: IntGauge,
    /// `etcd_mvcc_*` and `etcd_debugging_mvcc_*` (etcd 3.4 keeps both).
    puts: [MirroredCounter; 2],
    deletes: [MirroredCounter; 2],
    ranges: [MirroredCounter; 2],
    txns: [MirroredCounter; 2],
    keys: IntGauge,
    current_revision: IntGauge,
    compact_revision: IntGauge,
    term: IntGauge,
    committed_index: IntGauge,
    applied_index: IntGauge,
    /// Mirrored counters must not be raised by two scrapes at once.
    updating: Mutex<()>,
}

/// Registers what a metric builder makes.
struct Builder<'a> {
    registry: &'a Registry,
}

impl Builder<'_> {
    fn gauge(&self, name: &str, help: &str) -> prometheus::Result<IntGauge> {
        let gauge = IntGauge::new(name, help)?;
        self.registry.register(Box::new(gauge.clone()))?;
        Ok(gauge)
    }

    fn counter(&self, name: &str, help: &str) -> prometheus::Result<MirroredCounter> {
        let counter = IntCounter::new(name, help)?;
        self.registry.register(Box::new(counter.clone()))?;
        Ok(MirroredCounter(counter))
    }

    /// A gauge that is 1 for one label value (etcd's version and ID gauges).
    fn labelled_one(
        &self,
        name: &str,
        help: &str,
        label: &str,
        value: &str,
    ) -> prometheus::Result<()> {
        let gauge = IntGaugeVec::new(Opts::new(name, help), &[label])?;
        self.registry.register(Box::new(gauge.clone()))?;
        gauge.with_label_values(&[value]).set(1);
        Ok(())
    }

    /// The `etcd_mvcc_*` counter and its `etcd_debugging_mvcc_*` twin.
    fn mvcc_counter(&self, what: &str, help: &str) -> prometheus::Result<[MirroredCounter; 2]> {
        Ok([
            self.counter(&format!("etcd_mvcc_{what}_total"), help)?,
            self.counter(&format!("etcd_debugging_mvcc_{what}_total"), help)?,
        ])
    }
}

impl MemberMetrics {
    /// Registers the member's metrics; the quota, versions and ID are set
    /// once, here.
    pub fn register(
        registry: &Registry,
        member_id: u64,
        quota_backend_bytes: i64,
    ) -> prometheus::Result<MemberMetrics> {
        let b = Builder { registry };
        b.labelled_one(
            "etcd_server_version",
            "Which version is running. 1 for 'server_version' label with current version.",
            "server_version",
            ETCD_VERSION,
        )?;
        b.labelled_one(
            "etcd_cluster_version",
            "Which version is running. 1 for 'cluster_version' label with current cluster version",
            "cluster_version",
            major_minor(ETCD_CLUSTER_VERSION),
        )?;
        b.labelled_one(
            "etcd_server_id",
            "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
            "server_id",
            &format!("{member_id:x}"),
        )?;
        let quota = b.gauge(
            "etcd_server_quota_backend_bytes",
            "Current backend storage quota size in bytes.",
        )?;
        // As etcd: 0 means the 2 GiB default, a negative value (no quota)
        // is shown as given.
        quota.set(match quota_backend_bytes {
            0 => crate::config::DEFAULT_QUOTA_BACKEND_BYTES as i64,
            bytes => bytes,
        });
        Ok(MemberMetrics {
            has_leader: b.gauge(
                "etcd_server_has_leader",
                "Whether or not a leader exists. 1 is existence, 0 is not.",
            )?,
            is_leader: b.gauge(
                "etcd_server_is_leader",
                "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            )?,
            is_learner: b.gauge(
                "etcd_server_is_learner",
                "Whether or not this member is a learner. 1 if is, 0 otherwise.",
            )?,
            leader_changes: b.counter(
                "etcd_server_leader_changes_seen_total",
                "The number of leader changes seen.",
            )?,
            proposals_committed: b.gauge(
                "etcd_server_proposals_committed_total",
                "The total number of consensus proposals committed.",
            )?,
            proposals_applied: b.gauge(
                "etcd_server_proposals_applied_total",
                "The total number of consensus proposals applied.",
            )?,
            proposals_pending: b.gauge(
                "etcd_server_proposals_pending",
                "The current number of pending proposals to commit.",
            )?,
            proposals_failed: b.counter(
                "etcd_server_proposals_failed_total",
                "The total number of failed proposals seen.",
            )?,
            slow_apply: b.counter(
                "etcd_server_slow_apply_total",
                "The total number of slow apply requests (likely overloaded from slow disk).",
            )?,
            db_total_size: b.gauge(
                "etcd_mvcc_db_total_size_in_bytes",
                "Total size of the underlying database physically allocated in bytes.",
            )?,
            db_total_size_in_use: b.gauge(
                "etcd_mvcc_db_total_size_in_use_in_bytes",
                "Total size of the underlying database logically in use in bytes.",
            )?,
            debugging_db_total_size: b.gauge(
                "etcd_debugging_mvcc_db_total_size_in_bytes",
                "Total size of the underlying database physically allocated in bytes.",
            )?,
            puts: b.mvcc_counter("put", "Total number of puts seen by this member.")?,
            deletes: b.mvcc_counter("delete", "Total number of deletes seen by this member.")?,
            ranges: b.mvcc_counter("range", "Total number of ranges seen by this member.")?,
            txns: b.mvcc_counter("txn", "Total number of txns seen by this member.")?,
            keys: b.gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.")?,
            current_revision: b.gauge(
                "etcd_debugging_mvcc_current_revision",
                "The current revision of store.",
            )?,
            compact_revision: b.gauge(
                "etcd_debugging_mvcc_compact_revision",
                "The revision of the last compaction in store.",
            )?,
            // cairn's own: etcd 3.4 has no such metrics.
            term: b.gauge("cairn_server_term", "The current Raft term.")?,
            committed_index: b.gauge(
                "cairn_server_committed_index",
                "The Raft index this member knows to be committed.",
            )?,
            applied_index: b.gauge(
                "cairn_server_applied_index",
                "The Raft index applied to the state machine.",
            )?,
            updating: Mutex::new(()),
        })
    }

    /// Shows what the member answered.
    pub fn update(&self, header: &Header, status: &StatusInfo, counters: &MemberCounters) {
        let _one_at_a_time = self.updating.lock().unwrap_or_else(|e| e.into_inner());
        let flag = |yes: bool| i64::from(yes);
        self.has_leader.set(flag(status.leader != 0));
        self.is_leader.set(flag(
            status.leader != 0 && status.leader == header.member_id,
        ));
        self.is_learner.set(flag(status.is_learner));
        self.leader_changes.set(counters.leader_changes);
        self.proposals_committed
            .set(counters.committed_index as i64);
        self.proposals_applied.set(counters.applied_index as i64);
        self.proposals_pending
            .set(counters.proposals_pending as i64);
        self.proposals_failed.set(counters.proposals_failed);
        self.slow_apply.set(counters.slow_requests);
        self.db_total_size.set(status.db_size);
        self.db_total_size_in_use.set(status.db_size_in_use);
        self.debugging_db_total_size.set(status.db_size);
        for (pair, total) in [
            (&self.puts, counters.puts),
            (&self.deletes, counters.deletes),
            (&self.ranges, counters.ranges),
            (&self.txns, counters.txns),
        ] {
            for counter in pair {
                counter.set(total);
            }
        }
        self.keys.set(counters.keys as i64);
        self.current_revision.set(header.revision);
        self.compact_revision.set(counters.compact_revision);
        self.term.set(header.raft_term as i64);
        self.committed_index.set(counters.committed_index as i64);
        self.applied_index.set(counters.applied_index as i64);
    }
}

/// `3.4.0` → `3.4`, as etcd labels its cluster version.
fn major_minor(version: &str) -> &str {
    match version.match_indices('.').nth(1) {
        Some((at, _)) => &version[..at],
        None => version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_versions_are_labelled_major_minor() {
        assert_eq!(major_minor("3.4.0"), "3.4");
        assert_eq!(major_minor("3.4"), "3.4");
    }

    #[test]
    fn mirrored_counters_follow_core_totals() {
        let counter = MirroredCounter(IntCounter::new("c", "c").expect("counter"));
        counter.set(5);
        counter.set(5);
        counter.set(7);
        assert_eq!(counter.0.get(), 7);
    }
}
