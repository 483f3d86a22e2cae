//! SimNetwork: the driver's [`Network`] on madsim's simulated network.
//!
//! Each member binds a madsim endpoint on its peer address; Raft messages
//! travel as madsim packets (so madsim's latency, packet loss, clogged links
//! and killed nodes apply to them), passed as values rather than bytes: the
//! peer codec has its own tests, and the simulator spends its time on
//! schedules instead.
//!
//! A member that fell behind may not know the members added while it was
//! away (it dials the members it has applied), yet must answer them for
//! them to bring it up to date: as etcd's transport does with the sender's
//! `X-PeerURLs` (`AddRemote`), it learns where an unknown sender listens
//! from the sender's own address, and answers there.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cairn_core::raft::{Message, NodeId};
use cairn_runtime_tokio::io::{Inbound, SnapshotSource, TransportReport};
use cairn_runtime_tokio::Network;
use madsim::net::Endpoint;
use tokio::sync::mpsc;

/// The madsim tag of Raft traffic.
pub const PEER_TAG: u64 = 0x5241_4654; // "RAFT"

/// What one packet carries.
struct PeerPacket {
    message: Message,
    snapshot: Option<Bytes>,
}

/// The driver's side of the simulated network.
#[derive(Debug)]
pub struct SimNetwork {
    tx: mpsc::UnboundedSender<(SocketAddr, PeerPacket)>,
    peers: BTreeMap<NodeId, SocketAddr>,
    /// Where senders that are not peers listen, as their packets showed:
    /// used only for members not in `peers`.
    remotes: Arc<Mutex<BTreeMap<NodeId, SocketAddr>>>,
    reports: mpsc::UnboundedSender<TransportReport>,
}

impl std::fmt::Debug for PeerPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.message)
    }
}

/// `http://10.0.0.1:2380` → `10.0.0.1:2380`.
pub fn peer_address(url: &str) -> Option<SocketAddr> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.trim_end_matches('/').parse().ok()
}

impl SimNetwork {
    /// Binds `address` on the current madsim node and starts the tasks that
    /// send and receive; inbound messages go to `inbound`.
    pub async fn start(
        address: SocketAddr,
        inbound: mpsc::Sender<Inbound>,
        reports: mpsc::UnboundedSender<TransportReport>,
    ) -> std::io::Result<SimNetwork> {
        let endpoint = Endpoint::bind(address).await?;
        let (tx, mut outbound) = mpsc::unbounded_channel::<(SocketAddr, PeerPacket)>();
        let sender = endpoint.clone();
        tokio::spawn(async move {
            while let Some((to, packet)) = outbound.recv().await {
                // A lost packet is Raft's to recover from, as on a real network.
                let _ = sender.send_to_raw(to, PEER_TAG, Box::new(packet)).await;
            }
        });
        let remotes = Arc::new(Mutex::new(BTreeMap::new()));
        let learned = remotes.clone();
        tokio::spawn(async move {
            while let Ok((payload, from)) = endpoint.recv_from_raw(PEER_TAG).await {
                let Ok(packet) = payload.downcast::<PeerPacket>() else {
                    continue;
                };
                let PeerPacket { message, snapshot } = *packet;
                learned.lock().expect("remotes").insert(message.from, from);
                if inbound.send(Inbound { message, snapshot }).await.is_err() {
                    return;
                }
            }
        });
        Ok(SimNetwork {
            tx,
            peers: BTreeMap::new(),
            remotes,
            reports,
        })
    }

    fn send_packet(&mut self, packet: PeerPacket) -> bool {
        let to = packet.message.to;
        let address = match self.peers.get(&to) {
            Some(address) => Some(*address),
            None => self.remotes.lock().expect("remotes").get(&to).copied(),
        };
        match address {
            Some(address) => self.tx.send((address, packet)).is_ok(),
            None => false,
        }
    }
}

impl Network for SimNetwork {
    fn send(&mut self, message: Message) {
        let to = message.to;
        if !self.send_packet(PeerPacket {
            message,
            snapshot: None,
        }) {
            let _ = self.reports.send(TransportReport::Unreachable(to));
        }
    }

    fn send_snapshot(&mut self, message: Message, snapshot: SnapshotSource) {
        let to = message.to;
        let bytes = match snapshot {
            SnapshotSource::Bytes(bytes) => bytes,
            SnapshotSource::File(_) => {
                let _ = self
                    .reports
                    .send(TransportReport::SnapshotSent { to, ok: false });
                return;
            }
        };
        let ok = self.send_packet(PeerPacket {
            message,
            snapshot: Some(bytes),
        });
        let _ = self.reports.send(TransportReport::SnapshotSent { to, ok });
    }

    fn set_peer(&mut self, id: NodeId, peer_urls: &[String]) {
        if let Some(address) = peer_urls.iter().find_map(|url| peer_address(url)) {
            self.peers.insert(id, address);
        }
    }

    fn remove_peer(&mut self, id: NodeId) {
        self.peers.remove(&id);
    }
}
