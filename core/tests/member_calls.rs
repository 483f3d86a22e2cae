//! Every typed call ([`cairn_core::member::Call`]) made of a real member, one
//! of a single-member cluster: the member answers each with the response its
//! type names (an answer of another shape would make `answer` panic), and an
//! error with the member's header.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::BTreeMap;
use std::fmt::Debug;

use bytes::Bytes;
use cairn_core::auth::{AuthOp, Caller, PermType, Permission, ROOT_ROLE, ROOT_USER};
use cairn_core::lease::LeaseError;
use cairn_core::member::calls::{self, LeaseTtl};
use cairn_core::member::{
    answer, Action, AlarmAction, AlarmKind, Call, CallResult, ClientError, ClientResponse,
    ClientToken, Header, Member, MemberConfig, MemberInfo,
};
use cairn_core::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};
use cairn_core::raft::{Config, Role};
use cairn_core::time::Instant;

const ID: u64 = 1;

/// One member alone: its disk always keeps up, it has no peers.
struct Solo {
    member: Member,
    now_ms: u64,
    next_token: ClientToken,
    answers: BTreeMap<ClientToken, (Header, Result<ClientResponse, ClientError>)>,
}

impl Solo {
    fn new() -> Solo {
        let config = MemberConfig::new(
            Config::new(ID, 7),
            0xC1,
            "solo".into(),
            vec!["http://solo:2379".into()],
        );
        let info = MemberInfo {
            name: "solo".into(),
            peer_urls: vec!["http://solo:2380".into()],
            client_urls: Vec::new(),
        };
        let member = Member::bootstrap(config, &[(ID, info)], Instant::ZERO).expect("bootstrap");
        let mut solo = Solo {
            member,
            now_ms: 0,
            next_token: 1,
            answers: BTreeMap::new(),
        };
        for _ in 0..500 {
            if solo.member.role().role == Role::Leader {
                break;
            }
            solo.run(10);
        }
        assert_eq!(solo.member.role().role, Role::Leader, "a lone member leads");
        solo.run(100);
        solo
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.now_ms)
    }

    /// Carries out every action: disk work completes at once.
    fn drain(&mut self) {
        while let Some(action) = self.member.poll_action() {
            let now = self.now();
            match action {
                Action::WriteWal { token, .. } => self.member.handle_wal_written(now, token),
                Action::SaveSnapshot { name, .. } => self.member.handle_snapshot_saved(now, name),
                Action::Respond {
                    token,
                    header,
                    result,
                } => {
                    self.answers.insert(token, (header, result));
                }
                _ => {}
            }
        }
    }

    fn run(&mut self, ms: u64) {
        self.drain();
        for _ in 0..ms / 10 {
            self.now_ms += 10;
            let now = self.now();
            self.member.handle_tick(now);
            self.drain();
        }
    }

    /// Makes `call` as `caller` and types the member's answer.
    fn call<C: Call>(&mut self, caller: &Caller, call: C) -> CallResult<C::Response> {
        let token = self.next_token;
        self.next_token += 1;
        let now = self.now();
        self.member
            .handle_client(now, token, caller, call.into_request());
        for _ in 0..100 {
            if self.answers.contains_key(&token) {
                break;
            }
            self.run(10);
        }
        let (header, result) = self.answers.remove(&token).expect("answered");
        answer::<C>(header, result)
    }

    /// The answer of a call that must succeed.
    fn ok<C: Call>(&mut self, call: C) -> C::Response
    where
        C::Response: Debug,
    {
        self.ok_as(&Caller::System, call)
    }

    fn ok_as<C: Call>(&mut self, caller: &Caller, call: C) -> C::Response
    where
        C::Response: Debug,
    {
        let (header, response) = self
            .call(caller, call)
            .unwrap_or_else(|(_, error)| panic!("{}: {error}", std::any::type_name::<C>()));
        assert_eq!((header.cluster_id, header.member_id), (0xC1, ID));
        response
    }
}

fn put(key: &str, lease: i64) -> PutRequest {
    PutRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::from_static(b"v"),
        lease,
        ..PutRequest::default()
    }
}

fn range(key: &str, serializable: bool) -> RangeRequest {
    RangeRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        serializable,
        ..RangeRequest::default()
    }
}

#[test]
fn kv_calls_are_answered_with_their_responses() {
    let mut solo = Solo::new();
    let first = solo.ok(put("a", 0));
    assert!(first.prev_kv.is_none());
    assert_eq!(solo.ok(range("a", false)).count, 1);
    assert_eq!(solo.ok(range("a", true)).count, 1);
    let read_only = TxnRequest {
        compare: Vec::new(),
        success: vec![RequestOp::Range(range("a", false))],
        failure: Vec::new(),
    };
    assert!(solo.ok(read_only).succeeded);
    let write = TxnRequest {
        compare: vec![Compare {
            key: Bytes::from_static(b"a"),
            range_end: Bytes::new(),
            result: CompareResult::Greater,
            target: CompareTarget::Version(0),
        }],
        success: vec![RequestOp::Put(put("b", 0))],
        failure: Vec::new(),
    };
    assert!(solo.ok(write).succeeded);
    let deleted = solo.ok(DeleteRangeRequest {
        key: Bytes::from_static(b"b"),
        range_end: Bytes::new(),
        prev_kv: false,
    });
    assert_eq!(deleted.deleted, 1);
    let revision = solo.ok(range("a", false)).header.revision;
    solo.ok(calls::Compact {
        revision,
        physical: false,
    });
}

#[test]
fn maintenance_and_cluster_calls_are_answered_with_their_responses() {
    let mut solo = Solo::new();
    solo.ok(put("a", 0));
    let members = solo.ok(calls::MemberList);
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].id, ID);
    assert_eq!(solo.ok(calls::Status).leader, ID);
    solo.ok(calls::Hash);
    let hash = solo.ok(calls::HashKv { revision: 0 });
    assert!(hash.current_revision >= 2);
    let alarm = |action| calls::Alarm {
        action,
        member: ID,
        alarm: Some(AlarmKind::NoSpace),
    };
    assert_eq!(
        solo.ok(alarm(AlarmAction::Activate)),
        vec![(ID, AlarmKind::NoSpace)]
    );
    assert_eq!(
        solo.ok(calls::Alarm {
            action: AlarmAction::Get,
            member: 0,
            alarm: None,
        }),
        vec![(ID, AlarmKind::NoSpace)]
    );
    assert_eq!(solo.ok(alarm(AlarmAction::Deactivate)), Vec::new());
}

#[test]
fn lease_calls_are_answered_with_their_responses() {
    let mut solo = Solo::new();
    let LeaseTtl { id, ttl_secs } = solo.ok(calls::LeaseGrant {
        id: 0,
        ttl_secs: 60,
    });
    assert!(id != 0 && ttl_secs == 60);
    solo.ok(put("leased", id));
    assert_eq!(solo.ok(calls::LeaseKeepAlive { id }).id, id);
    let ttl = solo.ok(calls::LeaseTimeToLive { id, keys: true });
    assert_eq!(ttl.keys, vec![Bytes::from_static(b"leased")]);
    assert_eq!(solo.ok(calls::LeaseLeases), vec![id]);
    solo.ok(calls::LeaseRevoke { id });
    // An error arrives with the member's header, current as of the error.
    let revision = solo.member.store().current_revision();
    let (header, error) = solo
        .call(&Caller::System, calls::LeaseKeepAlive { id })
        .expect_err("revoked");
    assert_eq!(error, ClientError::Lease(LeaseError::NotFound));
    assert_eq!(
        header,
        Header {
            cluster_id: 0xC1,
            member_id: ID,
            revision,
            raft_term: solo.member.role().term,
        }
    );
}

#[test]
fn auth_calls_are_answered_with_their_responses() {
    let mut solo = Solo::new();
    let root = Caller::User {
        name: ROOT_USER.into(),
        revision: None,
    };
    solo.ok(AuthOp::UserAdd {
        name: ROOT_USER.into(),
        password_hash: b"$2b$04$hash".to_vec(),
        no_password: false,
    });
    solo.ok(AuthOp::UserGrantRole {
        user: ROOT_USER.into(),
        role: ROOT_ROLE.into(),
    });
    solo.ok(AuthOp::RoleAdd {
        name: "reader".into(),
    });
    solo.ok(AuthOp::RoleGrantPermission {
        name: "reader".into(),
        perm: Permission {
            key: b"a".to_vec(),
            range_end: Vec::new(),
            perm_type: PermType::Read,
        },
    });
    solo.ok(AuthOp::Enable);
    let state = solo.ok_as(&root, calls::AuthStatus);
    assert!(state.enabled);
    assert_eq!(
        solo.ok_as(
            &root,
            calls::UserGet {
                name: ROOT_USER.into()
            }
        ),
        vec![ROOT_ROLE.to_string()]
    );
    assert_eq!(
        solo.ok_as(&root, calls::UserList),
        vec![ROOT_USER.to_string()]
    );
    assert_eq!(
        solo.ok_as(
            &root,
            calls::RoleGet {
                name: "reader".into()
            }
        )
        .len(),
        1
    );
    assert_eq!(
        solo.ok_as(&root, calls::RoleList),
        // The root role is implicit until it is added.
        vec!["reader".to_string()]
    );
    let stored = solo.ok(calls::PasswordHash {
        name: ROOT_USER.into(),
    });
    assert_eq!(stored.hash, b"$2b$04$hash".to_vec());
    assert_eq!(stored.revision, state.revision);
}

/// v2 auth writes go through the log and answer their own result (a
/// refusal as `ClientError::V2Auth`); `AuthGet` reads the applied state.
#[test]
fn v2_auth_calls_are_answered_with_their_responses() {
    use cairn_core::member::{V2Request, V2Result};
    use cairn_core::v2store::{V2AuthAnswer, V2AuthWrite, V2Write};
    let mut solo = Solo::new();
    let root = V2AuthWrite::UserPut {
        name: "root".into(),
        password_hash: Some("$2b$04$hash".into()),
        roles: None,
        grant: Vec::new(),
        revoke: Vec::new(),
    };
    let answer = solo.ok(V2Request::Write(V2Write::Auth(root)));
    assert_eq!(
        answer.result,
        V2Result::Auth(V2AuthAnswer::User {
            name: "root".into(),
            roles: Some(vec!["root".into()]),
            created: true,
        })
    );
    solo.ok(V2Request::Write(V2Write::Auth(V2AuthWrite::Enable)));
    let refused = solo.call(
        &Caller::Anonymous,
        V2Request::Write(V2Write::Auth(V2AuthWrite::Enable)),
    );
    match refused {
        Err((_, ClientError::V2Auth(error))) => {
            assert_eq!(
                (error.status, error.message.as_str()),
                (409, "auth: already enabled")
            );
        }
        other => panic!("not refused: {other:?}"),
    }
    let V2Result::AuthState(auth) = solo.ok(V2Request::AuthGet).result else {
        panic!("not the auth state")
    };
    assert!(auth.enabled());
    assert_eq!(auth.user_names(), vec!["root".to_string()]);
    assert!(auth.role("guest").is_some(), "enable made the guest role");
}

#[test]
fn counters_count_what_the_member_did() {
    let mut solo = Solo::new();
    let start = solo.ok(calls::Counters);
    assert_eq!(start.leader_changes, 1, "the lone member's own leadership");
    assert_eq!(start.applied_index, start.committed_index);
    solo.ok(put("a", 0));
    solo.ok(PutRequest {
        prev_kv: true,
        ..put("b", 0)
    });
    solo.ok(range("a", false));
    solo.ok(range("a", true));
    solo.ok(DeleteRangeRequest {
        key: Bytes::from_static(b"a"),
        range_end: Bytes::new(),
        prev_kv: false,
    });
    let counters = solo.ok(calls::Counters);
    assert_eq!(
        (
            counters.puts,
            counters.ranges,
            counters.deletes,
            counters.txns
        ),
        // The put with prev_kv reads first: a range and a txn, as in etcd.
        (2, 3, 1, 1)
    );
    assert_eq!(counters.keys, 1, "b is left");
    assert_eq!(counters.compact_revision, -1);
    assert!(counters.applied_index > start.applied_index);
    assert_eq!(counters.slow_requests, 0);
    assert_eq!(counters.proposals_pending, 0);

    // A put whose WAL write takes 150 ms is pending meanwhile, then slow.
    let token = solo.next_token;
    solo.next_token += 1;
    let now = solo.now();
    solo.member.handle_client(
        now,
        token,
        &Caller::System,
        calls::Call::into_request(put("c", 0)),
    );
    let mut held = Vec::new();
    while let Some(action) = solo.member.poll_action() {
        if let Action::WriteWal { token, .. } = action {
            held.push(token);
        }
    }
    let waiting = solo.ok(calls::Counters);
    assert_eq!(waiting.proposals_pending, 1);
    solo.now_ms += 150;
    for wal in held {
        let now = solo.now();
        solo.member.handle_wal_written(now, wal);
    }
    solo.run(10);
    assert!(solo.answers.remove(&token).is_some_and(|(_, r)| r.is_ok()));
    let after = solo.ok(calls::Counters);
    assert_eq!((after.slow_requests, after.proposals_pending), (1, 0));
}
