//! Criterion benches of core's hot paths: one put through a whole member
//! (propose, WAL batch, persisted, commit, apply, respond), MVCC put and
//! range, and WAL framing.
//!
//! Run: `cargo bench -p cairn-core --bench hot_paths`

use std::hint::black_box;

use bytes::Bytes;
use cairn_core::auth::{AuthOp, Caller, PermType, Permission};
use cairn_core::lease::{Lessor, LessorConfig};
use cairn_core::member::{Action, AuthRequest, ClientRequest, Member, MemberConfig, MemberInfo};
use cairn_core::mvcc::{PutRequest, RangeRequest, Store};
use cairn_core::raft::{Config, Entry, EntryKind, Role};
use cairn_core::time::Instant;
use cairn_core::wal::{Metadata, SnapshotMarker, WalWriter};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const KEYS: usize = 100_000;
const VALUE_BYTES: usize = 256;

fn key(i: usize) -> Bytes {
    Bytes::from(format!(
        "/registry/pods/{:0>16x}",
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    ))
}

fn put(i: usize) -> PutRequest {
    PutRequest {
        key: key(i),
        value: Bytes::from(vec![b'v'; VALUE_BYTES]),
        ..PutRequest::default()
    }
}

fn loaded_store() -> (Store, Lessor) {
    let mut store = Store::default();
    let mut leases = Lessor::new(LessorConfig::from_election_timeout_ms(1000));
    for i in 0..KEYS {
        let _events = store.put(&mut leases, &put(i)).expect("put");
    }
    (store, leases)
}

fn mvcc(c: &mut Criterion) {
    let (mut store, mut leases) = loaded_store();
    let mut i = 0;
    c.bench_function("mvcc put (overwrite, 100k keys)", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let _ = black_box(store.put(&mut leases, black_box(&put(i))).expect("put"));
        })
    });
    c.bench_function("mvcc range one key (100k keys)", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let request = RangeRequest {
                key: key(i),
                ..RangeRequest::default()
            };
            black_box(store.range(&request).expect("range"));
        })
    });
    let mut group = c.benchmark_group("mvcc range 100 keys");
    group.throughput(Throughput::Elements(100));
    group.bench_function("limit 100", |b| {
        b.iter(|| {
            let request = RangeRequest {
                key: Bytes::from_static(b"/registry/pods/"),
                range_end: Bytes::from_static(b"/registry/pods0"),
                limit: 100,
                ..RangeRequest::default()
            };
            black_box(store.range(&request).expect("range"));
        })
    });
    group.finish();
}

fn wal(c: &mut Criterion) {
    let entries: Vec<Entry> = (1..=64)
        .map(|index| Entry {
            term: 2,
            index,
            kind: EntryKind::Normal,
            data: Bytes::from(vec![b'e'; 300]),
        })
        .collect();
    let mut group = c.benchmark_group("wal");
    group.throughput(Throughput::Elements(entries.len() as u64));
    group.bench_function("frame 64 entries of 300 B", |b| {
        b.iter_batched(
            || {
                let metadata = Metadata {
                    cluster_id: 1,
                    member_id: 1,
                };
                WalWriter::create(metadata, SnapshotMarker::default()).0
            },
            |mut writer| {
                let mut buffer = Vec::with_capacity(64 * 1024);
                writer.append_entries(&mut buffer, black_box(&entries));
                black_box(buffer)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A single member that has elected itself, with its disk carried out
/// immediately (nothing is written: only the state machine is measured).
fn leader() -> Member {
    let info = MemberInfo {
        name: "m1".into(),
        peer_urls: vec!["http://m1:2380".into()],
        client_urls: Vec::new(),
    };
    let config = MemberConfig::new(Config::new(1, 7), 0xC1, "m1".into(), Vec::new());
    let mut member = Member::bootstrap(config, &[(1, info)], Instant::ZERO).expect("bootstrap");
    let mut now = 0;
    while member.role().role != Role::Leader {
        now += 100;
        member.handle_tick(Instant::from_millis(now));
        drain(&mut member, now);
    }
    member
}

fn drain(member: &mut Member, now: u64) -> usize {
    let mut responses = 0;
    while let Some(action) = member.poll_action() {
        match action {
            Action::WriteWal { token, .. } => {
                member.handle_wal_written(Instant::from_millis(now), token)
            }
            Action::Respond { .. } => responses += 1,
            _ => {}
        }
    }
    responses
}

fn member(c: &mut Criterion) {
    let mut member = leader();
    let mut token = 0;
    c.bench_function("member put (propose to response, one member)", |b| {
        b.iter(|| {
            token += 1;
            member.handle_client(
                Instant::from_millis(10_000),
                token,
                &Caller::Anonymous,
                ClientRequest::Put(put(token as usize % KEYS)),
            );
            assert_eq!(drain(&mut member, 10_000), 1);
        })
    });
}

/// Sends one request and applies everything it causes; panics unless it
/// was answered with success.
fn call(member: &mut Member, token: &mut u64, caller: &Caller, request: ClientRequest) {
    *token += 1;
    member.handle_client(Instant::from_millis(10_000), *token, caller, request);
    while let Some(action) = member.poll_action() {
        match action {
            Action::WriteWal { token, .. } => {
                member.handle_wal_written(Instant::from_millis(10_000), token)
            }
            Action::Respond { result, .. } => assert!(result.is_ok(), "{result:?}"),
            _ => {}
        }
    }
}

/// The same put with auth enabled, as a user whose role grants the
/// `/registry/` prefix among 20 other grants, with a simple token: the
/// token lookup and the permission checks (on arrival and when applied).
fn member_with_auth(c: &mut Criterion) {
    let mut member = leader();
    let mut token = 0;
    let system = Caller::System;
    let change = |op| ClientRequest::Auth(AuthRequest::Change(op));
    let mut setup = vec![
        AuthOp::UserAdd {
            name: "root".into(),
            password_hash: b"h".to_vec(),
            no_password: false,
        },
        AuthOp::UserGrantRole {
            user: "root".into(),
            role: "root".into(),
        },
        AuthOp::UserAdd {
            name: "kube".into(),
            password_hash: b"h".to_vec(),
            no_password: false,
        },
        AuthOp::RoleAdd {
            name: "apiserver".into(),
        },
        AuthOp::UserGrantRole {
            user: "kube".into(),
            role: "apiserver".into(),
        },
    ];
    for i in 0..20 {
        setup.push(AuthOp::RoleGrantPermission {
            name: "apiserver".into(),
            perm: Permission {
                key: format!("/other{i:02}/").into_bytes(),
                range_end: format!("/other{i:02}0").into_bytes(),
                perm_type: PermType::Read,
            },
        });
    }
    setup.push(AuthOp::RoleGrantPermission {
        name: "apiserver".into(),
        perm: Permission {
            key: b"/registry/".to_vec(),
            range_end: b"/registry0".to_vec(),
            perm_type: PermType::ReadWrite,
        },
    });
    setup.push(AuthOp::Enable);
    for op in setup {
        call(&mut member, &mut token, &system, change(op));
    }
    let revision = member.auth().revision();
    let login = AuthOp::Authenticate {
        name: "kube".into(),
        token: "bench.1".into(),
        checked_revision: revision,
    };
    call(&mut member, &mut token, &system, change(login));
    let kube = Caller::Token("bench.1".into());
    c.bench_function("member put with auth (token, prefix permission)", |b| {
        b.iter(|| {
            let request = ClientRequest::Put(put(token as usize % KEYS));
            call(&mut member, &mut token, &kube, request);
        })
    });
    c.bench_function("member serializable get with auth", |b| {
        b.iter(|| {
            let request = ClientRequest::Range(RangeRequest {
                key: key(token as usize % 64),
                serializable: true,
                ..RangeRequest::default()
            });
            call(&mut member, &mut token, &kube, request);
        })
    });
}

/// The serializable get without auth, to set beside the one with.
fn member_get(c: &mut Criterion) {
    let mut member = leader();
    let mut token = 0;
    for i in 0..64 {
        call(
            &mut member,
            &mut token,
            &Caller::Anonymous,
            ClientRequest::Put(put(i)),
        );
    }
    c.bench_function("member serializable get", |b| {
        b.iter(|| {
            let request = ClientRequest::Range(RangeRequest {
                key: key(token as usize % 64),
                serializable: true,
                ..RangeRequest::default()
            });
            call(&mut member, &mut token, &Caller::Anonymous, request);
        })
    });
}

criterion_group!(benches, mvcc, wal, member, member_with_auth, member_get);
criterion_main!(benches);
