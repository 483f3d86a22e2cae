//! The member's side of leases: when the leader's lessor becomes primary, and
//! when a keep-alive or a TTL query may be answered.
//!
//! Keep-alives are not replicated: only the leader's lessor counts time, and a
//! revocation takes effect where the log applies it. Three rules keep a lease
//! that a client kept alive from being revoked under it (each one was a
//! failing simulator seed, and each is a bug etcd has had):
//!
//! 1. **Promote only after catching up** (etcd PR 7029). A new leader's log may
//!    hold a revocation proposed by an earlier leader that the new leader will
//!    commit. The lessor becomes primary, and keep-alives are answered, only
//!    once the leader has applied an entry of its own term, so every
//!    revocation proposed in earlier terms has already taken effect or is gone.
//! 2. **Answer from a state that includes every committed grant** (etcd PR
//!    13690). A leader may commit entries before it applies them (its own disk
//!    can be slower than a quorum's). A query waits until the leader has
//!    applied everything committed when the query arrived, so "not found" is
//!    never said of a lease whose grant a client has already seen succeed.
//! 3. **Never renew what is being revoked.** Once this leader proposes
//!    revoking an expired lease, it renews it no more (not even when a stall
//!    extends every lease); a keep-alive for it waits for the revocation and
//!    is then told "not found", as etcd answers.
//!
//! A leader deposed without knowing it still answers keep-alives until
//! check-quorum makes it step down, at most an election timeout after its
//! successor could win (a leadership transfer under way does not put that
//! off: `raft/replication.rs`, simulator seed 4208); its successor gives
//! every lease that election timeout on top of the full TTL when it is
//! promoted.

use super::client::{ClientError, ClientResponse, ClientToken};
use super::node::Member;
use crate::lease::{LeaseError, LeaseId};
use crate::raft::{Entry, Role};
use crate::time::Instant;

/// A keep-alive or a TTL query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LeaseQuery {
    KeepAlive { id: LeaseId },
    TimeToLive { id: LeaseId, keys: bool },
}

/// A lease query the leader cannot answer yet.
#[derive(Clone, Copy, Debug)]
pub(super) struct WaitingLeaseQuery {
    token: ClientToken,
    query: LeaseQuery,
    /// The commit index when it arrived: it is answered from a state that
    /// has applied at least this far.
    commit_index: u64,
    deadline: Instant,
}

/// What to do with a lease query now.
enum Verdict {
    Answer(Result<ClientResponse, ClientError>),
    Wait,
}

impl Member {
    /// Rule 1: called before applying each committed entry.
    pub(super) fn promote_lessor_if_caught_up(&mut self, entry: &Entry) {
        if self.role.role == Role::Leader
            && !self.state.lessor.is_primary()
            && entry.term == self.raft.term()
        {
            // etcd: a new leader extends every lease by an election timeout
            // rather than expiring leases whose keep-alives went elsewhere.
            self.state
                .lessor
                .promote(self.now, self.election_timeout_ms());
        }
    }

    /// A keep-alive or TTL query arrived.
    pub(super) fn handle_lease_query(
        &mut self,
        token: ClientToken,
        query: LeaseQuery,
        deadline: Instant,
    ) {
        let waiting = WaitingLeaseQuery {
            token,
            query,
            commit_index: self.raft.committed(),
            deadline,
        };
        match self.judge_lease_query(&waiting) {
            Verdict::Answer(result) => self.respond(token, result),
            Verdict::Wait => self.requests.lease_queries.push(waiting),
        }
    }

    /// Answers every waiting query that can be answered now (after each
    /// step: an entry applied, a revocation, a change of role).
    pub(super) fn serve_waiting_lease_queries(&mut self) {
        if self.requests.lease_queries.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.requests.lease_queries);
        for query in waiting {
            if query.deadline <= self.now {
                self.respond(query.token, Err(ClientError::Timeout));
                continue;
            }
            match self.judge_lease_query(&query) {
                Verdict::Answer(result) => self.respond(query.token, result),
                Verdict::Wait => self.requests.lease_queries.push(query),
            }
        }
    }

    fn judge_lease_query(&mut self, waiting: &WaitingLeaseQuery) -> Verdict {
        if self.role.role != Role::Leader {
            return Verdict::Answer(Err(ClientError::NotLeader));
        }
        if !self.state.lessor.is_primary() || self.raft.applied() < waiting.commit_index {
            return Verdict::Wait;
        }
        match waiting.query {
            LeaseQuery::KeepAlive { id } => match self.state.lessor.renew(id, self.now) {
                Ok(ttl_secs) => {
                    Verdict::Answer(Ok(ClientResponse::LeaseKeepAlive { id, ttl_secs }))
                }
                // Rule 3: expired or being revoked; answered once revoked.
                Err(LeaseError::Expired) => Verdict::Wait,
                Err(LeaseError::NotPrimary) => Verdict::Answer(Err(ClientError::NotLeader)),
                Err(error) => Verdict::Answer(Err(ClientError::Lease(error))),
            },
            LeaseQuery::TimeToLive { id, keys } => Verdict::Answer(
                self.state
                    .lessor
                    .time_to_live(id, self.now)
                    .map(|mut ttl| {
                        if !keys {
                            ttl.keys.clear();
                        }
                        ClientResponse::LeaseTimeToLive(ttl)
                    })
                    .map_err(ClientError::Lease),
            ),
        }
    }
}
