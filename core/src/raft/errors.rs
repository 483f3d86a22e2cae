//! Why a command was refused. These are operating errors (the caller retries or
//! reports them), never bugs.

use super::types::NodeId;

/// Why a proposal was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// No leader is known (an election is under way); retry later.
    #[error("no leader")]
    NoLeader,
    /// Membership changes are proposed on the leader only; `leader` is the one
    /// this node knows of, if any.
    #[error("not the leader")]
    NotLeader { leader: Option<NodeId> },
    /// The leader is handing leadership over and accepts no proposals meanwhile.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// A membership change is still waiting to be applied; one at a time.
    #[error("a membership change is already in progress")]
    ConfChangePending,
    /// The change makes no sense for the current membership.
    #[error("invalid membership change: {0}")]
    InvalidConfChange(&'static str),
    /// A learner may become a voter only once it has nearly caught up.
    #[error("can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
}

/// Why a linearizable read could not be started.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("no leader")]
    NoLeader,
}

/// Why a leadership transfer could not be started.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("no leader")]
    NoLeader,
    #[error("transfer target {0} is not a voting member")]
    NotVoter(NodeId),
}

/// Why restored state cannot start a node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Config(#[from] super::ConfigError),
    #[error("log entries do not follow the snapshot at index {snapshot_index}: first entry has index {first_index}")]
    EntriesNotContiguous {
        snapshot_index: u64,
        first_index: u64,
    },
    #[error("hard state commit {commit} is beyond the last log index {last_index}")]
    CommitBeyondLog { commit: u64, last_index: u64 },
    #[error("log entry {index} has term {term}, above the hard state's term {hard_term}")]
    EntryTermAboveHardState {
        index: u64,
        term: u64,
        hard_term: u64,
    },
    #[error("log entry terms decrease at index {index}")]
    TermsDecrease { index: u64 },
}
