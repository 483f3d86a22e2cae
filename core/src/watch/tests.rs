//! Scenario tests of etcd 3.4's watch behaviour, each checking what etcd answers.

use bytes::Bytes;

use super::*;
use crate::lease::{Lessor, LessorConfig};
use crate::mvcc::{DeleteRangeRequest, Event, EventKind, PutRequest, Store};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

struct Fixture {
    store: Store,
    leases: Lessor,
    hub: WatchHub,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            store: Store::default(),
            leases: Lessor::new(LessorConfig { min_ttl_secs: 1 }),
            hub: WatchHub::new(),
        }
    }

    fn put(&mut self, key: &str, value: &str) -> Vec<WatchResponse> {
        let request = PutRequest {
            key: b(key),
            value: b(value),
            ..PutRequest::default()
        };
        let applied = self.store.put(&mut self.leases, &request).unwrap();
        let revision = self.store.current_revision();
        self.hub.on_applied(revision, &applied.events)
    }

    fn delete(&mut self, key: &str, range_end: &str) -> Vec<WatchResponse> {
        let request = DeleteRangeRequest {
            key: b(key),
            range_end: b(range_end),
            prev_kv: false,
        };
        let applied = self.store.delete_range(&mut self.leases, &request).unwrap();
        let revision = self.store.current_revision();
        self.hub.on_applied(revision, &applied.events)
    }

    fn watch(&mut self, stream: u64, request: CreateRequest) -> Vec<WatchResponse> {
        self.hub.create(stream, request, &self.store)
    }
}

fn on(key: &str, range_end: &str, start_revision: i64) -> CreateRequest {
    CreateRequest {
        key: b(key),
        range_end: b(range_end),
        start_revision,
        ..CreateRequest::default()
    }
}

fn keys_and_revisions(events: &[Event]) -> Vec<(String, i64, EventKind)> {
    events
        .iter()
        .map(|e| {
            let key = String::from_utf8(e.kv.key.to_vec()).unwrap();
            (key, e.kv.mod_revision, e.kind)
        })
        .collect()
}

#[test]
fn created_response_carries_current_revision_and_auto_ids_count_from_zero() {
    let mut f = Fixture::new();
    f.put("a", "1");
    let first = f.watch(7, on("a", "", 0));
    assert_eq!(
        first,
        vec![WatchResponse {
            stream: 7,
            watch_id: 0,
            created: true,
            header_revision: 2,
            ..WatchResponse::default()
        }]
    );
    assert_eq!(f.watch(7, on("a", "", 0))[0].watch_id, 1);
    // Another stream has its own ids.
    assert_eq!(f.watch(8, on("a", "", 0))[0].watch_id, 0);
}

#[test]
fn auto_ids_skip_client_chosen_ones_and_are_never_reused() {
    let mut f = Fixture::new();
    let chosen = CreateRequest {
        watch_id: 1,
        ..on("a", "", 0)
    };
    assert_eq!(f.watch(1, chosen)[0].watch_id, 1);
    assert_eq!(f.watch(1, on("a", "", 0))[0].watch_id, 0);
    assert_eq!(f.watch(1, on("a", "", 0))[0].watch_id, 2);
    assert!(f.hub.cancel(1, 0, &f.store).is_some());
    assert_eq!(f.watch(1, on("a", "", 0))[0].watch_id, 3);
}

#[test]
fn duplicate_client_id_is_refused_with_etcds_reason() {
    let mut f = Fixture::new();
    let chosen = CreateRequest {
        watch_id: 5,
        ..on("a", "", 0)
    };
    f.watch(1, chosen.clone());
    let refused = f.watch(1, chosen);
    assert_eq!(
        refused,
        vec![WatchResponse {
            stream: 1,
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: "mvcc: duplicate watch ID provided on the WatchStream".to_string(),
            header_revision: 1,
            ..WatchResponse::default()
        }]
    );
    assert_eq!(f.hub.watcher_count(), 1);
}

#[test]
fn empty_range_is_refused_with_etcds_reason() {
    let mut f = Fixture::new();
    let refused = f.watch(1, on("b", "a", 0));
    assert_eq!(refused[0].cancel_reason, "mvcc: watcher range is empty");
    assert!(refused[0].canceled && refused[0].created);
    assert_eq!(refused[0].watch_id, -1);
    assert_eq!(f.hub.watcher_count(), 0);
}

#[test]
fn cancel_answers_once_and_unknown_ids_get_nothing() {
    let mut f = Fixture::new();
    f.watch(1, on("a", "", 0));
    let canceled = f.hub.cancel(1, 0, &f.store).unwrap();
    assert!(canceled.canceled && !canceled.created);
    assert_eq!((canceled.watch_id, canceled.header_revision), (0, 1));
    assert_eq!(f.hub.cancel(1, 0, &f.store), None);
    assert!(f.put("a", "x").is_empty());
}

#[test]
fn live_events_follow_single_key_range_and_prefix() {
    let mut f = Fixture::new();
    f.watch(1, on("a", "", 0)); // id 0: key a
    f.watch(1, on("a", "c", 0)); // id 1: [a, c)
    f.watch(1, on("b", "\0", 0)); // id 2: >= b
    let responses = f.put("b", "1");
    let ids: Vec<i64> = responses.iter().map(|r| r.watch_id).collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(responses.iter().all(|r| r.header_revision == 2));
    let ids: Vec<i64> = f.put("a", "1").iter().map(|r| r.watch_id).collect();
    assert_eq!(ids, vec![0, 1]);
    let ids: Vec<i64> = f.put("z", "1").iter().map(|r| r.watch_id).collect();
    assert_eq!(ids, vec![2]);
}

#[test]
fn filters_drop_events_and_a_fully_filtered_revision_sends_nothing() {
    let mut f = Fixture::new();
    let no_put = CreateRequest {
        filters: WatchFilters {
            no_put: true,
            no_delete: false,
        },
        ..on("a", "", 0)
    };
    f.watch(1, no_put);
    assert!(f.put("a", "1").is_empty());
    let deleted = f.delete("a", "");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].events[0].kind, EventKind::Delete);
}

#[test]
fn prev_kv_only_when_asked() {
    let mut f = Fixture::new();
    f.put("a", "1");
    f.watch(1, on("a", "", 0));
    let with_prev = CreateRequest {
        prev_kv: true,
        ..on("a", "", 0)
    };
    f.watch(1, with_prev);
    let responses = f.put("a", "2");
    assert_eq!(responses[0].events[0].prev_kv, None);
    let prev = responses[1].events[0].prev_kv.as_ref().unwrap();
    assert_eq!(prev.value, b("1"));
}

#[test]
fn past_start_replays_exactly_the_history_then_goes_live() {
    let mut f = Fixture::new();
    f.put("a", "1"); // 2
    f.put("b", "1"); // 3
    f.delete("a", ""); // 4
    f.put("a", "2"); // 5
    let responses = f.watch(1, on("a", "", 3));
    assert_eq!(responses.len(), 2);
    assert_eq!(
        keys_and_revisions(&responses[1].events),
        vec![
            ("a".to_string(), 4, EventKind::Delete),
            ("a".to_string(), 5, EventKind::Put)
        ]
    );
    assert_eq!(responses[1].header_revision, 5);
    assert!(f.hub.is_synced(1, 0));
    let live = f.put("a", "3");
    assert_eq!(keys_and_revisions(&live[0].events)[0].1, 6);
}

#[test]
fn start_below_compaction_is_canceled_with_compact_revision() {
    let mut f = Fixture::new();
    for value in ["1", "2", "3", "4"] {
        f.put("a", value);
    }
    f.store.compact(4).unwrap();
    let responses = f.watch(1, on("a", "", 3));
    assert_eq!(responses.len(), 2);
    assert!(responses[0].created);
    assert_eq!(
        responses[1],
        WatchResponse {
            stream: 1,
            watch_id: 0,
            canceled: true,
            compact_revision: 4,
            ..WatchResponse::default()
        }
    );
    assert_eq!(f.hub.watcher_count(), 0);
    // At the compaction revision itself, history is still there (etcd: minRev < compactRev).
    let responses = f.watch(1, on("a", "", 4));
    assert_eq!(keys_and_revisions(&responses[1].events).len(), 2);
}

#[test]
fn future_start_waits_for_its_revision() {
    let mut f = Fixture::new();
    f.watch(1, on("a", "", 4));
    assert!(f.put("a", "1").is_empty()); // 2
    assert!(f.put("a", "2").is_empty()); // 3
    let responses = f.put("a", "3"); // 4
    assert_eq!(responses[0].events[0].kv.mod_revision, 4);
}

#[test]
fn blocked_stream_falls_back_to_history_without_loss_or_duplicates() {
    let mut f = Fixture::new();
    f.watch(1, on("a", "", 0));
    f.watch(2, on("a", "", 0));
    f.put("a", "1"); // 2
    f.hub.set_stream_blocked(1, true);
    let live = f.put("a", "2"); // 3
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].stream, 2);
    f.put("a", "3"); // 4
    assert!(f.hub.catch_up(&f.store, 100).is_empty(), "still blocked");
    f.hub.set_stream_blocked(1, false);
    let caught = f.hub.catch_up(&f.store, 1);
    assert_eq!(keys_and_revisions(&caught[0].events)[0].1, 3);
    assert!(!f.hub.is_synced(1, 0));
    let caught = f.hub.catch_up(&f.store, 100);
    assert_eq!(keys_and_revisions(&caught[0].events)[0].1, 4);
    assert!(f.hub.is_synced(1, 0));
    assert_eq!(f.put("a", "4")[0].events[0].kv.mod_revision, 5);
}

#[test]
fn unsynced_watcher_whose_history_is_compacted_is_canceled() {
    let mut f = Fixture::new();
    f.watch(1, on("a", "", 0));
    f.hub.set_stream_blocked(1, true);
    f.put("a", "1"); // 2
    f.put("a", "2"); // 3
    f.put("a", "3"); // 4
    f.store.compact(4).unwrap();
    f.hub.set_stream_blocked(1, false);
    let responses = f.hub.catch_up(&f.store, 100);
    assert_eq!(responses.len(), 1);
    assert!(responses[0].canceled);
    assert_eq!(responses[0].compact_revision, 4);
    assert_eq!(f.hub.watcher_count(), 0);
}

#[test]
fn catch_up_keeps_revisions_whole_and_bounds_responses() {
    let mut f = Fixture::new();
    for i in 0..5 {
        f.put(&format!("k{i}"), "v"); // 2..=6
    }
    f.delete("k", "l"); // 7: five deletes in one revision
    f.hub.set_stream_blocked(1, true);
    f.watch(1, on("k", "l", 2));
    f.hub.set_stream_blocked(1, false);
    let first = f.hub.catch_up(&f.store, 3);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].events.len(), 3);
    // With one event of budget left, revision 7 is larger than what remains
    // and still goes out whole, in its own response.
    let second = f.hub.catch_up(&f.store, 3);
    assert_eq!(second.len(), 2);
    assert_eq!(second[0].events.len(), 2);
    assert_eq!(second[1].events.len(), 5);
    assert!(second[1].events.iter().all(|e| e.kv.mod_revision == 7));
    assert!(f.hub.is_synced(1, 0));
}

#[test]
fn progress_request_waits_until_the_stream_is_synced() {
    let mut f = Fixture::new();
    f.watch(1, on("a", "", 0));
    f.put("a", "1"); // 2
    let answer = f.hub.progress(1, &f.store);
    assert_eq!(
        answer,
        vec![WatchResponse {
            stream: 1,
            watch_id: -1,
            header_revision: 2,
            ..WatchResponse::default()
        }]
    );
    f.hub.set_stream_blocked(1, true);
    f.put("a", "2"); // 3
    assert!(f.hub.progress(1, &f.store).is_empty());
    f.hub.set_stream_blocked(1, false);
    let responses = f.hub.catch_up(&f.store, 100);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].events[0].kv.mod_revision, 3);
    assert_eq!(
        (responses[1].watch_id, responses[1].header_revision),
        (-1, 3)
    );
    assert!(f.hub.catch_up(&f.store, 100).is_empty(), "answered once");
}

#[test]
fn progress_notify_goes_to_quiet_synced_watchers_only() {
    let mut f = Fixture::new();
    let notify = CreateRequest {
        progress_notify: true,
        ..on("a", "", 0)
    };
    f.watch(1, notify.clone());
    f.watch(2, notify);
    f.watch(3, on("a", "", 0));
    let ticked = f.hub.progress_notify_due(&f.store);
    assert_eq!(ticked.len(), 2);
    assert!(ticked
        .iter()
        .all(|r| r.events.is_empty() && r.header_revision == 1));
    f.hub.set_stream_blocked(2, true);
    f.put("a", "1"); // stream 1 gets an event, stream 2 falls behind
    assert!(f.hub.progress_notify_due(&f.store).is_empty());
    let ticked = f.hub.progress_notify_due(&f.store);
    assert_eq!(ticked.len(), 1);
    assert_eq!((ticked[0].stream, ticked[0].header_revision), (1, 2));
}

#[test]
fn close_stream_drops_its_watchers_only() {
    let mut f = Fixture::new();
    f.watch(1, on("a", "", 0));
    f.watch(1, on("b", "", 0));
    f.watch(2, on("a", "", 0));
    f.hub.close_stream(1);
    assert_eq!(f.hub.watcher_count(), 1);
    let responses = f.put("a", "1");
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].stream, 2);
}

#[test]
fn a_watcher_that_needs_a_compaction_revision_midway_is_canceled() {
    // Compaction at C drops C's deletes; a watcher already past its start
    // that still needs C must not silently skip them.
    let mut f = Fixture::new();
    f.put("a", "1"); // 2
    f.watch(1, on("a", "", 2));
    f.hub.set_stream_blocked(1, true);
    f.delete("a", ""); // 3
    f.store.compact(3).unwrap();
    f.hub.set_stream_blocked(1, false);
    let responses = f.hub.catch_up(&f.store, 100);
    assert_eq!(responses.len(), 1);
    assert_eq!(
        (responses[0].canceled, responses[0].compact_revision),
        (true, 3)
    );
}

#[test]
fn restoring_a_snapshot_moves_every_watcher_back_to_history() {
    let mut f = Fixture::new();
    f.watch(1, on("a", "", 0));
    f.put("a", "1"); // 2
    f.hub.on_restored();
    assert!(!f.hub.is_synced(1, 0));
    let responses = f.hub.catch_up(&f.store, 100);
    assert!(responses.is_empty());
    assert!(f.hub.is_synced(1, 0));
    assert_eq!(f.hub.next_revision(1, 0), Some(3));
}
