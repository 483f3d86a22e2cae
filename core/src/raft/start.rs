//! Constructing a [`RawNode`]: a brand-new cluster's member, a member
//! joining with an empty log, or a restart from durable state.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::config::Config;
use super::errors::RestoreError;
use super::log::RaftLog;
use super::node::RawNode;
use super::reads::Reads;
use super::ready::{Restored, Role};
use super::types::*;
use crate::rng::SplitMix64 as Rng;
use crate::time::Instant;

impl RawNode {
    /// Restarts a member from its durable state.
    pub fn restart(
        config: Config,
        restored: Restored,
        now: Instant,
    ) -> Result<RawNode, RestoreError> {
        config.validate()?;
        let Restored {
            hard_state,
            snapshot,
            entries,
        } = restored;
        let mut previous_term = snapshot.term;
        for (expected, entry) in (snapshot.index + 1..).zip(entries.iter()) {
            if entry.index != expected {
                return Err(RestoreError::EntriesNotContiguous {
                    snapshot_index: snapshot.index,
                    first_index: entries[0].index,
                });
            }
            if entry.term > hard_state.term {
                return Err(RestoreError::EntryTermAboveHardState {
                    index: entry.index,
                    term: entry.term,
                    hard_term: hard_state.term,
                });
            }
            if entry.term < previous_term {
                return Err(RestoreError::TermsDecrease { index: entry.index });
            }
            previous_term = entry.term;
        }
        let last_index = snapshot.index + entries.len() as u64;
        if hard_state.commit > last_index {
            return Err(RestoreError::CommitBeyondLog {
                commit: hard_state.commit,
                last_index,
            });
        }
        let log = RaftLog::restore(snapshot.index, snapshot.term, entries, hard_state.commit);
        let mut node = RawNode::with_log(config, log, snapshot.conf_state.clone(), now);
        node.term = hard_state.term;
        node.vote = hard_state.vote;
        node.last_written_hard_state = node.hard_state();
        if snapshot.index > 0 {
            node.latest_snapshot = Some(snapshot);
        }
        node.check_invariants();
        Ok(node)
    }

    /// Starts a member of a brand-new cluster whose initial voters are
    /// `members` (id and the opaque context the server attaches to each).
    ///
    /// Like etcd, the initial membership is written as committed membership
    /// changes at indexes `1..=n` of term 1, identical on every initial member,
    /// so that the log alone tells a later joiner who the members are.
    pub fn bootstrap(
        config: Config,
        members: &[(NodeId, Bytes)],
        now: Instant,
    ) -> Result<RawNode, RestoreError> {
        config.validate()?;
        let mut sorted: Vec<&(NodeId, Bytes)> = members.iter().collect();
        sorted.sort_by_key(|(id, _)| *id);
        sorted.dedup_by_key(|(id, _)| *id);
        let mut log = RaftLog::restore(0, 0, Vec::new(), 0);
        log.append(sorted.iter().enumerate().map(|(i, (id, context))| {
            Entry {
                term: 1,
                index: i as u64 + 1,
                kind: EntryKind::ConfChange,
                data: ConfChange {
                    kind: ConfChangeKind::AddVoter,
                    node: *id,
                    context: context.clone(),
                }
                .encode(),
            }
        }));
        // Nothing of this is durable yet: the first ready writes it.
        log.persisted = 0;
        log.unsent_from = 1;
        log.commit_to(log.last_index());
        let mut node = RawNode::with_log(config, log, ConfState::default(), now);
        node.term = 1;
        node.mark_dirty();
        node.check_invariants();
        Ok(node)
    }

    /// Starts a member that joins an existing cluster: it knows nothing yet and
    /// learns the log (or a snapshot) and the membership from the leader.
    pub fn join(config: Config, now: Instant) -> Result<RawNode, RestoreError> {
        RawNode::restart(config, Restored::default(), now)
    }

    fn with_log(config: Config, log: RaftLog, conf: ConfState, now: Instant) -> RawNode {
        let id = config.id;
        let mut rng = Rng::new(config.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let randomized_election_ticks = rng.range(
            config.election_ticks as u64,
            2 * config.election_ticks as u64,
        ) as u32;
        RawNode {
            next_tick_at: now + config.tick_interval_ms,
            id,
            term: 0,
            vote: NO_NODE,
            role: Role::Follower,
            leader: NO_NODE,
            log,
            conf,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_election_ticks,
            transfer_target: None,
            transfer_elapsed: 0,
            pending_conf_index: 0,
            committed_in_term: false,
            reads: Reads::default(),
            latest_snapshot: None,
            rng,
            messages: Vec::new(),
            broadcast_due: false,
            forward_proposals: Vec::new(),
            snapshot_to_install: None,
            self_messages: Vec::new(),
            open_write: None,
            next_write_id: 1,
            inflight_writes: VecDeque::new(),
            last_written_hard_state: HardState::default(),
            last_reported_role: None,
            known_leader: (0, NO_NODE),
            config,
        }
    }
}
