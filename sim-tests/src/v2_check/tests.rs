//! The check on hand-made histories: a correct one passes, and each kind of
//! wrong answer, wrong log or wrong order is caught and explained.
//!
//! Histories are made by a real [`V2Store`] (the log, the answers), then
//! broken in one place.

use cairn_core::member::{V2Answer, V2Request, V2Result};
use cairn_core::v2store::{V2Error, V2Event, V2Store, V2Write, ECODE_TEST_FAILED};

use super::{check, MemberLog, V2Op, V2Outcome, V2Run};

/// The run's unix start time: expirations are around it.
const ORIGIN_MS: i64 = 1_700_000_000_000;

/// A history in the making: a store playing the cluster, the operations
/// of the clients, the store's log.
struct Story {
    store: V2Store,
    log: Vec<V2Event>,
    ops: Vec<V2Op>,
}

fn set(path: &str, value: &str) -> V2Write {
    V2Write::Set {
        path: path.into(),
        dir: false,
        value: value.into(),
        expire_ms: None,
        refresh: false,
    }
}

fn set_ttl(path: &str, value: &str, expire_ms: i64) -> V2Write {
    V2Write::Set {
        path: path.into(),
        dir: false,
        value: value.into(),
        expire_ms: Some(expire_ms),
        refresh: false,
    }
}

fn cas(path: &str, prev_value: &str, value: &str) -> V2Write {
    V2Write::CompareAndSwap {
        path: path.into(),
        prev_value: prev_value.into(),
        prev_index: 0,
        value: value.into(),
        expire_ms: None,
        refresh: false,
    }
}

fn enqueue(value: &str) -> V2Write {
    V2Write::Create {
        path: "/queue".into(),
        dir: false,
        value: value.into(),
        unique: true,
        expire_ms: None,
    }
}

fn delete(path: &str) -> V2Write {
    V2Write::Delete {
        path: path.into(),
        dir: false,
        recursive: false,
    }
}

fn answer(store: &V2Store, result: V2Result) -> V2Outcome {
    V2Outcome::Answered(V2Answer {
        raft_index: 0,
        store_index: store.index(),
        result,
    })
}

impl Story {
    fn new() -> Story {
        Story {
            store: V2Store::new(),
            log: Vec::new(),
            ops: Vec::new(),
        }
    }

    fn push(
        &mut self,
        call_ms: u64,
        return_ms: Option<u64>,
        request: V2Request,
        outcome: V2Outcome,
    ) -> usize {
        let id = self.ops.len() as u64 + 1;
        self.ops.push(V2Op {
            id,
            client: (id % 3) as u32,
            member: Some(1 + id % 3),
            call_ms,
            return_ms,
            request,
            outcome,
        });
        self.ops.len() - 1
    }

    /// A write the cluster applies now, answered at `return_ms`.
    fn write(&mut self, call_ms: u64, return_ms: u64, write: V2Write) -> usize {
        let outcome = match self.store.apply(&write) {
            Ok(events) => {
                self.log.extend(events.iter().cloned());
                answer(&self.store, V2Result::Event(Box::new(events[0].clone())))
            }
            Err(error) => V2Outcome::Refused(error),
        };
        self.push(call_ms, Some(return_ms), V2Request::Write(write), outcome)
    }

    /// A write the cluster applies now, whose answer is lost.
    fn write_unanswered(&mut self, call_ms: u64, write: V2Write) -> usize {
        if let Ok(events) = self.store.apply(&write) {
            self.log.extend(events);
        }
        self.push(call_ms, None, V2Request::Write(write), V2Outcome::Unknown)
    }

    /// The leader's expiry at `now_ms`.
    fn expire(&mut self, now_ms: i64) {
        let events = self
            .store
            .apply(&V2Write::Expire { now_ms })
            .expect("expire");
        self.log.extend(events);
    }

    fn get(&mut self, call_ms: u64, return_ms: u64, path: &str, quorum: bool) -> usize {
        let outcome = match self.store.get(path, true, true) {
            Ok(event) => answer(&self.store, V2Result::Event(Box::new(event))),
            Err(error) => V2Outcome::Refused(error),
        };
        let request = V2Request::Get {
            path: path.into(),
            recursive: true,
            sorted: true,
            quorum,
        };
        self.push(call_ms, Some(return_ms), request, outcome)
    }

    fn wait(
        &mut self,
        call_ms: u64,
        return_ms: u64,
        path: &str,
        since: u64,
        timeout_ms: u64,
    ) -> usize {
        let result = match self
            .store
            .watch_history(path, true, since)
            .expect("in history")
        {
            Some(event) => V2Result::Event(Box::new(event)),
            None => V2Result::Waiting { since },
        };
        let request = V2Request::Watch {
            path: path.into(),
            recursive: true,
            since,
            timeout_ms,
        };
        let outcome = answer(&self.store, result);
        self.push(call_ms, Some(return_ms), request, outcome)
    }

    /// The run as three members that all hold the log.
    fn run(&mut self) -> V2Run {
        self.run_of()
    }

    fn run_of(&self) -> V2Run {
        let tree = self.store.clone().get("/", true, true).expect("root").node;
        let logs = (1..=3)
            .map(|member| MemberLog {
                member,
                events: self.log.clone(),
                index: self.store.index(),
                tree: Some(tree.clone()),
            })
            .collect();
        V2Run {
            ops: self.ops.clone(),
            logs,
            wall_origin_ms: ORIGIN_MS,
            drift_ppm_max: 10_000,
        }
    }

    fn answered_event(&mut self, op: usize) -> &mut V2Event {
        match &mut self.ops[op].outcome {
            V2Outcome::Answered(V2Answer {
                result: V2Result::Event(event),
                ..
            }) => event,
            other => panic!("op {op} has no event: {other:?}"),
        }
    }

    fn answer_of(&mut self, op: usize) -> &mut V2Answer {
        match &mut self.ops[op].outcome {
            V2Outcome::Answered(answer) => answer,
            other => panic!("op {op} has no answer: {other:?}"),
        }
    }
}

/// A history with every kind of operation, all correct.
fn good_story() -> Story {
    let mut story = Story::new();
    story.write(0, 10, set("/keys/k0", "c1.1")); // 1
    story.write(5, 20, set_ttl("/keys/k1", "c2.1", ORIGIN_MS + 1_000)); // 2
    story.write(21, 30, cas("/keys/k0", "c1.1", "c1.2")); // 3
    story.write(31, 40, cas("/keys/k0", "c1.1", "c1.3")); // refused: 101
    story.write(41, 50, enqueue("c3.1")); // 4
    story.get(51, 55, "/", true);
    story.write_unanswered(56, enqueue("c3.2")); // 5
    story.wait(57, 58, "/queue", 5, 0);
    story.write(60, 70, delete("/keys/k0")); // 6
    story.get(71, 72, "/keys", false);
    story.expire(ORIGIN_MS + 1_200); // 7: /keys/k1
    story.wait(1_300, 1_310, "/keys", 3, 1_000);
    story.wait(1_300, 1_310, "/keys", 8, 0);
    story.get(1_320, 1_330, "/keys/k1", true);
    story
}

fn failures(run: &V2Run) -> String {
    match check(run) {
        Ok(summary) => panic!("the check passed: {summary}\n{}", run.to_text()),
        Err(failures) => failures.join("\n"),
    }
}

#[test]
fn a_correct_history_passes() {
    let run = good_story().run();
    let summary = check(&run).unwrap_or_else(|f| panic!("{}\n{}", f.join("\n"), run.to_text()));
    assert_eq!(summary.events, 7);
    assert_eq!(summary.expiries, 1);
    assert_eq!(summary.acknowledged_writes, 5);
    assert_eq!(summary.refused_writes, 1);
    assert_eq!(summary.unknown_writes_applied, 1);
    assert_eq!(summary.gets_checked, 3);
    assert_eq!(summary.waits_checked, 3);
}

#[test]
fn members_whose_logs_differ_are_caught() {
    let mut run = good_story().run();
    run.logs[2].events[3].node.value = Some("c3.9".into());
    let text = failures(&run);
    assert!(text.contains("logs differ at index 4"), "{text}");
    let mut run = good_story().run();
    run.logs[1].events.pop();
    let text = failures(&run);
    assert!(
        text.contains("m2's store is at index 7 but its log ends at 6"),
        "{text}"
    );
}

#[test]
fn a_gap_in_a_log_is_caught() {
    let mut run = good_story().run();
    run.logs[0].events.remove(2);
    let text = failures(&run);
    assert!(text.contains("m1's log has a gap: after index 2"), "{text}");
}

#[test]
fn an_acknowledged_write_missing_from_the_log_is_caught() {
    let mut story = good_story();
    let lost = story.write(2_000, 2_010, set("/keys/k2", "c1.9"));
    story.log.pop();
    let mut run = story.run();
    for log in &mut run.logs {
        log.index -= 1;
    }
    let text = failures(&run);
    assert!(text.contains("an acknowledged write is missing"), "{text}");
    assert!(text.contains(&format!("op {}", lost + 1)), "{text}");
}

#[test]
fn an_acknowledgement_unlike_the_logged_event_is_caught() {
    let mut story = good_story();
    story.answered_event(2).prev_node = None;
    let text = failures(&story.run());
    assert!(
        text.contains("index 3: op 3") && text.contains("the log's event there is compareAndSwap"),
        "{text}"
    );
}

#[test]
fn a_refused_write_that_took_effect_is_caught() {
    let mut story = good_story();
    // The store refused the CAS, but the log has it (as a set of its value).
    story.write(2_000, 2_010, set("/keys/k0", "c1.3"));
    let text = failures(&story.run());
    assert!(
        text.contains("op 4 (")
            && text.contains("refused by the store, yet it took effect at index 8"),
        "{text}"
    );
}

#[test]
fn a_refusal_the_state_does_not_explain_is_caught() {
    let mut story = good_story();
    // Refused with "compare failed" on a state where the compare holds.
    let op = story.ops.len();
    story.push(
        2_000,
        Some(2_010),
        V2Request::Write(cas("/queue/00000000000000000004", "c3.1", "c3.7")),
        V2Outcome::Refused(V2Error::new(ECODE_TEST_FAILED, "[c3.1 != c3.0]", 7)),
    );
    let text = failures(&story.run());
    assert!(
        text.contains(&format!("op {} (", op + 1))
            && text.contains("on the state at index 7 it succeeds"),
        "{text}"
    );
}

/// A read answered from the state before the write at index 8.
fn read_before_the_last_write(quorum: bool) -> Story {
    let mut story = good_story();
    let mut before = story.store.clone();
    story.write(2_000, 2_010, set("/keys/k2", "c1.9")); // 8
    let read = story.get(2_020, 2_030, "/keys/k2", quorum);
    story.ops[read].outcome = match before.get("/keys/k2", true, true) {
        Ok(event) => answer(&before, V2Result::Event(Box::new(event))),
        Err(error) => V2Outcome::Refused(error),
    };
    story
}

#[test]
fn a_stale_quorum_read_is_caught() {
    let story = read_before_the_last_write(true);
    let read = story.ops.len();
    let text = failures(&story.run_of());
    assert!(
        text.contains(&format!("real time: op {} (", read - 1))
            && text.contains(&format!(
                "leaving the store at index 8, before op {read} (client"
            ))
            && text.contains("yet the later operation read the state at index 7"),
        "{text}"
    );
}

#[test]
fn a_stale_local_read_is_no_real_time_violation() {
    let story = read_before_the_last_write(false);
    check(&story.run_of()).expect("a local read may lag");
}

#[test]
fn a_read_answer_unlike_its_state_is_caught() {
    let mut story = good_story();
    let read = story.get(2_000, 2_010, "/keys", false);
    story.answered_event(read).node.nodes = None;
    let text = failures(&story.run());
    assert!(
        text.contains(&format!("op {} (", read + 1))
            && text.contains("the state at index 7 answers /keys/"),
        "{text}"
    );
}

#[test]
fn writes_out_of_real_time_order_are_caught() {
    let mut story = good_story();
    // B is applied first, but called after A returned.
    let b = story.write(3_000, 3_010, set("/keys/k2", "c2.8")); // 8
    let a = story.write(2_000, 2_010, set("/keys/k3", "c1.8")); // 9
    let text = failures(&story.run());
    assert!(
        text.contains(&format!("real time: op {} (", a + 1))
            && text.contains(&format!("before op {} (", b + 1))
            && text.contains("yet the later operation took index 8"),
        "{text}"
    );
}

#[test]
fn expiries_out_of_order_are_caught() {
    let mut story = good_story();
    story.write(2_000, 2_010, set_ttl("/keys/k2", "c1.8", ORIGIN_MS + 3_000)); // 8
    story.write(2_000, 2_010, set_ttl("/keys/k3", "c2.8", ORIGIN_MS + 3_500)); // 9
    story.expire(ORIGIN_MS + 4_000); // 10: k2, 11: k3
                                     // The log expires k3 first.
    let mut run = story.run();
    for log in &mut run.logs {
        log.events.swap(9, 10);
        log.events[9].node.modified_index = 10;
        log.events[10].node.modified_index = 11;
    }
    let text = failures(&run);
    assert!(
        text.contains("index 10: the log has expire /keys/k3")
            && text.contains("makes expire /keys/k2"),
        "{text}"
    );
}

#[test]
fn an_expiry_that_leaves_a_due_node_is_caught() {
    let mut story = good_story();
    story.write(2_000, 2_010, set_ttl("/keys/k2", "c1.8", ORIGIN_MS + 3_000)); // 8
    story.write(2_000, 2_010, set_ttl("/keys/k3", "c2.8", ORIGIN_MS + 3_000)); // 9
    story.expire(ORIGIN_MS + 4_000); // 10, 11
    story.write(5_000, 5_010, set("/keys/k4", "c1.9")); // 12
    let mut run = story.run();
    // Only k2 expired; k3, due as well, stays (and the log goes on).
    for log in &mut run.logs {
        log.events.remove(10);
        log.events[10].node.modified_index = 11;
        log.events[10].node.created_index = 11;
    }
    let text = failures(&run);
    assert!(
        text.contains("index 11: the log has set /keys/k4")
            && text.contains("makes expire /keys/k3"),
        "{text}"
    );
}

#[test]
fn an_in_order_name_not_from_its_index_is_caught() {
    let mut run = good_story().run();
    for log in &mut run.logs {
        log.events[3].node.key = "/queue/00000000000000000003".into();
    }
    // The answer too, so that only the replay can tell.
    if let V2Outcome::Answered(V2Answer {
        result: V2Result::Event(event),
        ..
    }) = &mut run.ops[4].outcome
    {
        event.node.key = "/queue/00000000000000000003".into();
    }
    let text = failures(&run);
    assert!(
        text.contains("index 4: the log has create /queue/00000000000000000003")
            && text.contains("makes create /queue/00000000000000000004"),
        "{text}"
    );
}

#[test]
fn a_wait_that_skips_a_matching_event_is_caught() {
    let mut story = good_story();
    // From 4, the first event under /queue is index 4, not 5.
    let wait = story.wait(2_000, 2_010, "/queue", 5, 1_000);
    if let V2Request::Watch { since, .. } = &mut story.ops[wait].request {
        *since = 4;
    }
    let text = failures(&story.run());
    assert!(
        text.contains(&format!("op {} (", wait + 1))
            && text.contains(
                "the first matching event at or after 4 is create /queue/00000000000000000004"
            ),
        "{text}"
    );
}

#[test]
fn a_wait_answered_nothing_though_the_history_had_its_event_is_caught() {
    let mut story = good_story();
    let wait = story.wait(2_000, 2_010, "/keys", 8, 0);
    if let V2Request::Watch { since, .. } = &mut story.ops[wait].request {
        *since = 6;
    }
    story.answer_of(wait).result = V2Result::Waiting { since: 6 };
    let text = failures(&story.run());
    assert!(
        text.contains("answered nothing yet at store index 7, but delete /keys/k0"),
        "{text}"
    );
    // At its timeout too: the event came while it waited.
    if let V2Request::Watch { timeout_ms, .. } = &mut story.ops[wait].request {
        *timeout_ms = 500;
    }
    let text = failures(&story.run());
    assert!(text.contains("but delete /keys/k0"), "{text}");
}

#[test]
fn a_value_no_client_wrote_is_caught() {
    let mut story = good_story();
    story.store.apply(&set("/keys/k5", "ghost")).expect("set");
    story
        .log
        .push(story.store.watch_history("/", true, 8).unwrap().unwrap());
    let text = failures(&story.run());
    assert!(
        text.contains("index 8: set /keys/k5 = \"ghost\"") && text.contains("no client wrote it"),
        "{text}"
    );
}

#[test]
fn a_write_applied_twice_is_caught() {
    let mut story = good_story();
    story.write(2_000, 2_010, set("/keys/k2", "c1.8")); // 8
    story.store.apply(&set("/keys/k2", "c1.8")).expect("set");
    story
        .log
        .push(story.store.watch_history("/", true, 9).unwrap().unwrap());
    let text = failures(&story.run());
    assert!(text.contains("one write applied twice"), "{text}");
}

#[test]
fn a_delete_nobody_asked_for_is_caught() {
    let mut story = good_story();
    story.write(2_000, 2_010, set("/keys/k2", "c1.8")); // 8
    story.store.apply(&delete("/keys/k2")).expect("delete");
    story
        .log
        .push(story.store.watch_history("/", true, 9).unwrap().unwrap());
    let text = failures(&story.run());
    assert!(text.contains("index 9: delete /keys/k2"), "{text}");
    // A delete whose answer was lost explains it.
    let mut story = good_story();
    story.write(2_000, 2_010, set("/keys/k2", "c1.8"));
    story.write_unanswered(2_100, delete("/keys/k2"));
    check(&story.run()).expect("a delete of unknown outcome took effect");
}

#[test]
fn a_write_never_proposed_that_took_effect_is_caught() {
    let mut story = good_story();
    let op = story.write(2_000, 2_010, set("/keys/k2", "c1.8"));
    story.ops[op].outcome = V2Outcome::NotProposed("etcdserver: no leader".into());
    let text = failures(&story.run());
    assert!(
        text.contains("answered as never proposed, yet it took effect at index 8"),
        "{text}"
    );
}

#[test]
fn an_early_expiry_is_caught() {
    let mut story = good_story();
    story.write(
        2_000,
        2_010,
        set_ttl("/keys/k2", "c1.8", ORIGIN_MS + 60_000),
    ); // 8
    story.expire(ORIGIN_MS + 60_000); // 9, decided by a clock far ahead
    story.get(3_000, 3_010, "/keys", true);
    let text = failures(&story.run());
    assert!(
        text.contains("index 9: expire /keys/k2") && text.contains("before its time"),
        "{text}"
    );
}

#[test]
fn a_member_tree_unlike_its_log_is_caught() {
    let mut run = good_story().run();
    if let Some(tree) = &mut run.logs[1].tree {
        tree.nodes = Some(Vec::new());
    }
    let text = failures(&run);
    assert!(
        text.contains("m2's tree is not the one its log leads to"),
        "{text}"
    );
}
