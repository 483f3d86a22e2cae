//! The last [`HISTORY_CAPACITY`] events, and which events a watch sees
//! (etcd's `event_history.go`, `watcher_hub.go` and `watcher.go`).

use super::path::{clean_path, is_at_or_below, is_hidden_below};
use super::{V2Action, V2Error, V2Event, V2Store, ECODE_EVENT_INDEX_CLEARED, HISTORY_CAPACITY};

impl V2Store {
    /// Keeps an event of a write that succeeded (refreshes included).
    pub(super) fn record(&mut self, event: V2Event) {
        if self.history.len() >= HISTORY_CAPACITY {
            self.history.pop_front();
        }
        self.history.push_back(event);
    }

    /// etcd's `EventHistory.scan` behind `store.Watch`. The history's
    /// events have consecutive indexes (every write takes one index and
    /// records one event), so `since` is found by its offset.
    pub(super) fn scan_history(
        &self,
        path: &str,
        recursive: bool,
        since: u64,
    ) -> Result<Option<V2Event>, V2Error> {
        let key = clean_path(path);
        let since = if since == 0 {
            self.index.saturating_add(1)
        } else {
            since
        };
        let (Some(first), Some(last)) = (self.history.front(), self.history.back()) else {
            return Ok(None);
        };
        let (start, end) = (first.node.modified_index, last.node.modified_index);
        if since < start {
            let cause = format!("the requested history has been cleared [{start}/{since}]");
            return Err(V2Error::new(ECODE_EVENT_INDEX_CLEARED, cause, self.index));
        }
        if since > end {
            return Ok(None);
        }
        let offset = usize::try_from(since - start).unwrap_or(usize::MAX);
        let found = self
            .history
            .iter()
            .skip(offset)
            .find(|event| !event.refresh && history_matches(event, &key, recursive));
        Ok(found.map(|event| V2Event {
            etcd_index: self.index,
            ..event.clone()
        }))
    }
}

/// etcd's scan rule: the key itself; below it (recursive); or a deleted or
/// expired directory whose key is a prefix of the watched key (etcd tests
/// the bare string prefix, so deleting `/foo` also matches a watch of
/// `/foobar`; kept as etcd has it).
fn history_matches(event: &V2Event, key: &str, recursive: bool) -> bool {
    let node_key = event.node.key.as_str();
    if node_key == key {
        return true;
    }
    if recursive {
        let matched = if key.ends_with('/') {
            node_key.starts_with(key)
        } else {
            node_key
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        if matched {
            return true;
        }
    }
    matches!(event.action, V2Action::Delete | V2Action::Expire)
        && event
            .prev_node
            .as_ref()
            .is_some_and(|prev| prev.dir && key.starts_with(prev.key.as_str()))
}

/// Whether a live event wakes a watcher of `path` (etcd's `watcher.notify`
/// as `watcherHub.notify` calls it: the key itself, a key below a recursive
/// watch, a deleted or expired directory above the watched key; hidden keys
/// only when watched by their own path; refresh events never).
///
/// etcd wakes the watchers of a deleted directory's descendants only where
/// a node existed; the event does not tell which did, so every watcher
/// below the directory wakes.
pub fn watch_matches(event: &V2Event, path: &str, recursive: bool) -> bool {
    if event.refresh {
        return false;
    }
    let watched = clean_path(path);
    let key = event.node.key.as_str();
    if is_at_or_below(key, &watched) {
        let own_path = key == watched;
        if own_path || (recursive && !is_hidden_below(&watched, key)) {
            return true;
        }
    }
    let removes = matches!(
        event.action,
        V2Action::Delete | V2Action::Expire | V2Action::CompareAndDelete
    );
    removes && event.node.dir && watched.len() > key.len() && is_at_or_below(&watched, key)
}
