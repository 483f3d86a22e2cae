//! The robustness test, in the spirit of etcd's `tests/robustness`: three
//! real `cairn` processes whose peer links run through fault-injecting
//! proxies (`support/netfault.rs`), a schedule of faults drawn from one
//! seed (a member partitioned, the leader isolated, a one-way link cut, a
//! member or the leader killed with SIGKILL and restarted, the leader
//! paused with SIGSTOP), and under them concurrent clients of the real gRPC
//! API:
//!
//! * KV clients put, read linearizably and compare-and-swap a few keys; the
//!   history they record must be linearizable (the simulator's checker);
//! * lease holders keep leases alive; none may be gone before its last
//!   renewal + TTL;
//! * watchers follow every key across reconnections; what each saw must be
//!   a prefix of the cluster's history, with no gap and no duplicate.
//!
//! Safety phase (faults, then everything healed), then liveness: a write
//! commits within 20 s and the members agree (HashKV at one revision).

mod robustness;
mod support;

use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use cairn_sim_tests::checker::{check, CheckResult};
use cairn_sim_tests::history::{History, Input, Operation};
use robustness::leases::LeaseLog;
use robustness::plan::{Plan, MEMBERS, SEED_VARIABLE};
use robustness::watchers::WatchLog;
use robustness::{faults, kv, leases, watchers, Clock};
use support::netfault::LinkFault;
use support::{put, Cluster, Options};
use tokio::task::JoinHandle;

/// The workload runs this long alone before the first fault; after the
/// last, it runs on the healed cluster for a lease TTL and this long.
const WARM_UP: Duration = Duration::from_secs(2);
const RECOVERY_AFTER_TTL: Duration = Duration::from_secs(6);
/// The liveness write must commit within this.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(20);
/// Tries at the liveness checks, at most, and the pause between them.
const ATTEMPTS_MAX: usize = 100;
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// The key of the liveness write, which also ends the reference watch.
const LAST_KEY: &str = "rz/end";

/// The tasks of the workload.
struct Workload {
    clients: Vec<JoinHandle<Vec<Operation>>>,
    lease_holders: Vec<JoinHandle<LeaseLog>>,
    watchers: Vec<JoinHandle<WatchLog>>,
    healed: tokio::sync::watch::Sender<bool>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// What the workload recorded.
struct Records {
    history: History,
    leases: Vec<LeaseLog>,
    watches: Vec<WatchLog>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_partitions_kills_and_pauses_kv_stays_linearizable_leases_and_watches_hold() {
    let seed = robustness::plan::seed();
    eprintln!(
        "robustness seed={seed}; replay with {SEED_VARIABLE}={seed} cargo test -p cairn-server --test robustness_process"
    );
    let started = Instant::now();
    let plan = Plan::from_seed(seed);
    eprint!("{plan}");
    let options = Options {
        peer_proxy: true,
        extra: plan.flags(),
        ..Options::default()
    };
    let mut cluster = Cluster::start_with_options("robustness", MEMBERS, options).await;
    let clock = Clock::start();
    let workload = start_workload(&cluster, &plan, clock);
    tokio::time::sleep(WARM_UP).await;
    let fault_log = faults::run(&mut cluster, &plan, clock).await;
    faults::heal(&mut cluster).await;
    eprintln!(
        "[{}ms] healed; faults: {}",
        clock.now_ms(),
        fault_log.summary()
    );
    workload.healed.send_replace(true);
    let lease_ttl = Duration::from_secs(plan.lease_ttl_secs as u64);
    tokio::time::sleep(lease_ttl + RECOVERY_AFTER_TTL).await;
    let records = stop_workload(workload).await;
    eprintln!("[{}ms] workload stopped", clock.now_ms());

    let revision = write_within(&cluster, LIVENESS_TIMEOUT).await;
    members_agree(&cluster, revision).await;
    let reference = watchers::reference_history(&cluster.members[0].endpoint(), LAST_KEY)
        .await
        .unwrap_or_else(|why| panic!("the reference watch failed: {why}"));

    check_history(seed, &records.history);
    check_leases(&records.leases);
    if let Err(why) = watchers::check_watchers(&records.watches, &reference) {
        panic!("watch check failed (seed {seed}): {why}");
    }
    let elapsed = started.elapsed();
    eprintln!(
        "robustness: {}; faults: {}; seed={seed}, {:.1}s",
        summary(&records, reference.len()),
        fault_log.summary(),
        elapsed.as_secs_f64()
    );
    assert_made_progress(&records);
}

/// The fault injector itself, both ways of cutting: the leader cut off
/// through the proxies cannot commit a write, the others elect a new
/// leader, and once healed the old one serves writes again. (Proxies that
/// cut nothing would let the test above pass.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_proxies_cut_a_member_off_and_heal() {
    let options = Options {
        peer_proxy: true,
        ..Options::default()
    };
    let mut cluster = Cluster::start_with_options("netfault", MEMBERS, options).await;
    for how in [LinkFault::Drop, LinkFault::Blackhole] {
        let old = faults::leader(&cluster).await.expect("a leader");
        let netfault = cluster.netfault.as_ref().expect("peer proxies");
        netfault.isolate(old, how);
        let mut kv = cluster.kv(old).await.expect("connect");
        let write = tokio::time::timeout(Duration::from_secs(3), kv.put(put("cut", "off"))).await;
        assert!(
            !matches!(write, Ok(Ok(_))),
            "{how:?}: the isolated leader m{} committed a write",
            old + 1
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        for _ in 0..ATTEMPTS_MAX {
            if faults::leader(&cluster).await.is_some_and(|new| new != old) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{how:?}: no new leader within 10s of isolating m{}",
                old + 1
            );
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        faults::heal(&mut cluster).await;
        let mut kv = cluster.kv(old).await.expect("connect");
        let write = tokio::time::timeout(LIVENESS_TIMEOUT, kv.put(put("cut", "healed"))).await;
        assert!(
            matches!(write, Ok(Ok(_))),
            "{how:?}: m{} does not serve writes after healing: {write:?}",
            old + 1
        );
    }
}

fn start_workload(cluster: &Cluster, plan: &Plan, clock: Clock) -> Workload {
    let endpoints: Vec<String> = cluster.members.iter().map(|m| m.endpoint()).collect();
    let (healed, healed_signal) = tokio::sync::watch::channel(false);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let phases = leases::Phases {
        healed: healed_signal,
        stop: stopped.clone(),
    };
    let clients = (0..plan.clients)
        .map(|client| {
            tokio::spawn(kv::run_client(
                client as u32,
                endpoints.clone(),
                plan.keys,
                plan.client_seed(1, client),
                clock,
                stopped.clone(),
            ))
        })
        .collect();
    let lease_holders = (0..plan.lease_holders)
        .map(|holder| {
            tokio::spawn(leases::run_lease_holder(
                holder,
                endpoints.clone(),
                plan.lease_ttl_secs,
                plan.client_seed(2, holder),
                clock,
                phases.clone(),
            ))
        })
        .collect();
    let watchers = (0..plan.watchers)
        .map(|watcher| {
            tokio::spawn(watchers::run_watcher(
                watcher as u32,
                endpoints.clone(),
                plan.client_seed(3, watcher),
                stopped.clone(),
            ))
        })
        .collect();
    Workload {
        clients,
        lease_holders,
        watchers,
        healed,
        stop,
    }
}

async fn stop_workload(workload: Workload) -> Records {
    workload.stop.send_replace(true);
    let mut history = History::default();
    for client in workload.clients {
        history.ops.extend(client.await.expect("a KV client"));
    }
    let mut leases = Vec::new();
    for holder in workload.lease_holders {
        leases.push(holder.await.expect("a lease holder"));
    }
    let mut watches = Vec::new();
    for watcher in workload.watchers {
        watches.push(watcher.await.expect("a watcher"));
    }
    Records {
        history,
        leases,
        watches,
    }
}

/// Puts [`LAST_KEY`] through any member until one commits it; its revision.
async fn write_within(cluster: &Cluster, timeout: Duration) -> i64 {
    let deadline = Instant::now() + timeout;
    for attempt in 0..ATTEMPTS_MAX {
        let member = attempt % cluster.members.len();
        let write = async {
            let mut kv = cluster.kv(member).await.ok()?;
            kv.put(put(LAST_KEY, "done")).await.ok()
        };
        if let Ok(Some(response)) = tokio::time::timeout(Duration::from_secs(5), write).await {
            return response.into_inner().header.expect("a header").revision;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    panic!("no write committed within {timeout:?} of healing");
}

/// Every member answers HashKV at `revision`, all with the same hash.
async fn members_agree(cluster: &Cluster, revision: i64) {
    let deadline = Instant::now() + LIVENESS_TIMEOUT;
    let mut hashes = Vec::new();
    for _ in 0..ATTEMPTS_MAX {
        hashes.clear();
        for i in 0..cluster.members.len() {
            let hash = match cluster.maintenance(i).await {
                Ok(mut maintenance) => maintenance
                    .hash_kv(pb::HashKvRequest { revision })
                    .await
                    .map(|r| r.into_inner().hash)
                    .map_err(|e| e.message().to_string()),
                Err(e) => Err(e.to_string()),
            };
            hashes.push(hash);
        }
        if hashes.iter().all(Result::is_ok) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    assert!(
        hashes.iter().all(Result::is_ok),
        "not every member answered HashKV at revision {revision}: {hashes:?}"
    );
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "members disagree at revision {revision}: {hashes:?}"
    );
}

/// Runs the linearizability checker; on failure, dumps the history next to
/// the cluster's temp files and names it.
fn check_history(seed: u64, history: &History) {
    let verdict = check(history);
    if verdict == CheckResult::Ok {
        return;
    }
    let path = std::env::temp_dir().join(format!("cairn-robustness-{seed}.history"));
    std::fs::write(&path, history.to_text()).expect("write the history");
    match verdict {
        CheckResult::Violation(violation) => panic!(
            "the history is not linearizable (seed {seed}); history in {}\n{violation}",
            path.display()
        ),
        _ => panic!(
            "the checker ran out of budget on this history (seed {seed}); history in {}",
            path.display()
        ),
    }
}

fn check_leases(logs: &[LeaseLog]) {
    let mut problems: Vec<String> = logs.iter().flat_map(|log| log.problems.clone()).collect();
    for log in logs {
        if log.healed_lease_gone == Some(false) {
            problems.push(format!(
                "holder {}: the lease it abandoned after healing was still there a TTL and {RECOVERY_AFTER_TTL:?} later",
                log.holder
            ));
        }
    }
    if problems.is_empty() {
        return;
    }
    for log in logs {
        eprintln!("lease holder {}:", log.holder);
        for note in &log.notes {
            eprintln!("  {note}");
        }
    }
    panic!(
        "lease check failed:\n{}",
        problems
            .iter()
            .map(|problem| format!("  {problem}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// What the checks covered.
fn summary(records: &Records, reference_events: usize) -> String {
    let leases = |count: fn(&LeaseLog) -> u32| records.leases.iter().map(count).sum::<u32>();
    format!(
        "{}, {} keep-alives and {} TimeToLive queries ({} leases granted, {} found gone, {} of {} abandoned ones), {} watch events (of {} in the cluster's history)",
        op_counts(&records.history),
        leases(|log| log.keepalives),
        leases(|log| log.time_to_live_queries),
        leases(|log| log.grants),
        leases(|log| log.expiries),
        leases(|log| log.abandoned_gone),
        leases(|log| log.abandoned),
        records.watches.iter().map(|log| log.events.len()).sum::<usize>(),
        reference_events
    )
}

/// `checked N ops (P puts, G gets, T txns; I indeterminate)`.
fn op_counts(history: &History) -> String {
    let count = |kind: fn(&Input) -> bool| history.ops.iter().filter(|op| kind(&op.input)).count();
    format!(
        "checked {} ops ({} puts, {} gets, {} txns; {} indeterminate)",
        history.ops.len(),
        count(|input| matches!(input, Input::Put { .. })),
        count(|input| matches!(input, Input::Get { .. })),
        count(|input| matches!(input, Input::Cas { .. })),
        history
            .ops
            .iter()
            .filter(|op| op.is_indeterminate())
            .count()
    )
}

/// A run where the clients got nothing done would check nothing.
fn assert_made_progress(records: &Records) {
    let answered = records
        .history
        .ops
        .iter()
        .filter(|op| !op.is_indeterminate())
        .count();
    assert!(answered >= 200, "only {answered} operations were answered");
    let keepalives: u32 = records.leases.iter().map(|log| log.keepalives).sum();
    assert!(keepalives >= 10, "only {keepalives} keep-alives succeeded");
    for log in &records.watches {
        assert!(
            !log.events.is_empty(),
            "watcher {} saw no event",
            log.watcher
        );
    }
}
