//! Carrying out a scenario's fault schedule on the madsim cluster, and
//! undoing every fault for the liveness phase.
//!
//! A fault names members by number; the number picks among the members of
//! the moment (`Cluster::resolve`), so that faults keep hitting a cluster
//! whose membership changes. With the initial members only, member `i` is
//! slot `i`, as it always was.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::member::MemberInfo;
use cairn_core::raft::NodeId;
use cairn_runtime_sim::disk::SimStorage;
use cairn_runtime_sim::node::MemberExit;
use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, NodeHandle};
use tokio::sync::mpsc;

use super::members::{member_id, Launcher, Membership, MEMBER_SLOTS};
use super::World;
use crate::scenario::Fault;
use crate::trace::EventKind;

/// The default packet latency range.
const LATENCY_MS: std::ops::Range<u64> = 1..5;

/// Something to undo at a time.
#[derive(Debug)]
enum Undo {
    Unclog(Vec<(usize, usize)>),
    Restart(Vec<usize>),
    Resume(usize),
    PacketLoss,
    Latency,
    SlowDisk(usize),
    DiskFull(usize),
}

/// The members and the means to hurt them.
pub struct Cluster {
    handle: Handle,
    launcher: Launcher,
    /// Per slot: the member's madsim node and storage, once started.
    nodes: Vec<Option<(NodeHandle, SimStorage)>>,
    world: Arc<Mutex<World>>,
    paused: Vec<bool>,
    /// Pending undos, by time.
    undos: Vec<(u64, Undo)>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.launched())
            .finish()
    }
}

/// Runs the schedule until `end_ms`, undoing faults when they expire.
/// Membership changes go to the operator through `changes`, one at a time:
/// one that comes due while another is under way is skipped.
pub async fn run_schedule(
    cluster: &Mutex<Cluster>,
    faults: &[(u64, Fault)],
    end_ms: u64,
    changes: Option<mpsc::UnboundedSender<Fault>>,
) {
    let mut next = 0;
    loop {
        let next_fault = faults.get(next).map(|(at, _)| *at);
        let next_undo = cluster.lock().expect("cluster").next_undo();
        let at = match (next_fault, next_undo) {
            (Some(f), Some(u)) => f.min(u),
            (Some(f), None) => f,
            (None, Some(u)) => u,
            (None, None) => end_ms,
        };
        if at >= end_ms {
            sleep_until_ms(cluster, end_ms).await;
            return;
        }
        sleep_until_ms(cluster, at).await;
        let mut cluster = cluster.lock().expect("cluster");
        if next_undo == Some(at) {
            cluster.undo_due(at);
        } else {
            let (_, fault) = &faults[next];
            next += 1;
            match (&changes, fault.is_membership()) {
                (Some(changes), true) => cluster.hand_to_operator(fault, changes),
                (None, true) => {}
                (_, false) => cluster.inject(fault),
            }
        }
    }
}

async fn sleep_until_ms(cluster: &Mutex<Cluster>, at_ms: u64) {
    let now = cluster.lock().expect("cluster").now_ms();
    if at_ms > now {
        tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
    }
}

impl Cluster {
    pub fn new(handle: Handle, launcher: Launcher, world: Arc<Mutex<World>>) -> Cluster {
        Cluster {
            handle,
            launcher,
            nodes: (0..MEMBER_SLOTS).map(|_| None).collect(),
            world,
            paused: vec![false; MEMBER_SLOTS],
            undos: Vec::new(),
        }
    }

    /// Starts the member in `slot` on new storage (see
    /// [`Launcher::launch`]), which the harness then counts as `membership`.
    pub fn launch(
        &mut self,
        slot: usize,
        peers: Vec<(NodeId, MemberInfo)>,
        join_existing: bool,
        membership: Membership,
    ) {
        assert!(self.nodes[slot].is_none(), "slot {slot} is used once");
        self.world.lock().expect("world").membership[slot] = membership;
        self.nodes[slot] = Some(self.launcher.launch(slot, peers, join_existing));
    }

    /// Slots whose member was started, running or not.
    pub fn launched(&self) -> Vec<usize> {
        (0..MEMBER_SLOTS)
            .filter(|&slot| self.nodes[slot].is_some())
            .collect()
    }

    fn node(&self, slot: usize) -> &NodeHandle {
        &self.nodes[slot].as_ref().expect("a started member").0
    }

    fn storage(&self, slot: usize) -> &SimStorage {
        &self.nodes[slot].as_ref().expect("a started member").1
    }

    pub fn now_ms(&self) -> u64 {
        self.world.lock().expect("world").now_ms()
    }

    fn next_undo(&self) -> Option<u64> {
        self.undos.iter().map(|(at, _)| *at).min()
    }

    fn undo_due(&mut self, at: u64) {
        let index = self
            .undos
            .iter()
            .position(|(when, _)| *when == at)
            .expect("due undo");
        let (_, undo) = self.undos.remove(index);
        self.undo(undo);
    }

    fn hand_to_operator(&mut self, change: &Fault, changes: &mpsc::UnboundedSender<Fault>) {
        let mut world = self.world.lock().expect("world");
        if world.operator_busy {
            world.record(
                None,
                EventKind::Note(format!(
                    "{}: skipped, another membership change is under way",
                    change.kind()
                )),
            );
            return;
        }
        world.operator_busy = true;
        let _ = changes.send(change.clone());
    }

    /// The member a fault's number `node` stands for: one of the members
    /// of the moment (with the initial members only, slot `node` itself).
    fn resolve(&self, node: usize) -> Option<usize> {
        let members = self.world.lock().expect("world").members();
        (!members.is_empty()).then(|| members[node % members.len()])
    }

    fn note(&self, node: Option<usize>, fault: &Fault, description: String, until_ms: Option<u64>) {
        self.world.lock().expect("world").record(
            node.map(|n| n as u64 + 1),
            EventKind::Fault {
                kind: fault.kind(),
                description,
                until_ms,
            },
        );
    }

    fn net(&self) -> Arc<NetSim> {
        NetSim::current()
    }

    fn link(&self, a: usize, b: usize, clog: bool) {
        let (a, b) = (self.node(a).id(), self.node(b).id());
        if clog {
            self.net().clog_link(a, b);
        } else {
            self.net().unclog_link(a, b);
        }
    }

    fn is_down(&self, node: usize) -> bool {
        self.world.lock().expect("world").down[node]
    }

    /// A partition's minority among the members of the moment: still a
    /// minority (with the initial members only, `minority` itself).
    fn resolve_minority(&self, minority: &[usize]) -> Vec<usize> {
        let members = self.world.lock().expect("world").members().len();
        let mut resolved: Vec<usize> = Vec::new();
        for node in minority.iter().filter_map(|&node| self.resolve(node)) {
            if !resolved.contains(&node) {
                resolved.push(node);
            }
        }
        resolved.truncate(members.saturating_sub(1) / 2);
        resolved
    }

    pub fn inject(&mut self, fault: &Fault) {
        let now = self.now_ms();
        match fault {
            Fault::Partition { minority, ms } => {
                let minority = self.resolve_minority(minority);
                if minority.is_empty() {
                    return;
                }
                let cut = self.cut(&minority);
                self.note(None, fault, format!("{minority:?} apart"), Some(now + ms));
                self.undos.push((now + ms, Undo::Unclog(cut)));
            }
            Fault::IsolateLeader { ms } => {
                let leader = self.world.lock().expect("world").leader();
                if let Some(leader) = leader {
                    let cut = self.cut(&[leader]);
                    self.note(Some(leader), fault, "leader cut off".into(), Some(now + ms));
                    self.undos.push((now + ms, Undo::Unclog(cut)));
                }
            }
            Fault::OneWay { from, to, ms } => {
                let (Some(from), Some(to)) = (self.resolve(*from), self.resolve(*to)) else {
                    return;
                };
                if from == to {
                    return;
                }
                self.link(from, to, true);
                self.note(
                    Some(from),
                    fault,
                    format!("m{} -> m{} lost", from + 1, to + 1),
                    Some(now + ms),
                );
                self.undos.push((now + ms, Undo::Unclog(vec![(from, to)])));
            }
            Fault::Crash { node, ms } => {
                let Some(node) = self.resolve(*node) else {
                    return;
                };
                if self.crash(node) {
                    self.note(Some(node), fault, "killed".into(), Some(now + ms));
                    self.undos.push((now + ms, Undo::Restart(vec![node])));
                }
            }
            Fault::PowerLoss { ms } => {
                let members = self.world.lock().expect("world").members();
                let crashed: Vec<usize> = members.into_iter().filter(|i| self.crash(*i)).collect();
                self.note(
                    None,
                    fault,
                    format!("{crashed:?} lose power"),
                    Some(now + ms),
                );
                self.undos.push((now + ms, Undo::Restart(crashed)));
            }
            Fault::Pause { node, ms } => {
                let Some(node) = self.resolve(*node) else {
                    return;
                };
                if !self.is_down(node) && !self.paused[node] {
                    self.handle.pause(self.node(node).id());
                    self.paused[node] = true;
                    self.note(Some(node), fault, "paused".into(), Some(now + ms));
                    self.undos.push((now + ms, Undo::Resume(node)));
                }
            }
            Fault::PacketLoss { per_mille, ms } => {
                let rate = f64::from(*per_mille) / 1000.0;
                self.net().update_config(|c| c.packet_loss_rate = rate);
                self.note(None, fault, format!("{per_mille}‰ lost"), Some(now + ms));
                self.undos.push((now + ms, Undo::PacketLoss));
            }
            Fault::Latency { max_latency_ms, ms } => {
                let max = *max_latency_ms;
                self.net().update_config(|c| {
                    c.send_latency = Duration::from_millis(1)..Duration::from_millis(max)
                });
                self.note(None, fault, format!("up to {max}ms"), Some(now + ms));
                self.undos.push((now + ms, Undo::Latency));
            }
            Fault::SlowDisk { node, ms } => {
                let Some(node) = self.resolve(*node) else {
                    return;
                };
                self.storage(node).faults.lock().expect("faults").slow = true;
                self.note(Some(node), fault, "slow fsync".into(), Some(now + ms));
                self.undos.push((now + ms, Undo::SlowDisk(node)));
            }
            Fault::DiskFull { node, ms } => {
                let Some(node) = self.resolve(*node) else {
                    return;
                };
                self.storage(node).faults.lock().expect("faults").full = true;
                self.note(Some(node), fault, "ENOSPC".into(), Some(now + ms));
                self.undos.push((now + ms, Undo::DiskFull(node)));
            }
            Fault::Corrupt { node } => {
                let Some(node) = self.resolve(*node) else {
                    return;
                };
                if self.crash(node) {
                    let mut random = |n: u64| thread_rng().gen_range(0..n.max(1));
                    let flipped = self
                        .storage(node)
                        .fs
                        .lock()
                        .expect("fs")
                        .flip_wal_bit(&mut random);
                    let description = match &flipped {
                        Some((file, at)) => format!("bit flipped in {file} at byte {at}"),
                        None => "WAL too short to corrupt".to_string(),
                    };
                    self.note(Some(node), fault, description, None);
                    self.restart(node);
                }
            }
            Fault::AddMember { .. }
            | Fault::PromoteLearner
            | Fault::RemoveFollower { .. }
            | Fault::RemoveLeader
            | Fault::ReplaceDown { .. }
            | Fault::MoveLeader { .. } => {
                unreachable!("membership changes go to the operator")
            }
        }
    }

    /// Clogs every link between `side` and the rest, both ways.
    fn cut(&self, side: &[usize]) -> Vec<(usize, usize)> {
        let mut cut = Vec::new();
        for &a in side {
            for b in self.launched().into_iter().filter(|b| !side.contains(b)) {
                self.link(a, b, true);
                self.link(b, a, true);
                cut.push((a, b));
                cut.push((b, a));
            }
        }
        cut
    }

    /// Kills a running member and applies a power loss to its disk. Returns
    /// false if it was already down (or refused to start, or was removed).
    pub fn crash(&mut self, node: usize) -> bool {
        let refused = {
            let world = self.world.lock().expect("world");
            world.down[node]
                || matches!(
                    world.exits[node],
                    Some(MemberExit::Refused(_) | MemberExit::Removed)
                )
        };
        if refused {
            return false;
        }
        self.handle.kill(self.node(node).id());
        self.paused[node] = false;
        let mut random = |n: u64| thread_rng().gen_range(0..n.max(1));
        let report = self.storage(node).fs.lock().expect("fs").crash(&mut random);
        let mut world = self.world.lock().expect("world");
        world.down[node] = true;
        world.roles[node].0 = "Down".to_string();
        world.record(
            Some(node as u64 + 1),
            EventKind::Note(format!(
                "crash: {} unsynced writes kept, {} lost{}",
                report.kept_writes,
                report.lost_writes,
                if report.torn { ", last one torn" } else { "" }
            )),
        );
        true
    }

    /// Starts a member again, unless it refused to start before or has been
    /// removed from the cluster (a removed member never runs again with its
    /// old data).
    fn restart(&mut self, node: usize) {
        let mut world = self.world.lock().expect("world");
        if matches!(
            world.exits[node],
            Some(MemberExit::Refused(_) | MemberExit::Removed)
        ) || world.membership[node] == Membership::Removed
        {
            return;
        }
        world.down[node] = false;
        world.exits[node] = None;
        world.incarnations[node] += 1;
        world.record(Some(node as u64 + 1), EventKind::Up);
        drop(world);
        self.paused[node] = false;
        // Killing first also unbinds the old incarnation's sockets (a member
        // that stopped on its own left them bound).
        self.handle.kill(self.node(node).id());
        self.handle.restart(self.node(node).id());
    }

    fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Unclog(links) => {
                for (a, b) in links {
                    self.link(a, b, false);
                }
            }
            Undo::Restart(nodes) => {
                for node in nodes {
                    if self.is_down(node) {
                        self.restart(node);
                    }
                }
            }
            Undo::Resume(node) => {
                if self.paused[node] {
                    self.paused[node] = false;
                    self.handle.resume(self.node(node).id());
                }
            }
            Undo::PacketLoss => self.net().update_config(|c| c.packet_loss_rate = 0.0),
            Undo::Latency => self.net().update_config(|c| {
                c.send_latency =
                    Duration::from_millis(LATENCY_MS.start)..Duration::from_millis(LATENCY_MS.end)
            }),
            Undo::SlowDisk(node) => self.storage(node).faults.lock().expect("faults").slow = false,
            Undo::DiskFull(node) => {
                self.storage(node).faults.lock().expect("faults").full = false;
                // A member that hit ENOSPC stopped; the operator freed space
                // and starts it again.
                let stopped = matches!(
                    self.world.lock().expect("world").exits[node],
                    Some(MemberExit::Fatal(_))
                );
                if stopped {
                    self.world.lock().expect("world").down[node] = true;
                    self.restart(node);
                }
            }
        }
    }

    /// Undoes every fault: links, loss, latency, disks, pauses, and starts
    /// every member that is down (except one that refused its storage). A
    /// removed member that still runs (it never learned of its removal) is
    /// shut down, as an operator would.
    pub fn heal_all(&mut self) {
        let launched = self.launched();
        for &a in &launched {
            for &b in &launched {
                if a != b {
                    self.link(a, b, false);
                }
            }
        }
        for (_, undo) in std::mem::take(&mut self.undos) {
            if !matches!(undo, Undo::Unclog(_)) {
                self.undo(undo);
            }
        }
        for node in launched {
            self.storage(node).faults.lock().expect("faults").slow = false;
            self.storage(node).faults.lock().expect("faults").full = false;
            let (down, stopped, removed) = {
                let world = self.world.lock().expect("world");
                (
                    world.down[node],
                    matches!(world.exits[node], Some(MemberExit::Fatal(_))),
                    world.membership[node] == Membership::Removed,
                )
            };
            if removed {
                self.shut_down_removed(node);
            } else if down || stopped {
                self.world.lock().expect("world").down[node] = true;
                self.restart(node);
            }
        }
        self.world
            .lock()
            .expect("world")
            .record(None, EventKind::Note("all faults healed".into()));
    }

    /// Stops a removed member that is still running.
    pub fn shut_down_removed(&mut self, node: usize) {
        let mut world = self.world.lock().expect("world");
        if world.down[node] || world.exits[node].is_some() {
            return;
        }
        world.down[node] = true;
        world.roles[node].0 = "Down".to_string();
        world.record(
            Some(member_id(node)),
            EventKind::Note(
                "removed, yet still running (it never applied its removal): shut down".into(),
            ),
        );
        drop(world);
        self.paused[node] = false;
        self.handle.kill(self.node(node).id());
    }
}
