//! The simulator proper (built only with `--cfg madsim`, by `cargo sim`):
//! a whole cairn cluster on madsim, clients (of the KV API and of etcd's v2
//! keys API), the fault schedule of a [`Scenario`], a safety phase and a
//! liveness phase, and the checks.

mod client;
mod faults;
mod liveness;
mod members;
mod operator;
mod v2client;
mod v2probe;
mod watcher;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::member::MemberInfo;
use cairn_core::raft::NodeId;
use cairn_runtime_sim::node::MemberExit;
use madsim::runtime::{Handle, Runtime};

use crate::checker::{self, CheckResult};
use crate::history::History;
use crate::scenario::{Scenario, DRIFT_PPM_MAX};
use crate::trace::{check_local_reads_monotonic, EventKind, LocalRead, Trace};
use crate::v2_check::{self, V2Run};
use members::{Launcher, Membership, MEMBER_SLOTS};

pub use liveness::{CONVERGENCE_MS, LIVENESS_WRITE_MS};

/// How an undecided linearizability check is reported.
const INCONCLUSIVE: &str = "the checker ran out of budget (inconclusive)";

/// State shared by the harness, the members' event callbacks and clients.
#[derive(Debug)]
pub struct World {
    start: tokio::time::Instant,
    pub trace: Trace,
    /// Per member slot (index = id - 1): restarts so far.
    incarnations: Vec<u64>,
    /// Per slot: its latest role and term.
    pub roles: Vec<(String, u64)>,
    pub down: Vec<bool>,
    /// Per slot: why it stopped, if it did on its own.
    pub exits: Vec<Option<MemberExit>>,
    /// Per slot: whether it is a member, as far as the harness knows.
    pub membership: Vec<Membership>,
    /// A membership change is under way (they go one at a time).
    pub operator_busy: bool,
}

impl World {
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Every member's restarts so far (index = id - 1).
    pub fn incarnations(&self) -> Vec<u64> {
        self.incarnations.clone()
    }

    pub fn incarnation(&self, id: NodeId) -> u64 {
        self.incarnations
            .get((id as usize).wrapping_sub(1))
            .copied()
            .unwrap_or(0)
    }

    pub fn record(&mut self, node: Option<u64>, kind: EventKind) {
        let at = self.now_ms();
        self.trace.push(at, node, kind);
    }

    /// The member that most recently became leader of the highest term, if
    /// it is up.
    pub fn leader(&self) -> Option<usize> {
        self.roles
            .iter()
            .enumerate()
            .filter(|(i, (role, _))| role == "Leader" && !self.down[*i])
            .max_by_key(|(_, (_, term))| *term)
            .map(|(i, _)| i)
    }
}

/// What a run produced and what the checks found.
#[derive(Debug)]
pub struct RunOutcome {
    pub history: History,
    pub trace: Trace,
    pub local_reads: Vec<LocalRead>,
    /// Every check that failed, in words; empty = the seed passed.
    pub failures: Vec<String>,
    /// The operation the linearizability checker could not place.
    pub violation: Option<(u64, String)>,
    pub end_ms: u64,
    /// The v2 clients' operations and the members' v2 logs.
    pub v2: V2Run,
}

impl RunOutcome {
    /// The run's fingerprint: trace and histories together.
    pub fn fingerprint(&self) -> u64 {
        let kv = crate::trace::fnv1a(self.trace.hash(), self.history.to_text().as_bytes());
        crate::trace::fnv1a(kv, self.v2.to_text().as_bytes())
    }

    /// Whether a check found a violation (rather than only running out of
    /// budget).
    pub fn violation_found(&self) -> bool {
        self.failures
            .iter()
            .any(|failure| !failure.ends_with(INCONCLUSIVE))
    }

    pub fn fault_count(&self) -> usize {
        self.trace
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Fault { .. }))
            .count()
    }
}

/// Runs `scenario` on a fresh madsim runtime seeded with its seed.
pub fn run(scenario: &Scenario) -> RunOutcome {
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::from_millis(1)..Duration::from_millis(5);
    let runtime = Runtime::with_seed_and_config(scenario.seed, config);
    let owned = scenario.clone();
    // The harness leaves its world here, so that a panic inside a simulated
    // member (a broken invariant) still leaves the trace up to that point.
    let world_slot: WorldSlot = Arc::new(Mutex::new(None));
    let slot = world_slot.clone();
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async move { harness(owned, slot).await })
    }));
    let Collected {
        history,
        mut trace,
        local_reads,
        mut failures,
        end_ms,
        v2,
    } = match ran {
        Ok(collected) => collected,
        Err(payload) => return panicked(scenario, &world_slot, payload.as_ref()),
    };
    let mut violation = None;
    if let Err(error) = trace.check_one_leader_per_term() {
        failures.push(format!("election safety: {error}"));
    }
    if let Err(error) = check_local_reads_monotonic(&local_reads) {
        failures.push(format!("serializable reads: {error}"));
    }
    match checker::check(&history) {
        CheckResult::Ok => {}
        CheckResult::Violation(found) => {
            failures.push(format!("linearizability: {found}"));
            violation = Some((found.failed.id, found.to_string()));
        }
        CheckResult::Unknown => failures.push(format!("linearizability: {INCONCLUSIVE}")),
    }
    // Without logs the liveness phase failed, and said why.
    if !v2.logs.is_empty() {
        match v2_check::check(&v2) {
            Ok(summary) => trace.push(end_ms, None, EventKind::Note(format!("v2: {summary}"))),
            Err(found) => failures.extend(found.into_iter().map(|f| format!("v2: {f}"))),
        }
    }
    RunOutcome {
        history,
        trace,
        local_reads,
        failures,
        violation,
        end_ms,
        v2,
    }
}

/// What the harness hands back.
struct Collected {
    history: History,
    trace: Trace,
    local_reads: Vec<LocalRead>,
    failures: Vec<String>,
    end_ms: u64,
    v2: V2Run,
}

type WorldSlot = Arc<Mutex<Option<Arc<Mutex<World>>>>>;

/// The outcome of a run in which something panicked: that seed's failure,
/// with the trace up to the panic (the history is lost with the clients).
fn panicked(
    scenario: &Scenario,
    slot: &WorldSlot,
    payload: &(dyn std::any::Any + Send),
) -> RunOutcome {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(a panic without a message)");
    let world = slot.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let trace = world
        .map(|world| {
            world
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .trace
                .clone()
        })
        .unwrap_or_default();
    RunOutcome {
        history: History::default(),
        trace,
        local_reads: Vec::new(),
        failures: vec![format!("panic inside the simulation: {message}")],
        violation: None,
        end_ms: scenario.safety_ms,
        v2: V2Run::default(),
    }
}

async fn harness(scenario: Scenario, slot: WorldSlot) -> Collected {
    let handle = Handle::current();
    let nodes = scenario.nodes;
    let world = Arc::new(Mutex::new(World {
        start: tokio::time::Instant::now(),
        trace: Trace::default(),
        incarnations: vec![0; MEMBER_SLOTS],
        roles: vec![("Follower".to_string(), 0); MEMBER_SLOTS],
        down: vec![false; MEMBER_SLOTS],
        exits: vec![None; MEMBER_SLOTS],
        membership: vec![Membership::Unused; MEMBER_SLOTS],
        operator_busy: false,
    }));
    *slot.lock().expect("world slot") = Some(world.clone());
    // The wall clock (simulated) when the world's clock started.
    let wall_origin_ms = v2client::wall_ms();
    let initial_cluster: Vec<(NodeId, MemberInfo)> = (0..nodes)
        .map(|i| (members::member_id(i), members::member_info(i)))
        .collect();
    let launcher = Launcher::new(handle.clone(), scenario.clone(), world.clone());
    let mut cluster = faults::Cluster::new(handle.clone(), launcher, world.clone());
    for i in 0..nodes {
        cluster.launch(i, initial_cluster.clone(), false, Membership::Voter);
    }

    // Safety phase: clients and faults together. Each client runs on a
    // madsim node of its own (subnet 10.0.<subnet>.x), so it has an address.
    let spawn_clients = |subnet: u8, name: &str, count: usize| {
        (0..count)
            .map(|i| {
                handle
                    .create_node()
                    .name(format!("{name}{i}"))
                    .ip(IpAddr::V4(Ipv4Addr::new(10, 0, subnet, i as u8 + 1)))
                    .build()
            })
            .collect::<Vec<_>>()
    };
    let end_ms = scenario.safety_ms;
    let clients: Vec<_> = spawn_clients(1, "client", scenario.clients)
        .into_iter()
        .enumerate()
        .map(|(i, node)| node.spawn(client::run(i as u32, scenario.keys, end_ms, world.clone())))
        .collect();
    let watchers: Vec<_> = spawn_clients(3, "watcher", scenario.watchers)
        .into_iter()
        .enumerate()
        .map(|(i, node)| node.spawn(watcher::run_watcher(i as u32, end_ms, world.clone())))
        .collect();
    let v2_clients: Vec<_> = spawn_clients(6, "v2client", scenario.v2_clients)
        .into_iter()
        .enumerate()
        .map(|(i, node)| {
            let run = v2client::run(i as u32, scenario.v2_clients, end_ms, world.clone());
            node.spawn(run)
        })
        .collect();
    let holders: Vec<_> = spawn_clients(4, "lease", scenario.lease_holders)
        .into_iter()
        .enumerate()
        .map(|(i, node)| node.spawn(watcher::run_lease_holder(i as u32, end_ms, world.clone())))
        .collect();
    let cluster = Arc::new(Mutex::new(cluster));
    // The operator who changes the membership, on a node of its own; only
    // in runs whose schedule changes it, so that the others run as before.
    let operator = scenario.changes_membership().then(|| {
        let node = handle
            .create_node()
            .name("operator")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 5, 1)))
            .build();
        let (changes, inbox) = tokio::sync::mpsc::unbounded_channel();
        let task = node.spawn(operator::run(cluster.clone(), world.clone(), inbox, nodes));
        (changes, task)
    });
    let (changes, operator_task) = operator.unzip();
    faults::run_schedule(&cluster, &scenario.faults, scenario.safety_ms, changes).await;
    if let Some(task) = operator_task {
        task.await.expect("operator task");
    }
    cluster.lock().expect("cluster").heal_all();

    let mut history = History::default();
    let mut local_reads = Vec::new();
    for client in clients {
        let log = client.await.expect("client task");
        history.ops.extend(log.ops);
        local_reads.extend(log.local_reads);
    }
    history.ops.sort_by_key(|op| (op.call_ms, op.id));
    let mut v2 = V2Run {
        wall_origin_ms,
        drift_ppm_max: DRIFT_PPM_MAX,
        ..V2Run::default()
    };
    for client in v2_clients {
        v2.ops.extend(client.await.expect("v2 client task"));
    }
    let mut watch_logs = Vec::new();
    for watcher in watchers {
        let log = watcher.await.expect("watcher task");
        world.lock().expect("world").record(
            None,
            EventKind::Note(format!(
                "watcher {}: {} events over {} connections",
                log.watcher,
                log.events.len(),
                log.connections
            )),
        );
        watch_logs.push(log);
    }
    let mut lease_failures = Vec::new();
    for holder in holders {
        let log = holder.await.expect("lease holder task");
        world.lock().expect("world").record(
            None,
            EventKind::Note(format!(
                "lease holder {}: {} grants, {} keep-alives, {} expiries seen",
                log.holder, log.grants, log.keepalives, log.expiries
            )),
        );
        lease_failures.extend(
            log.problems
                .iter()
                .map(|p| format!("lease holder {}: {p}", log.holder)),
        );
    }

    // Liveness phase.
    let probe = handle
        .create_node()
        .name("probe")
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1)))
        .build();
    let found = probe
        .spawn(liveness::run(
            cluster,
            world.clone(),
            scenario.keys,
            watch_logs,
        ))
        .await
        .expect("liveness task");
    history.ops.extend(found.final_reads);
    v2.logs = found.v2_logs;
    let mut failures = found.failures;
    failures.extend(lease_failures);
    let world = world.lock().expect("world");
    Collected {
        history,
        trace: world.trace.clone(),
        local_reads,
        failures,
        end_ms: world.now_ms(),
        v2,
    }
}

/// The picture of a run (see [`crate::timeline`]): each member's role and
/// term over time, faults as bands, client operations as bars, the
/// violation (if any) marked.
pub fn timeline(scenario: &Scenario, outcome: &RunOutcome) -> String {
    use crate::timeline::{Band, BandKind, Role, RoleSpan, Timeline};
    // The initial members and every one added later.
    let last_node = outcome
        .trace
        .events
        .iter()
        .filter_map(|event| event.node)
        .fold(scenario.nodes as u64, u64::max)
        .min(MEMBER_SLOTS as u64);
    let nodes: Vec<u64> = (1..=last_node).collect();
    let end_ms = outcome.end_ms;
    let mut roles = Vec::new();
    // Per member: the open span (role, term, since).
    let mut open: Vec<(Role, u64, u64)> = vec![(Role::Follower, 0, 0); nodes.len()];
    let mut switch =
        |node: u64, role: Role, term: Option<u64>, at: u64, roles: &mut Vec<RoleSpan>| {
            let slot = &mut open[node as usize - 1];
            let term = term.unwrap_or(slot.1);
            if slot.0 != role || slot.1 != term {
                if at > slot.2 {
                    roles.push(RoleSpan {
                        node,
                        from_ms: slot.2,
                        to_ms: at,
                        role: slot.0,
                        term: slot.1,
                    });
                }
                *slot = (role, term, at);
            }
        };
    let mut bands = Vec::new();
    let mut notes = Vec::new();
    for event in &outcome.trace.events {
        let at = event.at_ms;
        match (&event.kind, event.node) {
            (EventKind::Role { role, term, .. }, Some(node)) => {
                let role = match role.as_str() {
                    "Leader" => Role::Leader,
                    "Candidate" => Role::Candidate,
                    "PreCandidate" => Role::PreCandidate,
                    "Learner" => Role::Learner,
                    _ => Role::Follower,
                };
                switch(node, role, Some(*term), at, &mut roles);
            }
            (EventKind::Down | EventKind::Refused(_) | EventKind::Stopped(_), Some(node)) => {
                switch(node, Role::Down, None, at, &mut roles);
                if let EventKind::Refused(why) | EventKind::Stopped(why) = &event.kind {
                    notes.push((at, format!("m{node}: {why}")));
                }
            }
            (EventKind::Note(note), Some(node)) if note.starts_with("crash") => {
                switch(node, Role::Down, None, at, &mut roles);
            }
            (EventKind::Up, Some(node)) => switch(node, Role::Follower, None, at, &mut roles),
            (
                EventKind::Fault {
                    kind,
                    description,
                    until_ms,
                },
                node,
            ) => {
                let to_ms = until_ms.unwrap_or(at + 200).min(end_ms);
                let described = format!("{kind}: {description}");
                let mut band = |kind: BandKind| {
                    bands.push(Band {
                        kind,
                        from_ms: at,
                        to_ms,
                    })
                };
                match (*kind, node) {
                    ("crash", Some(node)) => band(BandKind::Crash { node }),
                    (
                        "add-voter" | "add-learner" | "promote-learner" | "remove-follower"
                        | "remove-leader" | "replace-down" | "move-leader",
                        _,
                    ) => notes.push((at, described)),
                    ("power-loss", _) => {
                        for &node in &nodes {
                            band(BandKind::Crash { node });
                        }
                    }
                    ("pause", Some(node)) => band(BandKind::Pause { node }),
                    ("slow-disk" | "disk-full" | "corruption", Some(node)) => {
                        band(BandKind::DiskFault {
                            node,
                            description: described,
                        })
                    }
                    _ => band(BandKind::Partition {
                        description: described,
                    }),
                }
            }
            (EventKind::Note(note), _) => notes.push((at, note.clone())),
            _ => {}
        }
    }
    for node in nodes.clone() {
        let (role, term, since) = open[node as usize - 1];
        roles.push(RoleSpan {
            node,
            from_ms: since,
            to_ms: end_ms,
            role,
            term,
        });
    }
    for (i, ppm) in scenario.drift_ppm.iter().enumerate() {
        if *ppm != 0 {
            bands.push(Band {
                kind: BandKind::ClockSkew { node: i as u64 + 1 },
                from_ms: 0,
                to_ms: end_ms,
            });
            notes.push((0, format!("m{}: clock drift {ppm:+} ppm", i + 1)));
        }
    }
    let verdict = if outcome.failures.is_empty() {
        "passed".to_string()
    } else {
        format!("FAILED: {}", outcome.failures.join("; "))
    };
    crate::timeline::render(&Timeline {
        title: format!(
            "cairn sim seed {} ({} members, {} clients): {verdict}",
            scenario.seed, scenario.nodes, scenario.clients
        ),
        end_ms,
        nodes,
        roles,
        bands,
        ops: outcome.history.ops.clone(),
        violation: outcome.violation.clone(),
        notes,
    })
}
