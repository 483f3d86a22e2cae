//! What a leader knows about each follower's log, and the flow control that
//! bounds what it sends (etcd's probe / replicate / snapshot states).
//!
//! ```text
//!            append accepted                 snapshot applied or failed
//!   Probe ─────────────────────▶ Replicate      Snapshot ────────▶ Probe
//!     ▲                              │              ▲
//!     └──── rejection, unreachable ──┘              │
//!   Probe/Replicate ── entries needed are compacted ┘
//! ```
//! * Probe: one append at a time until the follower's match index is found.
//! * Replicate: appends stream optimistically, at most `max_inflight_messages`
//!   unacknowledged.
//! * Snapshot: nothing more is sent until the snapshot is reported applied or
//!   failed.

use std::collections::VecDeque;

/// The replication state of one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    Probe,
    Replicate,
    /// A snapshot at `pending_index` is on its way.
    Snapshot {
        pending_index: u64,
    },
}

/// Unacknowledged append messages to one follower, oldest first, by the last
/// index each carried.
#[derive(Clone, Debug)]
pub(crate) struct Inflights {
    last_indexes: VecDeque<u64>,
    capacity: usize,
}

impl Inflights {
    pub(crate) fn new(capacity: usize) -> Inflights {
        Inflights {
            last_indexes: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.last_indexes.len() >= self.capacity
    }

    /// Records an append whose last entry is `last_index`.
    pub(crate) fn add(&mut self, last_index: u64) {
        assert!(!self.is_full(), "inflight window overflow");
        debug_assert!(self.last_indexes.back().is_none_or(|&b| b <= last_index));
        self.last_indexes.push_back(last_index);
    }

    /// Forgets every append acknowledged by a match at `index`.
    pub(crate) fn free_to(&mut self, index: u64) {
        while self
            .last_indexes
            .front()
            .is_some_and(|&first| first <= index)
        {
            self.last_indexes.pop_front();
        }
    }

    /// Forgets the oldest append, to let one more through.
    pub(crate) fn free_first(&mut self) {
        self.last_indexes.pop_front();
    }

    pub(crate) fn clear(&mut self) {
        self.last_indexes.clear();
    }
}

/// A leader's view of one member.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The highest index known to be replicated on the member.
    pub matched: u64,
    /// The next index to send.
    pub next: u64,
    pub state: ProgressState,
    /// In Probe: an append was sent and its answer is awaited.
    pub(crate) probe_sent: bool,
    pub(crate) inflights: Inflights,
    /// Heard from since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// Heard from in the round before that.
    pub(crate) active_last_round: bool,
    /// The newest read round this member has confirmed.
    pub(crate) read_round_acked: u64,
}

impl Progress {
    pub(crate) fn new(next: u64, max_inflight: usize) -> Progress {
        Progress {
            matched: 0,
            next,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights: Inflights::new(max_inflight),
            recent_active: false,
            // Until a first check-quorum round has passed (a new leader, a
            // new member), a member is taken to be as active as the leader
            // last saw it: etcd's reconfiguration checks look at its peer
            // connections, which outlive an election.
            active_last_round: true,
            read_round_acked: 0,
        }
    }

    /// Whether the leader heard from this member within the last election
    /// timeout or so (this check-quorum round or the one before).
    pub fn is_recently_active(&self) -> bool {
        self.recent_active || self.active_last_round
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.probe_sent = false;
        self.state = state;
        self.inflights.clear();
    }

    pub(crate) fn become_probe(&mut self) {
        // After a snapshot, resume right after it (if the member has it, its next
        // append response says so; if not, the probe backs off from there).
        let next = match self.state {
            ProgressState::Snapshot { pending_index } => (self.matched + 1).max(pending_index + 1),
            _ => self.matched + 1,
        };
        self.reset_state(ProgressState::Probe);
        self.next = next;
    }

    pub(crate) fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next = self.matched + 1;
    }

    pub(crate) fn become_snapshot(&mut self, pending_index: u64) {
        self.reset_state(ProgressState::Snapshot { pending_index });
    }

    /// Whether the leader must hold further appends to this member for now.
    pub(crate) fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.is_full(),
            ProgressState::Snapshot { .. } => true,
        }
    }

    /// Records an accepted append up to `index`; returns whether it told the
    /// leader anything new.
    pub(crate) fn maybe_update(&mut self, index: u64) -> bool {
        let updated = self.matched < index;
        if updated {
            self.matched = index;
            self.probe_sent = false;
        }
        self.next = self.next.max(index + 1);
        updated
    }

    /// Records that an append ending at `last_index` was sent.
    pub(crate) fn sent_entries(&mut self, last_index: u64, entry_count: usize) {
        match self.state {
            ProgressState::Replicate => {
                if entry_count > 0 {
                    self.next = last_index + 1;
                    self.inflights.add(last_index);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot { .. } => {
                unreachable!("appends are never sent during a snapshot")
            }
        }
    }

    /// Handles a rejection of the append whose previous index was `rejected`,
    /// with the follower's hint already translated into `probe_from` (the index
    /// where the logs may last agree). Returns false if the rejection is stale.
    pub(crate) fn maybe_decrease_to(&mut self, rejected: u64, probe_from: u64) -> bool {
        if self.state == ProgressState::Replicate {
            // Anything at or below the match index is a stale answer.
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched + 1;
            return true;
        }
        // In Probe, only the answer to the probe in flight counts.
        if self.next.saturating_sub(1) != rejected {
            return false;
        }
        self.next = rejected.min(probe_from + 1).max(self.matched + 1);
        self.probe_sent = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflights_pause_replication_when_full() {
        let mut progress = Progress::new(1, 2);
        progress.become_replicate();
        progress.sent_entries(3, 3);
        assert!(!progress.is_paused());
        progress.sent_entries(5, 2);
        assert!(
            progress.is_paused(),
            "two appends in flight fill a window of two"
        );
        progress.maybe_update(3);
        progress.inflights.free_to(3);
        assert!(!progress.is_paused());
        assert_eq!(progress.next, 6);
    }

    #[test]
    fn probe_sends_one_at_a_time() {
        let mut progress = Progress::new(10, 4);
        assert!(!progress.is_paused());
        progress.sent_entries(12, 3);
        assert!(progress.is_paused());
        assert_eq!(
            progress.next, 10,
            "probing does not advance next optimistically"
        );
    }

    #[test]
    fn stale_rejections_are_ignored() {
        let mut progress = Progress::new(10, 4);
        // Probing at prev index 9: a rejection for prev index 5 is stale.
        assert!(!progress.maybe_decrease_to(5, 0));
        assert!(progress.maybe_decrease_to(9, 4));
        assert_eq!(progress.next, 5);
        progress.matched = 7;
        progress.become_replicate();
        assert!(!progress.maybe_decrease_to(6, 0));
        assert!(progress.maybe_decrease_to(9, 0));
        assert_eq!(progress.next, 8);
    }

    #[test]
    fn leaving_snapshot_resumes_after_it() {
        let mut progress = Progress::new(3, 4);
        progress.become_snapshot(50);
        assert!(progress.is_paused());
        progress.become_probe();
        assert_eq!(progress.next, 51);
    }
}
