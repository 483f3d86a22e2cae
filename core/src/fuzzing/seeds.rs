//! Seed inputs: valid encodings of real messages, payloads, WAL segments and
//! snapshots, one set per target. They start cargo-fuzz's corpus
//! (`fuzz/corpus/<target>/seed-*`, written by `core/tests/fuzz_decoders.rs`)
//! and are what the stable tests mutate. Kept small: a fuzzer grows a corpus
//! from small inputs faster than from large ones.

use bytes::Bytes;

use super::{WAL_SEAL, WAL_SPLIT, WAL_START};
use crate::auth::{AuthOp, AuthStore, Identity, PermType, Permission};
use crate::codec::{encode_hello, encode_message, encode_message_body};
use crate::lease::{Lessor, LessorConfig};
use crate::member::{encode_member_info, encode_proposal};
use crate::member::{AlarmKind, MemberInfo, Op, Proposal};
use crate::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    SortOrder, SortTarget, Store, TxnRequest,
};
use crate::raft::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryKind, HardState, Message, MessageBody,
    RejectHint, SnapshotMeta,
};
use crate::snapshot::{self, Member, SnapshotView};
use crate::time::Instant;
use crate::v2store::V2Write;
use crate::wal::{Metadata, Record, SnapshotMarker, WalWriter};

/// `(name, bytes)` of every seed of `target` (one of [`super::TARGETS`]).
///
/// # Panics
/// On an unknown target name.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let named = |prefix: &str, inputs: Vec<Vec<u8>>| -> Vec<(String, Vec<u8>)> {
        inputs
            .into_iter()
            .enumerate()
            .map(|(n, bytes)| (format!("seed-{prefix}-{n:02}"), bytes))
            .collect()
    };
    match target {
        "peer_frame" => {
            let messages = messages();
            let mut all = named("hello", vec![encode_hello(0xc1a5, 1, 2).to_vec()]);
            let frames = messages.iter().map(|message| {
                let mut frame = Vec::new();
                encode_message(message, &mut frame);
                frame
            });
            all.extend(named("frame", frames.collect()));
            let bodies = messages.iter().map(|message| {
                let mut body = Vec::new();
                encode_message_body(message, &mut body);
                body
            });
            all.extend(named("body", bodies.collect()));
            all
        }
        "log_payload" => {
            let mut inputs: Vec<Vec<u8>> = proposals()
                .iter()
                .map(|proposal| encode_proposal(proposal).to_vec())
                .collect();
            inputs.push(encode_member_info(&member_info()).to_vec());
            inputs.push(conf_change().encode().to_vec());
            named("payload", inputs)
        }
        "wal_record" => named("record", wal_records()),
        "wal_recovery" => named("wal", wal_inputs()),
        "snapshot_file" => named("snapshot", snapshots()),
        other => panic!("no fuzz target {other:?} in cairn-core"),
    }
}

fn entry(term: u64, index: u64, data: &[u8]) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::copy_from_slice(data),
    }
}

fn messages() -> Vec<Message> {
    let put = encode_proposal(&proposals()[0]);
    let bodies = vec![
        MessageBody::Append {
            prev_index: 41,
            prev_term: 2,
            entries: vec![
                Entry {
                    data: put,
                    ..entry(3, 42, b"")
                },
                Entry {
                    kind: EntryKind::ConfChange,
                    data: conf_change().encode(),
                    ..entry(3, 43, b"")
                },
            ],
            commit: 40,
        },
        MessageBody::AppendResponse {
            index: 43,
            reject: None,
        },
        MessageBody::AppendResponse {
            index: 41,
            reject: Some(RejectHint { index: 30, term: 2 }),
        },
        MessageBody::Heartbeat {
            commit: 43,
            read_round: 7,
        },
        MessageBody::HeartbeatResponse { read_round: 7 },
        MessageBody::Vote {
            pre: true,
            last_index: 43,
            last_term: 3,
            transfer: false,
        },
        MessageBody::VoteResponse {
            pre: false,
            granted: true,
        },
        MessageBody::Snapshot {
            meta: SnapshotMeta {
                index: 100,
                term: 4,
                conf_state: ConfState {
                    voters: vec![1, 2, 3],
                    learners: vec![4],
                },
            },
        },
        MessageBody::Propose {
            entries: vec![entry(0, 0, b"proposal")],
        },
        MessageBody::ReadIndex { ids: vec![5, 6] },
        MessageBody::ReadIndexResponse {
            ids: vec![5, 6],
            index: 43,
        },
        MessageBody::TransferLeader { target: 3 },
        MessageBody::TimeoutNow,
    ];
    bodies
        .into_iter()
        .map(|body| Message {
            from: 1,
            to: 2,
            term: 3,
            body,
        })
        .collect()
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        ..PutRequest::default()
    }
}

fn txn() -> TxnRequest {
    let compare = |target| Compare {
        key: Bytes::from_static(b"k"),
        range_end: Bytes::new(),
        result: CompareResult::Greater,
        target,
    };
    TxnRequest {
        compare: vec![
            compare(CompareTarget::Version(1)),
            compare(CompareTarget::Create(2)),
            compare(CompareTarget::Mod(3)),
            compare(CompareTarget::Value(Bytes::from_static(b"v"))),
            compare(CompareTarget::Lease(7)),
        ],
        success: vec![
            RequestOp::Range(RangeRequest {
                key: Bytes::from_static(b"a"),
                range_end: Bytes::from_static(b"z"),
                limit: 10,
                sort_order: SortOrder::Descend,
                sort_target: SortTarget::Mod,
                keys_only: true,
                ..RangeRequest::default()
            }),
            RequestOp::Put(PutRequest {
                lease: 7,
                prev_kv: true,
                ..put("k", "v2")
            }),
            RequestOp::Txn(TxnRequest {
                compare: Vec::new(),
                success: vec![RequestOp::DeleteRange(DeleteRangeRequest {
                    key: Bytes::from_static(b"old"),
                    ..DeleteRangeRequest::default()
                })],
                failure: Vec::new(),
            }),
        ],
        failure: vec![RequestOp::Put(put("k", "v1"))],
    }
}

fn proposals() -> Vec<Proposal> {
    let ops = vec![
        Op::Put(put("greeting", "hello")),
        Op::DeleteRange(DeleteRangeRequest {
            key: Bytes::from_static(b"a"),
            range_end: Bytes::from_static(b"\0"),
            prev_kv: true,
        }),
        Op::Txn(txn()),
        Op::Compact {
            revision: 12,
            physical: true,
        },
        Op::V2(V2Write::CompareAndSwap {
            path: "/message".into(),
            prev_value: "hello".into(),
            prev_index: 3,
            value: "goodbye".into(),
            expire_ms: Some(1_700_000_000_000),
            refresh: false,
        }),
        Op::V2(V2Write::Expire {
            now_ms: 1_700_000_000_000,
        }),
        Op::LeaseGrant {
            id: 7,
            ttl_secs: 30,
        },
        Op::LeaseRevoke { id: -1 },
        Op::Alarm {
            activate: true,
            member: 2,
            alarm: AlarmKind::NoSpace,
        },
        Op::Auth(AuthOp::UserAdd {
            name: "alice".into(),
            password_hash: b"$2b$10$hash".to_vec(),
            no_password: false,
        }),
        Op::Auth(AuthOp::RoleGrantPermission {
            name: "reader".into(),
            perm: Permission {
                key: b"a".to_vec(),
                range_end: b"b".to_vec(),
                perm_type: PermType::ReadWrite,
            },
        }),
        Op::Auth(AuthOp::Authenticate {
            name: "alice".into(),
            token: "tok.1".into(),
            checked_revision: 3,
        }),
        Op::PublishAttributes {
            member: 1,
            name: "n1".into(),
            client_urls: vec!["http://127.0.0.1:2379".into()],
        },
        Op::V2(V2Write::Auth(crate::v2store::V2AuthWrite::UserPut {
            name: "root".into(),
            password_hash: Some("$2a$10$hash".into()),
            roles: Some(vec!["reader".into()]),
            grant: Vec::new(),
            revoke: Vec::new(),
        })),
    ];
    let identities = [
        Identity::User("alice".into()),
        Identity::Anonymous,
        Identity::System,
    ];
    ops.into_iter()
        .zip(identities.iter().cycle())
        .enumerate()
        .map(|(seq, (op, identity))| Proposal {
            origin: 1,
            seq: seq as u64,
            identity: identity.clone(),
            op,
        })
        .collect()
}

fn member_info() -> MemberInfo {
    MemberInfo {
        name: "n4".into(),
        peer_urls: vec!["http://127.0.0.1:2480".into()],
        client_urls: vec!["http://127.0.0.1:2479".into()],
    }
}

fn conf_change() -> ConfChange {
    ConfChange {
        kind: ConfChangeKind::AddLearner,
        node: 4,
        context: encode_member_info(&member_info()),
    }
}

fn wal_records() -> Vec<Vec<u8>> {
    let records = [
        Record::Metadata(Metadata {
            cluster_id: 0xc1a5,
            member_id: 1,
        }),
        Record::HardState(HardState {
            term: 3,
            vote: 1,
            commit: 42,
        }),
        Record::Entry(entry(3, 43, b"data")),
        Record::Entry(Entry {
            kind: EntryKind::ConfChange,
            data: conf_change().encode(),
            ..entry(3, 44, b"")
        }),
        Record::SnapshotMarker(SnapshotMarker { index: 40, term: 2 }),
    ];
    records
        .iter()
        .map(|record| {
            let mut input = vec![record.kind()];
            record.write_payload(&mut input);
            input
        })
        .collect()
}

fn metadata() -> Metadata {
    Metadata {
        cluster_id: 0xc1a5,
        member_id: 1,
    }
}

/// A segment holding three entries (the third rewritten, as after a leader
/// change) and hard states, then a little preallocated space.
fn segment_after(start: SnapshotMarker) -> Vec<u8> {
    let (mut writer, segment) = WalWriter::create(metadata(), start);
    let mut bytes = segment.bytes;
    let first = start.index + 1;
    writer.append_entries(
        &mut bytes,
        &[
            entry(1, first, b"one"),
            entry(1, first + 1, b"two"),
            entry(1, first + 2, b"three"),
        ],
    );
    writer.append_entries(&mut bytes, &[entry(2, first + 2, b"three again")]);
    writer.append_hard_state(
        &mut bytes,
        HardState {
            term: 2,
            vote: 1,
            commit: first + 1,
        },
    );
    bytes.resize(bytes.len() + 32, 0);
    bytes
}

fn wal_inputs() -> Vec<Vec<u8>> {
    let plain = segment_after(SnapshotMarker::default());
    let mut inputs = vec![
        [&[0u8][..], &plain].concat(),
        [&[WAL_SEAL][..], &plain].concat(),
    ];

    let start = SnapshotMarker { index: 40, term: 2 };
    let mut marker = Vec::new();
    marker.extend_from_slice(&start.index.to_le_bytes());
    marker.extend_from_slice(&start.term.to_le_bytes());
    inputs.push([&[WAL_START | WAL_SEAL][..], &marker, &segment_after(start)].concat());

    // Two segments: a writer that cuts after every batch.
    let (writer, segment) = WalWriter::create(metadata(), SnapshotMarker::default());
    let mut writer = writer.with_segment_size(1);
    let mut first = segment.bytes;
    writer.append_entries(&mut first, &[entry(1, 1, b"one")]);
    let mut second = writer.cut().bytes;
    writer.append_entries(&mut second, &[entry(1, 2, b"two")]);
    let split = (first.len() as u16).to_le_bytes();
    inputs.push([&[WAL_SPLIT][..], &split, &first, &second].concat());
    inputs
}

fn snapshots() -> Vec<Vec<u8>> {
    let mut leases = Lessor::new(LessorConfig { min_ttl_secs: 1 });
    leases.grant(7, 30, Instant::ZERO).expect("grant");
    let mut store = Store::default();
    for (key, lease) in [("a", 0), ("b", 7), ("c", 0), ("a", 0)] {
        let request = PutRequest {
            lease,
            ..put(key, "value")
        };
        let _ = store.put(&mut leases, &request).expect("put");
    }
    let delete = DeleteRangeRequest {
        key: Bytes::from_static(b"c"),
        ..DeleteRangeRequest::default()
    };
    let _ = store.delete_range(&mut leases, &delete).expect("delete");
    store.compact(2).expect("compact");

    let meta = SnapshotMeta {
        index: 42,
        term: 3,
        conf_state: ConfState {
            voters: vec![1, 2],
            learners: vec![4],
        },
    };
    let members = vec![Member {
        id: 1,
        name: "n1".into(),
        peer_urls: vec!["http://127.0.0.1:2380".into()],
        client_urls: vec!["http://127.0.0.1:2379".into()],
        is_learner: false,
    }];
    let mut auth = AuthStore::new(1);
    for op in [
        AuthOp::UserAdd {
            name: "root".into(),
            password_hash: b"$2b$10$hash".to_vec(),
            no_password: false,
        },
        AuthOp::UserGrantRole {
            user: "root".into(),
            role: "root".into(),
        },
        AuthOp::RoleAdd {
            name: "reader".into(),
        },
        AuthOp::RoleGrantPermission {
            name: "reader".into(),
            perm: Permission {
                key: b"a".to_vec(),
                range_end: b"\0".to_vec(),
                perm_type: PermType::Read,
            },
        },
        AuthOp::Enable,
    ] {
        auth.apply(&Identity::System, &op, Instant::ZERO)
            .expect("auth op");
    }
    let records = leases.records();
    let mut v2 = crate::v2store::V2Store::new();
    for write in [
        V2Write::Set {
            path: "/dir/key".into(),
            dir: false,
            value: "value".into(),
            expire_ms: Some(1_000),
            refresh: false,
        },
        V2Write::Create {
            path: "/queue".into(),
            dir: false,
            value: "job".into(),
            unique: true,
            expire_ms: None,
        },
        V2Write::Auth(crate::v2store::V2AuthWrite::UserPut {
            name: "root".into(),
            password_hash: Some("$2a$10$hash".into()),
            roles: None,
            grant: Vec::new(),
            revoke: Vec::new(),
        }),
        V2Write::Auth(crate::v2store::V2AuthWrite::Enable),
    ] {
        v2.apply(&write).expect("v2 write");
    }
    let v2 = v2.encode();
    let full = snapshot::encode(&SnapshotView {
        meta: &meta,
        members: &members,
        removed: &[7],
        kv: &store,
        leases: &records,
        v2: &v2,
        auth: &auth,
    });
    let empty = snapshot::encode(&SnapshotView {
        meta: &SnapshotMeta::default(),
        members: &[],
        removed: &[],
        kv: &Store::default(),
        leases: &[],
        v2: b"",
        auth: &AuthStore::new(1),
    });
    vec![full, empty]
}
