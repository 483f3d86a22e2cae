//! The peer transport over TCP: one long-lived outbound connection per peer,
//! frames batched into few writes, bounded queues, reconnection with backoff,
//! snapshots streamed after their message, and inbound connections checked by
//! their hello before any message is read.
//!
//! With `https://` peer URLs the bytes go over TLS: the server supplies a
//! [`PeerSecurity`] that handshakes accepted and dialed connections (this
//! crate knows nothing of certificates). An outbound connection is also
//! read, though peers never answer on it: that is how a refusal that comes
//! after the handshake (a TLS alert, a close) is noticed and logged at once.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cairn_core::codec::{
    decode_frame, decode_hello, encode_hello, encode_message, FRAME_HEADER_BYTES, HELLO_BYTES,
    REMOVED_NOTICE,
};
use cairn_core::raft::{Message, MessageBody, NodeId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

pub use crate::io::{Inbound, SnapshotSource, TransportReport};
use crate::metrics::{
    peer_label, tcp_round_trip, Counted, RuntimeMetrics, ROUND_TRIP_SAMPLE_INTERVAL,
};
use crate::net::{is_unix_scheme, NetListener, NetStream};

/// Messages queued for one peer before new ones are dropped (Raft resends).
pub const PEER_QUEUE_MESSAGES: usize = 4096;
/// Bytes gathered into one socket write.
pub const WRITE_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Largest snapshot accepted from a peer.
pub const MAX_SNAPSHOT_BYTES: u64 = 16 * 1024 * 1024 * 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A connection that lived this long was healthy: the next one starts
/// without backoff, and a later refusal is logged again.
const CONNECTION_STABLE: Duration = Duration::from_secs(2);
/// Time for the TCP connect of a dial.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often, at most, members are asked for an unknown peer's URLs (and
/// how long one may take to answer).
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(1);

/// A peer connection's bytes: plain TCP or Unix socket, or TLS over one.
pub trait PeerStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> PeerStream for T {}

/// Either kind of peer connection.
pub type BoxedStream = Box<dyn PeerStream>;

/// A boxed future, as [`PeerSecurity`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// TLS for peer connections, supplied by the server (`https://` peer URLs).
pub trait PeerSecurity: Send + Sync + std::fmt::Debug {
    /// Handshakes a connection accepted on an `https://` (or `unixs://`)
    /// peer listener, from `remote` (`None` on a Unix socket). `Err` is the
    /// refusal as it should be logged.
    fn accept(
        &self,
        stream: NetStream,
        remote: Option<SocketAddr>,
    ) -> BoxFuture<'static, Result<BoxedStream, String>>;

    /// Handshakes a connection dialed to an `https://` (or `unixs://`) peer
    /// URL whose host is `host`. `Err` is why, as it should be logged.
    fn connect(
        &self,
        stream: NetStream,
        host: String,
    ) -> BoxFuture<'static, Result<BoxedStream, String>>;

    /// Words an error read from a dialed TLS connection (a peer's alert);
    /// `None` leaves it unlogged.
    fn describe(&self, error: &io::Error) -> Option<String> {
        Some(error.to_string())
    }
}

enum Outbound {
    Message(Message),
    Snapshot(Message, SnapshotSource),
}

/// The piece size snapshots are streamed in.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;

struct Peer {
    queue: mpsc::Sender<Outbound>,
    /// The peer's first URL, scheme included (`https://` dials with TLS).
    url: Arc<Mutex<String>>,
}

/// The sending side, shared by the driver.
#[derive(Clone)]
pub struct Transport {
    cluster_id: u64,
    local: NodeId,
    peers: Arc<Mutex<BTreeMap<NodeId, Peer>>>,
    reports: mpsc::UnboundedSender<TransportReport>,
    security: Option<Arc<dyn PeerSecurity>>,
    /// What `GET /members` on the peer port answers.
    directory: crate::peer_members::MemberDirectory,
    /// Members removed from the cluster: a connection from one is answered
    /// [`REMOVED_NOTICE`] and closed.
    removed: Arc<Mutex<std::collections::BTreeSet<NodeId>>>,
    metrics: RuntimeMetrics,
    /// When members were last asked for an unknown peer's URLs.
    last_discovery: Arc<Mutex<Option<std::time::Instant>>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("local", &self.local)
            .finish()
    }
}

impl crate::driver::Network for Transport {
    fn send(&mut self, message: Message) {
        Transport::send(self, message);
    }

    fn send_snapshot(&mut self, message: Message, snapshot: SnapshotSource) {
        Transport::send_snapshot(self, message, snapshot);
    }

    fn set_peer(&mut self, id: NodeId, peer_urls: &[String]) {
        Transport::set_peer(self, id, peer_urls);
    }

    fn remove_peer(&mut self, id: NodeId) {
        Transport::remove_peer(self, id);
    }

    fn set_members(&mut self, members: &[cairn_core::member::MemberStatus]) {
        self.directory.update(members);
    }

    fn set_removed(&mut self, removed: &[NodeId]) {
        *self.removed.lock().expect("removed lock") = removed.iter().copied().collect();
    }
}

impl Transport {
    /// `security` handshakes `https://` peers; without it they are
    /// unreachable. Bytes and round trips are counted in `metrics`.
    pub fn new(
        cluster_id: u64,
        local: NodeId,
        reports: mpsc::UnboundedSender<TransportReport>,
        security: Option<Arc<dyn PeerSecurity>>,
        metrics: RuntimeMetrics,
    ) -> Transport {
        Transport {
            cluster_id,
            local,
            peers: Arc::new(Mutex::new(BTreeMap::new())),
            reports,
            security,
            directory: Default::default(),
            removed: Default::default(),
            metrics,
            last_discovery: Arc::default(),
        }
    }

    /// Adds a peer, or updates its address.
    pub fn set_peer(&self, id: NodeId, peer_urls: &[String]) {
        if id == self.local {
            return;
        }
        let Some(url) = peer_urls.first() else { return };
        let address = url.trim().to_string();
        let mut peers = self.peers.lock().expect("peers lock");
        if let Some(peer) = peers.get(&id) {
            *peer.url.lock().expect("url lock") = address;
            return;
        }
        let (tx, rx) = mpsc::channel(PEER_QUEUE_MESSAGES);
        let url = Arc::new(Mutex::new(address));
        let label = peer_label(id);
        let writer = PeerWriter {
            cluster_id: self.cluster_id,
            local: self.local,
            peer: id,
            url: url.clone(),
            reports: self.reports.clone(),
            security: self.security.clone(),
            last_refusal: None,
            sent_bytes: self.metrics.peer_sent_bytes.with_label_values(&[&label]),
            round_trip: self.metrics.peer_round_trip.with_label_values(&[&label]),
        };
        tokio::spawn(writer.run(rx));
        peers.insert(id, Peer { queue: tx, url });
    }

    pub fn remove_peer(&self, id: NodeId) {
        // Dropping the queue ends the writer task.
        self.peers.lock().expect("peers lock").remove(&id);
    }

    /// Queues a message; if the peer's queue is full the message is dropped
    /// (Raft retransmits) and the peer reported unreachable.
    pub fn send(&self, message: Message) {
        self.enqueue(message.to, Outbound::Message(message));
    }

    pub fn send_snapshot(&self, message: Message, snapshot: SnapshotSource) {
        let to = message.to;
        self.enqueue(to, Outbound::Snapshot(message, snapshot));
    }

    fn enqueue(&self, to: NodeId, outbound: Outbound) {
        let is_snapshot = matches!(outbound, Outbound::Snapshot(..));
        let peers = self.peers.lock().expect("peers lock");
        let sent = peers
            .get(&to)
            .is_some_and(|peer| peer.queue.try_send(outbound).is_ok());
        let known = peers.contains_key(&to);
        drop(peers);
        if !known && to != self.local {
            self.discover(to);
        }
        if !sent {
            let _ = self.reports.send(TransportReport::Unreachable(to));
            if is_snapshot {
                let _ = self
                    .reports
                    .send(TransportReport::SnapshotSent { to, ok: false });
            }
        }
    }

    /// A message is for a member this one has no URL for: one added while
    /// this member was away, that it has not applied yet (it may be the
    /// leader sending it that very change). Asks the members it knows for
    /// theirs (`GET /members`), at most once a second, and takes `to`'s URLs
    /// from an answer of this cluster.
    fn discover(&self, to: NodeId) {
        {
            let mut last = self.last_discovery.lock().expect("discovery lock");
            if last.is_some_and(|at| at.elapsed() < DISCOVERY_INTERVAL) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        let urls: Vec<String> = self
            .peers
            .lock()
            .expect("peers lock")
            .values()
            .map(|peer| peer.url.lock().expect("url lock").clone())
            .collect();
        let transport = self.clone();
        tokio::spawn(async move {
            for url in urls {
                let Ok(remote) = crate::peer_members::fetch_members(
                    &url,
                    transport.security.as_ref(),
                    DISCOVERY_INTERVAL,
                )
                .await
                else {
                    continue;
                };
                if remote.cluster_id != transport.cluster_id {
                    continue;
                }
                if let Some(member) = remote.members.iter().find(|m| m.id == to) {
                    transport.set_peer(to, &member.peer_urls);
                    return;
                }
            }
        });
    }

    /// Accepts peer connections on `listener` forever, handing messages to
    /// `inbound`. With `tls` (an `https://` listen URL) every connection
    /// must complete a TLS handshake first.
    pub async fn serve(self, listener: NetListener, inbound: mpsc::Sender<Inbound>, tls: bool) {
        loop {
            let Ok((stream, remote)) = listener.accept().await else {
                tokio::time::sleep(BACKOFF_MIN).await;
                continue;
            };
            let reader = PeerReader {
                cluster_id: self.cluster_id,
                local: self.local,
                inbound: inbound.clone(),
                reports: self.reports.clone(),
                directory: self.directory.clone(),
                removed: self.removed.clone(),
                metrics: self.metrics.clone(),
            };
            let security = self.security.clone().filter(|_| tls);
            let reports = self.reports.clone();
            // A reader's error ends its connection; refusals are reported
            // from inside, and the peer reconnects.
            tokio::spawn(async move {
                let _ = stream.set_nodelay();
                let stream: BoxedStream = match (tls, security) {
                    (false, _) => Box::new(stream),
                    (true, Some(security)) => match security.accept(stream, remote).await {
                        Ok(stream) => stream,
                        Err(refusal) => {
                            let _ = reports.send(TransportReport::Refused(refusal));
                            return;
                        }
                    },
                    (true, None) => return,
                };
                let _ = reader.run(stream).await;
            });
        }
    }
}

/// `http://host:port/...` → (`http`, `host:port`, `host`).
fn split_url(url: &str) -> (&str, &str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let address = rest.split('/').next().unwrap_or(rest);
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => address,
    };
    (scheme, address, host)
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How a connection's service ended.
enum Ended {
    /// The transport dropped the peer: stop.
    QueueClosed,
    /// The connection failed; `Some` is a refusal worth logging.
    Failed(Option<String>),
}

struct PeerWriter {
    cluster_id: u64,
    local: NodeId,
    peer: NodeId,
    url: Arc<Mutex<String>>,
    reports: mpsc::UnboundedSender<TransportReport>,
    security: Option<Arc<dyn PeerSecurity>>,
    /// The last refusal logged, so a peer that keeps refusing is logged once.
    last_refusal: Option<String>,
    /// `etcd_network_peer_sent_bytes_total` of this peer.
    sent_bytes: prometheus::IntCounter,
    /// `etcd_network_peer_round_trip_time_seconds` of this peer.
    round_trip: prometheus::Histogram,
}

impl PeerWriter {
    async fn run(mut self, mut queue: mpsc::Receiver<Outbound>) {
        let mut backoff = BACKOFF_MIN;
        let mut buffer = Vec::with_capacity(64 * 1024);
        loop {
            let url = self.url.lock().expect("url lock").clone();
            let started = tokio::time::Instant::now();
            let ended = match self.connect(&url).await {
                Ok((stream, socket)) => self.serve(stream, socket, &mut queue, &mut buffer).await,
                Err(refusal) => Ended::Failed(refusal),
            };
            let Ended::Failed(refusal) = ended else {
                return;
            };
            let _ = self.reports.send(TransportReport::Unreachable(self.peer));
            let stable = started.elapsed() >= CONNECTION_STABLE;
            if stable {
                self.last_refusal = None;
            }
            if let Some(refusal) = refusal {
                self.refused(refusal);
            }
            if stable {
                backoff = BACKOFF_MIN;
                continue;
            }
            // Drop what is queued: Raft resends what still matters.
            while let Ok(outbound) = queue.try_recv() {
                self.dropped(outbound);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            if queue.is_closed() {
                return;
            }
        }
    }

    /// Logs a refusal once until it changes or a connection works.
    fn refused(&mut self, refusal: String) {
        if self.last_refusal.as_deref() == Some(refusal.as_str()) {
            return;
        }
        let text = format!(
            "failed to dial {:x} on stream Message ({refusal})",
            self.peer
        );
        let _ = self.reports.send(TransportReport::Refused(text));
        self.last_refusal = Some(refusal);
    }

    /// Sends queued messages over one connection until it fails. The read
    /// half is watched: peers never write on this connection, so anything
    /// read is its end (a TLS alert, a close). `socket` is the connection's
    /// TCP socket, whose round-trip time is sampled after writes (a Unix
    /// socket has none).
    async fn serve(
        &self,
        stream: BoxedStream,
        socket: Option<std::os::fd::RawFd>,
        queue: &mut mpsc::Receiver<Outbound>,
        buffer: &mut Vec<u8>,
    ) -> Ended {
        let (mut read_half, stream) = tokio::io::split(stream);
        let mut stream = Counted::new(stream, self.sent_bytes.clone());
        let mut sampled_at: Option<tokio::time::Instant> = None;
        let (closed_tx, mut closed) = oneshot::channel::<Option<String>>();
        let security = self.security.clone();
        let reports = self.reports.clone();
        let _watch = AbortOnDrop(tokio::spawn(async move {
            // The peer writes nothing but, once, the notice that this member
            // was removed.
            let mut heard = Vec::new();
            let mut scratch = [0u8; 1024];
            let reason = loop {
                match read_half.read(&mut scratch).await {
                    Ok(0) => break None,
                    Ok(read) => {
                        if heard.len() < REMOVED_NOTICE.len() {
                            heard.extend_from_slice(&scratch[..read]);
                            if heard.starts_with(&REMOVED_NOTICE) {
                                let _ = reports.send(TransportReport::RemovedFromCluster);
                                break None;
                            }
                        }
                    }
                    Err(error) => break security.as_ref().and_then(|s| s.describe(&error)),
                }
            };
            let _ = closed_tx.send(reason);
        }));
        loop {
            let first = tokio::select! {
                next = queue.recv() => match next {
                    Some(first) => first,
                    None => return Ended::QueueClosed,
                },
                reason = &mut closed => return Ended::Failed(reason.ok().flatten()),
            };
            buffer.clear();
            let mut snapshots = Vec::new();
            let mut next = Some(first);
            while let Some(outbound) = next.take() {
                match outbound {
                    Outbound::Message(message) => encode_message(&message, buffer),
                    Outbound::Snapshot(message, source) => {
                        encode_message(&message, buffer);
                        // Large: write what is gathered, then stream the snapshot.
                        if let Err(_error) = stream_snapshot(&mut stream, buffer, &source).await {
                            let _ = self.reports.send(TransportReport::SnapshotSent {
                                to: self.peer,
                                ok: false,
                            });
                            buffer.clear();
                            break;
                        }
                        buffer.clear();
                        snapshots.push(self.peer);
                        continue;
                    }
                }
                if buffer.len() < WRITE_BATCH_BYTES {
                    next = queue.try_recv().ok();
                }
            }
            let written = if buffer.is_empty() {
                Ok(())
            } else {
                match stream.write_all(buffer).await {
                    Ok(()) => stream.flush().await,
                    Err(error) => Err(error),
                }
            };
            for to in snapshots {
                let _ = self.reports.send(TransportReport::SnapshotSent {
                    to,
                    ok: written.is_ok(),
                });
            }
            if written.is_ok()
                && sampled_at.is_none_or(|at| at.elapsed() >= ROUND_TRIP_SAMPLE_INTERVAL)
            {
                sampled_at = Some(tokio::time::Instant::now());
                // The stream (and so the socket) is alive: it is ours.
                if let Some(round_trip) = socket.and_then(tcp_round_trip) {
                    self.round_trip.observe(round_trip.as_secs_f64());
                }
            }
            if written.is_err() {
                // The watcher may know why (an alert that came first).
                let reason = tokio::time::timeout(Duration::from_millis(100), &mut closed)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten();
                return Ended::Failed(reason);
            }
        }
    }

    fn dropped(&self, outbound: Outbound) {
        if let Outbound::Snapshot(..) = outbound {
            let _ = self.reports.send(TransportReport::SnapshotSent {
                to: self.peer,
                ok: false,
            });
        }
    }

    /// Dials `url` (TLS for `https://` and `unixs://`) and sends the hello;
    /// answers the connection and its TCP socket (none for a Unix socket).
    /// `Err(Some)` is a refusal worth logging; `Err(None)` is ordinary
    /// unreachability.
    async fn connect(
        &self,
        url: &str,
    ) -> Result<(BoxedStream, Option<std::os::fd::RawFd>), Option<String>> {
        let (scheme, address, host) = split_url(url);
        let unix = is_unix_scheme(scheme);
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, NetStream::connect(unix, address))
            .await
            .map_err(|_| None)?
            .map_err(|_| None)?;
        tcp.set_nodelay().map_err(|_| None)?;
        let socket = tcp.tcp_fd();
        let mut stream: BoxedStream = if scheme == "https" || scheme == "unixs" {
            let Some(security) = &self.security else {
                return Err(Some(format!(
                    "{url} is an {scheme}:// peer URL but no peer TLS is configured (--peer-cert-file/--peer-key-file or --peer-auto-tls)"
                )));
            };
            security
                .connect(tcp, host.to_string())
                .await
                .map_err(Some)?
        } else {
            Box::new(tcp)
        };
        stream
            .write_all(&encode_hello(self.cluster_id, self.local, self.peer))
            .await
            .map_err(|_| None)?;
        stream.flush().await.map_err(|_| None)?;
        Ok((stream, socket))
    }
}

/// Writes `head` (frames gathered so far, ending with the snapshot's message),
/// then the snapshot as `length u64 | bytes | crc32 u32`, read and sent in
/// chunks so the sender never holds it whole.
async fn stream_snapshot<W: AsyncWrite + Unpin>(
    stream: &mut W,
    head: &mut Vec<u8>,
    source: &SnapshotSource,
) -> io::Result<()> {
    let mut hasher = crc32fast::Hasher::new();
    match source {
        SnapshotSource::Bytes(bytes) => {
            head.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            stream.write_all(head).await?;
            for chunk in bytes.chunks(SNAPSHOT_CHUNK_BYTES) {
                hasher.update(chunk);
                stream.write_all(chunk).await?;
            }
        }
        SnapshotSource::File(path) => {
            use tokio::io::AsyncReadExt as _;
            let mut file = tokio::fs::File::open(path).await?;
            let length = file.metadata().await?.len();
            head.extend_from_slice(&length.to_le_bytes());
            stream.write_all(head).await?;
            let mut chunk = vec![0u8; SNAPSHOT_CHUNK_BYTES];
            let mut left = length;
            while left > 0 {
                let want = (left as usize).min(chunk.len());
                file.read_exact(&mut chunk[..want]).await?;
                hasher.update(&chunk[..want]);
                stream.write_all(&chunk[..want]).await?;
                left -= want as u64;
            }
        }
    }
    stream.write_all(&hasher.finalize().to_le_bytes()).await?;
    stream.flush().await
}

fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

struct PeerReader {
    cluster_id: u64,
    local: NodeId,
    inbound: mpsc::Sender<Inbound>,
    reports: mpsc::UnboundedSender<TransportReport>,
    directory: crate::peer_members::MemberDirectory,
    removed: Arc<Mutex<std::collections::BTreeSet<NodeId>>>,
    metrics: RuntimeMetrics,
}

impl PeerReader {
    async fn run(&self, mut stream: BoxedStream) -> io::Result<()> {
        let mut hello = [0u8; HELLO_BYTES];
        stream.read_exact(&mut hello[..4]).await?;
        if &hello[..4] == b"GET " {
            // A joining member asks who is in the cluster.
            return crate::peer_members::serve_http(stream, &self.directory, self.cluster_id).await;
        }
        stream.read_exact(&mut hello[4..]).await?;
        let refuse = |reason: String| {
            let _ = self.reports.send(TransportReport::Refused(reason.clone()));
            io::Error::new(io::ErrorKind::InvalidData, reason)
        };
        let (hello, _) = match decode_hello(&hello) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => return Err(refuse("incomplete peer hello".to_string())),
            Err(error) => return Err(refuse(format!("refused a peer connection: {error}"))),
        };
        if let Err(refusal) = hello.check(self.cluster_id, self.local) {
            return Err(refuse(format!("refused a peer connection: {refusal}")));
        }
        if self
            .removed
            .lock()
            .expect("removed lock")
            .contains(&hello.from)
        {
            // As etcd answers 410 Gone: the member learns it was removed.
            stream.write_all(&REMOVED_NOTICE).await?;
            stream.flush().await?;
            let _ = stream.shutdown().await;
            return Err(refuse(format!(
                "rejected the stream from peer {:x} since it was removed",
                hello.from
            )));
        }
        let received = self
            .metrics
            .peer_received_bytes
            .with_label_values(&[&peer_label(hello.from)]);
        let mut stream = Counted::new(stream, received);
        let mut buffer = BytesMut::with_capacity(64 * 1024);
        loop {
            // Split off every complete frame without copying.
            while buffer.len() >= FRAME_HEADER_BYTES {
                let body =
                    u32::from_le_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
                let total = FRAME_HEADER_BYTES + body;
                if buffer.len() < total {
                    buffer.reserve(total - buffer.len());
                    break;
                }
                let frame = buffer.split_to(total).freeze();
                let message = match decode_frame(&frame) {
                    Ok(Some((message, _))) => message,
                    Ok(None) => return Err(refuse("a peer frame ended early".to_string())),
                    Err(error) => {
                        return Err(refuse(format!(
                            "bad frame from member {:x}: {error}",
                            hello.from
                        )))
                    }
                };
                let snapshot = if let MessageBody::Snapshot { .. } = message.body {
                    Some(self.read_snapshot(&mut stream, &mut buffer).await?)
                } else {
                    None
                };
                if self
                    .inbound
                    .send(Inbound { message, snapshot })
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
            if stream.read_buf(&mut buffer).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads `length u64 | bytes | crc32 u32` that follows a snapshot message.
    async fn read_snapshot<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        buffer: &mut BytesMut,
    ) -> io::Result<Bytes> {
        while buffer.len() < 8 {
            if stream.read_buf(buffer).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let head = buffer.split_to(8);
        let length = u64::from_le_bytes(head[0..8].try_into().expect("8 bytes"));
        if length > MAX_SNAPSHOT_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snapshot too large",
            ));
        }
        let length = length as usize;
        buffer.reserve((length + 4).saturating_sub(buffer.len()));
        while buffer.len() < length + 4 {
            if stream.read_buf(buffer).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let bytes = buffer.split_to(length).freeze();
        let trailer = buffer.split_to(4);
        let expected_crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
        if crc32(&bytes) != expected_crc {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snapshot checksum mismatch",
            ));
        }
        Ok(bytes)
    }
}
