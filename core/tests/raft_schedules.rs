//! Random schedules of 3- and 5-node clusters under faults, checking Raft's
//! safety properties after every step and liveness once the faults stop.
//!
//! Every schedule derives from one seed. A failure prints the seed and the
//! command that replays it, e.g.
//!
//! ```text
//! CAIRN_RAFT_SEED=1234 CAIRN_RAFT_NODES=5 cargo test -p cairn-core --test raft_schedules replay -- --nocapture
//! ```
//! Set `CAIRN_RAFT_SCHEDULES` to run more (or fewer) schedules per property.

// Tests run outside core's rule: they may read the environment and files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod raft_support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use raft_support::{Cluster, Faults, Rng, Stats};

/// Simulated milliseconds of the fault phase and the liveness bound.
const FAULT_PHASE_STEPS: u64 = 400;
const LIVENESS_BOUND_MS: u64 = 30_000;

static SCHEDULES_RUN: AtomicU64 = AtomicU64::new(0);

fn schedules() -> u32 {
    std::env::var("CAIRN_RAFT_SCHEDULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

/// Runs one schedule; `Err` describes the violation.
fn run_schedule(seed: u64, nodes: u64, trace: bool) -> Result<Stats, String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut rng = Rng::new(seed);
        let faults = Faults::random(&mut rng);
        let mut cluster = Cluster::new(seed, nodes, faults);
        cluster.keep_trace = trace;
        cluster.snapshot_every = 5 + rng.below(40);
        for _ in 0..FAULT_PHASE_STEPS {
            cluster.random_step();
        }
        let result = cluster.check_liveness(LIVENESS_BOUND_MS);
        if trace {
            for line in &cluster.trace {
                println!("{line}");
            }
        }
        result.map(|()| cluster.stats.clone())
    }));
    SCHEDULES_RUN.fetch_add(1, Ordering::Relaxed);
    match outcome {
        Ok(result) => result,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".to_string())),
    }
}

fn replay_command(seed: u64, nodes: u64) -> String {
    format!(
        "CAIRN_RAFT_SEED={seed} CAIRN_RAFT_NODES={nodes} cargo test -p cairn-core --test raft_schedules replay -- --nocapture"
    )
}

fn check(seed: u64, nodes: u64) -> Result<(), TestCaseError> {
    run_schedule(seed, nodes, false)
        .map(|_| ())
        .map_err(|violation| {
            TestCaseError::fail(format!(
                "schedule seed={seed} nodes={nodes} failed: {violation}\nREPRODUCE WITH: {}",
                replay_command(seed, nodes)
            ))
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: schedules(),
        failure_persistence: None,
        max_shrink_iters: 0,
        .. ProptestConfig::default()
    })]

    #[test]
    fn three_node_schedules_are_safe_and_live(seed in any::<u64>()) {
        check(seed, 3)?;
    }

    #[test]
    fn five_node_schedules_are_safe_and_live(seed in any::<u64>()) {
        check(seed, 5)?;
    }
}

/// Replays the schedule named by `CAIRN_RAFT_SEED` (and `CAIRN_RAFT_NODES`),
/// printing its trace. Without the variable it replays a fixed seed.
#[test]
fn replay() {
    let seed = std::env::var("CAIRN_RAFT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(42);
    let nodes = std::env::var("CAIRN_RAFT_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    match run_schedule(seed, nodes, std::env::var("CAIRN_RAFT_SEED").is_ok()) {
        Ok(stats) => println!("seed={seed} nodes={nodes} {stats:?}"),
        Err(violation) => panic!(
            "seed={seed} nodes={nodes}: {violation}\nREPRODUCE WITH: {}",
            replay_command(seed, nodes)
        ),
    }
}

/// The same seed gives the same run, event for event.
#[test]
fn schedules_are_deterministic() {
    let run = |seed| {
        let mut rng = Rng::new(seed);
        let mut cluster = Cluster::new(seed, 3, Faults::random(&mut rng));
        cluster.keep_trace = true;
        for _ in 0..200 {
            cluster.random_step();
        }
        (cluster.trace.clone(), cluster.stats.messages)
    };
    assert_eq!(run(7), run(7));
}

/// A schedule without faults elects one leader and commits every proposal.
#[test]
fn fault_free_cluster_commits_everything() {
    let mut cluster = Cluster::new(1, 3, Faults::none());
    cluster.advance(3_000);
    let leader = cluster.leader().expect("a leader within three seconds");
    for _ in 0..50 {
        cluster.propose_at(leader);
    }
    cluster.advance(500);
    for node in cluster.nodes.values() {
        assert_eq!(node.app.len(), 50, "n{} applied every proposal", node.id);
    }
}
