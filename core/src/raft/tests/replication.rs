//! Replication and commitment: Raft §5.3, §5.4.2, §7; flow control; leader
//! transfer (dissertation §3.10).

use super::*;

fn append(prev_index: u64, prev_term: u64, entries: Vec<Entry>, commit: u64) -> MessageBody {
    MessageBody::Append {
        prev_index,
        prev_term,
        entries,
        commit,
    }
}

#[test]
fn section_5_3_the_leader_appends_a_proposal_and_replicates_it_before_its_own_fsync() {
    let mut node = leader(&[1, 2, 3]);
    ack(&mut node, 2, 1);
    settle(&mut node);
    let proposed = node
        .propose(Bytes::from_static(b"x"))
        .expect("leader accepts");
    assert_eq!(proposed, Proposed::Appended { index: 2, term: 1 });
    let ready = ready(&mut node);
    let write = ready.write.clone().expect("the entry is written");
    let x = Entry {
        term: 1,
        index: 2,
        kind: EntryKind::Normal,
        data: Bytes::from_static(b"x"),
    };
    assert_eq!(write.entries, vec![x.clone()]);
    // Follower 2 is replicating: it gets the entry right away, in parallel with
    // the leader's own write. Follower 3 is still probing with the no-op.
    assert_eq!(
        ready.messages,
        vec![Outgoing {
            message: message(1, 2, 1, append(1, 1, vec![x], 1)),
            after: None
        }]
    );
}

#[test]
fn section_5_3_commit_needs_a_durable_majority_including_the_leaders_own_write() {
    let mut node = leader(&[1, 2, 3]);
    node.propose(Bytes::from_static(b"x")).expect("leader");
    let ready = ready(&mut node);
    let write = ready.write.expect("entry 2 is written");
    ack(&mut node, 2, 2);
    assert_eq!(
        node.committed(),
        1,
        "entry 2 is on one follower, not yet durable on the leader"
    );
    node.handle_persisted(write.id);
    assert_eq!(node.committed(), 2);
}

#[test]
fn section_5_3_a_follower_refuses_entries_whose_predecessor_it_lacks_and_hints_where_to_go() {
    // Follower log: terms 1 1 2 2 2; leader probes at (6, 3).
    let log = vec![
        entry(1, 1),
        entry(2, 1),
        entry(3, 2),
        entry(4, 2),
        entry(5, 2),
    ];
    let mut node = node_with(
        config(1),
        &[1, 2, 3],
        HardState {
            term: 3,
            vote: 0,
            commit: 1,
        },
        log,
    );
    node.handle_message(message(2, 1, 3, append(6, 3, vec![entry(7, 3)], 1)));
    let sent = messages(&settle(&mut node));
    let hint = RejectHint { index: 5, term: 2 };
    assert_eq!(
        sent,
        vec![message(
            1,
            2,
            3,
            MessageBody::AppendResponse {
                index: 6,
                reject: Some(hint)
            }
        )]
    );
    // Probing at (5, 3): the follower's entry 5 is of term 2, so it points the
    // leader at its last entry of a term ≤ 3; the leader searches its own log.
    node.handle_message(message(2, 1, 3, append(5, 3, vec![entry(6, 3)], 1)));
    let sent = messages(&settle(&mut node));
    assert_eq!(
        sent,
        vec![message(
            1,
            2,
            3,
            MessageBody::AppendResponse {
                index: 5,
                reject: Some(RejectHint { index: 5, term: 2 })
            }
        )]
    );
}

#[test]
fn section_5_3_the_leader_skips_whole_terms_when_backtracking() {
    // Leader log: terms 1 1 2 2 2, then its no-op of term 4 at index 6.
    let log = vec![
        entry(1, 1),
        entry(2, 1),
        entry(3, 2),
        entry(4, 2),
        entry(5, 2),
    ];
    let mut config = config(1);
    config.pre_vote = false;
    let mut node = node_with(
        config,
        &[1, 2],
        HardState {
            term: 3,
            vote: 0,
            commit: 2,
        },
        log,
    );
    node.campaign();
    settle(&mut node);
    node.handle_message(message(
        2,
        1,
        4,
        MessageBody::VoteResponse {
            pre: false,
            granted: true,
        },
    ));
    settle(&mut node);
    assert_eq!(node.role(), Role::Leader);
    // The probe at prev 5 is refused: the follower holds terms 1 1 1 and
    // points at its index 3 of term 1. The leader's last index of a term ≤ 1
    // is 2, so it jumps straight there instead of trying 4 and 3.
    node.handle_message(message(
        2,
        1,
        4,
        MessageBody::AppendResponse {
            index: 5,
            reject: Some(RejectHint { index: 3, term: 1 }),
        },
    ));
    let sent = messages(&settle(&mut node));
    match &sent.first().expect("a new probe").body {
        MessageBody::Append {
            prev_index,
            prev_term,
            ..
        } => assert_eq!((*prev_index, *prev_term), (2, 1)),
        other => panic!("expected an append, got {other:?}"),
    }
}

#[test]
fn section_5_3_a_follower_drops_a_conflicting_suffix_and_acks_after_its_write() {
    let log = vec![entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)];
    let mut node = node_with(
        config(1),
        &[1, 2, 3],
        HardState {
            term: 2,
            vote: 0,
            commit: 2,
        },
        log,
    );
    let new = vec![entry(3, 3), entry(4, 3), entry(5, 3)];
    node.handle_message(message(2, 1, 3, append(2, 1, new.clone(), 4)));
    let ready = ready(&mut node);
    let write = ready.write.clone().expect("the new suffix is written");
    assert_eq!(write.entries, new);
    assert_eq!(
        ready.messages,
        vec![Outgoing {
            message: message(
                1,
                2,
                3,
                MessageBody::AppendResponse {
                    index: 5,
                    reject: None
                }
            ),
            after: Some(write.id),
        }],
        "an append is acknowledged only once durable"
    );
    assert_eq!(node.committed(), 4);
    assert_eq!(node.log_term(3), Some(3));
    assert!(
        ready.committed_entries.iter().all(|e| e.index <= 2),
        "replaced entries are not applied before durable"
    );
    node.handle_persisted(write.id);
    let applied = ready_indexes(&mut node);
    assert_eq!(applied, vec![3, 4]);
}

fn ready_indexes(node: &mut RawNode) -> Vec<u64> {
    settle(node)
        .iter()
        .flat_map(|r| r.committed_entries.iter().map(|e| e.index))
        .collect()
}

#[test]
fn section_5_4_2_figure_8_entries_of_earlier_terms_are_not_committed_by_counting() {
    // Figure 8 (c): leader 1 of term 4 holds entry 2 of term 2, replicated to
    // a majority; it must not commit it until an entry of term 4 is too.
    let log = vec![entry(1, 1), entry(2, 2)];
    let mut config = config(1);
    config.pre_vote = false;
    let mut node = node_with(
        config,
        &[1, 2, 3, 4, 5],
        HardState {
            term: 3,
            vote: 0,
            commit: 1,
        },
        log,
    );
    node.campaign();
    settle(&mut node);
    for voter in [2, 3] {
        node.handle_message(message(
            voter,
            1,
            4,
            MessageBody::VoteResponse {
                pre: false,
                granted: true,
            },
        ));
    }
    settle(&mut node);
    assert_eq!(node.role(), Role::Leader);
    assert_eq!(node.term(), 4);
    // Followers 2 and 3 hold entry 2 (term 2): with the leader, a majority.
    ack(&mut node, 2, 2);
    ack(&mut node, 3, 2);
    settle(&mut node);
    assert_eq!(
        node.committed(),
        1,
        "entry 2 of term 2 is not committed by counting replicas"
    );
    // Once the no-op of term 4 (index 3) is on a majority, both commit.
    ack(&mut node, 2, 3);
    ack(&mut node, 3, 3);
    assert_eq!(node.committed(), 3);
}

#[test]
fn section_5_3_the_leader_never_tells_a_follower_to_commit_beyond_its_match() {
    let mut node = leader(&[1, 2, 3]);
    node.propose(Bytes::from_static(b"x")).expect("leader");
    settle(&mut node);
    ack(&mut node, 2, 2);
    settle(&mut node);
    assert_eq!(node.committed(), 2);
    tick(&mut node, 1);
    let sent = messages(&settle(&mut node));
    assert!(sent.contains(&message(
        1,
        2,
        1,
        MessageBody::Heartbeat {
            commit: 2,
            read_round: 0
        }
    )));
    assert!(sent.contains(&message(
        1,
        3,
        1,
        MessageBody::Heartbeat {
            commit: 0,
            read_round: 0
        }
    )));
}

#[test]
fn flow_control_bounds_appends_in_flight_and_bytes_per_message() {
    let mut config = config(1);
    config.pre_vote = false;
    config.max_inflight_messages = 2;
    config.max_message_bytes = 40;
    let mut node = node_with(config, &[1, 2], HardState::default(), Vec::new());
    node.campaign();
    settle(&mut node);
    node.handle_message(message(
        2,
        1,
        1,
        MessageBody::VoteResponse {
            pre: false,
            granted: true,
        },
    ));
    settle(&mut node);
    ack(&mut node, 2, 1);
    settle(&mut node);
    for _ in 0..10 {
        node.propose(Bytes::from_static(b"0123456789"))
            .expect("leader");
    }
    let sent = messages(&settle(&mut node));
    let appends: Vec<usize> = sent
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::Append { entries, .. } => Some(entries.len()),
            _ => None,
        })
        .collect();
    // 27 bytes per entry against a 40-byte budget: one entry per message, and
    // two messages in flight.
    assert_eq!(appends, vec![1, 1]);
    ack(&mut node, 2, 2);
    let sent = messages(&settle(&mut node));
    assert_eq!(
        sent.iter()
            .filter(|m| matches!(m.body, MessageBody::Append { .. }))
            .count(),
        1,
        "one slot freed"
    );
}

#[test]
fn section_7_a_follower_behind_the_compacted_log_gets_the_snapshot() {
    let mut node = leader(&[1, 2, 3]);
    ack(&mut node, 3, 1);
    for _ in 0..4 {
        node.propose(Bytes::from_static(b"x")).expect("leader");
    }
    settle(&mut node);
    ack(&mut node, 3, 5);
    settle(&mut node);
    assert_eq!(node.applied(), 5);
    let meta = node.snapshot_meta();
    node.handle_snapshot_saved(meta.clone());
    node.compact_log(4);
    // Follower 2 never answered the first probe (at index 1, now compacted):
    // once it shows signs of life the leader sends the snapshot instead.
    node.handle_message(message(
        2,
        1,
        1,
        MessageBody::HeartbeatResponse { read_round: 0 },
    ));
    let sent = messages(&settle(&mut node));
    assert!(
        sent.contains(&message(1, 2, 1, MessageBody::Snapshot { meta })),
        "sent: {sent:?}"
    );
    assert_eq!(
        node.progress(2).map(|p| p.state),
        Some(ProgressState::Snapshot { pending_index: 5 })
    );
    // Until the transport reports on the snapshot, nothing more is sent to 2.
    node.propose(Bytes::from_static(b"y")).expect("leader");
    let sent = messages(&settle(&mut node));
    assert!(
        sent.iter().all(|m| m.to != 2),
        "paused while the snapshot is in flight: {sent:?}"
    );
    node.report_snapshot(2, true);
    assert_eq!(
        node.progress(2).map(|p| (p.state, p.next)),
        Some((ProgressState::Probe, 6))
    );
}

#[test]
fn section_7_a_follower_installs_a_snapshot_and_answers_after_it_is_durable() {
    let mut node = node_with(
        config(2),
        &[1, 2],
        HardState {
            term: 1,
            vote: 0,
            commit: 0,
        },
        vec![entry(1, 1)],
    );
    let meta = SnapshotMeta {
        index: 10,
        term: 1,
        conf_state: ConfState::with_voters([1, 2]),
    };
    node.handle_message(message(
        1,
        2,
        1,
        MessageBody::Snapshot { meta: meta.clone() },
    ));
    let ready = ready(&mut node);
    let write = ready.write.clone().expect("the snapshot is written");
    assert_eq!(write.snapshot, Some(meta));
    assert_eq!(
        ready.messages,
        vec![Outgoing {
            message: message(
                2,
                1,
                1,
                MessageBody::AppendResponse {
                    index: 10,
                    reject: None
                }
            ),
            after: Some(write.id),
        }]
    );
    assert_eq!(
        (node.committed(), node.applied(), node.last_index()),
        (10, 10, 10)
    );
}

#[test]
fn dissertation_3_10_leader_transfer_brings_the_target_up_to_date_then_times_it_out() {
    let mut node = leader(&[1, 2, 3]);
    settle(&mut node);
    node.transfer_leader(2).expect("2 is a voter");
    assert_eq!(
        node.propose(Bytes::from_static(b"x")),
        Err(ProposeError::TransferInProgress)
    );
    settle(&mut node);
    ack(&mut node, 2, 1);
    let sent = messages(&settle(&mut node));
    assert!(
        sent.contains(&message(1, 2, 1, MessageBody::TimeoutNow)),
        "sent: {sent:?}"
    );
    // The target campaigns at once, skipping pre-vote, marked as a transfer.
    let mut target = node_with(
        config(2),
        &[1, 2, 3],
        HardState {
            term: 1,
            vote: 1,
            commit: 0,
        },
        vec![noop(1, 1)],
    );
    target.handle_message(message(1, 2, 1, MessageBody::TimeoutNow));
    let sent = messages(&settle(&mut target));
    assert!(sent.contains(&message(
        2,
        3,
        2,
        MessageBody::Vote {
            pre: false,
            last_index: 1,
            last_term: 1,
            transfer: true
        }
    )));
}

#[test]
fn dissertation_3_10_an_unfinished_transfer_is_abandoned_after_an_election_timeout() {
    let mut node = leader(&[1, 2, 3]);
    node.handle_message(message(
        2,
        1,
        1,
        MessageBody::HeartbeatResponse { read_round: 0 },
    ));
    node.transfer_leader(3).expect("voter");
    tick(&mut node, 10);
    assert!(
        node.propose(Bytes::from_static(b"x")).is_ok(),
        "proposals are taken again"
    );
    assert_eq!(node.transfer_leader(9), Err(TransferError::NotVoter(9)));
}

#[test]
fn proposals_are_forwarded_to_the_leader_or_refused_without_one() {
    let mut node = node(2, &[1, 2, 3]);
    assert_eq!(
        node.propose(Bytes::from_static(b"x")),
        Err(ProposeError::NoLeader)
    );
    node.handle_message(message(
        1,
        2,
        1,
        MessageBody::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    ));
    settle(&mut node);
    assert_eq!(
        node.propose(Bytes::from_static(b"a")),
        Ok(Proposed::Forwarded { leader: 1 })
    );
    assert_eq!(
        node.propose(Bytes::from_static(b"b")),
        Ok(Proposed::Forwarded { leader: 1 })
    );
    let sent = messages(&settle(&mut node));
    let forwarded: Vec<Bytes> = sent
        .iter()
        .flat_map(|m| match &m.body {
            MessageBody::Propose { entries } => entries.iter().map(|e| e.data.clone()).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(
        forwarded,
        vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
        "batched in one message"
    );
    // The leader appends forwarded proposals in its own term.
    let mut leader = leader(&[1, 2, 3]);
    leader.handle_message(message(
        2,
        1,
        1,
        MessageBody::Propose {
            entries: vec![Entry {
                term: 0,
                index: 0,
                kind: EntryKind::Normal,
                data: Bytes::from_static(b"a"),
            }],
        },
    ));
    assert_eq!(
        leader.log_entry(2).map(|e| (e.term, e.data.clone())),
        Some((1, Bytes::from_static(b"a")))
    );
}
