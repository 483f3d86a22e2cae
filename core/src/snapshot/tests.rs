//! Round trip and corruption tests of the snapshot codec.

use bytes::Bytes;

use super::*;
use crate::lease::{LeaseRecord, Lessor, LessorConfig};
use crate::mvcc::{DeleteRangeRequest, PutRequest, Store, StoreConfig};
use crate::raft::{ConfState, SnapshotMeta};
use crate::time::Instant;

pub(crate) fn sample() -> (SnapshotMeta, Vec<Member>, Store, Vec<LeaseRecord>) {
    let mut store = Store::default();
    let mut leases = Lessor::new(LessorConfig { min_ttl_secs: 1 });
    leases.grant(5, 30, Instant::ZERO).expect("grant");
    for (key, lease) in [("a", 0), ("b", 5), ("c", 0)] {
        let request = PutRequest {
            key: Bytes::from(key),
            value: Bytes::from(format!("value of {key}")),
            lease,
            ..PutRequest::default()
        };
        let _ = store.put(&mut leases, &request).expect("put");
    }
    let _ = store
        .delete_range(
            &mut leases,
            &DeleteRangeRequest {
                key: Bytes::from("c"),
                ..DeleteRangeRequest::default()
            },
        )
        .expect("delete");
    store.compact(3).expect("compact");
    let meta = SnapshotMeta {
        index: 42,
        term: 3,
        conf_state: ConfState {
            voters: vec![1, 2, 3],
            learners: vec![4],
        },
    };
    let members = vec![Member {
        id: 1,
        name: "n1".to_string(),
        peer_urls: vec!["http://10.0.0.1:2380".to_string()],
        client_urls: vec!["http://10.0.0.1:2379".to_string()],
        is_learner: false,
    }];
    (meta, members, store, leases.records())
}

fn sample_v2() -> crate::v2store::V2Store {
    let mut v2 = crate::v2store::V2Store::new();
    v2.apply(&crate::v2store::V2Write::Set {
        path: "/message".into(),
        dir: false,
        value: "hello".into(),
        expire_ms: None,
        refresh: false,
    })
    .expect("v2 set");
    v2
}

fn encoded() -> (Vec<u8>, Store) {
    let (meta, members, store, leases) = sample();
    let v2 = sample_v2().encode();
    let view = SnapshotView {
        meta: &meta,
        members: &members,
        removed: &[9, 12],
        kv: &store,
        leases: &leases,
        v2: &v2,
        auth: &crate::auth::AuthStore::new(1),
    };
    (encode(&view), store)
}

#[test]
fn round_trips_every_section() {
    let (meta, members, _, leases) = sample();
    let (bytes, store) = encoded();
    let image = decode(&Bytes::from(bytes), StoreConfig::default()).expect("decode");
    assert_eq!(image.meta, meta);
    assert_eq!(image.members, members);
    assert_eq!(image.removed, vec![9, 12]);
    assert_eq!(image.leases, leases);
    assert_eq!(image.v2, sample_v2());
    assert!(image.auth.same_state(&crate::auth::AuthStore::new(1)));
    assert_eq!(image.kv.hash(), store.hash());
    assert_eq!(image.kv.compact_revision(), 3);
    assert_eq!(image.kv.current_revision(), store.current_revision());
    let attached: Vec<_> = image.kv.attached_leases().collect();
    assert_eq!(attached, vec![(5, Bytes::from("b"))]);
}

#[test]
fn every_single_bit_flip_and_truncation_is_a_typed_error() {
    let (bytes, _) = encoded();
    for position in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[position] ^= 0x04;
        assert!(
            decode(&Bytes::from(damaged), StoreConfig::default()).is_err(),
            "flip at {position} undetected"
        );
    }
    for cut in 0..bytes.len() {
        assert!(decode(
            &Bytes::copy_from_slice(&bytes[..cut]),
            StoreConfig::default()
        )
        .is_err());
    }
}

#[test]
fn names_round_trip() {
    let name = snapshot_name(3, 0x2a);
    assert_eq!(name, "0000000000000003-000000000000002a.snap");
    assert_eq!(parse_snapshot_name(&name), Some((3, 42)));
    assert_eq!(parse_snapshot_name("3-2a.snap"), None);
}
