//! Everything one seed decides before the run starts: cluster size, workload
//! shape, timings and the fault schedule. Drawn from a SplitMix64 stream of
//! the seed, independent of madsim's own random stream (which decides
//! latencies, packet loss and disk timings during the run).

use crate::checker::generate::SplitMix64;

/// A deliberate bug to turn on (see `Knobs` in cairn-core and `DiskFaults`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// The disk acknowledges a WAL write before its fdatasync.
    AckBeforeFsync,
    /// Linearizable reads are served locally, without ReadIndex.
    LocalReads,
    /// The vote is not persisted before it is sent.
    SkipVotePersistence,
    /// A new leader expires leases on its own clock, started when it applied
    /// the grant, without giving them a full TTL on promotion.
    LeaseNoExtend,
    /// The v2 API's quorum gets are served locally, without ReadIndex (the
    /// KV API's reads stay linearizable: only the v2 check can catch it).
    V2LocalReads,
}

impl Bug {
    pub const ALL: [Bug; 5] = [
        Bug::AckBeforeFsync,
        Bug::LocalReads,
        Bug::SkipVotePersistence,
        Bug::LeaseNoExtend,
        Bug::V2LocalReads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::AckBeforeFsync => "ack-before-fsync",
            Bug::LocalReads => "local-reads",
            Bug::SkipVotePersistence => "skip-vote-persistence",
            Bug::LeaseNoExtend => "lease-no-extend",
            Bug::V2LocalReads => "v2-local-reads",
        }
    }

    pub fn parse(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|bug| bug.name() == name)
    }
}

/// One injected fault. Node numbers are indexes into the cluster (0-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Cut every link between the two sides, for `ms`.
    Partition { minority: Vec<usize>, ms: u64 },
    /// Cut the current leader off from every other member, for `ms`.
    IsolateLeader { ms: u64 },
    /// Messages from `from` to `to` are lost, for `ms` (the reverse works).
    OneWay { from: usize, to: usize, ms: u64 },
    /// Kill the member (unsynced writes may be lost), restart after `ms`.
    Crash { node: usize, ms: u64 },
    /// Every member loses power at once, restarts after `ms`.
    PowerLoss { ms: u64 },
    /// The member stops running for `ms`, then resumes where it was.
    Pause { node: usize, ms: u64 },
    /// This fraction (per mille) of all packets is lost, for `ms`.
    PacketLoss { per_mille: u32, ms: u64 },
    /// Packet latency up to `max_latency_ms`, for `ms`.
    Latency { max_latency_ms: u64, ms: u64 },
    /// Every fdatasync of the member takes hundreds of ms, for `ms`.
    SlowDisk { node: usize, ms: u64 },
    /// The member's disk is full (ENOSPC: the member stops) for `ms`, then
    /// it is restarted.
    DiskFull { node: usize, ms: u64 },
    /// The member crashes and a bit of its WAL flips on the platter; it
    /// must refuse to restart (at most one member a run).
    Corrupt { node: usize },
    // Membership changes and leadership moves (issue 15), asked of the leader
    // as an operator would ask, one at a time. What they act on is resolved
    // against the cluster as it is when they come due: `pick` chooses among
    // the candidates then.
    /// Add a new member (a voter or the learner) and start it on an empty
    /// data dir: it joins the running cluster.
    AddMember { learner: bool },
    /// Promote the learner to a voter.
    PromoteLearner,
    /// Remove a member other than the leader.
    RemoveFollower { pick: u64 },
    /// Remove the leader itself: it hands leadership over first.
    RemoveLeader,
    /// Remove a member that is down (crashed, or refusing its storage) and
    /// replace it by a new one.
    ReplaceDown { pick: u64 },
    /// Move leadership to another voter.
    MoveLeader { pick: u64 },
}

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::IsolateLeader { .. } => "isolate-leader",
            Fault::OneWay { .. } => "one-way-link",
            Fault::Crash { .. } => "crash",
            Fault::PowerLoss { .. } => "power-loss",
            Fault::Pause { .. } => "pause",
            Fault::PacketLoss { .. } => "packet-loss",
            Fault::Latency { .. } => "latency",
            Fault::SlowDisk { .. } => "slow-disk",
            Fault::DiskFull { .. } => "disk-full",
            Fault::Corrupt { .. } => "corruption",
            Fault::AddMember { learner: false } => "add-voter",
            Fault::AddMember { learner: true } => "add-learner",
            Fault::PromoteLearner => "promote-learner",
            Fault::RemoveFollower { .. } => "remove-follower",
            Fault::RemoveLeader => "remove-leader",
            Fault::ReplaceDown { .. } => "replace-down",
            Fault::MoveLeader { .. } => "move-leader",
        }
    }

    /// Whether this is a membership change or leadership move (carried out
    /// by the simulator's operator, through the leader).
    pub fn is_membership(&self) -> bool {
        matches!(
            self,
            Fault::AddMember { .. }
                | Fault::PromoteLearner
                | Fault::RemoveFollower { .. }
                | Fault::RemoveLeader
                | Fault::ReplaceDown { .. }
                | Fault::MoveLeader { .. }
        )
    }
}

/// The run a seed stands for.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub nodes: usize,
    pub clients: usize,
    pub keys: usize,
    /// Clients that watch every key / hold a lease.
    pub watchers: usize,
    pub lease_holders: usize,
    /// Clients of etcd's v2 keys API (their own keyspace and checks).
    pub v2_clients: usize,
    /// Faults and workload run for this long; then the liveness phase.
    pub safety_ms: u64,
    pub snapshot_count: u64,
    pub snapshot_catchup_entries: u64,
    /// Clock drift per member, parts per million.
    pub drift_ppm: Vec<i64>,
    /// Faults in time order, membership changes among them.
    pub faults: Vec<(u64, Fault)>,
    pub bug: Option<Bug>,
}

/// v2 clients per run: this many, plus up to `V2_CLIENTS_SPREAD - 1`.
const V2_CLIENTS_MIN: usize = 2;
const V2_CLIENTS_SPREAD: u64 = 1;

/// Largest clock drift drawn: 1%, well beyond real quartz, within what
/// Raft's timing assumptions tolerate.
pub const DRIFT_PPM_MAX: i64 = 10_000;

impl Scenario {
    pub fn from_seed(seed: u64, bug: Option<Bug>) -> Scenario {
        let mut scenario = Scenario::with_initial_members(seed, bug);
        // Membership changes come from a stream of their own, so that the
        // rest of a seed's schedule is what it was before they existed
        // (`static_membership` gives that schedule back exactly). A
        // deliberate bug's sweep keeps the schedule it was tuned with.
        if bug.is_none() {
            let mut membership = SplitMix64(seed ^ 0x5ce0_a210_0000_0002);
            let changes = membership_schedule(&mut membership, scenario.safety_ms);
            scenario.faults.extend(changes);
            // Stable: faults drawn for the same instant keep their order.
            scenario.faults.sort_by_key(|(at, _)| *at);
        }
        scenario
    }

    /// The scenario as seeds drew it before membership changes existed.
    fn with_initial_members(seed: u64, bug: Option<Bug>) -> Scenario {
        let mut rng = SplitMix64(seed ^ 0x5ce0_a210_0000_0001);
        let nodes = if rng.below(3) == 0 { 5 } else { 3 };
        let clients = 3 + rng.below(4) as usize;
        let keys = 3 + rng.below(8) as usize;
        let watchers = 1 + rng.below(2) as usize;
        let lease_holders = 1 + rng.below(2) as usize;
        let safety_ms = 20_000 + rng.below(20_000);
        let snapshot_count = 50 + rng.below(500);
        let snapshot_catchup_entries = 10 + rng.below(100);
        let drift_ppm = (0..nodes)
            .map(|_| rng.below(2 * DRIFT_PPM_MAX as u64 + 1) as i64 - DRIFT_PPM_MAX)
            .collect();
        let faults = schedule(&mut rng, nodes, safety_ms, bug);
        // From a stream of its own, so that the rest of a seed's scenario is
        // what it was before v2 clients existed. A deliberate bug of the KV
        // API's keeps the run it was tuned with: no v2 clients.
        let v2_clients = match bug {
            None | Some(Bug::V2LocalReads) => {
                V2_CLIENTS_MIN
                    + SplitMix64(seed ^ 0x5ce0_a210_0000_0004).below(V2_CLIENTS_SPREAD) as usize
            }
            Some(_) => 0,
        };
        Scenario {
            seed,
            nodes,
            clients,
            keys,
            watchers,
            lease_holders,
            v2_clients,
            safety_ms,
            snapshot_count,
            snapshot_catchup_entries,
            drift_ppm,
            faults,
            bug,
        }
    }
}

impl Scenario {
    /// The same run without membership changes: the cluster keeps its
    /// initial members (the schedule seeds drew before issue 15).
    pub fn static_membership(mut self) -> Scenario {
        self.faults.retain(|(_, fault)| !fault.is_membership());
        self
    }

    /// Whether the schedule changes the membership.
    pub fn changes_membership(&self) -> bool {
        self.faults.iter().any(|(_, fault)| fault.is_membership())
    }
}

/// Out of this many seeds, one keeps its initial members.
const STATIC_MEMBERSHIP_ONE_IN: u64 = 5;

/// Membership changes and leadership moves: none for one seed in
/// [`STATIC_MEMBERSHIP_ONE_IN`]; otherwise one every 1.5 to 5 seconds from
/// the third second or so, until 4 seconds before the safety phase ends (a
/// change may take a few seconds, and a new member time to catch up).
fn membership_schedule(rng: &mut SplitMix64, safety_ms: u64) -> Vec<(u64, Fault)> {
    let mut changes = Vec::new();
    if rng.below(STATIC_MEMBERSHIP_ONE_IN) == 0 {
        return changes;
    }
    let mut at = 2_500 + rng.below(2_500);
    while at + 4_000 < safety_ms {
        let pick = rng.below(1 << 32);
        let change = match rng.below(100) {
            0..=19 => Fault::AddMember { learner: false },
            20..=29 => Fault::AddMember { learner: true },
            30..=39 => Fault::PromoteLearner,
            40..=59 => Fault::RemoveFollower { pick },
            60..=71 => Fault::RemoveLeader,
            72..=79 => Fault::ReplaceDown { pick },
            _ => Fault::MoveLeader { pick },
        };
        changes.push((at, change));
        at += 1_500 + rng.below(3_500);
    }
    changes
}

fn schedule(
    rng: &mut SplitMix64,
    nodes: usize,
    safety_ms: u64,
    bug: Option<Bug>,
) -> Vec<(u64, Fault)> {
    let mut faults = Vec::new();
    let mut corrupted = false;
    // Let the cluster elect a first leader in peace.
    let mut at = 1_500 + rng.below(1_500);
    // Faults stop a little before the safety phase ends so that the last
    // restarts happen inside it.
    while at + 2_000 < safety_ms {
        let node = rng.below(nodes as u64) as usize;
        let ms = 300 + rng.below(5_000);
        let fault = match rng.below(100) {
            0..=14 => {
                let size = 1 + rng.below((nodes as u64 - 1) / 2) as usize;
                let mut minority: Vec<usize> = Vec::new();
                while minority.len() < size {
                    let candidate = rng.below(nodes as u64) as usize;
                    if !minority.contains(&candidate) {
                        minority.push(candidate);
                    }
                }
                minority.sort_unstable();
                Fault::Partition { minority, ms }
            }
            15..=26 => Fault::IsolateLeader { ms },
            27..=33 => {
                let to = (node + 1 + rng.below(nodes as u64 - 1) as usize) % nodes;
                Fault::OneWay { from: node, to, ms }
            }
            34..=48 => Fault::Crash {
                node,
                ms: ms.min(3_000),
            },
            49..=53 => Fault::PowerLoss { ms: ms.min(2_000) },
            54..=63 => Fault::Pause {
                node,
                ms: ms.min(4_000),
            },
            64..=70 => Fault::PacketLoss {
                per_mille: 10 + rng.below(200) as u32,
                ms,
            },
            71..=77 => Fault::Latency {
                max_latency_ms: 20 + rng.below(300),
                ms,
            },
            78..=87 => Fault::SlowDisk { node, ms },
            88..=93 => Fault::DiskFull {
                node,
                ms: ms.min(3_000),
            },
            _ if !corrupted && bug.is_none() => {
                corrupted = true;
                Fault::Corrupt { node }
            }
            _ => Fault::Crash {
                node,
                ms: ms.min(3_000),
            },
        };
        faults.push((at, fault));
        at += 500 + rng.below(3_000);
    }
    match bug {
        Some(Bug::AckBeforeFsync) => {
            // This bug loses acknowledged writes in a power loss: make power
            // losses common.
            let mut at = 2_000;
            while at + 2_000 < safety_ms {
                faults.push((
                    at,
                    Fault::PowerLoss {
                        ms: 500 + rng.below(1_000),
                    },
                ));
                at += 2_000 + rng.below(3_000);
            }
        }
        Some(Bug::SkipVotePersistence) => {
            // This bug lets a member vote twice in a term if it restarts
            // between two candidates' requests: force many elections, slow
            // links, and quick restarts.
            let mut at = 1_500;
            while at + 2_000 < safety_ms {
                faults.push((at, Fault::IsolateLeader { ms: 3_000 }));
                faults.push((
                    at,
                    Fault::Latency {
                        max_latency_ms: 400,
                        ms: 2_000,
                    },
                ));
                for _ in 0..nodes {
                    let node = rng.below(nodes as u64) as usize;
                    let when = at + 100 + rng.below(1_500);
                    faults.push((
                        when,
                        Fault::Crash {
                            node,
                            ms: 20 + rng.below(200),
                        },
                    ));
                }
                at += 2_500 + rng.below(1_000);
            }
        }
        _ => {}
    }
    faults.sort_by_key(|(at, _)| *at);
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_draws_the_same_scenario() {
        let a = Scenario::from_seed(42, None);
        let b = Scenario::from_seed(42, None);
        assert_eq!(a.faults, b.faults);
        assert_eq!(a.drift_ppm, b.drift_ppm);
        assert_ne!(Scenario::from_seed(43, None).faults, a.faults);
    }

    #[test]
    fn membership_changes_leave_the_rest_of_the_schedule_as_it_was() {
        let mut dynamic = 0;
        for seed in 0..500 {
            let scenario = Scenario::from_seed(seed, None);
            let before = Scenario::with_initial_members(seed, None).faults;
            assert_eq!(
                scenario.clone().static_membership().faults,
                before,
                "seed {seed}"
            );
            if scenario.changes_membership() {
                dynamic += 1;
                let last = scenario
                    .faults
                    .iter()
                    .filter(|(_, f)| f.is_membership())
                    .map(|(at, _)| *at)
                    .max()
                    .expect("changes");
                assert!(last + 4_000 < scenario.safety_ms, "seed {seed}");
            }
            assert!(scenario.faults.windows(2).all(|w| w[0].0 <= w[1].0));
            let with_bug = Scenario::from_seed(seed, Some(Bug::LocalReads));
            assert!(!with_bug.changes_membership(), "seed {seed}");
        }
        // One seed in five keeps its members.
        assert!((350..450).contains(&dynamic), "{dynamic} of 500");
    }

    #[test]
    fn at_most_one_member_is_corrupted_and_minorities_are_minorities() {
        for seed in 0..500 {
            let scenario = Scenario::from_seed(seed, None);
            let corruptions = scenario
                .faults
                .iter()
                .filter(|(_, f)| matches!(f, Fault::Corrupt { .. }))
                .count();
            assert!(corruptions <= 1, "seed {seed}");
            for (_, fault) in &scenario.faults {
                if let Fault::Partition { minority, .. } = fault {
                    assert!(minority.len() * 2 < scenario.nodes, "seed {seed}");
                }
                if let Fault::OneWay { from, to, .. } = fault {
                    assert_ne!(from, to);
                }
            }
        }
    }
}
