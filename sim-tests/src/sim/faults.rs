//! Carrying out a scenario's fault schedule on the madsim cluster, and
//! undoing every fault for the liveness phase.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_runtime_sim::disk::SimStorage;
use cairn_runtime_sim::node::MemberExit;
use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, NodeHandle};

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
    nodes: Vec<NodeHandle>,
    storages: Vec<SimStorage>,
    world: Arc<Mutex<World>>,
    paused: Vec<bool>,
    /// Pending undos, by time.
    undos: Vec<(u64, Undo)>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

impl Cluster {
    pub fn new(
        handle: Handle,
        nodes: Vec<NodeHandle>,
        storages: Vec<SimStorage>,
        world: Arc<Mutex<World>>,
    ) -> Cluster {
        let paused = vec![false; nodes.len()];
        Cluster {
            handle,
            nodes,
            storages,
            world,
            paused,
            undos: Vec::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.world.lock().expect("world").now_ms()
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

    async fn sleep_until_ms(&self, at_ms: u64) {
        let now = self.now_ms();
        if at_ms > now {
            tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
        }
    }

    /// Runs the schedule until `end_ms`, undoing faults when they expire.
    pub async fn run_schedule(&mut self, faults: &[(u64, Fault)], end_ms: u64) {
        let mut next = 0;
        loop {
            let next_fault = faults.get(next).map(|(at, _)| *at);
            let next_undo = self.undos.iter().map(|(at, _)| *at).min();
            let at = match (next_fault, next_undo) {
                (Some(f), Some(u)) => f.min(u),
                (Some(f), None) => f,
                (None, Some(u)) => u,
                (None, None) => end_ms,
            };
            if at >= end_ms {
                self.sleep_until_ms(end_ms).await;
                return;
            }
            self.sleep_until_ms(at).await;
            if next_undo == Some(at) {
                let index = self
                    .undos
                    .iter()
                    .position(|(when, _)| *when == at)
                    .expect("due undo");
                let (_, undo) = self.undos.remove(index);
                self.undo(undo);
            } else {
                let (_, fault) = &faults[next];
                next += 1;
                self.inject(fault);
            }
        }
    }

    fn net(&self) -> Arc<NetSim> {
        NetSim::current()
    }

    fn link(&self, a: usize, b: usize, clog: bool) {
        let (a, b) = (self.nodes[a].id(), self.nodes[b].id());
        if clog {
            self.net().clog_link(a, b);
        } else {
            self.net().unclog_link(a, b);
        }
    }

    fn is_down(&self, node: usize) -> bool {
        self.world.lock().expect("world").down[node]
    }

    fn inject(&mut self, fault: &Fault) {
        let now = self.now_ms();
        let n = self.nodes.len();
        match fault {
            Fault::Partition { minority, ms } => {
                let cut = self.cut(minority);
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
                self.link(*from, *to, true);
                self.note(
                    Some(*from),
                    fault,
                    format!("m{} -> m{} lost", from + 1, to + 1),
                    Some(now + ms),
                );
                self.undos
                    .push((now + ms, Undo::Unclog(vec![(*from, *to)])));
            }
            Fault::Crash { node, ms } => {
                if self.crash(*node) {
                    self.note(Some(*node), fault, "killed".into(), Some(now + ms));
                    self.undos.push((now + ms, Undo::Restart(vec![*node])));
                }
            }
            Fault::PowerLoss { ms } => {
                let crashed: Vec<usize> = (0..n).filter(|i| self.crash(*i)).collect();
                self.note(
                    None,
                    fault,
                    format!("{crashed:?} lose power"),
                    Some(now + ms),
                );
                self.undos.push((now + ms, Undo::Restart(crashed)));
            }
            Fault::Pause { node, ms } => {
                if !self.is_down(*node) && !self.paused[*node] {
                    self.handle.pause(self.nodes[*node].id());
                    self.paused[*node] = true;
                    self.note(Some(*node), fault, "paused".into(), Some(now + ms));
                    self.undos.push((now + ms, Undo::Resume(*node)));
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
                self.storages[*node].faults.lock().expect("faults").slow = true;
                self.note(Some(*node), fault, "slow fsync".into(), Some(now + ms));
                self.undos.push((now + ms, Undo::SlowDisk(*node)));
            }
            Fault::DiskFull { node, ms } => {
                self.storages[*node].faults.lock().expect("faults").full = true;
                self.note(Some(*node), fault, "ENOSPC".into(), Some(now + ms));
                self.undos.push((now + ms, Undo::DiskFull(*node)));
            }
            Fault::Corrupt { node } => {
                if self.crash(*node) {
                    let mut random = |n: u64| thread_rng().gen_range(0..n.max(1));
                    let flipped = self.storages[*node]
                        .fs
                        .lock()
                        .expect("fs")
                        .flip_wal_bit(&mut random);
                    let description = match &flipped {
                        Some((file, at)) => format!("bit flipped in {file} at byte {at}"),
                        None => "WAL too short to corrupt".to_string(),
                    };
                    self.note(Some(*node), fault, description, None);
                    self.restart(*node);
                }
            }
        }
    }

    /// Clogs every link between `side` and the rest, both ways.
    fn cut(&self, side: &[usize]) -> Vec<(usize, usize)> {
        let mut cut = Vec::new();
        for &a in side {
            for b in (0..self.nodes.len()).filter(|b| !side.contains(b)) {
                self.link(a, b, true);
                self.link(b, a, true);
                cut.push((a, b));
                cut.push((b, a));
            }
        }
        cut
    }

    /// Kills a running member and applies a power loss to its disk. Returns
    /// false if it was already down (or refused to start).
    fn crash(&mut self, node: usize) -> bool {
        let refused = {
            let world = self.world.lock().expect("world");
            world.down[node] || matches!(world.exits[node], Some(MemberExit::Refused(_)))
        };
        if refused {
            return false;
        }
        self.handle.kill(self.nodes[node].id());
        self.paused[node] = false;
        let mut random = |n: u64| thread_rng().gen_range(0..n.max(1));
        let report = self.storages[node]
            .fs
            .lock()
            .expect("fs")
            .crash(&mut random);
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

    /// Starts a member again (unless it refused to start before).
    fn restart(&mut self, node: usize) {
        let mut world = self.world.lock().expect("world");
        if matches!(world.exits[node], Some(MemberExit::Refused(_))) {
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
        self.handle.kill(self.nodes[node].id());
        self.handle.restart(self.nodes[node].id());
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
                    self.handle.resume(self.nodes[node].id());
                }
            }
            Undo::PacketLoss => self.net().update_config(|c| c.packet_loss_rate = 0.0),
            Undo::Latency => self.net().update_config(|c| {
                c.send_latency =
                    Duration::from_millis(LATENCY_MS.start)..Duration::from_millis(LATENCY_MS.end)
            }),
            Undo::SlowDisk(node) => self.storages[node].faults.lock().expect("faults").slow = false,
            Undo::DiskFull(node) => {
                self.storages[node].faults.lock().expect("faults").full = false;
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
    /// every member that is down (except one that refused its storage).
    pub async fn heal_all(&mut self) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
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
        for node in 0..n {
            self.storages[node].faults.lock().expect("faults").slow = false;
            self.storages[node].faults.lock().expect("faults").full = false;
            let (down, stopped) = {
                let world = self.world.lock().expect("world");
                (
                    world.down[node],
                    matches!(world.exits[node], Some(MemberExit::Fatal(_))),
                )
            };
            if down || stopped {
                self.world.lock().expect("world").down[node] = true;
                self.restart(node);
            }
        }
        self.world
            .lock()
            .expect("world")
            .record(None, EventKind::Note("all faults healed".into()));
    }
}
