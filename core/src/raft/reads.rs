//! Linearizable reads by ReadIndex (Raft dissertation §6.4).
//!
//! A leader answers a read with its commit index once a heartbeat round started
//! *after* the read arrived has been acknowledged by a majority, which proves it
//! was still the leader when the read arrived. Reads are batched: every read
//! that arrives between two polls joins one round, so a thousand concurrent
//! reads cost one heartbeat round, not a thousand. Heartbeats always carry the
//! newest round, so a lost acknowledgement is made good by the next heartbeat.
//!
//! A follower forwards its reads to the leader (batched the same way) and turns
//! the leader's answer into read states. Reads that cannot complete (the leader
//! changed, or a timeout) are reported failed so callers retry rather than hang.

use std::collections::{BTreeMap, VecDeque};

use super::errors::ReadError;
use super::node::RawNode;
use super::quorum;
use super::ready::Role;
use super::types::{MessageBody, NodeId, ReadId, ReadState, NO_NODE};

/// One heartbeat round confirming leadership for a batch of reads.
#[derive(Clone, Debug)]
struct ReadRound {
    round: u64,
    /// The commit index when the round started.
    index: u64,
    /// (requesting node, its read id).
    requests: Vec<(NodeId, ReadId)>,
    age_ticks: u32,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Reads {
    /// Leader: reads not yet in a round, with their age.
    waiting: Vec<(NodeId, ReadId, u32)>,
    rounds: VecDeque<ReadRound>,
    /// The newest round started; rounds never repeat an id.
    latest_round: u64,
    /// Follower: reads to forward at the next poll.
    to_forward: Vec<ReadId>,
    /// Follower: reads forwarded and not yet answered, with their age.
    forwarded: Vec<(ReadId, u32)>,
    ready: Vec<ReadState>,
    failed: Vec<ReadId>,
}

impl Reads {
    pub(crate) fn latest_round(&self) -> u64 {
        self.latest_round
    }

    pub(crate) fn take_ready(&mut self) -> Vec<ReadState> {
        std::mem::take(&mut self.ready)
    }

    pub(crate) fn take_failed(&mut self) -> Vec<ReadId> {
        std::mem::take(&mut self.failed)
    }

    /// Fails reads forwarded to a leader that is no longer ours.
    pub(crate) fn fail_forwarded(&mut self) {
        self.failed.append(&mut self.to_forward);
        self.failed
            .extend(self.forwarded.drain(..).map(|(id, _)| id));
    }

    /// Drops every read a leader was confirming: this node's own fail, other
    /// members' time out on their side (their leader changes too).
    pub(crate) fn fail_leader_reads(&mut self, self_id: NodeId) {
        let waiting = self.waiting.drain(..).map(|(node, id, _)| (node, id));
        let in_rounds = self.rounds.drain(..).flat_map(|r| r.requests);
        let failed: Vec<ReadId> = waiting
            .chain(in_rounds)
            .filter(|(node, _)| *node == self_id)
            .map(|(_, id)| id)
            .collect();
        self.failed.extend(failed);
    }

    /// Ages pending reads by one tick and fails those past `timeout_ticks`.
    pub(crate) fn tick(&mut self, timeout_ticks: u32) {
        let mut failed = Vec::new();
        self.forwarded.retain_mut(|(id, age)| {
            *age += 1;
            let keep = *age < timeout_ticks;
            if !keep {
                failed.push(*id);
            }
            keep
        });
        for (_, _, age) in &mut self.waiting {
            *age += 1;
        }
        for round in &mut self.rounds {
            round.age_ticks += 1;
        }
        self.failed.extend(failed);
    }

    /// Leader: takes the rounds past `timeout_ticks`, oldest first.
    fn expire_rounds(&mut self, timeout_ticks: u32, self_id: NodeId) {
        while self
            .rounds
            .front()
            .is_some_and(|r| r.age_ticks >= timeout_ticks)
        {
            let round = self.rounds.pop_front().expect("checked");
            self.failed.extend(
                round
                    .requests
                    .into_iter()
                    .filter(|(node, _)| *node == self_id)
                    .map(|(_, id)| id),
            );
        }
        let failed: Vec<ReadId> = self
            .waiting
            .iter()
            .filter(|(node, _, age)| *age >= timeout_ticks && *node == self_id)
            .map(|(_, id, _)| *id)
            .collect();
        self.waiting.retain(|(_, _, age)| *age < timeout_ticks);
        self.failed.extend(failed);
    }
}

impl RawNode {
    /// Asks for a linearizable read point. The answer arrives as a
    /// [`ReadState`] with this `id` in a later ready (or in `failed_reads`).
    pub fn read_index(&mut self, id: ReadId) -> Result<(), ReadError> {
        match self.role {
            Role::Leader => self.reads.waiting.push((self.id, id, 0)),
            _ if self.leader != NO_NODE => self.reads.to_forward.push(id),
            _ => return Err(ReadError::NoLeader),
        }
        Ok(())
    }

    /// Leader: reads forwarded by member `from`.
    pub(crate) fn handle_forwarded_reads(&mut self, from: NodeId, ids: Vec<ReadId>) {
        if !self.conf.contains(from) {
            return;
        }
        self.reads
            .waiting
            .extend(ids.into_iter().map(|id| (from, id, 0)));
    }

    /// Follower: the leader's answer to forwarded reads.
    pub(crate) fn handle_read_index_response(&mut self, ids: Vec<ReadId>, index: u64) {
        for id in ids {
            if let Some(position) = self.reads.forwarded.iter().position(|(f, _)| *f == id) {
                self.reads.forwarded.swap_remove(position);
                self.reads.ready.push(ReadState { id, index });
            }
        }
    }

    /// Leader: a member acknowledged heartbeats up to `round`.
    pub(crate) fn handle_read_round_ack(&mut self, from: NodeId, round: u64) {
        if let Some(progress) = self.progress.get_mut(&from) {
            progress.read_round_acked = progress.read_round_acked.max(round);
        }
        self.complete_read_rounds();
    }

    /// Starts a round for the reads that arrived since the last poll (leader)
    /// or forwards them (follower).
    pub(crate) fn flush_reads(&mut self) {
        match self.role {
            Role::Leader => {
                self.reads
                    .expire_rounds(self.config.read_timeout_ticks, self.id);
                // A new leader's commit index may lag until it commits an entry
                // of its own term (Raft §8): reads wait until then.
                if !self.committed_in_term || self.reads.waiting.is_empty() {
                    return;
                }
                self.reads.latest_round += 1;
                let round = self.reads.latest_round;
                let requests = self
                    .reads
                    .waiting
                    .drain(..)
                    .map(|(node, id, _)| (node, id))
                    .collect();
                self.reads.rounds.push_back(ReadRound {
                    round,
                    index: self.log.committed,
                    requests,
                    age_ticks: 0,
                });
                let own = self.id;
                self.handle_read_round_ack(own, round);
                self.broadcast_heartbeat();
            }
            _ => {
                if self.reads.to_forward.is_empty() {
                    return;
                }
                if self.leader == NO_NODE {
                    self.reads.fail_forwarded();
                    return;
                }
                let ids = std::mem::take(&mut self.reads.to_forward);
                self.reads.forwarded.extend(ids.iter().map(|&id| (id, 0)));
                self.send(self.leader, self.term, MessageBody::ReadIndex { ids });
            }
        }
    }

    /// Leader: answers every round a majority has confirmed, oldest first.
    fn complete_read_rounds(&mut self) {
        while let Some(front) = self.reads.rounds.front() {
            let round = front.round;
            let confirmed = quorum::has_quorum(&self.conf.voters, |voter| {
                self.progress
                    .get(&voter)
                    .is_some_and(|p| p.read_round_acked >= round)
            });
            if !confirmed {
                break;
            }
            let round = self.reads.rounds.pop_front().expect("checked");
            let mut remote: BTreeMap<NodeId, Vec<ReadId>> = BTreeMap::new();
            for (node, id) in round.requests {
                if node == self.id {
                    self.reads.ready.push(ReadState {
                        id,
                        index: round.index,
                    });
                } else {
                    remote.entry(node).or_default().push(id);
                }
            }
            for (node, ids) in remote {
                self.send(
                    node,
                    self.term,
                    MessageBody::ReadIndexResponse {
                        ids,
                        index: round.index,
                    },
                );
            }
        }
    }
}
