//! Snapshots of the member's own state (every `--snapshot-count` entries,
//! and for `Defragment`), and snapshots received from the leader.

use bytes::Bytes;

use super::action::{Action, MemberEvent};
use super::client::ClientResponse;
use super::node::Member;
use super::persistence::SnapshotWrite;
use crate::raft::SnapshotMeta;
use crate::snapshot;

impl Member {
    /// This member's own snapshot `meta` is durable: Raft's log is
    /// compacted behind it, older files released, and a defragment that
    /// waited for it answered.
    pub(super) fn own_snapshot_saved(&mut self, meta: SnapshotMeta) {
        self.raft.handle_snapshot_saved(meta.clone());
        let keep = self.config.snapshot_catchup_entries;
        let compact_to = meta.index.saturating_sub(keep);
        if compact_to >= self.raft.first_index() {
            self.raft.compact_log(compact_to);
        }
        let defrag = std::mem::take(&mut self.disk.defrag_snapshot);
        let retention = if defrag {
            super::persistence::DEFRAG_RETENTION
        } else {
            self.config.retention
        };
        self.disk.own_snapshot_saved(&meta, retention);
        self.actions
            .push_back(Action::Event(MemberEvent::SnapshotSaved {
                index: meta.index,
                term: meta.term,
            }));
        self.drive();
        if defrag {
            self.answer_defrag();
        }
    }

    /// Answers every defragment request waiting.
    pub(super) fn answer_defrag(&mut self) {
        for token in std::mem::take(&mut self.disk.defrag_waiters) {
            self.respond(token, Ok(ClientResponse::Defragmented));
        }
    }

    pub(super) fn install_snapshot(&mut self, meta: &SnapshotMeta) {
        // handle_message only lets Raft see snapshots whose bytes decoded.
        let (bytes, image) = self
            .disk
            .received_snapshots
            .remove(&meta.index)
            .expect("a snapshot Raft installs arrived with its bytes");
        self.state.restore(image, self.config.auth_token_ttl_ms);
        self.watch.on_restored();
        self.v2_restored();
        self.disk.last_snapshot_index = meta.index;
        let name = snapshot::snapshot_name(meta.term, meta.index);
        // The file must be durable before the WAL record naming it: disk
        // actions run in order.
        self.disk.snapshot_write = Some(SnapshotWrite::Received);
        self.actions.push_back(Action::SaveSnapshot {
            name,
            bytes,
            background: false,
        });
        self.disk.push_snapshot_marker(meta.index, meta.term);
        self.actions
            .push_back(Action::Event(MemberEvent::SnapshotInstalled {
                index: meta.index,
                term: meta.term,
            }));
    }

    pub(super) fn maybe_snapshot(&mut self) {
        let applied = self.raft.applied();
        if self.disk.snapshot_write.is_some() {
            return;
        }
        let defrag = !self.disk.defrag_waiters.is_empty();
        if defrag && applied == self.disk.last_snapshot_index {
            // The newest snapshot is current: release what it makes
            // unnecessary and answer.
            self.disk.release_for_defrag(applied);
            self.answer_defrag();
            return;
        }
        if !defrag && applied < self.disk.last_snapshot_index + self.config.snapshot_count {
            return;
        }
        self.disk.defrag_snapshot = defrag;
        let meta = self.raft.snapshot_meta();
        let bytes = self.state.image(&meta, self.raft.conf_state());
        self.disk.last_snapshot_index = meta.index;
        let name = snapshot::snapshot_name(meta.term, meta.index);
        self.disk.snapshot_write = Some(SnapshotWrite::Own(meta));
        self.actions.push_back(Action::SaveSnapshot {
            name,
            bytes: Bytes::from(bytes),
            background: true,
        });
    }
}
