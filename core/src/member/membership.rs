//! Membership changes and leadership moves that clients ask for (etcd's
//! `Cluster` service and `Maintenance.MoveLeader`), decided by the leader.
//!
//! The leader takes one change at a time: a change waits in a queue until
//! the one before it is applied, is checked then against the applied roster
//! (so the check sees every earlier change), and is answered once its own
//! entry — the one at the index and term it was appended at — is applied.
//! The checks and their texts are etcd's:
//!
//! * an existing ID or peer URL is refused; at most one learner;
//! * with the strict reconfiguration check (`--strict-reconfig-check`, on by
//!   default), a change that would leave fewer started voters than a quorum
//!   is refused, and so is adding or removing a voter while the leader has
//!   not heard from enough voters lately;
//! * a learner is promoted only once its log holds 90% of the leader's.
//!
//! Removing the leader itself first hands leadership to the most up-to-date
//! voter it has heard from; the request is then answered "not leader" and
//! the server sends it on to the new leader, which removes the old one.
//!
//! A member that loses leadership answers a change it appended "leader
//! changed" (it may still commit; the client re-reads the member list) and
//! changes it had not appended yet "not leader" (the server forwards them).

use std::collections::VecDeque;

use bytes::Bytes;

use super::client::{ClientError, ClientResponse, ClientToken, MemberChange};
use super::node::Member;
use super::request::{MemberInfo, Op};
use crate::auth::Identity;
use crate::raft::{ConfChange, ConfChangeKind, NodeId, ProposeError, Proposed, Role, NO_NODE};
use crate::time::Instant;

/// etcd allows one learner at a time (`maxLearners`).
const MAX_LEARNERS: usize = 1;

/// What clients wait on.
#[derive(Debug, Default)]
pub(super) struct MembershipRequests {
    /// Changes not appended yet, in arrival order.
    queue: VecDeque<Queued>,
    /// The change appended and not applied yet.
    in_flight: Option<InFlight>,
    /// Leadership moves waiting for the target to lead.
    moves: Vec<WaitingMove>,
    /// An automatic promotion appended and not applied yet.
    auto_promotion: Option<(u64, u64)>,
}

#[derive(Debug)]
struct Queued {
    token: ClientToken,
    change: MemberChange,
    deadline: Instant,
}

#[derive(Debug)]
struct InFlight {
    token: ClientToken,
    index: u64,
    term: u64,
    deadline: Instant,
}

#[derive(Debug)]
struct WaitingMove {
    token: ClientToken,
    target: NodeId,
    deadline: Instant,
}

impl MembershipRequests {
    /// Whether a membership change waits on its entry (only ever on the
    /// leader that appended it).
    pub(super) fn has_change_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether changes are queued or under way.
    fn has_changes(&self) -> bool {
        !self.queue.is_empty() || self.in_flight.is_some() || self.auto_promotion.is_some()
    }
}

impl Member {
    /// A client asks for a membership change.
    pub(super) fn serve_member_change(&mut self, token: ClientToken, change: MemberChange) {
        if self.role.role != Role::Leader {
            self.respond(token, Err(self.not_leader_error()));
            return;
        }
        let deadline = self.now + self.config.request_timeout_ms;
        self.membership.queue.push_back(Queued {
            token,
            change,
            deadline,
        });
        self.next_member_change();
    }

    /// A client asks for leadership to move to `target`.
    pub(super) fn serve_move_leader(&mut self, token: ClientToken, target: NodeId) {
        if self.role.role != Role::Leader {
            self.respond(token, Err(self.not_leader_error()));
            return;
        }
        if !self.raft.conf_state().is_voter(target) {
            self.respond(token, Err(ClientError::BadLeaderTransferee));
            return;
        }
        if target == self.id() {
            self.respond(token, Ok(ClientResponse::LeaderMoved));
            return;
        }
        match self.raft.transfer_leader(target) {
            Ok(()) => self.membership.moves.push(WaitingMove {
                token,
                target,
                deadline: self.now + self.config.request_timeout_ms,
            }),
            Err(crate::raft::TransferError::NotVoter(_)) => {
                self.respond(token, Err(ClientError::BadLeaderTransferee))
            }
            Err(crate::raft::TransferError::NoLeader) => {
                self.respond(token, Err(ClientError::NoLeader))
            }
        }
    }

    /// "not leader" while a leader is known (the server forwards there),
    /// "no leader" during an election.
    fn not_leader_error(&self) -> ClientError {
        if self.raft.leader() == NO_NODE {
            ClientError::NoLeader
        } else {
            ClientError::NotLeader
        }
    }

    /// Appends the next queued change once the one before it is applied.
    fn next_member_change(&mut self) {
        while self.membership.in_flight.is_none()
            && self.membership.auto_promotion.is_none()
            && self.role.role == Role::Leader
        {
            let Some(queued) = self.membership.queue.pop_front() else {
                return;
            };
            if let MemberChange::Remove { id } = queued.change {
                if id == self.id() && self.raft.conf_state().contains(id) {
                    // Hand leadership over first; answered "not leader" when
                    // it has moved, and forwarded to the new leader.
                    match self.transfer_target_for_removal() {
                        Some(target) => {
                            let _ = self.raft.transfer_leader(target);
                            self.membership.queue.push_front(queued);
                            return;
                        }
                        None => {
                            self.respond(queued.token, Err(ClientError::NotEnoughStarted));
                            continue;
                        }
                    }
                }
            }
            match self.append_member_change(&queued.change) {
                Ok((index, term)) => {
                    self.membership.in_flight = Some(InFlight {
                        token: queued.token,
                        index,
                        term,
                        deadline: queued.deadline,
                    });
                }
                Err(error) => self.respond(queued.token, Err(error)),
            }
        }
    }

    /// Checks `change` against the applied roster and appends its entry.
    fn append_member_change(&mut self, change: &MemberChange) -> Result<(u64, u64), ClientError> {
        self.check_member_change(change)?;
        let conf_change = |kind, node, info: &MemberInfo| ConfChange {
            kind,
            node,
            context: super::payload::encode_member_info(info),
        };
        let proposed = match change {
            MemberChange::Add {
                id,
                peer_urls,
                learner,
            } => {
                let kind = if *learner {
                    ConfChangeKind::AddLearner
                } else {
                    ConfChangeKind::AddVoter
                };
                let info = MemberInfo {
                    name: String::new(),
                    peer_urls: peer_urls.clone(),
                    client_urls: Vec::new(),
                };
                self.raft
                    .propose_conf_change(conf_change(kind, *id, &info))
                    .map(|index| (index, self.raft.term()))
            }
            MemberChange::Remove { id } => self
                .raft
                .propose_conf_change(conf_change(
                    ConfChangeKind::Remove,
                    *id,
                    &MemberInfo::default(),
                ))
                .map(|index| (index, self.raft.term())),
            MemberChange::Promote { id } => {
                let info = self.state.roster.get(id).cloned().unwrap_or_default();
                self.raft
                    .propose_conf_change(conf_change(ConfChangeKind::PromoteLearner, *id, &info))
                    .map(|index| (index, self.raft.term()))
            }
            MemberChange::Update { id, peer_urls } => {
                let op = Op::UpdateMember {
                    member: *id,
                    peer_urls: peer_urls.clone(),
                };
                let (_, data): (u64, Bytes) = self.encode_own(Identity::System, op);
                match self.raft.propose(data) {
                    Ok(Proposed::Appended { index, term }) => Ok((index, term)),
                    Ok(Proposed::Forwarded { .. }) => Err(ProposeError::NotLeader { leader: None }),
                    Err(error) => Err(error),
                }
            }
        };
        proposed.map_err(|error| match error {
            ProposeError::LearnerNotReady => ClientError::LearnerNotReady,
            ProposeError::InvalidConfChange(_) => ClientError::MemberNotFound,
            ProposeError::NoLeader => ClientError::NoLeader,
            ProposeError::NotLeader { .. } => ClientError::NotLeader,
            ProposeError::TransferInProgress | ProposeError::ConfChangePending => {
                ClientError::LeaderChanged
            }
        })
    }

    /// etcd's membership checks, against the applied roster and Raft's
    /// configuration (up to date: one change at a time).
    fn check_member_change(&self, change: &MemberChange) -> Result<(), ClientError> {
        let conf = self.raft.conf_state();
        let strict = self.config.strict_reconfig_check;
        match change {
            MemberChange::Add {
                id,
                peer_urls,
                learner,
            } => {
                // etcd's mayAddMember comes first (before the request is
                // proposed), and its connectivity check holds for learners
                // too.
                if strict {
                    if !learner {
                        self.ready_to_add_voter()?;
                    }
                    if !self.connected_to_all_voters() {
                        return Err(ClientError::Unhealthy);
                    }
                }
                // etcd's ErrIDRemoved, which it sends as "member not found".
                if self.state.removed.contains(id) {
                    return Err(ClientError::MemberNotFound);
                }
                if conf.contains(*id) || self.state.roster.contains_key(id) {
                    return Err(ClientError::MemberExists);
                }
                if self.peer_url_taken(peer_urls, None) {
                    return Err(ClientError::PeerUrlExists);
                }
                if *learner && conf.learners.len() >= MAX_LEARNERS {
                    return Err(ClientError::TooManyLearners);
                }
                Ok(())
            }
            MemberChange::Remove { id } => {
                if !conf.contains(*id) {
                    return Err(ClientError::MemberNotFound);
                }
                if strict && conf.is_voter(*id) {
                    self.ready_to_remove_voter(*id)?;
                    let down = *id != self.id() && !self.recently_active(*id);
                    if !down {
                        // Removing a live voter must leave a live quorum.
                        let voters = conf.voters.len();
                        let active = conf
                            .voters
                            .iter()
                            .filter(|&&v| self.recently_active(v))
                            .count();
                        if active.saturating_sub(1) < 1 + (voters - 1) / 2 {
                            return Err(ClientError::Unhealthy);
                        }
                    }
                }
                Ok(())
            }
            MemberChange::Update { id, peer_urls } => {
                if !conf.contains(*id) {
                    return Err(ClientError::MemberNotFound);
                }
                if self.peer_url_taken(peer_urls, Some(*id)) {
                    return Err(ClientError::PeerUrlExists);
                }
                Ok(())
            }
            MemberChange::Promote { id } => {
                if !conf.contains(*id) {
                    return Err(ClientError::MemberNotFound);
                }
                if !conf.is_learner(*id) {
                    return Err(ClientError::MemberNotLearner);
                }
                if strict {
                    // The learner counts as started and as a future voter.
                    let started = 1 + self.started_voters(None);
                    let members = 1 + conf.voters.len();
                    if started < members / 2 + 1 {
                        return Err(ClientError::NotEnoughStarted);
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether another member (not `except`) already has one of `urls`.
    fn peer_url_taken(&self, urls: &[String], except: Option<NodeId>) -> bool {
        self.state
            .roster
            .iter()
            .filter(|(id, _)| Some(**id) != except)
            .any(|(_, info)| info.peer_urls.iter().any(|url| urls.contains(url)))
    }

    /// Voters (other than `except`) that have published their attributes:
    /// etcd's "started" members.
    fn started_voters(&self, except: Option<NodeId>) -> usize {
        self.raft
            .conf_state()
            .voters
            .iter()
            .filter(|&&id| Some(id) != except)
            .filter(|id| {
                self.state
                    .roster
                    .get(id)
                    .is_some_and(|m| !m.name.is_empty())
            })
            .count()
    }

    /// etcd's `IsReadyToAddVotingMember`.
    fn ready_to_add_voter(&self) -> Result<(), ClientError> {
        let members = 1 + self.raft.conf_state().voters.len();
        let started = self.started_voters(None);
        // Adding a second member to a cluster of one is how a restored
        // cluster grows again.
        if started == 1 && members == 2 {
            return Ok(());
        }
        if started < members / 2 + 1 {
            return Err(ClientError::NotEnoughStarted);
        }
        Ok(())
    }

    /// etcd's `IsReadyToRemoveVotingMember`.
    fn ready_to_remove_voter(&self, id: NodeId) -> Result<(), ClientError> {
        let members = self.raft.conf_state().voters.len() - 1;
        let started = self.started_voters(Some(id));
        if started < members / 2 + 1 {
            return Err(ClientError::NotEnoughStarted);
        }
        Ok(())
    }

    /// Whether the leader heard from `id` within the last election timeout
    /// (itself always).
    fn recently_active(&self, id: NodeId) -> bool {
        id == self.id()
            || self
                .raft
                .progress(id)
                .is_some_and(|progress| progress.is_recently_active())
    }

    fn connected_to_all_voters(&self) -> bool {
        self.raft
            .conf_state()
            .voters
            .iter()
            .all(|&id| self.recently_active(id))
    }

    /// The voter to hand leadership to before the leader removes itself:
    /// the most up-to-date one heard from lately.
    fn transfer_target_for_removal(&self) -> Option<NodeId> {
        let own = self.id();
        self.raft
            .conf_state()
            .voters
            .iter()
            .copied()
            .filter(|&id| id != own && self.recently_active(id))
            .max_by_key(|&id| (self.raft.progress(id).map_or(0, |p| p.matched), id))
    }

    /// Called after every applied entry: answers the change in flight when
    /// its own entry is applied, and appends the next.
    pub(super) fn membership_entry_applied(&mut self, index: u64, term: u64) {
        if self
            .membership
            .auto_promotion
            .is_some_and(|(promoted_at, _)| index >= promoted_at)
        {
            self.membership.auto_promotion = None;
            self.next_member_change();
        }
        let Some(in_flight) = &self.membership.in_flight else {
            return;
        };
        if index < in_flight.index {
            return;
        }
        let in_flight = self.membership.in_flight.take().expect("checked above");
        if index == in_flight.index && term == in_flight.term {
            let members = self.member_list();
            self.respond(in_flight.token, Ok(ClientResponse::MemberChanged(members)));
        } else {
            // Another entry took its place: it was lost with a leader change.
            self.respond(in_flight.token, Err(ClientError::LeaderChanged));
        }
        self.next_member_change();
    }

    /// This member stopped leading.
    pub(super) fn membership_leadership_lost(&mut self) {
        self.membership.auto_promotion = None;
        if let Some(in_flight) = self.membership.in_flight.take() {
            self.respond(in_flight.token, Err(ClientError::LeaderChanged));
        }
        // Changes not appended yet are sent on to the new leader by the
        // server: answered "not leader" once one is known.
        if self.raft.leader() != NO_NODE {
            self.answer_queued_not_leader();
        }
    }

    fn answer_queued_not_leader(&mut self) {
        for queued in std::mem::take(&mut self.membership.queue) {
            self.respond(queued.token, Err(ClientError::NotLeader));
        }
    }

    /// Leadership is at `leader` now: answers the moves that asked for it.
    pub(super) fn leadership_moved(&mut self, leader: NodeId) {
        if leader == NO_NODE {
            return;
        }
        if leader != self.id() {
            self.answer_queued_not_leader();
        }
        let (done, waiting): (Vec<WaitingMove>, Vec<WaitingMove>) =
            std::mem::take(&mut self.membership.moves)
                .into_iter()
                .partition(|waiting| waiting.target == leader);
        self.membership.moves = waiting;
        for waiting in done {
            self.respond(waiting.token, Ok(ClientResponse::LeaderMoved));
        }
        if leader != self.id() {
            // Leadership went elsewhere than asked.
            for waiting in std::mem::take(&mut self.membership.moves) {
                self.respond(waiting.token, Err(ClientError::LeaderChanged));
            }
        }
    }

    /// With `auto_promote_learners`, the leader promotes the first learner
    /// (by ID) that passes etcd's promotion checks, when no other change is
    /// under way. Nobody waits on the answer; a refusal is tried again.
    pub(super) fn maybe_auto_promote(&mut self) {
        if !self.config.auto_promote_learners
            || self.role.role != Role::Leader
            || self.membership.has_changes()
        {
            return;
        }
        let learners = self.raft.conf_state().learners.clone();
        for id in learners {
            let change = MemberChange::Promote { id };
            if !self.recently_active(id) || self.check_member_change(&change).is_err() {
                continue;
            }
            if let Ok((index, term)) = self.append_member_change(&change) {
                self.membership.auto_promotion = Some((index, term));
                return;
            }
        }
    }

    /// Answers what waited past its deadline.
    pub(super) fn expire_membership_requests(&mut self) {
        let now = self.now;
        if self
            .membership
            .in_flight
            .as_ref()
            .is_some_and(|f| f.deadline <= now)
        {
            let in_flight = self.membership.in_flight.take().expect("checked");
            self.respond(in_flight.token, Err(ClientError::Timeout));
            self.next_member_change();
        }
        let (expired, kept): (Vec<Queued>, Vec<Queued>) =
            std::mem::take(&mut self.membership.queue)
                .into_iter()
                .partition(|queued| queued.deadline <= now);
        self.membership.queue = kept.into();
        for queued in expired {
            self.respond(queued.token, Err(ClientError::Timeout));
        }
        let (expired, kept): (Vec<WaitingMove>, Vec<WaitingMove>) =
            std::mem::take(&mut self.membership.moves)
                .into_iter()
                .partition(|waiting| waiting.deadline <= now);
        self.membership.moves = kept;
        for waiting in expired {
            self.respond(waiting.token, Err(ClientError::LeaderTransferTimeout));
        }
        // A removal of the leader waits for its transfer.
        if self.role.role == Role::Leader && !self.membership.queue.is_empty() {
            self.next_member_change();
        }
    }
}
