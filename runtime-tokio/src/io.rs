//! What the driver exchanges with its disk and its network, whichever they
//! are: the real ones of this crate or the simulated ones of
//! cairn-runtime-sim.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use cairn_core::raft::{Message, NodeId};

/// A message from a peer, with the snapshot bytes that follow a snapshot
/// message.
#[derive(Debug)]
pub struct Inbound {
    pub message: Message,
    pub snapshot: Option<Bytes>,
}

/// What the transport tells the driver.
#[derive(Debug)]
pub enum TransportReport {
    Unreachable(NodeId),
    SnapshotSent {
        to: NodeId,
        ok: bool,
    },
    /// A connection was refused (wrong cluster, wrong member, bad frame).
    Refused(String),
    /// A peer said this member was removed from the cluster.
    RemovedFromCluster,
}

/// Where a snapshot to send lives: a file is streamed to the peer in pieces,
/// never read whole into memory.
#[derive(Clone, Debug)]
pub enum SnapshotSource {
    File(std::path::PathBuf),
    Bytes(Bytes),
}

/// A completed disk action, reported back to the driver.
#[derive(Debug)]
pub enum DiskDone {
    WalWritten {
        token: u64,
        took: Duration,
    },
    SnapshotSaved {
        name: String,
    },
    /// Any failure is fatal to the member: durability can no longer be
    /// promised (etcd stops too).
    Failed {
        action: &'static str,
        error: io::Error,
    },
}
