//! Linearizable reads by ReadIndex (dissertation §6.4).

use super::*;

#[test]
fn dissertation_6_4_reads_wait_for_the_first_commit_of_the_leaders_term() {
    let mut node = leader(&[1, 2, 3]);
    node.read_index(7).expect("leader");
    let readies = settle(&mut node);
    assert!(readies.iter().all(|r| r.read_states.is_empty()));
    assert!(
        messages(&readies)
            .iter()
            .all(|m| !matches!(m.body, MessageBody::Heartbeat { .. })),
        "no round starts before the no-op commits"
    );
    ack(&mut node, 2, 1);
    let sent = messages(&settle(&mut node));
    assert!(sent.contains(&message(
        1,
        2,
        1,
        MessageBody::Heartbeat {
            commit: 1,
            read_round: 1
        }
    )));
    assert!(sent.contains(&message(
        1,
        3,
        1,
        MessageBody::Heartbeat {
            commit: 0,
            read_round: 1
        }
    )));
}

#[test]
fn dissertation_6_4_a_round_confirmed_by_a_majority_answers_every_read_batched_in_it() {
    let mut node = leader(&[1, 2, 3]);
    ack(&mut node, 2, 1);
    settle(&mut node);
    for id in 10..13 {
        node.read_index(id).expect("leader");
    }
    let sent = messages(&settle(&mut node));
    let heartbeats = sent
        .iter()
        .filter(|m| matches!(m.body, MessageBody::Heartbeat { .. }))
        .count();
    assert_eq!(heartbeats, 2, "three reads, one round");
    // A read asked after the round started waits for the next round.
    node.read_index(13).expect("leader");
    node.handle_message(message(
        3,
        1,
        1,
        MessageBody::HeartbeatResponse { read_round: 1 },
    ));
    let readies = settle(&mut node);
    let states: Vec<ReadState> = readies.iter().flat_map(|r| r.read_states.clone()).collect();
    assert_eq!(
        states,
        vec![
            ReadState { id: 10, index: 1 },
            ReadState { id: 11, index: 1 },
            ReadState { id: 12, index: 1 }
        ]
    );
    node.handle_message(message(
        2,
        1,
        1,
        MessageBody::HeartbeatResponse { read_round: 2 },
    ));
    let states: Vec<ReadState> = settle(&mut node)
        .iter()
        .flat_map(|r| r.read_states.clone())
        .collect();
    assert_eq!(states, vec![ReadState { id: 13, index: 1 }]);
}

#[test]
fn dissertation_6_4_a_single_voter_confirms_reads_at_once() {
    let mut node = leader(&[1]);
    node.read_index(1).expect("leader");
    let states: Vec<ReadState> = settle(&mut node)
        .iter()
        .flat_map(|r| r.read_states.clone())
        .collect();
    assert_eq!(states, vec![ReadState { id: 1, index: 1 }]);
}

#[test]
fn dissertation_6_4_a_follower_forwards_reads_and_serves_the_leaders_answer() {
    let mut node = node(2, &[1, 2, 3]);
    assert_eq!(node.read_index(1), Err(ReadError::NoLeader));
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
    node.read_index(5).expect("leader known");
    node.read_index(6).expect("leader known");
    let sent = messages(&settle(&mut node));
    assert_eq!(
        sent,
        vec![message(2, 1, 1, MessageBody::ReadIndex { ids: vec![5, 6] })]
    );
    node.handle_message(message(
        1,
        2,
        1,
        MessageBody::ReadIndexResponse {
            ids: vec![5, 6],
            index: 9,
        },
    ));
    let states: Vec<ReadState> = settle(&mut node)
        .iter()
        .flat_map(|r| r.read_states.clone())
        .collect();
    assert_eq!(
        states,
        vec![ReadState { id: 5, index: 9 }, ReadState { id: 6, index: 9 }]
    );
}

#[test]
fn dissertation_6_4_the_leader_answers_forwarded_reads_once_confirmed() {
    let mut node = leader(&[1, 2, 3]);
    ack(&mut node, 2, 1);
    settle(&mut node);
    node.handle_message(message(3, 1, 1, MessageBody::ReadIndex { ids: vec![4] }));
    settle(&mut node);
    node.handle_message(message(
        2,
        1,
        1,
        MessageBody::HeartbeatResponse { read_round: 1 },
    ));
    let sent = messages(&settle(&mut node));
    assert!(sent.contains(&message(
        1,
        3,
        1,
        MessageBody::ReadIndexResponse {
            ids: vec![4],
            index: 1
        }
    )));
}

#[test]
fn reads_fail_rather_than_hang_when_leadership_changes() {
    let mut node = leader(&[1, 2, 3]);
    ack(&mut node, 2, 1);
    settle(&mut node);
    node.read_index(1).expect("leader");
    settle(&mut node);
    node.handle_message(message(
        2,
        1,
        2,
        MessageBody::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    ));
    let failed: Vec<ReadId> = settle(&mut node)
        .iter()
        .flat_map(|r| r.failed_reads.clone())
        .collect();
    assert_eq!(failed, vec![1]);
    // A follower's forwarded read fails when its leader changes, or times out.
    node.read_index(2).expect("leader 2 known");
    settle(&mut node);
    node.handle_message(message(
        3,
        1,
        3,
        MessageBody::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    ));
    let failed: Vec<ReadId> = settle(&mut node)
        .iter()
        .flat_map(|r| r.failed_reads.clone())
        .collect();
    assert_eq!(failed, vec![2]);
    node.read_index(3).expect("leader 3 known");
    settle(&mut node);
    for _ in 0..50 {
        node.handle_message(message(
            3,
            1,
            3,
            MessageBody::Heartbeat {
                commit: 0,
                read_round: 0,
            },
        ));
        tick(&mut node, 1);
    }
    let failed: Vec<ReadId> = settle(&mut node)
        .iter()
        .flat_map(|r| r.failed_reads.clone())
        .collect();
    assert_eq!(failed, vec![3], "timed out after read_timeout_ticks");
}
