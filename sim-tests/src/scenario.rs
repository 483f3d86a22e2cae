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
}

impl Bug {
    pub const ALL: [Bug; 4] = [
        Bug::AckBeforeFsync,
        Bug::LocalReads,
        Bug::SkipVotePersistence,
        Bug::LeaseNoExtend,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::AckBeforeFsync => "ack-before-fsync",
            Bug::LocalReads => "local-reads",
            Bug::SkipVotePersistence => "skip-vote-persistence",
            Bug::LeaseNoExtend => "lease-no-extend",
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
        }
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
    /// Faults and workload run for this long; then the liveness phase.
    pub safety_ms: u64,
    pub snapshot_count: u64,
    pub snapshot_catchup_entries: u64,
    /// Clock drift per member, parts per million.
    pub drift_ppm: Vec<i64>,
    /// Faults in time order.
    pub faults: Vec<(u64, Fault)>,
    pub bug: Option<Bug>,
}

/// Largest clock drift drawn: 1%, well beyond real quartz, within what
/// Raft's timing assumptions tolerate.
pub const DRIFT_PPM_MAX: i64 = 10_000;

impl Scenario {
    pub fn from_seed(seed: u64, bug: Option<Bug>) -> Scenario {
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
        Scenario {
            seed,
            nodes,
            clients,
            keys,
            watchers,
            lease_holders,
            safety_ms,
            snapshot_count,
            snapshot_catchup_entries,
            drift_ppm,
            faults,
            bug,
        }
    }
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
