//! Everything one seed decides before the run: the workload's shape and the
//! fault schedule. What the processes do with it (who leads when, which
//! request times out) is up to the machine, so a replay repeats the
//! schedule, not the run.

use std::fmt;

use cairn_sim_tests::checker::generate::SplitMix64;

use crate::support::netfault::LinkFault;

/// The environment variable that replays a seed.
pub const SEED_VARIABLE: &str = "CAIRN_ROBUSTNESS_SEED";
/// Members of the cluster under test.
pub const MEMBERS: usize = 3;
/// The fault schedule's planned length (faults and the quiet after each).
const FAULT_PHASE_MS_MAX: u64 = 45_000;
/// How long one fault lasts, at least and at most.
const FAULT_MS_MIN: u64 = 1_500;
const FAULT_MS_MAX: u64 = 5_500;
/// The quiet after a fault, at least and at most.
const QUIET_MS_MIN: u64 = 1_000;
const QUIET_MS_MAX: u64 = 3_000;

/// One injected fault. Members are indexes into the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Every peer link into and out of `member` is cut.
    Partition { member: usize, how: LinkFault },
    /// The same, for whichever member leads when the fault starts.
    IsolateLeader { how: LinkFault },
    /// Only what `from` sends to `to` is lost.
    OneWay {
        from: usize,
        to: usize,
        how: LinkFault,
    },
    /// kill -9, restarted on its data directory when the fault ends.
    Kill { member: usize },
    /// kill -9 of whichever member leads.
    KillLeader,
    /// SIGSTOP of whichever member leads; SIGCONT when the fault ends.
    PauseLeader,
}

/// The kinds of fault, each drawn at least once a run.
const KINDS: usize = 6;
/// Faults a schedule holds at most (the phase's length bounds it first).
const STEPS_MAX: usize = 32;

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::IsolateLeader { .. } => "isolate-leader",
            Fault::OneWay { .. } => "one-way",
            Fault::Kill { .. } => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::PauseLeader => "pause-leader",
        }
    }

    fn draw(kind: usize, rng: &mut SplitMix64) -> Fault {
        let member = |rng: &mut SplitMix64| rng.below(MEMBERS as u64) as usize;
        let how = |rng: &mut SplitMix64| {
            if rng.below(2) == 0 {
                LinkFault::Drop
            } else {
                LinkFault::Blackhole
            }
        };
        match kind {
            0 => Fault::Partition {
                member: member(rng),
                how: how(rng),
            },
            1 => Fault::IsolateLeader { how: how(rng) },
            2 => {
                let from = member(rng);
                let to = (from + 1 + rng.below(MEMBERS as u64 - 1) as usize) % MEMBERS;
                Fault::OneWay {
                    from,
                    to,
                    how: how(rng),
                }
            }
            3 => Fault::Kill {
                member: member(rng),
            },
            4 => Fault::KillLeader,
            _ => Fault::PauseLeader,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition { member, how } => write!(f, "partition m{} ({how:?})", member + 1),
            Fault::IsolateLeader { how } => write!(f, "isolate the leader ({how:?})"),
            Fault::OneWay { from, to, how } => {
                write!(f, "cut m{} -> m{} ({how:?})", from + 1, to + 1)
            }
            Fault::Kill { member } => write!(f, "kill -9 m{}", member + 1),
            Fault::KillLeader => write!(f, "kill -9 the leader"),
            Fault::PauseLeader => write!(f, "SIGSTOP the leader"),
        }
    }
}

/// A fault, how long it lasts, and the quiet after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub fault: Fault,
    pub fault_ms: u64,
    pub quiet_ms: u64,
}

/// The run a seed stands for.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    /// Workload keys `rk/0`..: few, so clients contend.
    pub keys: usize,
    pub clients: usize,
    pub watchers: usize,
    pub lease_holders: usize,
    /// The TTL lease holders ask for.
    pub lease_ttl_secs: i64,
    /// `--pre-vote`: without it, a member cut off bumps its term and
    /// deposes the leader when it comes back.
    pub pre_vote: bool,
    /// `--snapshot-count`, low enough that members snapshot (and restart
    /// from a snapshot) during the run, or etcd's default.
    pub snapshot_count: u64,
    /// Faults in order, one at a time; every kind at least once.
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn from_seed(seed: u64) -> Plan {
        let mut rng = SplitMix64(seed ^ 0x0b05_7e55_0000_0001);
        let keys = 3 + rng.below(3) as usize;
        let clients = 3 + rng.below(2) as usize;
        let watchers = 2;
        let lease_holders = 2 + rng.below(2) as usize;
        let lease_ttl_secs = 5 + rng.below(6) as i64;
        let pre_vote = rng.below(2) == 0;
        let snapshot_count = if rng.below(2) == 0 {
            200 + rng.below(800)
        } else {
            100_000
        };
        let steps = schedule(&mut rng);
        Plan {
            seed,
            keys,
            clients,
            watchers,
            lease_holders,
            lease_ttl_secs,
            pre_vote,
            snapshot_count,
            steps,
        }
    }

    /// The members' flags.
    pub fn flags(&self) -> Vec<String> {
        vec![
            format!("--pre-vote={}", self.pre_vote),
            "--snapshot-count".to_string(),
            self.snapshot_count.to_string(),
        ]
    }

    /// A seed of its own for one client: `role` tells kinds of client apart.
    pub fn client_seed(&self, role: u64, index: usize) -> u64 {
        SplitMix64(self.seed ^ (role << 32) ^ index as u64).next_u64()
    }
}

/// Every kind once in a seeded order, then more drawn at random while the
/// schedule fits in [`FAULT_PHASE_MS_MAX`].
fn schedule(rng: &mut SplitMix64) -> Vec<Step> {
    let mut kinds: Vec<usize> = (0..KINDS).collect();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut steps = Vec::new();
    let mut planned_ms = 0;
    for index in 0..STEPS_MAX {
        let kind = match kinds.get(index) {
            Some(&kind) => kind,
            None => rng.below(KINDS as u64) as usize,
        };
        let step = Step {
            fault: Fault::draw(kind, rng),
            fault_ms: FAULT_MS_MIN + rng.below(FAULT_MS_MAX - FAULT_MS_MIN + 1),
            quiet_ms: QUIET_MS_MIN + rng.below(QUIET_MS_MAX - QUIET_MS_MIN + 1),
        };
        planned_ms += step.fault_ms + step.quiet_ms;
        if index >= KINDS && planned_ms > FAULT_PHASE_MS_MAX {
            break;
        }
        steps.push(step);
    }
    steps
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "plan: {} keys, {} clients, {} watchers, {} lease holders (TTL {}s), members with {}, {} faults:",
            self.keys,
            self.clients,
            self.watchers,
            self.lease_holders,
            self.lease_ttl_secs,
            self.flags().join(" "),
            self.steps.len()
        )?;
        for step in &self.steps {
            writeln!(
                f,
                "  {} for {}ms, then {}ms quiet",
                step.fault, step.fault_ms, step.quiet_ms
            )?;
        }
        Ok(())
    }
}

/// The seed to run: the replayed one, or a fresh one.
pub fn seed() -> u64 {
    if let Ok(text) = std::env::var(SEED_VARIABLE) {
        return text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VARIABLE}={text:?} is not a u64"));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    SplitMix64(nanos ^ u64::from(std::process::id())).next_u64()
}
