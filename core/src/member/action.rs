//! What a member asks its runtime to do.

use bytes::Bytes;

use super::client::{ClientError, ClientResponse, ClientToken, Header};
use crate::raft::{Message, NodeId, RoleState};
use crate::wal::NewSegment;

/// One step of a WAL write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalOp {
    /// Create and preallocate a segment whose first bytes are given.
    Create(NewSegment),
    /// Write `bytes` at `offset` of `segment`.
    Append {
        segment: String,
        offset: u64,
        bytes: Vec<u8>,
    },
}

/// An action for the runtime.
///
/// Disk actions (`TruncateWal`, `WriteWal`, `SaveSnapshot`, `DeleteFiles`) must
/// be carried out one after another in the order they are emitted: the member
/// relies on that order for durability (a snapshot file is durable before the
/// WAL record that names it; files are deleted only after what replaces them).
/// The one exception is a `SaveSnapshot` marked `background`, which may run
/// beside later disk actions: nothing refers to it until its completion is
/// reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Zero a torn tail at startup: from `offset` to the end of `segment`,
    /// then fsync, before any other write.
    TruncateWal { segment: String, offset: u64 },
    /// Carry out `ops` in order; if `sync`, fdatasync every file touched
    /// (a created segment is always made durable, directory included); then
    /// report [`super::Member::handle_wal_written`] with `token`. A write
    /// without `sync` holds only records that need not survive a power loss
    /// (a commit index), but should survive the process being killed.
    WriteWal {
        token: u64,
        ops: Vec<WalOp>,
        sync: bool,
    },
    /// Write a snapshot file durably (temp name, fsync, rename, fsync the
    /// directory), then report [`super::Member::handle_snapshot_saved`].
    /// `background`: the member's own periodic snapshot, which no WAL record
    /// names before it is reported saved, so WAL writes need not queue
    /// behind it (a large one takes seconds to write). A snapshot received
    /// from the leader is not background: the WAL record that follows names it.
    SaveSnapshot {
        name: String,
        bytes: Bytes,
        background: bool,
    },
    /// Delete these WAL segments and snapshot files (they are obsolete).
    DeleteFiles {
        wal: Vec<String>,
        snapshots: Vec<String>,
    },
    /// Send a message to a peer.
    Send(Message),
    /// Send a snapshot message to a peer with the bytes of snapshot file
    /// `snapshot`, then report [`super::Member::handle_snapshot_sent`].
    SendSnapshot { message: Message, snapshot: String },
    /// Watch responses to send, each on its stream.
    Watch {
        header: Header,
        responses: Vec<crate::watch::WatchResponse>,
    },
    /// Answer a client.
    Respond {
        token: ClientToken,
        header: Header,
        result: Result<ClientResponse, ClientError>,
    },
    /// Something worth a log line.
    Event(MemberEvent),
}

/// Events operators watch for; the runtime logs them in etcd's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    RoleChanged(RoleState),
    /// This member's attributes were applied: it is published to the cluster.
    Published {
        name: String,
        client_urls: Vec<String>,
        cluster_id: u64,
    },
    MemberAdded {
        id: NodeId,
        peer_urls: Vec<String>,
        learner: bool,
    },
    MemberRemoved {
        id: NodeId,
    },
    MemberPromoted {
        id: NodeId,
    },
    /// Another member's name and client URLs were applied (its
    /// announcement; this member's own is [`MemberEvent::Published`]).
    MemberAttributes {
        id: NodeId,
    },
    /// A member's peer URLs changed.
    MemberUpdated {
        id: NodeId,
        peer_urls: Vec<String>,
    },
    /// This member applied its own removal: it must stop.
    RemovedFromCluster,
    SnapshotSaved {
        index: u64,
        term: u64,
    },
    SnapshotInstalled {
        index: u64,
        term: u64,
    },
    /// A snapshot from the leader was refused (it does not decode, or does not
    /// match its message); the leader will try again.
    SnapshotRefused {
        index: u64,
        reason: String,
    },
    /// A committed entry could not be decoded; every member skips it alike.
    UndecodableEntry {
        index: u64,
        reason: String,
    },
}
