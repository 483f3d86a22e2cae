//! The fuzz body for what an etcd data directory or backup brings in
//! (`etcd_import`): etcd's database records, its log entries and its v2
//! store JSON, each into cairn's form. Run by `fuzz/fuzz_targets/` and by
//! `server/tests/fuzz_requests.rs` (see `crate::fuzzing`).
//!
//! Input: `kind u8 | bytes`; kind (modulo 4) picks a database file, a
//! normal log entry, a conf change entry, or the v2 store's JSON.

use std::collections::BTreeSet;
use std::io::Cursor;

use bytes::Bytes;
use cairn_core::auth::{AuthStore, PermType, Permission, Role, User};
use cairn_core::lease::LeaseRecord;
use cairn_core::member::{AlarmKind, BackupImage, MemberStatus};
use cairn_core::mvcc::{RevisionRecord, StoreBuilder, StoreConfig};
use cairn_etcd_wal as etcd;
use cairn_proto::etcdserverpb as pb;
use prost::Message;

use super::entries::{self, Converted, InternalRaftRequest, RequestHeader, RequestV2};
use super::{export, import, migrate};

const KIND_DB: u8 = 0;
const KIND_NORMAL: u8 = 1;
const KIND_CONF_CHANGE: u8 = 2;
const KIND_V2_JSON: u8 = 3;
const KINDS: u8 = 4;

/// Imports `data` as the first byte says; every input gets a value or an
/// error, never a panic.
pub fn etcd_import(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % KINDS {
        KIND_DB => {
            let mut fixed = rest.to_vec();
            cairn_bbolt::refresh_meta_checksums(&mut fixed);
            if let Ok(db) = import::read_db(&fixed, StoreConfig::default(), 1000) {
                // What was read writes back out, and reads back the same.
                let image = BackupImage {
                    applied_index: db.consistent_index,
                    applied_term: 1,
                    revisions: db.store.revision_records(),
                    current_revision: db.store.current_revision(),
                    compact_revision: db.store.compact_revision(),
                    leases: db.leases,
                    auth: db.auth,
                    members: db.members,
                    removed: db.removed,
                    alarms: db.alarms,
                };
                let mut out = Cursor::new(Vec::new());
                export::write_database_to(&image, &mut out).expect("an imported state exports");
                let again = import::read_db(out.get_ref(), StoreConfig::default(), 1000)
                    .expect("an exported state imports");
                assert_eq!(again.store, db.store, "the store round-trips");
                assert_eq!(again.auth, image.auth, "auth round-trips");
            }
        }
        KIND_NORMAL | KIND_CONF_CHANGE => {
            let entry = etcd::Entry {
                index: 1,
                term: 1,
                kind: if kind % KINDS == KIND_NORMAL {
                    etcd::EntryType::Normal
                } else {
                    etcd::EntryType::ConfChange
                },
                data: rest.to_vec(),
            };
            let mut learners = BTreeSet::new();
            let hash = |password: &str| Ok(password.as_bytes().to_vec());
            let _ =
                entries::convert_entries(&[entry], &mut learners, &hash, &mut Converted::default());
            let _ = entries::publication(rest);
        }
        _ => {
            let _ = migrate::v2_members_of(rest);
        }
    }
}

/// Seeds: a database cairn exports (keys with history and a compaction,
/// leases, users, roles, members, an alarm), entries of each kind, and a
/// v2 store as etcd's snapshot holds it.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let mut db = vec![KIND_DB];
    let mut out = Cursor::new(Vec::new());
    export::write_database_to(&sample_image(), &mut out).expect("export");
    db.extend_from_slice(out.get_ref());
    seeds.push(db);

    let header = Some(RequestHeader {
        id: 7,
        username: "alice".into(),
        auth_revision: 3,
    });
    let requests = [
        InternalRaftRequest {
            header: header.clone(),
            put: Some(pb::PutRequest {
                key: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
                lease: 0x1001,
                ..Default::default()
            }),
            ..Default::default()
        },
        InternalRaftRequest {
            header: header.clone(),
            txn: Some(pb::TxnRequest {
                success: vec![pb::RequestOp {
                    request: Some(pb::request_op::Request::RequestDeleteRange(
                        pb::DeleteRangeRequest {
                            key: Bytes::from_static(b"a"),
                            range_end: Bytes::from_static(b"z"),
                            ..Default::default()
                        },
                    )),
                }],
                ..Default::default()
            }),
            ..Default::default()
        },
        InternalRaftRequest {
            auth_user_add: Some(pb::AuthUserAddRequest {
                name: "bob".into(),
                password: "pw".into(),
                options: None,
            }),
            ..Default::default()
        },
        InternalRaftRequest {
            lease_grant: Some(pb::LeaseGrantRequest {
                ttl: 60,
                id: 0x1002,
            }),
            ..Default::default()
        },
    ];
    for request in requests {
        let mut seed = vec![KIND_NORMAL];
        seed.extend(request.encode_to_vec());
        seeds.push(seed);
    }
    let publish = RequestV2 {
        id: 9,
        method: "PUT".into(),
        path: "/0/members/8e9e05c52164694d/attributes".into(),
        val: r#"{"name":"m1","clientURLs":["http://127.0.0.1:2379"]}"#.into(),
    };
    let mut seed = vec![KIND_NORMAL];
    seed.extend(publish.encode_to_vec());
    seeds.push(seed);
    // raftpb.ConfChange {ID 1, Type AddNode 0, NodeID 0x8e9e.., Context JSON}.
    let context =
        br#"{"id":10276657743932975437,"peerURLs":["http://127.0.0.1:2380"],"name":"m1"}"#;
    let mut change = vec![KIND_CONF_CHANGE, 0x08, 0x01, 0x10, 0x00, 0x18];
    let mut node = 0x8e9e_05c5_2164_694d_u64;
    while node >= 0x80 {
        change.push((node as u8) | 0x80);
        node >>= 7;
    }
    change.push(node as u8);
    change.push(0x22);
    change.push(context.len() as u8);
    change.extend_from_slice(context);
    seeds.push(change);
    let mut v2 = vec![KIND_V2_JSON];
    v2.extend_from_slice(
        br#"{"Root":{"Path":"/","Children":{"0":{"Path":"/0","Children":{"members":{"Path":"/0/members","Children":{"8e9e05c52164694d":{"Path":"/0/members/8e9e05c52164694d","Children":{"raftAttributes":{"Path":"/0/members/8e9e05c52164694d/raftAttributes","Value":"{\"peerURLs\":[\"http://127.0.0.1:2380\"]}"},"attributes":{"Path":"/0/members/8e9e05c52164694d/attributes","Value":"{\"name\":\"m1\",\"clientURLs\":[\"http://127.0.0.1:2379\"]}"}}}}},"removed_members":{"Path":"/0/removed_members","Children":{"1234":{"Path":"/0/removed_members/1234","Value":"removed"}}}}}}}}"#,
    );
    seeds.push(v2);
    seeds
}

fn sample_image() -> BackupImage {
    let mut builder = StoreBuilder::new(StoreConfig::default());
    let record =
        |key: &'static [u8], main, sub, tombstone, create, version, value: &'static [u8]| {
            RevisionRecord {
                key: Bytes::from_static(key),
                main,
                sub,
                tombstone,
                create_revision: create,
                version,
                lease: 0,
                value: Bytes::from_static(value),
            }
        };
    for r in [
        record(b"a", 2, 0, false, 2, 1, b"1"),
        record(b"b", 2, 1, false, 2, 1, b"2"),
        record(b"a", 3, 0, false, 2, 2, b"3"),
        record(b"b", 4, 0, true, 0, 0, b""),
        record(b"b", 5, 0, false, 5, 1, b"4"),
    ] {
        builder.push(r).expect("a valid history");
    }
    let store = builder.finish(5, 3).expect("a valid store");
    let auth = AuthStore::import(
        true,
        4,
        vec![User {
            name: "root".into(),
            password_hash: b"$2a$10$abcdefghijklmnopqrstuv".to_vec(),
            roles: vec!["root".into()],
            no_password: false,
        }],
        vec![Role {
            name: "reader".into(),
            perms: vec![Permission {
                key: b"a".to_vec(),
                range_end: b"b".to_vec(),
                perm_type: PermType::Read,
            }],
        }],
        1000,
    );
    BackupImage {
        applied_index: 42,
        applied_term: 2,
        revisions: store.revision_records(),
        current_revision: store.current_revision(),
        compact_revision: store.compact_revision(),
        leases: vec![LeaseRecord {
            id: 0x1001,
            ttl_secs: 60,
        }],
        auth,
        members: vec![MemberStatus {
            id: 0x8e9e_05c5_2164_694d,
            name: "m1".into(),
            peer_urls: vec!["http://127.0.0.1:2380".into()],
            client_urls: vec!["http://127.0.0.1:2379".into()],
            is_learner: false,
        }],
        removed: vec![0x1234],
        alarms: vec![(0x8e9e_05c5_2164_694d, AlarmKind::NoSpace)],
    }
}
