//! The MVCC store against a naive model: a flat list of every write
//! `(revision, key, value or delete)`, from which reads, create/mod revisions and
//! versions are recomputed by brute force. Random put/delete/txn/compact/range
//! sequences over a small key space; every read (at the current and at old
//! revisions) must agree, and compaction errors must match etcd's rules.
//!
//! Prints `REPRODUCE WITH: ...` on failure; sweep seeds with
//! `PROPTEST_RNG_SEED=<n> cargo test -p cairn-core --test storage_mvcc`.

use bytes::Bytes;
use cairn_core::lease::{Lessor, LessorConfig};
use cairn_core::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, EventKind, KeyValue, MvccError,
    PutRequest, RangeRequest, RequestOp, Store, TxnRequest,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

const DEFAULT_SEED: u64 = 0x5eed_0002;
const KEYS: [&str; 5] = ["a", "b", "ba", "c", "d"];

#[derive(Clone, Debug)]
enum Op {
    Put(usize, u8),
    Delete(usize, Option<usize>),
    /// If key's version == n then puts/deletes, else puts.
    Txn(
        usize,
        i64,
        Vec<(usize, Option<u8>)>,
        Vec<(usize, Option<u8>)>,
    ),
    Compact(i64),
    /// key, optional end, revision offset back from current (0 = current).
    Range(usize, Option<usize>, i64),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let change = (0..KEYS.len(), prop::option::of(any::<u8>()));
    prop_oneof![
        4 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (key.clone(), prop::option::of(0..KEYS.len() + 1)).prop_map(|(k, e)| Op::Delete(k, e)),
        2 => (key.clone(), 0i64..3, prop::collection::vec(change.clone(), 0..3), prop::collection::vec(change, 0..2))
            .prop_map(|(k, n, s, f)| Op::Txn(k, n, s, f)),
        1 => (-2i64..8).prop_map(Op::Compact),
        3 => (key, prop::option::of(0..KEYS.len() + 1), 0i64..10).prop_map(|(k, e, back)| Op::Range(k, e, back)),
    ]
}

/// `None` end: single key; `Some(KEYS.len())`: "\0" (all keys >= key).
fn end_bytes(end: Option<usize>) -> Bytes {
    match end {
        None => Bytes::new(),
        Some(i) if i == KEYS.len() => Bytes::from_static(b"\0"),
        Some(i) => Bytes::from_static(KEYS[i].as_bytes()),
    }
}

fn in_range(key: &str, start: usize, end: Option<usize>) -> bool {
    match end {
        None => key == KEYS[start],
        Some(i) if i == KEYS.len() => key >= KEYS[start],
        Some(i) => key >= KEYS[start] && key < KEYS[i],
    }
}

#[derive(Default)]
struct Model {
    writes: Vec<(i64, &'static str, Option<Bytes>)>,
    current: i64,
    compacted: i64,
}

impl Model {
    fn new() -> Model {
        Model {
            writes: Vec::new(),
            current: 1,
            compacted: -1,
        }
    }

    fn get(&self, key: &'static str, at: i64) -> Option<KeyValue> {
        let mut live: Option<KeyValue> = None;
        for (revision, written, value) in &self.writes {
            if *revision > at {
                break;
            }
            if *written != key {
                continue;
            }
            live = match (value, live) {
                (None, _) => None,
                (Some(value), None) => Some(KeyValue {
                    key: Bytes::from_static(key.as_bytes()),
                    create_revision: *revision,
                    mod_revision: *revision,
                    version: 1,
                    value: value.clone(),
                    lease: 0,
                }),
                (Some(value), Some(previous)) => Some(KeyValue {
                    mod_revision: *revision,
                    version: previous.version + 1,
                    value: value.clone(),
                    ..previous
                }),
            };
        }
        live
    }

    fn range(&self, start: usize, end: Option<usize>, at: i64) -> Vec<KeyValue> {
        let mut keys: Vec<&'static str> = KEYS
            .iter()
            .copied()
            .filter(|k| in_range(k, start, end))
            .collect();
        keys.sort_unstable();
        keys.into_iter().filter_map(|k| self.get(k, at)).collect()
    }

    /// Applies one write transaction's changes (already known to be valid).
    fn apply(&mut self, changes: Vec<(&'static str, Option<Bytes>)>) -> usize {
        let revision = self.current + 1;
        let mut applied = 0;
        for (key, value) in changes {
            if value.is_none() && self.get(key, revision).is_none() {
                continue; // deleting an absent key changes nothing
            }
            self.writes.push((revision, key, value));
            applied += 1;
        }
        if applied > 0 {
            self.current = revision;
        }
        applied
    }
}

fn is_duplicate(ops: &[(usize, Option<u8>)]) -> bool {
    // Single-key puts and deletes: a key put twice, or put and deleted, is a duplicate.
    ops.iter().enumerate().any(|(i, (key, value))| {
        value.is_some()
            && ops
                .iter()
                .enumerate()
                .any(|(j, (other, _))| i != j && key == other)
    })
}

fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut store = Store::default();
    let mut leases = Lessor::new(LessorConfig { min_ttl_secs: 1 });
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Put(key, value) => {
                let request = PutRequest {
                    key: Bytes::from_static(KEYS[key].as_bytes()),
                    value: Bytes::from(vec![value]),
                    ..PutRequest::default()
                };
                let applied = store
                    .put(&mut leases, &request)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.apply(vec![(KEYS[key], Some(Bytes::from(vec![value])))]);
                prop_assert_eq!(applied.response.header.revision, model.current);
                prop_assert_eq!(applied.events.len(), 1);
            }
            Op::Delete(key, end) => {
                let request = DeleteRangeRequest {
                    key: Bytes::from_static(KEYS[key].as_bytes()),
                    range_end: end_bytes(end),
                    prev_kv: true,
                };
                let applied = store
                    .delete_range(&mut leases, &request)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let doomed: Vec<_> = model.range(key, end, model.current);
                prop_assert_eq!(&applied.response.prev_kvs, &doomed);
                let changes = doomed
                    .iter()
                    .map(|kv| {
                        (
                            *KEYS
                                .iter()
                                .find(|k| k.as_bytes() == &kv.key[..])
                                .expect("known key"),
                            None,
                        )
                    })
                    .collect();
                model.apply(changes);
                prop_assert_eq!(applied.response.deleted as usize, doomed.len());
                prop_assert!(applied.events.iter().all(|e| e.kind == EventKind::Delete));
            }
            Op::Txn(key, version, success, failure) => {
                let to_op = |(k, v): &(usize, Option<u8>)| match v {
                    Some(v) => RequestOp::Put(PutRequest {
                        key: Bytes::from_static(KEYS[*k].as_bytes()),
                        value: Bytes::from(vec![*v]),
                        ..PutRequest::default()
                    }),
                    None => RequestOp::DeleteRange(DeleteRangeRequest {
                        key: Bytes::from_static(KEYS[*k].as_bytes()),
                        ..DeleteRangeRequest::default()
                    }),
                };
                let request = TxnRequest {
                    compare: vec![Compare {
                        key: Bytes::from_static(KEYS[key].as_bytes()),
                        range_end: Bytes::new(),
                        result: CompareResult::Equal,
                        target: CompareTarget::Version(version),
                    }],
                    success: success.iter().map(to_op).collect(),
                    failure: failure.iter().map(to_op).collect(),
                };
                let result = store.txn(&mut leases, &request);
                if is_duplicate(&success) || is_duplicate(&failure) {
                    prop_assert_eq!(result.err(), Some(MvccError::DuplicateKey));
                    continue;
                }
                let applied = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
                let holds = model
                    .get(KEYS[key], model.current)
                    .map_or(0, |kv| kv.version)
                    == version;
                prop_assert_eq!(applied.response.succeeded, holds);
                let chosen = if holds { &success } else { &failure };
                let changes = chosen
                    .iter()
                    .map(|(k, v)| (KEYS[*k], v.map(|v| Bytes::from(vec![v]))))
                    .collect();
                let count = model.apply(changes);
                prop_assert_eq!(applied.events.len(), count);
                prop_assert_eq!(applied.response.header.revision, model.current);
                let subs: Vec<i64> = applied.events.iter().map(|e| e.sub_revision).collect();
                prop_assert_eq!(subs, (0..count as i64).collect::<Vec<_>>());
            }
            Op::Compact(revision) => {
                let expected = if revision <= model.compacted {
                    Err(MvccError::Compacted)
                } else if revision > model.current {
                    Err(MvccError::FutureRevision)
                } else {
                    model.compacted = revision;
                    Ok(model.current)
                };
                prop_assert_eq!(store.compact(revision), expected);
            }
            Op::Range(key, end, back) => {
                let revision = if back == 0 {
                    0
                } else {
                    model.current + 1 - back
                };
                let request = RangeRequest {
                    key: Bytes::from_static(KEYS[key].as_bytes()),
                    range_end: end_bytes(end),
                    revision,
                    ..RangeRequest::default()
                };
                let at = if revision <= 0 {
                    model.current
                } else {
                    revision
                };
                let result = store.range(&request);
                if revision > model.current {
                    prop_assert_eq!(result.err(), Some(MvccError::FutureRevision));
                } else if at < model.compacted {
                    prop_assert_eq!(result.err(), Some(MvccError::Compacted));
                } else {
                    let response = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let expected = model.range(key, end, at);
                    prop_assert_eq!(response.count as usize, expected.len());
                    prop_assert_eq!(response.kvs, expected);
                    prop_assert_eq!(response.header.revision, model.current);
                }
            }
        }
        prop_assert_eq!(store.current_revision(), model.current);
    }
    // Every retained revision >= the compaction point reads as the model says.
    for at in model.compacted.max(1)..=model.current {
        for (start, key) in KEYS.iter().enumerate() {
            let request = RangeRequest {
                key: Bytes::from_static(key.as_bytes()),
                range_end: Bytes::from_static(b"\0"),
                revision: at,
                ..RangeRequest::default()
            };
            let response = store
                .range(&request)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(response.kvs, model.range(start, Some(KEYS.len()), at));
        }
    }
    Ok(())
}

#[test]
fn mvcc_matches_the_naive_model() {
    let mut config = Config {
        cases: 1024,
        failure_persistence: None,
        ..Config::default()
    };
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    let seed = config.rng_seed;
    let _hint = ReplayHint(seed);
    let mut runner = TestRunner::new(config);
    if let Err(failure) = runner.run(&prop::collection::vec(op(), 1..60), check) {
        panic!("{failure}");
    }
}

struct ReplayHint(RngSeed);

impl Drop for ReplayHint {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "REPRODUCE WITH: PROPTEST_RNG_SEED={} cargo test -p cairn-core --test storage_mvcc -- mvcc_matches_the_naive_model --exact",
                self.0
            );
        }
    }
}
