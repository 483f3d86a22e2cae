//! What a member counts about itself, for `/metrics`: plain numbers bumped as
//! things happen, read with the [`Counters`](super::calls::Counters) call.
//! Nothing here reads a clock: a request is slow when the `now` it was
//! answered at is far from the `now` it was taken at.
//!
//! The counts follow etcd 3.4's metrics of the same meaning:
//!
//! | field               | etcd metric                                  |
//! |---------------------|----------------------------------------------|
//! | `leader_changes`    | `etcd_server_leader_changes_seen_total`      |
//! | `proposals_failed`  | `etcd_server_proposals_failed_total`         |
//! | `slow_requests`     | `etcd_server_slow_apply_total`               |
//! | `ranges` ... `txns` | `etcd_mvcc_{range,put,delete,txn}_total`     |
//!
//! They start at zero with the process, as etcd's do.

use std::collections::BTreeMap;

use super::client::{ClientError, ClientRequest, ClientResponse, ClientToken};
use super::node::Member;
use super::request::Op;
use crate::mvcc::{
    DeleteRangeRequest, Event, EventKind, PutRequest, RequestOp, ResponseOp, TxnRequest,
    TxnResponse,
};
use crate::raft::{NodeId, NO_NODE};
use crate::time::Instant;

/// A request answered this long after it was taken counts as slow (etcd's
/// `warningApplyDuration`, 100 ms in 3.4).
pub const SLOW_REQUEST_MS: u64 = 100;

/// The member's counters as the [`Counters`](super::calls::Counters) call
/// answers them: the counts since the process started, and a few values read
/// at the time of the call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberCounters {
    /// Times a leader became known that differs from the one known before
    /// (the first leader seen counts).
    pub leader_changes: u64,
    /// Proposals made for this member's clients that Raft refused (no
    /// leader) or that timed out before they were applied.
    pub proposals_failed: u64,
    /// Requests answered more than [`SLOW_REQUEST_MS`] after they were taken
    /// (writes from proposal to apply, reads from arrival to answer).
    pub slow_requests: u64,
    /// MVCC operations run by this member, as etcd counts them: every range,
    /// put and delete a request executed (a txn's compares and the reads
    /// behind `prev_kv` count as ranges), and a txn when it executed more
    /// than one operation.
    pub ranges: u64,
    pub puts: u64,
    pub deletes: u64,
    pub txns: u64,
    // ----- read at the time of the call -----
    /// Raft's commit index.
    pub committed_index: u64,
    /// The index applied to the state machine.
    pub applied_index: u64,
    /// This member's proposals waiting to be applied.
    pub proposals_pending: u64,
    /// Keys that exist now (not deleted) in the store.
    pub keys: u64,
    /// The revision of the last compaction, -1 if none.
    pub compact_revision: i64,
}

/// The counters, and what counting needs to remember.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub counts: MemberCounters,
    /// The leader known last ([`NO_NODE`] at start).
    leader: NodeId,
    /// When each request still unanswered was taken (only the kinds whose
    /// latency is measured).
    taken: BTreeMap<ClientToken, Instant>,
}

impl Counters {
    /// A role change reported by Raft: counts a new leader.
    pub fn leader_known(&mut self, leader: NodeId) {
        if leader != NO_NODE && leader != self.leader {
            self.counts.leader_changes += 1;
        }
        self.leader = leader;
    }

    /// Request `token` was taken at `now`.
    pub fn request_taken(&mut self, token: ClientToken, request: &ClientRequest, now: Instant) {
        if measured(request) {
            self.taken.insert(token, now);
        }
    }

    /// Request `token` was answered at `now`.
    pub fn request_answered(&mut self, token: ClientToken, now: Instant) {
        if let Some(taken) = self.taken.remove(&token) {
            if now.millis_since(taken) > SLOW_REQUEST_MS {
                self.counts.slow_requests += 1;
            }
        }
    }

    pub fn proposals_failed(&mut self, count: usize) {
        self.counts.proposals_failed += count as u64;
    }

    /// Adds what one request (or one applied entry) ran.
    pub fn count(&mut self, ops: MvccOps) {
        self.counts.ranges += ops.ranges;
        self.counts.puts += ops.puts;
        self.counts.deletes += ops.deletes;
        if ops.ranges + ops.puts + ops.deletes > 1 {
            self.counts.txns += 1;
        }
    }
}

/// An operation about to be applied, as much of it as counting its MVCC
/// operations needs once its answer is known.
#[derive(Debug)]
pub(super) enum Applying {
    Ops(MvccOps),
    /// Which of its operations ran is known from its answer only.
    Txn(TxnRequest),
    Revoke,
    Uncounted,
}

impl Applying {
    pub fn of(op: &Op) -> Applying {
        match op {
            Op::Put(put) => Applying::Ops(MvccOps::put(put)),
            Op::DeleteRange(delete) => Applying::Ops(MvccOps::delete(delete)),
            Op::Txn(txn) => Applying::Txn(txn.clone()),
            Op::LeaseRevoke { .. } => Applying::Revoke,
            _ => Applying::Uncounted,
        }
    }

    /// What it ran, given its answer and events (nothing if it failed).
    pub fn ran(
        &self,
        result: Option<&Result<ClientResponse, ClientError>>,
        events: &[Event],
    ) -> MvccOps {
        match (self, result) {
            (Applying::Ops(ops), Some(Ok(_))) => *ops,
            (Applying::Txn(txn), Some(Ok(ClientResponse::Txn(answer)))) => {
                MvccOps::txn(txn, answer)
            }
            (Applying::Revoke, Some(Ok(_))) => MvccOps::revoke(events),
            _ => MvccOps::default(),
        }
    }
}

impl Member {
    /// The counters, with the values read now.
    pub(super) fn counters(&self) -> MemberCounters {
        MemberCounters {
            committed_index: self.raft.committed(),
            applied_index: self.raft.applied(),
            proposals_pending: self.requests.proposals_pending() as u64,
            keys: self.state.store.live_key_count() as u64,
            compact_revision: self.state.store.compact_revision(),
            ..self.counters.counts
        }
    }
}

/// Requests whose latency counts towards slow requests: those etcd measures
/// (everything it applies through Raft, and ranges and read-only txns), not
/// status, hashes, membership lists, lease keep-alives and TTL queries, nor
/// the counters themselves.
fn measured(request: &ClientRequest) -> bool {
    !matches!(
        request,
        ClientRequest::Status
            | ClientRequest::MemberList
            | ClientRequest::Hash
            | ClientRequest::HashKv { .. }
            | ClientRequest::LeaseKeepAlive { .. }
            | ClientRequest::LeaseTimeToLive { .. }
            | ClientRequest::LeaseLeases
            | ClientRequest::Counters
            | ClientRequest::Backup
            | ClientRequest::V2(super::client::V2Request::Watch { .. })
    )
}

/// The MVCC operations one request ran, as etcd's metrics count them
/// (`mvcc/metrics_txn.go`: one count per Range, Put and DeleteRange call on
/// the store's transaction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MvccOps {
    pub ranges: u64,
    pub puts: u64,
    pub deletes: u64,
}

impl MvccOps {
    pub fn range() -> MvccOps {
        MvccOps {
            ranges: 1,
            ..MvccOps::default()
        }
    }

    /// A put; etcd reads the key first for `prev_kv`, `ignore_value` and
    /// `ignore_lease`.
    pub fn put(put: &PutRequest) -> MvccOps {
        MvccOps {
            ranges: u64::from(put.prev_kv || put.ignore_value || put.ignore_lease),
            puts: 1,
            deletes: 0,
        }
    }

    /// A delete; etcd reads the range first for `prev_kv`.
    pub fn delete(delete: &DeleteRangeRequest) -> MvccOps {
        MvccOps {
            ranges: u64::from(delete.prev_kv),
            puts: 0,
            deletes: 1,
        }
    }

    /// A txn that ran and answered `response`: its compares (each a range;
    /// etcd stops at the first that fails, cairn's answer does not say which,
    /// so every compare counts), then the operations of the branch taken,
    /// nested txns included.
    pub fn txn(txn: &TxnRequest, response: &TxnResponse) -> MvccOps {
        let mut ops = MvccOps {
            ranges: txn.compare.len() as u64,
            ..MvccOps::default()
        };
        let branch = if response.succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        for (request, answer) in branch.iter().zip(&response.responses) {
            ops = ops.plus(match (request, answer) {
                (RequestOp::Range(_), _) => MvccOps::range(),
                (RequestOp::Put(put), _) => MvccOps::put(put),
                (RequestOp::DeleteRange(delete), _) => MvccOps::delete(delete),
                (RequestOp::Txn(inner), ResponseOp::Txn(inner_answer)) => {
                    MvccOps::txn(inner, inner_answer)
                }
                (RequestOp::Txn(_), _) => MvccOps::default(),
            });
        }
        ops
    }

    /// A lease revocation: one delete per key it removed.
    pub fn revoke(events: &[Event]) -> MvccOps {
        MvccOps {
            deletes: events
                .iter()
                .filter(|event| event.kind == EventKind::Delete)
                .count() as u64,
            ..MvccOps::default()
        }
    }

    fn plus(self, other: MvccOps) -> MvccOps {
        MvccOps {
            ranges: self.ranges + other.ranges,
            puts: self.puts + other.puts,
            deletes: self.deletes + other.deletes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::RangeRequest;

    fn put(prev_kv: bool) -> RequestOp {
        RequestOp::Put(PutRequest {
            prev_kv,
            ..PutRequest::default()
        })
    }

    #[test]
    fn a_plain_put_is_not_a_txn_but_a_put_with_prev_kv_is() {
        // etcd counts a txn when its transaction ran more than one operation:
        // a put that reads the previous value first is one.
        let mut counters = Counters::default();
        counters.count(MvccOps::put(&PutRequest::default()));
        assert_eq!((counters.counts.puts, counters.counts.txns), (1, 0));
        counters.count(MvccOps::put(&PutRequest {
            prev_kv: true,
            ..PutRequest::default()
        }));
        assert_eq!(
            (
                counters.counts.puts,
                counters.counts.ranges,
                counters.counts.txns
            ),
            (2, 1, 1)
        );
    }

    #[test]
    fn a_txn_counts_its_compares_and_the_branch_taken() {
        let txn = TxnRequest {
            compare: vec![crate::mvcc::Compare {
                key: bytes::Bytes::from_static(b"k"),
                range_end: bytes::Bytes::new(),
                result: crate::mvcc::CompareResult::Equal,
                target: crate::mvcc::CompareTarget::Version(0),
            }],
            success: vec![put(false), put(false)],
            failure: vec![RequestOp::Range(RangeRequest::default())],
        };
        let taken = |succeeded: bool, responses: Vec<ResponseOp>| {
            MvccOps::txn(
                &txn,
                &TxnResponse {
                    succeeded,
                    responses,
                    ..TxnResponse::default()
                },
            )
        };
        let put_answer = || ResponseOp::Put(crate::mvcc::PutResponse::default());
        assert_eq!(
            taken(true, vec![put_answer(), put_answer()]),
            MvccOps {
                ranges: 1,
                puts: 2,
                deletes: 0
            }
        );
        let range_answer = ResponseOp::Range(crate::mvcc::RangeResponse::default());
        assert_eq!(
            taken(false, vec![range_answer]),
            MvccOps {
                ranges: 2,
                puts: 0,
                deletes: 0
            }
        );
    }

    #[test]
    fn slow_requests_are_counted_by_the_member_clock() {
        let mut counters = Counters::default();
        let range = ClientRequest::Range(RangeRequest::default());
        counters.request_taken(1, &range, Instant::from_millis(1_000));
        counters.request_taken(2, &range, Instant::from_millis(1_000));
        counters.request_taken(3, &ClientRequest::Status, Instant::from_millis(1_000));
        counters.request_answered(1, Instant::from_millis(1_000 + SLOW_REQUEST_MS));
        counters.request_answered(2, Instant::from_millis(1_001 + SLOW_REQUEST_MS));
        counters.request_answered(3, Instant::from_millis(9_000));
        assert_eq!(counters.counts.slow_requests, 1);
        assert!(counters.taken.is_empty());
    }

    #[test]
    fn leader_changes_count_each_new_known_leader() {
        let mut counters = Counters::default();
        for leader in [NO_NODE, 1, 1, NO_NODE, 1, 2, NO_NODE, 3] {
            counters.leader_known(leader);
        }
        // As etcd: 1 (first seen), 1 again after a time without a leader,
        // 2, 3.
        assert_eq!(counters.counts.leader_changes, 4);
    }
}
