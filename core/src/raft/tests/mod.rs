//! Unit tests that drive one node by hand and assert the exact actions of each
//! step. Each test names the section of the Raft paper ("In Search of an
//! Understandable Consensus Algorithm", extended version) or of Ongaro's
//! dissertation ("Consensus: Bridging Theory and Practice") that it checks.

mod election;
mod membership;
mod reads;
mod replication;

use bytes::Bytes;

use super::*;
use crate::time::Instant;

/// A node of a cluster of `voters`, at term 0 with an empty log.
pub(super) fn node(id: NodeId, voters: &[NodeId]) -> RawNode {
    node_with(config(id), voters, HardState::default(), Vec::new())
}

/// A node of a cluster of `voters` at `term`, with an empty log and no vote.
pub(super) fn node_at_term(id: NodeId, voters: &[NodeId], term: u64) -> RawNode {
    let hard_state = HardState {
        term,
        vote: 0,
        commit: 0,
    };
    node_with(config(id), voters, hard_state, Vec::new())
}

pub(super) fn config(id: NodeId) -> Config {
    Config::new(id, 7)
}

pub(super) fn node_with(
    config: Config,
    voters: &[NodeId],
    hard_state: HardState,
    entries: Vec<Entry>,
) -> RawNode {
    let restored = Restored {
        hard_state,
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            conf_state: ConfState::with_voters(voters.iter().copied()),
        },
        entries,
    };
    RawNode::restart(config, restored, Instant::ZERO).expect("valid state")
}

pub(super) fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::from(format!("e{index}")),
    }
}

pub(super) fn noop(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::new(),
    }
}

/// Takes one ready, which must exist.
pub(super) fn ready(node: &mut RawNode) -> Ready {
    node.poll_ready().expect("a ready")
}

/// Polls every ready, reporting each write durable at once, and returns them.
pub(super) fn settle(node: &mut RawNode) -> Vec<Ready> {
    let mut readies = Vec::new();
    while let Some(ready) = node.poll_ready() {
        if let Some(write) = &ready.write {
            node.handle_persisted(write.id);
        }
        readies.push(ready);
    }
    readies
}

/// The messages of some readies, without their write dependency.
pub(super) fn messages(readies: &[Ready]) -> Vec<Message> {
    readies
        .iter()
        .flat_map(|r| r.messages.iter().map(|o| o.message.clone()))
        .collect()
}

pub(super) fn message(from: NodeId, to: NodeId, term: u64, body: MessageBody) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

/// Fires `count` ticks.
pub(super) fn tick(node: &mut RawNode, count: u32) {
    for _ in 0..count {
        let at = node.next_deadline();
        node.tick(at);
    }
}

/// Makes node 1 of `voters` the leader of term 1 with its no-op (index 1)
/// durable but not yet replicated, and drains what that produced.
pub(super) fn leader(voters: &[NodeId]) -> RawNode {
    let mut config = config(1);
    config.pre_vote = false;
    let mut node = node_with(config, voters, HardState::default(), Vec::new());
    node.campaign();
    settle(&mut node);
    for &voter in voters.iter().filter(|&&v| v != 1) {
        node.handle_message(message(
            voter,
            1,
            1,
            MessageBody::VoteResponse {
                pre: false,
                granted: true,
            },
        ));
    }
    settle(&mut node);
    assert_eq!(node.role(), Role::Leader);
    node
}

/// Acknowledges the leader's log up to `index` from `from`.
pub(super) fn ack(node: &mut RawNode, from: NodeId, index: u64) {
    let term = node.term();
    node.handle_message(message(
        from,
        node.id(),
        term,
        MessageBody::AppendResponse {
            index,
            reject: None,
        },
    ));
}

#[test]
fn same_inputs_give_the_same_actions() {
    // Determinism (DESIGN.md): two nodes fed identical inputs emit identical
    // readies, byte for byte.
    let run = || {
        let mut node = node(1, &[1, 2, 3]);
        let mut out = Vec::new();
        for round in 0..40u64 {
            node.tick(Instant::from_millis(round * 100));
            if round % 7 == 0 {
                let _ = node.propose(Bytes::from_static(b"x"));
            }
            out.extend(settle(&mut node));
        }
        format!("{out:?}")
    };
    assert_eq!(run(), run());
}

#[test]
fn a_long_pause_counts_as_at_most_two_election_timeouts() {
    let mut node = leader(&[1]);
    let start = node.next_deadline();
    settle(&mut node);
    // Ten minutes without a tick: the node catches up in bounded work and
    // schedules its next tick one interval after now.
    let later = start + 600_000;
    node.tick(later);
    assert_eq!(node.next_deadline(), later + 100);
    assert_eq!(
        node.role(),
        Role::Leader,
        "a single-voter leader stays leader"
    );
}

#[test]
fn restore_refuses_inconsistent_state() {
    let restored = Restored {
        hard_state: HardState {
            term: 1,
            vote: 0,
            commit: 5,
        },
        snapshot: SnapshotMeta::default(),
        entries: vec![entry(1, 1)],
    };
    assert_eq!(
        RawNode::restart(config(1), restored, Instant::ZERO).err(),
        Some(RestoreError::CommitBeyondLog {
            commit: 5,
            last_index: 1
        })
    );
    let gap = Restored {
        hard_state: HardState {
            term: 1,
            vote: 0,
            commit: 0,
        },
        snapshot: SnapshotMeta::default(),
        entries: vec![entry(2, 1)],
    };
    assert!(matches!(
        RawNode::restart(config(1), gap, Instant::ZERO),
        Err(RestoreError::EntriesNotContiguous { .. })
    ));
    let mut bad = config(1);
    bad.election_ticks = 1;
    assert!(matches!(
        RawNode::restart(bad, Restored::default(), Instant::ZERO),
        Err(RestoreError::Config(
            ConfigError::ElectionNotAboveHeartbeat { .. }
        ))
    ));
}

#[test]
fn bootstrap_writes_the_initial_membership_as_committed_entries() {
    let members = [(1, Bytes::from_static(b"a")), (2, Bytes::from_static(b"b"))];
    let mut node = RawNode::bootstrap(config(1), &members, Instant::ZERO).expect("valid");
    let first = ready(&mut node);
    let write = first
        .write
        .clone()
        .expect("the bootstrap entries are written first");
    assert_eq!(write.entries.len(), 2);
    assert_eq!(
        write.hard_state,
        Some(HardState {
            term: 1,
            vote: 0,
            commit: 2
        })
    );
    assert!(
        first.committed_entries.is_empty(),
        "nothing is applied before it is durable"
    );
    node.handle_persisted(write.id);
    let second = ready(&mut node);
    assert_eq!(second.committed_entries.len(), 2);
    assert_eq!(node.conf_state().voters, vec![1, 2]);
}
