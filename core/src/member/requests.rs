//! Client requests this member has taken and not answered yet, each with
//! its deadline: proposals waiting to be applied, linearizable reads
//! waiting for their read index and then for it to be applied, and lease
//! queries waiting for the leader (see `leases.rs`).

use std::collections::BTreeMap;

use super::client::ClientToken;
use super::leases::WaitingLeaseQuery;
use crate::auth::{AuthQuery, Identity};
use crate::mvcc::{RangeRequest, TxnRequest};
use crate::raft::ReadId;
use crate::time::Instant;

/// A proposal of this member waiting to be applied.
#[derive(Clone, Copy, Debug)]
struct Pending {
    token: ClientToken,
    deadline: Instant,
}

/// A linearizable read waiting for its read index, then for that index to be
/// applied.
#[derive(Clone, Debug)]
pub(super) struct WaitingRead {
    pub token: ClientToken,
    pub who: Identity,
    pub request: ReadRequest,
    pub deadline: Instant,
}

#[derive(Clone, Debug)]
pub(super) enum ReadRequest {
    Range(RangeRequest),
    Txn(TxnRequest),
    Auth(AuthQuery),
    /// A v2 `GET` with `quorum=true`.
    V2Get {
        path: String,
        recursive: bool,
        sorted: bool,
    },
}

/// Everything waiting for an answer.
///
/// Invariant: every token appears at most once across all waiting lists.
#[derive(Debug)]
pub(super) struct Requests {
    pending: BTreeMap<u64, Pending>,
    /// Sequence number of this member's next proposal.
    next_seq: u64,
    reads_waiting_index: BTreeMap<ReadId, WaitingRead>,
    reads_waiting_apply: BTreeMap<u64, Vec<WaitingRead>>,
    next_read: ReadId,
    /// Keep-alives and TTL queries the leader cannot answer yet.
    pub lease_queries: Vec<WaitingLeaseQuery>,
}

impl Requests {
    /// `first_seq` must be above every sequence number an earlier
    /// incarnation of this member used.
    pub fn new(first_seq: u64) -> Requests {
        Requests {
            pending: BTreeMap::new(),
            next_seq: first_seq,
            reads_waiting_index: BTreeMap::new(),
            reads_waiting_apply: BTreeMap::new(),
            next_read: 1,
            lease_queries: Vec::new(),
        }
    }

    /// Numbers this member's next proposal.
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Proposal `seq` was accepted by Raft; `token` waits for it.
    pub fn wait_for_apply(&mut self, seq: u64, token: ClientToken, deadline: Instant) {
        self.pending.insert(seq, Pending { token, deadline });
    }

    /// The client waiting for proposal `seq`, if any.
    pub fn applied(&mut self, seq: u64) -> Option<ClientToken> {
        self.pending.remove(&seq).map(|pending| pending.token)
    }

    pub fn next_read_id(&mut self) -> ReadId {
        let id = self.next_read;
        self.next_read += 1;
        id
    }

    pub fn wait_for_read_index(&mut self, id: ReadId, read: WaitingRead) {
        self.reads_waiting_index.insert(id, read);
    }

    pub fn read_index_known(&mut self, id: ReadId) -> Option<WaitingRead> {
        self.reads_waiting_index.remove(&id)
    }

    pub fn wait_for_index(&mut self, index: u64, read: WaitingRead) {
        self.reads_waiting_apply
            .entry(index)
            .or_default()
            .push(read);
    }

    /// Reads whose index is applied now, in index order.
    pub fn reads_ready(&mut self, applied: u64) -> Vec<WaitingRead> {
        let mut ready = Vec::new();
        while let Some(entry) = self.reads_waiting_apply.first_entry() {
            if *entry.key() > applied {
                break;
            }
            ready.extend(entry.remove());
        }
        ready
    }

    /// Removes every proposal and read whose deadline has passed and
    /// returns their tokens.
    pub fn expired(&mut self, now: Instant) -> Vec<ClientToken> {
        let mut timed_out: Vec<ClientToken> = Vec::new();
        self.pending.retain(|_, p| {
            let keep = p.deadline > now;
            if !keep {
                timed_out.push(p.token);
            }
            keep
        });
        self.reads_waiting_index.retain(|_, r| {
            let keep = r.deadline > now;
            if !keep {
                timed_out.push(r.token);
            }
            keep
        });
        for reads in self.reads_waiting_apply.values_mut() {
            reads.retain(|read| {
                let keep = read.deadline > now;
                if !keep {
                    timed_out.push(read.token);
                }
                keep
            });
        }
        self.reads_waiting_apply
            .retain(|_, reads| !reads.is_empty());
        timed_out
    }

    /// Proposals of this member's clients waiting to be applied.
    pub fn proposals_pending(&self) -> usize {
        self.pending.len()
    }
}
