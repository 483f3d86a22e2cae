//! One cairn member on a madsim node: recovered from (or bootstrapped on)
//! its [`SimStorage`], driven by the production [`Driver`] over
//! [`SimDisk`] and [`SimNetwork`], answering client requests that arrive as
//! madsim packets.
//!
//! Killing the madsim node drops every task, the member with them: a crash.
//! Restarting it runs [`run_member`] again, from whatever the storage kept.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use cairn_core::auth::Caller;
use cairn_core::member::{ClientRequest, Member, MemberConfig, MemberInfo, WatchInput};
use cairn_core::raft::NodeId;
use cairn_core::snapshot::parse_snapshot_name;
use cairn_core::time::Instant;
use cairn_core::watch::CreateRequest;
use cairn_runtime_tokio::{
    startup_peers, Clock, Driver, DriverParts, MemberHandle, Reply, RuntimeEvent, MEMBER_REMOVED,
};
use madsim::net::Endpoint;
use tokio::sync::mpsc;

use crate::disk::{SimDisk, SimStorage};
use crate::network::SimNetwork;

pub const PEER_PORT: u16 = 2380;
pub const CLIENT_PORT: u16 = 2379;
/// The madsim tag of client requests; replies carry the request's own id.
pub const CLIENT_TAG: u64 = 0x434c_4e54; // "CLNT"
/// Inbound peer messages queued before the network waits.
const PEER_QUEUE_MESSAGES: usize = 4096;

/// The madsim tag of watch openings; the stream's responses go back tagged
/// with the opening's `reply_tag`.
pub const WATCH_TAG: u64 = 0x5741_5443; // "WATC"

/// Opens a watch stream with one watcher: its responses, `(sequence, Header,
/// WatchResponse)` values numbered from 1, go back to the sender tagged `reply_tag` until the
/// sender's endpoint goes away.
#[derive(Debug)]
pub struct WatchOpen {
    pub reply_tag: u64,
    pub request: CreateRequest,
}

/// A client request as a packet: replies go back tagged with `id`.
#[derive(Debug)]
pub struct ClientPacket {
    pub id: u64,
    pub request: ClientRequest,
}

/// Everything a member needs to (re)start on a madsim node.
pub struct MemberSpec {
    pub ip: IpAddr,
    pub config: MemberConfig,
    /// The members to dial before any is applied: the initial cluster, or
    /// for a member that joins a running cluster, the members it listed.
    pub initial_cluster: Vec<(NodeId, MemberInfo)>,
    /// `--initial-cluster-state existing`: on empty storage, join a running
    /// cluster (the member was added through its leader) instead of
    /// bootstrapping one.
    pub join_existing: bool,
    pub storage: SimStorage,
    /// Clock drift of this node, in parts per million.
    pub clock_rate_ppm: i64,
    /// Where the member's events go (the simulator's trace).
    pub events: Arc<dyn Fn(RuntimeEvent) + Send + Sync>,
}

impl std::fmt::Debug for MemberSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberSpec")
            .field("id", &self.config.id())
            .field("ip", &self.ip)
            .finish()
    }
}

/// Why a member stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberExit {
    /// It refused to start from its storage (corruption): the error.
    Refused(String),
    /// It stopped on a fatal error (a failed disk write).
    Fatal(String),
    /// It applied its own removal from the cluster and stopped
    /// ([`MEMBER_REMOVED`]).
    Removed,
}

/// The peer URL of the member at `ip`.
pub fn peer_url(ip: IpAddr) -> String {
    format!("http://{ip}:{PEER_PORT}")
}

/// Recovers the member from its storage, or on empty storage bootstraps it
/// (or joins a running cluster).
fn open_member(spec: &MemberSpec) -> Result<Member, String> {
    let now = Instant::ZERO;
    let mut config = spec.config.clone();
    // As the real runtime does, from the (simulated) wall clock: proposal
    // numbers and lease ids of a restarted member never repeat old ones.
    let wall = madsim::time::TimeHandle::current()
        .now_time()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    config.first_seq = (wall.as_micros() as u64).max(1);
    // The wall clock `Instant::ZERO` stands for (v2 TTLs are wall times).
    config.wall_clock_origin_ms = wall.as_millis() as i64;
    let fs = spec.storage.fs.lock().expect("fs lock").clone();
    let segments: Vec<(String, Bytes)> = fs
        .list("wal")
        .into_iter()
        .filter_map(|name| fs.read(&format!("wal/{name}")).map(|bytes| (name, bytes)))
        .collect();
    let mut snapshots: Vec<(u64, String)> = fs
        .list("snap")
        .into_iter()
        .filter_map(|name| parse_snapshot_name(&name).map(|(_, index)| (index, name)))
        .collect();
    snapshots.sort();
    // Newest first, read only when tried: the same start-up as production.
    let snapshots = snapshots.into_iter().rev().filter_map(|(_, name)| {
        fs.read(&format!("snap/{name}"))
            .map(|bytes| (name.clone(), bytes))
    });
    let views: Vec<(&str, &[u8])> = segments
        .iter()
        .map(|(name, bytes)| (name.as_str(), &bytes[..]))
        .collect();
    Member::start(
        config,
        &spec.initial_cluster,
        spec.join_existing,
        &views,
        snapshots,
        now,
    )
    .map(|(member, _)| member)
    .map_err(|e| e.to_string())
}

/// Runs the member until it stops; call from a madsim node's init.
pub async fn run_member(spec: Arc<MemberSpec>) -> MemberExit {
    let member = match open_member(&spec) {
        Ok(member) => member,
        Err(error) => return MemberExit::Refused(error),
    };
    let (disk_tx, disk_done) = mpsc::unbounded_channel();
    let disk = SimDisk::start(spec.storage.clone(), disk_tx);
    let (report_tx, reports) = mpsc::unbounded_channel();
    let (inbound_tx, inbound) = mpsc::channel(PEER_QUEUE_MESSAGES);
    let address = SocketAddr::new(spec.ip, PEER_PORT);
    let mut network = match SimNetwork::start(address, inbound_tx, report_tx).await {
        Ok(network) => network,
        Err(error) => return MemberExit::Fatal(format!("bind {address}: {error}")),
    };
    for (id, peer_urls) in startup_peers(&member, &spec.initial_cluster) {
        cairn_runtime_tokio::Network::set_peer(&mut network, id, &peer_urls);
    }
    let parts = DriverParts {
        disk_done,
        reports,
        inbound,
    };
    let clock = Clock::drifting(tokio::time::Instant::now(), spec.clock_rate_ppm);
    let events = spec.events.clone();
    let (driver, handle) = Driver::new(
        member,
        disk,
        network,
        parts,
        clock,
        Box::new(move |event| events(event)),
    );
    let client_address = SocketAddr::new(spec.ip, CLIENT_PORT);
    match Endpoint::bind(client_address).await {
        Ok(endpoint) => {
            let endpoint = Arc::new(endpoint);
            tokio::spawn(serve_watches(endpoint.clone(), handle.clone()));
            tokio::spawn(serve_clients(endpoint, handle));
        }
        Err(error) => return MemberExit::Fatal(format!("bind {client_address}: {error}")),
    }
    let reason = driver.run().await;
    if reason == MEMBER_REMOVED {
        MemberExit::Removed
    } else {
        MemberExit::Fatal(reason)
    }
}

/// Answers client packets, each in its own task.
async fn serve_clients(endpoint: Arc<Endpoint>, handle: MemberHandle) {
    while let Ok((payload, from)) = endpoint.recv_from_raw(CLIENT_TAG).await {
        let Ok(packet) = payload.downcast::<ClientPacket>() else {
            continue;
        };
        let endpoint = endpoint.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            let ClientPacket { id, request } = *packet;
            let reply: Reply = handle.request(Caller::Anonymous, request).await;
            let _ = endpoint.send_to_raw(from, id, Box::new(reply)).await;
        });
    }
}

/// Opens a watch stream per [`WatchOpen`] and forwards its responses.
async fn serve_watches(endpoint: Arc<Endpoint>, handle: MemberHandle) {
    while let Ok((payload, from)) = endpoint.recv_from_raw(WATCH_TAG).await {
        let Ok(open) = payload.downcast::<WatchOpen>() else {
            continue;
        };
        let WatchOpen { reply_tag, request } = *open;
        let mut stream = handle.open_watch();
        handle.watch(WatchInput::Create {
            stream: stream.stream,
            request,
            caller: Caller::Anonymous,
        });
        let endpoint = endpoint.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            // Packets may be reordered; a gRPC stream is not: the reader puts
            // them back in order by this number (and gives up on a gap).
            let mut sequence = 0u64;
            while let Some((header, response)) = stream.responses.recv().await {
                stream.received();
                sequence += 1;
                if endpoint
                    .send_to_raw(from, reply_tag, Box::new((sequence, header, response)))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            handle.watch(WatchInput::Close {
                stream: stream.stream,
            });
        });
    }
}
