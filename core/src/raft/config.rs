//! Raft configuration, with etcd's defaults.

use super::types::NodeId;

/// How a node behaves. Durations are in ticks of `tick_interval_ms`, as in etcd
/// (`--heartbeat-interval` is one tick; `--election-timeout` is ten by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id; never [`super::NO_NODE`].
    pub id: NodeId,
    /// Length of one tick. etcd's `--heartbeat-interval`: 100 ms.
    pub tick_interval_ms: u64,
    /// Ticks between leader heartbeats: 1.
    pub heartbeat_ticks: u32,
    /// Ticks without hearing from a leader before campaigning: 10 (etcd's 1000 ms
    /// `--election-timeout`). The actual timeout is drawn in `[election, 2 × election)`.
    pub election_ticks: u32,
    /// Seeds the PRNG that randomizes election timeouts.
    pub seed: u64,
    /// Upper bound of the entry bytes in one append message: 1 MiB.
    pub max_message_bytes: u64,
    /// Append messages in flight to one follower in the replicate state: 512.
    pub max_inflight_messages: usize,
    /// Upper bound of the entry bytes handed to the application in one ready.
    pub max_committed_bytes_per_ready: u64,
    /// Run a pre-vote round before campaigning (dissertation §9.6), so a node that
    /// was partitioned away does not disrupt a healthy leader by bumping terms.
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum for an election
    /// timeout, and followers that heard from a leader recently ignore votes
    /// (dissertation §6.2, §4.2.3).
    pub check_quorum: bool,
    /// Forwarded reads and read rounds that have not completed after this many
    /// ticks are reported as failed, so the caller retries instead of hanging.
    pub read_timeout_ticks: u32,
    /// Deliberate bugs, for proving that the simulator catches them. Never
    /// set outside tests.
    #[doc(hidden)]
    pub knobs: Knobs,
}

/// Ways to break Raft on purpose (all off by default): the simulator's own
/// tests turn one on and require a short seed sweep to find a violation.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// Write the term but not the vote to stable storage, and answer a vote
    /// request before anything is durable: after a crash the node can vote
    /// twice in one term.
    pub skip_vote_persistence: bool,
}

impl Config {
    /// etcd's defaults for node `id`.
    pub fn new(id: NodeId, seed: u64) -> Config {
        Config {
            id,
            tick_interval_ms: 100,
            heartbeat_ticks: 1,
            election_ticks: 10,
            seed,
            max_message_bytes: 1024 * 1024,
            max_inflight_messages: 512,
            max_committed_bytes_per_ready: 64 * 1024 * 1024,
            pre_vote: true,
            check_quorum: true,
            read_timeout_ticks: 50,
            knobs: Knobs::default(),
        }
    }

    /// Checks the relations the protocol relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == super::NO_NODE {
            return Err(ConfigError::ZeroId);
        }
        if self.tick_interval_ms == 0 {
            return Err(ConfigError::ZeroTick);
        }
        if self.heartbeat_ticks == 0 {
            return Err(ConfigError::ZeroHeartbeat);
        }
        if self.election_ticks <= self.heartbeat_ticks {
            return Err(ConfigError::ElectionNotAboveHeartbeat {
                election_ticks: self.election_ticks,
                heartbeat_ticks: self.heartbeat_ticks,
            });
        }
        if self.max_inflight_messages == 0 {
            return Err(ConfigError::ZeroInflight);
        }
        if self.max_message_bytes == 0 || self.max_committed_bytes_per_ready == 0 {
            return Err(ConfigError::ZeroSizeLimit);
        }
        if self.read_timeout_ticks == 0 {
            return Err(ConfigError::ZeroReadTimeout);
        }
        Ok(())
    }
}

/// A configuration Raft cannot run with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("node id must not be 0")]
    ZeroId,
    #[error("tick interval must be positive")]
    ZeroTick,
    #[error("heartbeat must be at least one tick")]
    ZeroHeartbeat,
    #[error("election timeout ({election_ticks} ticks) must be longer than the heartbeat ({heartbeat_ticks} ticks)")]
    ElectionNotAboveHeartbeat {
        election_ticks: u32,
        heartbeat_ticks: u32,
    },
    #[error("at least one message must be allowed in flight")]
    ZeroInflight,
    #[error("size limits must be positive")]
    ZeroSizeLimit,
    #[error("read timeout must be at least one tick")]
    ZeroReadTimeout,
}
