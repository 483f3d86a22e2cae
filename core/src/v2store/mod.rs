//! The v2 store: etcd's v2 keyspace, a tree of directories and keys with its
//! own index, TTLs, and the history of its last 1,000 events.
//!
//! Deterministic and replicated: every write is a [`V2Write`] applied at the
//! same log position on every member; times are inputs (unix milliseconds
//! stamped into the write by the member that proposed it). Reads and watches
//! are answered from a member's own copy.
//!
//! Paths are cleaned as etcd's v2 store cleans them (`path.Clean` of
//! `"/" + path`); keys in answers are absolute (`/foo/bar`), the root is `/`.

// SKELETON: filled in by the v2 store work (see the module docs of each part).

use crate::codec::CodecError;

/// The events a watch may catch up on (etcd keeps the last 1,000).
pub const HISTORY_CAPACITY: usize = 1000;

/// A node as answers show it. `ttl` is not here: it is the time left until
/// `expiration`, which the HTTP layer computes when it answers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct V2Node {
    /// Absolute, e.g. `/foo/bar`; the root is `/`.
    pub key: String,
    pub dir: bool,
    /// A key's value (`None` for a directory).
    pub value: Option<String>,
    /// A directory's children when listed (sorted when asked, and always
    /// sorted... see `get`); `None` when not listed.
    pub nodes: Option<Vec<V2Node>>,
    /// Unix time in milliseconds at which the node expires; `None`: permanent.
    pub expiration_ms: Option<i64>,
    /// 0 for the root.
    pub modified_index: u64,
    pub created_index: u64,
}

/// What a v2 event or answer did, named as etcd names it in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V2Action {
    Get,
    Create,
    Set,
    Update,
    Delete,
    CompareAndSwap,
    CompareAndDelete,
    Expire,
}

impl V2Action {
    /// etcd's JSON name: "get", "create", "set", "update", "delete",
    /// "compareAndSwap", "compareAndDelete", "expire".
    pub fn as_str(self) -> &'static str {
        match self {
            V2Action::Get => "get",
            V2Action::Create => "create",
            V2Action::Set => "set",
            V2Action::Update => "update",
            V2Action::Delete => "delete",
            V2Action::CompareAndSwap => "compareAndSwap",
            V2Action::CompareAndDelete => "compareAndDelete",
            V2Action::Expire => "expire",
        }
    }
}

/// An answer of the v2 store, or an event of its history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Event {
    pub action: V2Action,
    pub node: V2Node,
    pub prev_node: Option<V2Node>,
    /// The store's index when this event happened (etcd's `X-Etcd-Index`).
    pub etcd_index: u64,
    /// A TTL refresh: in the history, but not sent to watchers.
    pub refresh: bool,
}

/// A v2 error as etcd reports it: `{"errorCode":..,"message":..,"cause":..,"index":..}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Error {
    pub code: u16,
    pub cause: String,
    /// The store's index when the error happened.
    pub index: u64,
}

impl V2Error {
    pub fn new(code: u16, cause: impl Into<String>, index: u64) -> V2Error {
        V2Error {
            code,
            cause: cause.into(),
            index,
        }
    }

    /// etcd's message for the code (v2error's table), e.g. 100 "Key not found".
    pub fn message(&self) -> &'static str {
        todo!()
    }

    /// The HTTP status etcd answers this error with (v2error's `StatusCode`).
    pub fn http_status(&self) -> u16 {
        todo!()
    }
}

/// A replicated write of the v2 store (etcd's v2 `Request` after the HTTP
/// layer decided which store method it calls; see etcd's `apply_v2.go`).
/// `expire_ms`: the absolute unix time in ms at which the node expires, or
/// `None` for no TTL. `now_ms` where present: the proposer's wall clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2Write {
    /// `store.Set`: PUT without conditions.
    Set {
        path: String,
        dir: bool,
        value: String,
        expire_ms: Option<i64>,
        refresh: bool,
    },
    /// `store.Create`: PUT with prevExist=false, or POST (`unique`: an
    /// in-order key named by the index, 20 digits, under `path`).
    Create {
        path: String,
        dir: bool,
        value: String,
        unique: bool,
        expire_ms: Option<i64>,
    },
    /// `store.Update`: PUT with prevExist=true and no prevValue/prevIndex.
    Update {
        path: String,
        value: String,
        expire_ms: Option<i64>,
        refresh: bool,
    },
    /// `store.CompareAndSwap`: PUT with prevValue and/or prevIndex
    /// (empty / 0 when not given).
    CompareAndSwap {
        path: String,
        prev_value: String,
        prev_index: u64,
        value: String,
        expire_ms: Option<i64>,
        refresh: bool,
    },
    /// `store.Delete`: DELETE without conditions.
    Delete {
        path: String,
        dir: bool,
        recursive: bool,
    },
    /// `store.CompareAndDelete`: DELETE with prevValue and/or prevIndex.
    CompareAndDelete {
        path: String,
        prev_value: String,
        prev_index: u64,
    },
    /// etcd's SYNC: expire every node whose expiration is at or before `now_ms`.
    Expire { now_ms: i64 },
}

/// etcd's v2 store statistics (`/v2/stats/store`), counted by this member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V2Stats {
    pub get_success: u64,
    pub get_fail: u64,
    pub set_success: u64,
    pub set_fail: u64,
    pub delete_success: u64,
    pub delete_fail: u64,
    pub update_success: u64,
    pub update_fail: u64,
    pub create_success: u64,
    pub create_fail: u64,
    pub compare_and_swap_success: u64,
    pub compare_and_swap_fail: u64,
    pub compare_and_delete_success: u64,
    pub compare_and_delete_fail: u64,
    pub expire_count: u64,
    pub watchers: u64,
}

/// The v2 store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Store {}

impl Default for V2Store {
    fn default() -> Self {
        V2Store::new()
    }
}

impl V2Store {
    /// An empty store: the root directory, index 0, empty history.
    pub fn new() -> V2Store {
        todo!()
    }

    /// The store's current index (etcd's `CurrentIndex`).
    pub fn index(&self) -> u64 {
        todo!()
    }

    /// Applies one replicated write. A write that succeeds takes the next
    /// index (in-order creates and expiries as etcd numbers them) and its
    /// event(s) go into the history. `Expire` answers with every expire
    /// event in order (possibly none); the others with exactly one event.
    /// Errors change nothing (beyond the fail counters).
    pub fn apply(&mut self, write: &V2Write) -> Result<Vec<V2Event>, V2Error> {
        let _ = write;
        todo!()
    }

    /// etcd's `store.Get`: a key, or a directory with its children
    /// (`recursive`: all the way down; `sorted`: by key). Hidden nodes
    /// (names starting with `_`) are left out of listings.
    pub fn get(&mut self, path: &str, recursive: bool, sorted: bool) -> Result<V2Event, V2Error> {
        let _ = (path, recursive, sorted);
        todo!()
    }

    /// The history's answer to a watch from `since` (etcd's
    /// `EventHistory.scan` as `store.Watch` calls it): `since` 0 means the
    /// next index. `Ok(Some(event))`: the first matching event at or after
    /// `since`; `Ok(None)`: none yet (wait for a live one, see
    /// [`watch_matches`]); `Err(401)`: `since` is older than the history.
    pub fn watch_history(
        &self,
        path: &str,
        recursive: bool,
        since: u64,
    ) -> Result<Option<V2Event>, V2Error> {
        let _ = (path, recursive, since);
        todo!()
    }

    /// Whether any node has a TTL (the leader proposes `Expire` only then).
    pub fn has_ttl_keys(&self) -> bool {
        todo!()
    }

    /// The earliest expiration, if any.
    pub fn next_expiration_ms(&self) -> Option<i64> {
        todo!()
    }

    /// How many nodes the store holds (keys and directories, root excluded).
    pub fn node_count(&self) -> usize {
        todo!()
    }

    pub fn stats(&self) -> &V2Stats {
        todo!()
    }

    /// The store's image for a snapshot section: tree, index, history.
    pub fn encode(&self) -> Vec<u8> {
        todo!()
    }

    /// Reads an image written by [`V2Store::encode`]; an empty input is an
    /// empty store (snapshots from before the v2 store).
    pub fn decode(bytes: &[u8]) -> Result<V2Store, CodecError> {
        let _ = bytes;
        todo!()
    }
}

/// Whether a live event wakes a watcher of `path` (etcd's `watcher.notify`
/// as `watcherHub.notify` calls it: the key itself, a key below a recursive
/// watch, a deleted or expired directory above the watched key; hidden keys
/// only when watched by their own path; refresh events never).
pub fn watch_matches(event: &V2Event, path: &str, recursive: bool) -> bool {
    let _ = (event, path, recursive);
    todo!()
}

/// Cleans a path as etcd does (`path.Clean("/" + p)`).
pub fn clean_path(path: &str) -> String {
    let _ = path;
    todo!()
}

/// Encodes a write into a log payload (layout documented in
/// docs/peer-protocol.md, "Log payloads").
pub fn put_v2_write(out: &mut Vec<u8>, write: &V2Write) {
    let _ = (out, write);
    todo!()
}

/// Decodes a write encoded by [`put_v2_write`] from `reader`.
pub(crate) fn read_v2_write(
    reader: &mut crate::codec::wire::Reader<'_>,
) -> Result<V2Write, CodecError> {
    let _ = reader;
    todo!()
}
