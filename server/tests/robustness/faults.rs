//! Runs a plan's fault schedule on the cluster, one fault at a time, each
//! undone when it ends (links healed, the member resumed or restarted and
//! serving again), so at most one member is ever at fault and a quorum
//! remains.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_proto::etcdserverpb as pb;

use super::plan::{Fault, Plan, Step};
use super::Clock;
use crate::support::Cluster;

/// The fault phase ends here even if the schedule has not (restarts and
/// leader look-ups take time the plan does not count).
const FAULT_PHASE_MS_MAX: u64 = 60_000;
/// How long to look for a leader before a leader fault is skipped.
const LEADER_SEARCH_ROUNDS: u32 = 20;
const LEADER_SEARCH_PAUSE: Duration = Duration::from_millis(250);
/// How long one member may take to answer a Status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// What was injected.
#[derive(Debug, Default)]
pub struct FaultLog {
    /// Faults injected, by kind.
    pub injected: BTreeMap<&'static str, u32>,
    /// Faults not injected, and why.
    pub skipped: Vec<String>,
}

impl FaultLog {
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .injected
            .iter()
            .map(|(kind, count)| format!("{count} {kind}"))
            .collect();
        if !self.skipped.is_empty() {
            parts.push(format!("{} skipped", self.skipped.len()));
        }
        parts.join(", ")
    }
}

/// Injects the plan's faults in order.
pub async fn run(cluster: &mut Cluster, plan: &Plan, clock: Clock) -> FaultLog {
    let mut log = FaultLog::default();
    let phase_start_ms = clock.now_ms();
    for step in &plan.steps {
        if clock.now_ms() - phase_start_ms > FAULT_PHASE_MS_MAX {
            log.skipped
                .push(format!("{}: the fault phase ran out of time", step.fault));
            continue;
        }
        match inject(cluster, step, clock).await {
            Ok(()) => *log.injected.entry(step.fault.kind()).or_default() += 1,
            Err(why) => {
                eprintln!("[{}ms] skipped {}: {why}", clock.now_ms(), step.fault);
                log.skipped.push(format!("{}: {why}", step.fault));
            }
        }
        tokio::time::sleep(Duration::from_millis(step.quiet_ms)).await;
    }
    log
}

/// Injects one fault, waits out its time and undoes it.
async fn inject(cluster: &mut Cluster, step: &Step, clock: Clock) -> Result<(), String> {
    let lasting = Duration::from_millis(step.fault_ms);
    let member = match step.fault {
        Fault::Partition { member, .. } | Fault::Kill { member } => member,
        Fault::OneWay { from, .. } => from,
        Fault::IsolateLeader { .. } | Fault::KillLeader | Fault::PauseLeader => {
            leader(cluster).await.ok_or("no leader")?
        }
    };
    eprintln!(
        "[{}ms] {} (m{}) for {}ms",
        clock.now_ms(),
        step.fault,
        member + 1,
        step.fault_ms
    );
    let netfault = || cluster.netfault.as_ref().expect("peer proxies");
    match step.fault {
        Fault::Partition { how, .. } | Fault::IsolateLeader { how } => {
            netfault().isolate(member, how);
            tokio::time::sleep(lasting).await;
            netfault().heal();
        }
        Fault::OneWay { from, to, how } => {
            netfault().cut(from, to, how);
            tokio::time::sleep(lasting).await;
            netfault().heal();
        }
        Fault::Kill { .. } | Fault::KillLeader => {
            cluster.kill(member);
            tokio::time::sleep(lasting).await;
            cluster.spawn(member);
            cluster.wait_serving(member).await;
        }
        Fault::PauseLeader => {
            cluster.pause(member);
            tokio::time::sleep(lasting).await;
            cluster.resume(member);
        }
    }
    let leader = match leader(cluster).await {
        Some(i) => format!("m{}", i + 1),
        None => "none".to_string(),
    };
    eprintln!(
        "[{}ms] undone: {}; the leader is {leader}",
        clock.now_ms(),
        step.fault
    );
    Ok(())
}

/// The member that leads, as the members say: of those that claim it, the
/// one with the highest term (a leader cut off may not know it was deposed).
pub async fn leader(cluster: &Cluster) -> Option<usize> {
    for _ in 0..LEADER_SEARCH_ROUNDS {
        let mut best: Option<(u64, usize)> = None;
        for i in 0..cluster.members.len() {
            if let Some(term) = leads(cluster, i).await {
                if best.is_none_or(|(best_term, _)| term > best_term) {
                    best = Some((term, i));
                }
            }
        }
        if let Some((_, i)) = best {
            return Some(i);
        }
        tokio::time::sleep(LEADER_SEARCH_PAUSE).await;
    }
    None
}

/// Member i's term if it says it leads.
async fn leads(cluster: &Cluster, i: usize) -> Option<u64> {
    if !cluster.members[i].is_running() {
        return None;
    }
    let status = async {
        let mut client = cluster.maintenance(i).await.ok()?;
        client.status(pb::StatusRequest {}).await.ok()
    };
    let status = tokio::time::timeout(STATUS_TIMEOUT, status)
        .await
        .ok()??
        .into_inner();
    let id = status.header.as_ref().map_or(0, |header| header.member_id);
    (status.leader != 0 && status.leader == id).then_some(status.raft_term)
}

/// Undoes whatever may still be at fault and waits until every member
/// serves.
pub async fn heal(cluster: &mut Cluster) {
    if let Some(netfault) = &cluster.netfault {
        netfault.heal();
    }
    for i in 0..cluster.members.len() {
        if !cluster.members[i].is_running() {
            cluster.spawn(i);
        }
    }
    for i in 0..cluster.members.len() {
        cluster.wait_serving(i).await;
    }
}
