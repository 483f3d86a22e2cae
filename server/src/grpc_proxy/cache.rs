//! The serializable range cache (etcd's `proxy/grpcproxy/cache/store.go`).
//!
//! ```text
//!   Range{serializable} ──▶ get(request) ── hit ──▶ the stored response
//!                                └─ miss ──▶ cluster ──▶ add(request, response)
//!   Put / DeleteRange / Txn through the proxy ──▶ invalidate(key, end): every
//!        latest-revision entry whose range overlaps is dropped
//!   Compact(rev) ──▶ a request for a revision below rev answers "compacted"
//! ```
//!
//! etcd's rules kept: entries are keyed by the whole request (marshalled,
//! with `serializable` set, so a linearizable read refreshes what a
//! serializable one finds); only serializable requests read the cache; a
//! request at revision 0 (the latest) is invalidated by writes made through
//! this proxy, one at a fixed revision never needs to be; at most
//! [`ENTRIES_MAX`] entries, the least recently used dropped first. Writes
//! made by others straight to the cluster are not seen: serializable reads
//! through the proxy may be stale, as etcd's are.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use cairn_proto::etcdserverpb as pb;
use prost::Message;

/// etcd's `DefaultMaxEntries`.
pub const ENTRIES_MAX: usize = 2048;

/// What a cache lookup found.
#[derive(Debug)]
pub enum Lookup {
    Hit(pb::RangeResponse),
    /// The revision asked for is below the last compaction.
    Compacted,
    Miss,
}

/// One cached response and the key range it covers.
#[derive(Debug)]
struct Entry {
    response: pb::RangeResponse,
    /// For latest-revision requests: `(key, range_end)`, invalidated by writes.
    range: Option<(bytes::Bytes, bytes::Bytes)>,
    /// When it was last used, in `order`.
    stamp: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Vec<u8>, Entry>,
    /// stamp → request key: the least recently used first.
    order: BTreeMap<u64, Vec<u8>>,
    next_stamp: u64,
    /// -1 until a compaction through the proxy.
    compacted_revision: i64,
}

/// The cache; shared by every KV call of the proxy.
#[derive(Debug)]
pub struct RangeCache {
    inner: Mutex<Inner>,
}

impl Default for RangeCache {
    fn default() -> RangeCache {
        RangeCache {
            inner: Mutex::new(Inner {
                compacted_revision: -1,
                ..Inner::default()
            }),
        }
    }
}

/// The cache key of a request: its bytes with `serializable` set.
fn cache_key(request: &pb::RangeRequest) -> Vec<u8> {
    let mut request = request.clone();
    request.serializable = true;
    request.encode_to_vec()
}

/// Whether `[a_key, a_end)` and `[b_key, b_end)` share a key (an empty end is
/// the key alone; `\0` is the end of the keyspace).
fn overlaps(a_key: &[u8], a_end: &[u8], b_key: &[u8], b_end: &[u8]) -> bool {
    // x < end, for an interval's end.
    let below = |x: &[u8], key: &[u8], end: &[u8]| match end {
        [] => x <= key,
        [0] => true,
        end => x < end,
    };
    below(a_key, b_key, b_end) && below(b_key, a_key, a_end)
}

impl RangeCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, request: &pb::RangeRequest) -> Lookup {
        let key = cache_key(request);
        let mut inner = self.lock();
        if request.revision > 0 && request.revision < inner.compacted_revision {
            inner.remove(&key);
            return Lookup::Compacted;
        }
        let stamp = inner.next_stamp;
        let Some(entry) = inner.entries.get_mut(&key) else {
            return Lookup::Miss;
        };
        let old = std::mem::replace(&mut entry.stamp, stamp);
        let response = entry.response.clone();
        inner.order.remove(&old);
        inner.order.insert(stamp, key);
        inner.next_stamp += 1;
        Lookup::Hit(response)
    }

    pub fn add(&self, request: &pb::RangeRequest, response: &pb::RangeResponse) {
        let key = cache_key(request);
        let mut inner = self.lock();
        if request.revision <= inner.compacted_revision {
            return;
        }
        inner.remove(&key);
        let stamp = inner.next_stamp;
        inner.next_stamp += 1;
        let range =
            (request.revision == 0).then(|| (request.key.clone(), request.range_end.clone()));
        inner.order.insert(stamp, key.clone());
        inner.entries.insert(
            key,
            Entry {
                response: response.clone(),
                range,
                stamp,
            },
        );
        while inner.entries.len() > ENTRIES_MAX {
            let Some((_, oldest)) = inner.order.pop_first() else {
                break;
            };
            inner.entries.remove(&oldest);
        }
    }

    /// A write through the proxy touched `[key, end)`.
    pub fn invalidate(&self, key: &[u8], end: &[u8]) {
        let mut inner = self.lock();
        let stale: Vec<Vec<u8>> = inner
            .entries
            .iter()
            .filter(|(_, entry)| {
                entry
                    .range
                    .as_ref()
                    .is_some_and(|(k, e)| overlaps(k, e, key, end))
            })
            .map(|(cache_key, _)| cache_key.clone())
            .collect();
        for cache_key in stale {
            inner.remove(&cache_key);
        }
    }

    pub fn compact(&self, revision: i64) {
        let mut inner = self.lock();
        inner.compacted_revision = inner.compacted_revision.max(revision);
    }

    pub fn size(&self) -> usize {
        self.lock().entries.len()
    }
}

impl Inner {
    fn remove(&mut self, key: &[u8]) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&entry.stamp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(key: &str, end: &str) -> pb::RangeRequest {
        pb::RangeRequest {
            key: key.to_string().into(),
            range_end: end.to_string().into(),
            serializable: true,
            ..Default::default()
        }
    }

    #[test]
    fn writes_invalidate_overlapping_latest_reads() {
        let cache = RangeCache::default();
        let response = pb::RangeResponse::default();
        cache.add(&get("a", ""), &response);
        cache.add(&get("b", "d"), &response);
        cache.add(&get("x", "\0"), &response);
        assert!(matches!(cache.get(&get("a", "")), Lookup::Hit(_)));
        cache.invalidate(b"c", b"");
        assert!(matches!(cache.get(&get("b", "d")), Lookup::Miss));
        assert!(matches!(cache.get(&get("a", "")), Lookup::Hit(_)));
        cache.invalidate(b"zzz", b"");
        assert!(matches!(cache.get(&get("x", "\0")), Lookup::Miss));
        cache.invalidate(b"0", b"b");
        assert!(matches!(cache.get(&get("a", "")), Lookup::Miss));
    }

    #[test]
    fn bounded_and_compacted() {
        let cache = RangeCache::default();
        let response = pb::RangeResponse::default();
        for i in 0..ENTRIES_MAX + 10 {
            cache.add(&get(&format!("k{i}"), ""), &response);
        }
        assert_eq!(cache.size(), ENTRIES_MAX);
        assert!(matches!(cache.get(&get("k0", "")), Lookup::Miss));
        let mut old = get("k1", "");
        old.revision = 3;
        cache.add(&old, &response);
        cache.compact(5);
        assert!(matches!(cache.get(&old), Lookup::Compacted));
    }
}
