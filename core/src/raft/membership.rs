//! Membership changes, one voter at a time (Raft dissertation §4.1), plus
//! learners that replicate without voting and their promotion.
//!
//! A change takes effect when its entry is handed out for application, on every
//! member alike, and the leader allows one unapplied change at a time: any two
//! consecutive configurations then differ by one voter, so their majorities
//! overlap and two leaders cannot be elected in one term.

use super::errors::ProposeError;
use super::node::RawNode;
use super::progress::Progress;
use super::ready::Role;
use super::types::{ConfChange, ConfChangeKind, EntryKind, NodeId, NO_NODE};

/// A learner may be promoted once its log holds at least this share of the
/// leader's, in percent (etcd's `readyPercent`).
const PROMOTION_READY_PERCENT: u64 = 90;

impl RawNode {
    /// Leader: proposes a membership change. Returns the index of its entry.
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Result<u64, ProposeError> {
        if self.role != Role::Leader {
            let leader = (self.leader != NO_NODE).then_some(self.leader);
            return Err(ProposeError::NotLeader { leader });
        }
        if self.transfer_target.is_some() {
            return Err(ProposeError::TransferInProgress);
        }
        if self.pending_conf_index > self.log.applied {
            return Err(ProposeError::ConfChangePending);
        }
        self.validate_conf_change(&change)?;
        let (index, _) = self.append_entry(EntryKind::ConfChange, change.encode());
        self.pending_conf_index = index;
        self.check_invariants();
        Ok(index)
    }

    fn validate_conf_change(&self, change: &ConfChange) -> Result<(), ProposeError> {
        let node = change.node;
        if node == NO_NODE {
            return Err(ProposeError::InvalidConfChange("member id 0"));
        }
        match change.kind {
            ConfChangeKind::AddVoter if self.conf.is_voter(node) => {
                Err(ProposeError::InvalidConfChange("member is already a voter"))
            }
            ConfChangeKind::AddVoter if self.conf.is_learner(node) => Err(
                ProposeError::InvalidConfChange("member is a learner: promote it instead"),
            ),
            ConfChangeKind::AddLearner if self.conf.contains(node) => {
                Err(ProposeError::InvalidConfChange("member already exists"))
            }
            ConfChangeKind::Remove if !self.conf.contains(node) => {
                Err(ProposeError::InvalidConfChange("no such member"))
            }
            ConfChangeKind::Remove if self.conf.voters == [node] => Err(
                ProposeError::InvalidConfChange("cannot remove the last voter"),
            ),
            ConfChangeKind::PromoteLearner if !self.conf.is_learner(node) => {
                Err(ProposeError::InvalidConfChange("member is not a learner"))
            }
            ConfChangeKind::PromoteLearner => {
                let matched = self.progress.get(&node).map_or(0, |p| p.matched);
                let leader_last = self.log.last_index();
                if matched * 100 < leader_last * PROMOTION_READY_PERCENT {
                    return Err(ProposeError::LearnerNotReady);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Disaster recovery (etcd's `--force-new-cluster`), on a restarted node
    /// that has applied everything committed: drops the uncommitted tail and
    /// appends, as committed, the removal of every other member (and this
    /// node's addition as a voter if it is not one), so that it forms a
    /// cluster of one with the data it has. Returns how many changes it made.
    ///
    /// This deliberately breaks Raft's rules (a quorum never agreed to it):
    /// it is for when the quorum is gone for good.
    pub fn force_new_cluster(&mut self) -> usize {
        assert_eq!(
            self.log.applied, self.log.committed,
            "apply everything committed before forcing"
        );
        let commit = self.log.committed;
        if self.log.last_index() > commit {
            self.log.truncate_from(commit + 1);
        }
        let mut changes: Vec<ConfChange> = self
            .conf
            .members()
            .filter(|&id| id != self.id)
            .map(|node| ConfChange {
                kind: ConfChangeKind::Remove,
                node,
                context: bytes::Bytes::new(),
            })
            .collect();
        if !self.conf.is_voter(self.id) {
            changes.push(ConfChange {
                kind: ConfChangeKind::AddVoter,
                node: self.id,
                context: bytes::Bytes::new(),
            });
        }
        for change in &changes {
            let index = self.log.last_index() + 1;
            self.log.append([crate::raft::Entry {
                term: self.term,
                index,
                kind: EntryKind::ConfChange,
                data: change.encode(),
            }]);
        }
        let last = self.log.last_index();
        self.log.commit_to(last);
        self.mark_dirty();
        self.check_invariants();
        changes.len()
    }

    /// Applies a committed membership change. Tolerates changes that no longer
    /// make sense (they were valid when proposed), identically on every member.
    pub(crate) fn apply_conf_change(&mut self, change: &ConfChange) {
        let node = change.node;
        let conf = &mut self.conf;
        match change.kind {
            ConfChangeKind::AddVoter | ConfChangeKind::PromoteLearner => {
                remove_sorted(&mut conf.learners, node);
                insert_sorted(&mut conf.voters, node);
            }
            ConfChangeKind::AddLearner => {
                if !conf.is_voter(node) {
                    insert_sorted(&mut conf.learners, node);
                }
            }
            ConfChangeKind::Remove => {
                remove_sorted(&mut conf.voters, node);
                remove_sorted(&mut conf.learners, node);
            }
        }
        if self.role != Role::Leader {
            return;
        }
        match change.kind {
            ConfChangeKind::Remove if node == self.id => {
                // A leader that is no longer a member steps down; the others
                // elect a new leader among themselves.
                let term = self.term;
                self.become_follower(term, NO_NODE);
                return;
            }
            ConfChangeKind::Remove => {
                self.progress.remove(&node);
                if self.transfer_target == Some(node) {
                    self.transfer_target = None;
                }
            }
            _ => {
                let next = self.log.last_index() + 1;
                let max_inflight = self.config.max_inflight_messages;
                self.progress.entry(node).or_insert_with(|| {
                    let mut progress = Progress::new(next, max_inflight);
                    // Give the new member an election timeout before the leader
                    // counts it as silent.
                    progress.recent_active = true;
                    progress
                });
            }
        }
        // The quorum may have changed: a smaller one may commit more now.
        if self.maybe_commit() {
            self.broadcast_due = true;
        }
        self.broadcast_due = true;
    }
}

fn insert_sorted(list: &mut Vec<NodeId>, node: NodeId) {
    if let Err(position) = list.binary_search(&node) {
        list.insert(position, node);
    }
}

fn remove_sorted(list: &mut Vec<NodeId>, node: NodeId) {
    if let Ok(position) = list.binary_search(&node) {
        list.remove(position);
    }
}
