//! Membership changes (dissertation §4.1, §4.2.1) and learners.

use super::*;

fn change(kind: ConfChangeKind, node: NodeId) -> ConfChange {
    ConfChange {
        kind,
        node,
        context: Bytes::new(),
    }
}

#[test]
fn dissertation_4_1_one_membership_change_at_a_time() {
    let mut node = leader(&[1]);
    let index = node
        .propose_conf_change(change(ConfChangeKind::AddLearner, 2))
        .expect("valid");
    assert_eq!(index, 2);
    assert_eq!(
        node.propose_conf_change(change(ConfChangeKind::AddLearner, 3)),
        Err(ProposeError::ConfChangePending)
    );
    settle(&mut node);
    assert_eq!(
        node.conf_state(),
        &ConfState {
            voters: vec![1],
            learners: vec![2]
        }
    );
    assert!(node
        .propose_conf_change(change(ConfChangeKind::AddLearner, 3))
        .is_ok());
}

#[test]
fn dissertation_4_1_changes_that_make_no_sense_are_refused() {
    let mut node = leader(&[1, 2]);
    let refused = |node: &mut RawNode, kind, id| node.propose_conf_change(change(kind, id));
    assert!(matches!(
        refused(&mut node, ConfChangeKind::AddVoter, 2),
        Err(ProposeError::InvalidConfChange(_))
    ));
    assert!(matches!(
        refused(&mut node, ConfChangeKind::Remove, 9),
        Err(ProposeError::InvalidConfChange(_))
    ));
    assert!(matches!(
        refused(&mut node, ConfChangeKind::PromoteLearner, 2),
        Err(ProposeError::InvalidConfChange(_))
    ));
    assert!(matches!(
        refused(&mut node, ConfChangeKind::AddVoter, 0),
        Err(ProposeError::InvalidConfChange(_))
    ));
    let mut single = leader(&[1]);
    assert!(matches!(
        refused(&mut single, ConfChangeKind::Remove, 1),
        Err(ProposeError::InvalidConfChange(_))
    ));
    let mut follower = super::node(2, &[1, 2]);
    assert_eq!(
        follower.propose_conf_change(change(ConfChangeKind::AddVoter, 3)),
        Err(ProposeError::NotLeader { leader: None })
    );
}

#[test]
fn a_learner_is_promoted_only_once_caught_up() {
    let mut node = leader(&[1]);
    node.propose_conf_change(change(ConfChangeKind::AddLearner, 2))
        .expect("valid");
    settle(&mut node);
    for _ in 0..20 {
        node.propose(Bytes::from_static(b"x")).expect("leader");
    }
    settle(&mut node);
    assert_eq!(
        node.propose_conf_change(change(ConfChangeKind::PromoteLearner, 2)),
        Err(ProposeError::LearnerNotReady)
    );
    let last = node.last_index();
    ack(&mut node, 2, last);
    settle(&mut node);
    node.propose_conf_change(change(ConfChangeKind::PromoteLearner, 2))
        .expect("caught up");
    settle(&mut node);
    assert_eq!(node.conf_state(), &ConfState::with_voters([1, 2]));
}

#[test]
fn learners_replicate_but_do_not_count_towards_commit() {
    let mut node = leader(&[1, 2]);
    ack(&mut node, 2, 1);
    settle(&mut node);
    node.propose_conf_change(change(ConfChangeKind::AddLearner, 3))
        .expect("valid");
    ack(&mut node, 2, 2);
    let sent = messages(&settle(&mut node));
    assert_eq!(node.conf_state().learners, vec![3]);
    assert!(
        sent.iter().any(|m| m.to == 3),
        "the learner is replicated to: {sent:?}"
    );
    node.propose(Bytes::from_static(b"x")).expect("leader");
    settle(&mut node);
    ack(&mut node, 3, 3);
    assert_eq!(
        node.committed(),
        2,
        "a learner's copy does not make a majority"
    );
}

#[test]
fn dissertation_4_2_2_a_removed_leader_steps_down() {
    let mut node = leader(&[1, 2]);
    ack(&mut node, 2, 1);
    settle(&mut node);
    node.propose_conf_change(change(ConfChangeKind::Remove, 1))
        .expect("valid");
    settle(&mut node);
    ack(&mut node, 2, 2);
    settle(&mut node);
    assert_eq!(node.conf_state().voters, vec![2]);
    assert_eq!(node.role(), Role::Follower);
    tick(&mut node, 100);
    assert_eq!(node.role(), Role::Follower, "a non-member never campaigns");
}

#[test]
fn a_smaller_quorum_after_removal_commits_what_it_now_holds() {
    let mut node = leader(&[1, 2, 3]);
    ack(&mut node, 2, 1);
    settle(&mut node);
    node.propose_conf_change(change(ConfChangeKind::Remove, 3))
        .expect("valid");
    node.propose(Bytes::from_static(b"x")).expect("leader");
    settle(&mut node);
    ack(&mut node, 2, 3);
    settle(&mut node);
    assert_eq!(node.committed(), 3);
    assert_eq!(node.conf_state().voters, vec![1, 2]);
    assert!(node.progress(3).is_none());
}
