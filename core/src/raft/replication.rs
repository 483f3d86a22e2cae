//! Log replication (Raft §5.3), commitment (§5.4.2), heartbeats, snapshots
//! (§7), check-quorum and leader transfer (dissertation §3.10, §6.2).

use super::errors::TransferError;
use super::node::RawNode;
use super::progress::ProgressState;
use super::quorum;
use super::ready::Role;
use super::types::{Entry, EntryKind, MessageBody, NodeId, RejectHint, SnapshotMeta, NO_NODE};

impl RawNode {
    // ----- leader -----

    pub(crate) fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.config.election_ticks {
            self.election_elapsed = 0;
            if self.config.check_quorum && !self.quorum_recently_active() {
                // Dissertation §6.2: a leader that cannot hear a majority steps
                // down, so clients stop waiting on it and reads stay safe.
                // Invariant: at most two election timeouts after it last heard
                // a majority, transfer or not (the lessor's promotion
                // extension counts on it).
                let term = self.term;
                self.become_follower(term, NO_NODE);
                return;
            }
        }
        if self.transfer_target.is_some() {
            self.transfer_elapsed += 1;
            if self.transfer_elapsed >= self.config.election_ticks {
                // A transfer that has not finished within an election timeout
                // is abandoned, and the leader takes proposals again.
                self.transfer_target = None;
            }
        }
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat();
        }
    }

    /// Whether a majority of voters was heard from since the last check; resets
    /// the marks for the next one.
    fn quorum_recently_active(&mut self) -> bool {
        let own = self.id;
        let active = quorum::has_quorum(&self.conf.voters, |voter| {
            voter == own || self.progress.get(&voter).is_some_and(|p| p.recent_active)
        });
        for (&id, progress) in self.progress.iter_mut() {
            progress.active_last_round = progress.recent_active;
            progress.recent_active = id == own;
        }
        active
    }

    pub(crate) fn broadcast_heartbeat(&mut self) {
        let read_round = self.reads.latest_round();
        let peers: Vec<(NodeId, u64)> = self
            .progress
            .iter()
            .filter(|(&id, _)| id != self.id)
            .map(|(&id, p)| (id, p.matched))
            .collect();
        for (peer, matched) in peers {
            // Never tell a follower to commit past what it is known to hold.
            let commit = matched.min(self.log.committed);
            self.send(
                peer,
                self.term,
                MessageBody::Heartbeat { commit, read_round },
            );
        }
    }

    /// Sends pending entries (or the new commit index) to every follower.
    pub(crate) fn flush_broadcast(&mut self) {
        if self.role != Role::Leader || !self.broadcast_due {
            return;
        }
        self.broadcast_due = false;
        let peers: Vec<NodeId> = self
            .progress
            .keys()
            .copied()
            .filter(|&id| id != self.id)
            .collect();
        for peer in peers {
            self.send_append(peer, true);
            // In the replicate state, stream until the window is full.
            while self
                .progress
                .get(&peer)
                .is_some_and(|p| p.next <= self.log.last_index())
            {
                if !self.send_append(peer, false) {
                    break;
                }
            }
        }
    }

    /// Sends `peer` the entries it needs next, or a snapshot if they are
    /// compacted away. With `send_if_empty`, sends an empty append to carry the
    /// commit index. Returns whether anything was sent.
    pub(crate) fn send_append(&mut self, peer: NodeId, send_if_empty: bool) -> bool {
        let Some(progress) = self.progress.get(&peer) else {
            return false;
        };
        if progress.is_paused() {
            return false;
        }
        let prev_index = progress.next - 1;
        let Some(prev_term) = self.log.term(prev_index) else {
            return self.send_snapshot(peer);
        };
        let entries = if progress.next > self.log.last_index() {
            Vec::new()
        } else {
            self.log
                .entries_from(progress.next, self.config.max_message_bytes)
        };
        if entries.is_empty() && !send_if_empty {
            return false;
        }
        let last = prev_index + entries.len() as u64;
        let count = entries.len();
        let progress = self.progress.get_mut(&peer).expect("checked above");
        progress.sent_entries(last, count);
        let commit = self.log.committed;
        self.send(
            peer,
            self.term,
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            },
        );
        true
    }

    fn send_snapshot(&mut self, peer: NodeId) -> bool {
        let Some(meta) = self.latest_snapshot.clone() else {
            // The log is only compacted behind a saved snapshot.
            unreachable!(
                "entries below {} are compacted but no snapshot was saved",
                self.log.first_index()
            );
        };
        let progress = self.progress.get_mut(&peer).expect("caller checked");
        // A member not heard from recently is probably down: don't spend a
        // snapshot on it yet.
        if !progress.recent_active {
            return false;
        }
        progress.become_snapshot(meta.index);
        self.send(peer, self.term, MessageBody::Snapshot { meta });
        true
    }

    /// Raft §5.3/§5.4.2: commits the highest index a majority holds, if that
    /// entry is of the current term. Returns whether the commit index moved.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        let majority_index = quorum::committed_index(&self.conf.voters, |voter| {
            self.progress.get(&voter).map_or(0, |p| p.matched)
        });
        if majority_index == u64::MAX || majority_index <= self.log.committed {
            return false;
        }
        // Entries of earlier terms are never committed by counting replicas
        // (the Figure 8 scenario); they commit with the first entry of ours.
        if self.log.term(majority_index) != Some(self.term) {
            return false;
        }
        self.log.commit_to(majority_index);
        self.committed_in_term = true;
        true
    }

    pub(crate) fn step_leader(&mut self, from: NodeId, body: MessageBody) {
        match body {
            MessageBody::AppendResponse { index, reject } => {
                self.handle_append_response(from, index, reject)
            }
            MessageBody::HeartbeatResponse { read_round } => {
                if let Some(progress) = self.progress.get_mut(&from) {
                    progress.recent_active = true;
                    progress.probe_sent = false;
                    // If appends were lost, the window stays full and nothing
                    // more would be sent: the heartbeat proves the member is
                    // there, so let one append through. If entries are missing,
                    // its rejection resets the stream.
                    if progress.state == ProgressState::Replicate && progress.inflights.is_full() {
                        progress.inflights.free_first();
                    }
                    let behind = progress.matched < self.log.last_index();
                    if behind {
                        // Even with nothing new to send (a member added with
                        // an empty log starts at the leader's end): the probe
                        // finds where its log ends.
                        self.send_append(from, true);
                    }
                }
                self.handle_read_round_ack(from, read_round);
            }
            MessageBody::Propose { entries } => {
                if self.transfer_target.is_some() || !self.conf.contains(from) {
                    return;
                }
                // Membership changes are never forwarded: they go through the
                // leader's own checks.
                for entry in entries.into_iter().filter(|e| e.kind == EntryKind::Normal) {
                    self.append_entry(EntryKind::Normal, entry.data);
                }
            }
            MessageBody::ReadIndex { ids } => self.handle_forwarded_reads(from, ids),
            MessageBody::TransferLeader { target } => {
                // A refused transfer is simply not carried out.
                let _ = self.start_transfer(target);
            }
            // Another leader of our own term cannot exist; responses to
            // campaigns that are over and the rest are of no use to a leader.
            _ => {}
        }
    }

    fn handle_append_response(&mut self, from: NodeId, index: u64, reject: Option<RejectHint>) {
        let last_index = self.log.last_index();
        if !self.progress.contains_key(&from) {
            return;
        }
        // An answer about entries this leader never had: not something a
        // peer with a durable log sends in our term (only one that lost
        // acknowledged writes, or a bug), but a peer's message must never
        // push the progress past the log.
        if index > last_index {
            return;
        }
        if let Some(hint) = reject {
            // Fast backtracking: skip every entry of a term the follower does not
            // have, instead of one index per round trip.
            let probe_from = if hint.term > 0 {
                self.log.find_conflict_by_term(hint.index, hint.term)
            } else {
                hint.index
            };
            let progress = self.progress.get_mut(&from).expect("checked");
            progress.recent_active = true;
            if progress.maybe_decrease_to(index, probe_from) {
                if progress.state == ProgressState::Replicate {
                    progress.become_probe();
                }
                self.send_append(from, false);
            }
            return;
        }
        let progress = self.progress.get_mut(&from).expect("checked");
        progress.recent_active = true;
        let was_paused = progress.is_paused();
        if !progress.maybe_update(index) {
            return;
        }
        match progress.state {
            ProgressState::Probe => progress.become_replicate(),
            ProgressState::Snapshot { pending_index } if progress.matched >= pending_index => {
                progress.become_probe();
                progress.become_replicate();
            }
            ProgressState::Replicate => progress.inflights.free_to(index),
            ProgressState::Snapshot { .. } => {}
        }
        let caught_up = progress.matched == last_index;
        if self.maybe_commit() {
            self.broadcast_due = true;
        } else if was_paused {
            self.send_append(from, false);
        }
        while self
            .progress
            .get(&from)
            .is_some_and(|p| p.next <= self.log.last_index())
        {
            if !self.send_append(from, false) {
                break;
            }
        }
        if caught_up && self.transfer_target == Some(from) {
            self.send(from, self.term, MessageBody::TimeoutNow);
        }
    }

    /// Hands leadership to `target`: stop taking proposals, bring it up to date,
    /// then tell it to campaign at once (dissertation §3.10).
    pub fn transfer_leader(&mut self, target: NodeId) -> Result<(), TransferError> {
        let result = match self.role {
            Role::Leader => self.start_transfer(target),
            _ if self.leader != NO_NODE => {
                if !self.conf.is_voter(target) {
                    return Err(TransferError::NotVoter(target));
                }
                self.send(
                    self.leader,
                    self.term,
                    MessageBody::TransferLeader { target },
                );
                Ok(())
            }
            _ => Err(TransferError::NoLeader),
        };
        self.check_invariants();
        result
    }

    pub(crate) fn start_transfer(&mut self, target: NodeId) -> Result<(), TransferError> {
        if !self.conf.is_voter(target) {
            return Err(TransferError::NotVoter(target));
        }
        if target == self.id {
            self.transfer_target = None;
            return Ok(());
        }
        if self.transfer_target == Some(target) {
            return Ok(());
        }
        self.transfer_target = Some(target);
        // Timed on its own: resetting `election_elapsed` here (as etcd's raft
        // does) would put off check-quorum by up to an election timeout per
        // transfer, and a deposed leader asked to hand over again and again
        // would go on leading, and renewing leases, long after its successor
        // took over.
        self.transfer_elapsed = 0;
        let caught_up = self
            .progress
            .get(&target)
            .is_some_and(|p| p.matched == self.log.last_index());
        if caught_up {
            self.send(target, self.term, MessageBody::TimeoutNow);
        } else {
            self.send_append(target, false);
        }
        Ok(())
    }

    // ----- follower -----

    pub(crate) fn step_follower(&mut self, from: NodeId, body: MessageBody) {
        match body {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.election_elapsed = 0;
                self.set_leader(from);
                self.handle_append(from, prev_index, prev_term, &entries, commit);
            }
            MessageBody::Heartbeat { commit, read_round } => {
                self.election_elapsed = 0;
                self.set_leader(from);
                self.log.commit_to(commit.min(self.log.last_index()));
                self.send(
                    from,
                    self.term,
                    MessageBody::HeartbeatResponse { read_round },
                );
            }
            MessageBody::Snapshot { meta } => {
                self.election_elapsed = 0;
                self.set_leader(from);
                self.handle_snapshot(from, meta);
            }
            MessageBody::TimeoutNow => {
                // Campaign at once, skipping pre-vote: the leader asked for it.
                self.start_election(true);
            }
            MessageBody::ReadIndexResponse { ids, index } => {
                self.handle_read_index_response(ids, index)
            }
            MessageBody::TransferLeader { target } if self.leader != NO_NODE => {
                self.send(
                    self.leader,
                    self.term,
                    MessageBody::TransferLeader { target },
                );
            }
            // Proposals and reads forwarded to a former leader are dropped:
            // their callers time out and retry. Stale vote responses too.
            _ => {}
        }
    }

    /// Raft §5.3, the receiver's side of AppendEntries.
    fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: u64,
        prev_term: u64,
        entries: &[Entry],
        commit: u64,
    ) {
        if prev_index < self.log.committed {
            // Everything up to our commit index already agrees with the leader.
            let committed = self.log.committed;
            self.send(
                from,
                self.term,
                MessageBody::AppendResponse {
                    index: committed,
                    reject: None,
                },
            );
            return;
        }
        if self.log.matches(prev_index, prev_term) {
            let last_new = self.log.merge(prev_index, entries);
            if self.log.unsent_from <= self.log.last_index() {
                self.mark_dirty();
            }
            self.log.commit_to(commit.min(last_new));
            self.send(
                from,
                self.term,
                MessageBody::AppendResponse {
                    index: last_new,
                    reject: None,
                },
            );
        } else {
            let hint_index = self
                .log
                .find_conflict_by_term(prev_index.min(self.log.last_index()), prev_term);
            let hint_term = self.log.term(hint_index).unwrap_or(0);
            self.send(
                from,
                self.term,
                MessageBody::AppendResponse {
                    index: prev_index,
                    reject: Some(RejectHint {
                        index: hint_index,
                        term: hint_term,
                    }),
                },
            );
        }
    }

    /// Raft §7, the receiver's side of InstallSnapshot.
    fn handle_snapshot(&mut self, from: NodeId, meta: SnapshotMeta) {
        let answer = if meta.index <= self.log.committed {
            self.log.committed
        } else if self.log.matches(meta.index, meta.term) {
            // We hold the snapshot's last entry: our log already contains it.
            self.log.commit_to(meta.index);
            self.log.last_index()
        } else {
            // The snapshot may predate our own addition (its membership does not
            // list us): that is fine, the entries after it add us.
            self.log.restore_snapshot(meta.index, meta.term);
            self.conf = meta.conf_state.clone();
            self.latest_snapshot = Some(meta.clone());
            self.snapshot_to_install = Some(meta.clone());
            self.mark_dirty();
            meta.index
        };
        self.send(
            from,
            self.term,
            MessageBody::AppendResponse {
                index: answer,
                reject: None,
            },
        );
    }
}
