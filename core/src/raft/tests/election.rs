//! Election: Raft §5.1, §5.2, §5.4.1; pre-vote (dissertation §9.6); the leader
//! lease of check-quorum (dissertation §4.2.3, §6.2).

use super::*;

fn no_pre_vote(id: NodeId) -> Config {
    let mut config = config(id);
    config.pre_vote = false;
    config
}

#[test]
fn section_5_1_a_higher_term_turns_a_leader_into_a_follower() {
    let mut node = leader(&[1, 2, 3]);
    node.handle_message(message(
        2,
        1,
        5,
        MessageBody::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    ));
    assert_eq!(
        node.role_state(),
        RoleState {
            role: Role::Follower,
            term: 5,
            leader: 2
        }
    );
    let ready = ready(&mut node);
    let write = ready.write.expect("the new term is written");
    assert_eq!(
        write.hard_state,
        Some(HardState {
            term: 5,
            vote: 0,
            commit: 0
        })
    );
}

#[test]
fn section_5_1_a_stale_leader_is_told_the_current_term() {
    let mut node = node_at_term(1, &[1, 2, 3], 4);
    node.handle_message(message(
        2,
        1,
        2,
        MessageBody::Append {
            prev_index: 0,
            prev_term: 0,
            entries: vec![],
            commit: 0,
        },
    ));
    let ready = ready(&mut node);
    assert_eq!(
        messages(&[ready]),
        vec![message(
            1,
            2,
            4,
            MessageBody::AppendResponse {
                index: 0,
                reject: None
            }
        )]
    );
    assert_eq!(node.term(), 4);
}

#[test]
fn section_5_2_election_timeouts_are_randomized_within_one_to_two_timeouts() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..50 {
        let mut config = config(1);
        config.seed = seed;
        let mut node = node_with(config, &[1, 2, 3], HardState::default(), Vec::new());
        let mut ticks = 0;
        while node.role() == Role::Follower {
            tick(&mut node, 1);
            ticks += 1;
            assert!(
                ticks < 20,
                "campaigned after {ticks} ticks, beyond 2 × election"
            );
        }
        assert!(
            ticks >= 10,
            "campaigned after {ticks} ticks, before the election timeout"
        );
        seen.insert(ticks);
    }
    assert!(seen.len() > 3, "timeouts are spread out, got {seen:?}");
}

#[test]
fn section_5_2_a_candidate_votes_for_itself_and_asks_every_voter() {
    let mut node = node_with(
        no_pre_vote(1),
        &[1, 2, 3],
        HardState {
            term: 1,
            vote: 0,
            commit: 0,
        },
        vec![entry(1, 1)],
    );
    node.campaign();
    assert_eq!(node.role(), Role::Candidate);
    let ready = ready(&mut node);
    let write = ready.write.clone().expect("term and vote are written");
    assert_eq!(
        write.hard_state,
        Some(HardState {
            term: 2,
            vote: 1,
            commit: 0
        })
    );
    let vote = |to| Outgoing {
        message: message(
            1,
            to,
            2,
            MessageBody::Vote {
                pre: false,
                last_index: 1,
                last_term: 1,
                transfer: false,
            },
        ),
        after: None,
    };
    assert_eq!(ready.messages, vec![vote(2), vote(3)]);
    // One peer's vote is not a majority until our own vote is durable.
    node.handle_message(message(
        2,
        1,
        2,
        MessageBody::VoteResponse {
            pre: false,
            granted: true,
        },
    ));
    assert_eq!(
        node.role(),
        Role::Candidate,
        "own vote counts only once durable"
    );
    node.handle_persisted(write.id);
    assert_eq!(node.role(), Role::Leader);
}

#[test]
fn section_5_2_a_new_leader_appends_a_no_op_and_replicates_it() {
    let mut node = leader(&[1, 2, 3]);
    assert_eq!(node.last_index(), 1);
    assert_eq!(node.log_entry(1), Some(&noop(1, 1)));
    // Replication of the no-op went out when leadership began (the leader's
    // fsync runs in parallel): the next heartbeat round carries no entries.
    tick(&mut node, 1);
    let sent = messages(&settle(&mut node));
    assert_eq!(
        sent,
        vec![
            message(
                1,
                2,
                1,
                MessageBody::Heartbeat {
                    commit: 0,
                    read_round: 0
                }
            ),
            message(
                1,
                3,
                1,
                MessageBody::Heartbeat {
                    commit: 0,
                    read_round: 0
                }
            ),
        ]
    );
}

#[test]
fn section_5_2_a_vote_is_granted_once_per_term_and_waits_for_its_write() {
    let mut node = node(1, &[1, 2, 3]);
    let request = |from| {
        message(
            from,
            1,
            3,
            MessageBody::Vote {
                pre: false,
                last_index: 0,
                last_term: 0,
                transfer: false,
            },
        )
    };
    node.handle_message(request(2));
    let first = ready(&mut node);
    let write = first.write.clone().expect("the vote is written");
    assert_eq!(
        write.hard_state,
        Some(HardState {
            term: 3,
            vote: 2,
            commit: 0
        })
    );
    assert_eq!(
        first.messages,
        vec![Outgoing {
            message: message(
                1,
                2,
                3,
                MessageBody::VoteResponse {
                    pre: false,
                    granted: true
                }
            ),
            after: Some(write.id),
        }],
        "a granted vote is sent only once it is durable"
    );
    node.handle_message(request(3));
    let second = ready(&mut node);
    assert_eq!(
        messages(&[second]),
        vec![message(
            1,
            3,
            3,
            MessageBody::VoteResponse {
                pre: false,
                granted: false
            }
        )]
    );
}

#[test]
fn section_5_4_1_a_vote_is_refused_to_a_less_up_to_date_log() {
    let log = vec![entry(1, 1), entry(2, 2)];
    let cases = [
        (2, 1, false), // lower last term
        (1, 2, false), // same term, shorter
        (2, 2, true),  // same
        (1, 3, true),  // higher last term, shorter log
    ];
    for (last_index, last_term, granted) in cases {
        let mut node = node_with(
            config(1),
            &[1, 2, 3],
            HardState {
                term: 2,
                vote: 0,
                commit: 0,
            },
            log.clone(),
        );
        node.handle_message(message(
            2,
            1,
            3,
            MessageBody::Vote {
                pre: false,
                last_index,
                last_term,
                transfer: false,
            },
        ));
        let sent = messages(&settle(&mut node));
        assert_eq!(
            sent,
            vec![message(
                1,
                2,
                3,
                MessageBody::VoteResponse {
                    pre: false,
                    granted
                }
            )],
            "candidate log ({last_index}, {last_term})"
        );
    }
}

#[test]
fn section_5_2_a_candidate_that_loses_becomes_a_follower() {
    let mut node = node_with(no_pre_vote(1), &[1, 2, 3], HardState::default(), Vec::new());
    node.campaign();
    settle(&mut node);
    node.handle_message(message(
        2,
        1,
        1,
        MessageBody::VoteResponse {
            pre: false,
            granted: false,
        },
    ));
    node.handle_message(message(
        3,
        1,
        1,
        MessageBody::VoteResponse {
            pre: false,
            granted: false,
        },
    ));
    assert_eq!(node.role(), Role::Follower);
    assert_eq!(node.term(), 1);
}

#[test]
fn section_5_2_a_candidate_follows_a_leader_of_its_term() {
    let mut node = node_with(no_pre_vote(1), &[1, 2, 3], HardState::default(), Vec::new());
    node.campaign();
    settle(&mut node);
    node.handle_message(message(
        2,
        1,
        1,
        MessageBody::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    ));
    assert_eq!(
        node.role_state(),
        RoleState {
            role: Role::Follower,
            term: 1,
            leader: 2
        }
    );
}

#[test]
fn dissertation_9_6_pre_vote_changes_no_term_until_it_would_win() {
    let mut node = node_at_term(1, &[1, 2, 3], 4);
    node.campaign();
    assert_eq!(node.role(), Role::PreCandidate);
    let first = ready(&mut node);
    assert!(first.write.is_none(), "a pre-vote writes nothing");
    let pre_vote = |to| {
        message(
            1,
            to,
            5,
            MessageBody::Vote {
                pre: true,
                last_index: 0,
                last_term: 0,
                transfer: false,
            },
        )
    };
    assert_eq!(messages(&[first]), vec![pre_vote(2), pre_vote(3)]);
    assert_eq!(node.term(), 4);
    node.handle_message(message(
        2,
        1,
        5,
        MessageBody::VoteResponse {
            pre: true,
            granted: true,
        },
    ));
    assert_eq!(
        node.role(),
        Role::Candidate,
        "a majority of pre-votes starts the real campaign"
    );
    assert_eq!(node.term(), 5);
}

#[test]
fn dissertation_9_6_a_pre_vote_does_not_bump_the_voters_term() {
    let mut node = node_at_term(1, &[1, 2, 3], 2);
    node.handle_message(message(
        3,
        1,
        3,
        MessageBody::Vote {
            pre: true,
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    ));
    let sent = messages(&settle(&mut node));
    assert_eq!(
        sent,
        vec![message(
            1,
            3,
            3,
            MessageBody::VoteResponse {
                pre: true,
                granted: true
            }
        )]
    );
    assert_eq!(node.term(), 2, "granting a pre-vote changes nothing");
}

#[test]
fn dissertation_4_2_3_a_follower_that_hears_its_leader_ignores_disruptive_candidates() {
    let mut node = node(1, &[1, 2, 3]);
    node.handle_message(message(
        2,
        1,
        3,
        MessageBody::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    ));
    settle(&mut node);
    // Node 3 was partitioned away and comes back campaigning in a higher term.
    node.handle_message(message(
        3,
        1,
        9,
        MessageBody::Vote {
            pre: false,
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    ));
    node.handle_message(message(
        3,
        1,
        9,
        MessageBody::Vote {
            pre: true,
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    ));
    assert!(
        messages(&settle(&mut node)).is_empty(),
        "ignored without an answer"
    );
    assert_eq!(
        node.role_state(),
        RoleState {
            role: Role::Follower,
            term: 3,
            leader: 2
        }
    );
    // A campaign the leader asked for (leader transfer) is heard.
    node.handle_message(message(
        3,
        1,
        4,
        MessageBody::Vote {
            pre: false,
            last_index: 0,
            last_term: 0,
            transfer: true,
        },
    ));
    assert_eq!(node.term(), 4);
}

#[test]
fn dissertation_6_2_a_leader_that_hears_no_majority_steps_down() {
    let mut node = leader(&[1, 2, 3]);
    for _ in 0..3 {
        node.handle_message(message(
            2,
            1,
            1,
            MessageBody::HeartbeatResponse { read_round: 0 },
        ));
        tick(&mut node, 10);
        assert_eq!(
            node.role(),
            Role::Leader,
            "two of three (with itself) is a majority"
        );
    }
    // An election timeout with no answer from anyone.
    tick(&mut node, 10);
    assert_eq!(
        node.role_state(),
        RoleState {
            role: Role::Follower,
            term: 1,
            leader: NO_NODE
        }
    );
}

#[test]
fn dissertation_6_2_a_leader_handing_over_still_steps_down_when_it_hears_no_majority() {
    // A leader cut off from everyone is asked, again and again, to hand
    // leadership over (a client removing it retries the removal, which
    // starts a new transfer each time the last one was abandoned). Handing
    // over must not put off check-quorum: it steps down within two election
    // timeouts of last hearing from a majority, as a leader not handing over
    // does. Otherwise it answers keep-alives as leader long after its
    // successor took over, past the extension the successor gives every
    // lease (simulator seed 4208: a lease kept alive was revoked).
    let mut node = leader(&[1, 2, 3]);
    node.handle_message(message(
        2,
        1,
        1,
        MessageBody::HeartbeatResponse { read_round: 0 },
    ));
    // Nothing is heard after this. Late in the check-quorum round, a
    // transfer starts; it is asked for again whenever it was abandoned.
    tick(&mut node, 9);
    for _ in 9..20 {
        let _ = node.transfer_leader(3);
        tick(&mut node, 1);
        settle(&mut node);
    }
    assert_eq!(
        node.role_state(),
        RoleState {
            role: Role::Follower,
            term: 1,
            leader: NO_NODE
        },
        "still leading two election timeouts after it last heard a majority"
    );
}

#[test]
fn a_learner_never_campaigns() {
    let restored = Restored {
        hard_state: HardState::default(),
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            conf_state: ConfState {
                voters: vec![1, 2],
                learners: vec![3],
            },
        },
        entries: Vec::new(),
    };
    let mut node = RawNode::restart(config(3), restored, Instant::ZERO).expect("valid");
    tick(&mut node, 100);
    assert_eq!(node.role(), Role::Follower);
    assert!(node.poll_ready().is_none_or(|r| r.messages.is_empty()));
}

/// The only voter has no one to wait for: it campaigns on its first tick
/// (etcd fast-forwards a single-member cluster's ticks), and wins once its
/// own vote is durable; with other voters, the first tick does nothing.
#[test]
fn the_only_voter_campaigns_on_its_first_tick() {
    let mut alone = node(1, &[1]);
    tick(&mut alone, 1);
    settle(&mut alone);
    assert_eq!(alone.role(), Role::Leader);

    let mut among_others = node(1, &[1, 2, 3]);
    tick(&mut among_others, 1);
    assert_eq!(among_others.role(), Role::Follower);
}
