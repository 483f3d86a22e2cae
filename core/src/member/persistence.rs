//! Persistence: Raft's writes become WAL batches (group commit), messages
//! that promise something about this member's disk wait until it is
//! durable, and the member's snapshot files and WAL segments are tracked
//! for retention.
//!
//! ```text
//!  Ready.write ──▶ batch ──flush──▶ WriteWal{token} ──completed(token)──▶ Raft persisted
//!  Ready.messages (after: write) ──▶ held ─────────────────────────────▶ released, sent
//! ```
//!
//! Invariants: at most one WAL write is in flight; WAL writes complete in
//! the order they were handed out; a held message is released only once
//! the write it names is durable.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::action::{Action, WalOp};
use super::wal_batch::WalBatch;
use crate::raft::{HardState, Message, SnapshotMeta, Write, WriteId};
use crate::snapshot::{self, RetentionPolicy, SnapshotImage};
use crate::time::Instant;
use crate::wal::{NewSegment, WalWriter};

/// Why a snapshot file is being written.
#[derive(Clone, Debug)]
pub(super) enum SnapshotWrite {
    /// The member's own periodic snapshot, at this point of the log.
    Own(SnapshotMeta),
    /// A snapshot received from the leader, already loaded.
    Received,
}

/// The WAL write in flight.
#[derive(Debug)]
struct InFlight {
    token: u64,
    /// The Raft write it completes, if any.
    write: Option<WriteId>,
    /// Files to delete once it is durable.
    after: Option<Action>,
    since: Instant,
}

/// What a completed WAL write releases.
#[derive(Debug)]
pub(super) struct Completed {
    /// The Raft write now durable.
    pub write: Option<WriteId>,
    /// Messages that waited for it.
    pub released: Vec<Message>,
    /// A deletion of obsolete files, now safe.
    pub after: Option<Action>,
}

/// What a defragment keeps: the newest snapshot and the WAL after it.
pub const DEFRAG_RETENTION: RetentionPolicy = RetentionPolicy {
    max_snapshots: 1,
    max_wals: 1,
};

/// The member's disk, as the member sees it.
#[derive(Debug)]
pub(super) struct Persistence {
    pub wal: WalWriter,
    pub wal_segments: Vec<String>,
    pub snapshot_files: Vec<String>,
    batch: WalBatch,
    in_flight: Option<InFlight>,
    /// The newest hard state handed to the WAL.
    last_hard_state: Option<HardState>,
    next_token: u64,
    /// Messages waiting for a Raft write to become durable.
    held: Vec<(WriteId, Message)>,
    pub snapshot_write: Option<SnapshotWrite>,
    /// Defragment requests waiting for a fresh snapshot and the release of
    /// everything older.
    pub defrag_waiters: Vec<super::client::ClientToken>,
    /// The snapshot being written was asked for by a defragment.
    pub defrag_snapshot: bool,
    /// Snapshots that arrived with a leader's snapshot message, by index,
    /// with their bytes and their decoded image.
    pub received_snapshots: BTreeMap<u64, (Bytes, SnapshotImage)>,
    pub last_snapshot_index: u64,
}

impl Persistence {
    pub fn new(wal: WalWriter) -> Persistence {
        Persistence {
            wal,
            wal_segments: Vec::new(),
            snapshot_files: Vec::new(),
            batch: WalBatch::default(),
            in_flight: None,
            last_hard_state: None,
            next_token: 1,
            held: Vec::new(),
            snapshot_write: None,
            defrag_waiters: Vec::new(),
            defrag_snapshot: false,
            received_snapshots: BTreeMap::new(),
            last_snapshot_index: 0,
        }
    }

    /// A new segment, created by the next WAL write.
    pub fn create_segment(&mut self, segment: NewSegment) {
        self.wal_segments.push(segment.name.clone());
        self.batch.push_op(WalOp::Create(segment));
    }

    /// Raft's write joins the next batch. Returns the write's id if it is
    /// durable at once: a write that only moves the commit index needs no
    /// fsync (etcd's MustSync) when nothing before it is still on its way to
    /// disk; its record goes without an fdatasync (or with the next write
    /// that has one). Losing it in a power loss only loses a commit index
    /// the leader tells again.
    #[must_use]
    pub fn push_write(&mut self, write: &Write) -> Option<WriteId> {
        self.batch.push_entries(&mut self.wal, &write.entries);
        let commit_only = write.entries.is_empty()
            && write.snapshot.is_none()
            && write.hard_state.is_some_and(|h| {
                self.last_hard_state
                    .is_some_and(|last| last.term == h.term && last.vote == h.vote)
            });
        let earlier_pending = self.batch.completes_write().is_some()
            || self.in_flight.as_ref().is_some_and(|f| f.write.is_some());
        if let Some(hard_state) = write.hard_state {
            self.batch
                .push_hard_state(&mut self.wal, hard_state, !commit_only);
            self.last_hard_state = Some(hard_state);
        }
        let durable_now = commit_only && !earlier_pending;
        if !durable_now {
            self.batch.completes(write.id);
        }
        self.cut_segment_if_full();
        durable_now.then_some(write.id)
    }

    /// A received snapshot's marker: recovery may start from it once the
    /// file (saved before, disk actions run in order) and this are durable.
    pub fn push_snapshot_marker(&mut self, index: u64, term: u64) {
        self.batch.push_snapshot_marker(&mut self.wal, index, term);
    }

    /// `message` goes out now, or waits for `after` to be durable.
    #[must_use]
    pub fn route(&mut self, after: Option<WriteId>, message: Message) -> Option<Message> {
        match after {
            Some(write) if !self.is_durable(write) => {
                self.held.push((write, message));
                None
            }
            _ => Some(message),
        }
    }

    fn is_durable(&self, write: WriteId) -> bool {
        // Durable unless it is in the batch being collected or in flight.
        let in_flight = self.in_flight.as_ref().and_then(|f| f.write);
        let pending = [self.batch.completes_write(), in_flight];
        !pending.iter().flatten().any(|&w| w >= write)
    }

    /// Whether the WAL write in flight has taken longer than `timeout_ms`.
    pub fn stuck(&self, now: Instant, timeout_ms: u64) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|f| now.as_millis().saturating_sub(f.since.as_millis()) > timeout_ms)
    }

    /// WAL write `token` is durable.
    pub fn completed(&mut self, token: u64) -> Completed {
        let Some(in_flight) = self.in_flight.take() else {
            panic!("WAL write {token} reported durable but none is in flight");
        };
        assert_eq!(in_flight.token, token, "WAL writes complete in order");
        let mut released = Vec::new();
        if let Some(write) = in_flight.write {
            let (release, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
                .into_iter()
                .partition(|(w, _)| *w <= write);
            self.held = keep;
            released = release.into_iter().map(|(_, message)| message).collect();
        }
        Completed {
            write: in_flight.write,
            released,
            after: in_flight.after,
        }
    }

    /// Hands the collected batch to the runtime if no write is in flight
    /// (group commit: whatever arrives meanwhile shares the next write).
    #[must_use]
    pub fn flush(&mut self, now: Instant) -> Option<Action> {
        if self.in_flight.is_some() || self.batch.is_empty() {
            return None;
        }
        let token = self.next_token;
        self.next_token += 1;
        let sync = self.batch.must_sync();
        let (ops, write, after) = self.batch.take();
        self.in_flight = Some(InFlight {
            token,
            write,
            after,
            since: now,
        });
        Some(Action::WriteWal { token, ops, sync })
    }

    /// The member's own snapshot at `meta` is saved: the WAL records that
    /// recovery may start from it, and only once that is durable may the
    /// files it makes obsolete go.
    pub fn own_snapshot_saved(&mut self, meta: &SnapshotMeta, retention: RetentionPolicy) {
        self.batch
            .push_snapshot_marker(&mut self.wal, meta.index, meta.term);
        self.release(meta.index, retention);
    }

    /// Defragment with a current snapshot at `index`: releases every older
    /// snapshot and every WAL segment it makes unnecessary.
    pub fn release_for_defrag(&mut self, index: u64) {
        self.release(index, DEFRAG_RETENTION);
    }

    /// Deletes (after the batch's write) the files that the snapshot at
    /// `index` makes unnecessary under `retention`.
    fn release(&mut self, index: u64, retention: RetentionPolicy) {
        let snapshots: Vec<&str> = self.snapshot_files.iter().map(String::as_str).collect();
        let wal: Vec<&str> = self.wal_segments.iter().map(String::as_str).collect();
        let doomed = snapshot::files_to_delete(&snapshots, &wal, index, retention);
        let (wal_doomed, snap_doomed): (Vec<String>, Vec<String>) =
            doomed.into_iter().partition(|name| name.ends_with(".wal"));
        self.wal_segments.retain(|s| !wal_doomed.contains(s));
        self.snapshot_files.retain(|s| !snap_doomed.contains(s));
        if !wal_doomed.is_empty() || !snap_doomed.is_empty() {
            self.batch.delete_after(Action::DeleteFiles {
                wal: wal_doomed,
                snapshots: snap_doomed,
            });
        }
    }

    fn cut_segment_if_full(&mut self) {
        if self.wal.should_cut() {
            let segment = self.wal.cut();
            self.create_segment(segment);
        }
    }

    /// A held message waits for a write that is in flight or collected;
    /// nothing is collected without being flushed while no write is in
    /// flight (the member flushes after every input).
    pub fn check_invariants(&self) {
        assert!(
            !self.defrag_snapshot || self.snapshot_write.is_some(),
            "a defragment snapshot flag without a snapshot being written"
        );
        let newest_pending = [
            self.batch.completes_write(),
            self.in_flight.as_ref().and_then(|f| f.write),
        ]
        .into_iter()
        .flatten()
        .max();
        for (write, _) in &self.held {
            assert!(
                newest_pending.is_some_and(|newest| newest >= *write),
                "a message held for write {write:?}, which is neither collected nor in flight"
            );
        }
        assert!(
            self.in_flight.is_some() || self.batch.is_empty(),
            "a WAL batch collected while no write is in flight"
        );
    }
}
