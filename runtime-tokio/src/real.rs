//! Starting a member on the real disk and network.

use std::path::PathBuf;
use std::sync::Arc;

use cairn_core::member::{Member, MemberConfig, MemberInfo, StartError};
use cairn_core::raft::NodeId;
use cairn_core::time::Instant;
use tokio::sync::mpsc;

use crate::disk::{self, DataDir, DataDirError};
use crate::driver::{self, Clock, Driver, MemberHandle, RuntimeEvent};
use crate::transport;

/// The driver on the real disk and network.
pub type TokioDriver = Driver<disk::DiskWorker, transport::Transport>;

/// How a member starts.
#[derive(Debug)]
pub struct StartOptions {
    pub member: MemberConfig,
    pub data_dir: PathBuf,
    pub wal_dir: Option<PathBuf>,
    /// Every member of the initial cluster (this one included).
    pub initial_cluster: Vec<(NodeId, MemberInfo)>,
    /// `--initial-cluster-state existing`: join a running cluster.
    pub join_existing: bool,
    /// Where peers connect.
    pub peer_listener: crate::net::NetListener,
    /// Whether the peer listener serves TLS (an `https://` or `unixs://`
    /// listen URL).
    pub peer_listener_tls: bool,
    /// TLS for `https://` peers, accepted and dialed.
    pub peer_security: Option<Arc<dyn transport::PeerSecurity>>,
    /// Where the disk and the transport report what they measure.
    pub metrics: crate::metrics::RuntimeMetrics,
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("cannot recover from the data directory: {0}")]
    Recover(#[from] StartError),
}

pub use cairn_core::member::StartKind;

/// Opens (or creates) the data directory, brings the member up from it, and
/// starts the disk worker and the peer transport. Run the returned driver to
/// completion; use the handle to submit client requests.
pub fn start(
    options: StartOptions,
    on_event: Box<dyn FnMut(RuntimeEvent) + Send>,
) -> Result<(TokioDriver, MemberHandle, StartKind), StartFailure> {
    let dir = DataDir::new(&options.data_dir, options.wal_dir.as_deref());
    let origin = tokio::time::Instant::now();
    let now = Instant::ZERO;
    // The wall clock `Instant::ZERO` stands for (v2 TTLs are wall times).
    let mut member_config = options.member.clone();
    member_config.wall_clock_origin_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let has_wal = dir.has_wal();
    let on_disk = dir.load()?;
    if !has_wal {
        dir.create()?;
    }
    let segments: Vec<(&str, &[u8])> = on_disk
        .segments
        .iter()
        .map(|(name, map)| (name.as_str(), &map[..]))
        .collect();
    // Newest first; a file that cannot be read is skipped like one that
    // does not decode.
    let snapshots = on_disk.snapshots.iter().rev().filter_map(|name| {
        dir.read_snapshot(name)
            .ok()
            .map(|bytes| (name.clone(), bytes))
    });
    let (member, kind) = Member::start(
        member_config,
        &options.initial_cluster,
        options.join_existing,
        &segments,
        snapshots,
        now,
    )?;
    let (disk_tx, disk_done) = mpsc::unbounded_channel();
    let disk = disk::DiskWorker::start(dir.clone(), disk_tx, options.metrics.clone());
    let (report_tx, reports) = mpsc::unbounded_channel();
    let transport = transport::Transport::new(
        options.member.cluster_id,
        options.member.id(),
        report_tx,
        options.peer_security.clone(),
        options.metrics.clone(),
    );
    crate::driver::Network::set_members(&mut transport.clone(), &member.members());
    for (id, peer_urls) in driver::startup_peers(&member, &options.initial_cluster) {
        transport.set_peer(id, &peer_urls);
    }
    let (inbound_tx, inbound) = mpsc::channel(transport::PEER_QUEUE_MESSAGES);
    tokio::spawn(transport.clone().serve(
        options.peer_listener,
        inbound_tx,
        options.peer_listener_tls,
    ));
    let parts = driver::DriverParts {
        disk_done,
        reports,
        inbound,
    };
    let clock = Clock::new(origin);
    let (driver, handle) = Driver::new(member, disk, transport, parts, clock, on_event);
    Ok((driver, handle, kind))
}
