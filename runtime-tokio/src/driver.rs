//! The driver: one task that feeds the member its inputs (client requests,
//! peer messages, disk completions, transport reports, ticks) and carries out
//! its actions. It holds no protocol logic: every decision is the member's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_core::auth::Caller;
use cairn_core::member::{
    answer, Action, Call, CallResult, ClientError, ClientRequest, ClientResponse, ClientToken,
    Header, Member, MemberEvent, MemberInfo, WatchInput,
};
use cairn_core::raft::NodeId;
use cairn_core::time::Instant;
use cairn_core::watch::WatchResponse;
use tokio::sync::{mpsc, oneshot};

use crate::io::{DiskDone, Inbound, SnapshotSource, TransportReport};

/// Where the driver sends disk actions: the real disk worker, or a simulated
/// disk. Actions must be carried out in the order submitted, each reported
/// back as a [`DiskDone`] on the driver's channel.
pub trait Disk: Send + 'static {
    fn submit(&mut self, action: Action);
    /// Where the bytes of saved snapshot file `name` can be read, to stream
    /// them to a follower.
    fn snapshot_source(&mut self, name: &str) -> std::io::Result<SnapshotSource>;
}

/// Where the driver sends peer messages: the TCP transport, or a simulated
/// network. Delivery failures come back as [`TransportReport`]s.
pub trait Network: Send + 'static {
    fn send(&mut self, message: cairn_core::raft::Message);
    fn send_snapshot(&mut self, message: cairn_core::raft::Message, snapshot: SnapshotSource);
    fn set_peer(&mut self, id: cairn_core::raft::NodeId, peer_urls: &[String]);
    fn remove_peer(&mut self, id: cairn_core::raft::NodeId);
    /// The members as last applied (served to joining members).
    fn set_members(&mut self, _members: &[cairn_core::member::MemberStatus]) {}
    /// Members removed from the cluster: their connections are told so.
    fn set_removed(&mut self, _removed: &[cairn_core::raft::NodeId]) {}
}

/// The member's clock: milliseconds since the driver started, read from
/// tokio's clock (madsim's simulated one under `cargo sim`). A simulated node
/// may run fast or slow by `rate_ppm` parts per million, which is how the
/// simulator injects clock drift through the time inputs.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: tokio::time::Instant,
    rate_ppm: i64,
}

impl Clock {
    /// A clock that started at `origin` (which `Instant::ZERO` stands for).
    pub fn new(origin: tokio::time::Instant) -> Clock {
        Clock {
            origin,
            rate_ppm: 0,
        }
    }

    /// A clock that gains (`rate_ppm > 0`) or loses time.
    pub fn drifting(origin: tokio::time::Instant, rate_ppm: i64) -> Clock {
        assert!(rate_ppm.abs() < 500_000, "drift beyond 50% is not a clock");
        Clock { origin, rate_ppm }
    }

    pub fn now(&self) -> Instant {
        let real_ms = self.origin.elapsed().as_millis() as i128;
        let ms = real_ms * (1_000_000 + self.rate_ppm as i128) / 1_000_000;
        Instant::from_millis(ms as u64)
    }

    /// The real instant at which this clock reads `at` (rounded up).
    pub fn instant_of(&self, at: Instant) -> tokio::time::Instant {
        let scale = (1_000_000 + self.rate_ppm) as u128;
        let real_ms = (at.as_millis() as u128 * 1_000_000).div_ceil(scale);
        self.origin + Duration::from_millis(real_ms.min(u64::MAX as u128) as u64)
    }
}

/// How long an fdatasync may take before it is reported as slow (etcd's
/// warning threshold).
pub const SLOW_FSYNC: Duration = Duration::from_secs(1);
/// Inputs taken in one go before actions are carried out: lets concurrent
/// requests share one WAL write and one read round.
pub const INPUT_BATCH: usize = 512;

/// The answer to a client request.
pub type Reply = (Header, Result<ClientResponse, ClientError>);

/// Watch responses queued for one stream above which the stream is marked
/// blocked: its watchers stop getting live events and later catch up from
/// history, so a slow reader costs bounded memory and loses nothing.
pub const WATCH_QUEUE_HIGH: usize = 1024;
/// Below this the blocked stream is resumed.
pub const WATCH_QUEUE_LOW: usize = 256;

/// Where one watch stream's responses go.
#[derive(Debug)]
struct WatchSink {
    tx: mpsc::UnboundedSender<(Header, WatchResponse)>,
    queued: Arc<AtomicUsize>,
}

enum WatchCommand {
    Open { stream: u64, sink: WatchSink },
    Input(WatchInput),
}

/// One open watch stream: send requests with [`MemberHandle::watch`], read
/// responses from `responses`, and call [`WatchStream::received`] for each
/// one taken (so the driver knows the reader keeps up).
#[derive(Debug)]
pub struct WatchStream {
    pub stream: u64,
    pub responses: mpsc::UnboundedReceiver<(Header, WatchResponse)>,
    queued: Arc<AtomicUsize>,
}

impl WatchStream {
    pub fn received(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

struct ClientInput {
    caller: Caller,
    request: ClientRequest,
    reply: oneshot::Sender<Reply>,
}

/// What the runtime reports for logging.
#[derive(Debug)]
pub enum RuntimeEvent {
    Member(MemberEvent),
    SlowFsync {
        took: Duration,
    },
    PeerRefused(String),
    /// The member cannot go on (a disk failure); the process should exit.
    Fatal(String),
}

/// A cheap, cloneable handle through which servers submit client requests.
#[derive(Clone, Debug)]
pub struct MemberHandle {
    tx: mpsc::UnboundedSender<ClientInput>,
    watch_tx: mpsc::UnboundedSender<WatchCommand>,
    next_stream: Arc<AtomicU64>,
    raft_stats: crate::raft_stats::RaftStats,
}

impl std::fmt::Debug for WatchCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchCommand::Open { stream, .. } => write!(f, "Open({stream})"),
            WatchCommand::Input(input) => write!(f, "{input:?}"),
        }
    }
}

impl MemberHandle {
    /// The Raft traffic counts of `/v2/stats/self` and `/v2/stats/leader`.
    pub fn raft_stats(&self) -> crate::raft_stats::RaftStatsView {
        self.raft_stats.view()
    }

    /// Opens a watch stream.
    pub fn open_watch(&self) -> WatchStream {
        let stream = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let (tx, responses) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let sink = WatchSink {
            tx,
            queued: queued.clone(),
        };
        let _ = self.watch_tx.send(WatchCommand::Open { stream, sink });
        WatchStream {
            stream,
            responses,
            queued,
        }
    }

    /// A request on an open watch stream (create, cancel, progress, close).
    pub fn watch(&self, input: WatchInput) {
        let _ = self.watch_tx.send(WatchCommand::Input(input));
    }

    /// Makes a typed call from `caller` and waits for its answer: the
    /// response its type names, or the error, each with the member's header
    /// (a default header if the member has stopped).
    pub async fn call<C: Call>(&self, caller: Caller, call: C) -> CallResult<C::Response> {
        let (header, result) = self.request(caller, call.into_request()).await;
        answer::<C>(header, result)
    }

    /// Submits an untyped request from `caller` and waits for its answer (the
    /// simulator's clients, which pick requests at random, speak this).
    pub async fn request(&self, caller: Caller, request: ClientRequest) -> Reply {
        let (reply, answer) = oneshot::channel();
        let input = ClientInput {
            caller,
            request,
            reply,
        };
        if self.tx.send(input).is_err() {
            return (Header::default(), Err(ClientError::Stopped));
        }
        answer
            .await
            .unwrap_or((Header::default(), Err(ClientError::Stopped)))
    }
}

/// Everything the driver runs with. The same loop runs on the real disk and
/// network (this crate) and on simulated ones (cairn-runtime-sim).
pub struct Driver<D: Disk, N: Network> {
    member: Member,
    disk: D,
    disk_done: mpsc::UnboundedReceiver<DiskDone>,
    transport: N,
    reports: mpsc::UnboundedReceiver<TransportReport>,
    inbound: mpsc::Receiver<Inbound>,
    clients: mpsc::UnboundedReceiver<ClientInput>,
    replies: BTreeMap<ClientToken, oneshot::Sender<Reply>>,
    watch_rx: mpsc::UnboundedReceiver<WatchCommand>,
    watch_sinks: BTreeMap<u64, WatchSink>,
    blocked_streams: BTreeSet<u64>,
    next_token: ClientToken,
    clock: Clock,
    on_event: Box<dyn FnMut(RuntimeEvent) + Send>,
    /// Set when the member must stop (it was removed from the cluster).
    stop: Option<String>,
    /// Raft traffic counts, shared with the handles.
    raft_stats: crate::raft_stats::RaftStats,
}

/// The peers a member dials when it starts. A restarted member talks to the
/// members it has applied (the cluster may have changed since the initial
/// cluster was written); a new one to the initial cluster (or, joining, the
/// members the cluster listed). Both runtimes start this way.
pub fn startup_peers(
    member: &Member,
    initial_cluster: &[(NodeId, MemberInfo)],
) -> Vec<(NodeId, Vec<String>)> {
    let own = member.id();
    let applied = member.members();
    if applied
        .iter()
        .any(|m| m.id != own && !m.peer_urls.is_empty())
    {
        applied
            .into_iter()
            .filter(|m| m.id != own)
            .map(|m| (m.id, m.peer_urls))
            .collect()
    } else {
        initial_cluster
            .iter()
            .filter(|(id, _)| *id != own)
            .map(|(id, info)| (*id, info.peer_urls.clone()))
            .collect()
    }
}

/// Why a member removed from its cluster stops: etcd's words.
pub const MEMBER_REMOVED: &str = "the member has been permanently removed from the cluster";

impl<D: Disk, N: Network> std::fmt::Debug for Driver<D, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("member", &self.member.id())
            .finish()
    }
}

/// The channels a driver is built from.
#[derive(Debug)]
pub struct DriverParts {
    pub disk_done: mpsc::UnboundedReceiver<DiskDone>,
    pub reports: mpsc::UnboundedReceiver<TransportReport>,
    pub inbound: mpsc::Receiver<Inbound>,
}

impl<D: Disk, N: Network> Driver<D, N> {
    /// A driver for `member`, whose time inputs come from `clock`.
    pub fn new(
        member: Member,
        disk: D,
        transport: N,
        parts: DriverParts,
        clock: Clock,
        on_event: Box<dyn FnMut(RuntimeEvent) + Send>,
    ) -> (Driver<D, N>, MemberHandle) {
        let (tx, clients) = mpsc::unbounded_channel();
        let (watch_tx, watch_rx) = mpsc::unbounded_channel();
        let raft_stats = crate::raft_stats::RaftStats::default();
        let driver = Driver {
            watch_rx,
            watch_sinks: BTreeMap::new(),
            blocked_streams: BTreeSet::new(),
            member,
            disk,
            disk_done: parts.disk_done,
            transport,
            reports: parts.reports,
            inbound: parts.inbound,
            clients,
            replies: BTreeMap::new(),
            next_token: 1,
            clock,
            on_event,
            stop: None,
            raft_stats: raft_stats.clone(),
        };
        let handle = MemberHandle {
            tx,
            watch_tx,
            next_stream: Arc::new(AtomicU64::new(1)),
            raft_stats,
        };
        (driver, handle)
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Runs until a fatal error; returns its description.
    pub async fn run(mut self) -> String {
        let removed = self.member.removed_members();
        self.transport.set_removed(&removed);
        self.execute_actions();
        loop {
            let deadline = self.clock.instant_of(self.member.next_deadline());
            tokio::select! {
                biased;
                done = self.disk_done.recv() => {
                    match done {
                        Some(done) => if let Some(fatal) = self.on_disk_done(done) { return fatal; },
                        None => return "the disk worker stopped".to_string(),
                    }
                }
                Some(inbound) = self.inbound.recv() => {
                    let now = self.now();
                    self.raft_stats.received(&inbound.message);
                    self.member.handle_message(now, inbound.message, inbound.snapshot);
                }
                Some(report) = self.reports.recv() => self.on_report(report),
                Some(input) = self.clients.recv() => self.on_client(input),
                Some(command) = self.watch_rx.recv() => self.on_watch(command),
                _ = tokio::time::sleep_until(deadline) => {
                    let now = self.now();
                    self.member.handle_tick(now);
                }
            }
            // Take whatever else is already waiting, so that concurrent work
            // shares one WAL write and one read round.
            for _ in 0..INPUT_BATCH {
                let mut progressed = false;
                if let Ok(input) = self.clients.try_recv() {
                    self.on_client(input);
                    progressed = true;
                }
                if let Ok(inbound) = self.inbound.try_recv() {
                    let now = self.now();
                    self.raft_stats.received(&inbound.message);
                    self.member
                        .handle_message(now, inbound.message, inbound.snapshot);
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
            self.execute_actions();
            self.resume_drained_streams();
            self.execute_actions();
            if let Some(reason) = self.stop.take() {
                return reason;
            }
        }
    }

    fn on_watch(&mut self, command: WatchCommand) {
        let now = self.now();
        match command {
            WatchCommand::Open { stream, sink } => {
                self.watch_sinks.insert(stream, sink);
            }
            WatchCommand::Input(input) => {
                if let WatchInput::Close { stream } = input {
                    self.watch_sinks.remove(&stream);
                    self.blocked_streams.remove(&stream);
                }
                self.member.handle_watch(now, input);
            }
        }
    }

    /// Streams whose readers caught up get live events again.
    fn resume_drained_streams(&mut self) {
        let drained: Vec<u64> = self
            .blocked_streams
            .iter()
            .copied()
            .filter(|s| {
                self.watch_sinks
                    .get(s)
                    .is_none_or(|sink| sink.queued.load(Ordering::Relaxed) < WATCH_QUEUE_LOW)
            })
            .collect();
        let now = self.now();
        for stream in drained {
            self.blocked_streams.remove(&stream);
            if self.watch_sinks.contains_key(&stream) {
                self.member.handle_watch(
                    now,
                    WatchInput::Blocked {
                        stream,
                        blocked: false,
                    },
                );
            }
        }
    }

    fn deliver_watch(&mut self, header: Header, responses: Vec<WatchResponse>) {
        let now = self.now();
        for response in responses {
            let stream = response.stream;
            let Some(sink) = self.watch_sinks.get(&stream) else {
                continue;
            };
            let queued = sink.queued.fetch_add(1, Ordering::Relaxed) + 1;
            if sink.tx.send((header, response)).is_err() {
                // The reader is gone: forget the stream.
                self.watch_sinks.remove(&stream);
                self.member.handle_watch(now, WatchInput::Close { stream });
                continue;
            }
            if queued > WATCH_QUEUE_HIGH && self.blocked_streams.insert(stream) {
                self.member.handle_watch(
                    now,
                    WatchInput::Blocked {
                        stream,
                        blocked: true,
                    },
                );
            }
        }
    }

    fn on_client(&mut self, input: ClientInput) {
        let token = self.next_token;
        self.next_token += 1;
        self.replies.insert(token, input.reply);
        let now = self.now();
        self.member
            .handle_client(now, token, &input.caller, input.request);
    }

    fn on_disk_done(&mut self, done: DiskDone) -> Option<String> {
        let now = self.now();
        match done {
            DiskDone::WalWritten { token, took } => {
                if took > SLOW_FSYNC {
                    (self.on_event)(RuntimeEvent::SlowFsync { took });
                }
                self.member.handle_wal_written(now, token);
            }
            DiskDone::SnapshotSaved { name } => self.member.handle_snapshot_saved(now, name),
            DiskDone::Failed { action, error } => {
                let message = format!("failed to {action}: {error}");
                (self.on_event)(RuntimeEvent::Fatal(message.clone()));
                return Some(message);
            }
        }
        None
    }

    fn on_report(&mut self, report: TransportReport) {
        let now = self.now();
        match report {
            TransportReport::Unreachable(peer) => self.member.handle_unreachable(now, peer),
            TransportReport::SnapshotSent { to, ok } => {
                self.member.handle_snapshot_sent(now, to, ok)
            }
            TransportReport::Refused(reason) => (self.on_event)(RuntimeEvent::PeerRefused(reason)),
            // etcd stops when a peer answers 410 Gone.
            TransportReport::RemovedFromCluster => self.stop = Some(MEMBER_REMOVED.to_string()),
        }
    }

    fn execute_actions(&mut self) {
        while let Some(action) = self.member.poll_action() {
            match action {
                Action::Send(message) => {
                    self.raft_stats.sent(&message);
                    self.transport.send(message)
                }
                Action::SendSnapshot { message, snapshot } => {
                    match self.disk.snapshot_source(&snapshot) {
                        Ok(source) => self.transport.send_snapshot(message, source),
                        Err(_) => {
                            let now = self.now();
                            self.member.handle_snapshot_sent(now, message.to, false);
                        }
                    }
                }
                Action::Respond {
                    token,
                    header,
                    result,
                } => {
                    if let Some(reply) = self.replies.remove(&token) {
                        let _ = reply.send((header, result));
                    }
                }
                Action::Watch { header, responses } => self.deliver_watch(header, responses),
                Action::Event(event) => {
                    if let MemberEvent::RoleChanged(role) = &event {
                        self.raft_stats.leader_known(role.leader);
                    }
                    if let MemberEvent::MemberAdded { id, peer_urls, .. } = &event {
                        self.transport.set_peer(*id, peer_urls);
                    }
                    if let MemberEvent::MemberRemoved { id } = &event {
                        self.transport.remove_peer(*id);
                        self.transport.set_removed(&self.member.removed_members());
                    }
                    if let MemberEvent::MemberUpdated { id, peer_urls } = &event {
                        self.transport.set_peer(*id, peer_urls);
                    }
                    if let MemberEvent::SnapshotInstalled { .. } = &event {
                        self.transport.set_removed(&self.member.removed_members());
                        // The roster came with the snapshot: talk to its members.
                        let own = self.member.id();
                        for member in self.member.members() {
                            if member.id != own {
                                self.transport.set_peer(member.id, &member.peer_urls);
                            }
                        }
                    }
                    if let MemberEvent::RemovedFromCluster = &event {
                        self.stop = Some(MEMBER_REMOVED.to_string());
                    }
                    if matches!(
                        event,
                        MemberEvent::MemberAdded { .. }
                            | MemberEvent::MemberRemoved { .. }
                            | MemberEvent::MemberPromoted { .. }
                            | MemberEvent::MemberUpdated { .. }
                            | MemberEvent::Published { .. }
                            | MemberEvent::MemberAttributes { .. }
                            | MemberEvent::SnapshotInstalled { .. }
                    ) {
                        self.transport.set_members(&self.member.members());
                    }
                    (self.on_event)(RuntimeEvent::Member(event));
                }
                disk @ (Action::WriteWal { .. }
                | Action::TruncateWal { .. }
                | Action::SaveSnapshot { .. }
                | Action::DeleteFiles { .. }) => self.disk.submit(disk),
            }
        }
    }
}
