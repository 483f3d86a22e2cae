//! The tree and the writes, as etcd's `store.go` does them: the same errors
//! with the same causes and indexes, the same events, the same counters
//! (quirks included, see [`Refusal`]).

use std::collections::BTreeSet;

use super::path::{child_path, clean_path, depth, is_hidden_name, split};
use super::{
    Kind, Node, V2Action, V2Error, V2Event, V2Node, V2Store, V2Write, ECODE_DIR_NOT_EMPTY,
    ECODE_INVALID_FIELD, ECODE_KEY_NOT_FOUND, ECODE_NODE_EXIST, ECODE_NOT_DIR, ECODE_NOT_FILE,
    ECODE_ROOT_READ_ONLY, ECODE_TEST_FAILED, MAX_DEPTH, MIN_EXPIRE_MS,
};

/// A refused write. etcd counts a few refusals as successes in its stats
/// (`return nil, NewError(..)` leaves its deferred counter's `err` nil):
/// update and CAS of `/`, delete of `/`, update of a directory with a value,
/// and compare-and-delete of a directory or with a failed comparison.
struct Refusal {
    error: V2Error,
    counted_as_success: bool,
}

impl From<V2Error> for Refusal {
    fn from(error: V2Error) -> Refusal {
        Refusal {
            error,
            counted_as_success: false,
        }
    }
}

fn quirk(error: V2Error) -> Refusal {
    Refusal {
        error,
        counted_as_success: true,
    }
}

/// Which pair of counters a write moves.
#[derive(Clone, Copy)]
enum Op {
    Set,
    Create,
    Update,
    CompareAndSwap,
    Delete,
    CompareAndDelete,
}

impl Node {
    pub(super) fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }

    fn value(&self) -> &str {
        match &self.kind {
            Kind::Key(value) => value,
            Kind::Dir(_) => "",
        }
    }

    /// etcd's `node.Repr(false, false)`: the node alone.
    fn repr(&self, key: &str) -> V2Node {
        V2Node {
            key: key.to_owned(),
            dir: self.is_dir(),
            value: match &self.kind {
                Kind::Key(value) => Some(value.clone()),
                Kind::Dir(_) => None,
            },
            nodes: None,
            expiration_ms: self.expire_ms,
            modified_index: self.modified_index,
            created_index: self.created_index,
        }
    }

    /// etcd's `node.Compare`, and the cause of a failed comparison.
    fn compare(&self, prev_value: &str, prev_index: u64) -> Result<(), String> {
        let index_match = prev_index == 0 || self.modified_index == prev_index;
        let value_match = prev_value.is_empty() || self.value() == prev_value;
        let (value, index) = (self.value(), self.modified_index);
        match (value_match, index_match) {
            (true, true) => Ok(()),
            (true, false) => Err(format!("[{prev_index} != {index}]")),
            (false, true) => Err(format!("[{prev_value} != {value}]")),
            (false, false) => Err(format!(
                "[{prev_value} != {value}] [{prev_index} != {index}]"
            )),
        }
    }
}

/// An event of a write that just took `index`.
fn event(action: V2Action, node: V2Node, prev_node: Option<V2Node>, index: u64) -> V2Event {
    V2Event {
        action,
        node,
        prev_node,
        etcd_index: index,
        refresh: false,
    }
}

/// The node of a delete-like event: key, indexes, `dir`, nothing else.
fn bare_node(key: &str, dir: bool, modified_index: u64, created_index: u64) -> V2Node {
    V2Node {
        key: key.to_owned(),
        dir,
        modified_index,
        created_index,
        ..V2Node::default()
    }
}

impl V2Store {
    /// etcd's `internalGet` of a clean path: the node, or 104 naming the
    /// key on the way, or 100 naming the first missing node.
    fn lookup(&self, path: &str) -> Result<&Node, V2Error> {
        if let Some(node) = self.nodes.get(path) {
            return Ok(node);
        }
        let mut current = "/".to_owned();
        for name in path.split('/').filter(|name| !name.is_empty()) {
            if self.nodes.get(&current).is_some_and(|node| !node.is_dir()) {
                return Err(V2Error::new(ECODE_NOT_DIR, current, self.index));
            }
            let next = child_path(&current, name);
            if !self.nodes.contains_key(&next) {
                return Err(V2Error::new(ECODE_KEY_NOT_FOUND, next, self.index));
            }
            current = next;
        }
        Err(V2Error::new(ECODE_KEY_NOT_FOUND, path, self.index))
    }

    /// `get` without the counters.
    pub(super) fn read(&self, path: &str, recursive: bool) -> Result<V2Event, V2Error> {
        let path = clean_path(path);
        let node = self.lookup(&path)?;
        let mut answer = node.repr(&path);
        if node.is_dir() {
            answer.nodes = Some(self.list(&path, node, recursive));
        }
        Ok(V2Event {
            action: V2Action::Get,
            node: answer,
            prev_node: None,
            etcd_index: self.index,
            refresh: false,
        })
    }

    /// The visible children of a directory, sorted; below them too when
    /// `recursive` (depth is bounded by [`MAX_DEPTH`]).
    fn list(&self, path: &str, dir: &Node, recursive: bool) -> Vec<V2Node> {
        let Kind::Dir(children) = &dir.kind else {
            return Vec::new();
        };
        let mut listed = Vec::with_capacity(children.len());
        for name in children.iter().filter(|name| !is_hidden_name(name)) {
            let child_key = child_path(path, name);
            let Some(child) = self.nodes.get(&child_key) else {
                continue;
            };
            let mut shown = child.repr(&child_key);
            if recursive && child.is_dir() {
                shown.nodes = Some(self.list(&child_key, child, true));
            }
            listed.push(shown);
        }
        listed
    }

    pub(super) fn apply_write(&mut self, write: &V2Write) -> Result<Vec<V2Event>, V2Error> {
        let (op, outcome) = match write {
            V2Write::Set {
                path,
                dir,
                value,
                expire_ms,
                refresh,
            } => (Op::Set, self.set(path, *dir, value, *expire_ms, *refresh)),
            V2Write::Create {
                path,
                dir,
                value,
                unique,
                expire_ms,
            } => (
                Op::Create,
                self.create(
                    path,
                    *dir,
                    value,
                    *unique,
                    false,
                    *expire_ms,
                    V2Action::Create,
                ),
            ),
            V2Write::Update {
                path,
                value,
                expire_ms,
                refresh,
            } => (Op::Update, self.update(path, value, *expire_ms, *refresh)),
            V2Write::CompareAndSwap {
                path,
                prev_value,
                prev_index,
                value,
                expire_ms,
                refresh,
            } => (
                Op::CompareAndSwap,
                self.compare_and_swap(path, prev_value, *prev_index, value, *expire_ms, *refresh),
            ),
            V2Write::Delete {
                path,
                dir,
                recursive,
            } => (Op::Delete, self.delete(path, *dir, *recursive)),
            V2Write::CompareAndDelete {
                path,
                prev_value,
                prev_index,
            } => (
                Op::CompareAndDelete,
                self.compare_and_delete(path, prev_value, *prev_index),
            ),
            V2Write::Expire { now_ms } => return Ok(self.expire(*now_ms)),
            // `V2Store::apply` hands auth writes to the auth state.
            V2Write::Auth(_) => return Ok(Vec::new()),
        };
        let succeeded = match &outcome {
            Ok(_) => true,
            Err(refusal) => refusal.counted_as_success,
        };
        self.count(op, succeeded);
        match outcome {
            Ok(event) => {
                self.record(event.clone());
                Ok(vec![event])
            }
            Err(refusal) => Err(refusal.error),
        }
    }

    fn count(&mut self, op: Op, succeeded: bool) {
        let stats = &mut self.stats;
        let counter = match (op, succeeded) {
            (Op::Set, true) => &mut stats.set_success,
            (Op::Set, false) => &mut stats.set_fail,
            (Op::Create, true) => &mut stats.create_success,
            (Op::Create, false) => &mut stats.create_fail,
            (Op::Update, true) => &mut stats.update_success,
            (Op::Update, false) => &mut stats.update_fail,
            (Op::CompareAndSwap, true) => &mut stats.compare_and_swap_success,
            (Op::CompareAndSwap, false) => &mut stats.compare_and_swap_fail,
            (Op::Delete, true) => &mut stats.delete_success,
            (Op::Delete, false) => &mut stats.delete_fail,
            (Op::CompareAndDelete, true) => &mut stats.compare_and_delete_success,
            (Op::CompareAndDelete, false) => &mut stats.compare_and_delete_fail,
        };
        *counter += 1;
    }

    /// etcd's `store.Set`.
    fn set(
        &mut self,
        path: &str,
        dir: bool,
        value: &str,
        expire_ms: Option<i64>,
        refresh: bool,
    ) -> Result<V2Event, Refusal> {
        let clean = clean_path(path);
        let existing = match self.lookup(&clean) {
            Ok(node) => Some(node),
            Err(error) if error.code == ECODE_KEY_NOT_FOUND && !refresh => None,
            Err(error) => return Err(error.into()),
        };
        let value = match existing {
            Some(node) if refresh => node.value().to_owned(),
            _ => value.to_owned(),
        };
        let mut event = self.create(path, dir, &value, false, true, expire_ms, V2Action::Set)?;
        event.refresh = refresh;
        Ok(event)
    }

    /// etcd's `internalCreate` (`replace`: a set, which may replace a key).
    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        path: &str,
        dir: bool,
        value: &str,
        unique: bool,
        replace: bool,
        expire_ms: Option<i64>,
        action: V2Action,
    ) -> Result<V2Event, Refusal> {
        let (current, next) = (self.index, self.index + 1);
        let path = if unique {
            clean_path(&format!("{path}/{next:020}"))
        } else {
            clean_path(path)
        };
        if path == "/" {
            return Err(V2Error::new(ECODE_ROOT_READ_ONLY, "/", current).into());
        }
        if depth(&path) > MAX_DEPTH {
            let cause = format!("key {} levels deep, the limit is {MAX_DEPTH}", depth(&path));
            return Err(V2Error::new(ECODE_INVALID_FIELD, cause, current).into());
        }
        let expire_ms = expire_ms.filter(|&at| at >= MIN_EXPIRE_MS);
        // The directories on the way: a key among them is 104 (etcd's
        // checkDir, which counts a set failure whatever the write).
        let (parent, _) = split(&path);
        let mut missing = Vec::new();
        let mut walked = "/".to_owned();
        for segment in parent.split('/').filter(|segment| !segment.is_empty()) {
            walked = child_path(&walked, segment);
            match self.nodes.get(&walked) {
                Some(node) if !node.is_dir() => {
                    self.stats.set_fail += 1;
                    return Err(V2Error::new(ECODE_NOT_DIR, walked, current).into());
                }
                Some(_) => {}
                None => missing.push(walked.clone()),
            }
        }
        let mut prev_node = None;
        if let Some(existing) = self.nodes.get(&path) {
            if !replace {
                return Err(V2Error::new(ECODE_NODE_EXIST, path, current).into());
            }
            if existing.is_dir() {
                return Err(V2Error::new(ECODE_NOT_FILE, path, current).into());
            }
            prev_node = Some(existing.repr(&path));
            self.remove_subtree(&path);
        }
        for dir_path in missing {
            self.insert(dir_path, next, None, Kind::Dir(BTreeSet::new()));
        }
        let (kind, shown_value) = if dir {
            (Kind::Dir(BTreeSet::new()), None)
        } else {
            (Kind::Key(value.to_owned()), Some(value.to_owned()))
        };
        let mut shown = bare_node(&path, dir, next, next);
        shown.value = shown_value;
        shown.expiration_ms = expire_ms;
        self.insert(path, next, expire_ms, kind);
        self.index = next;
        Ok(event(action, shown, prev_node, next))
    }

    /// Adds a node whose parent is a directory.
    fn insert(&mut self, path: String, index: u64, expire_ms: Option<i64>, kind: Kind) {
        let (parent, name) = split(&path);
        if let Some(Node {
            kind: Kind::Dir(children),
            ..
        }) = self.nodes.get_mut(parent)
        {
            children.insert(name.to_owned());
        }
        if let Some(at) = expire_ms {
            self.ttl.insert((at, path.clone()));
        }
        let node = Node {
            created_index: index,
            modified_index: index,
            expire_ms,
            kind,
        };
        self.nodes.insert(path, node);
    }

    /// Removes a node (not the root) and everything below it.
    fn remove_subtree(&mut self, path: &str) {
        let mut prefix = path.to_owned();
        prefix.push('/');
        let below: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, _)| key.clone())
            .collect();
        for key in below.into_iter().chain(std::iter::once(path.to_owned())) {
            if let Some(Node {
                expire_ms: Some(at),
                ..
            }) = self.nodes.remove(&key)
            {
                self.ttl.remove(&(at, key));
            }
        }
        let (parent, name) = split(path);
        if let Some(Node {
            kind: Kind::Dir(children),
            ..
        }) = self.nodes.get_mut(parent)
        {
            children.remove(name);
        }
    }

    /// etcd's `node.UpdateTTL`: `None` makes the node permanent.
    fn set_expiration(&mut self, path: &str, expire_ms: Option<i64>) {
        let Some(node) = self.nodes.get_mut(path) else {
            return;
        };
        if let Some(old) = std::mem::replace(&mut node.expire_ms, expire_ms) {
            self.ttl.remove(&(old, path.to_owned()));
        }
        if let Some(at) = expire_ms {
            self.ttl.insert((at, path.to_owned()));
        }
    }

    /// etcd's `store.Update`. A directory's own modified index stays (etcd's
    /// `node.Write` refuses a directory, and `Update` ignores that).
    fn update(
        &mut self,
        path: &str,
        value: &str,
        expire_ms: Option<i64>,
        refresh: bool,
    ) -> Result<V2Event, Refusal> {
        let path = clean_path(path);
        let (current, next) = (self.index, self.index + 1);
        if path == "/" {
            return Err(quirk(V2Error::new(ECODE_ROOT_READ_ONLY, "/", current)));
        }
        let node = self.lookup(&path)?;
        let is_dir = node.is_dir();
        if is_dir && !value.is_empty() {
            return Err(quirk(V2Error::new(ECODE_NOT_FILE, path, current)));
        }
        let value = if refresh { node.value() } else { value }.to_owned();
        let prev_node = node.repr(&path);
        let created_index = node.created_index;
        if let Some(node) = self.nodes.get_mut(&path) {
            if let Kind::Key(stored) = &mut node.kind {
                *stored = value.clone();
                node.modified_index = next;
            }
        }
        self.set_expiration(&path, expire_ms);
        let mut shown = bare_node(&path, is_dir, next, created_index);
        shown.value = (!is_dir).then_some(value);
        shown.expiration_ms = expire_ms;
        self.index = next;
        let mut event = event(V2Action::Update, shown, Some(prev_node), next);
        event.refresh = refresh;
        Ok(event)
    }

    /// etcd's `store.CompareAndSwap`.
    fn compare_and_swap(
        &mut self,
        path: &str,
        prev_value: &str,
        prev_index: u64,
        value: &str,
        expire_ms: Option<i64>,
        refresh: bool,
    ) -> Result<V2Event, Refusal> {
        let path = clean_path(path);
        let (current, next) = (self.index, self.index + 1);
        if path == "/" {
            return Err(quirk(V2Error::new(ECODE_ROOT_READ_ONLY, "/", current)));
        }
        let node = self.lookup(&path)?;
        if node.is_dir() {
            return Err(V2Error::new(ECODE_NOT_FILE, path, current).into());
        }
        if let Err(cause) = node.compare(prev_value, prev_index) {
            return Err(V2Error::new(ECODE_TEST_FAILED, cause, current).into());
        }
        let value = if refresh { node.value() } else { value }.to_owned();
        let prev_node = node.repr(&path);
        let created_index = node.created_index;
        if let Some(node) = self.nodes.get_mut(&path) {
            node.kind = Kind::Key(value.clone());
            node.modified_index = next;
        }
        self.set_expiration(&path, expire_ms);
        let mut shown = bare_node(&path, false, next, created_index);
        shown.value = Some(value);
        shown.expiration_ms = expire_ms;
        self.index = next;
        let mut event = event(V2Action::CompareAndSwap, shown, Some(prev_node), next);
        event.refresh = refresh;
        Ok(event)
    }

    /// etcd's `store.Delete` (`recursive` implies `dir`).
    fn delete(&mut self, path: &str, dir: bool, recursive: bool) -> Result<V2Event, Refusal> {
        let path = clean_path(path);
        let (current, next) = (self.index, self.index + 1);
        if path == "/" {
            return Err(quirk(V2Error::new(ECODE_ROOT_READ_ONLY, "/", current)));
        }
        let node = self.lookup(&path)?;
        if let Kind::Dir(children) = &node.kind {
            if !(dir || recursive) {
                return Err(V2Error::new(ECODE_NOT_FILE, path, current).into());
            }
            if !children.is_empty() && !recursive {
                return Err(V2Error::new(ECODE_DIR_NOT_EMPTY, path, current).into());
            }
        }
        let shown = bare_node(&path, node.is_dir(), next, node.created_index);
        let prev_node = node.repr(&path);
        self.remove_subtree(&path);
        self.index = next;
        Ok(event(V2Action::Delete, shown, Some(prev_node), next))
    }

    /// etcd's `store.CompareAndDelete` (which has no read-only check: `/`
    /// is a directory, 102).
    fn compare_and_delete(
        &mut self,
        path: &str,
        prev_value: &str,
        prev_index: u64,
    ) -> Result<V2Event, Refusal> {
        let path = clean_path(path);
        let (current, next) = (self.index, self.index + 1);
        let node = self.lookup(&path)?;
        if node.is_dir() {
            return Err(quirk(V2Error::new(ECODE_NOT_FILE, path, current)));
        }
        if let Err(cause) = node.compare(prev_value, prev_index) {
            return Err(quirk(V2Error::new(ECODE_TEST_FAILED, cause, current)));
        }
        let shown = bare_node(&path, false, next, node.created_index);
        let prev_node = node.repr(&path);
        self.remove_subtree(&path);
        self.index = next;
        Ok(event(
            V2Action::CompareAndDelete,
            shown,
            Some(prev_node),
            next,
        ))
    }

    /// etcd's `DeleteExpiredKeys`: every node expiring at or before `now_ms`,
    /// earliest first (ties by path), each an expire event of its own index.
    fn expire(&mut self, now_ms: i64) -> Vec<V2Event> {
        let mut events = Vec::new();
        while let Some((at, path)) = self.ttl.first().cloned() {
            if at > now_ms {
                break;
            }
            let Some(node) = self.nodes.get(&path) else {
                // Unreachable: the index lists only stored nodes.
                self.ttl.remove(&(at, path));
                continue;
            };
            let next = self.index + 1;
            let shown = bare_node(&path, node.is_dir(), next, node.created_index);
            let expired = event(V2Action::Expire, shown, Some(node.repr(&path)), next);
            self.remove_subtree(&path);
            self.index = next;
            self.stats.expire_count += 1;
            self.record(expired.clone());
            events.push(expired);
        }
        events
    }
}
