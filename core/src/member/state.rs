//! The applied state machine: what every member holds alike once it has
//! applied the same log prefix. Key-value store, leases, users and roles,
//! the cluster roster and alarms; [`AppliedState::apply`] is the only way a
//! committed proposal changes them, and a snapshot image is all of it.

use std::collections::{BTreeMap, BTreeSet};

use super::authz::Authz;
use super::client::{ClientError, ClientResponse, MemberStatus, V2Answer, V2Result};
use super::request::{AlarmKind, MemberInfo, Op, Proposal};
use crate::auth::{AuthStore, Identity};
use crate::lease::{LeaseRecord, Lessor, LessorConfig};
use crate::mvcc::{Event, Store};
use crate::raft::{ConfChange, ConfChangeKind, ConfState, NodeId, SnapshotMeta};
use crate::snapshot::{self, SnapshotImage, SnapshotView};
use crate::time::Instant;
use crate::v2store::{V2Event, V2Store, V2Write};

/// What applying one proposal did.
#[derive(Debug)]
pub(super) struct Applied {
    /// The proposal's answer, for its client if it waits on this member;
    /// `None` for proposals nobody waits on.
    pub result: Option<Result<ClientResponse, ClientError>>,
    /// The revision's events (for watchers and size accounting).
    pub events: Vec<Event>,
    /// A member announced its name and client URLs.
    pub published: Option<(NodeId, String, Vec<String>)>,
    /// A member's peer URLs changed.
    pub updated: Option<(NodeId, Vec<String>)>,
    /// Events of the v2 store (for v2 watchers).
    pub v2_events: Vec<V2Event>,
}

impl Applied {
    fn answer(result: Result<ClientResponse, ClientError>) -> Applied {
        Applied {
            result: Some(result),
            events: Vec::new(),
            published: None,
            updated: None,
            v2_events: Vec::new(),
        }
    }
}

/// The replicated state.
///
/// Invariant: `size_bytes == store.size_bytes()` after every apply.
#[derive(Debug)]
pub(super) struct AppliedState {
    pub store: Store,
    pub lessor: Lessor,
    /// Users, roles, permissions (and, member-local, simple tokens).
    pub auth: AuthStore,
    /// Every member's name and URLs, by id (the voters and learners are
    /// Raft's configuration).
    pub roster: BTreeMap<NodeId, MemberInfo>,
    /// Members removed from the cluster: their IDs are never used again
    /// (etcd's `members_removed`).
    pub removed: BTreeSet<NodeId>,
    /// Active alarms.
    pub alarms: BTreeSet<(NodeId, AlarmKind)>,
    /// etcd's v2 keyspace.
    pub v2: V2Store,
    /// Bytes of keys and values of every retained revision, kept up to date
    /// from applied events.
    pub size_bytes: u64,
    /// The deliberate lease bug (simulator only), kept across restores.
    lease_bug: bool,
    lessor_config: LessorConfig,
}

impl AppliedState {
    pub fn new(
        store: Store,
        lessor_config: LessorConfig,
        auth_token_ttl_ms: u64,
        lease_bug: bool,
    ) -> AppliedState {
        let mut lessor = Lessor::new(lessor_config);
        lessor.set_bug_no_extend_on_promote(lease_bug);
        AppliedState {
            size_bytes: store.size_bytes(),
            store,
            lessor,
            auth: AuthStore::new(auth_token_ttl_ms),
            roster: BTreeMap::new(),
            removed: BTreeSet::new(),
            alarms: BTreeSet::new(),
            v2: V2Store::new(),
            lease_bug,
            lessor_config,
        }
    }

    /// Everything a snapshot image holds replaces this state; simple tokens
    /// (member-local, not in images) are kept.
    pub fn restore(&mut self, image: SnapshotImage, auth_token_ttl_ms: u64) {
        self.store = image.kv;
        self.size_bytes = self.store.size_bytes();
        let mut lessor = Lessor::restore(
            self.lessor_config,
            &image.leases,
            self.store.attached_leases(),
        );
        lessor.set_bug_no_extend_on_promote(self.lease_bug);
        self.lessor = lessor;
        self.roster = roster_of(&image.members);
        self.removed = image.removed.iter().copied().collect();
        self.v2 = image.v2;
        let mut auth = image.auth;
        auth.set_token_ttl_ms(auth_token_ttl_ms);
        auth.adopt_tokens(std::mem::replace(&mut self.auth, AuthStore::new(0)));
        self.auth = auth;
    }

    /// The snapshot image of this state at `meta`.
    pub fn image(&self, meta: &SnapshotMeta, conf: &ConfState) -> Vec<u8> {
        let members = self.member_list(conf);
        let leases: Vec<LeaseRecord> = self.lessor.records();
        let removed: Vec<NodeId> = self.removed.iter().copied().collect();
        let v2 = self.v2.encode();
        snapshot::encode(&SnapshotView {
            meta,
            members: &members,
            removed: &removed,
            kv: &self.store,
            leases: &leases,
            v2: &v2,
            auth: &self.auth,
        })
    }

    /// The members of Raft's configuration `conf`, with what the roster
    /// knows of each.
    pub fn member_list(&self, conf: &ConfState) -> Vec<MemberStatus> {
        let mut ids: Vec<NodeId> = conf.members().collect();
        // Sorted by ID, as etcd lists members.
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| {
                let info = self.roster.get(&id).cloned().unwrap_or_default();
                MemberStatus {
                    id,
                    name: info.name,
                    peer_urls: info.peer_urls,
                    client_urls: info.client_urls,
                    is_learner: conf.is_learner(id),
                }
            })
            .collect()
    }

    /// Whether a CORRUPT alarm is active.
    pub fn corrupt(&self) -> bool {
        self.alarms
            .iter()
            .any(|(_, kind)| *kind == AlarmKind::Corrupt)
    }

    pub fn authz<'a>(&'a self, who: &'a Identity) -> Authz<'a> {
        Authz {
            auth: &self.auth,
            lessor: &self.lessor,
            who,
        }
    }

    /// Applies one committed proposal at `now` (the lessor starts a granted
    /// lease's clock there if it is primary).
    pub fn apply(&mut self, proposal: Proposal, now: Instant) -> Applied {
        let Proposal {
            origin,
            seq: _,
            identity,
            op,
        } = proposal;
        // Checked against the applied auth state: every member decides alike.
        if let Err(error) = self.authz(&identity).op(&op) {
            return Applied::answer(Err(error.into()));
        }
        // etcd's corrupt applier: while a CORRUPT alarm is active, no write
        // changes the store, on any member.
        if self.corrupt() && changes_data(&op) {
            return Applied::answer(Err(ClientError::Corrupt));
        }
        let _ = origin;
        let (result, events) = match op {
            Op::Put(put) => match self.store.put(&mut self.lessor, &put) {
                Ok(a) => (Ok(ClientResponse::Put(a.response)), a.events),
                Err(e) => (Err(e.into()), Vec::new()),
            },
            Op::DeleteRange(delete) => match self.store.delete_range(&mut self.lessor, &delete) {
                Ok(a) => (Ok(ClientResponse::DeleteRange(a.response)), a.events),
                Err(e) => (Err(e.into()), Vec::new()),
            },
            Op::Txn(txn) => match self.store.txn(&mut self.lessor, &txn) {
                Ok(a) => (Ok(ClientResponse::Txn(a.response)), a.events),
                Err(e) => (Err(e.into()), Vec::new()),
            },
            Op::Compact { revision, .. } => {
                let result = self.store.compact(revision).map(|_| {
                    self.size_bytes = self.store.size_bytes();
                    ClientResponse::Compact
                });
                (result.map_err(ClientError::from), Vec::new())
            }
            Op::Alarm {
                activate,
                member,
                alarm,
            } => {
                if activate {
                    self.alarms.insert((member, alarm));
                } else {
                    self.alarms.remove(&(member, alarm));
                }
                let alarms = self.alarms.iter().copied().collect();
                (Ok(ClientResponse::Alarms(alarms)), Vec::new())
            }
            Op::LeaseGrant { id, ttl_secs } => {
                let result = self
                    .lessor
                    .grant(id, ttl_secs, now)
                    .map(|lease| ClientResponse::LeaseGrant {
                        id,
                        ttl_secs: lease.ttl_secs,
                    })
                    .map_err(ClientError::Lease);
                (result, Vec::new())
            }
            Op::LeaseRevoke { id } => match self.store.revoke_lease(&mut self.lessor, id) {
                Ok(a) => (Ok(ClientResponse::LeaseRevoke), a.events),
                Err(e) => (Err(e.into()), Vec::new()),
            },
            Op::Auth(op) => {
                let result = self.auth.apply(&identity, &op, now);
                (
                    result.map(ClientResponse::Auth).map_err(Into::into),
                    Vec::new(),
                )
            }
            Op::PublishAttributes {
                member,
                name,
                client_urls,
            } => {
                let info = self.roster.entry(member).or_default();
                info.name = name.clone();
                info.client_urls = client_urls.clone();
                return Applied {
                    result: None,
                    events: Vec::new(),
                    published: Some((member, name, client_urls)),
                    updated: None,
                    v2_events: Vec::new(),
                };
            }
            Op::V2(write) => return self.apply_v2(&write),
            Op::UpdateMember { member, peer_urls } => {
                // Validated by the leader when proposed; a member removed
                // meanwhile stays removed.
                let updated = match self.roster.get_mut(&member) {
                    Some(info) => {
                        info.peer_urls = peer_urls.clone();
                        Some((member, peer_urls))
                    }
                    None => None,
                };
                return Applied {
                    result: None,
                    events: Vec::new(),
                    published: None,
                    updated,
                    v2_events: Vec::new(),
                };
            }
        };
        self.size_bytes += events_bytes(&events);
        Applied {
            result: Some(result),
            events,
            published: None,
            updated: None,
            v2_events: Vec::new(),
        }
    }

    /// A v2 write: its answer is its first event (an expiry answers nobody);
    /// an auth write's is its own answer.
    fn apply_v2(&mut self, write: &V2Write) -> Applied {
        if let V2Write::Auth(write) = write {
            let result = match self.v2.apply_auth(write) {
                Ok(answer) => Ok(ClientResponse::V2(V2Answer {
                    raft_index: 0,
                    store_index: 0,
                    result: V2Result::Auth(answer),
                })),
                Err(error) => Err(ClientError::V2Auth(error)),
            };
            return Applied {
                result: Some(result),
                events: Vec::new(),
                published: None,
                updated: None,
                v2_events: Vec::new(),
            };
        }
        let (result, v2_events) = match self.v2.apply(write) {
            Ok(events) => {
                let result = events.first().cloned().map(|event| {
                    ClientResponse::V2(V2Answer {
                        raft_index: 0,
                        store_index: 0,
                        result: V2Result::Event(Box::new(event)),
                    })
                });
                (result.map(Ok), events)
            }
            Err(error) => (Some(Err(ClientError::V2(error))), Vec::new()),
        };
        Applied {
            result,
            events: Vec::new(),
            published: None,
            updated: None,
            v2_events,
        }
    }

    /// Applies a committed membership change to the roster.
    pub fn apply_conf_change(&mut self, change: &ConfChange, info: MemberInfo) {
        match change.kind {
            ConfChangeKind::AddVoter | ConfChangeKind::AddLearner => {
                let existing = self.roster.entry(change.node).or_default();
                existing.peer_urls = info.peer_urls;
                if existing.name.is_empty() {
                    existing.name = info.name;
                }
            }
            ConfChangeKind::Remove => {
                self.roster.remove(&change.node);
                self.removed.insert(change.node);
            }
            ConfChangeKind::PromoteLearner => {}
        }
    }
}

/// The membership a snapshot records, as the roster keeps it.
pub(super) fn roster_of(members: &[snapshot::Member]) -> BTreeMap<NodeId, MemberInfo> {
    members
        .iter()
        .map(|m| {
            let info = MemberInfo {
                name: m.name.clone(),
                peer_urls: m.peer_urls.clone(),
                client_urls: m.client_urls.clone(),
            };
            (m.id, info)
        })
        .collect()
}

/// What the CORRUPT alarm stops (etcd's `applierV3Corrupt`): writes to the
/// store, compactions and leases.
fn changes_data(op: &Op) -> bool {
    match op {
        Op::Put(_)
        | Op::DeleteRange(_)
        | Op::Compact { .. }
        | Op::LeaseGrant { .. }
        | Op::LeaseRevoke { .. } => true,
        Op::Txn(txn) => super::client::txn_is_write(txn),
        // etcd's corrupt applier is the v3 one: v2 writes carry on.
        Op::Alarm { .. }
        | Op::Auth(_)
        | Op::PublishAttributes { .. }
        | Op::UpdateMember { .. }
        | Op::V2(_) => false,
    }
}

/// Bytes a write's events add to the store (a tombstone adds its key).
fn events_bytes(events: &[Event]) -> u64 {
    events
        .iter()
        .map(|e| (e.kv.key.len() + e.kv.value.len()) as u64)
        .sum()
}
