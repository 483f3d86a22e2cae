//! The WAL batch being collected while the previous write is in flight (group
//! commit): records framed straight into one buffer per segment.

use super::action::{Action, WalOp};
use crate::raft::{Entry, HardState, WriteId};
use crate::wal::{SnapshotMarker, WalWriter};

#[derive(Debug, Default)]
pub(crate) struct WalBatch {
    /// Closed steps (segment creations and appends to earlier segments).
    ops: Vec<WalOp>,
    /// The append being built: segment, offset it starts at, bytes.
    open: Option<(String, u64, Vec<u8>)>,
    /// The newest Raft write this batch makes durable.
    completes: Option<WriteId>,
    /// Deletions allowed once this batch is durable.
    after: Option<Action>,
    /// Whether anything in the batch must be made durable. A hard state
    /// that only moves the commit index need not be (etcd's `MustSync`): it
    /// rides along with the next write that must.
    must_sync: bool,
}

impl WalBatch {
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
            && self.open.is_none()
            && self.completes.is_none()
            && self.after.is_none()
    }

    /// Whether the batch holds something that must be made durable.
    pub(crate) fn must_sync(&self) -> bool {
        self.must_sync || self.completes.is_some() || self.after.is_some()
    }

    /// The newest Raft write in the batch, if any.
    pub(crate) fn completes_write(&self) -> Option<WriteId> {
        self.completes
    }

    pub(crate) fn completes(&mut self, write: WriteId) {
        self.completes = Some(self.completes.map_or(write, |w| w.max(write)));
    }

    pub(crate) fn delete_after(&mut self, action: Action) {
        self.must_sync = true;
        // Deletions only ever follow the newest snapshot: a later list
        // supersedes an earlier one that has not been issued yet.
        if let (
            Some(Action::DeleteFiles { wal, snapshots }),
            Action::DeleteFiles {
                wal: more_wal,
                snapshots: more,
            },
        ) = (&mut self.after, &action)
        {
            wal.extend(more_wal.iter().cloned());
            snapshots.extend(more.iter().cloned());
            return;
        }
        self.after = Some(action);
    }

    /// Closes the open append and adds `op`.
    pub(crate) fn push_op(&mut self, op: WalOp) {
        self.must_sync = true;
        self.close();
        self.ops.push(op);
    }

    fn close(&mut self) {
        if let Some((segment, offset, bytes)) = self.open.take() {
            if !bytes.is_empty() {
                self.ops.push(WalOp::Append {
                    segment,
                    offset,
                    bytes,
                });
            }
        }
    }

    /// The buffer for the writer's current segment and position.
    fn buffer(&mut self, wal: &WalWriter) -> &mut Vec<u8> {
        let segment = wal.segment_name();
        let reopen = match &self.open {
            Some((open_segment, offset, bytes)) => {
                open_segment != segment || offset + bytes.len() as u64 != wal.offset_bytes()
            }
            None => true,
        };
        if reopen {
            self.close();
            self.open = Some((segment.to_string(), wal.offset_bytes(), Vec::new()));
        }
        &mut self.open.as_mut().expect("just opened").2
    }

    pub(crate) fn push_entries(&mut self, wal: &mut WalWriter, entries: &[Entry]) {
        if entries.is_empty() {
            return;
        }
        self.must_sync = true;
        let mut buffer = std::mem::take(self.buffer(wal));
        wal.append_entries(&mut buffer, entries);
        self.open.as_mut().expect("open").2 = buffer;
    }

    /// Adds a hard state record; `must_sync` is false when only its commit
    /// index changed.
    pub(crate) fn push_hard_state(
        &mut self,
        wal: &mut WalWriter,
        hard_state: HardState,
        must_sync: bool,
    ) {
        self.must_sync |= must_sync;
        let mut buffer = std::mem::take(self.buffer(wal));
        wal.append_hard_state(&mut buffer, hard_state);
        self.open.as_mut().expect("open").2 = buffer;
    }

    pub(crate) fn push_snapshot_marker(&mut self, wal: &mut WalWriter, index: u64, term: u64) {
        self.must_sync = true;
        let mut buffer = std::mem::take(self.buffer(wal));
        wal.append_snapshot_marker(&mut buffer, SnapshotMarker { index, term });
        self.open.as_mut().expect("open").2 = buffer;
    }

    /// Takes the batch: its steps, the Raft write it completes, and what may
    /// happen once it is durable.
    pub(crate) fn take(&mut self) -> (Vec<WalOp>, Option<WriteId>, Option<Action>) {
        self.close();
        self.must_sync = false;
        let ops = std::mem::take(&mut self.ops);
        (ops, self.completes.take(), self.after.take())
    }
}
