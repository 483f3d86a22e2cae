//! A deterministic in-memory network of Raft nodes for tests.
//!
//! Each node is a `RawNode` driven exactly as a runtime must drive it (see the
//! contract on `RawNode`): writes complete asynchronously and in order after a
//! random latency, messages that wait for a write are held until it is
//! durable, committed entries are applied to a toy state machine (the list of
//! applied payloads), and snapshots are taken and logs compacted. The network
//! drops, delays (and so reorders), duplicates and partitions messages; nodes
//! crash (losing writes not yet durable and messages not yet sent) and restart
//! from their durable state. One seed drives everything.
//!
//! After every step the checker asserts Raft's safety properties (Figure 3 of
//! the paper): election safety, log matching, leader completeness and
//! state-machine safety, plus ReadIndex safety (a read point is never below an
//! entry applied anywhere before the read was asked for).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use cairn_core::raft::*;
use cairn_core::time::Instant;

/// SplitMix64: the test's only source of randomness.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A value in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// True with probability `percent`%.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len() as u64) as usize])
        }
    }
}

/// The toy state machine: the payloads of applied normal entries with their
/// index and term.
pub type AppState = Vec<(u64, u64, Bytes)>;

/// What survives a crash.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    pub hard_state: HardState,
    pub snapshot: SnapshotMeta,
    pub snapshot_state: AppState,
    pub entries: Vec<Entry>,
}

impl Disk {
    fn apply_write(&mut self, write: &Write, received: Option<&AppState>) {
        if let Some(meta) = &write.snapshot {
            self.snapshot = meta.clone();
            self.snapshot_state = received
                .cloned()
                .expect("snapshot bytes arrive with the message");
            self.entries.clear();
        }
        if let Some(first) = write.entries.first() {
            self.entries.retain(|e| e.index < first.index);
            self.entries.extend(write.entries.iter().cloned());
        }
        if let Some(hard_state) = write.hard_state {
            self.hard_state = hard_state;
        }
    }
}

struct PendingWrite {
    write: Write,
    received_snapshot: Option<AppState>,
    done_at_ms: u64,
}

pub struct SimNode {
    pub id: NodeId,
    pub raft: Option<RawNode>,
    pub disk: Disk,
    pub app: AppState,
    pub applied: u64,
    writes: VecDeque<PendingWrite>,
    held: Vec<(WriteId, Message)>,
    /// Snapshot payloads received over the network, by snapshot index.
    received_snapshots: BTreeMap<u64, AppState>,
    pub initial_member: bool,
    pub crashes: u64,
}

struct InFlight {
    deliver_at_ms: u64,
    seq: u64,
    message: Message,
    snapshot_state: Option<AppState>,
}

/// How hostile the environment is.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub drop_percent: u64,
    pub duplicate_percent: u64,
    pub max_delay_ms: u64,
    pub max_write_ms: u64,
    /// Per step, chance (in 1/1000) to crash a node.
    pub crash_permille: u64,
    pub partition_permille: u64,
    pub conf_change_permille: u64,
    pub transfer_permille: u64,
}

impl Faults {
    pub fn none() -> Faults {
        Faults {
            drop_percent: 0,
            duplicate_percent: 0,
            max_delay_ms: 5,
            max_write_ms: 5,
            crash_permille: 0,
            partition_permille: 0,
            conf_change_permille: 0,
            transfer_permille: 0,
        }
    }

    pub fn random(rng: &mut Rng) -> Faults {
        Faults {
            drop_percent: rng.below(20),
            duplicate_percent: rng.below(10),
            max_delay_ms: 1 + rng.below(60),
            max_write_ms: 1 + rng.below(40),
            crash_permille: rng.below(15),
            partition_permille: rng.below(20),
            conf_change_permille: rng.below(15),
            transfer_permille: rng.below(8),
        }
    }
}

/// Counts of what a run did, for reports.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub proposals: u64,
    pub applied_max: u64,
    pub elections: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub conf_changes: u64,
    pub transfers: u64,
    pub reads_confirmed: u64,
    pub snapshots_sent: u64,
    pub messages: u64,
}

pub struct Cluster {
    pub nodes: BTreeMap<NodeId, SimNode>,
    pub rng: Rng,
    pub now_ms: u64,
    pub faults: Faults,
    seed: u64,
    network: Vec<InFlight>,
    next_seq: u64,
    /// Directed links that are cut.
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Election safety: the one leader of each term.
    leaders: BTreeMap<u64, NodeId>,
    /// State-machine safety: what was applied at each index, anywhere.
    applied_anywhere: BTreeMap<u64, (u64, Bytes)>,
    /// Reads asked for and not answered: id → highest index applied anywhere
    /// when the read was asked.
    reads: BTreeMap<ReadId, u64>,
    next_read: ReadId,
    next_payload: u64,
    next_node_id: NodeId,
    pub stats: Stats,
    pub snapshot_every: u64,
    pub trace: Vec<String>,
    pub keep_trace: bool,
}

fn config(id: NodeId, seed: u64) -> Config {
    let mut config = Config::new(id, seed);
    // Half the clusters run without pre-vote (etcd 3.4's default).
    config.pre_vote = seed.is_multiple_of(2);
    // Small messages and windows exercise flow control and probing.
    config.max_message_bytes = 256;
    config.max_inflight_messages = 4;
    config
}

impl Cluster {
    /// A new cluster of `size` voters, all bootstrapped together.
    pub fn new(seed: u64, size: u64, faults: Faults) -> Cluster {
        let members: Vec<(NodeId, Bytes)> = (1..=size)
            .map(|id| (id, Bytes::from(format!("n{id}"))))
            .collect();
        let mut nodes = BTreeMap::new();
        for &(id, _) in &members {
            let raft = RawNode::bootstrap(config(id, seed), &members, Instant::ZERO)
                .expect("valid config");
            nodes.insert(id, SimNode::new(id, Some(raft), true));
        }
        Cluster {
            nodes,
            rng: Rng::new(seed ^ 0xC0FF_EE00),
            now_ms: 0,
            faults,
            seed,
            network: Vec::new(),
            next_seq: 0,
            cut: BTreeSet::new(),
            leaders: BTreeMap::new(),
            applied_anywhere: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read: 1,
            next_payload: 1,
            next_node_id: size + 1,
            stats: Stats::default(),
            snapshot_every: 20,
            trace: Vec::new(),
            keep_trace: false,
        }
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if self.keep_trace {
            let line = format!("{:>7}ms {}", self.now_ms, line());
            self.trace.push(line);
        }
    }

    pub fn live(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.raft.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    pub fn leader(&self) -> Option<NodeId> {
        // The leader of the highest term among live nodes that believe they lead.
        self.nodes
            .values()
            .filter_map(|n| n.raft.as_ref())
            .filter(|r| r.role() == Role::Leader)
            .max_by_key(|r| r.term())
            .map(|r| r.id())
    }

    /// Advances simulated time by `ms`, one millisecond-granular step at a
    /// time, delivering messages, completing writes and ticking nodes, then
    /// drives every node to quiescence. Panics on any safety violation.
    pub fn advance(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += 1;
            self.complete_writes();
            self.deliver_messages();
            let now = Instant::from_millis(self.now_ms);
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                if let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
                    if raft.next_deadline() <= now {
                        raft.tick(now);
                    }
                }
            }
            self.process_all();
        }
        self.check_safety();
    }

    fn complete_writes(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            loop {
                let now = self.now_ms;
                let node = self.nodes.get_mut(&id).expect("exists");
                if node.raft.is_none() {
                    break;
                }
                let due = node.writes.front().is_some_and(|w| w.done_at_ms <= now);
                if !due {
                    break;
                }
                let pending = node.writes.pop_front().expect("checked");
                node.disk
                    .apply_write(&pending.write, pending.received_snapshot.as_ref());
                let id_done = pending.write.id;
                node.raft.as_mut().expect("live").handle_persisted(id_done);
                let (release, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut node.held)
                    .into_iter()
                    .partition(|(w, _)| *w <= id_done);
                node.held = keep;
                for (_, message) in release {
                    self.transmit(message);
                }
                self.process_node(id);
            }
        }
    }

    fn deliver_messages(&mut self) {
        let now = self.now_ms;
        let mut due: Vec<InFlight> = Vec::new();
        let mut index = 0;
        while index < self.network.len() {
            if self.network[index].deliver_at_ms <= now {
                due.push(self.network.swap_remove(index));
            } else {
                index += 1;
            }
        }
        due.sort_by_key(|m| (m.deliver_at_ms, m.seq));
        for flight in due {
            let to = flight.message.to;
            let from = flight.message.from;
            let is_snapshot = matches!(flight.message.body, MessageBody::Snapshot { .. });
            let delivered = self.deliver(flight);
            if is_snapshot {
                // The transport tells the sender how the snapshot stream ended.
                self.report_snapshot(from, to, delivered);
            }
        }
    }

    fn report_snapshot(&mut self, from: NodeId, to: NodeId, delivered: bool) {
        if let Some(raft) = self.nodes.get_mut(&from).and_then(|n| n.raft.as_mut()) {
            raft.report_snapshot(to, delivered);
            self.process_node(from);
        }
    }

    fn deliver(&mut self, flight: InFlight) -> bool {
        let to = flight.message.to;
        if self.cut.contains(&(flight.message.from, to)) {
            return false;
        }
        let Some(node) = self.nodes.get_mut(&to) else {
            return false;
        };
        let Some(raft) = node.raft.as_mut() else {
            return false;
        };
        if let (MessageBody::Snapshot { meta }, Some(state)) =
            (&flight.message.body, flight.snapshot_state)
        {
            node.received_snapshots.insert(meta.index, state);
        }
        raft.handle_message(flight.message);
        self.process_node(to);
        true
    }

    /// Puts a message on the wire (subject to drops, duplicates and delay).
    fn transmit(&mut self, message: Message) {
        self.stats.messages += 1;
        if self.rng.chance(self.faults.drop_percent) {
            if let MessageBody::Snapshot { .. } = message.body {
                self.report_snapshot(message.from, message.to, false);
            }
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate_percent) {
            2
        } else {
            1
        };
        let snapshot_state = match &message.body {
            MessageBody::Snapshot { meta } => {
                self.stats.snapshots_sent += 1;
                let sender = &self.nodes[&message.from];
                assert_eq!(
                    sender.disk.snapshot.index, meta.index,
                    "a leader sends its latest durable snapshot"
                );
                Some(sender.disk.snapshot_state.clone())
            }
            _ => None,
        };
        for _ in 0..copies {
            let delay = 1 + self.rng.below(self.faults.max_delay_ms);
            self.next_seq += 1;
            self.network.push(InFlight {
                deliver_at_ms: self.now_ms + delay,
                seq: self.next_seq,
                message: message.clone(),
                snapshot_state: snapshot_state.clone(),
            });
        }
    }

    pub fn process_all(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.process_node(id);
        }
    }

    /// Drives one node's readies as a runtime would.
    fn process_node(&mut self, id: NodeId) {
        loop {
            let node = self.nodes.get_mut(&id).expect("exists");
            let Some(raft) = node.raft.as_mut() else {
                return;
            };
            let Some(ready) = raft.poll_ready() else {
                break;
            };
            self.handle_ready(id, ready);
        }
        self.maybe_snapshot(id);
    }

    fn handle_ready(&mut self, id: NodeId, ready: Ready) {
        if let Some(role) = ready.role {
            self.note(|| {
                format!(
                    "n{id} {:?} term {} leader {}",
                    role.role, role.term, role.leader
                )
            });
            if role.role == Role::Leader {
                self.stats.elections += 1;
                if let Some(&other) = self.leaders.get(&role.term) {
                    assert_eq!(
                        other, id,
                        "election safety: two leaders ({other}, {id}) in term {}",
                        role.term
                    );
                }
                self.leaders.insert(role.term, id);
                self.check_leader_completeness(id);
            }
        }
        let now = self.now_ms;
        let write_ms = self.faults.max_write_ms;
        let latency = 1 + self.rng.below(write_ms);
        let node = self.nodes.get_mut(&id).expect("exists");
        if let Some(write) = ready.write {
            let received_snapshot = write.snapshot.as_ref().map(|meta| {
                node.received_snapshots
                    .remove(&meta.index)
                    .expect("a snapshot to install arrived with its bytes")
            });
            if let Some(state) = &received_snapshot {
                // Load the application state from the snapshot.
                node.app = state.clone();
                node.applied = write.snapshot.as_ref().expect("checked").index;
            }
            let done_at_ms = node
                .writes
                .back()
                .map_or(now, |w| w.done_at_ms)
                .max(now + latency);
            node.writes.push_back(PendingWrite {
                write,
                received_snapshot,
                done_at_ms,
            });
        }
        let mut to_send = Vec::new();
        for outgoing in ready.messages {
            match outgoing.after {
                Some(write) if node.writes.iter().any(|w| w.write.id <= write) => {
                    node.held.push((write, outgoing.message))
                }
                _ => to_send.push(outgoing.message),
            }
        }
        let mut applied = Vec::new();
        for entry in ready.committed_entries {
            assert_eq!(
                entry.index,
                node.applied + 1,
                "n{id}: entries are applied in order, without gaps"
            );
            node.applied = entry.index;
            if entry.kind == EntryKind::Normal && !entry.data.is_empty() {
                node.app.push((entry.index, entry.term, entry.data.clone()));
            }
            applied.push(entry);
        }
        let applied_index = node.applied;
        for read in ready.read_states {
            let asked_at = self
                .reads
                .remove(&read.id)
                .expect("answer to a read that was asked");
            assert!(
                read.index >= asked_at,
                "read index {} is below index {asked_at} applied before the read was asked",
                read.index
            );
            self.stats.reads_confirmed += 1;
        }
        for failed in ready.failed_reads {
            self.reads.remove(&failed);
        }
        for entry in applied {
            self.record_applied(id, &entry);
        }
        self.stats.applied_max = self.stats.applied_max.max(applied_index);
        for message in to_send {
            self.transmit(message);
        }
    }

    /// State-machine safety: no two nodes apply different entries at an index.
    fn record_applied(&mut self, id: NodeId, entry: &Entry) {
        match self.applied_anywhere.get(&entry.index) {
            Some((term, data)) => assert!(
                *term == entry.term && *data == entry.data,
                "state-machine safety: n{id} applied ({}, term {}) but (term {term}) was applied elsewhere",
                entry.index,
                entry.term
            ),
            None => {
                self.applied_anywhere.insert(entry.index, (entry.term, entry.data.clone()));
            }
        }
    }

    /// Leader completeness: a new leader holds every entry applied anywhere.
    fn check_leader_completeness(&self, id: NodeId) {
        let raft = self.nodes[&id].raft.as_ref().expect("live");
        for (&index, (term, _)) in self.applied_anywhere.range(raft.first_index()..) {
            assert_eq!(
                raft.log_term(index),
                Some(*term),
                "leader completeness: new leader n{id} of term {} lacks committed entry {index} (term {term})",
                raft.term()
            );
        }
    }

    /// Takes a snapshot every `snapshot_every` applied entries and compacts the
    /// log behind it, keeping a few entries for slow followers.
    fn maybe_snapshot(&mut self, id: NodeId) {
        let every = self.snapshot_every;
        let node = self.nodes.get_mut(&id).expect("exists");
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        if node.applied != raft.applied() || node.applied < node.disk.snapshot.index + every {
            return;
        }
        let meta = raft.snapshot_meta();
        node.disk.snapshot = meta.clone();
        node.disk.snapshot_state = node.app.clone();
        raft.handle_snapshot_saved(meta.clone());
        let compact_to = meta.index.saturating_sub(3);
        if compact_to >= raft.first_index() {
            raft.compact_log(compact_to);
        }
        node.disk.entries.retain(|e| e.index > compact_to);
    }

    /// Log matching, checked across every pair of live nodes: if two logs hold
    /// an entry with the same index and term, they agree on everything before.
    pub fn check_safety(&self) {
        let live: Vec<&RawNode> = self
            .nodes
            .values()
            .filter_map(|n| n.raft.as_ref())
            .collect();
        for (i, a) in live.iter().enumerate() {
            for b in &live[i + 1..] {
                let low = a.first_index().max(b.first_index());
                let high = a.last_index().min(b.last_index());
                let mut agreed = false;
                let mut index = high;
                while index >= low && index > 0 {
                    let ea = a.log_entry(index);
                    let eb = b.log_entry(index);
                    if agreed {
                        assert_eq!(
                            ea,
                            eb,
                            "log matching: n{} and n{} differ at {index} below an agreed entry",
                            a.id(),
                            b.id()
                        );
                    } else if ea.map(|e| e.term) == eb.map(|e| e.term) {
                        agreed = true;
                        assert_eq!(
                            ea, eb,
                            "log matching: same index and term, different entries at {index}"
                        );
                    }
                    index -= 1;
                }
            }
        }
    }

    // ----- client actions -----

    /// Proposes a unique payload at `id`.
    pub fn propose_at(&mut self, id: NodeId) -> Option<Bytes> {
        let payload = Bytes::from(format!("v{}", self.next_payload));
        self.next_payload += 1;
        let raft = self.nodes.get_mut(&id)?.raft.as_mut()?;
        match raft.propose(payload.clone()) {
            Ok(_) => {
                self.stats.proposals += 1;
                self.process_node(id);
                Some(payload)
            }
            Err(_) => None,
        }
    }

    pub fn read_at(&mut self, id: NodeId) -> Option<ReadId> {
        let read = self.next_read;
        let floor = self
            .applied_anywhere
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0);
        let raft = self.nodes.get_mut(&id)?.raft.as_mut()?;
        if raft.read_index(read).is_ok() {
            self.next_read += 1;
            self.reads.insert(read, floor);
            self.process_node(id);
            Some(read)
        } else {
            None
        }
    }

    pub fn crash(&mut self, id: NodeId) {
        let keep_prefix = self.rng.below(3);
        let node = self.nodes.get_mut(&id).expect("exists");
        if node.raft.is_none() {
            return;
        }
        // Unsynced writes are lost, except perhaps an in-order prefix that had
        // reached the disk anyway.
        for _ in 0..keep_prefix {
            if let Some(pending) = node.writes.pop_front() {
                node.disk
                    .apply_write(&pending.write, pending.received_snapshot.as_ref());
            }
        }
        node.writes.clear();
        node.held.clear();
        node.received_snapshots.clear();
        node.raft = None;
        node.crashes += 1;
        self.stats.crashes += 1;
        self.note(|| format!("n{id} crashed"));
    }

    pub fn restart(&mut self, id: NodeId) {
        let seed = self.seed ^ self.now_ms;
        let now = Instant::from_millis(self.now_ms);
        let size = self.nodes.values().filter(|n| n.initial_member).count() as u64;
        let node = self.nodes.get_mut(&id).expect("exists");
        if node.raft.is_some() {
            return;
        }
        let raft =
            if node.disk.hard_state == HardState::default() && node.disk.entries.is_empty() {
                // Nothing reached the disk: start as new, as a server with no WAL does.
                if node.initial_member {
                    let members: Vec<(NodeId, Bytes)> = (1..=size)
                        .map(|m| (m, Bytes::from(format!("n{m}"))))
                        .collect();
                    RawNode::bootstrap(config(id, seed), &members, now)
                } else {
                    RawNode::join(config(id, seed), now)
                }
            } else {
                let snapshot = node.disk.snapshot.clone();
                let entries: Vec<Entry> = node
                    .disk
                    .entries
                    .iter()
                    .filter(|e| e.index > snapshot.index)
                    .cloned()
                    .collect();
                RawNode::restart(
                    config(id, seed),
                    Restored {
                        hard_state: node.disk.hard_state,
                        snapshot,
                        entries,
                    },
                    now,
                )
            }
            .expect("durable state restores");
        node.app = node.disk.snapshot_state.clone();
        node.applied = node.disk.snapshot.index;
        node.raft = Some(raft);
        self.note(|| format!("n{id} restarted"));
        self.process_node(id);
    }

    /// Adds a brand-new node as a learner through the leader; returns its id.
    pub fn add_learner(&mut self) -> Option<NodeId> {
        let leader = self.leader()?;
        let id = self.next_node_id;
        let raft = self.nodes.get_mut(&leader)?.raft.as_mut()?;
        let change = ConfChange {
            kind: ConfChangeKind::AddLearner,
            node: id,
            context: Bytes::new(),
        };
        raft.propose_conf_change(change).ok()?;
        self.next_node_id += 1;
        let joiner =
            RawNode::join(config(id, self.seed), Instant::from_millis(self.now_ms)).expect("valid");
        self.nodes.insert(id, SimNode::new(id, Some(joiner), false));
        self.stats.conf_changes += 1;
        self.note(|| format!("add learner n{id}"));
        self.process_node(leader);
        Some(id)
    }

    /// Proposes a random sensible membership change at the leader.
    pub fn random_conf_change(&mut self) {
        let Some(leader) = self.leader() else { return };
        let conf = self.nodes[&leader]
            .raft
            .as_ref()
            .expect("live")
            .conf_state()
            .clone();
        let choice = self.rng.below(3);
        let change = if choice == 0 && conf.learners.is_empty() && conf.voters.len() < 6 {
            self.add_learner();
            return;
        } else if choice <= 1 && !conf.learners.is_empty() {
            let node = self.rng.pick(&conf.learners).expect("non-empty");
            ConfChange {
                kind: ConfChangeKind::PromoteLearner,
                node,
                context: Bytes::new(),
            }
        } else if conf.voters.len() > 3 {
            let node = self.rng.pick(&conf.voters).expect("non-empty");
            ConfChange {
                kind: ConfChangeKind::Remove,
                node,
                context: Bytes::new(),
            }
        } else {
            return;
        };
        let raft = self
            .nodes
            .get_mut(&leader)
            .and_then(|n| n.raft.as_mut())
            .expect("live");
        if raft.propose_conf_change(change.clone()).is_ok() {
            self.stats.conf_changes += 1;
            self.note(|| format!("propose {change:?}"));
            self.process_node(leader);
        }
    }

    pub fn random_transfer(&mut self) {
        let Some(leader) = self.leader() else { return };
        let conf = self.nodes[&leader]
            .raft
            .as_ref()
            .expect("live")
            .conf_state()
            .clone();
        let Some(target) = self.rng.pick(&conf.voters) else {
            return;
        };
        let raft = self
            .nodes
            .get_mut(&leader)
            .and_then(|n| n.raft.as_mut())
            .expect("live");
        if raft.transfer_leader(target).is_ok() {
            self.stats.transfers += 1;
            self.note(|| format!("transfer n{leader} -> n{target}"));
            self.process_node(leader);
        }
    }

    pub fn partition_randomly(&mut self) {
        self.cut.clear();
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let isolated = self.rng.pick(&ids).expect("nodes exist");
        let one_way = self.rng.chance(30);
        for &other in &ids {
            if other != isolated {
                self.cut.insert((isolated, other));
                if !one_way {
                    self.cut.insert((other, isolated));
                }
            }
        }
        self.stats.partitions += 1;
        self.note(|| format!("partition n{isolated} one_way={one_way}"));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
        self.faults = Faults::none();
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.restart(id);
        }
    }

    /// One random step of the fault phase: perhaps a fault, perhaps client
    /// traffic, then some time.
    pub fn random_step(&mut self) {
        let faults = self.faults;
        if self.rng.below(1000) < faults.crash_permille {
            let live = self.live();
            if let Some(victim) = self.rng.pick(&live) {
                self.crash(victim);
            }
        }
        let down: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.raft.is_none())
            .map(|(&id, _)| id)
            .collect();
        if let Some(id) = self.rng.pick(&down) {
            if self.rng.chance(10) {
                self.restart(id);
            }
        }
        if self.rng.below(1000) < faults.partition_permille {
            if self.cut.is_empty() {
                self.partition_randomly();
            } else {
                self.cut.clear();
            }
        }
        if self.rng.below(1000) < faults.conf_change_permille {
            self.random_conf_change();
        }
        if self.rng.below(1000) < faults.transfer_permille {
            self.random_transfer();
        }
        let live = self.live();
        if let Some(id) = self.rng.pick(&live) {
            if self.rng.chance(30) {
                self.propose_at(id);
            }
            if self.rng.chance(10) {
                self.read_at(id);
            }
        }
        let step = 1 + self.rng.below(20);
        self.advance(step);
    }

    /// Liveness once faults stop: within `bound_ms` a leader is elected, a new
    /// proposal commits, and every member's log and state converge.
    pub fn check_liveness(&mut self, bound_ms: u64) -> Result<(), String> {
        self.heal();
        let deadline = self.now_ms + bound_ms;
        // Like a client, re-propose after a timeout: a proposal made to a
        // leader that is deposed before replicating it is legitimately lost.
        let mut markers: Vec<Bytes> = Vec::new();
        let mut last_try_ms = 0;
        while self.now_ms < deadline {
            self.advance(10);
            if markers.is_empty() || self.now_ms >= last_try_ms + 2_000 {
                if let Some(leader) = self.leader() {
                    if let Some(marker) = self.propose_at(leader) {
                        markers.push(marker);
                        last_try_ms = self.now_ms;
                    }
                }
            }
            if markers.iter().any(|m| self.converged_with(m)) {
                return Ok(());
            }
        }
        let states: Vec<String> = self
            .nodes
            .values()
            .map(|n| match &n.raft {
                Some(r) => format!(
                    "n{}: {:?} term {} leader {} commit {} applied {} last {} conf {:?}",
                    n.id,
                    r.role(),
                    r.term(),
                    r.leader(),
                    r.committed(),
                    n.applied,
                    r.last_index(),
                    r.conf_state()
                ),
                None => format!("n{}: down", n.id),
            })
            .collect();
        let progress = self
            .leader()
            .and_then(|l| self.nodes[&l].raft.as_ref())
            .map(|r| {
                r.conf_state()
                    .members()
                    .map(|m| format!("{m}: {:?}", r.progress(m)))
                    .collect::<Vec<_>>()
                    .join("\n  ")
            })
            .unwrap_or_default();
        Err(format!(
            "no convergence within {bound_ms}ms:\n  {}\nleader's progress:\n  {progress}",
            states.join("\n  ")
        ))
    }

    /// Every current member applied `payload`, and all agree on what they applied.
    fn converged_with(&self, payload: &Bytes) -> bool {
        let Some(leader) = self.leader() else {
            return false;
        };
        let leader_node = &self.nodes[&leader];
        let conf = leader_node
            .raft
            .as_ref()
            .expect("live")
            .conf_state()
            .clone();
        let target = leader_node.applied;
        let members: Vec<NodeId> = conf.members().collect();
        members.into_iter().all(|id| {
            let node = &self.nodes[&id];
            node.raft.is_some()
                && node.applied == target
                && node.app.last().map(|(_, _, d)| d) == leader_node.app.last().map(|(_, _, d)| d)
                && node.app.iter().any(|(_, _, d)| d == payload)
        })
    }
}

impl SimNode {
    fn new(id: NodeId, raft: Option<RawNode>, initial_member: bool) -> SimNode {
        SimNode {
            id,
            raft,
            disk: Disk::default(),
            app: Vec::new(),
            applied: 0,
            writes: VecDeque::new(),
            held: Vec::new(),
            received_snapshots: BTreeMap::new(),
            initial_member,
            crashes: 0,
        }
    }
}
