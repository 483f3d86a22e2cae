//! [`Member`]: Raft, the state machine and the WAL as one deterministic machine.

use std::collections::VecDeque;

use bytes::Bytes;

use super::action::{Action, MemberEvent};
use super::authz::{self, Authz};
use super::client::{
    ClientError, ClientRequest, ClientResponse, ClientToken, Header, MemberStatus, StatusInfo,
};
use super::config::MemberConfig;
use super::persistence::{Persistence, SnapshotWrite};
use super::request::{Op, Proposal};
use super::requests::Requests;
use super::state::AppliedState;
use crate::auth::{AuthStore, Caller, Identity};
use crate::lease::{LeaseIdGenerator, LEASE_REVOKE_RATE_PER_SEC};
use crate::mvcc::{Store, StoreConfig};
use crate::raft::{
    ConfChange, ConfChangeKind, Entry, EntryKind, Message, MessageBody, NodeId, RawNode, Ready,
    Role, RoleState, NO_NODE,
};
use crate::snapshot::{self};
use crate::time::Instant;
use crate::watch::WatchHub;

/// One member of a cairn cluster.
///
/// Inputs are the `handle_*` methods; outputs are drained with
/// [`poll_action`](Self::poll_action) after every input. Everything is
/// deterministic: the same inputs give the same actions.
///
/// Durability: a client's write is answered only after its entry is committed
/// (durable on a majority) and applied here; a message that promises something
/// about this member's disk is sent only after the WAL write it depends on is
/// reported durable; the WAL is group-committed: while one write is in flight,
/// everything that arrives joins the next one.
#[derive(Debug)]
pub struct Member {
    pub(super) config: MemberConfig,
    pub(super) raft: RawNode,
    /// The replicated state: store, leases, auth, roster, alarms.
    pub(super) state: AppliedState,
    /// The WAL, messages held until durable, snapshot files.
    pub(super) disk: Persistence,
    /// Requests taken and not answered yet.
    pub(super) requests: Requests,
    pub(super) actions: VecDeque<Action>,
    pub(super) now: Instant,
    /// The previous tick: a gap longer than an election timeout means this
    /// member was stalled (a paused process, a starved thread).
    pub(super) last_tick: Instant,
    /// Set once this member's attributes are applied (etcd's "published").
    pub(super) published: bool,
    pub(super) publish_retry_at: Instant,
    pub(super) role: RoleState,
    /// Not before this instant is the NOSPACE alarm proposed again.
    pub(super) nospace_retry_at: Instant,
    /// Chooses ids for grants that leave it to the member.
    pub(super) lease_ids: LeaseIdGenerator,
    /// Every watcher of every client stream.
    pub(super) watch: WatchHub,
    /// When watchers with progress_notify next get a progress response.
    pub(super) progress_notify_at: Instant,
    /// Membership changes and leadership moves clients wait on.
    pub(super) membership: super::membership::MembershipRequests,
    /// What `/metrics` shows of this member.
    pub(super) counters: super::counters::Counters,
    /// v2 watches waiting, and the leader's expiry pace.
    pub(super) v2: super::v2::V2Member,
}

impl Member {
    // ----- getters -----

    pub fn id(&self) -> NodeId {
        self.config.id()
    }

    pub fn role(&self) -> RoleState {
        self.role
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn applied_index(&self) -> u64 {
        self.raft.applied()
    }

    pub fn is_published(&self) -> bool {
        self.published
    }

    /// When [`handle_tick`](Self::handle_tick) next has work to do.
    pub fn next_deadline(&self) -> Instant {
        self.raft.next_deadline()
    }

    pub(super) fn header(&self) -> Header {
        Header {
            cluster_id: self.config.cluster_id,
            member_id: self.id(),
            revision: self.state.store.current_revision(),
            raft_term: self.raft.term(),
        }
    }

    // ----- inputs -----

    /// Time passed.
    pub fn handle_tick(&mut self, now: Instant) {
        self.now = now;
        if now.as_millis().saturating_sub(self.last_tick.as_millis()) > self.election_timeout_ms() {
            // Stalled: keep-alives may be waiting behind this tick. Give
            // every lease a new leader's grace before judging any.
            self.extend_leases_if_leader();
        }
        self.last_tick = now;
        self.raft.tick(now);
        self.revoke_expired_leases();
        self.tick_watchers();
        self.tick_v2();
        self.expire_requests();
        self.maybe_publish();
        self.drive();
    }

    /// A message from a peer; `snapshot` carries the bytes that came with a
    /// snapshot message.
    pub fn handle_message(&mut self, now: Instant, message: Message, snapshot: Option<Bytes>) {
        self.now = now;
        if let MessageBody::Snapshot { meta } = &message.body {
            // Raft may install the snapshot at once: make sure its bytes are
            // here and sound first, or refuse the message (the leader retries).
            let Some(bytes) = snapshot else {
                self.raft.report_unreachable(message.from);
                return;
            };
            let store_config = StoreConfig {
                max_txn_ops: self.config.max_txn_ops,
            };
            match snapshot::decode(&bytes, store_config) {
                Ok(image) if image.meta.index == meta.index && image.meta.term == meta.term => {
                    // Keep only the newest: an older one can never be installed.
                    self.disk
                        .received_snapshots
                        .retain(|&index, _| index > meta.index);
                    self.disk
                        .received_snapshots
                        .insert(meta.index, (bytes, image));
                }
                Ok(_) => {
                    self.actions
                        .push_back(Action::Event(MemberEvent::SnapshotRefused {
                            index: meta.index,
                            reason: "its contents are of another index or term".to_string(),
                        }));
                    return;
                }
                Err(error) => {
                    self.actions
                        .push_back(Action::Event(MemberEvent::SnapshotRefused {
                            index: meta.index,
                            reason: error.to_string(),
                        }));
                    return;
                }
            }
        }
        self.raft.handle_message(message);
        self.drive();
    }

    /// A client request from `caller`.
    pub fn handle_client(
        &mut self,
        now: Instant,
        token: ClientToken,
        caller: &Caller,
        request: ClientRequest,
    ) {
        if now >= self.raft.next_deadline() {
            // A tick is overdue (the process stalled, or the runtime took
            // other inputs first): take it before answering. A leader deposed
            // meanwhile then learns so from check-quorum and answers nothing
            // as leader of its old term: keep-alives lean on it stepping down
            // in time (`leases.rs`; simulator seed 5413).
            self.handle_tick(now);
        }
        self.now = now;
        self.counters.request_taken(token, &request, now);
        let checked = if authz::unchecked(&request) {
            Ok(Identity::Anonymous)
        } else {
            self.state.auth.identify(caller, now).and_then(|who| {
                self.authz(&who).request(&request)?;
                Ok(who)
            })
        };
        match checked {
            Ok(who) => self.serve_client(token, who, request),
            Err(error) => self.respond(token, Err(error.into())),
        }
        self.drive();
    }

    pub(super) fn authz<'a>(&'a self, who: &'a Identity) -> Authz<'a> {
        self.state.authz(who)
    }

    /// The auth state (read-only).
    pub fn auth(&self) -> &AuthStore {
        &self.state.auth
    }

    /// WAL write `token` is durable.
    pub fn handle_wal_written(&mut self, now: Instant, token: u64) {
        self.now = now;
        let was_stuck = self.wal_stuck();
        let completed = self.disk.completed(token);
        if was_stuck {
            self.extend_leases_if_leader();
        }
        if let Some(write) = completed.write {
            self.raft.handle_persisted(write);
        }
        for message in completed.released {
            self.send(message);
        }
        if let Some(action) = completed.after {
            self.actions.push_back(action);
        }
        self.drive();
    }

    /// Snapshot file `name` is durable.
    pub fn handle_snapshot_saved(&mut self, now: Instant, name: String) {
        self.now = now;
        self.disk.snapshot_files.push(name);
        match self.disk.snapshot_write.take() {
            Some(SnapshotWrite::Own(meta)) => self.own_snapshot_saved(meta),
            Some(SnapshotWrite::Received) | None => self.drive(),
        }
    }

    /// The snapshot sent to `to` arrived (`ok`) or failed.
    pub fn handle_snapshot_sent(&mut self, now: Instant, to: NodeId, ok: bool) {
        self.now = now;
        self.raft.report_snapshot(to, ok);
        self.drive();
    }

    /// The transport cannot reach `to`.
    pub fn handle_unreachable(&mut self, now: Instant, to: NodeId) {
        self.now = now;
        self.raft.report_unreachable(to);
        self.drive();
    }

    /// The next action, if any. Call until `None` after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    // ----- requests -----

    pub(super) fn respond(
        &mut self,
        token: ClientToken,
        mut result: Result<ClientResponse, ClientError>,
    ) {
        self.counters.request_answered(token, self.now);
        if let Ok(ClientResponse::V2(answer)) = &mut result {
            answer.raft_index = self.raft.applied();
            answer.store_index = self.state.v2.index();
        }
        let header = self.header();
        self.actions.push_back(Action::Respond {
            token,
            header,
            result,
        });
    }

    /// The leader proposes revoking leases whose TTL ran out, at etcd's rate
    /// limit. A revocation takes effect only once a quorum commits it, so a
    /// leader cut off from its quorum revokes nothing.
    ///
    /// A leader whose WAL write has been stuck for longer than an election
    /// timeout revokes nothing (etcd once revoked every lease when its leader
    /// was stuck in fsync); once the write completes, leases get a new
    /// leader's grace.
    pub(super) fn revoke_expired_leases(&mut self) {
        if self.role.role != Role::Leader || self.wal_stuck() {
            return;
        }
        let per_tick =
            (LEASE_REVOKE_RATE_PER_SEC as u64 * self.config.raft.tick_interval_ms / 1000).max(1);
        for id in self.state.lessor.expired(self.now, per_tick as usize) {
            // Retried by the lessor if this proposal is lost.
            self.propose_internal(Op::LeaseRevoke { id });
        }
    }

    pub(super) fn expire_requests(&mut self) {
        self.expire_membership_requests();
        self.maybe_auto_promote();
        self.serve_waiting_lease_queries();
        let pending = self.requests.proposals_pending();
        for token in self.requests.expired(self.now) {
            self.respond(token, Err(ClientError::Timeout));
        }
        // Proposals that time out have failed (etcd counts them so).
        self.counters
            .proposals_failed(pending - self.requests.proposals_pending());
    }

    /// Once a leader exists, announce this member's name and client URLs
    /// through the log (retrying until applied), as etcd does at start.
    pub(super) fn maybe_publish(&mut self) {
        if self.published || self.raft.leader() == NO_NODE || self.now < self.publish_retry_at {
            return;
        }
        if !self.raft.conf_state().contains(self.id()) {
            return;
        }
        self.publish_retry_at = self.now + self.config.request_timeout_ms;
        let op = Op::PublishAttributes {
            member: self.id(),
            name: self.config.name.clone(),
            client_urls: self.config.client_urls.clone(),
        };
        self.propose_internal(op);
    }

    /// The members of the cluster as this member has applied them.
    pub fn members(&self) -> Vec<MemberStatus> {
        self.member_list()
    }

    /// Members removed from the cluster (never to be let back).
    pub fn removed_members(&self) -> Vec<NodeId> {
        self.state.removed.iter().copied().collect()
    }

    pub(super) fn member_list(&self) -> Vec<MemberStatus> {
        self.state.member_list(self.raft.conf_state())
    }

    pub(super) fn status(&self) -> StatusInfo {
        let size = self.state.size_bytes as i64;
        StatusInfo {
            leader: self.raft.leader(),
            raft_index: self.raft.last_index(),
            raft_term: self.raft.term(),
            raft_applied_index: self.raft.applied(),
            db_size: size,
            db_size_in_use: size,
            is_learner: self.raft.conf_state().is_learner(self.id()),
            alarms: self.state.alarms.iter().copied().collect(),
        }
    }

    // ----- the Raft loop -----

    /// Steps Raft's readies until it has nothing more to say, then starts the
    /// next WAL write if none is in flight.
    pub(super) fn drive(&mut self) {
        while let Some(ready) = self.raft.poll_ready() {
            self.handle_ready(ready);
        }
        // Announce this member as soon as a leader is known, not a tick later.
        if !self.published && self.raft.leader() != NO_NODE && self.now >= self.publish_retry_at {
            self.maybe_publish();
            while let Some(ready) = self.raft.poll_ready() {
                self.handle_ready(ready);
            }
        }
        self.maybe_snapshot();
        self.flush_wal();
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
    }

    /// What must hold after every input (checked in debug builds, so in
    /// every simulated step and every test).
    pub(super) fn check_invariants(&self) {
        let applied = self.raft.applied();
        assert!(
            applied <= self.raft.committed(),
            "applied {applied} beyond committed {}",
            self.raft.committed()
        );
        assert!(
            self.disk.last_snapshot_index <= applied,
            "a snapshot at {} beyond applied {applied}",
            self.disk.last_snapshot_index
        );
        assert!(
            !self.state.lessor.is_primary() || self.role.role == Role::Leader,
            "a primary lessor on a {:?}",
            self.role.role
        );
        assert!(
            self.role.role == Role::Leader || self.requests.lease_queries.is_empty(),
            "lease queries wait on a member that is not leader"
        );
        assert!(
            self.role.role == Role::Leader || !self.membership.has_change_in_flight(),
            "a membership change waits on a member that is not leader"
        );
        self.disk.check_invariants();
    }

    pub(super) fn handle_ready(&mut self, ready: Ready) {
        if let Some(role) = ready.role {
            self.on_role_change(role);
        }
        if let Some(write) = ready.write {
            if let Some(meta) = &write.snapshot {
                self.install_snapshot(meta);
            }
            if let Some(durable) = self.disk.push_write(&write) {
                self.raft.handle_persisted(durable);
            }
        }
        for outgoing in ready.messages {
            if let Some(message) = self.disk.route(outgoing.after, outgoing.message) {
                self.send(message);
            }
        }
        for entry in &ready.committed_entries {
            self.apply(entry);
        }
        for read in ready.read_states {
            if let Some(waiting) = self.requests.read_index_known(read.id) {
                if read.index <= self.raft.applied() {
                    self.serve_read(waiting);
                } else {
                    self.requests.wait_for_index(read.index, waiting);
                }
            }
        }
        for id in ready.failed_reads {
            if let Some(waiting) = self.requests.read_index_known(id) {
                self.respond(waiting.token, Err(ClientError::LeaderChanged));
            }
        }
        for read in self.requests.reads_ready(self.raft.applied()) {
            self.serve_read(read);
        }
        self.serve_waiting_lease_queries();
    }

    pub(super) fn send(&mut self, message: Message) {
        if let MessageBody::Snapshot { meta } = &message.body {
            let name = snapshot::snapshot_name(meta.term, meta.index);
            self.actions.push_back(Action::SendSnapshot {
                message,
                snapshot: name,
            });
        } else {
            self.actions.push_back(Action::Send(message));
        }
    }

    pub(super) fn election_timeout_ms(&self) -> u64 {
        self.config.raft.tick_interval_ms * self.config.raft.election_ticks as u64
    }

    /// Whether the WAL write in flight has taken longer than an election
    /// timeout.
    pub(super) fn wal_stuck(&self) -> bool {
        self.disk.stuck(self.now, self.election_timeout_ms())
    }

    /// As a new leader does: every lease's TTL starts over, plus an election
    /// timeout (except leases whose revocation is already proposed).
    pub(super) fn extend_leases_if_leader(&mut self) {
        if self.role.role == Role::Leader && self.state.lessor.is_primary() {
            self.state
                .lessor
                .promote(self.now, self.election_timeout_ms());
        }
    }

    pub(super) fn on_role_change(&mut self, role: RoleState) {
        let was_leader = self.role.role == Role::Leader;
        self.counters.leader_known(role.leader);
        self.role = role;
        // A new leader's lessor is promoted once it has applied an entry of
        // its own term (`leases.rs`), not here.
        if was_leader && role.role != Role::Leader {
            self.state.lessor.demote();
            self.membership_leadership_lost();
        }
        self.leadership_moved(role.leader);
        self.actions
            .push_back(Action::Event(MemberEvent::RoleChanged(role)));
    }

    /// Hands the collected batch to the runtime if no write is in flight
    /// (group commit: whatever arrives meanwhile shares the next write).
    pub(super) fn flush_wal(&mut self) {
        if let Some(action) = self.disk.flush(self.now) {
            self.actions.push_back(action);
        }
    }

    // ----- applying -----

    pub(super) fn apply(&mut self, entry: &Entry) {
        self.promote_lessor_if_caught_up(entry);
        match entry.kind {
            EntryKind::ConfChange => self.apply_conf_change(entry),
            EntryKind::Normal if entry.data.is_empty() => {}
            EntryKind::Normal => match super::payload::decode_proposal(&entry.data) {
                Ok(proposal) => self.apply_proposal(proposal),
                Err(error) => {
                    self.actions
                        .push_back(Action::Event(MemberEvent::UndecodableEntry {
                            index: entry.index,
                            reason: error.to_string(),
                        }))
                }
            },
        }
        self.membership_entry_applied(entry.index, entry.term);
    }

    pub(super) fn apply_proposal(&mut self, proposal: Proposal) {
        let (origin, seq) = (proposal.origin, proposal.seq);
        let applying = super::counters::Applying::of(&proposal.op);
        let applied = self.state.apply(proposal, self.now);
        let ran = applying.ran(applied.result.as_ref(), &applied.events);
        self.counters.count(ran);
        self.written(&applied.events);
        self.v2_applied(&applied.v2_events);
        if let Some((member, name, client_urls)) = applied.published {
            if member != self.id() {
                self.actions
                    .push_back(Action::Event(MemberEvent::MemberAttributes { id: member }));
            }
            // Only this incarnation's announcement counts: a restarted
            // member replays its earlier ones from the log.
            if member == self.id()
                && origin == self.id()
                && seq >= self.config.first_seq
                && !self.published
            {
                self.published = true;
                self.actions
                    .push_back(Action::Event(MemberEvent::Published {
                        name,
                        client_urls,
                        cluster_id: self.config.cluster_id,
                    }));
            }
        }
        if let Some((id, peer_urls)) = applied.updated {
            self.actions
                .push_back(Action::Event(MemberEvent::MemberUpdated { id, peer_urls }));
        }
        if let Some(result) = applied.result {
            self.answer(origin, seq, result);
        }
    }

    /// Answers the client of this member's proposal `seq`, if it waits.
    pub(super) fn answer(
        &mut self,
        origin: NodeId,
        seq: u64,
        result: Result<ClientResponse, ClientError>,
    ) {
        if origin == self.id() {
            if let Some(token) = self.requests.applied(seq) {
                self.respond(token, result);
            }
        }
    }

    pub(super) fn apply_conf_change(&mut self, entry: &Entry) {
        let Ok(change) = ConfChange::decode(&entry.data) else {
            self.actions
                .push_back(Action::Event(MemberEvent::UndecodableEntry {
                    index: entry.index,
                    reason: "membership change".to_string(),
                }));
            return;
        };
        let info = super::payload::decode_member_info(&change.context).unwrap_or_default();
        let event = match change.kind {
            ConfChangeKind::AddVoter | ConfChangeKind::AddLearner => MemberEvent::MemberAdded {
                id: change.node,
                peer_urls: info.peer_urls.clone(),
                learner: change.kind == ConfChangeKind::AddLearner,
            },
            ConfChangeKind::Remove => MemberEvent::MemberRemoved { id: change.node },
            ConfChangeKind::PromoteLearner => MemberEvent::MemberPromoted { id: change.node },
        };
        self.state.apply_conf_change(&change, info);
        self.actions.push_back(Action::Event(event));
        if change.kind == ConfChangeKind::Remove && change.node == self.id() {
            self.actions
                .push_back(Action::Event(MemberEvent::RemovedFromCluster));
        }
    }
}
