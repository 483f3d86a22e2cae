//! The trace of a simulated run: what each member did (role changes,
//! restarts, refusals) and every fault injected, in time order. Its hash,
//! together with the history's, is the run's fingerprint: the same seed must
//! give the same hash, bit for bit.

use std::collections::BTreeMap;
use std::fmt;

/// One thing that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    pub at_ms: u64,
    /// The member (1-based id), if the event concerns one.
    pub node: Option<u64>,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The member's Raft role changed.
    Role {
        role: String,
        term: u64,
        leader: u64,
    },
    /// A fault began; `until_ms` is when it is undone (if it is).
    Fault {
        kind: &'static str,
        description: String,
        until_ms: Option<u64>,
    },
    /// The member was killed.
    Down,
    /// The member was started again.
    Up,
    /// The member refused to start from its storage.
    Refused(String),
    /// The member stopped on a fatal error.
    Stopped(String),
    Note(String),
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>8}ms ", self.at_ms)?;
        match self.node {
            Some(node) => write!(f, "m{node} ")?,
            None => write!(f, "-- ")?,
        }
        match &self.kind {
            EventKind::Role { role, term, leader } => {
                write!(f, "role {role} term {term} leader {leader}")
            }
            EventKind::Fault {
                kind,
                description,
                until_ms,
            } => {
                write!(f, "fault {kind}: {description}")?;
                match until_ms {
                    Some(until) => write!(f, " until {until}ms"),
                    None => Ok(()),
                }
            }
            EventKind::Down => write!(f, "down"),
            EventKind::Up => write!(f, "up"),
            EventKind::Refused(why) => write!(f, "refused to start: {why}"),
            EventKind::Stopped(why) => write!(f, "stopped: {why}"),
            EventKind::Note(note) => write!(f, "{note}"),
        }
    }
}

/// A run's events.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub events: Vec<TraceEvent>,
}

/// FNV-1a, 64 bits: a stable hash (std's hashers are not stable across
/// releases).
pub fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

impl Trace {
    pub fn push(&mut self, at_ms: u64, node: Option<u64>, kind: EventKind) {
        self.events.push(TraceEvent { at_ms, node, kind });
    }

    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for event in &self.events {
            text.push_str(&event.to_string());
            text.push('\n');
        }
        text
    }

    pub fn hash(&self) -> u64 {
        fnv1a(FNV_OFFSET, self.to_text().as_bytes())
    }

    /// Election safety as the members reported it: at most one leader per
    /// term.
    pub fn check_one_leader_per_term(&self) -> Result<(), String> {
        let mut leaders: BTreeMap<u64, u64> = BTreeMap::new();
        for event in &self.events {
            if let (Some(node), EventKind::Role { role, term, .. }) = (event.node, &event.kind) {
                if role != "Leader" {
                    continue;
                }
                if let Some(other) = leaders.insert(*term, node) {
                    if other != node {
                        return Err(format!(
                            "two leaders in term {term}: m{other} and m{node} (at {}ms)",
                            event.at_ms
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A serializable read: answered from one member's local state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalRead {
    pub node: u64,
    /// Counts the member's restarts: a restarted member may replay from an
    /// older point, which etcd allows.
    pub incarnation: u64,
    pub call_ms: u64,
    pub return_ms: u64,
    pub revision: i64,
}

/// Serializable reads never go backwards on one member (within one
/// incarnation): a read that starts after another finished sees at least its
/// revision.
pub fn check_local_reads_monotonic(reads: &[LocalRead]) -> Result<(), String> {
    let mut by_member: BTreeMap<(u64, u64), Vec<&LocalRead>> = BTreeMap::new();
    for read in reads {
        by_member
            .entry((read.node, read.incarnation))
            .or_default()
            .push(read);
    }
    for reads in by_member.values_mut() {
        reads.sort_by_key(|r| r.call_ms);
        // The highest revision among reads finished before each call.
        let mut finished: Vec<&LocalRead> = reads.clone();
        finished.sort_by_key(|r| r.return_ms);
        let mut best: Option<&LocalRead> = None;
        let mut next = 0;
        for read in reads.iter() {
            while next < finished.len() && finished[next].return_ms < read.call_ms {
                if best.is_none_or(|b| finished[next].revision > b.revision) {
                    best = Some(finished[next]);
                }
                next += 1;
            }
            if let Some(before) = best {
                if read.revision < before.revision {
                    return Err(format!(
                        "serializable read on m{} went back from revision {} (returned {}ms) to {} (called {}ms)",
                        read.node, before.revision, before.return_ms, read.revision, read.call_ms
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(trace: &mut Trace, at: u64, node: u64, role: &str, term: u64) {
        trace.push(
            at,
            Some(node),
            EventKind::Role {
                role: role.to_string(),
                term,
                leader: node,
            },
        );
    }

    #[test]
    fn two_leaders_in_one_term_are_caught() {
        let mut trace = Trace::default();
        role(&mut trace, 10, 1, "Leader", 2);
        role(&mut trace, 20, 2, "Leader", 3);
        role(&mut trace, 30, 1, "Leader", 2);
        assert!(trace.check_one_leader_per_term().is_ok());
        role(&mut trace, 40, 3, "Leader", 3);
        assert!(trace.check_one_leader_per_term().is_err());
    }

    #[test]
    fn the_hash_is_stable_and_sensitive() {
        let mut a = Trace::default();
        role(&mut a, 10, 1, "Leader", 2);
        let mut b = a.clone();
        assert_eq!(a.hash(), b.hash());
        b.push(11, None, EventKind::Note("x".to_string()));
        assert_ne!(a.hash(), b.hash());
    }

    fn read(node: u64, incarnation: u64, call: u64, ret: u64, revision: i64) -> LocalRead {
        LocalRead {
            node,
            incarnation,
            call_ms: call,
            return_ms: ret,
            revision,
        }
    }

    #[test]
    fn local_reads_going_back_are_caught_but_concurrent_ones_are_not() {
        let ok = [
            read(1, 0, 0, 10, 5),
            read(1, 0, 5, 20, 4),
            read(1, 0, 11, 30, 5),
        ];
        assert!(check_local_reads_monotonic(&ok).is_ok());
        let restarted = [read(1, 0, 0, 10, 5), read(1, 1, 11, 30, 2)];
        assert!(check_local_reads_monotonic(&restarted).is_ok());
        let other_node = [read(1, 0, 0, 10, 5), read(2, 0, 11, 30, 2)];
        assert!(check_local_reads_monotonic(&other_node).is_ok());
        let back = [read(1, 0, 0, 10, 5), read(1, 0, 11, 30, 4)];
        assert!(check_local_reads_monotonic(&back).is_err());
    }
}
