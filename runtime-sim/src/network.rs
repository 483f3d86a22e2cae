//! SimNetwork: the driver's [`Network`] on madsim's simulated network.
//!
//! Each member binds a madsim endpoint on its peer address; Raft messages
//! travel as madsim packets (so madsim's latency, packet loss, clogged links
//! and killed nodes apply to them), passed as values rather than bytes: the
//! peer codec has its own tests, and the simulator spends its time on
//! schedules instead.

use std::collections::BTreeMap;
use std::net::SocketAddr;

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
        tokio::spawn(async move {
            while let Ok((payload, _from)) = endpoint.recv_from_raw(PEER_TAG).await {
                let Ok(packet) = payload.downcast::<PeerPacket>() else {
                    continue;
                };
                let PeerPacket { message, snapshot } = *packet;
                if inbound.send(Inbound { message, snapshot }).await.is_err() {
                    return;
                }
            }
        });
        Ok(SimNetwork {
            tx,
            peers: BTreeMap::new(),
            reports,
        })
    }

    fn send_packet(&mut self, packet: PeerPacket) -> bool {
        match self.peers.get(&packet.message.to) {
            Some(address) => self.tx.send((*address, packet)).is_ok(),
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
