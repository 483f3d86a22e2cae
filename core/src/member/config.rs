//! A member's configuration.

use crate::raft;
use crate::snapshot::RetentionPolicy;

/// How a member behaves, with etcd's defaults where etcd has them.
#[derive(Clone, Debug)]
pub struct MemberConfig {
    pub raft: raft::Config,
    pub cluster_id: u64,
    /// This member's name and URLs, announced once a leader exists.
    pub name: String,
    pub client_urls: Vec<String>,
    /// Applied entries between two snapshots: etcd's `--snapshot-count`.
    pub snapshot_count: u64,
    /// Entries kept in memory behind a snapshot for slow followers (etcd's
    /// `SnapshotCatchUpEntries`).
    pub snapshot_catchup_entries: u64,
    /// A client request not answered within this time fails with etcd's
    /// "request timed out".
    pub request_timeout_ms: u64,
    /// Most operations in one txn branch: etcd's `--max-txn-ops`.
    pub max_txn_ops: usize,
    pub retention: RetentionPolicy,
    /// Sequence numbers of this member's proposals start here; the runtime sets
    /// it from its clock so a restarted member never reuses one still in a log.
    pub first_seq: u64,
    /// Seeds lease id generation.
    pub seed: u64,
    /// Bytes of keys and values (all retained revisions) above which writes
    /// that add data are refused and the NOSPACE alarm raised: etcd's
    /// `--quota-backend-bytes` (2 GiB by default). `None`: no quota.
    pub quota_bytes: Option<u64>,
    /// etcd's `--force-new-cluster`: on restart, become a cluster of one.
    pub force_new_cluster: bool,
    /// etcd's `--strict-reconfig-check` (on by default): refuse membership
    /// changes that would leave fewer started voters than a quorum.
    pub strict_reconfig_check: bool,
    /// cairn's own `--auto-promote-learners`: the leader promotes a learner
    /// as soon as etcd's promotion check would let an operator do it.
    pub auto_promote_learners: bool,
    /// How often watchers that asked for progress notifications get one:
    /// etcd's `--experimental-watch-progress-notify-interval` (10 minutes).
    pub watch_progress_notify_interval_ms: u64,
    /// How long a simple auth token lives after its last use: etcd's
    /// `--auth-token-ttl` (300 s).
    pub auth_token_ttl_ms: u64,
    /// The unix time in milliseconds that `Instant::ZERO` stands for: the
    /// wall clock the member reads (v2 TTLs) is this plus its instant. Set
    /// by the runtime from its clock, like `first_seq`.
    pub wall_clock_origin_ms: i64,
    /// Deliberate bugs, for proving that the simulator catches them. Never
    /// set outside tests.
    #[doc(hidden)]
    pub knobs: Knobs,
}

/// Ways to break a member on purpose (all off by default).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// Serve linearizable reads from local state, without a ReadIndex round:
    /// a deposed leader or a lagging follower answers with stale data.
    pub local_linearizable_reads: bool,
    /// Serve the v2 API's quorum gets from local state, without a ReadIndex
    /// round (the KV API's reads stay linearizable): a deposed leader or a
    /// lagging follower answers a quorum get with stale data.
    pub v2_local_quorum_reads: bool,
    /// A new leader expires leases on the clock each member started at grant,
    /// without giving them a full TTL on promotion: keep-alives answered by
    /// the previous leader count for nothing.
    pub lease_no_extend_on_promote: bool,
}

impl MemberConfig {
    pub fn new(
        raft: raft::Config,
        cluster_id: u64,
        name: String,
        client_urls: Vec<String>,
    ) -> MemberConfig {
        let election_ms = raft.tick_interval_ms * raft.election_ticks as u64;
        MemberConfig {
            seed: raft.seed,
            raft,
            cluster_id,
            name,
            client_urls,
            snapshot_count: 100_000,
            snapshot_catchup_entries: 5_000,
            // etcd: 5 s plus two election timeouts.
            request_timeout_ms: 5_000 + 2 * election_ms,
            max_txn_ops: crate::mvcc::DEFAULT_MAX_TXN_OPS,
            retention: RetentionPolicy::default(),
            first_seq: 1,
            quota_bytes: Some(2 * 1024 * 1024 * 1024),
            force_new_cluster: false,
            strict_reconfig_check: true,
            auto_promote_learners: false,
            watch_progress_notify_interval_ms: 10 * 60 * 1000,
            auth_token_ttl_ms: 300_000,
            wall_clock_origin_ms: 0,
            knobs: Knobs::default(),
        }
    }

    pub fn id(&self) -> raft::NodeId {
        self.raft.id
    }
}
