//! The driver: one task that feeds the member its inputs (client requests,
//! peer messages, disk completions, transport reports, ticks) and carries out
//! its actions. It holds no protocol logic: every decision is the member's.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_core::member::{
    Action, ClientError, ClientRequest, ClientResponse, ClientToken, Header, Member, MemberEvent,
};
use cairn_core::time::Instant;
use tokio::sync::{mpsc, oneshot};

use crate::disk::DiskDone;
use crate::transport::{Inbound, TransportReport};

/// Where the driver sends disk actions: the real disk worker, or a simulated
/// disk. Actions must be carried out in the order submitted, each reported
/// back as a [`DiskDone`] on the driver's channel.
pub trait Disk: Send + 'static {
    fn submit(&mut self, action: Action);
    /// Where the bytes of saved snapshot file `name` can be read, to stream
    /// them to a follower.
    fn snapshot_source(&mut self, name: &str) -> std::io::Result<crate::transport::SnapshotSource>;
}

/// Where the driver sends peer messages: the TCP transport, or a simulated
/// network. Delivery failures come back as [`TransportReport`]s.
pub trait Network: Send + 'static {
    fn send(&mut self, message: cairn_core::raft::Message);
    fn send_snapshot(
        &mut self,
        message: cairn_core::raft::Message,
        snapshot: crate::transport::SnapshotSource,
    );
    fn set_peer(&mut self, id: cairn_core::raft::NodeId, peer_urls: &[String]);
    fn remove_peer(&mut self, id: cairn_core::raft::NodeId);
}

/// How long an fdatasync may take before it is reported as slow (etcd's
/// warning threshold).
pub const SLOW_FSYNC: Duration = Duration::from_secs(1);
/// Inputs taken in one go before actions are carried out: lets concurrent
/// requests share one WAL write and one read round.
pub const INPUT_BATCH: usize = 512;

/// The answer to a client request.
pub type Reply = (Header, Result<ClientResponse, ClientError>);

struct ClientInput {
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
}

impl MemberHandle {
    /// Submits a request and waits for its answer.
    pub async fn request(&self, request: ClientRequest) -> Reply {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(ClientInput { request, reply }).is_err() {
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
    next_token: ClientToken,
    origin: tokio::time::Instant,
    on_event: Box<dyn FnMut(RuntimeEvent) + Send>,
}

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
    /// A driver for `member`, whose clock started at `origin` (the instant
    /// `Instant::ZERO` stands for).
    pub fn new(
        member: Member,
        disk: D,
        transport: N,
        parts: DriverParts,
        origin: tokio::time::Instant,
        on_event: Box<dyn FnMut(RuntimeEvent) + Send>,
    ) -> (Driver<D, N>, MemberHandle) {
        let (tx, clients) = mpsc::unbounded_channel();
        let driver = Driver {
            member,
            disk,
            disk_done: parts.disk_done,
            transport,
            reports: parts.reports,
            inbound: parts.inbound,
            clients,
            replies: BTreeMap::new(),
            next_token: 1,
            origin,
            on_event,
        };
        (driver, MemberHandle { tx })
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    /// Runs until a fatal error; returns its description.
    pub async fn run(mut self) -> String {
        self.execute_actions();
        loop {
            let deadline =
                self.origin + Duration::from_millis(self.member.next_deadline().as_millis());
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
                    self.member.handle_message(now, inbound.message, inbound.snapshot);
                }
                Some(report) = self.reports.recv() => self.on_report(report),
                Some(input) = self.clients.recv() => self.on_client(input),
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
                    self.member
                        .handle_message(now, inbound.message, inbound.snapshot);
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
            self.execute_actions();
        }
    }

    fn on_client(&mut self, input: ClientInput) {
        let token = self.next_token;
        self.next_token += 1;
        self.replies.insert(token, input.reply);
        let now = self.now();
        self.member.handle_client(now, token, input.request);
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
        }
    }

    fn execute_actions(&mut self) {
        while let Some(action) = self.member.poll_action() {
            match action {
                Action::Send(message) => self.transport.send(message),
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
                Action::Event(event) => {
                    if let MemberEvent::MemberAdded { id, peer_urls, .. } = &event {
                        self.transport.set_peer(*id, peer_urls);
                    }
                    if let MemberEvent::MemberRemoved { id } = &event {
                        self.transport.remove_peer(*id);
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
