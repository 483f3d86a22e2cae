//! [`Member`]: Raft, the state machine and the WAL as one deterministic machine.

use std::collections::VecDeque;

use bytes::Bytes;

use super::action::{Action, MemberEvent};
use super::authz::{self, Authz};
use super::client::{AlarmAction, AuthRequest};
use super::client::{
    ClientError, ClientRequest, ClientResponse, ClientToken, Header, MemberStatus, StatusInfo,
};
use super::config::MemberConfig;
use super::leases::LeaseQuery;
use super::persistence::{Persistence, SnapshotWrite};
use super::request::{AlarmKind, MemberInfo, Op, Proposal};
use super::requests::{ReadRequest, Requests, WaitingRead};
use super::state::AppliedState;
use crate::auth::{AuthStore, Caller, Identity};
use crate::codec;
use crate::lease::{
    LeaseError, LeaseIdGenerator, LessorConfig, LEASE_REVOKE_RATE_PER_SEC, MAX_LEASE_TTL_SECS,
};
use crate::mvcc::{Store, StoreConfig};
use crate::raft::{
    ConfChange, ConfChangeKind, Entry, EntryKind, Message, MessageBody, NodeId, RawNode, Ready,
    Role, RoleState, SnapshotMeta, NO_NODE,
};
use crate::snapshot::{self};
use crate::time::Instant;
use crate::wal::{SnapshotMarker, WalWriter};
use crate::watch::{CreateRequest, WatchHub, WatchResponse};

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
    config: MemberConfig,
    pub(super) raft: RawNode,
    /// The replicated state: store, leases, auth, roster, alarms.
    pub(super) state: AppliedState,
    /// The WAL, messages held until durable, snapshot files.
    disk: Persistence,
    /// Requests taken and not answered yet.
    pub(super) requests: Requests,
    actions: VecDeque<Action>,
    pub(super) now: Instant,
    /// The previous tick: a gap longer than an election timeout means this
    /// member was stalled (a paused process, a starved thread).
    last_tick: Instant,
    /// Set once this member's attributes are applied (etcd's "published").
    published: bool,
    publish_retry_at: Instant,
    pub(super) role: RoleState,
    /// Not before this instant is the NOSPACE alarm proposed again.
    nospace_retry_at: Instant,
    /// Chooses ids for grants that leave it to the member.
    lease_ids: LeaseIdGenerator,
    /// Every watcher of every client stream.
    watch: WatchHub,
    /// When watchers with progress_notify next get a progress response.
    progress_notify_at: Instant,
}

/// Why a member cannot start from what is on disk.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("raft: {0}")]
    Raft(#[from] crate::raft::RestoreError),
    #[error("{0}")]
    Wal(#[from] crate::wal::WalError),
    #[error("snapshot: {0}")]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error("the data directory belongs to member {found_member:x} of cluster {found_cluster:x}, not to member {member:x} of cluster {cluster:x}")]
    WrongCluster {
        found_cluster: u64,
        found_member: NodeId,
        cluster: u64,
        member: NodeId,
    },
    #[error("the WAL starts after snapshot {wal_index} but the newest usable snapshot is at {snapshot_index}")]
    SnapshotMissing { wal_index: u64, snapshot_index: u64 },
}

impl Member {
    /// A member of a brand-new cluster: `initial` lists every initial member
    /// (id and who it is). Emits the actions that create the WAL.
    pub fn bootstrap(
        config: MemberConfig,
        initial: &[(NodeId, MemberInfo)],
        now: Instant,
    ) -> Result<Member, StartError> {
        let metadata = crate::wal::Metadata {
            cluster_id: config.cluster_id,
            member_id: config.id(),
        };
        let (wal, segment) = WalWriter::create(metadata, SnapshotMarker::default());
        let contexts: Vec<(NodeId, Bytes)> = initial
            .iter()
            .map(|(id, info)| (*id, codec::encode_member_info(info)))
            .collect();
        let raft = RawNode::bootstrap(config.raft.clone(), &contexts, now)?;
        let mut member =
            Member::assemble(config, raft, Store::new(StoreConfig::default()), wal, now);
        member.disk.create_segment(segment);
        member.drive();
        Ok(member)
    }

    /// A member that joins an existing cluster with an empty data directory.
    pub fn join(config: MemberConfig, now: Instant) -> Result<Member, StartError> {
        let metadata = crate::wal::Metadata {
            cluster_id: config.cluster_id,
            member_id: config.id(),
        };
        let (wal, segment) = WalWriter::create(metadata, SnapshotMarker::default());
        let raft = RawNode::join(config.raft.clone(), now)?;
        let mut member =
            Member::assemble(config, raft, Store::new(StoreConfig::default()), wal, now);
        member.disk.create_segment(segment);
        member.drive();
        Ok(member)
    }

    /// Restarts from disk: the newest snapshot that decodes (if any, with its
    /// file name) and every WAL segment in name order. A torn WAL tail is
    /// truncated (it was never acknowledged); corruption anywhere else, or a data
    /// directory of another member or cluster, refuses to start.
    pub fn recover(
        config: MemberConfig,
        snapshot_file: Option<(String, Bytes)>,
        wal_segments: &[(&str, &[u8])],
        now: Instant,
    ) -> Result<Member, StartError> {
        let store_config = StoreConfig {
            max_txn_ops: config.max_txn_ops,
        };
        let image = match &snapshot_file {
            Some((_, bytes)) => Some(snapshot::decode(bytes, store_config)?),
            None => None,
        };
        let marker = image
            .as_ref()
            .map_or(SnapshotMarker::default(), |image| SnapshotMarker {
                index: image.meta.index,
                term: image.meta.term,
            });
        let recovered = crate::wal::recover(wal_segments, marker)?;
        if recovered.metadata.cluster_id != config.cluster_id
            || recovered.metadata.member_id != config.id()
        {
            return Err(StartError::WrongCluster {
                found_cluster: recovered.metadata.cluster_id,
                found_member: recovered.metadata.member_id,
                cluster: config.cluster_id,
                member: config.id(),
            });
        }
        let meta = image.as_ref().map(|i| i.meta.clone()).unwrap_or_default();
        let raft = RawNode::restart(
            config.raft.clone(),
            crate::raft::Restored {
                hard_state: recovered.hard_state,
                snapshot: meta.clone(),
                entries: recovered.entries.clone(),
            },
            now,
        )?;
        let wal = WalWriter::resume(&recovered);
        let store = image
            .as_ref()
            .map_or_else(|| Store::new(store_config), |i| i.kv.clone());
        let mut member = Member::assemble(config, raft, store, wal, now);
        if let Some(image) = image {
            member.disk.last_snapshot_index = image.meta.index;
            member.state.restore(image, member.config.auth_token_ttl_ms);
            if let Some((name, _)) = &snapshot_file {
                member.disk.snapshot_files.push(name.clone());
            }
        }
        member.disk.wal_segments = wal_segments
            .iter()
            .map(|(name, _)| (*name).to_string())
            .collect();
        if let crate::wal::TailVerdict::Torn {
            segment, offset, ..
        } = &recovered.verdict
        {
            member.actions.push_back(Action::TruncateWal {
                segment: segment.clone(),
                offset: *offset,
            });
        }
        member.drive();
        if member.config.force_new_cluster {
            // Everything committed is applied by now (drive ran every ready).
            member.raft.force_new_cluster();
            let id = member.id();
            member.state.roster.retain(|&m, _| m == id);
            member.drive();
        }
        Ok(member)
    }

    fn assemble(
        config: MemberConfig,
        raft: RawNode,
        store: Store,
        wal: WalWriter,
        now: Instant,
    ) -> Member {
        let lessor_config = LessorConfig::from_election_timeout_ms(
            config.raft.tick_interval_ms * config.raft.election_ticks as u64,
        );
        let state = AppliedState::new(
            store,
            lessor_config,
            config.auth_token_ttl_ms,
            config.knobs.lease_no_extend_on_promote,
        );
        let role = raft.role_state();
        Member {
            raft,
            state,
            disk: Persistence::new(wal),
            requests: Requests::new(config.first_seq),
            actions: VecDeque::new(),
            now,
            last_tick: now,
            published: false,
            publish_retry_at: now,
            role,
            nospace_retry_at: now,
            // Distinct per member and per incarnation (first_seq comes from
            // the runtime's clock): a reused id would let a revocation meant
            // for an expired lease hit a new one granted under the same id.
            lease_ids: LeaseIdGenerator::new(
                config.seed ^ config.raft.id.rotate_left(32) ^ config.first_seq.rotate_left(17),
            ),
            watch: WatchHub::new(),
            progress_notify_at: now + config.watch_progress_notify_interval_ms,
            config,
        }
    }

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

    fn header(&self) -> Header {
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
        self.now = now;
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

    fn authz<'a>(&'a self, who: &'a Identity) -> Authz<'a> {
        self.state.authz(who)
    }

    /// The auth state (read-only).
    pub fn auth(&self) -> &AuthStore {
        &self.state.auth
    }

    fn serve_client(&mut self, token: ClientToken, who: Identity, request: ClientRequest) {
        let now = self.now;
        let deadline = now + self.config.request_timeout_ms;
        match request {
            ClientRequest::Range(range)
                if range.serializable || self.config.knobs.local_linearizable_reads =>
            {
                let result = self
                    .state
                    .store
                    .range(&range)
                    .map(ClientResponse::Range)
                    .map_err(ClientError::from);
                self.respond(token, result);
            }
            ClientRequest::Range(range) => {
                self.start_read(token, who, ReadRequest::Range(range), deadline)
            }
            ClientRequest::Txn(txn) if !super::client::txn_is_write(&txn) => {
                self.start_read(token, who, ReadRequest::Txn(txn), deadline)
            }
            ClientRequest::Put(put) if self.space_refused(put_cost(&put)) => {
                self.respond(token, Err(ClientError::NoSpace))
            }
            ClientRequest::Txn(txn) if self.space_refused(txn_cost(&txn)) => {
                self.respond(token, Err(ClientError::NoSpace))
            }
            ClientRequest::Put(put) => self.propose(token, who.clone(), Op::Put(put), deadline),
            ClientRequest::LeaseGrant { ttl_secs, .. } if ttl_secs > MAX_LEASE_TTL_SECS => {
                self.respond(token, Err(ClientError::Lease(LeaseError::TtlTooLarge)))
            }
            ClientRequest::LeaseGrant { id, ttl_secs } => {
                let id = if id == 0 {
                    self.lease_ids.next_id(&self.state.lessor)
                } else {
                    id
                };
                self.propose(
                    token,
                    who.clone(),
                    Op::LeaseGrant { id, ttl_secs },
                    deadline,
                );
            }
            ClientRequest::LeaseRevoke { id } => {
                self.propose(token, who.clone(), Op::LeaseRevoke { id }, deadline)
            }
            ClientRequest::LeaseKeepAlive { id } => {
                self.handle_lease_query(token, LeaseQuery::KeepAlive { id }, deadline)
            }
            ClientRequest::LeaseTimeToLive { id, keys } => {
                self.handle_lease_query(token, LeaseQuery::TimeToLive { id, keys }, deadline)
            }
            ClientRequest::LeaseLeases => {
                let ids = self.state.lessor.leases().map(|lease| lease.id).collect();
                self.respond(token, Ok(ClientResponse::Leases(ids)));
            }
            ClientRequest::DeleteRange(delete) => {
                self.propose(token, who.clone(), Op::DeleteRange(delete), deadline)
            }
            ClientRequest::Txn(txn) if txn_depth(&txn) > codec::MAX_TXN_DEPTH => {
                // Deeper than the log's codec carries: refuse before proposing.
                self.respond(
                    token,
                    Err(ClientError::Mvcc(crate::mvcc::MvccError::TooManyOps)),
                );
            }
            ClientRequest::Txn(txn) => self.propose(token, who.clone(), Op::Txn(txn), deadline),
            ClientRequest::Compact { revision, physical } => self.propose(
                token,
                who.clone(),
                Op::Compact { revision, physical },
                deadline,
            ),
            ClientRequest::MemberList => {
                let list = self.member_list();
                self.respond(token, Ok(ClientResponse::MemberList(list)));
            }
            ClientRequest::Status => {
                let status = self.status();
                self.respond(token, Ok(ClientResponse::Status(status)));
            }
            ClientRequest::Hash => {
                let hash = self.state.store.hash();
                self.respond(token, Ok(ClientResponse::Hash { hash }));
            }
            ClientRequest::HashKv { revision } => {
                let result = self
                    .state
                    .store
                    .hash_kv(revision)
                    .map(ClientResponse::HashKv)
                    .map_err(ClientError::from);
                self.respond(token, result);
            }
            ClientRequest::Alarm {
                action: AlarmAction::Get,
                ..
            } => {
                let alarms = self.state.alarms.iter().copied().collect();
                self.respond(token, Ok(ClientResponse::Alarms(alarms)));
            }
            ClientRequest::Alarm {
                action,
                member,
                alarm,
            } => {
                let op = Op::Alarm {
                    activate: action == AlarmAction::Activate,
                    member,
                    alarm: alarm.unwrap_or(AlarmKind::NoSpace),
                };
                self.propose(token, who.clone(), op, deadline);
            }
            ClientRequest::Auth(AuthRequest::Change(op)) => {
                self.propose(token, who, Op::Auth(op), deadline)
            }
            ClientRequest::Auth(AuthRequest::Query(query)) => {
                self.start_read(token, who, ReadRequest::Auth(query), deadline)
            }
        }
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
            Some(SnapshotWrite::Own(meta)) => {
                self.raft.handle_snapshot_saved(meta.clone());
                let keep = self.config.snapshot_catchup_entries;
                let compact_to = meta.index.saturating_sub(keep);
                if compact_to >= self.raft.first_index() {
                    self.raft.compact_log(compact_to);
                }
                self.disk.own_snapshot_saved(&meta, self.config.retention);
                self.actions
                    .push_back(Action::Event(MemberEvent::SnapshotSaved {
                        index: meta.index,
                        term: meta.term,
                    }));
            }
            Some(SnapshotWrite::Received) | None => {}
        }
        self.drive();
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
        result: Result<ClientResponse, ClientError>,
    ) {
        let header = self.header();
        self.actions.push_back(Action::Respond {
            token,
            header,
            result,
        });
    }

    /// Numbers `op` as this member's next proposal and encodes it.
    fn encode_own(&mut self, identity: Identity, op: Op) -> (u64, Bytes) {
        let seq = self.requests.next_seq();
        let data = codec::encode_proposal(&Proposal {
            origin: self.id(),
            seq,
            identity,
            op,
        });
        (seq, data)
    }

    fn propose(&mut self, token: ClientToken, who: Identity, op: Op, deadline: Instant) {
        let (seq, data) = self.encode_own(who, op);
        match self.raft.propose(data) {
            Ok(_) => self.requests.wait_for_apply(seq, token, deadline),
            Err(crate::raft::ProposeError::NoLeader) => {
                self.respond(token, Err(ClientError::NoLeader))
            }
            Err(_) => self.respond(token, Err(ClientError::LeaderChanged)),
        }
    }

    /// etcd's quota check, before a write that adds data is proposed: refused
    /// while the NOSPACE alarm is active, or if it would take the store past
    /// the quota, in which case the alarm is raised through the log. Deletes
    /// and compactions are never refused, so space can be reclaimed.
    fn space_refused(&mut self, cost: u64) -> bool {
        let Some(quota) = self.config.quota_bytes else {
            return false;
        };
        if self
            .state
            .alarms
            .iter()
            .any(|(_, kind)| *kind == AlarmKind::NoSpace)
        {
            return true;
        }
        if self.state.size_bytes.saturating_add(cost) <= quota {
            return false;
        }
        if self.now >= self.nospace_retry_at {
            self.nospace_retry_at = self.now + self.config.request_timeout_ms;
            // Without a leader the alarm is raised on a later attempt.
            self.propose_internal(Op::Alarm {
                activate: true,
                member: self.id(),
                alarm: AlarmKind::NoSpace,
            });
        }
        true
    }

    /// A watch stream's request.
    pub fn handle_watch(&mut self, now: Instant, input: WatchInput) {
        self.now = now;
        let responses = match input {
            WatchInput::Create {
                stream,
                request,
                caller,
            } => match self.watch_permitted(&caller, &request) {
                Ok(()) => self.watch.create(stream, request, &self.state.store),
                // etcd's answer: created and canceled at once, with the reason.
                Err(error) => vec![WatchResponse {
                    stream,
                    watch_id: crate::watch::PROGRESS_WATCH_ID,
                    created: true,
                    canceled: true,
                    cancel_reason: error.to_string(),
                    header_revision: self.state.store.current_revision(),
                    ..WatchResponse::default()
                }],
            },
            WatchInput::Cancel { stream, watch_id } => self
                .watch
                .cancel(stream, watch_id, &self.state.store)
                .into_iter()
                .collect(),
            WatchInput::Progress { stream } => self.watch.progress(stream, &self.state.store),
            WatchInput::Close { stream } => {
                self.watch.close_stream(stream);
                Vec::new()
            }
            WatchInput::Blocked { stream, blocked } => {
                self.watch.set_stream_blocked(stream, blocked);
                if blocked {
                    Vec::new()
                } else {
                    self.watch
                        .catch_up(&self.state.store, WATCH_CATCH_UP_EVENTS)
                }
            }
        };
        self.emit_watch(responses);
        self.drive();
    }

    /// A watcher needs read access to all it covers (the whole key space
    /// from its key for a `"\0"` range end; etcd checks only the key then).
    fn watch_permitted(
        &mut self,
        caller: &Caller,
        request: &CreateRequest,
    ) -> Result<(), crate::auth::AuthError> {
        let who = self.state.auth.identify(caller, self.now)?;
        let key: &[u8] = if request.key.is_empty() {
            b"\0"
        } else {
            &request.key
        };
        self.state
            .auth
            .check(&who, crate::auth::Access::Read, key, &request.range_end)
    }

    /// Catch-up for watchers behind the store, and periodic progress.
    fn tick_watchers(&mut self) {
        let mut responses = self
            .watch
            .catch_up(&self.state.store, WATCH_CATCH_UP_EVENTS);
        if self.now >= self.progress_notify_at {
            self.progress_notify_at = self.now + self.config.watch_progress_notify_interval_ms;
            responses.extend(self.watch.progress_notify_due(&self.state.store));
        }
        self.emit_watch(responses);
    }

    fn emit_watch(&mut self, responses: Vec<WatchResponse>) {
        if !responses.is_empty() {
            let header = self.header();
            self.actions.push_back(Action::Watch { header, responses });
        }
    }

    /// A write took a revision (its bytes are accounted by the applied
    /// state): tell the watchers.
    fn written(&mut self, events: &[crate::mvcc::Event]) {
        if events.is_empty() {
            return;
        }
        let responses = self
            .watch
            .on_applied(self.state.store.current_revision(), events);
        self.emit_watch(responses);
    }

    /// The leader proposes revoking leases whose TTL ran out, at etcd's rate
    /// limit. A revocation takes effect only once a quorum commits it, so a
    /// leader cut off from its quorum revokes nothing.
    ///
    /// A leader whose WAL write has been stuck for longer than an election
    /// timeout revokes nothing (etcd once revoked every lease when its leader
    /// was stuck in fsync); once the write completes, leases get a new
    /// leader's grace.
    fn revoke_expired_leases(&mut self) {
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

    /// Proposes an operation of the member's own (no client waits for it); a
    /// refusal (no leader) is fine: its caller retries later.
    fn propose_internal(&mut self, op: Op) {
        let (_, data) = self.encode_own(Identity::System, op);
        let _ = self.raft.propose(data);
    }

    fn start_read(
        &mut self,
        token: ClientToken,
        who: Identity,
        request: ReadRequest,
        deadline: Instant,
    ) {
        let id = self.requests.next_read_id();
        match self.raft.read_index(id) {
            Ok(()) => self.requests.wait_for_read_index(
                id,
                WaitingRead {
                    token,
                    who,
                    request,
                    deadline,
                },
            ),
            Err(_) => self.respond(token, Err(ClientError::NoLeader)),
        }
    }

    fn serve_read(&mut self, read: WaitingRead) {
        // Checked again: permissions may have changed while the read waited.
        let result = match &read.request {
            ReadRequest::Range(range) => self
                .authz(&read.who)
                .range(range)
                .map_err(ClientError::from)
                .and_then(|()| Ok(self.state.store.range(range).map(ClientResponse::Range)?)),
            ReadRequest::Txn(txn) => self
                .authz(&read.who)
                .txn(txn)
                .map_err(ClientError::from)
                .and_then(|()| {
                    Ok(self
                        .state
                        .store
                        .txn(&mut self.state.lessor, txn)
                        .map(|applied| ClientResponse::Txn(applied.response))?)
                }),
            ReadRequest::Auth(query) => self
                .state
                .auth
                .query(&read.who, query)
                .map(ClientResponse::Auth)
                .map_err(ClientError::from),
        };
        self.respond(read.token, result);
    }

    fn expire_requests(&mut self) {
        self.serve_waiting_lease_queries();
        for token in self.requests.expired(self.now) {
            self.respond(token, Err(ClientError::Timeout));
        }
    }

    /// Once a leader exists, announce this member's name and client URLs
    /// through the log (retrying until applied), as etcd does at start.
    fn maybe_publish(&mut self) {
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

    fn member_list(&self) -> Vec<MemberStatus> {
        self.state.member_list(self.raft.conf_state())
    }

    fn status(&self) -> StatusInfo {
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
    fn drive(&mut self) {
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
    fn check_invariants(&self) {
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
        self.disk.check_invariants();
    }

    fn handle_ready(&mut self, ready: Ready) {
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

    fn send(&mut self, message: Message) {
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
    fn wal_stuck(&self) -> bool {
        self.disk.stuck(self.now, self.election_timeout_ms())
    }

    /// As a new leader does: every lease's TTL starts over, plus an election
    /// timeout (except leases whose revocation is already proposed).
    fn extend_leases_if_leader(&mut self) {
        if self.role.role == Role::Leader && self.state.lessor.is_primary() {
            self.state
                .lessor
                .promote(self.now, self.election_timeout_ms());
        }
    }

    fn on_role_change(&mut self, role: RoleState) {
        let was_leader = self.role.role == Role::Leader;
        self.role = role;
        // A new leader's lessor is promoted once it has applied an entry of
        // its own term (`leases.rs`), not here.
        if was_leader && role.role != Role::Leader {
            self.state.lessor.demote();
        }
        self.actions
            .push_back(Action::Event(MemberEvent::RoleChanged(role)));
    }

    /// Hands the collected batch to the runtime if no write is in flight
    /// (group commit: whatever arrives meanwhile shares the next write).
    fn flush_wal(&mut self) {
        if let Some(action) = self.disk.flush(self.now) {
            self.actions.push_back(action);
        }
    }

    // ----- applying -----

    fn apply(&mut self, entry: &Entry) {
        self.promote_lessor_if_caught_up(entry);
        match entry.kind {
            EntryKind::ConfChange => self.apply_conf_change(entry),
            EntryKind::Normal if entry.data.is_empty() => {}
            EntryKind::Normal => match codec::decode_proposal(&entry.data) {
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
    }

    fn apply_proposal(&mut self, proposal: Proposal) {
        let (origin, seq) = (proposal.origin, proposal.seq);
        let applied = self.state.apply(proposal, self.now);
        self.written(&applied.events);
        if let Some((member, name, client_urls)) = applied.published {
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
        if let Some(result) = applied.result {
            self.answer(origin, seq, result);
        }
    }

    /// Answers the client of this member's proposal `seq`, if it waits.
    fn answer(&mut self, origin: NodeId, seq: u64, result: Result<ClientResponse, ClientError>) {
        if origin == self.id() {
            if let Some(token) = self.requests.applied(seq) {
                self.respond(token, result);
            }
        }
    }

    fn apply_conf_change(&mut self, entry: &Entry) {
        let Ok(change) = ConfChange::decode(&entry.data) else {
            self.actions
                .push_back(Action::Event(MemberEvent::UndecodableEntry {
                    index: entry.index,
                    reason: "membership change".to_string(),
                }));
            return;
        };
        let info = codec::decode_member_info(&change.context).unwrap_or_default();
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
    }

    // ----- snapshots -----

    fn install_snapshot(&mut self, meta: &SnapshotMeta) {
        // handle_message only lets Raft see snapshots whose bytes decoded.
        let (bytes, image) = self
            .disk
            .received_snapshots
            .remove(&meta.index)
            .expect("a snapshot Raft installs arrived with its bytes");
        self.state.restore(image, self.config.auth_token_ttl_ms);
        self.watch.on_restored();
        self.disk.last_snapshot_index = meta.index;
        let name = snapshot::snapshot_name(meta.term, meta.index);
        // The file must be durable before the WAL record naming it: disk
        // actions run in order.
        self.disk.snapshot_write = Some(SnapshotWrite::Received);
        self.actions.push_back(Action::SaveSnapshot {
            name,
            bytes,
            background: false,
        });
        self.disk.push_snapshot_marker(meta.index, meta.term);
        self.actions
            .push_back(Action::Event(MemberEvent::SnapshotInstalled {
                index: meta.index,
                term: meta.term,
            }));
    }

    fn maybe_snapshot(&mut self) {
        let applied = self.raft.applied();
        if self.disk.snapshot_write.is_some()
            || applied < self.disk.last_snapshot_index + self.config.snapshot_count
        {
            return;
        }
        let meta = self.raft.snapshot_meta();
        let bytes = self.state.image(&meta, self.raft.conf_state());
        self.disk.last_snapshot_index = meta.index;
        let name = snapshot::snapshot_name(meta.term, meta.index);
        self.disk.snapshot_write = Some(SnapshotWrite::Own(meta));
        self.actions.push_back(Action::SaveSnapshot {
            name,
            bytes: Bytes::from(bytes),
            background: true,
        });
    }
}

/// How deeply txns nest inside `txn` (1 for a flat txn).
fn txn_depth(txn: &crate::mvcc::TxnRequest) -> usize {
    1 + txn
        .success
        .iter()
        .chain(txn.failure.iter())
        .map(|op| match op {
            crate::mvcc::RequestOp::Txn(inner) => txn_depth(inner),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// What a put may add, for the quota check (etcd adds a fixed overhead too).
fn put_cost(put: &crate::mvcc::PutRequest) -> u64 {
    (put.key.len() + put.value.len()) as u64 + QUOTA_OVERHEAD_BYTES
}

/// What a txn may add: the larger of its branches' puts.
fn txn_cost(txn: &crate::mvcc::TxnRequest) -> u64 {
    use crate::mvcc::RequestOp;
    let branch = |ops: &[RequestOp]| -> u64 {
        ops.iter()
            .map(|op| match op {
                RequestOp::Put(put) => put_cost(put),
                RequestOp::Txn(inner) => txn_cost(inner),
                _ => 0,
            })
            .sum()
    };
    branch(&txn.success).max(branch(&txn.failure))
}

/// Bookkeeping bytes counted per write by the quota check.
const QUOTA_OVERHEAD_BYTES: u64 = 64;

/// Events one tick's catch-up may send (bounded work per tick).
const WATCH_CATCH_UP_EVENTS: usize = 10_000;

/// What a watch stream asks of the member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchInput {
    Create {
        stream: u64,
        request: CreateRequest,
        /// Who opened the stream (its credentials are checked at each create).
        caller: Caller,
    },
    Cancel {
        stream: u64,
        watch_id: i64,
    },
    Progress {
        stream: u64,
    },
    Close {
        stream: u64,
    },
    /// The stream's outbound queue is full (`true`) or drained (`false`): a
    /// blocked stream gets no live events and catches up from history later.
    Blocked {
        stream: u64,
        blocked: bool,
    },
}
