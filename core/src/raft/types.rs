//! The data Raft reads and writes: log entries, hard state, membership, snapshot
//! metadata and peer messages. These are what the WAL, the snapshot codec and the
//! peer protocol encode; Raft itself never encodes anything but conf changes.

use bytes::Bytes;

/// A member's identity. `0` means "none" wherever an id is optional on the wire
/// (for example "voted for nobody").
pub type NodeId = u64;

/// The id that stands for "no node".
pub const NO_NODE: NodeId = 0;

/// What an entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// Application data, opaque to Raft. An empty normal entry is the no-op a new
    /// leader appends to commit entries of earlier terms (Raft §5.4.2, §8).
    Normal,
    /// A membership change, encoded by [`ConfChange::encode`].
    ConfChange,
}

impl EntryKind {
    /// The byte that stands for this kind in the WAL and on the wire.
    pub const fn to_byte(self) -> u8 {
        match self {
            EntryKind::Normal => 0,
            EntryKind::ConfChange => 1,
        }
    }

    /// The kind a byte stands for, if any.
    pub const fn from_byte(byte: u8) -> Option<EntryKind> {
        match byte {
            0 => Some(EntryKind::Normal),
            1 => Some(EntryKind::ConfChange),
            _ => None,
        }
    }
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub kind: EntryKind,
    pub data: Bytes,
}

impl Entry {
    /// Bytes this entry counts for against per-message size limits.
    pub fn size_bytes(&self) -> u64 {
        // term + index + kind, plus the payload.
        17 + self.data.len() as u64
    }
}

/// The state Raft must find again after a restart, persisted before any message
/// that depends on it is sent (Raft §5.1 "persistent state on all servers";
/// `commit` is persisted too so a restarted node re-applies no more than needed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    /// Whom this node voted for in `term`, or [`NO_NODE`].
    pub vote: NodeId,
    pub commit: u64,
}

/// Cluster membership as Raft sees it: who votes and who only learns.
///
/// Invariant: both lists are sorted, free of duplicates, and disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfState {
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
}

impl ConfState {
    /// A membership of voters only.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> ConfState {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        ConfState {
            voters,
            learners: Vec::new(),
        }
    }

    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.binary_search(&id).is_ok()
    }

    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.binary_search(&id).is_ok()
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.is_learner(id)
    }

    /// Every member, voters then learners.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(self.learners.iter()).copied()
    }
}

/// Where a snapshot stands in the log, and the membership at that point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The last log index the snapshot includes.
    pub index: u64,
    /// The term of the entry at `index`.
    pub term: u64,
    pub conf_state: ConfState,
}

/// The kind of a membership change. cairn changes one voter at a time (Raft
/// dissertation §4.1), which keeps every pair of consecutive configurations'
/// majorities overlapping without joint consensus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfChangeKind {
    AddVoter,
    AddLearner,
    Remove,
    /// Turn a learner into a voter. Refused while the learner lags the leader.
    PromoteLearner,
}

impl ConfChangeKind {
    const fn to_byte(self) -> u8 {
        match self {
            ConfChangeKind::AddVoter => 0,
            ConfChangeKind::AddLearner => 1,
            ConfChangeKind::Remove => 2,
            ConfChangeKind::PromoteLearner => 3,
        }
    }

    const fn from_byte(byte: u8) -> Option<ConfChangeKind> {
        match byte {
            0 => Some(ConfChangeKind::AddVoter),
            1 => Some(ConfChangeKind::AddLearner),
            2 => Some(ConfChangeKind::Remove),
            3 => Some(ConfChangeKind::PromoteLearner),
            _ => None,
        }
    }
}

/// A membership change, carried by an [`EntryKind::ConfChange`] entry. `context`
/// is opaque to Raft (the server puts the member's name and URLs there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfChange {
    pub kind: ConfChangeKind,
    pub node: NodeId,
    pub context: Bytes,
}

/// Why bytes are not a conf change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfChangeDecodeError {
    #[error("conf change is {0} bytes, shorter than its 9-byte header")]
    Truncated(usize),
    #[error("unknown conf change kind {0}")]
    UnknownKind(u8),
}

impl ConfChange {
    /// Layout: `kind: u8 | node: u64 LE | context: rest`.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(9 + self.context.len());
        out.push(self.kind.to_byte());
        out.extend_from_slice(&self.node.to_le_bytes());
        out.extend_from_slice(&self.context);
        Bytes::from(out)
    }

    pub fn decode(data: &Bytes) -> Result<ConfChange, ConfChangeDecodeError> {
        if data.len() < 9 {
            return Err(ConfChangeDecodeError::Truncated(data.len()));
        }
        let kind = ConfChangeKind::from_byte(data[0])
            .ok_or(ConfChangeDecodeError::UnknownKind(data[0]))?;
        let mut node = [0u8; 8];
        node.copy_from_slice(&data[1..9]);
        Ok(ConfChange {
            kind,
            node: NodeId::from_le_bytes(node),
            context: data.slice(9..),
        })
    }
}

/// An opaque id the application gives a linearizable read; it comes back in the
/// [`ReadState`] that answers it.
pub type ReadId = u64;

/// A confirmed read: once the application has applied up to `index`, a read
/// served from its state is linearizable (Raft dissertation §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub id: ReadId,
    pub index: u64,
}

/// Why a follower's append was refused, and where the leader should look next
/// (the fast backtracking of Raft §5.3's closing paragraphs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RejectHint {
    /// The follower's best guess of an index where the logs may still agree.
    pub index: u64,
    /// The follower's term at `hint.index` (0 if it has no entry there).
    pub term: u64,
}

/// A message between two members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    /// The sender's term; for a pre-vote request (and a granted pre-vote
    /// response) the term the candidate would campaign in.
    pub term: u64,
    pub body: MessageBody,
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageBody {
    /// Leader → follower: append `entries` after (`prev_index`, `prev_term`) and
    /// learn the leader's commit index (AppendEntries, Raft §5.3).
    Append {
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
    },
    /// Follower → leader. On success `index` is the last index now known to match
    /// the leader's log; on rejection it is the `prev_index` that did not match.
    AppendResponse {
        index: u64,
        reject: Option<RejectHint>,
    },
    /// Leader → follower: keep-alive, commit index (never beyond what the follower
    /// is known to hold), and the newest read round to confirm.
    Heartbeat {
        commit: u64,
        read_round: u64,
    },
    /// Follower → leader: echoes the read round of the heartbeat.
    HeartbeatResponse {
        read_round: u64,
    },
    /// Candidate → voter (RequestVote, Raft §5.2; pre-vote, dissertation §9.6).
    /// `transfer` marks a campaign started by leader transfer, which voters grant
    /// even while they still hear from the old leader.
    Vote {
        pre: bool,
        last_index: u64,
        last_term: u64,
        transfer: bool,
    },
    VoteResponse {
        pre: bool,
        granted: bool,
    },
    /// Leader → follower: replace your state with the snapshot described by `meta`.
    /// The snapshot's bytes travel beside the message, through the runtime.
    Snapshot {
        meta: SnapshotMeta,
    },
    /// Follower → leader: proposals forwarded to the leader.
    Propose {
        entries: Vec<Entry>,
    },
    /// Follower → leader: linearizable reads forwarded to the leader.
    ReadIndex {
        ids: Vec<ReadId>,
    },
    /// Leader → follower: the reads `ids` may be served once `index` is applied.
    ReadIndexResponse {
        ids: Vec<ReadId>,
        index: u64,
    },
    /// Follower → leader: please hand leadership to `target`.
    TransferLeader {
        target: NodeId,
    },
    /// Leader → transfer target: campaign now (dissertation §3.10).
    TimeoutNow,
}

impl MessageBody {
    /// A short name for logs and traces.
    pub fn name(&self) -> &'static str {
        match self {
            MessageBody::Append { .. } => "Append",
            MessageBody::AppendResponse { .. } => "AppendResponse",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResponse { .. } => "HeartbeatResponse",
            MessageBody::Vote { pre: true, .. } => "PreVote",
            MessageBody::Vote { pre: false, .. } => "Vote",
            MessageBody::VoteResponse { pre: true, .. } => "PreVoteResponse",
            MessageBody::VoteResponse { pre: false, .. } => "VoteResponse",
            MessageBody::Snapshot { .. } => "Snapshot",
            MessageBody::Propose { .. } => "Propose",
            MessageBody::ReadIndex { .. } => "ReadIndex",
            MessageBody::ReadIndexResponse { .. } => "ReadIndexResponse",
            MessageBody::TransferLeader { .. } => "TransferLeader",
            MessageBody::TimeoutNow => "TimeoutNow",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_change_round_trips() {
        let change = ConfChange {
            kind: ConfChangeKind::PromoteLearner,
            node: 0x0102_0304_0506_0708,
            context: Bytes::from_static(b"name=n4"),
        };
        assert_eq!(ConfChange::decode(&change.encode()), Ok(change));
    }

    #[test]
    fn conf_change_rejects_garbage() {
        assert_eq!(
            ConfChange::decode(&Bytes::from_static(b"\x00\x01")),
            Err(ConfChangeDecodeError::Truncated(2))
        );
        assert_eq!(
            ConfChange::decode(&Bytes::from_static(b"\x09\x01\x02\x03\x04\x05\x06\x07\x08")),
            Err(ConfChangeDecodeError::UnknownKind(9))
        );
    }
}
