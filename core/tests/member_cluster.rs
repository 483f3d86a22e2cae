//! Members of a cluster driven through their actions, with an in-memory disk
//! that keeps WAL segments and snapshot files as bytes: writes, group commit,
//! crash (losing what was not yet reported durable) and recovery through the
//! real WAL and snapshot codecs.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use cairn_core::auth::{AuthError, AuthOp, AuthQuery, AuthResponse, Caller, PermType, Permission};
use cairn_core::member::*;
use cairn_core::mvcc::{PutRequest, RangeRequest};
use cairn_core::raft::{Config, Message, NodeId, Role};
use cairn_core::time::Instant;
use cairn_core::wal::SEGMENT_SIZE_BYTES;

#[derive(Default)]
struct Disk {
    /// File name → bytes, as durable.
    wal: BTreeMap<String, Vec<u8>>,
    snapshots: BTreeMap<String, Bytes>,
}

impl Disk {
    fn execute(&mut self, action: &Action) {
        match action {
            Action::TruncateWal { segment, offset } => {
                let file = self.wal.get_mut(segment).expect("segment exists");
                for byte in &mut file[*offset as usize..] {
                    *byte = 0;
                }
            }
            Action::WriteWal { ops, .. } => {
                for op in ops {
                    match op {
                        WalOp::Create(segment) => {
                            let mut bytes = segment.bytes.clone();
                            // Preallocated: zero-filled (kept small here).
                            bytes.resize(bytes.len() + 4096, 0);
                            self.wal.insert(segment.name.clone(), bytes);
                        }
                        WalOp::Append {
                            segment,
                            offset,
                            bytes,
                        } => {
                            let file = self.wal.get_mut(segment).expect("segment exists");
                            let end = *offset as usize + bytes.len();
                            if file.len() < end + 4096 {
                                file.resize(end + 4096, 0);
                            }
                            file[*offset as usize..end].copy_from_slice(bytes);
                            assert!(end as u64 <= SEGMENT_SIZE_BYTES);
                        }
                    }
                }
            }
            Action::SaveSnapshot { name, bytes, .. } => {
                self.snapshots.insert(name.clone(), bytes.clone());
            }
            Action::DeleteFiles { wal, snapshots } => {
                for name in wal {
                    self.wal.remove(name);
                }
                for name in snapshots {
                    self.snapshots.remove(name);
                }
            }
            _ => {}
        }
    }
}

struct Node {
    member: Option<Member>,
    disk: Disk,
    /// Disk actions handed out and not yet carried out (lost on a crash).
    disk_queue: VecDeque<Action>,
    responses: BTreeMap<ClientToken, Result<ClientResponse, ClientError>>,
    /// The disk hangs (a stuck fsync): queued actions are not carried out.
    disk_stuck: bool,
}

struct Cluster {
    nodes: BTreeMap<NodeId, Node>,
    network: VecDeque<(Message, Option<Bytes>)>,
    /// Members cut off from every other: their messages, both ways, are lost.
    isolated: std::collections::BTreeSet<NodeId>,
    now: u64,
    next_token: ClientToken,
    ids: Vec<NodeId>,
    snapshot_count: u64,
}

fn config(id: NodeId, snapshot_count: u64) -> MemberConfig {
    let mut config = MemberConfig::new(
        Config::new(id, 3),
        0xC1,
        format!("m{id}"),
        vec![format!("http://m{id}:2379")],
    );
    config.snapshot_count = snapshot_count;
    config.snapshot_catchup_entries = 2;
    config
}

fn info(id: NodeId) -> MemberInfo {
    MemberInfo {
        name: format!("m{id}"),
        peer_urls: vec![format!("http://m{id}:2380")],
        client_urls: Vec::new(),
    }
}

impl Cluster {
    fn new(size: u64, snapshot_count: u64) -> Cluster {
        let ids: Vec<NodeId> = (1..=size).collect();
        let initial: Vec<(NodeId, MemberInfo)> = ids.iter().map(|&id| (id, info(id))).collect();
        let mut nodes = BTreeMap::new();
        for &id in &ids {
            let member = Member::bootstrap(config(id, snapshot_count), &initial, Instant::ZERO)
                .expect("bootstrap");
            nodes.insert(
                id,
                Node {
                    member: Some(member),
                    disk: Disk::default(),
                    disk_queue: VecDeque::new(),
                    responses: BTreeMap::new(),
                    disk_stuck: false,
                },
            );
        }
        let mut cluster = Cluster {
            nodes,
            network: VecDeque::new(),
            isolated: Default::default(),
            now: 0,
            next_token: 1,
            ids,
            snapshot_count,
        };
        for id in cluster.ids.clone() {
            cluster.drain(id);
        }
        cluster
    }

    fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// Takes a member's actions: disk work is queued, messages go on the wire.
    fn drain(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node");
        let Some(member) = node.member.as_mut() else {
            return;
        };
        while let Some(action) = member.poll_action() {
            match action {
                Action::Send(message) => self.network.push_back((message, None)),
                Action::SendSnapshot { message, snapshot } => {
                    let bytes = node
                        .disk
                        .snapshots
                        .get(&snapshot)
                        .cloned()
                        .expect("snapshot file to send exists");
                    self.network.push_back((message, Some(bytes)));
                }
                Action::Respond { token, result, .. } => {
                    node.responses.insert(token, result);
                }
                Action::Event(event) => {
                    if std::env::var("CAIRN_TEST_EVENTS").is_ok() {
                        eprintln!("m{id} event {event:?}");
                    }
                }
                disk => node.disk_queue.push_back(disk),
            }
        }
    }

    /// Carries out every queued disk action of every member, reporting each.
    fn run_disks(&mut self) {
        let now = self.instant();
        for id in self.ids.clone() {
            loop {
                let node = self.nodes.get_mut(&id).expect("node");
                if node.disk_stuck {
                    break;
                }
                let Some(action) = node.disk_queue.pop_front() else {
                    break;
                };
                node.disk.execute(&action);
                let Some(member) = node.member.as_mut() else {
                    break;
                };
                match action {
                    Action::WriteWal { token, .. } => member.handle_wal_written(now, token),
                    Action::SaveSnapshot { name, .. } => member.handle_snapshot_saved(now, name),
                    _ => {}
                }
                self.drain(id);
            }
        }
    }

    fn deliver(&mut self) {
        let now = self.instant();
        while let Some((message, snapshot)) = self.network.pop_front() {
            let to = message.to;
            let from = message.from;
            if self.isolated.contains(&to)
                || self.isolated.contains(&from)
                || !self.nodes.contains_key(&to)
            {
                continue;
            }
            let is_snapshot = snapshot.is_some();
            if std::env::var("CAIRN_TEST_EVENTS").is_ok() {
                eprintln!("{from}->{to} {:?}", message.body);
            }
            let delivered = match self.nodes.get_mut(&to).and_then(|n| n.member.as_mut()) {
                Some(member) => {
                    member.handle_message(now, message, snapshot);
                    true
                }
                None => false,
            };
            if is_snapshot {
                if let Some(sender) = self.nodes.get_mut(&from).and_then(|n| n.member.as_mut()) {
                    sender.handle_snapshot_sent(now, to, delivered);
                }
                self.drain(from);
            }
            self.drain(to);
        }
    }

    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 10 {
            self.now += 10;
            let now = self.instant();
            for id in self.ids.clone() {
                if let Some(member) = self.nodes.get_mut(&id).and_then(|n| n.member.as_mut()) {
                    member.handle_tick(now);
                }
                self.drain(id);
            }
            for _ in 0..4 {
                self.run_disks();
                self.deliver();
            }
        }
    }

    fn follower_of(&self, leader: NodeId) -> NodeId {
        *self
            .ids
            .iter()
            .find(|&&id| id != leader)
            .expect("a follower")
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter_map(|(&id, n)| n.member.as_ref().map(|m| (id, m.role())))
            .filter(|(_, role)| role.role == Role::Leader)
            .max_by_key(|(_, role)| role.term)
            .map(|(id, _)| id)
    }

    fn request(&mut self, id: NodeId, request: ClientRequest) -> ClientToken {
        self.request_as(id, &Caller::Anonymous, request)
    }

    fn request_as(&mut self, id: NodeId, caller: &Caller, request: ClientRequest) -> ClientToken {
        let token = self.next_token;
        self.next_token += 1;
        let now = self.instant();
        self.nodes
            .get_mut(&id)
            .and_then(|n| n.member.as_mut())
            .expect("live")
            .handle_client(now, token, caller, request);
        self.drain(id);
        token
    }

    /// Sends a request as `caller`, runs the cluster a while, and answers.
    fn call(
        &mut self,
        id: NodeId,
        caller: &Caller,
        request: ClientRequest,
    ) -> Result<ClientResponse, ClientError> {
        let token = self.request_as(id, caller, request);
        self.run(300);
        self.response(id, token).expect("answered").clone()
    }

    fn response(
        &self,
        id: NodeId,
        token: ClientToken,
    ) -> Option<&Result<ClientResponse, ClientError>> {
        self.nodes[&id].responses.get(&token)
    }

    fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node");
        node.member = None;
        node.disk_queue.clear();
    }

    fn restart(&mut self, id: NodeId) {
        self.restart_with(id, |_| {});
    }

    fn restart_with(&mut self, id: NodeId, adjust: impl FnOnce(&mut MemberConfig)) {
        let node = self.nodes.get_mut(&id).expect("node");
        let snapshot = node
            .disk
            .snapshots
            .iter()
            .next_back()
            .map(|(n, b)| (n.clone(), b.clone()));
        let segments: Vec<(&str, &[u8])> = node
            .disk
            .wal
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let mut restarted = config(id, self.snapshot_count);
        restarted.first_seq = 1_000_000 * (self.now + 1);
        adjust(&mut restarted);
        let member = Member::recover(
            restarted,
            snapshot,
            &segments,
            Instant::from_millis(self.now),
        )
        .expect("recovers");
        node.member = Some(member);
        self.drain(id);
    }
}

fn put(key: &str, value: &str) -> ClientRequest {
    ClientRequest::Put(PutRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        ..PutRequest::default()
    })
}

fn get(key: &str, serializable: bool) -> ClientRequest {
    ClientRequest::Range(RangeRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        serializable,
        ..RangeRequest::default()
    })
}

fn value_of(result: Option<&Result<ClientResponse, ClientError>>) -> Option<Bytes> {
    match result {
        Some(Ok(ClientResponse::Range(range))) => range.kvs.first().map(|kv| kv.value.clone()),
        other => panic!("expected a range response, got {other:?}"),
    }
}

#[test]
fn a_single_member_elects_itself_writes_and_reads() {
    let mut cluster = Cluster::new(1, 1000);
    cluster.run(3_000);
    assert_eq!(cluster.leader(), Some(1));
    assert!(cluster.nodes[&1]
        .member
        .as_ref()
        .expect("live")
        .is_published());
    let token = cluster.request(1, put("foo", "bar"));
    cluster.run(100);
    match cluster.response(1, token) {
        Some(Ok(ClientResponse::Put(put))) => assert_eq!(put.header.revision, 2),
        other => panic!("put answered {other:?}"),
    }
    let token = cluster.request(1, get("foo", false));
    cluster.run(100);
    assert_eq!(
        value_of(cluster.response(1, token)),
        Some(Bytes::from_static(b"bar"))
    );
}

#[test]
fn three_members_replicate_and_serve_linearizable_reads_from_followers() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    let follower = cluster
        .ids
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("a follower");
    // A write through a follower is forwarded to the leader.
    let token = cluster.request(follower, put("k", "v1"));
    cluster.run(200);
    assert!(matches!(
        cluster.response(follower, token),
        Some(Ok(ClientResponse::Put(_)))
    ));
    let token = cluster.request(follower, get("k", false));
    cluster.run(200);
    assert_eq!(
        value_of(cluster.response(follower, token)),
        Some(Bytes::from_static(b"v1"))
    );
    let token = cluster.request(cluster.ids[2], ClientRequest::MemberList);
    cluster.run(10);
    match cluster.response(cluster.ids[2], token) {
        Some(Ok(ClientResponse::MemberList(list))) => {
            let names: Vec<&str> = list.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(names, vec!["m1", "m2", "m3"]);
            assert!(
                list.iter().all(|m| m.client_urls.len() == 1),
                "every member published: {list:?}"
            );
        }
        other => panic!("member list answered {other:?}"),
    }
}

#[test]
fn acknowledged_writes_survive_crashes_and_snapshots() {
    let mut cluster = Cluster::new(3, 10);
    cluster.run(3_000);
    let mut acknowledged = Vec::new();
    for round in 0..6u64 {
        let leader = cluster.leader().expect("a leader");
        let mut tokens = Vec::new();
        for i in 0..8 {
            let key = format!("key{round}-{i}");
            tokens.push((key.clone(), cluster.request(leader, put(&key, &key))));
        }
        cluster.run(300);
        for (key, token) in tokens {
            if let Some(Ok(ClientResponse::Put(_))) = cluster.response(leader, token) {
                acknowledged.push(key);
            }
        }
        // Crash the leader and bring it back from its disk.
        cluster.crash(leader);
        cluster.run(2_500);
        cluster.restart(leader);
        cluster.run(2_500);
    }
    assert!(
        acknowledged.len() >= 40,
        "most writes were acknowledged: {}",
        acknowledged.len()
    );
    cluster.run(3_000);
    for &id in &cluster.ids.clone() {
        for key in &acknowledged {
            let token = cluster.request(id, get(key, true));
            assert_eq!(
                value_of(cluster.response(id, token)),
                Some(Bytes::copy_from_slice(key.as_bytes())),
                "member {id} lost acknowledged write {key}"
            );
        }
    }
    let hashes: Vec<u32> = cluster
        .ids
        .iter()
        .map(|id| {
            cluster.nodes[id]
                .member
                .as_ref()
                .expect("live")
                .store()
                .hash()
        })
        .collect();
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "members agree: {hashes:?}"
    );
    assert!(
        cluster.nodes.values().any(|n| !n.disk.snapshots.is_empty()),
        "snapshots were taken"
    );
}

#[test]
fn force_new_cluster_turns_a_survivor_into_a_cluster_of_one_with_its_data() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(cluster.request(leader, put(&format!("k{i}"), "v")));
    }
    cluster.run(500);
    assert!(tokens.iter().all(|t| matches!(
        cluster.response(leader, *t),
        Some(Ok(ClientResponse::Put(_)))
    )));
    // Two members are gone for good; the third restarts forced.
    let survivor = cluster
        .ids
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("another member");
    for id in cluster.ids.clone() {
        cluster.crash(id);
    }
    cluster.restart_with(survivor, |config| config.force_new_cluster = true);
    cluster.run(3_000);
    let member = cluster.nodes[&survivor].member.as_ref().expect("live");
    assert_eq!(member.role().role, Role::Leader, "the survivor leads alone");
    for i in 0..20 {
        let token = cluster.request(survivor, get(&format!("k{i}"), false));
        cluster.run(50);
        assert_eq!(
            value_of(cluster.response(survivor, token)),
            Some(Bytes::from_static(b"v"))
        );
    }
    let token = cluster.request(survivor, put("after", "force"));
    cluster.run(100);
    assert!(matches!(
        cluster.response(survivor, token),
        Some(Ok(ClientResponse::Put(_)))
    ));
    let token = cluster.request(survivor, ClientRequest::MemberList);
    cluster.run(10);
    match cluster.response(survivor, token) {
        Some(Ok(ClientResponse::MemberList(list))) => assert_eq!(list.len(), 1),
        other => panic!("member list answered {other:?}"),
    }
    // And it stays a cluster of one after a normal restart.
    cluster.crash(survivor);
    cluster.restart(survivor);
    cluster.run(3_000);
    assert_eq!(
        cluster.nodes[&survivor]
            .member
            .as_ref()
            .expect("live")
            .role()
            .role,
        Role::Leader
    );
}

fn leases_on(cluster: &mut Cluster, id: NodeId) -> Vec<i64> {
    let token = cluster.request(id, ClientRequest::LeaseLeases);
    match cluster.response(id, token) {
        Some(Ok(ClientResponse::Leases(ids))) => ids.clone(),
        other => panic!("leases on m{id}: {other:?}"),
    }
}

/// etcd once revoked every lease when its leader hung in fsync: the leader's
/// clock ran on while keep-alives could not be served. A cairn leader whose
/// WAL write hangs for more than an election timeout proposes no revocation
/// (its followers would commit one without it), and once the write completes
/// every lease gets a new leader's grace.
#[test]
fn a_leader_stuck_in_fsync_revokes_no_lease_and_extends_them_after() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3000);
    let leader = cluster.leader().expect("a leader");
    let follower = cluster.follower_of(leader);
    let grant = cluster.request(leader, ClientRequest::LeaseGrant { id: 7, ttl_secs: 2 });
    cluster.run(300);
    assert!(matches!(cluster.response(leader, grant), Some(Ok(_))));
    assert_eq!(leases_on(&mut cluster, follower), vec![7]);

    cluster.nodes.get_mut(&leader).expect("leader").disk_stuck = true;
    // A write, so that the leader has a WAL write hanging.
    cluster.request(leader, put("k", "v"));
    cluster.run(6000);
    assert_eq!(
        cluster.leader(),
        Some(leader),
        "still leader: heartbeats need no disk"
    );
    assert_eq!(
        leases_on(&mut cluster, follower),
        vec![7],
        "the stuck leader revoked a lease"
    );

    cluster.nodes.get_mut(&leader).expect("leader").disk_stuck = false;
    cluster.run(1500);
    assert_eq!(
        leases_on(&mut cluster, follower),
        vec![7],
        "the lease did not get a fresh TTL when the disk came back"
    );
    // Nobody keeps it alive: it expires after its TTL and the grace.
    cluster.run(3000);
    assert_eq!(leases_on(&mut cluster, follower), Vec::<i64>::new());
}

fn auth_change(op: AuthOp) -> ClientRequest {
    ClientRequest::Auth(AuthRequest::Change(op))
}

#[test]
fn auth_is_replicated_checked_on_every_member_and_survives_restarts() {
    let mut cluster = Cluster::new(3, 20);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    let follower = *cluster.ids.iter().find(|&&id| id != leader).expect("3");
    let system = Caller::System;
    let hash = b"$2b$04$not-checked-by-the-member".to_vec();
    for op in [
        AuthOp::UserAdd {
            name: "root".into(),
            password_hash: hash.clone(),
            no_password: false,
        },
        AuthOp::UserGrantRole {
            user: "root".into(),
            role: "root".into(),
        },
        AuthOp::UserAdd {
            name: "alice".into(),
            password_hash: hash.clone(),
            no_password: false,
        },
        AuthOp::RoleAdd { name: "a".into() },
        AuthOp::RoleGrantPermission {
            name: "a".into(),
            perm: Permission {
                key: b"a/".to_vec(),
                range_end: b"a0".to_vec(),
                perm_type: PermType::ReadWrite,
            },
        },
        AuthOp::UserGrantRole {
            user: "alice".into(),
            role: "a".into(),
        },
        AuthOp::Enable,
    ] {
        let answer = cluster.call(leader, &system, auth_change(op.clone()));
        assert!(answer.is_ok(), "{op:?}: {answer:?}");
    }
    let secret_put = cluster.call(leader, &system, put("secret", "s"));
    assert!(secret_put.is_ok(), "{secret_put:?}");
    // Nobody: refused, on any member.
    assert_eq!(
        cluster.call(follower, &Caller::Anonymous, put("a/1", "x")),
        Err(ClientError::Auth(AuthError::UserEmpty))
    );
    // Alice logs in at the leader; her token works on the follower.
    let revision = match cluster.call(
        leader,
        &system,
        ClientRequest::Auth(AuthRequest::Query(AuthQuery::PasswordHash {
            name: "alice".into(),
        })),
    ) {
        Ok(ClientResponse::Auth(AuthResponse::PasswordHash { revision, .. })) => revision,
        other => panic!("password hash: {other:?}"),
    };
    let login = AuthOp::Authenticate {
        name: "alice".into(),
        token: "tok.1".into(),
        checked_revision: revision,
    };
    assert!(cluster.call(leader, &system, auth_change(login)).is_ok());
    let alice = Caller::Token("tok.1".into());
    assert!(cluster.call(follower, &alice, put("a/1", "mine")).is_ok());
    assert_eq!(
        cluster.call(follower, &alice, put("secret", "stolen")),
        Err(ClientError::Auth(AuthError::PermissionDenied))
    );
    // A denied range returns no keys, linearizable or serializable.
    let everything = |serializable| {
        ClientRequest::Range(RangeRequest {
            key: Bytes::from_static(b"\0"),
            range_end: Bytes::from_static(b"\0"),
            serializable,
            ..RangeRequest::default()
        })
    };
    for serializable in [false, true] {
        assert_eq!(
            cluster.call(follower, &alice, everything(serializable)),
            Err(ClientError::Auth(AuthError::PermissionDenied))
        );
    }
    assert_eq!(
        value_of(Some(&cluster.call(follower, &alice, get("a/1", false)))),
        Some(Bytes::from_static(b"mine"))
    );
    // Alice may not manage auth, nor use a forged token.
    assert_eq!(
        cluster.call(leader, &alice, auth_change(AuthOp::Disable)),
        Err(ClientError::Auth(AuthError::PermissionDenied))
    );
    assert_eq!(
        cluster.call(leader, &Caller::Token("tok.2".into()), get("a/1", true)),
        Err(ClientError::Auth(AuthError::InvalidAuthToken))
    );
    // Revoking the role takes effect everywhere, for writes and reads.
    let root = Caller::User {
        name: "root".into(),
        revision: None,
    };
    let revoke = AuthOp::UserRevokeRole {
        name: "alice".into(),
        role: "a".into(),
    };
    assert!(cluster.call(leader, &root, auth_change(revoke)).is_ok());
    assert_eq!(
        cluster.call(follower, &alice, get("a/1", true)),
        Err(ClientError::Auth(AuthError::PermissionDenied))
    );
    // Enough writes for snapshots; then every member restarts from disk and
    // still has auth enabled, with the same users and roles.
    for i in 0..30 {
        let key = format!("k{i}");
        assert!(cluster.call(leader, &root, put(&key, "v")).is_ok());
    }
    for id in cluster.ids.clone() {
        cluster.crash(id);
    }
    for id in cluster.ids.clone() {
        cluster.restart(id);
    }
    cluster.run(3_000);
    let auths: Vec<_> = cluster
        .ids
        .iter()
        .map(|id| {
            cluster.nodes[id]
                .member
                .as_ref()
                .expect("live")
                .auth()
                .clone()
        })
        .collect();
    assert!(auths[0].is_enabled());
    assert!(auths.windows(2).all(|w| w[0].same_state(&w[1])));
    assert!(
        cluster.nodes.values().all(|n| !n.disk.snapshots.is_empty()),
        "every member took a snapshot"
    );
    let leader = cluster.leader().expect("a leader after restart");
    assert_eq!(
        cluster.call(leader, &Caller::Anonymous, get("a/1", false)),
        Err(ClientError::Auth(AuthError::UserEmpty))
    );
    // Tokens are not durable: alice's died with the restart.
    assert_eq!(
        cluster.call(leader, &alice, get("a/1", true)),
        Err(ClientError::Auth(AuthError::InvalidAuthToken))
    );
}

fn keep_alive(id: i64) -> ClientRequest {
    ClientRequest::LeaseKeepAlive { id }
}

/// Rule 1 of `member/leases.rs` (simulator seed 1299): a leader cut off
/// from its quorum proposes revoking an expired lease, an entry only it
/// has; later it wins a new term with that entry in its log. Its keep-alives
/// are answered only once it has applied an entry of its own term, so the
/// stale revocation takes effect first and no keep-alive it answers is
/// undone by it.
#[test]
fn a_new_leader_answers_keep_alives_only_after_applying_earlier_revocations() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3000);
    let leader = cluster.leader().expect("a leader");
    let others: Vec<NodeId> = cluster
        .ids
        .iter()
        .copied()
        .filter(|&id| id != leader)
        .collect();
    let grant = cluster.request(leader, ClientRequest::LeaseGrant { id: 7, ttl_secs: 2 });
    cluster.run(300);
    assert!(matches!(cluster.response(leader, grant), Some(Ok(_))));
    // Nobody keeps the lease alive. Just before it expires, the leader and
    // one follower are cut off: nobody can win an election, and the lease
    // expires at the leader before check-quorum steps it down, so it
    // proposes revoking it, an entry only it has.
    cluster.run(1600);
    cluster.isolated.insert(leader);
    cluster.isolated.insert(others[1]);
    cluster.run(5000);
    assert_ne!(
        cluster.leader(),
        Some(leader),
        "check-quorum stepped it down"
    );
    // Only the old leader and the other follower can talk again: the old
    // leader's log is the longer one, with the revocation at its end. The
    // moment it wins, the follower's disk hangs, so the new term's first
    // entry (which would commit the revocation) cannot commit yet.
    cluster.isolated.remove(&leader);
    let mut won = false;
    for _ in 0..500 {
        cluster.now += 10;
        let now = cluster.instant();
        for id in cluster.ids.clone() {
            if let Some(member) = cluster.nodes.get_mut(&id).and_then(|n| n.member.as_mut()) {
                member.handle_tick(now);
            }
            cluster.drain(id);
        }
        for _ in 0..4 {
            cluster.run_disks();
            cluster.deliver();
            won = cluster.leader() == Some(leader);
            if won {
                break;
            }
        }
        if won {
            break;
        }
    }
    assert!(won, "the old leader won again");
    cluster
        .nodes
        .get_mut(&others[0])
        .expect("follower")
        .disk_stuck = true;
    let token = cluster.request(leader, keep_alive(7));
    cluster.run(300);
    assert!(
        !matches!(cluster.response(leader, token), Some(Ok(_))),
        "a keep-alive answered while a revocation of the lease waits in the log"
    );
    cluster
        .nodes
        .get_mut(&others[0])
        .expect("follower")
        .disk_stuck = false;
    cluster.run(1000);
    assert!(
        matches!(
            cluster.response(leader, token),
            Some(Err(ClientError::Lease(
                cairn_core::lease::LeaseError::NotFound
            )))
        ),
        "{:?}",
        cluster.response(leader, token)
    );
    assert_eq!(leases_on(&mut cluster, others[0]), Vec::<i64>::new());
}

/// Rule 2 (seeds 1351, 2198, 2997): a leader whose own disk hangs commits
/// with its followers' acknowledgements but cannot apply; a keep-alive for
/// a lease whose grant a client has seen succeed (through a follower) waits
/// until the leader has applied the grant, rather than saying "not found".
#[test]
fn a_leader_behind_on_applying_never_says_a_granted_lease_is_not_found() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3000);
    let leader = cluster.leader().expect("a leader");
    let follower = cluster.follower_of(leader);
    cluster.nodes.get_mut(&leader).expect("leader").disk_stuck = true;
    let grant = cluster.request(
        follower,
        ClientRequest::LeaseGrant {
            id: 9,
            ttl_secs: 30,
        },
    );
    cluster.run(500);
    let granted = cluster.response(follower, grant).cloned();
    let token = cluster.request(leader, keep_alive(9));
    cluster.run(200);
    if let Some(Ok(ClientResponse::LeaseGrant { .. })) = granted {
        assert!(
            !matches!(cluster.response(leader, token), Some(Err(_))),
            "the leader refused a keep-alive of a granted lease: {:?}",
            cluster.response(leader, token)
        );
    }
    cluster.nodes.get_mut(&leader).expect("leader").disk_stuck = false;
    cluster.run(500);
    assert!(
        matches!(
            cluster.response(leader, token),
            Some(Ok(ClientResponse::LeaseKeepAlive { id: 9, .. }))
        ),
        "{:?}",
        cluster.response(leader, token)
    );
}

/// Rule 3 (seeds 2800, 2975): once the leader has proposed revoking an
/// expired lease, a stall's extension of every lease does not revive it: a
/// keep-alive waits for the revocation and is told "not found".
#[test]
fn a_lease_whose_revocation_is_proposed_is_never_renewed() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3000);
    let leader = cluster.leader().expect("a leader");
    let grant = cluster.request(leader, ClientRequest::LeaseGrant { id: 5, ttl_secs: 2 });
    cluster.run(300);
    assert!(matches!(cluster.response(leader, grant), Some(Ok(_))));
    // Every disk hangs shortly before the lease expires, with a write in
    // flight at the leader: the revocation is proposed (the leader's write
    // has hung for less than an election timeout) but cannot commit.
    cluster.run(1400);
    for id in cluster.ids.clone() {
        cluster.nodes.get_mut(&id).expect("node").disk_stuck = true;
    }
    cluster.request(leader, put("k", "v"));
    cluster.run(2000);
    assert_eq!(cluster.leader(), Some(leader), "heartbeats need no disk");
    // The leader's disk comes back after more than an election timeout:
    // every lease gets a new leader's grace, except the one being revoked.
    cluster.nodes.get_mut(&leader).expect("leader").disk_stuck = false;
    cluster.run(50);
    let token = cluster.request(leader, keep_alive(5));
    cluster.run(50);
    assert!(
        cluster.response(leader, token).is_none(),
        "answered a keep-alive of a lease being revoked: {:?}",
        cluster.response(leader, token)
    );
    for id in cluster.ids.clone() {
        cluster.nodes.get_mut(&id).expect("node").disk_stuck = false;
    }
    cluster.run(500);
    assert!(
        matches!(
            cluster.response(leader, token),
            Some(Err(ClientError::Lease(
                cairn_core::lease::LeaseError::NotFound
            )))
        ),
        "{:?}",
        cluster.response(leader, token)
    );
}

/// The one start-up both runtimes use falls back to an older snapshot when
/// the newest is damaged on disk, and still has every acknowledged write.
#[test]
fn a_damaged_newest_snapshot_falls_back_to_an_older_one() {
    let mut cluster = Cluster::new(3, 10);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    let follower = cluster.follower_of(leader);
    let mut acknowledged = Vec::new();
    for i in 0..60 {
        let key = format!("key{i}");
        let token = cluster.request(leader, put(&key, &key));
        cluster.run(50);
        if let Some(Ok(ClientResponse::Put(_))) = cluster.response(leader, token) {
            acknowledged.push(key);
        }
    }
    cluster.crash(follower);
    let node = cluster.nodes.get_mut(&follower).expect("node");
    assert!(
        node.disk.snapshots.len() >= 2,
        "snapshots kept: {:?}",
        node.disk.snapshots.keys().collect::<Vec<_>>()
    );
    // Flip a byte in the middle of the newest snapshot file.
    let (newest, bytes) = node.disk.snapshots.iter().next_back().expect("a snapshot");
    let mut damaged = bytes.to_vec();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    let newest = newest.clone();
    node.disk.snapshots.insert(newest, Bytes::from(damaged));
    let snapshots: Vec<(String, Bytes)> = node
        .disk
        .snapshots
        .iter()
        .rev()
        .map(|(name, bytes)| (name.clone(), bytes.clone()))
        .collect();
    let segments: Vec<(&str, &[u8])> = node
        .disk
        .wal
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let mut restarted = config(follower, 10);
    restarted.first_seq = 1_000_000 * (cluster.now + 1);
    assert!(
        matches!(
            Member::recover(
                restarted.clone(),
                Some(snapshots[0].clone()),
                &segments,
                Instant::from_millis(cluster.now),
            ),
            Err(StartError::Snapshot(_))
        ),
        "the damaged snapshot alone does not do"
    );
    let (member, kind) = Member::start(
        restarted,
        &[],
        false,
        &segments,
        snapshots,
        Instant::from_millis(cluster.now),
    )
    .expect("recovers from the older snapshot");
    assert_eq!(kind, StartKind::Restarted);
    node.member = Some(member);
    cluster.drain(follower);
    cluster.run(1_000);
    for key in &acknowledged {
        let token = cluster.request(follower, get(key, true));
        assert_eq!(
            value_of(cluster.response(follower, token)),
            Some(Bytes::copy_from_slice(key.as_bytes())),
            "lost acknowledged write {key}"
        );
    }
}

// ----- membership changes and leadership moves -----

impl Cluster {
    /// Puts `key` through member `id` and expects it acknowledged.
    fn put_ok(&mut self, id: NodeId, key: &str, value: &str) {
        let answer = self.call(id, &Caller::Anonymous, put(key, value));
        assert!(
            matches!(answer, Ok(ClientResponse::Put(_))),
            "put {key} through m{id}: {answer:?}"
        );
    }

    /// Starts member `id` with an empty data dir, joining the cluster.
    fn join(&mut self, id: NodeId) {
        let member = Member::join(config(id, self.snapshot_count), self.instant()).expect("joins");
        self.nodes.insert(
            id,
            Node {
                member: Some(member),
                disk: Disk::default(),
                disk_queue: VecDeque::new(),
                responses: BTreeMap::new(),
                disk_stuck: false,
            },
        );
        self.ids.push(id);
        self.drain(id);
    }

    fn member(&self, id: NodeId) -> &Member {
        self.nodes[&id].member.as_ref().expect("live")
    }

    fn change(&mut self, id: NodeId, change: MemberChange) -> Result<ClientResponse, ClientError> {
        self.call(id, &Caller::Anonymous, ClientRequest::ChangeMember(change))
    }

    fn members_seen_by(&mut self, id: NodeId) -> Vec<(NodeId, bool)> {
        match self.call(id, &Caller::Anonymous, ClientRequest::MemberList) {
            Ok(ClientResponse::MemberList(list)) => {
                list.iter().map(|m| (m.id, m.is_learner)).collect()
            }
            other => panic!("member list answered {other:?}"),
        }
    }
}

fn add(id: NodeId, learner: bool) -> MemberChange {
    MemberChange::Add {
        id,
        peer_urls: info(id).peer_urls,
        learner,
    }
}

#[test]
fn a_cluster_grows_from_one_to_three_members_that_serve_what_was_written_before() {
    let mut cluster = Cluster::new(1, 5);
    cluster.run(3_000);
    for i in 0..20 {
        cluster.put_ok(1, &format!("k{i}"), "v");
    }
    for id in [2, 3] {
        match cluster.change(1, add(id, false)) {
            Ok(ClientResponse::MemberChanged(list)) => {
                assert!(list.iter().any(|m| m.id == id && !m.is_learner))
            }
            other => panic!("member add answered {other:?}"),
        }
        cluster.join(id);
        cluster.run(2_000);
        eprintln!(
            "m{id}: applied {} published {} role {:?}; leader applied {}",
            cluster.member(id).applied_index(),
            cluster.member(id).is_published(),
            cluster.member(id).role(),
            cluster.member(1).applied_index()
        );
    }
    assert_eq!(
        cluster.members_seen_by(3),
        vec![(1, false), (2, false), (3, false)]
    );
    // The new members caught up (by snapshot: the leader compacted its log)
    // and published their names.
    for id in [2, 3] {
        assert!(cluster.member(id).is_published(), "m{id} published");
        assert_eq!(
            value_of(Some(&cluster.call(
                id,
                &Caller::Anonymous,
                get("k19", false)
            ))),
            Some(Bytes::from_static(b"v"))
        );
    }
    // Writes need two of three now: with m1 cut off, m2 and m3 carry on.
    cluster.isolated.insert(1);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a new leader");
    assert_ne!(leader, 1);
    cluster.put_ok(leader, "after", "v");
}

#[test]
fn membership_changes_are_checked_with_etcds_rules_and_texts() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    let follower = cluster.follower_of(leader);
    assert_eq!(
        cluster.change(follower, add(4, false)),
        Err(ClientError::NotLeader)
    );
    assert_eq!(
        cluster.change(leader, add(2, false)),
        Err(ClientError::MemberExists)
    );
    let taken = MemberChange::Add {
        id: 9,
        peer_urls: info(2).peer_urls,
        learner: false,
    };
    assert_eq!(
        cluster.change(leader, taken),
        Err(ClientError::PeerUrlExists)
    );
    assert_eq!(
        cluster.change(leader, MemberChange::Remove { id: 9 }),
        Err(ClientError::MemberNotFound)
    );
    assert_eq!(
        cluster.change(leader, MemberChange::Promote { id: 2 }),
        Err(ClientError::MemberNotLearner)
    );
    assert!(cluster.change(leader, add(4, true)).is_ok());
    assert_eq!(
        cluster.change(leader, add(5, true)),
        Err(ClientError::TooManyLearners)
    );
    // A learner that never started is far behind: not promoted.
    assert_eq!(
        cluster.change(leader, MemberChange::Promote { id: 4 }),
        Err(ClientError::LearnerNotReady)
    );
    assert!(cluster
        .change(leader, MemberChange::Remove { id: 4 })
        .is_ok());
    // With a voter silent for a while, adding one would leave a quorum that
    // counts on a member that may be gone.
    cluster.isolated.insert(cluster.follower_of(leader));
    cluster.run(3_000);
    assert_eq!(cluster.leader(), Some(leader));
    assert_eq!(
        cluster.change(leader, add(6, false)),
        Err(ClientError::Unhealthy)
    );
    cluster.isolated.clear();
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    let update = MemberChange::Update {
        id: 2,
        peer_urls: vec!["http://m2-new:2380".to_string()],
    };
    match cluster.change(leader, update) {
        Ok(ClientResponse::MemberChanged(list)) => {
            let m2 = list.iter().find(|m| m.id == 2).expect("m2 listed");
            assert_eq!(m2.peer_urls, vec!["http://m2-new:2380".to_string()]);
        }
        other => panic!("member update answered {other:?}"),
    }
    let update = MemberChange::Update {
        id: 3,
        peer_urls: vec!["http://m2-new:2380".to_string()],
    };
    assert_eq!(
        cluster.change(leader, update),
        Err(ClientError::PeerUrlExists)
    );
}

#[test]
fn a_learner_catches_up_refuses_writes_and_is_promoted() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    cluster.put_ok(leader, "k", "v");
    assert!(cluster.change(leader, add(4, true)).is_ok());
    cluster.join(4);
    cluster.run(2_000);
    assert_eq!(
        cluster.call(4, &Caller::Anonymous, put("k", "w")),
        Err(ClientError::NotSupportedForLearner)
    );
    assert_eq!(
        cluster.call(4, &Caller::Anonymous, get("k", false)),
        Err(ClientError::NotSupportedForLearner)
    );
    assert_eq!(
        value_of(Some(&cluster.call(4, &Caller::Anonymous, get("k", true)))),
        Some(Bytes::from_static(b"v"))
    );
    assert!(cluster
        .change(leader, MemberChange::Promote { id: 4 })
        .is_ok());
    cluster.run(500);
    assert!(cluster
        .members_seen_by(4)
        .iter()
        .all(|(_, learner)| !learner));
    cluster.put_ok(4, "k", "w");
}

#[test]
fn leadership_moves_on_request_and_before_the_leader_is_removed() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    let target = cluster.follower_of(leader);
    assert_eq!(
        cluster.call(
            leader,
            &Caller::Anonymous,
            ClientRequest::MoveLeader { target: 9 }
        ),
        Err(ClientError::BadLeaderTransferee)
    );
    assert_eq!(
        cluster.call(
            target,
            &Caller::Anonymous,
            ClientRequest::MoveLeader { target }
        ),
        Err(ClientError::NotLeader)
    );
    assert_eq!(
        cluster.call(
            leader,
            &Caller::Anonymous,
            ClientRequest::MoveLeader { target }
        ),
        Ok(ClientResponse::LeaderMoved)
    );
    assert_eq!(cluster.leader(), Some(target));

    // Removing the leader: it hands leadership over and says "not leader";
    // the new leader then removes it.
    let old = target;
    assert_eq!(
        cluster.change(old, MemberChange::Remove { id: old }),
        Err(ClientError::NotLeader)
    );
    let new = cluster.leader().expect("a new leader");
    assert_ne!(new, old);
    assert!(cluster
        .change(new, MemberChange::Remove { id: old })
        .is_ok());
    cluster.run(500);
    let remaining: Vec<NodeId> = cluster
        .members_seen_by(new)
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert!(!remaining.contains(&old));
    assert_eq!(remaining.len(), 2);
    cluster.put_ok(new, "k", "v");
}

#[test]
fn defragment_keeps_one_fresh_snapshot_and_serves_throughout() {
    let mut cluster = Cluster::new(3, 10);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    for i in 0..80 {
        cluster.put_ok(leader, &format!("k{i}"), "v");
    }
    let before = cluster.nodes[&leader].disk.snapshots.len();
    assert!(before > 1, "several snapshots before: {before}");
    // Writes and the defragment interleave; both are answered.
    let write = cluster.request(leader, put("during", "v"));
    let defrag = cluster.request(leader, ClientRequest::Defragment);
    cluster.run(500);
    assert!(matches!(
        cluster.response(leader, write),
        Some(Ok(ClientResponse::Put(_)))
    ));
    assert_eq!(
        cluster.response(leader, defrag),
        Some(&Ok(ClientResponse::Defragmented))
    );
    assert_eq!(cluster.nodes[&leader].disk.snapshots.len(), 1);
    // A second one with nothing new applied answers at once.
    assert_eq!(
        cluster.call(leader, &Caller::Anonymous, ClientRequest::Defragment),
        Ok(ClientResponse::Defragmented)
    );
    // Nothing was lost: a restart from the one snapshot and the WAL serves
    // every key.
    cluster.crash(leader);
    cluster.restart(leader);
    cluster.run(2_000);
    assert_eq!(
        value_of(Some(&cluster.call(
            leader,
            &Caller::Anonymous,
            get("k79", true)
        ))),
        Some(Bytes::from_static(b"v"))
    );
}

#[test]
fn a_corrupt_alarm_stops_writes_on_every_member_until_disarmed() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    let follower = cluster.follower_of(leader);
    let raise = ClientRequest::Alarm {
        action: AlarmAction::Activate,
        member: follower,
        alarm: Some(AlarmKind::Corrupt),
    };
    assert!(cluster.call(leader, &Caller::Anonymous, raise).is_ok());
    for id in cluster.ids.clone() {
        assert_eq!(
            cluster.call(id, &Caller::Anonymous, put("k", "v")),
            Err(ClientError::Corrupt),
            "m{id} refuses writes"
        );
        // Reads still serve.
        assert!(cluster
            .call(id, &Caller::Anonymous, get("k", false))
            .is_ok());
    }
    let clear = ClientRequest::Alarm {
        action: AlarmAction::Deactivate,
        member: follower,
        alarm: Some(AlarmKind::Corrupt),
    };
    assert!(cluster.call(follower, &Caller::Anonymous, clear).is_ok());
    cluster.put_ok(follower, "k", "v");
}

#[test]
fn with_auto_promotion_a_caught_up_learner_becomes_a_voter_by_itself() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(100);
    for id in [1, 2, 3] {
        cluster.crash(id);
        cluster.restart_with(id, |config| config.auto_promote_learners = true);
    }
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    assert!(cluster.change(leader, add(4, true)).is_ok());
    // Not started: never promoted.
    cluster.run(2_000);
    assert_eq!(
        cluster.members_seen_by(leader).last(),
        Some(&(4, true)),
        "a learner that has not caught up stays a learner"
    );
    cluster.join(4);
    cluster.run(3_000);
    assert!(cluster
        .members_seen_by(4)
        .iter()
        .all(|(_, learner)| !learner));
}

/// Simulator seed 4208: a leader cut off from the others was asked to remove
/// itself; handing leadership over put off its check-quorum, so it went on
/// leading (and answering keep-alives) well after a successor took over,
/// past the election timeout the successor adds to every lease, and a lease
/// kept alive through it was revoked. Whenever in its check-quorum round the
/// removal arrives (and however often it is asked again), the cut-off leader
/// steps down when it would have had nobody asked it anything.
#[test]
fn a_leader_cut_off_while_asked_to_remove_itself_steps_down_as_soon_as_otherwise() {
    let unasked_ms = leads_after_cut_ms(None);
    assert!(unasked_ms <= 2_000, "check-quorum took {unasked_ms}ms");
    for asked_after_ms in (0..1_000).step_by(100) {
        let led_ms = leads_after_cut_ms(Some(asked_after_ms));
        assert!(
            led_ms <= unasked_ms,
            "asked {asked_after_ms}ms after the cut, the leader led {led_ms}ms after it \
             ({unasked_ms}ms unasked)"
        );
    }
}

/// How long the leader of a fresh cluster leads once cut off from the
/// others; from `asked_after_ms` on, it is asked every 300 ms (as a client
/// that got no answer asks again) to remove itself.
fn leads_after_cut_ms(asked_after_ms: Option<u64>) -> u64 {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    cluster.isolated.insert(leader);
    let cut_at = cluster.now;
    while cluster.member(leader).role().role == Role::Leader {
        let since_cut = cluster.now - cut_at;
        assert!(since_cut < 10_000, "still leading 10 s after the cut");
        if asked_after_ms
            .is_some_and(|asked| since_cut >= asked && (since_cut - asked).is_multiple_of(300))
        {
            let remove = MemberChange::Remove { id: leader };
            cluster.request(leader, ClientRequest::ChangeMember(remove));
        }
        cluster.run(10);
    }
    cluster.now - cut_at
}

/// Simulator seed 5413: a leader whose process stalled for seconds (no
/// ticks, nothing received) resumed and answered a keep-alive that had
/// waited for it before it took the tick that was long due: as leader of its
/// old term, "lease not found" of a lease its successor had granted during
/// the stall. A request now takes an overdue tick first, so check-quorum
/// deposes such a leader before it answers anything as leader.
#[test]
fn a_leader_that_stalled_takes_its_overdue_tick_before_answering_a_keep_alive() {
    let mut cluster = Cluster::new(3, 1000);
    cluster.run(3_000);
    let old = cluster.leader().expect("a leader");
    let node = cluster.nodes.get_mut(&old).expect("node");
    let stalled = node.member.take();
    node.disk_stuck = true;
    cluster.run(3_000);
    let new = cluster.leader().expect("a new leader");
    assert_ne!(new, old);
    let grant = ClientRequest::LeaseGrant { id: 9, ttl_secs: 5 };
    let granted = cluster.call(new, &Caller::Anonymous, grant);
    assert!(
        matches!(granted, Ok(ClientResponse::LeaseGrant { .. })),
        "{granted:?}"
    );
    // The stalled leader resumes; a keep-alive that waited for it is the
    // first thing it takes, before any tick or message.
    let node = cluster.nodes.get_mut(&old).expect("node");
    node.member = stalled;
    node.disk_stuck = false;
    let token = cluster.request(old, keep_alive(9));
    assert_eq!(
        cluster.response(old, token),
        Some(&Err(ClientError::NotLeader))
    );
    assert_ne!(cluster.member(old).role().role, Role::Leader);
}

/// Simulator seeds 314 and 458: a v2 watch waiting on a follower that
/// catches up through a snapshot is answered from the snapshot's history,
/// with the first matching event; it used to go on waiting, and the next
/// event applied woke it, so that the events in the snapshot were lost to it.
#[test]
fn a_v2_watch_waiting_through_a_snapshot_gets_the_first_event_in_it() {
    use cairn_core::v2store::V2Write;
    let set = |value: &str| {
        ClientRequest::V2(V2Request::Write(V2Write::Set {
            path: "/k".into(),
            dir: false,
            value: value.into(),
            expire_ms: None,
            refresh: false,
        }))
    };
    let mut cluster = Cluster::new(3, 5);
    cluster.run(3_000);
    let leader = cluster.leader().expect("a leader");
    let follower = cluster.follower_of(leader);
    cluster.isolated.insert(follower);
    let watch = V2Request::Watch {
        path: "/k".into(),
        recursive: false,
        since: 1,
        timeout_ms: 60_000,
    };
    let token = cluster.request(follower, ClientRequest::V2(watch));
    for i in 0..20 {
        let written = cluster.call(leader, &Caller::Anonymous, set(&format!("v{i}")));
        assert!(written.is_ok(), "{written:?}");
    }
    cluster.isolated.clear();
    cluster.run(2_000);
    let written = cluster.call(leader, &Caller::Anonymous, set("after"));
    assert!(written.is_ok(), "{written:?}");
    match cluster.response(follower, token) {
        Some(Ok(ClientResponse::V2(V2Answer {
            result: V2Result::Event(event),
            ..
        }))) => {
            assert_eq!(event.node.modified_index, 1, "{event:?}");
            assert_eq!(event.node.value.as_deref(), Some("v0"));
        }
        other => panic!("the watch was answered {other:?}"),
    }
}
