//! The member's durability rules, asserted on the exact actions a step
//! emits (as the Raft tests assert exact messages): members are driven one
//! input at a time, and each test looks at what comes out before the runtime
//! reports anything back.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cairn_core::auth::Caller;
use cairn_core::member::*;
use cairn_core::mvcc::{PutRequest, RangeRequest};
use cairn_core::raft::{Config, Message, MessageBody, NodeId, Role};
use cairn_core::time::Instant;

const CLUSTER_ID: u64 = 0xC1;

fn config(id: NodeId) -> MemberConfig {
    MemberConfig::new(
        Config::new(id, 7),
        CLUSTER_ID,
        format!("m{id}"),
        vec![format!("http://m{id}:2379")],
    )
}

fn info(id: NodeId) -> MemberInfo {
    MemberInfo {
        name: format!("m{id}"),
        peer_urls: vec![format!("http://m{id}:2380")],
        client_urls: Vec::new(),
    }
}

fn put(key: &str, value: &str) -> ClientRequest {
    ClientRequest::Put(PutRequest {
        key: key.as_bytes().to_vec().into(),
        value: value.as_bytes().to_vec().into(),
        ..PutRequest::default()
    })
}

fn get(key: &str) -> ClientRequest {
    ClientRequest::Range(RangeRequest {
        key: key.as_bytes().to_vec().into(),
        ..RangeRequest::default()
    })
}

/// Members whose disks answer at once unless stuck, and whose messages are
/// delivered in order.
struct Cluster {
    members: BTreeMap<NodeId, Member>,
    now: u64,
    wire: VecDeque<Message>,
    /// WAL writes handed out and not yet reported durable, per member.
    disk: BTreeMap<NodeId, VecDeque<u64>>,
    stuck: BTreeSet<NodeId>,
    responses: BTreeMap<ClientToken, (Header, Result<ClientResponse, ClientError>)>,
    next_token: ClientToken,
}

impl Cluster {
    fn new(size: u64) -> Cluster {
        let initial: Vec<(NodeId, MemberInfo)> = (1..=size).map(|id| (id, info(id))).collect();
        let mut cluster = Cluster {
            members: BTreeMap::new(),
            now: 0,
            wire: VecDeque::new(),
            disk: BTreeMap::new(),
            stuck: BTreeSet::new(),
            responses: BTreeMap::new(),
            next_token: 1,
        };
        for (id, _) in &initial {
            let member =
                Member::bootstrap(config(*id), &initial, Instant::ZERO).expect("bootstrap");
            cluster.members.insert(*id, member);
            cluster.disk.insert(*id, VecDeque::new());
        }
        for id in 1..=size {
            let actions = cluster.take(id);
            cluster.absorb(id, actions);
        }
        cluster
    }

    fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    fn member(&mut self, id: NodeId) -> &mut Member {
        self.members.get_mut(&id).expect("member")
    }

    /// Every action `id` has emitted since the last call, in order.
    fn take(&mut self, id: NodeId) -> Vec<Action> {
        let member = self.member(id);
        std::iter::from_fn(|| member.poll_action()).collect()
    }

    /// Carries out actions the way a runtime would (disk writes are queued
    /// until `run_disks`).
    fn absorb(&mut self, id: NodeId, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(message) => self.wire.push_back(message),
                Action::WriteWal { token, .. } => {
                    self.disk.get_mut(&id).expect("disk").push_back(token)
                }
                Action::Respond {
                    token,
                    header,
                    result,
                } => {
                    self.responses.insert(token, (header, result));
                }
                _ => {}
            }
        }
    }

    fn run_disks(&mut self) {
        let now = self.instant();
        for id in self.members.keys().copied().collect::<Vec<_>>() {
            if self.stuck.contains(&id) {
                continue;
            }
            while let Some(token) = self.disk.get_mut(&id).expect("disk").pop_front() {
                self.member(id).handle_wal_written(now, token);
                let actions = self.take(id);
                self.absorb(id, actions);
            }
        }
    }

    fn deliver(&mut self) {
        let now = self.instant();
        while let Some(message) = self.wire.pop_front() {
            let to = message.to;
            self.member(to).handle_message(now, message, None);
            let actions = self.take(to);
            self.absorb(to, actions);
        }
    }

    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 10 {
            self.now += 10;
            let now = self.instant();
            for id in self.members.keys().copied().collect::<Vec<_>>() {
                self.member(id).handle_tick(now);
                let actions = self.take(id);
                self.absorb(id, actions);
            }
            for _ in 0..4 {
                self.run_disks();
                self.deliver();
            }
        }
    }

    fn leader(&self) -> NodeId {
        self.members
            .iter()
            .find(|(_, m)| m.role().role == Role::Leader)
            .map(|(&id, _)| id)
            .expect("a leader")
    }

    fn follower(&self) -> NodeId {
        let leader = self.leader();
        *self
            .members
            .keys()
            .find(|&&id| id != leader)
            .expect("a follower")
    }

    fn request(&mut self, id: NodeId, request: ClientRequest) -> (ClientToken, Vec<Action>) {
        let token = self.next_token;
        self.next_token += 1;
        let now = self.instant();
        self.member(id)
            .handle_client(now, token, &Caller::Anonymous, request);
        (token, self.take(id))
    }
}

fn responds_to(actions: &[Action], token: ClientToken) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Respond { token: t, .. } if *t == token))
}

/// A write is answered only once its entry is durable and applied: the
/// request's step emits the WAL write and no answer; the answer comes with
/// the step that reports the write durable.
#[test]
fn a_put_is_answered_only_after_its_wal_write_is_durable() {
    let mut cluster = Cluster::new(1);
    cluster.run(3000);
    let leader = cluster.leader();
    let (token, actions) = cluster.request(leader, put("k", "v"));
    let write = actions.iter().find_map(|a| match a {
        Action::WriteWal { token, sync, .. } => Some((*token, *sync)),
        _ => None,
    });
    let (wal_token, sync) = write.expect("the put's entry goes to the WAL in the same step");
    assert!(sync, "an entry's WAL write is fsynced");
    assert!(!responds_to(&actions, token), "answered before durable");
    let now = cluster.instant();
    cluster.member(leader).handle_wal_written(now, wal_token);
    let actions = cluster.take(leader);
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Respond { token: t, result: Ok(ClientResponse::Put(_)), .. } if *t == token
        )),
        "{actions:?}"
    );
}

/// Raft's durability rule for followers: an append is acknowledged only
/// after the entries it carries are on disk. The acknowledgement is held,
/// not sent, until the runtime reports the write durable.
#[test]
fn a_follower_holds_its_append_response_until_its_write_is_durable() {
    let mut cluster = Cluster::new(3);
    cluster.run(3000);
    let leader = cluster.leader();
    let follower = cluster.follower();
    let (_, actions) = cluster.request(leader, put("k", "v"));
    let append = actions
        .into_iter()
        .find_map(|a| match a {
            Action::Send(m)
                if m.to == follower
                    && matches!(&m.body, MessageBody::Append { entries, .. } if !entries.is_empty()) =>
            {
                Some(m)
            }
            _ => None,
        })
        .expect("the leader replicates the entry at once");
    let now = cluster.instant();
    cluster.member(follower).handle_message(now, append, None);
    let actions = cluster.take(follower);
    let wal_token = actions
        .iter()
        .find_map(|a| match a {
            Action::WriteWal { token, .. } => Some(*token),
            _ => None,
        })
        .expect("the follower writes the entries");
    let is_ack = |a: &Action| matches!(a, Action::Send(m) if matches!(m.body, MessageBody::AppendResponse { reject: None, .. }));
    assert!(
        !actions.iter().any(is_ack),
        "acknowledged before durable: {actions:?}"
    );
    cluster.member(follower).handle_wal_written(now, wal_token);
    let actions = cluster.take(follower);
    assert!(actions.iter().any(is_ack), "{actions:?}");
}

/// A linearizable read is answered only once the member has applied its
/// read index. A leader whose own disk hangs commits a put with its
/// followers but cannot apply it; a read that arrives after the put was
/// acknowledged elsewhere waits, then sees the put.
#[test]
fn a_linearizable_read_waits_until_its_read_index_is_applied() {
    let mut cluster = Cluster::new(3);
    cluster.run(3000);
    let leader = cluster.leader();
    let follower = cluster.follower();
    cluster.stuck.insert(leader);
    let (put_token, actions) = cluster.request(follower, put("k", "v1"));
    cluster.absorb(follower, actions);
    cluster.run(300);
    assert!(
        matches!(
            cluster.responses.get(&put_token),
            Some((_, Ok(ClientResponse::Put(_))))
        ),
        "the put commits without the leader's disk: {:?}",
        cluster.responses.get(&put_token)
    );
    let (read_token, actions) = cluster.request(leader, get("k"));
    cluster.absorb(leader, actions);
    cluster.run(300);
    assert!(
        !cluster.responses.contains_key(&read_token),
        "answered before its read index was applied: {:?}",
        cluster.responses.get(&read_token)
    );
    cluster.stuck.remove(&leader);
    cluster.run(300);
    match cluster.responses.get(&read_token) {
        Some((_, Ok(ClientResponse::Range(range)))) => {
            assert_eq!(range.kvs.len(), 1);
            assert_eq!(&range.kvs[0].value[..], b"v1");
        }
        other => panic!("{other:?}"),
    }
}

/// A refused request is answered in the same step, with its error and the
/// member's header (the server needs both for etcd's answer).
#[test]
fn a_refused_request_carries_its_error_and_a_header() {
    let mut cluster = Cluster::new(3);
    cluster.run(3000);
    let leader = cluster.leader();
    let follower = cluster.follower();
    let term = cluster.members[&leader].role().term;
    let (token, actions) = cluster.request(follower, ClientRequest::LeaseKeepAlive { id: 9 });
    let respond = actions.into_iter().find_map(|a| match a {
        Action::Respond {
            token: t,
            header,
            result,
        } if t == token => Some((header, result)),
        _ => None,
    });
    let (header, result) = respond.expect("answered at once");
    assert_eq!(result, Err(ClientError::NotLeader));
    assert_eq!(header.member_id, follower);
    assert_eq!(header.cluster_id, CLUSTER_ID);
    assert_eq!(header.raft_term, term);
    assert!(header.revision >= 1);
}
