//! Properties: random writes (nasty paths included) never panic and keep the
//! store's invariants; images and write payloads round-trip; decoding
//! arbitrary or corrupted bytes never panics and yields only valid stores.

use bytes::Bytes;
use proptest::prelude::*;

use super::path::{child_path, depth, split};
use super::*;
use crate::codec::wire::Reader;

const T0: i64 = 1_700_000_000_000;

fn path() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec!["a", "b", "c", "_h", "..", ".", "", "ab", "é"]);
    prop_oneof![
        12 => (any::<bool>(), prop::collection::vec(segment, 0..5)).prop_map(|(rooted, segments)| {
            let joined = segments.join("/");
            if rooted { format!("/{joined}") } else { joined }
        }),
        // Around the depth limit.
        1 => (0usize..3).prop_map(|extra| "/z".repeat(MAX_DEPTH - 1 + extra)),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "v", "w", "é"]).prop_map(str::to_owned)
}

fn expire() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        3 => Just(None),
        3 => (0i64..20).prop_map(|step| Some(T0 + step * 100)),
        1 => Just(Some(5)),
        1 => Just(Some(i64::MIN)),
    ]
}

fn write() -> impl Strategy<Value = V2Write> {
    prop_oneof![
        4 => (path(), any::<bool>(), value(), expire(), any::<bool>()).prop_map(
            |(path, dir, value, expire_ms, refresh)| V2Write::Set { path, dir, value, expire_ms, refresh }
        ),
        4 => (path(), any::<bool>(), value(), any::<bool>(), expire()).prop_map(
            |(path, dir, value, unique, expire_ms)| V2Write::Create { path, dir, value, unique, expire_ms }
        ),
        2 => (path(), value(), expire(), any::<bool>()).prop_map(
            |(path, value, expire_ms, refresh)| V2Write::Update { path, value, expire_ms, refresh }
        ),
        2 => (path(), value(), 0u64..12, value(), expire(), any::<bool>()).prop_map(
            |(path, prev_value, prev_index, value, expire_ms, refresh)| V2Write::CompareAndSwap {
                path, prev_value, prev_index, value, expire_ms, refresh
            }
        ),
        2 => (path(), any::<bool>(), any::<bool>()).prop_map(
            |(path, dir, recursive)| V2Write::Delete { path, dir, recursive }
        ),
        1 => (path(), value(), 0u64..12).prop_map(
            |(path, prev_value, prev_index)| V2Write::CompareAndDelete { path, prev_value, prev_index }
        ),
        1 => prop_oneof![(0i64..2500).prop_map(|ms| T0 + ms), Just(i64::MIN), Just(i64::MAX)]
            .prop_map(|now_ms| V2Write::Expire { now_ms }),
        3 => auth_write().prop_map(V2Write::Auth),
    ]
}

/// Names of users, roles and globs: few, so that writes meet each other
/// (root and guest included, hidden and empty ones too).
fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["root", "guest", "a", "b", "_h", "", "/*", "/a*", "é"])
        .prop_map(str::to_owned)
}

fn names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(name(), 0..4)
}

fn maybe_names() -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::of(names())
}

fn permissions() -> impl Strategy<Value = V2Permissions> {
    (maybe_names(), maybe_names()).prop_map(|(read, write)| V2Permissions { read, write })
}

fn auth_write() -> impl Strategy<Value = V2AuthWrite> {
    let hash = prop::option::of(prop::sample::select(vec!["", "h1", "h2"]).prop_map(str::to_owned));
    prop_oneof![
        1 => Just(V2AuthWrite::Enable),
        1 => Just(V2AuthWrite::Disable),
        4 => (name(), hash, maybe_names(), names(), names()).prop_map(
            |(name, password_hash, roles, grant, revoke)| V2AuthWrite::UserPut {
                name, password_hash, roles, grant, revoke
            }
        ),
        1 => name().prop_map(|name| V2AuthWrite::UserDelete { name }),
        2 => (name(), permissions())
            .prop_map(|(name, permissions)| V2AuthWrite::RoleCreate { role: V2Role { name, permissions } }),
        2 => (name(), permissions(), permissions())
            .prop_map(|(name, grant, revoke)| V2AuthWrite::RoleUpdate { name, grant, revoke }),
        1 => name().prop_map(|name| V2AuthWrite::RoleDelete { name }),
    ]
}

/// The auth state's invariants: auth on only with a root user, no stored
/// root role, records under their own names.
fn check_auth_invariants(auth: &V2Auth) -> Result<(), TestCaseError> {
    prop_assert!(!auth.enabled || auth.users.contains_key(ROOT_USER));
    prop_assert!(!auth.roles.contains_key(ROOT_ROLE));
    for (name, user) in &auth.users {
        prop_assert_eq!(name, &user.name);
    }
    for (name, role) in &auth.roles {
        prop_assert_eq!(name, &role.name);
    }
    Ok(())
}

fn writes() -> impl Strategy<Value = Vec<V2Write>> {
    prop::collection::vec(write(), 0..60)
}

fn build(writes: &[V2Write]) -> V2Store {
    let mut store = V2Store::new();
    for write in writes {
        let _ = store.apply(write);
    }
    store
}

/// Every invariant a store keeps: a consistent tree, the TTL index of its
/// nodes, a history of consecutive indexes ending at the store's.
fn check_invariants(store: &V2Store) -> Result<(), TestCaseError> {
    let root = store
        .nodes
        .get("/")
        .ok_or_else(|| TestCaseError::fail("no root"))?;
    prop_assert!(root.is_dir() && root.expire_ms.is_none());
    prop_assert_eq!((root.created_index, root.modified_index), (0, 0));
    let mut children = 0;
    let mut ttl = BTreeSet::new();
    for (path, node) in &store.nodes {
        if let Kind::Dir(names) = &node.kind {
            children += names.len();
            for name in names {
                prop_assert!(
                    store.nodes.contains_key(&child_path(path, name)),
                    "{} {}",
                    path,
                    name
                );
            }
        }
        if let Some(at) = node.expire_ms {
            ttl.insert((at, path.clone()));
        }
        if path == "/" {
            continue;
        }
        prop_assert_eq!(&clean_path(path), path);
        prop_assert!(depth(path) <= MAX_DEPTH);
        let (parent, name) = split(path);
        match store.nodes.get(parent).map(|parent| &parent.kind) {
            Some(Kind::Dir(names)) => prop_assert!(names.contains(name)),
            _ => prop_assert!(false, "{} has no parent directory", path),
        }
        prop_assert!(1 <= node.created_index && node.created_index <= node.modified_index);
        prop_assert!(node.modified_index <= store.index);
    }
    prop_assert_eq!(children, store.nodes.len() - 1);
    check_auth_invariants(&store.auth)?;
    prop_assert_eq!(&ttl, &store.ttl);
    prop_assert!(store.history.len() <= HISTORY_CAPACITY);
    let first = store.index + 1 - store.history.len() as u64;
    for (i, event) in store.history.iter().enumerate() {
        prop_assert_eq!(event.node.modified_index, first + i as u64);
        prop_assert_eq!(event.etcd_index, event.node.modified_index);
        prop_assert!(event.node.nodes.is_none());
    }
    Ok(())
}

fn mutated(seed: &[u8], choices: &[u64]) -> Vec<u8> {
    crate::fuzzing::mutate(seed, choices)
}

proptest! {
    /// Writes never panic, refused ones change nothing, accepted ones take
    /// one index per event; reads and watches of any path never panic.
    #[test]
    fn random_writes_keep_the_invariants(writes in writes(), probe in path(), since in 0u64..70) {
        let mut store = V2Store::new();
        for write in &writes {
            let before = store.clone();
            match store.apply(write) {
                Ok(events) => {
                    prop_assert_eq!(store.index, before.index + events.len() as u64);
                    for (i, event) in events.iter().enumerate() {
                        prop_assert_eq!(event.etcd_index, before.index + 1 + i as u64);
                        prop_assert!(!watch_matches(event, &probe, true) || !event.refresh);
                    }
                }
                Err(error) => {
                    prop_assert_eq!(&store, &before);
                    prop_assert_eq!(error.index, store.index);
                    prop_assert!(!error.message().is_empty());
                }
            }
            check_invariants(&store)?;
        }
        if let Ok(answer) = store.get(&probe, true, true) {
            prop_assert_eq!(answer.etcd_index, store.index);
        }
        if let Ok(Some(event)) = store.watch_history(&probe, true, since) {
            prop_assert!(event.node.modified_index >= since);
        }
    }

    /// A store's image decodes to the same store and re-encodes to the same bytes.
    #[test]
    fn images_round_trip(writes in writes()) {
        let store = build(&writes);
        let bytes = store.encode();
        let decoded = V2Store::decode(&bytes).expect("a store's own image");
        prop_assert_eq!(&decoded, &store);
        prop_assert_eq!(decoded.encode(), bytes);
    }

    /// Arbitrary bytes decode to an error or to a valid store (canonically).
    #[test]
    fn arbitrary_images_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(store) = V2Store::decode(&bytes) {
            check_invariants(&store)?;
            if !bytes.is_empty() {
                prop_assert_eq!(store.encode(), bytes);
            }
        }
    }

    /// Corrupted images (bit flips, truncations, huge lengths...) never panic,
    /// and whatever still decodes is a valid store.
    #[test]
    fn mutated_images_never_panic(
        writes in prop::collection::vec(write(), 0..25),
        choices in prop::collection::vec(any::<u64>(), 1..5),
    ) {
        let bytes = mutated(&build(&writes).encode(), &choices);
        if let Ok(mut store) = V2Store::decode(&bytes) {
            check_invariants(&store)?;
            if !bytes.is_empty() {
                prop_assert_eq!(store.encode(), bytes);
            }
            let _ = store.apply(&V2Write::Expire { now_ms: i64::MAX });
            check_invariants(&store)?;
        }
    }

    /// Auth writes keep the auth invariants; a refused one changes nothing,
    /// none takes an index; access checks of any user never panic.
    #[test]
    fn random_auth_writes_keep_the_invariants(writes in prop::collection::vec(auth_write(), 0..40), key in name()) {
        let mut store = V2Store::new();
        for write in &writes {
            let before = store.clone();
            match store.apply_auth(write) {
                Ok(_) => {}
                Err(error) => {
                    prop_assert_eq!(&store, &before);
                    prop_assert!(!error.message.is_empty());
                    prop_assert!([400, 403, 404, 409].contains(&error.status));
                }
            }
            prop_assert_eq!(store.index(), 0);
            check_auth_invariants(store.auth())?;
        }
        let auth = store.auth();
        for name in auth.user_names() {
            let user = auth.user(&name).expect("listed");
            let _ = auth.user_may_access(&user, &key, true, true);
            let _ = auth.user_may_access(&user, &key, false, false);
        }
        let _ = auth.guest_may_access(&key, false);
        let bytes = store.encode();
        prop_assert_eq!(bytes.is_empty(), auth.is_empty());
        let decoded = V2Store::decode(&bytes).expect("own image");
        prop_assert_eq!(&decoded, &store);
        prop_assert_eq!(decoded.encode(), bytes);
    }

    /// Write payloads round-trip, consuming exactly their bytes.
    #[test]
    fn write_payloads_round_trip(write in write()) {
        let mut out = Vec::new();
        put_v2_write(&mut out, &write);
        let bytes = Bytes::from(out);
        let mut reader = Reader::new(&bytes, 0);
        prop_assert_eq!(read_v2_write(&mut reader).expect("own payload"), write);
        prop_assert!(reader.finish("v2 write").is_ok());
    }

    /// Arbitrary bytes read as an error or as a write that re-encodes to the
    /// bytes it took.
    #[test]
    fn arbitrary_write_payloads_never_panic(data in prop::collection::vec(any::<u8>(), 0..64)) {
        let bytes = Bytes::from(data);
        let mut reader = Reader::new(&bytes, 0);
        if let Ok(write) = read_v2_write(&mut reader) {
            let taken = bytes.len() - reader.remaining();
            let mut out = Vec::new();
            put_v2_write(&mut out, &write);
            prop_assert_eq!(&out[..], &bytes[..taken]);
        }
    }
}
