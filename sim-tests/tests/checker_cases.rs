//! Hand-made histories, each small enough to verify by eye, that are or are not
//! linearizable under etcd's KV semantics.

mod checker_support;

use cairn_sim_tests::checker::{check, check_with, CheckConfig, CheckResult, Violation};
use cairn_sim_tests::history::History;
use checker_support::Builder;

fn assert_ok(history: &History) {
    match check(history) {
        CheckResult::Ok => {}
        other => panic!("expected Ok, got {other:?}\n{}", history.to_text()),
    }
}

#[track_caller]
fn assert_violation(history: &History, failed: u64) -> Violation {
    match check(history) {
        CheckResult::Violation(violation) => {
            assert_eq!(violation.failed.id, failed, "{violation}");
            violation
        }
        other => panic!("expected a violation, got {other:?}\n{}", history.to_text()),
    }
}

#[test]
fn stale_read_after_a_completed_write() {
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v1");
    h.put(0, 20, Some(30), "k", "v2");
    let read = h.get(1, 40, 50, "k", Some("v1"));
    let violation = assert_violation(&h.history(), read);
    let text = violation.to_string();
    assert!(
        text.contains("get(k) -> Some(v1) at [40ms, 50ms] (op 2, client 1) cannot be linearized"),
        "{text}"
    );
    assert!(text.contains("the model would answer Some(v2)"), "{text}");
    assert!(text.contains("Key k: v2 by then"), "{text}");
    assert!(text.contains("v1 was written by put(k, v1)"), "{text}");
    assert_eq!(violation.keys, vec!["k".to_string()]);
    assert_eq!(violation.minimal.len(), 3, "{violation}");

    // The same read overlapping the second write may see either value.
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v1");
    h.put(0, 20, Some(30), "k", "v2");
    h.get(1, 25, 50, "k", Some("v1"));
    h.get(2, 26, 27, "k", Some("v2"));
    assert_ok(&h.history());
}

#[test]
fn read_of_a_value_never_written() {
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v1");
    let read = h.get(1, 5, 50, "k", Some("v9"));
    let violation = assert_violation(&h.history(), read);
    assert!(
        violation
            .explanation
            .contains("No operation writes v9 to k"),
        "{violation}"
    );
    assert_eq!(violation.concurrent.len(), 1);
}

#[test]
fn reading_absent_before_any_write_is_fine() {
    let mut h = Builder::new();
    h.get(1, 0, 5, "k", None);
    h.put(0, 3, Some(10), "k", "v1");
    h.get(1, 6, 8, "k", None);
    h.get(2, 7, 9, "k", Some("v1"));
    assert_ok(&h.history());
}

#[test]
fn concurrent_writes_seen_in_both_orders_by_sequential_reads() {
    // Client 2 sees a then b; client 3, after that, sees b then a: a would have to
    // be written twice.
    let mut h = Builder::new();
    h.put(0, 0, Some(100), "k", "a");
    h.put(1, 0, Some(100), "k", "b");
    h.get(2, 10, 20, "k", Some("a"));
    h.get(2, 30, 40, "k", Some("b"));
    let b_by_3 = h.get(3, 50, 60, "k", Some("b"));
    let back_to_a = h.get(3, 70, 80, "k", Some("a"));
    let CheckResult::Violation(violation) = check(&h.history()) else {
        panic!("a value written once cannot come back");
    };
    // Which read gets the blame depends on the order of the search.
    let blamed = violation.failed.id;
    assert!(
        blamed == b_by_3 || blamed == back_to_a || blamed == 3,
        "{violation}"
    );
    assert!(violation.minimal.len() >= 3, "{violation}");

    // Overlapping reads may see the values in different orders: a, a, then b, b.
    let mut h = Builder::new();
    h.put(0, 0, Some(100), "k", "a");
    h.put(1, 0, Some(100), "k", "b");
    h.get(2, 10, 20, "k", Some("a"));
    h.get(2, 30, 40, "k", Some("b"));
    h.get(3, 5, 35, "k", Some("b"));
    h.get(4, 25, 45, "k", Some("a"));
    assert_ok(&h.history());
}

#[test]
fn indeterminate_put_that_shows_up_later() {
    let mut h = Builder::new();
    h.put(0, 0, Some(5), "k", "v0");
    h.put(1, 10, None, "k", "v1");
    h.get(2, 20, 30, "k", Some("v0"));
    h.get(2, 500, 510, "k", Some("v1"));
    h.get(3, 520, 530, "k", Some("v1"));
    assert_ok(&h.history());
}

#[test]
fn indeterminate_put_that_never_shows_up() {
    let mut h = Builder::new();
    h.put(1, 10, None, "k", "v1");
    h.get(2, 20, 30, "k", None);
    h.get(2, 500, 510, "k", None);
    assert_ok(&h.history());
}

#[test]
fn indeterminate_put_that_shows_up_then_disappears() {
    let mut h = Builder::new();
    h.put(0, 0, Some(5), "k", "v0");
    h.put(1, 10, None, "k", "v1");
    h.get(2, 20, 30, "k", Some("v1"));
    let gone = h.get(2, 40, 50, "k", Some("v0"));
    assert_violation(&h.history(), gone);

    let mut h = Builder::new();
    h.put(1, 10, None, "k", "v1");
    h.get(2, 20, 30, "k", Some("v1"));
    let gone = h.get(2, 40, 50, "k", None);
    assert_violation(&h.history(), gone);
}

#[test]
fn indeterminate_put_explains_a_delete() {
    // Nobody saw v1, but a delete found something to delete.
    let mut h = Builder::new();
    h.put(1, 10, None, "k", "v1");
    h.delete(2, 20, Some(30), "k", 1);
    h.get(2, 40, 50, "k", None);
    assert_ok(&h.history());

    // A lost put called after the delete returned cannot explain it.
    let mut h = Builder::new();
    let delete = h.delete(2, 20, Some(30), "k", 1);
    h.put(1, 31, None, "k", "v1");
    assert_violation(&h.history(), delete);
}

#[test]
fn cas_succeeding_twice_from_the_same_value() {
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v0");
    h.cas(1, 20, Some(30), "k", Some("v0"), "v1", true);
    let second = h.cas(2, 40, Some(50), "k", Some("v0"), "v2", true);
    assert_violation(&h.history(), second);

    // Concurrent, both claiming success: still only one can win.
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v0");
    h.cas(1, 20, Some(50), "k", Some("v0"), "v1", true);
    h.cas(2, 20, Some(50), "k", Some("v0"), "v2", true);
    assert!(matches!(check(&h.history()), CheckResult::Violation(_)));

    // One wins, one loses: fine either way round.
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v0");
    h.cas(1, 20, Some(50), "k", Some("v0"), "v1", false);
    h.cas(2, 20, Some(50), "k", Some("v0"), "v2", true);
    h.get(0, 60, 70, "k", Some("v2"));
    assert_ok(&h.history());
}

#[test]
fn cas_on_an_absent_key() {
    let mut h = Builder::new();
    h.cas(1, 0, Some(10), "k", None, "v1", true);
    h.cas(2, 20, Some(30), "k", None, "v2", false);
    h.delete(3, 40, Some(50), "k", 1);
    h.cas(2, 60, Some(70), "k", None, "v3", true);
    h.get(1, 80, 90, "k", Some("v3"));
    assert_ok(&h.history());

    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v0");
    let wrong = h.cas(1, 20, Some(30), "k", None, "v1", true);
    assert_violation(&h.history(), wrong);
}

#[test]
fn delete_counts() {
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v0");
    h.delete(1, 20, Some(30), "k", 1);
    h.delete(1, 40, Some(50), "k", 0);
    h.get(2, 60, 70, "k", None);
    assert_ok(&h.history());

    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v0");
    h.delete(1, 20, Some(30), "k", 1);
    let twice = h.delete(2, 40, Some(50), "k", 1);
    assert_violation(&h.history(), twice);

    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v0");
    let none = h.delete(1, 20, Some(30), "k", 0);
    assert_violation(&h.history(), none);

    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v0");
    let two = h.delete(1, 20, Some(30), "k", 2);
    assert_violation(&h.history(), two);
}

#[test]
fn range_sees_a_write_that_a_later_get_misses() {
    let mut h = Builder::new();
    h.put(0, 0, Some(100), "k1", "v1");
    h.range(1, 10, 20, "k0", "k9", &[("k1", "v1")]);
    let get = h.get(2, 30, 40, "k1", None);
    assert_violation(&h.history(), get);
}

#[test]
fn range_must_see_writes_completed_before_it() {
    // k2's concurrent write is visible, k1's completed one is not. Key k1 alone
    // already shows it, so that is the window reported.
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k1", "a");
    h.put(1, 20, Some(100), "k2", "b");
    let range = h.range(2, 30, 40, "k0", "k9", &[("k2", "b")]);
    let violation = assert_violation(&h.history(), range);
    assert_eq!(violation.keys, vec!["k1".to_string()]);
    assert!(violation.explanation.contains("Key k1: a"), "{violation}");

    // A later range that no longer sees what an earlier one saw: k1 alone shows it.
    let mut h = Builder::new();
    h.put(0, 0, Some(100), "k1", "a");
    h.put(1, 0, Some(100), "k2", "b");
    h.range(2, 10, 20, "k0", "k9", &[("k1", "a")]);
    let second = h.range(2, 30, 40, "k0", "k9", &[("k2", "b")]);
    assert_violation(&h.history(), second);

    // A long fork: two concurrent ranges each see one of two concurrent writes and
    // not the other. Each key alone is fine (one range before its write, one
    // after); together they would need k1's write before k2's and the reverse.
    let mut h = Builder::new();
    h.put(0, 0, Some(100), "k1", "a");
    h.put(1, 0, Some(100), "k2", "b");
    h.range(2, 10, 20, "k0", "k9", &[("k1", "a")]);
    h.range(3, 10, 20, "k0", "k9", &[("k2", "b")]);
    let CheckResult::Violation(violation) = check(&h.history()) else {
        panic!("a long fork must not pass");
    };
    assert_eq!(violation.keys, vec!["k1".to_string(), "k2".to_string()]);

    // The same, consistent.
    let mut h = Builder::new();
    h.put(0, 0, Some(100), "k1", "a");
    h.put(1, 0, Some(100), "k2", "b");
    h.range(2, 10, 20, "k0", "k9", &[("k1", "a")]);
    h.range(2, 30, 40, "k0", "k9", &[("k1", "a"), ("k2", "b")]);
    h.range(3, 30, 40, "k2", "k3", &[("k2", "b")]);
    h.range(3, 50, 60, "k3", "k9", &[]);
    assert_ok(&h.history());
}

#[test]
fn range_output_must_be_sorted_and_inside_the_range() {
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "a", "1");
    h.put(0, 20, Some(30), "b", "2");
    let unsorted = h.range(1, 40, 50, "a", "c", &[("b", "2"), ("a", "1")]);
    assert_violation(&h.history(), unsorted);

    let mut h = Builder::new();
    h.put(0, 0, Some(10), "a", "1");
    let outside = h.range(1, 40, 50, "b", "c", &[("a", "1")]);
    assert_violation(&h.history(), outside);
}

#[test]
fn independent_keys_are_checked_separately() {
    let mut h = Builder::new();
    for key in 0..30 {
        let key = format!("k{key}");
        h.put(0, 0, Some(100), &key, "x");
        h.get(1, 0, 100, &key, None);
    }
    h.put(0, 200, Some(210), "k7", "y");
    let stale = h.get(1, 220, 230, "k7", Some("x"));
    let violation = assert_violation(&h.history(), stale);
    assert_eq!(violation.keys, vec!["k7".to_string()]);
    assert!(violation.minimal.len() <= 3, "{violation}");
}

#[test]
fn shrinking_drops_what_the_violation_does_not_need() {
    let mut h = Builder::new();
    let mut time = 0;
    for round in 0..40 {
        let value = format!("v{round}");
        h.put(0, time, Some(time + 5), "k", &value);
        h.get(1, time + 1, time + 9, "k", Some(&value));
        h.range(2, time + 6, time + 9, "k", "l", &[("k", &value)]);
        time += 10;
    }
    h.put(0, time, Some(time + 5), "k", "last");
    let stale = h.get(1, time + 10, time + 20, "k", Some("v39"));
    let violation = assert_violation(&h.history(), stale);
    let ids: Vec<u64> = violation.minimal.iter().map(|op| op.id).collect();
    assert!(ids.contains(&stale), "{violation}");
    assert!(violation.minimal.len() <= 4, "{violation}");
    assert!(violation.prefix.len() >= 120, "{violation}");
}

#[test]
fn indeterminate_reads_are_ignored() {
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v");
    let mut history = h.history();
    let mut lost_get = history.ops[0].clone();
    lost_get.id = 1;
    lost_get.input = cairn_sim_tests::history::Input::Get { key: "k".into() };
    lost_get.return_ms = None;
    lost_get.output = None;
    history.ops.push(lost_get);
    assert_ok(&history);
}

#[test]
fn a_tiny_budget_gives_unknown() {
    let mut h = Builder::new();
    for round in 0..10 {
        let value = format!("v{round}");
        h.put(0, round * 10, Some(round * 10 + 5), "k", &value);
        h.get(1, round * 10 + 6, round * 10 + 9, "k", Some(&value));
    }
    let config = CheckConfig {
        steps_max_per_partition: 5,
        shrink_steps_max: 100,
    };
    assert_eq!(check_with(&h.history(), &config), CheckResult::Unknown);
    assert_eq!(check(&h.history()), CheckResult::Ok);
}

#[test]
fn many_lost_writes_do_not_blow_up_a_failing_search() {
    // Thirty lost puts nobody observed, then a read of a value never written: the
    // search must try them in many places before concluding, and dominance keeps
    // that polynomial.
    let mut h = Builder::new();
    for index in 0..30u64 {
        h.put(
            index as u32 % 5,
            index * 10,
            None,
            "k",
            &format!("lost{index}"),
        );
        h.put(
            5,
            index * 10,
            Some(index * 10 + 3),
            "k",
            &format!("seen{index}"),
        );
        h.get(
            6,
            index * 10 + 4,
            index * 10 + 5,
            "k",
            Some(&format!("seen{index}")),
        );
    }
    let bad = h.get(6, 400, 410, "k", Some("never"));
    assert_violation(&h.history(), bad);
}

#[test]
#[should_panic(expected = "malformed history")]
fn malformed_histories_are_bugs() {
    let mut h = Builder::new();
    h.put(0, 10, Some(5), "k", "v");
    let _ = check(&h.history());
}

/// `cargo test -p cairn-sim-tests --test checker_cases -- --ignored --nocapture`
/// shows what people get to read.
#[test]
#[ignore = "prints reports for reading"]
fn print_reports() {
    let text = |history: History| match check(&history) {
        CheckResult::Violation(violation) => violation.to_string(),
        other => format!("{other:?}"),
    };
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v1");
    h.put(0, 20, Some(30), "k", "v2");
    h.get(1, 40, 50, "k", Some("v1"));
    println!("{}", text(h.history()));
    let mut h = Builder::new();
    h.put(0, 0, Some(10), "k", "v0");
    h.cas(1, 20, Some(30), "k", Some("v0"), "v1", true);
    h.cas(2, 40, Some(50), "k", Some("v0"), "v2", true);
    println!("{}", text(h.history()));
    let mut h = Builder::new();
    h.put(0, 0, Some(100), "k1", "a");
    h.put(1, 0, Some(100), "k2", "b");
    h.range(2, 10, 20, "k0", "k9", &[("k1", "a")]);
    h.range(3, 10, 20, "k0", "k9", &[("k2", "b")]);
    println!("{}", text(h.history()));
}
