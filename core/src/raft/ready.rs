//! What a [`super::RawNode`] tells its runtime: its role, and each [`Ready`]
//! with the write to make durable, the messages (each naming the write it
//! must wait for), the committed entries and the read states.

use super::types::*;

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Follower,
    /// Asking whether it could win before bumping its term (pre-vote).
    PreCandidate,
    Candidate,
    Leader,
}

/// Who leads, as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleState {
    pub role: Role,
    pub term: u64,
    /// The leader of `term`, or [`NO_NODE`].
    pub leader: NodeId,
}

/// Names one write handed out in a [`Ready`]. Writes must become durable in the
/// order of their ids; reporting id `n` durable says every id ≤ `n` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteId(pub u64);

/// State to make durable, in this order: snapshot, entries, hard state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub id: WriteId,
    /// A snapshot received from the leader: store the bytes that came with it
    /// durably, then load the application's state from them before applying any
    /// committed entry that follows.
    pub snapshot: Option<SnapshotMeta>,
    /// Entries to append. If the first index is not one past the last entry
    /// already written, the log is truncated there first (a Raft conflict).
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
}

/// A message to send, possibly only after a write is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub message: Message,
    /// Send only once this write (and so all before it) is durable: the message
    /// promises something about this node's disk (a vote, an append).
    pub after: Option<WriteId>,
}

/// Everything a node wants done after some inputs. See [`RawNode`] for the order
/// in which a runtime must act on it.
#[must_use = "a Ready carries writes, messages and committed entries that must be acted on"]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub write: Option<Write>,
    pub messages: Vec<Outgoing>,
    /// Committed, locally durable entries to apply, in order.
    pub committed_entries: Vec<Entry>,
    /// Reads that may be served once the application has applied `index`.
    pub read_states: Vec<ReadState>,
    /// Reads that could not be confirmed (leadership changed or timed out); the
    /// caller may retry them.
    pub failed_reads: Vec<ReadId>,
    /// Set when role, term or leader changed since the last ready.
    pub role: Option<RoleState>,
}

impl Ready {
    pub(crate) fn is_empty(&self) -> bool {
        self.write.is_none()
            && self.messages.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
            && self.failed_reads.is_empty()
            && self.role.is_none()
    }
}

/// What a proposal became.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proposed {
    /// Appended to the leader's log at this index and term; it is committed once
    /// it comes back in `committed_entries` at that index with that term.
    Appended { index: u64, term: u64 },
    /// Sent on to the leader.
    Forwarded { leader: NodeId },
}

/// The durable state a node restarts from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub hard_state: HardState,
    /// The newest durable snapshot, or the default (index 0, empty membership)
    /// when there is none. The application restores its state from it.
    pub snapshot: SnapshotMeta,
    /// Durable entries following the snapshot, contiguous.
    pub entries: Vec<Entry>,
}
