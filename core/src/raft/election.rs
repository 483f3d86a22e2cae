//! Leader election (Raft §5.2, §5.4.1) with pre-vote (dissertation §9.6) and the
//! leader lease that check-quorum gives followers (dissertation §4.2.3).

use super::node::RawNode;
use super::progress::Progress;
use super::quorum::{self, VoteResult};
use super::ready::Role;
use super::types::{EntryKind, MessageBody, NodeId, NO_NODE};
use bytes::Bytes;

impl RawNode {
    /// Follower and candidate tick: campaign when no leader was heard from for a
    /// randomized election timeout.
    pub(crate) fn tick_election(&mut self) {
        self.election_elapsed += 1;
        // The only voter has no one to hear from: a follower campaigns on its
        // first tick instead of waiting out a timeout (etcd fast-forwards its
        // ticks for a single-member cluster). Candidates wait as usual, so
        // a slow disk never makes it restart elections tick after tick.
        let sole_voter = self.role == Role::Follower && self.conf.voters == [self.id];
        if self.is_promotable()
            && (sole_voter || self.election_elapsed >= self.randomized_election_ticks)
        {
            self.election_elapsed = 0;
            self.start_election(false);
        }
    }

    /// Campaigns: with pre-vote first unless `transfer` (a leader handing over
    /// asked for it, so there is no healthy leader to protect).
    pub(crate) fn start_election(&mut self, transfer: bool) {
        if !self.is_promotable() {
            return;
        }
        if self.config.pre_vote && !transfer {
            self.become_pre_candidate();
        } else {
            self.become_candidate(transfer);
        }
    }

    fn become_pre_candidate(&mut self) {
        // The term and vote stay as they are: a pre-vote changes nothing durable.
        self.role = Role::PreCandidate;
        self.votes.clear();
        self.reads.fail_leader_reads(self.id);
        self.set_leader(NO_NODE);
        self.votes.insert(self.id, true);
        self.request_votes(true, false);
        self.tally_votes(true);
    }

    fn become_candidate(&mut self, transfer: bool) {
        self.role = Role::Candidate;
        self.reset(self.term + 1);
        self.vote = self.id;
        self.mark_dirty();
        // Our own vote counts once it is durable, like anyone else's.
        self.send_to_self_after_persist(MessageBody::VoteResponse {
            pre: false,
            granted: true,
        });
        self.request_votes(false, transfer);
    }

    fn request_votes(&mut self, pre: bool, transfer: bool) {
        let term = if pre { self.term + 1 } else { self.term };
        let last_index = self.log.last_index();
        let last_term = self.log.last_term();
        let voters: Vec<NodeId> = self
            .conf
            .voters
            .iter()
            .copied()
            .filter(|&v| v != self.id)
            .collect();
        for voter in voters {
            self.send(
                voter,
                term,
                MessageBody::Vote {
                    pre,
                    last_index,
                    last_term,
                    transfer,
                },
            );
        }
    }

    fn tally_votes(&mut self, pre: bool) {
        match quorum::vote_result(&self.conf.voters, &self.votes) {
            VoteResult::Won if pre => self.become_candidate(false),
            VoteResult::Won => self.become_leader(),
            VoteResult::Lost => {
                let term = self.term;
                self.become_follower(term, NO_NODE);
            }
            VoteResult::Pending => {}
        }
    }

    pub(crate) fn become_leader(&mut self) {
        assert_eq!(
            self.role,
            Role::Candidate,
            "only a candidate becomes leader"
        );
        let term = self.term;
        self.reset(term);
        self.role = Role::Leader;
        self.set_leader(self.id);
        let next = self.log.last_index() + 1;
        let members: Vec<NodeId> = self.conf.members().collect();
        for member in members {
            let mut progress = Progress::new(next, self.config.max_inflight_messages);
            if member == self.id {
                progress.maybe_update(self.log.persisted);
                progress.become_replicate();
                progress.recent_active = true;
            }
            self.progress.insert(member, progress);
        }
        // Any membership change in the uncommitted tail may still be pending.
        self.pending_conf_index = self.log.last_index();
        // Raft §8: a no-op entry of the new term lets earlier entries commit and
        // tells the leader its commit index is current.
        self.append_entry(EntryKind::Normal, Bytes::new());
    }

    /// Applies the term rules every message goes through first (Raft §5.1):
    /// a higher term makes us a follower of it, a lower one is stale. Returns
    /// whether the message should be stepped further.
    pub(crate) fn step_term(&mut self, message: &super::types::Message) -> bool {
        let from = message.from;
        if message.term > self.term {
            if let MessageBody::Vote { transfer, .. } = message.body {
                // Leader lease: we heard from a leader less than an election
                // timeout ago, so this candidate is most likely disruptive
                // (partitioned away and back). Ignore it without bumping terms.
                let in_lease = self.config.check_quorum
                    && self.leader != NO_NODE
                    && self.election_elapsed < self.config.election_ticks;
                if !transfer && in_lease {
                    return false;
                }
            }
            match message.body {
                // A pre-vote never changes our term, and a granted pre-vote
                // carries the term the candidate is about to campaign in.
                MessageBody::Vote { pre: true, .. } => {}
                MessageBody::VoteResponse {
                    pre: true,
                    granted: true,
                } => {}
                MessageBody::Append { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::Snapshot { .. } => self.become_follower(message.term, from),
                _ => self.become_follower(message.term, NO_NODE),
            }
            true
        } else if message.term < self.term {
            match message.body {
                // A stale leader learns our term from our answer and steps down;
                // without this, a leader cut off and back could not learn it was
                // deposed when pre-vote or check-quorum stop term bumps.
                MessageBody::Append { .. } | MessageBody::Heartbeat { .. }
                    if self.config.check_quorum || self.config.pre_vote =>
                {
                    self.send(
                        from,
                        self.term,
                        MessageBody::AppendResponse {
                            index: 0,
                            reject: None,
                        },
                    );
                }
                MessageBody::Vote { pre: true, .. } => {
                    self.send(
                        from,
                        self.term,
                        MessageBody::VoteResponse {
                            pre: true,
                            granted: false,
                        },
                    );
                }
                _ => {}
            }
            false
        } else {
            true
        }
    }

    /// Raft §5.2 and §5.4.1: grant at most one vote per term, and only to a
    /// candidate whose log is at least as up to date as ours.
    pub(crate) fn handle_vote_request(
        &mut self,
        from: NodeId,
        term: u64,
        pre: bool,
        last_index: u64,
        last_term: u64,
    ) {
        let can_vote = self.vote == from
            || (self.vote == NO_NODE && self.leader == NO_NODE)
            || (pre && term > self.term);
        if can_vote && self.log.is_up_to_date(last_index, last_term) {
            if !pre {
                self.election_elapsed = 0;
                self.vote = from;
                self.mark_dirty();
            }
            self.send(from, term, MessageBody::VoteResponse { pre, granted: true });
        } else {
            self.send(
                from,
                self.term,
                MessageBody::VoteResponse {
                    pre,
                    granted: false,
                },
            );
        }
    }

    /// Candidate and pre-candidate: count votes; a leader of our term makes us
    /// its follower.
    pub(crate) fn step_candidate(&mut self, from: NodeId, term: u64, body: MessageBody) {
        match body {
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::Snapshot { .. } => {
                self.become_follower(term, from);
                self.step_follower(from, body);
            }
            MessageBody::VoteResponse { pre, granted } => {
                let campaigning_pre = self.role == Role::PreCandidate;
                if pre != campaigning_pre {
                    return;
                }
                // A granted pre-vote carries our future term; anything else must
                // be of our term (step_term dropped older ones).
                if pre && granted && term != self.term + 1 {
                    return;
                }
                self.votes.insert(from, granted);
                self.tally_votes(pre);
            }
            // No leader to forward to: proposals and reads are dropped, and
            // their callers time out and retry.
            _ => {}
        }
    }
}
