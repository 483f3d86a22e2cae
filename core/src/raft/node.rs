//! [`RawNode`]: one Raft member as a deterministic state machine.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::config::Config;
use super::errors::ProposeError;
use super::log::RaftLog;
use super::progress::Progress;
use super::reads::Reads;
use super::ready::{Outgoing, Proposed, Ready, Role, RoleState, Write, WriteId};
use super::types::*;
use crate::rng::SplitMix64 as Rng;
use crate::time::Instant;

/// A write handed out and not yet reported durable.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InflightWrite {
    id: WriteId,
    /// The last log position the write makes durable, if it holds any.
    last: Option<(u64, u64)>,
}

/// One Raft member.
///
/// # Contract
///
/// Inputs: [`tick`](Self::tick) when [`next_deadline`](Self::next_deadline)
/// passes, [`handle_message`](Self::handle_message) for each peer message,
/// [`handle_persisted`](Self::handle_persisted) when a write is durable, and the
/// commands ([`propose`](Self::propose), [`read_index`](Self::read_index), ...).
/// After any inputs, call [`poll_ready`](Self::poll_ready) until it returns
/// `None`, and for each [`Ready`], in this order:
///
/// 1. Start the `write` (snapshot, then entries, then hard state), in id order
///    after every earlier write. Writes may be batched into one fsync (group
///    commit) and may run while the node keeps stepping.
/// 2. Send each message whose `after` is `None` now; hold the others until
///    their write is durable, then send them.
/// 3. If the write carries a snapshot, load the application state from it, then
///    apply `committed_entries` in order.
/// 4. Serve each read state once the application has applied its index; fail
///    `failed_reads`.
/// 5. When a write is durable, call `handle_persisted` with its id.
///
/// Because the leader's own entries count towards a quorum only once
/// `handle_persisted` reports them, the leader's fsync runs in parallel with
/// replication to followers, and nothing is committed that a majority has not
/// made durable.
#[derive(Debug)]
pub struct RawNode {
    pub(crate) config: Config,
    pub(crate) id: NodeId,
    pub(crate) term: u64,
    pub(crate) vote: NodeId,
    pub(crate) role: Role,
    pub(crate) leader: NodeId,
    pub(crate) log: RaftLog,
    pub(crate) conf: ConfState,
    /// Leader only: every member's replication progress, this node included.
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    /// Candidates and pre-candidates: votes received.
    pub(crate) votes: BTreeMap<NodeId, bool>,
    pub(crate) election_elapsed: u32,
    /// Ticks since the leadership transfer in progress started: it is
    /// abandoned after an election timeout. Counted apart from
    /// `election_elapsed`, so that a transfer never puts off check-quorum.
    pub(crate) transfer_elapsed: u32,
    pub(crate) heartbeat_elapsed: u32,
    pub(crate) randomized_election_ticks: u32,
    /// Leader only: the member leadership is being handed to.
    pub(crate) transfer_target: Option<NodeId>,
    /// Leader only: the index of the last membership change it appended.
    pub(crate) pending_conf_index: u64,
    /// Leader only: an entry of the current term has been committed.
    pub(crate) committed_in_term: bool,
    pub(crate) reads: Reads,
    pub(crate) latest_snapshot: Option<SnapshotMeta>,
    pub(crate) rng: Rng,

    // Time.
    pub(crate) next_tick_at: Instant,

    // Outputs waiting for poll_ready.
    pub(crate) messages: Vec<Outgoing>,
    /// Leader: appends to every follower are due (new entries or commit).
    pub(crate) broadcast_due: bool,
    /// Follower: proposals to forward to the leader at the next poll.
    pub(crate) forward_proposals: Vec<Entry>,
    pub(crate) snapshot_to_install: Option<SnapshotMeta>,
    /// Messages to this node that must wait for a write (the candidate's own
    /// vote counts only once it is durable).
    pub(crate) self_messages: Vec<(WriteId, Message)>,
    /// The write that collects state changed since the last ready.
    pub(crate) open_write: Option<WriteId>,
    pub(crate) next_write_id: u64,
    pub(crate) inflight_writes: VecDeque<InflightWrite>,
    pub(crate) last_written_hard_state: HardState,
    pub(crate) last_reported_role: Option<RoleState>,
    /// The leader this node has seen for `known_leader.0`; two different leaders
    /// in one term would break election safety.
    pub(crate) known_leader: (u64, NodeId),
}

impl RawNode {
    // ----- getters -----

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn term(&self) -> u64 {
        self.term
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The leader of the current term as far as this node knows, or [`NO_NODE`].
    pub fn leader(&self) -> NodeId {
        self.leader
    }

    pub fn role_state(&self) -> RoleState {
        RoleState {
            role: self.role,
            term: self.term,
            leader: self.leader,
        }
    }

    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed,
        }
    }

    /// The membership as of the last entry handed out for application.
    pub fn conf_state(&self) -> &ConfState {
        &self.conf
    }

    pub fn committed(&self) -> u64 {
        self.log.committed
    }

    /// The last index handed out for application.
    pub fn applied(&self) -> u64 {
        self.log.applied
    }

    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }

    /// The first index still held in memory (one past the compaction point).
    pub fn first_index(&self) -> u64 {
        self.log.first_index()
    }

    /// The term of the entry at `index`, if it is held.
    pub fn log_term(&self, index: u64) -> Option<u64> {
        self.log.term(index)
    }

    /// The entry at `index`, if it is held in memory.
    pub fn log_entry(&self, index: u64) -> Option<&Entry> {
        self.log.entry(index)
    }

    /// Leader only: what it knows of member `id`'s log.
    pub fn progress(&self, id: NodeId) -> Option<&Progress> {
        self.progress.get(&id)
    }

    /// The metadata for a snapshot of the application state as of
    /// [`applied`](Self::applied). Call it only once everything handed out has
    /// been applied.
    pub fn snapshot_meta(&self) -> SnapshotMeta {
        SnapshotMeta {
            index: self.log.applied,
            term: self
                .log
                .term(self.log.applied)
                .expect("applied entries are held"),
            conf_state: self.conf.clone(),
        }
    }

    /// When [`tick`](Self::tick) next has work to do.
    pub fn next_deadline(&self) -> Instant {
        self.next_tick_at
    }

    pub(crate) fn is_promotable(&self) -> bool {
        self.conf.is_voter(self.id)
    }

    // ----- inputs -----

    /// Advances time. Each elapsed tick interval counts as one tick; a long
    /// pause counts as at most two election timeouts, so a node that was
    /// stopped for minutes does not burst out thousands of heartbeats.
    pub fn tick(&mut self, now: Instant) {
        if now < self.next_tick_at {
            return;
        }
        let interval = self.config.tick_interval_ms;
        let due = now.millis_since(self.next_tick_at) / interval + 1;
        let ticks = due.min(2 * self.config.election_ticks as u64);
        for _ in 0..ticks {
            self.tick_once();
        }
        self.next_tick_at = self.next_tick_at + due * interval;
        self.check_invariants();
    }

    fn tick_once(&mut self) {
        self.reads.tick(self.config.read_timeout_ticks);
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => self.tick_election(),
        }
    }

    /// Steps a message from a peer.
    pub fn handle_message(&mut self, message: Message) {
        if message.to != self.id || message.from == self.id {
            return;
        }
        self.step(message);
        self.check_invariants();
    }

    pub(crate) fn step(&mut self, message: Message) {
        if !self.step_term(&message) {
            return;
        }
        let from = message.from;
        let term = message.term;
        match message.body {
            MessageBody::Vote {
                pre,
                last_index,
                last_term,
                ..
            } => self.handle_vote_request(from, term, pre, last_index, last_term),
            body => match self.role {
                Role::Leader => self.step_leader(from, body),
                Role::Candidate | Role::PreCandidate => self.step_candidate(from, term, body),
                Role::Follower => self.step_follower(from, body),
            },
        }
    }

    /// Write `id` (and every earlier one) is durable.
    pub fn handle_persisted(&mut self, id: WriteId) {
        assert!(
            self.open_write.is_none_or(|open| id < open) && id.0 < self.next_write_id,
            "write {id:?} reported durable before it was handed out"
        );
        while let Some(write) = self.inflight_writes.front().copied() {
            if write.id > id {
                break;
            }
            self.inflight_writes.pop_front();
            if let Some((index, term)) = write.last {
                self.log.persisted_to(index, term);
            }
        }
        let due: Vec<Message> = {
            let (due, waiting) = std::mem::take(&mut self.self_messages)
                .into_iter()
                .partition(|(write, _)| *write <= id);
            self.self_messages = waiting;
            due.into_iter().map(|(_, m)| m).collect()
        };
        for message in due {
            self.step(message);
        }
        if self.role == Role::Leader {
            let persisted = self.log.persisted;
            if let Some(own) = self.progress.get_mut(&self.id) {
                own.maybe_update(persisted);
            }
            if self.maybe_commit() {
                self.broadcast_due = true;
            }
        }
        self.check_invariants();
    }

    /// Records that the application saved a durable snapshot; the leader sends
    /// it to followers whose needed entries are compacted away.
    pub fn handle_snapshot_saved(&mut self, meta: SnapshotMeta) {
        assert!(
            meta.index <= self.log.applied,
            "snapshot beyond the applied index"
        );
        if self
            .latest_snapshot
            .as_ref()
            .is_none_or(|s| s.index < meta.index)
        {
            self.latest_snapshot = Some(meta);
        }
    }

    /// Forgets log entries up to `index`, which must be covered by a saved
    /// snapshot (see [`handle_snapshot_saved`](Self::handle_snapshot_saved)).
    pub fn compact_log(&mut self, index: u64) {
        let covered = self.latest_snapshot.as_ref().map_or(0, |s| s.index);
        assert!(
            index <= covered,
            "compacting to {index} without a snapshot covering it ({covered})"
        );
        self.log.compact_to(index);
        self.check_invariants();
    }

    /// The transport could not reach `to`: stop streaming to it optimistically.
    pub fn report_unreachable(&mut self, to: NodeId) {
        if self.role != Role::Leader {
            return;
        }
        if let Some(progress) = self.progress.get_mut(&to) {
            if progress.state == super::ProgressState::Replicate {
                progress.become_probe();
            }
        }
    }

    /// The snapshot sent to `to` was delivered (`applied`) or failed.
    pub fn report_snapshot(&mut self, to: NodeId, applied: bool) {
        if self.role != Role::Leader {
            return;
        }
        if let Some(progress) = self.progress.get_mut(&to) {
            if let super::ProgressState::Snapshot { .. } = progress.state {
                if !applied {
                    progress.become_snapshot(0);
                }
                progress.become_probe();
                // Wait for the follower's answer before probing again.
                progress.probe_sent = true;
            }
        }
    }

    // ----- commands -----

    /// Proposes `data` for the log. On a follower the proposal is forwarded to
    /// the leader; the caller learns of its fate only by seeing it applied (or
    /// not, within its own timeout).
    pub fn propose(&mut self, data: Bytes) -> Result<Proposed, ProposeError> {
        let result = match self.role {
            Role::Leader => {
                if self.transfer_target.is_some() {
                    return Err(ProposeError::TransferInProgress);
                }
                let (index, term) = self.append_entry(EntryKind::Normal, data);
                Ok(Proposed::Appended { index, term })
            }
            _ if self.leader != NO_NODE => {
                self.forward_proposals.push(Entry {
                    term: 0,
                    index: 0,
                    kind: EntryKind::Normal,
                    data,
                });
                Ok(Proposed::Forwarded {
                    leader: self.leader,
                })
            }
            _ => Err(ProposeError::NoLeader),
        };
        self.check_invariants();
        result
    }

    /// Leader: appends an entry of the current term and schedules replication.
    pub(crate) fn append_entry(&mut self, kind: EntryKind, data: Bytes) -> (u64, u64) {
        let index = self.log.last_index() + 1;
        self.log.append([Entry {
            term: self.term,
            index,
            kind,
            data,
        }]);
        self.mark_dirty();
        self.broadcast_due = true;
        (index, self.term)
    }

    /// Starts an election now, as if the election timeout had passed.
    pub fn campaign(&mut self) {
        if self.role != Role::Leader {
            self.start_election(false);
        }
        self.check_invariants();
    }

    // ----- outputs -----

    /// Collects what the node wants done. Call until it returns `None`.
    pub fn poll_ready(&mut self) -> Option<Ready> {
        self.flush_reads();
        self.flush_broadcast();
        self.flush_forwarded_proposals();

        let mut ready = Ready::default();
        let entries = self.log.take_unsent();
        let snapshot = self.snapshot_to_install.take();
        let mut hard_state = self.hard_state();
        if self.config.knobs.skip_vote_persistence {
            hard_state.vote = super::NO_NODE;
        }
        let hard_state_changed = hard_state != self.last_written_hard_state;
        if self.open_write.is_some()
            || !entries.is_empty()
            || snapshot.is_some()
            || hard_state_changed
        {
            let id = self
                .open_write
                .take()
                .unwrap_or_else(|| self.allocate_write());
            let last = entries
                .last()
                .map(|e| (e.index, e.term))
                .or_else(|| snapshot.as_ref().map(|s| (s.index, s.term)));
            self.inflight_writes.push_back(InflightWrite { id, last });
            self.last_written_hard_state = hard_state;
            ready.write = Some(Write {
                id,
                snapshot,
                entries,
                hard_state: hard_state_changed.then_some(hard_state),
            });
        }

        ready.committed_entries = self
            .log
            .take_committed(self.config.max_committed_bytes_per_ready);
        for entry in &ready.committed_entries {
            if entry.kind == EntryKind::ConfChange {
                if let Ok(change) = ConfChange::decode(&entry.data) {
                    self.apply_conf_change(&change);
                }
            }
        }
        // Applying a membership change may have produced messages (a leader
        // committing with a smaller quorum).
        self.flush_broadcast();
        ready.messages = std::mem::take(&mut self.messages);
        ready.read_states = self.reads.take_ready();
        ready.failed_reads = self.reads.take_failed();
        let role = self.role_state();
        if self.last_reported_role != Some(role) {
            self.last_reported_role = Some(role);
            ready.role = Some(role);
        }
        self.check_invariants();
        if ready.is_empty() {
            None
        } else {
            Some(ready)
        }
    }

    fn allocate_write(&mut self) -> WriteId {
        let id = WriteId(self.next_write_id);
        self.next_write_id += 1;
        id
    }

    /// Notes that durable state changed: it joins the next write.
    pub(crate) fn mark_dirty(&mut self) -> WriteId {
        match self.open_write {
            Some(id) => id,
            None => {
                let id = self.allocate_write();
                self.open_write = Some(id);
                id
            }
        }
    }

    /// The newest write not yet reported durable, if any.
    fn latest_unpersisted_write(&self) -> Option<WriteId> {
        self.open_write
            .or_else(|| self.inflight_writes.back().map(|w| w.id))
    }

    /// Queues a message. Answers that promise something about this node's disk
    /// (a granted or refused vote, an append acknowledgement) wait for every
    /// write issued so far; a leader's own messages never wait (its fsync runs in
    /// parallel with replication).
    pub(crate) fn send(&mut self, to: NodeId, term: u64, body: MessageBody) {
        let waits = matches!(
            body,
            MessageBody::AppendResponse { .. } | MessageBody::VoteResponse { pre: false, .. }
        );
        let after = if waits && !self.config.knobs.skip_vote_persistence {
            self.latest_unpersisted_write()
        } else {
            None
        };
        self.messages.push(Outgoing {
            message: Message {
                from: self.id,
                to,
                term,
                body,
            },
            after,
        });
    }

    /// Queues a message to this node, stepped once everything written so far is
    /// durable.
    pub(crate) fn send_to_self_after_persist(&mut self, body: MessageBody) {
        let write = self.mark_dirty();
        self.self_messages.push((
            write,
            Message {
                from: self.id,
                to: self.id,
                term: self.term,
                body,
            },
        ));
    }

    fn flush_forwarded_proposals(&mut self) {
        if self.forward_proposals.is_empty() {
            return;
        }
        let entries = std::mem::take(&mut self.forward_proposals);
        if self.role != Role::Leader && self.leader != NO_NODE {
            self.send(self.leader, self.term, MessageBody::Propose { entries });
        } else if self.role == Role::Leader {
            for entry in entries {
                self.append_entry(entry.kind, entry.data);
            }
            self.flush_broadcast();
        }
        // With no leader the proposals are dropped: their callers time out.
    }

    // ----- role transitions shared by every role -----

    /// Moves to `term` (clearing the vote if it is new) and forgets per-role
    /// state.
    pub(crate) fn reset(&mut self, term: u64) {
        if term != self.term {
            self.term = term;
            self.vote = NO_NODE;
            self.mark_dirty();
        }
        // Reads a leader was confirming die with its leadership.
        self.reads.fail_leader_reads(self.id);
        self.set_leader(NO_NODE);
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.randomized_election_ticks = self.rng.range(
            self.config.election_ticks as u64,
            2 * self.config.election_ticks as u64,
        ) as u32;
        self.transfer_target = None;
        self.transfer_elapsed = 0;
        self.votes.clear();
        self.progress.clear();
        self.committed_in_term = false;
        self.broadcast_due = false;
    }

    pub(crate) fn set_leader(&mut self, leader: NodeId) {
        if leader != self.leader {
            // Reads waiting on the old leader will never be answered.
            self.reads.fail_forwarded();
        }
        if leader != NO_NODE {
            let (known_term, known) = self.known_leader;
            assert!(
                known_term != self.term || known == NO_NODE || known == leader,
                "election safety: node {} saw leaders {known} and {leader} in term {}",
                self.id,
                self.term
            );
            self.known_leader = (self.term, leader);
        }
        self.leader = leader;
    }

    pub(crate) fn become_follower(&mut self, term: u64, leader: NodeId) {
        self.role = Role::Follower;
        self.reset(term);
        self.set_leader(leader);
    }

    /// Checks invariants after every step in test and debug builds.
    pub(crate) fn check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        self.log.check();
        assert!(
            self.log.last_term() <= self.term,
            "node {}: log holds term {} above current term {}",
            self.id,
            self.log.last_term(),
            self.term
        );
        if self.role == Role::Leader {
            assert_eq!(self.leader, self.id, "a leader leads");
            assert_eq!(self.vote, self.id, "a leader voted for itself");
            assert!(self.progress.contains_key(&self.id) || !self.conf.contains(self.id));
        }
        if self.role == Role::Candidate {
            assert_eq!(self.vote, self.id, "a candidate voted for itself");
        }
        let mut members: Vec<NodeId> = self.conf.members().collect();
        members.sort_unstable();
        let before = members.len();
        members.dedup();
        assert_eq!(before, members.len(), "voters and learners overlap");
    }
}
