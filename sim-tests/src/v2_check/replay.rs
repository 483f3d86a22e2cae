//! Checks 1 to 3: the members' logs agree, the log replays on a fresh
//! store, and every write's answer fits the log. Also places each operation
//! in the log for the real-time checks.

use std::collections::BTreeMap;

use cairn_core::member::{V2Request, V2Result};
use cairn_core::v2store::{V2Action, V2Event, V2Node, V2Store, V2Write};

use super::{
    index_of, same_event, show_event, show_node, show_write, stored_value, write_of, written_value,
    Failures, MemberLog, V2Outcome, V2Run, V2Summary,
};

/// Where the log puts an operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Placement {
    /// The store index of the state it acted on or read.
    pub seen: Option<u64>,
    /// The store index of the state it left (a write's own index; a read or
    /// a refused write leaves what it saw), once it returned.
    pub left: Option<u64>,
    /// An index its answer proves some member had applied when it returned.
    pub proven: Option<u64>,
}

/// Check 1: every log is whole (indexes 1, 2, ... with no gap, up to the
/// member's store index) and the same as every other. Returns the first
/// member's log, the reference, unless it is not whole.
pub(super) fn agreed_log<'a>(
    logs: &'a [MemberLog],
    failures: &mut Failures,
) -> Option<&'a [V2Event]> {
    let Some(first) = logs.first() else {
        failures.push("no member's v2 log was read".into());
        return None;
    };
    let mut whole = Vec::with_capacity(logs.len());
    for log in logs {
        if let Some((position, event)) = log
            .events
            .iter()
            .enumerate()
            .find(|(position, event)| index_of(event) != *position as u64 + 1)
        {
            failures.push(format!(
                "m{}'s log has a gap: after index {position} comes {}",
                log.member,
                show_event(event)
            ));
            whole.push(false);
            continue;
        }
        whole.push(true);
        if log.index != log.events.len() as u64 {
            failures.push(format!(
                "m{}'s store is at index {} but its log ends at {}",
                log.member,
                log.index,
                log.events.len()
            ));
        }
    }
    for (log, _) in logs.iter().zip(&whole).skip(1).filter(|(_, whole)| **whole) {
        let differing = first
            .events
            .iter()
            .zip(&log.events)
            .find(|(a, b)| !same_event(a, b));
        if let Some((a, b)) = differing {
            failures.push(format!(
                "the members' logs differ at index {}: m{} has {}, m{} has {}",
                index_of(a),
                first.member,
                show_event(a),
                log.member,
                show_event(b)
            ));
        } else if log.events.len() != first.events.len() {
            failures.push(format!(
                "the members' logs differ in length after convergence: m{} has {} events, m{} has {}",
                first.member,
                first.events.len(),
                log.member,
                log.events.len()
            ));
        }
    }
    whole[0].then_some(&first.events[..])
}

/// What the log's writes are known to be, per index.
struct Claims<'a> {
    run: &'a V2Run,
    /// Index -> the operation whose write took it.
    by_index: BTreeMap<u64, usize>,
    /// Where each stored value is in the log.
    value_at: BTreeMap<&'a str, u64>,
    /// Which operation wrote each value.
    writer_of: BTreeMap<&'a str, usize>,
    /// Deletes of unknown outcome not placed yet, by (action, path).
    unplaced_deletes: BTreeMap<(&'static str, String), usize>,
    /// Store index -> the reads and refused writes that observed the state
    /// at that index.
    observations: BTreeMap<u64, Vec<usize>>,
}

impl<'a> Claims<'a> {
    fn new(run: &'a V2Run, log: &'a [V2Event], failures: &mut Failures) -> Claims<'a> {
        let mut value_at: BTreeMap<&str, u64> = BTreeMap::new();
        for event in log {
            let Some(value) = stored_value(event) else {
                continue;
            };
            if let Some(first) = value_at.insert(value, index_of(event)) {
                failures.push(format!(
                    "the value {value:?} was stored at index {first} and again at index {} ({}): one write applied twice",
                    index_of(event),
                    show_event(event)
                ));
            }
        }
        let writer_of = run
            .ops
            .iter()
            .enumerate()
            .filter_map(|(n, op)| Some((written_value(write_of(&op.request)?)?, n)))
            .collect();
        Claims {
            run,
            by_index: BTreeMap::new(),
            value_at,
            writer_of,
            unplaced_deletes: BTreeMap::new(),
            observations: BTreeMap::new(),
        }
    }

    fn claim(&mut self, index: u64, n: usize, failures: &mut Failures) {
        if let Some(other) = self.by_index.insert(index, n) {
            failures.push(format!(
                "two writes took index {index}: {} and {}",
                self.run.ops[other], self.run.ops[n]
            ));
        }
    }

    fn observe(&mut self, index: u64, n: usize) {
        self.observations.entry(index).or_default().push(n);
    }

    /// Places every operation, and checks what needs no replay.
    fn place(
        &mut self,
        log: &[V2Event],
        failures: &mut Failures,
        summary: &mut V2Summary,
    ) -> Vec<Placement> {
        let run = self.run;
        let mut placements = vec![Placement::default(); run.ops.len()];
        for (n, op) in run.ops.iter().enumerate() {
            let placement = &mut placements[n];
            let quorum = matches!(op.request, V2Request::Get { quorum: true, .. });
            let Some(write) = write_of(&op.request) else {
                let seen = match &op.outcome {
                    V2Outcome::Answered(answer) => Some(answer.store_index),
                    V2Outcome::Refused(error) => Some(error.index),
                    _ => None,
                };
                placement.proven = seen;
                if let (Some(seen), V2Request::Get { .. }) = (seen, &op.request) {
                    self.observe(seen, n);
                    if quorum {
                        placement.seen = Some(seen);
                        placement.left = Some(seen);
                    }
                }
                continue;
            };
            let found = written_value(write).and_then(|value| self.value_at.get(value).copied());
            match &op.outcome {
                V2Outcome::Answered(answer) => {
                    let V2Result::Event(event) = &answer.result else {
                        failures.push(format!("{op}: a write answered with no event"));
                        continue;
                    };
                    let index = index_of(event);
                    if index == 0 || index > log.len() as u64 {
                        failures.push(format!(
                            "{op}: acknowledged at index {index}, but the log ends at {}: an acknowledged write is missing",
                            log.len()
                        ));
                        continue;
                    }
                    summary.acknowledged_writes += 1;
                    self.claim(index, n, failures);
                    *placement = Placement {
                        seen: Some(index - 1),
                        left: Some(index),
                        proven: Some(index.max(answer.store_index)),
                    };
                }
                V2Outcome::Refused(error) => {
                    summary.refused_writes += 1;
                    if let Some(index) = found {
                        failures.push(format!(
                            "{op}: refused by the store, yet it took effect at index {index}: {}",
                            show_event(&log[index as usize - 1])
                        ));
                    }
                    self.observe(error.index, n);
                    *placement = Placement {
                        seen: Some(error.index),
                        left: Some(error.index),
                        proven: Some(error.index),
                    };
                }
                V2Outcome::NotProposed(_) => {
                    if let Some(index) = found {
                        failures.push(format!(
                            "{op}: answered as never proposed, yet it took effect at index {index}: {}",
                            show_event(&log[index as usize - 1])
                        ));
                    }
                }
                V2Outcome::Unknown => match (found, write) {
                    (Some(index), _) => {
                        summary.unknown_writes_applied += 1;
                        self.claim(index, n, failures);
                        placement.seen = Some(index - 1);
                    }
                    (None, V2Write::Delete { path, .. }) => {
                        *self
                            .unplaced_deletes
                            .entry((V2Action::Delete.as_str(), path.clone()))
                            .or_default() += 1;
                    }
                    (None, V2Write::CompareAndDelete { path, .. }) => {
                        *self
                            .unplaced_deletes
                            .entry((V2Action::CompareAndDelete.as_str(), path.clone()))
                            .or_default() += 1;
                    }
                    _ => {}
                },
            }
        }
        placements
    }

    /// An event no known write took: a delete of unknown outcome may
    /// explain it; nothing explains a value no client wrote.
    fn explain_unclaimed(&mut self, event: &V2Event, failures: &mut Failures) {
        let index = index_of(event);
        if let Some(value) = stored_value(event) {
            let writer = match self.writer_of.get(value) {
                Some(&n) => format!("its writer, {}, says otherwise", self.run.ops[n]),
                None => "no client wrote it".into(),
            };
            failures.push(format!(
                "index {index}: {} stores {value:?}, but {writer}",
                show_event(event)
            ));
            return;
        }
        if matches!(event.action, V2Action::Delete | V2Action::CompareAndDelete) {
            let key = (event.action.as_str(), event.node.key.clone());
            match self.unplaced_deletes.get_mut(&key) {
                Some(count) if *count > 0 => *count -= 1,
                _ => failures.push(format!(
                    "index {index}: {}, but no {} of {} of unknown outcome is left to explain it (every other was answered)",
                    show_event(event),
                    event.action.as_str(),
                    event.node.key
                )),
            }
        }
    }
}

/// Checks 2 and 3: replays the log on a fresh store, with each client's own
/// write where the log's event is known to be it, checking every read and
/// refused write on the state at the index it names, and every member's
/// final tree. Returns where each operation sits.
pub(super) fn replay(
    run: &V2Run,
    log: &[V2Event],
    failures: &mut Failures,
    summary: &mut V2Summary,
) -> Vec<Placement> {
    let mut claims = Claims::new(run, log, failures);
    let placements = claims.place(log, failures, summary);
    let mut model = V2Store::new();
    check_observations(run, &claims, 0, &mut model, failures, summary);
    let mut applied = 0usize;
    while applied < log.len() {
        let event = &log[applied];
        let index = applied as u64 + 1;
        let claimed = claims.by_index.get(&index).copied();
        let write = match (event.action, claimed) {
            (V2Action::Expire, _) => match event.prev_node.as_ref().and_then(|p| p.expiration_ms) {
                Some(at) => V2Write::Expire { now_ms: at },
                None => {
                    failures.push(format!(
                        "index {index}: {}: an expiry of a node without a TTL",
                        show_event(event)
                    ));
                    return placements;
                }
            },
            (_, Some(n)) => {
                let op = &run.ops[n];
                if let V2Outcome::Answered(answer) = &op.outcome {
                    if let V2Result::Event(answered) = &answer.result {
                        if !same_event(answered, event) {
                            failures.push(format!(
                                "index {index}: {op} was acknowledged with its event, but the log's event there is {}",
                                show_event(event)
                            ));
                        }
                    }
                }
                write_of(&op.request).cloned().expect("claimed by a write")
            }
            (_, None) => {
                claims.explain_unclaimed(event, failures);
                match reconstruct(event) {
                    Some(write) => write,
                    None => {
                        failures.push(format!(
                            "index {index}: {}: no write makes such an event",
                            show_event(event)
                        ));
                        return placements;
                    }
                }
            }
        };
        let origin = match claimed {
            Some(n) if event.action != V2Action::Expire => format!("the write of {}", run.ops[n]),
            _ => "the write the log's event implies".into(),
        };
        let produced = match model.apply(&write) {
            Ok(events) if !events.is_empty() => events,
            Ok(_) => {
                failures.push(format!(
                    "index {index}: the log has {}, but on the state at {} the store expires nothing at {}",
                    show_event(event),
                    index - 1,
                    show_write(&write)
                ));
                return placements;
            }
            Err(error) => {
                failures.push(format!(
                    "index {index}: the log has {}, but {origin} ({}) fails on the state at {}: {error}",
                    show_event(event),
                    show_write(&write),
                    index - 1
                ));
                return placements;
            }
        };
        for (offset, made) in produced.iter().enumerate() {
            let Some(logged) = log.get(applied + offset) else {
                failures.push(format!(
                    "after index {}: {} also makes {}, which the log does not have",
                    log.len(),
                    show_write(&write),
                    show_event(made)
                ));
                return placements;
            };
            if !same_event(made, logged) {
                failures.push(format!(
                    "index {}: the log has {}, but replaying {origin} ({}) on the state at {} makes {}",
                    applied + offset + 1,
                    show_event(logged),
                    show_write(&write),
                    applied + offset,
                    show_event(made)
                ));
                return placements;
            }
            if made.action == V2Action::Expire {
                summary.expiries += 1;
            }
        }
        for offset in 1..=produced.len() {
            let position = (applied + offset) as u64;
            check_observations(run, &claims, position, &mut model, failures, summary);
        }
        applied += produced.len();
    }
    if let Some((&index, ops)) = claims.observations.range(log.len() as u64 + 1..).next() {
        failures.push(format!(
            "{}: answered at store index {index}, beyond the log's last index {}",
            run.ops[ops[0]],
            log.len()
        ));
    }
    check_trees(run, &mut model, failures);
    placements
}

/// The write an event implies, when no client's write is known to be it.
fn reconstruct(event: &V2Event) -> Option<V2Write> {
    let node = &event.node;
    let path = node.key.clone();
    let value = node.value.clone().unwrap_or_default();
    let expire_ms = node.expiration_ms;
    let prev_index = event
        .prev_node
        .as_ref()
        .map_or(0, |prev| prev.modified_index);
    Some(match event.action {
        V2Action::Set => V2Write::Set {
            path,
            dir: node.dir,
            value,
            expire_ms,
            refresh: event.refresh,
        },
        V2Action::Create => V2Write::Create {
            path,
            dir: node.dir,
            value,
            unique: false,
            expire_ms,
        },
        V2Action::Update => V2Write::Update {
            path,
            value,
            expire_ms,
            refresh: event.refresh,
        },
        V2Action::CompareAndSwap => V2Write::CompareAndSwap {
            path,
            prev_value: String::new(),
            prev_index,
            value,
            expire_ms,
            refresh: event.refresh,
        },
        V2Action::Delete => V2Write::Delete {
            path,
            dir: node.dir,
            recursive: true,
        },
        V2Action::CompareAndDelete => V2Write::CompareAndDelete {
            path,
            prev_value: String::new(),
            prev_index,
        },
        V2Action::Get | V2Action::Expire => return None,
    })
}

/// The reads and refused writes that name `index`, on the model's state
/// at that index.
fn check_observations(
    run: &V2Run,
    claims: &Claims,
    index: u64,
    model: &mut V2Store,
    failures: &mut Failures,
    summary: &mut V2Summary,
) {
    let Some(observers) = claims.observations.get(&index) else {
        return;
    };
    for &n in observers {
        let op = &run.ops[n];
        match (&op.request, &op.outcome) {
            (V2Request::Write(write), V2Outcome::Refused(refused)) => {
                let mut trial = model.clone();
                match trial.apply(write) {
                    Err(error) if error.code == refused.code && error.cause == refused.cause => {}
                    Err(error) => failures.push(format!(
                        "{op}: on the state at index {index} the store refuses it otherwise: error {} ({})",
                        error.code, error.cause
                    )),
                    Ok(events) => failures.push(format!(
                        "{op}: on the state at index {index} it succeeds: {}",
                        events.first().map(show_event).unwrap_or_default()
                    )),
                }
            }
            (
                V2Request::Get {
                    path,
                    recursive,
                    sorted,
                    ..
                },
                outcome,
            ) => {
                summary.gets_checked += 1;
                let expected = model.get(path, *recursive, *sorted);
                let fits = match (outcome, &expected) {
                    (V2Outcome::Answered(answer), Ok(state)) => match &answer.result {
                        V2Result::Event(event) => {
                            event.action == V2Action::Get && event.node == state.node
                        }
                        _ => false,
                    },
                    (V2Outcome::Refused(refused), Err(error)) => {
                        refused.code == error.code && refused.cause == error.cause
                    }
                    _ => false,
                };
                if !fits {
                    let state = match &expected {
                        Ok(state) => show_node(&state.node),
                        Err(error) => format!("error {} ({})", error.code, error.cause),
                    };
                    failures.push(format!("{op}: the state at index {index} answers {state}"));
                }
            }
            _ => {}
        }
    }
}

/// Every member's tree is the one the log leads to.
fn check_trees(run: &V2Run, model: &mut V2Store, failures: &mut Failures) {
    let Ok(expected) = model.get("/", true, true) else {
        failures.push("the replayed store has no root".into());
        return;
    };
    let expected = flatten(&expected.node);
    for log in &run.logs {
        let Some(tree) = &log.tree else {
            continue;
        };
        let got = flatten(tree);
        if got == expected {
            continue;
        }
        let position = got
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(expected.len()));
        let show = |nodes: &[V2Node]| {
            nodes
                .get(position)
                .map(show_node)
                .unwrap_or_else(|| "nothing".into())
        };
        failures.push(format!(
            "m{}'s tree is not the one its log leads to: where the log's has {}, it has {}",
            log.member,
            show(&expected),
            show(&got)
        ));
    }
}

/// A tree's nodes in key order, each without its children.
fn flatten(node: &V2Node) -> Vec<V2Node> {
    let mut nodes = Vec::new();
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        nodes.push(V2Node {
            nodes: None,
            ..node.clone()
        });
        if let Some(children) = &node.nodes {
            stack.extend(children.iter().rev());
        }
    }
    nodes
}
