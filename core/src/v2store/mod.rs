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

//! Parts: `tree` (nodes, lookups, the writes), `history` (the last events,
//! watch matching), `codec` (the snapshot image and the log payload of a
//! write), `error` (etcd's error table), `path` (cleaning, hidden names),
//! `auth` (etcd's v2 auth: users, roles, whether auth is on).

mod auth;
mod codec;
mod codec_auth;
mod error;
mod history;
mod path;
mod tree;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_watch;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub use auth::{
    V2Auth, V2AuthAnswer, V2AuthError, V2AuthWrite, V2Permissions, V2Role, V2User, GUEST_ROLE,
    ROOT_ROLE, ROOT_USER,
};
pub use codec::put_v2_write;
// Read by the member's proposal decoder.
#[allow(unused_imports)]
pub(crate) use codec::read_v2_write;
pub use error::{
    V2Error, ECODE_DIR_NOT_EMPTY, ECODE_EVENT_INDEX_CLEARED, ECODE_INVALID_FIELD,
    ECODE_KEY_NOT_FOUND, ECODE_NODE_EXIST, ECODE_NOT_DIR, ECODE_NOT_FILE, ECODE_ROOT_READ_ONLY,
    ECODE_TEST_FAILED,
};
pub use history::watch_matches;
pub use path::clean_path;

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
    /// A change of the v2 auth state (users, roles, auth on or off); it
    /// takes no index and makes no event (see [`V2Store::apply_auth`]).
    Auth(V2AuthWrite),
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

/// The deepest a node may sit (`/a` is depth 1). etcd has no limit; cairn
/// refuses deeper keys with error 209 so that nothing (a recursive listing, a
/// snapshot) nests without bound.
pub const MAX_DEPTH: usize = 512;

/// Expirations before 2000-01-01T00:00:00Z given to set and create mean
/// "no TTL" (etcd's `minExpireTime`: a zero time that went through JSON).
pub const MIN_EXPIRE_MS: i64 = 946_684_800_000;

/// A node of the tree, stored under its full path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    created_index: u64,
    modified_index: u64,
    expire_ms: Option<i64>,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Key(String),
    /// The children's names.
    Dir(BTreeSet<String>),
}

/// The v2 store.
///
/// The tree is flat: every node, the root `/` included, is in one map under
/// its full path, and a directory keeps the names of its children, so no
/// operation recurses over the tree (only a recursive listing, bounded by
/// [`MAX_DEPTH`]). Equality compares the replicated state (tree, index,
/// history, auth), not the member-local statistics.
#[derive(Clone, Debug)]
pub struct V2Store {
    nodes: BTreeMap<String, Node>,
    index: u64,
    history: VecDeque<V2Event>,
    /// `(expire_ms, path)` of every node with a TTL.
    ttl: BTreeSet<(i64, String)>,
    /// etcd's v2 auth state (etcd keeps it under the hidden `/2`).
    auth: V2Auth,
    stats: V2Stats,
}

impl PartialEq for V2Store {
    fn eq(&self, other: &V2Store) -> bool {
        self.nodes == other.nodes
            && self.index == other.index
            && self.history == other.history
            && self.ttl == other.ttl
            && self.auth == other.auth
    }
}

impl Eq for V2Store {}

impl Default for V2Store {
    fn default() -> Self {
        V2Store::new()
    }
}

impl V2Store {
    /// An empty store: the root directory, index 0, empty history.
    pub fn new() -> V2Store {
        let root = Node {
            created_index: 0,
            modified_index: 0,
            expire_ms: None,
            kind: Kind::Dir(BTreeSet::new()),
        };
        V2Store {
            nodes: BTreeMap::from([("/".to_owned(), root)]),
            index: 0,
            history: VecDeque::new(),
            ttl: BTreeSet::new(),
            auth: V2Auth::default(),
            stats: V2Stats::default(),
        }
    }

    /// The store's current index (etcd's `CurrentIndex`).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Applies one replicated write. A write that succeeds takes the next
    /// index (in-order creates and expiries as etcd numbers them) and its
    /// event(s) go into the history. `Expire` answers with every expire
    /// event in order (possibly none); the others with exactly one event.
    /// Errors change nothing (beyond the fail counters). An auth write
    /// answers no event whether it was taken or refused: its answer is
    /// [`V2Store::apply_auth`]'s, which the member calls instead.
    pub fn apply(&mut self, write: &V2Write) -> Result<Vec<V2Event>, V2Error> {
        if let V2Write::Auth(write) = write {
            let _ = self.apply_auth(write);
            return Ok(Vec::new());
        }
        self.apply_write(write)
    }

    /// Applies one auth write (as etcd's `v2auth` store decides it). It
    /// changes neither the index nor the history; a refusal changes nothing.
    pub fn apply_auth(&mut self, write: &V2AuthWrite) -> Result<V2AuthAnswer, V2AuthError> {
        self.auth.apply(write)
    }

    /// The v2 auth state, for the server's checks and `/v2/auth` reads.
    pub fn auth(&self) -> &V2Auth {
        &self.auth
    }

    /// etcd's `store.Get`: a key, or a directory with its children
    /// (`recursive`: all the way down; `sorted`: by key). Hidden nodes
    /// (names starting with `_`) are left out of listings. Listings are
    /// always sorted by key (etcd's are in map order unless sorted).
    pub fn get(&mut self, path: &str, recursive: bool, sorted: bool) -> Result<V2Event, V2Error> {
        let _ = sorted;
        let answer = self.read(path, recursive);
        match answer {
            Ok(_) => self.stats.get_success += 1,
            Err(_) => self.stats.get_fail += 1,
        }
        answer
    }

    /// The history's answer to a watch from `since` (etcd's
    /// `EventHistory.scan` as `store.Watch` calls it): `since` 0 means the
    /// next index. `Ok(Some(event))`: the first matching event at or after
    /// `since`, its `etcd_index` the current index; `Ok(None)`: none yet
    /// (wait for a live one, see [`watch_matches`]); `Err(401)`: `since` is
    /// older than the history.
    pub fn watch_history(
        &self,
        path: &str,
        recursive: bool,
        since: u64,
    ) -> Result<Option<V2Event>, V2Error> {
        self.scan_history(path, recursive, since)
    }

    /// Whether any node has a TTL (the leader proposes `Expire` only then).
    pub fn has_ttl_keys(&self) -> bool {
        !self.ttl.is_empty()
    }

    /// The earliest expiration, if any.
    pub fn next_expiration_ms(&self) -> Option<i64> {
        self.ttl.first().map(|(at, _)| *at)
    }

    /// How many nodes the store holds (keys and directories, root excluded).
    pub fn node_count(&self) -> usize {
        self.nodes.len() - 1
    }

    /// This member's counters (`watchers` is left to the caller, which
    /// keeps the watchers).
    pub fn stats(&self) -> &V2Stats {
        &self.stats
    }

    /// The store's image for a snapshot section: tree, index, history, auth
    /// (not the statistics, which are this member's own).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_image()
    }

    /// Reads an image written by [`V2Store::encode`]; an empty input is an
    /// empty store (snapshots from before the v2 store).
    pub fn decode(bytes: &[u8]) -> Result<V2Store, CodecError> {
        V2Store::decode_image(bytes)
    }
}
