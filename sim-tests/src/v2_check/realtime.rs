//! Check 4's real-time parts: operations ordered in real time are ordered
//! in the log, and no node expires before its time.

use cairn_core::member::V2Request;
use cairn_core::v2store::{V2Action, V2Event};

use super::replay::Placement;
use super::{index_of, show_event, Failures, V2Outcome, V2Run};

/// An operation called after another returned sees at least the state the
/// other left: a write takes a later index than every write acknowledged
/// before it was called (and than every state read before it was called);
/// a quorum get or a refused write sees at least that state. (Times are
/// whole milliseconds: an operation called in the millisecond another
/// returned is taken as concurrent with it.)
pub(super) fn check_order(run: &V2Run, placements: &[Placement], failures: &mut Failures) {
    // (returned at, state left, operation), by return time.
    let mut returned: Vec<(u64, u64, usize)> = run
        .ops
        .iter()
        .zip(placements)
        .enumerate()
        .filter_map(|(n, (op, placement))| Some((op.return_ms?, placement.left?, n)))
        .collect();
    returned.sort_unstable();
    // The latest state left by the operations returned so far, and whose.
    let mut latest: Vec<(u64, usize)> = Vec::with_capacity(returned.len());
    for &(_, left, n) in &returned {
        let best = match latest.last() {
            Some(&(best, m)) if best >= left => (best, m),
            _ => (left, n),
        };
        latest.push(best);
    }
    for (op, placement) in run.ops.iter().zip(placements) {
        let Some(seen) = placement.seen else {
            continue;
        };
        let before = returned.partition_point(|&(at, _, _)| at < op.call_ms);
        let Some(&(left, n)) = before.checked_sub(1).map(|k| &latest[k]) else {
            continue;
        };
        if left > seen {
            let acted = match (&op.request, &op.outcome) {
                (V2Request::Write(_), V2Outcome::Refused(_)) => {
                    format!("was refused on the state at index {seen}")
                }
                (V2Request::Write(_), _) => format!("took index {}", seen + 1),
                _ => format!("read the state at index {seen}"),
            };
            failures.push(format!(
                "real time: {} returned, leaving the store at index {left}, before {op} was called; yet the later operation {acted}",
                run.ops[n]
            ));
        }
    }
}

/// An expiry decided by the leader's wall clock cannot be applied anywhere
/// before the node's expiration time, less the leader clock's drift since
/// the run began.
pub(super) fn check_expiries_not_early(
    run: &V2Run,
    log: &[V2Event],
    placements: &[Placement],
    failures: &mut Failures,
) {
    // earliest[i]: the first return (time, operation) proving index >= i applied.
    let mut earliest: Vec<Option<(u64, usize)>> = vec![None; log.len() + 2];
    for (n, (op, placement)) in run.ops.iter().zip(placements).enumerate() {
        let (Some(return_ms), Some(proven)) = (op.return_ms, placement.proven) else {
            continue;
        };
        let slot = &mut earliest[(proven as usize).min(log.len() + 1)];
        if slot.is_none_or(|(at, _)| return_ms < at) {
            *slot = Some((return_ms, n));
        }
    }
    for index in (0..earliest.len() - 1).rev() {
        let later = earliest[index + 1];
        if let Some((at, n)) = later {
            if earliest[index].is_none_or(|(here, _)| at < here) {
                earliest[index] = Some((at, n));
            }
        }
    }
    for event in log.iter().filter(|e| e.action == V2Action::Expire) {
        let Some(expires_at) = event.prev_node.as_ref().and_then(|p| p.expiration_ms) else {
            continue;
        };
        let index = index_of(event);
        let Some((returned_ms, n)) = earliest[index as usize] else {
            continue;
        };
        let wall_ms = run.wall_origin_ms + returned_ms as i64;
        let drift_ms = returned_ms as i64 * run.drift_ppm_max / 1_000_000 + 2;
        if wall_ms + drift_ms < expires_at {
            failures.push(format!(
                "index {index}: {} expired {}ms before its time: {} returned at unix {wall_ms}ms having seen it (clock drift allows {drift_ms}ms)",
                show_event(event),
                expires_at - wall_ms,
                run.ops[n]
            ));
        }
    }
}
