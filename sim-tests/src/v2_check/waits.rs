//! Check 5: waits.

use cairn_core::member::{V2Request, V2Result};
use cairn_core::v2store::{watch_matches, V2Event, ECODE_EVENT_INDEX_CLEARED, HISTORY_CAPACITY};

use super::{index_of, same_event, show_event, Failures, V2Outcome, V2Run, V2Summary};

/// A wait that returned an event returned the first event at or after its
/// `since` that matches its path, as in the log; one answered "nothing yet"
/// (at once, or at its timeout) had no such event up to the answering
/// store's index, and is told to ask again from the same index.
pub(super) fn check_waits(
    run: &V2Run,
    log: &[V2Event],
    failures: &mut Failures,
    summary: &mut V2Summary,
) {
    for op in &run.ops {
        let V2Request::Watch {
            path,
            recursive,
            since,
            ..
        } = &op.request
        else {
            continue;
        };
        // `since` 0 (the next index) is not used by the workload.
        if *since == 0 {
            continue;
        }
        let matching = |up_to: u64| {
            log.iter()
                .skip(*since as usize - 1)
                .take_while(|event| index_of(event) <= up_to)
                .find(|event| watch_matches(event, path, *recursive))
        };
        match &op.outcome {
            V2Outcome::Answered(answer) => match &answer.result {
                V2Result::Event(event) => {
                    summary.waits_checked += 1;
                    match matching(u64::MAX) {
                        Some(first) if same_event(first, event) => {}
                        Some(first) => failures.push(format!(
                            "{op}: the first matching event at or after {since} is {} (index {})",
                            show_event(first),
                            index_of(first)
                        )),
                        None => failures.push(format!(
                            "{op}: no event at or after {since} in the log matches"
                        )),
                    }
                }
                V2Result::Waiting { since: again } => {
                    summary.waits_checked += 1;
                    if again != since {
                        failures.push(format!("{op}: told to ask again from {again}, not {since}"));
                    }
                    if let Some(missed) = matching(answer.store_index) {
                        failures.push(format!(
                            "{op}: answered nothing yet at store index {}, but {} at index {} matches",
                            answer.store_index,
                            show_event(missed),
                            index_of(missed)
                        ));
                    }
                }
                V2Result::Stats { .. } | V2Result::Auth(_) | V2Result::AuthState(_) => {
                    failures.push(format!("{op}: answered with another request's answer"))
                }
            },
            V2Outcome::Refused(error)
                if error.code == ECODE_EVENT_INDEX_CLEARED && log.len() >= HISTORY_CAPACITY => {}
            V2Outcome::Refused(error) => failures.push(format!(
                "{op}: refused ({} {}), though the history holds all {} events",
                error.code,
                error.message(),
                log.len()
            )),
            V2Outcome::NotProposed(_) | V2Outcome::Unknown => {}
        }
    }
}
