//! The v2 history check: what the simulator's v2 clients saw, against the
//! v2 event log that every member holds at the end of a run.
//!
//! The v2 store's index totally orders every v2 write that took effect, and
//! the store keeps the event of each (its history, the last
//! [`HISTORY_CAPACITY`] of them). After convergence the simulator reads the
//! whole log from every live voter (a recursive watch of `/` from each index
//! in turn), so that, for a run of fewer than [`HISTORY_CAPACITY`] events:
//!
//! 1. every member's log is the same, index for index, with no gap, and
//!    every member's tree is the one the log leads to ([`replay`]);
//! 2. replaying the log on a fresh [`V2Store`] reproduces it exactly: each
//!    event comes out of the write that made it (the client's own write
//!    where one is known; expiries as the store expires, earliest first),
//!    so expiries and in-order names are deterministic ([`replay`]);
//! 3. every acknowledged write's event is the log's event at its index;
//!    every write refused by the store fails the same way on the state at
//!    the index its error names; writes refused before their proposal, and
//!    writes refused by the store, never appear; a write whose outcome is
//!    unknown appears at most once; no write appears that no client asked
//!    for ([`replay`]; values are unique per write, which identifies them);
//! 4. real time: an operation called after another returned sees at least
//!    the state the other produced or saw (writes after acknowledged writes,
//!    quorum gets after anything; [`realtime`]); every get, quorum or not,
//!    answers exactly the state at the store index it names; and no node
//!    expires before its time (less what clock drift allows);
//! 5. every wait that returned an event returned the first event at or
//!    after its `since` that [`watch_matches`] its path, as in the log, and
//!    one answered "nothing yet" had nothing to find up to the answering
//!    store's index ([`waits`]).
//!
//! Operations whose outcome is unknown (a timeout, no answer) constrain
//! nothing but their own identity. The check depends only on its input.

mod realtime;
mod replay;
mod waits;

#[cfg(test)]
mod tests;

use std::fmt::{self, Write as _};

use cairn_core::member::{V2Answer, V2Request, V2Result};
use cairn_core::v2store::{V2Action, V2Error, V2Event, V2Node, V2Write, HISTORY_CAPACITY};

#[cfg(doc)]
use cairn_core::v2store::{watch_matches, V2Store};

/// How a v2 call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2Outcome {
    /// The member answered.
    Answered(V2Answer),
    /// The v2 store refused it: a write at its place in the log, a read or a
    /// wait on the answering member's copy. Definite.
    Refused(V2Error),
    /// The member never proposed it (no leader, a leadership transfer, a
    /// learner): a write that took no effect.
    NotProposed(String),
    /// No answer, or a timeout: a write that may or may not have taken
    /// effect; a read or wait that says nothing.
    Unknown,
}

/// One call of a v2 client, with its real-time interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Op {
    pub id: u64,
    pub client: u32,
    /// The member that answered, if one did.
    pub member: Option<u64>,
    /// Simulated milliseconds since the start of the run.
    pub call_ms: u64,
    pub return_ms: Option<u64>,
    pub request: V2Request,
    pub outcome: V2Outcome,
}

/// One member's v2 log as read at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberLog {
    pub member: u64,
    /// Its events from index 1 on, in order.
    pub events: Vec<V2Event>,
    /// Its store index when read.
    pub index: u64,
    /// Its whole tree (a recursive, sorted get of `/`), if it answered one.
    pub tree: Option<V2Node>,
}

/// Everything the check looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V2Run {
    pub ops: Vec<V2Op>,
    pub logs: Vec<MemberLog>,
    /// The unix time in ms (simulated) at which the run started: a call at
    /// `call_ms` happened at `wall_origin_ms + call_ms`.
    pub wall_origin_ms: i64,
    /// Clock drift a member may have, parts per million (its wall clock,
    /// which decides expiries, runs this much fast or slow).
    pub drift_ppm_max: i64,
}

/// What a passing check went through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V2Summary {
    pub events: usize,
    pub expiries: usize,
    pub acknowledged_writes: usize,
    pub refused_writes: usize,
    /// Writes of unknown outcome found in the log.
    pub unknown_writes_applied: usize,
    pub gets_checked: usize,
    pub waits_checked: usize,
}

impl fmt::Display for V2Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events ({} expiries), {} writes acknowledged, {} refused, {} of unknown outcome applied, {} gets, {} waits",
            self.events,
            self.expiries,
            self.acknowledged_writes,
            self.refused_writes,
            self.unknown_writes_applied,
            self.gets_checked,
            self.waits_checked
        )
    }
}

/// Failures reported per check, at most (the first ones explain the rest).
const FAILURES_PER_CHECK_MAX: usize = 5;

/// Failure messages, bounded per check.
#[derive(Debug, Default)]
struct Failures {
    messages: Vec<String>,
    current: usize,
}

impl Failures {
    /// Starts the next check.
    fn next_check(&mut self) {
        self.current = 0;
    }

    fn push(&mut self, message: String) {
        self.current += 1;
        if self.current <= FAILURES_PER_CHECK_MAX {
            self.messages.push(message);
        } else if self.current == FAILURES_PER_CHECK_MAX + 1 {
            self.messages.push("... (more of the same left out)".into());
        }
    }
}

/// Checks a run; `Err` holds every failure found, each explained.
pub fn check(run: &V2Run) -> Result<V2Summary, Vec<String>> {
    let mut failures = Failures::default();
    let mut summary = V2Summary::default();
    let Some(reference) = replay::agreed_log(&run.logs, &mut failures) else {
        return Err(failures.messages);
    };
    summary.events = reference.len();
    if reference.len() >= HISTORY_CAPACITY {
        failures.push(format!(
            "the log has {} events: more than the history keeps ({HISTORY_CAPACITY}), so it cannot be read whole; the workload's budget must keep runs shorter",
            reference.len()
        ));
        return Err(failures.messages);
    }
    failures.next_check();
    let placed = replay::replay(run, reference, &mut failures, &mut summary);
    failures.next_check();
    realtime::check_order(run, &placed, &mut failures);
    failures.next_check();
    realtime::check_expiries_not_early(run, reference, &placed, &mut failures);
    failures.next_check();
    waits::check_waits(run, reference, &mut failures, &mut summary);
    if failures.messages.is_empty() {
        Ok(summary)
    } else {
        Err(failures.messages)
    }
}

/// The write a request makes, if it is one.
pub fn write_of(request: &V2Request) -> Option<&V2Write> {
    match request {
        V2Request::Write(write) => Some(write),
        _ => None,
    }
}

/// The value a write stores, which the workload makes unique per write.
pub fn written_value(write: &V2Write) -> Option<&str> {
    match write {
        V2Write::Set {
            value, dir: false, ..
        }
        | V2Write::Create {
            value, dir: false, ..
        }
        | V2Write::Update { value, .. }
        | V2Write::CompareAndSwap { value, .. } => Some(value),
        _ => None,
    }
}

/// The value an event stored (the events of value-storing writes).
fn stored_value(event: &V2Event) -> Option<&str> {
    match event.action {
        V2Action::Set | V2Action::Create | V2Action::Update | V2Action::CompareAndSwap => {
            event.node.value.as_deref()
        }
        _ => None,
    }
}

/// Two events are the same event: everything but `etcd_index`, which is
/// the index of the store that answered, not of the event.
pub fn same_event(a: &V2Event, b: &V2Event) -> bool {
    a.action == b.action && a.node == b.node && a.prev_node == b.prev_node && a.refresh == b.refresh
}

/// The index an event took.
fn index_of(event: &V2Event) -> u64 {
    event.node.modified_index
}

/// `set /keys/k1 = "c1.4" (index 12, created 9, expires at 1000123) prev (...)`.
pub fn show_event(event: &V2Event) -> String {
    let mut text = format!("{} {}", event.action.as_str(), show_node(&event.node));
    if let Some(prev) = &event.prev_node {
        let _ = write!(text, ", prev {}", show_node(prev));
    }
    if event.refresh {
        text.push_str(" (refresh)");
    }
    text
}

pub fn show_node(node: &V2Node) -> String {
    let mut text = node.key.clone();
    if node.dir {
        text.push('/');
    }
    if let Some(value) = &node.value {
        let _ = write!(text, " = {value:?}");
    }
    let _ = write!(
        text,
        " (index {}, created {}",
        node.modified_index, node.created_index
    );
    if let Some(at) = node.expiration_ms {
        let _ = write!(text, ", expires at {at}");
    }
    text.push(')');
    if let Some(children) = &node.nodes {
        let shown: Vec<String> = children.iter().map(show_node).collect();
        let _ = write!(text, " [{}]", shown.join(", "));
    }
    text
}

fn show_write(write: &V2Write) -> String {
    let ttl = |at: &Option<i64>| at.map(|at| format!(" expire_ms={at}")).unwrap_or_default();
    match write {
        V2Write::Set {
            path,
            dir,
            value,
            expire_ms,
            refresh,
        } => format!(
            "set {path}{} = {value:?}{}{}",
            if *dir { "/" } else { "" },
            ttl(expire_ms),
            if *refresh { " refresh" } else { "" }
        ),
        V2Write::Create {
            path,
            dir,
            value,
            unique,
            expire_ms,
        } => format!(
            "{} {path}{} = {value:?}{}",
            if *unique { "create-in-order" } else { "create" },
            if *dir { "/" } else { "" },
            ttl(expire_ms)
        ),
        V2Write::Update {
            path,
            value,
            expire_ms,
            ..
        } => format!("update {path} = {value:?}{}", ttl(expire_ms)),
        V2Write::CompareAndSwap {
            path,
            prev_value,
            prev_index,
            value,
            expire_ms,
            ..
        } => format!(
            "cas {path} if value={prev_value:?} index={prev_index} then = {value:?}{}",
            ttl(expire_ms)
        ),
        V2Write::Delete {
            path,
            dir,
            recursive,
        } => format!(
            "delete {path}{}{}",
            if *dir { " dir" } else { "" },
            if *recursive { " recursive" } else { "" }
        ),
        V2Write::CompareAndDelete {
            path,
            prev_value,
            prev_index,
        } => format!("cad {path} if value={prev_value:?} index={prev_index}"),
        V2Write::Expire { now_ms } => format!("expire at {now_ms}"),
        V2Write::Auth(auth) => format!("auth {auth:?}"),
    }
}

fn show_request(request: &V2Request) -> String {
    match request {
        V2Request::Write(write) => show_write(write),
        V2Request::Get {
            path,
            recursive,
            quorum,
            ..
        } => format!(
            "{} get {path}{}",
            if *quorum { "quorum" } else { "local" },
            if *recursive { " recursive" } else { "" }
        ),
        V2Request::Watch {
            path,
            recursive,
            since,
            timeout_ms,
        } => format!(
            "wait {path}{} since {since} (timeout {timeout_ms}ms)",
            if *recursive { " recursive" } else { "" }
        ),
        V2Request::Stats => "stats".into(),
        V2Request::AuthGet => "auth get".into(),
    }
}

fn show_answer(answer: &V2Answer) -> String {
    let what = match &answer.result {
        V2Result::Event(event) => show_event(event),
        V2Result::Waiting { since } => format!("nothing yet, ask again from {since}"),
        V2Result::Stats { index, .. } => format!("stats at {index}"),
        V2Result::Auth(_) | V2Result::AuthState(_) => "auth".into(),
    };
    format!("{what} [store index {}]", answer.store_index)
}

fn show_error(error: &V2Error) -> String {
    format!(
        "error {} {} ({}) [index {}]",
        error.code,
        error.message(),
        error.cause,
        error.index
    )
}

/// `op 4294967301 (client 1, via m2, [1200ms, 1250ms]): cas ... -> ...`.
impl fmt::Display for V2Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} (client {}", self.id, self.client)?;
        if let Some(member) = self.member {
            write!(f, ", via m{member}")?;
        }
        match self.return_ms {
            Some(return_ms) => write!(f, ", [{}ms, {return_ms}ms]", self.call_ms)?,
            None => write!(f, ", [{}ms, ?)", self.call_ms)?,
        }
        write!(f, "): {} -> ", show_request(&self.request))?;
        match &self.outcome {
            V2Outcome::Answered(answer) => write!(f, "{}", show_answer(answer)),
            V2Outcome::Refused(error) => write!(f, "{}", show_error(error)),
            V2Outcome::NotProposed(why) => write!(f, "not proposed: {why}"),
            V2Outcome::Unknown => write!(f, "?"),
        }
    }
}

impl V2Run {
    /// The text written next to a failing seed's history: every operation
    /// in call order, then the first member's log.
    pub fn to_text(&self) -> String {
        let mut text = String::from("# cairn v2 history\n");
        let mut ops: Vec<&V2Op> = self.ops.iter().collect();
        ops.sort_by_key(|op| (op.call_ms, op.id));
        for op in ops {
            let _ = writeln!(text, "{op}");
        }
        for log in &self.logs {
            let _ = writeln!(
                text,
                "# m{}: {} events, store index {}",
                log.member,
                log.events.len(),
                log.index
            );
        }
        if let Some(log) = self.logs.first() {
            let _ = writeln!(text, "# the log of m{}", log.member);
            for event in &log.events {
                let _ = writeln!(text, "{:>5} {}", index_of(event), show_event(event));
            }
        }
        text
    }
}
