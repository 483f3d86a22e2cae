//! Serving a client's request: reads served locally or after a read index,
//! writes proposed (after the space quota's check), lease queries handed to
//! `leases.rs`, and the member's own proposals.

use bytes::Bytes;

use super::client::{
    AlarmAction, AuthRequest, ClientError, ClientRequest, ClientResponse, ClientToken,
};
use super::counters::MvccOps;
use super::leases::LeaseQuery;
use super::node::Member;
use super::request::{AlarmKind, Op, Proposal};
use super::requests::{ReadRequest, WaitingRead};
use crate::auth::Identity;
use crate::lease::{LeaseError, MAX_LEASE_TTL_SECS};
use crate::time::Instant;

impl Member {
    pub(super) fn serve_client(
        &mut self,
        token: ClientToken,
        who: Identity,
        request: ClientRequest,
    ) {
        let now = self.now;
        let deadline = now + self.config.request_timeout_ms;
        if self.raft.conf_state().is_learner(self.id()) && !served_by_learner(&request) {
            self.respond(token, Err(ClientError::NotSupportedForLearner));
            return;
        }
        if self.state.corrupt() && stopped_by_corrupt(&request) {
            self.respond(token, Err(ClientError::Corrupt));
            return;
        }
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
                if result.is_ok() {
                    self.counters.count(MvccOps::range());
                }
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
            ClientRequest::Txn(txn) if txn_depth(&txn) > super::payload::MAX_TXN_DEPTH => {
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
            ClientRequest::ChangeMember(change) => self.serve_member_change(token, change),
            ClientRequest::MoveLeader { target } => self.serve_move_leader(token, target),
            ClientRequest::Backup => {
                let image = Box::new(self.backup_image());
                self.respond(token, Ok(ClientResponse::Backup(image)));
            }
            ClientRequest::Defragment => {
                self.disk.defrag_waiters.push(token);
                self.maybe_snapshot();
            }
            ClientRequest::Counters => {
                let counters = self.counters();
                self.respond(token, Ok(ClientResponse::Counters(counters)));
            }
            ClientRequest::V2(request) => self.serve_v2(token, who, request),
        }
    }

    /// Numbers `op` as this member's next proposal and encodes it.
    pub(super) fn encode_own(&mut self, identity: Identity, op: Op) -> (u64, Bytes) {
        let seq = self.requests.next_seq();
        let data = super::payload::encode_proposal(&Proposal {
            origin: self.id(),
            seq,
            identity,
            op,
        });
        (seq, data)
    }

    pub(super) fn propose(&mut self, token: ClientToken, who: Identity, op: Op, deadline: Instant) {
        let (seq, data) = self.encode_own(who, op);
        match self.raft.propose(data) {
            Ok(_) => self.requests.wait_for_apply(seq, token, deadline),
            Err(crate::raft::ProposeError::NoLeader) => {
                self.counters.proposals_failed(1);
                self.respond(token, Err(ClientError::NoLeader))
            }
            Err(_) => {
                self.counters.proposals_failed(1);
                self.respond(token, Err(ClientError::LeaderChanged))
            }
        }
    }

    /// etcd's quota check, before a write that adds data is proposed: refused
    /// while the NOSPACE alarm is active, or if it would take the store past
    /// the quota, in which case the alarm is raised through the log. Deletes
    /// and compactions are never refused, so space can be reclaimed.
    pub(super) fn space_refused(&mut self, cost: u64) -> bool {
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

    /// Proposes an operation of the member's own (no client waits for it); a
    /// refusal (no leader) is fine: its caller retries later.
    pub(super) fn propose_internal(&mut self, op: Op) {
        let (_, data) = self.encode_own(Identity::System, op);
        if self.raft.propose(data).is_err() {
            self.counters.proposals_failed(1);
        }
    }

    pub(super) fn start_read(
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

    pub(super) fn serve_read(&mut self, read: WaitingRead) {
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
            ReadRequest::V2Get {
                path,
                recursive,
                sorted,
            } => {
                let (path, recursive, sorted) = (path.clone(), *recursive, *sorted);
                self.v2_get(&path, recursive, sorted)
            }
        };
        match (&read.request, &result) {
            (ReadRequest::Range(_), Ok(_)) => self.counters.count(MvccOps::range()),
            (ReadRequest::Txn(txn), Ok(ClientResponse::Txn(answer))) => {
                self.counters.count(MvccOps::txn(txn, answer))
            }
            _ => {}
        }
        self.respond(read.token, result);
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

/// What a learner answers (etcd's `isRPCSupportedForLearner`): serializable
/// ranges and status. Everything else gets "rpc not supported for learner".
fn served_by_learner(request: &ClientRequest) -> bool {
    match request {
        ClientRequest::Range(range) => range.serializable,
        ClientRequest::Status => true,
        _ => false,
    }
}

/// Requests refused while a CORRUPT alarm is active (they would be refused
/// when applied anyway): writes, compactions and leases.
fn stopped_by_corrupt(request: &ClientRequest) -> bool {
    match request {
        ClientRequest::Put(_)
        | ClientRequest::DeleteRange(_)
        | ClientRequest::Compact { .. }
        | ClientRequest::LeaseGrant { .. }
        | ClientRequest::LeaseRevoke { .. } => true,
        ClientRequest::Txn(txn) => super::client::txn_is_write(txn),
        _ => false,
    }
}
