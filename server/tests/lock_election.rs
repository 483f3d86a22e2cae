//! Locks and elections, side by side with Debian's real etcd 3.4.23: the
//! `Lock` and `Election` gRPC services called directly (transcripts with
//! lease IDs masked, errors included), `etcdctl lock` and `etcdctl elect`
//! (which run etcd's client-side recipes on KV, Lease and Watch), a holder
//! killed with SIGKILL, and a lock refused by auth. On cairn alone: mutual
//! exclusion of eight lockers (the Lock service, cairn-client's `Mutex` and
//! `etcdctl lock -- sh`, queueing on one lock), 220 waiters of one caller,
//! a caller known by its client certificate, and a Session's keep-alive.
//!
//! The comparisons need `/usr/bin/etcd` and `/usr/bin/etcdctl`; without
//! them they print SKIPPED, unless `CAIRN_REQUIRE_ETCD=1` (as in CI).

#![allow(clippy::disallowed_methods)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use cairn_proto::v3electionpb::{self as electionpb, election_client::ElectionClient};
use cairn_proto::v3lockpb::{self as lockpb, lock_client::LockClient};
use pb::kv_client::KvClient;
use pb::lease_client::LeaseClient;
use support::etcd::EtcdCluster;
use support::lock::{
    etcdctl, grant, kv_line, leader_key, lock_request, mask, mask_keys, next_leader, revision,
    status_line, Running, ETCDCTL, STEP,
};
use support::Cluster;
use tonic::transport::Channel;

fn tools_available(test: &str) -> bool {
    support::tools_available(
        test,
        &[support::etcd::ETCD, ETCDCTL],
        "etcd-server etcd-client",
    )
}

/// A real etcd and a cairn member, one each.
async fn both(tag: &str, extra: &[&str]) -> (EtcdCluster, Cluster) {
    let etcd = EtcdCluster::start(tag, 1, extra).await;
    let cairn = Cluster::start_with(tag, 1, extra).await;
    (etcd, cairn)
}

async fn channel(endpoint: &str) -> Channel {
    Channel::from_shared(endpoint.to_string())
        .expect("endpoint")
        .connect_timeout(STEP)
        .connect()
        .await
        .expect("connect")
}

/// The Lock service's script; its transcript, leases masked.
async fn lock_script(channel: &Channel) -> Vec<String> {
    let mut lock = LockClient::new(channel.clone());
    let mut out = Vec::new();
    let (first, second) = (grant(channel, 60).await, grant(channel, 60).await);
    let leases = [(first, "<L1>"), (second, "<L2>")];
    let held = lock
        .lock(lock_request("l", first))
        .await
        .expect("lock")
        .into_inner();
    out.push(format!(
        "lock {} at {}",
        String::from_utf8_lossy(&held.key),
        revision(&held.header)
    ));
    let again = lock
        .lock(lock_request("l", first))
        .await
        .expect("lock again")
        .into_inner();
    out.push(format!(
        "lock again {} at {}",
        String::from_utf8_lossy(&again.key),
        revision(&again.header)
    ));
    let mut waiter = lock.clone();
    let waiting = tokio::spawn(async move { waiter.lock(lock_request("l", second)).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    out.push(format!("second waits: {}", !waiting.is_finished()));
    let unlocked = lock
        .unlock(lockpb::UnlockRequest {
            key: held.key.clone(),
        })
        .await
        .expect("unlock")
        .into_inner();
    out.push(format!("unlock at {}", revision(&unlocked.header)));
    let next = tokio::time::timeout(STEP, waiting)
        .await
        .expect("the waiter gets the lock")
        .expect("task")
        .expect("lock")
        .into_inner();
    out.push(format!(
        "second holds {} at {}",
        String::from_utf8_lossy(&next.key),
        revision(&next.header)
    ));
    // Lease 0 is no lease: the service grants one (etcd's default 60 s).
    let unleased = lock
        .lock(lock_request("l0", 0))
        .await
        .expect("lock with lease 0")
        .into_inner();
    let key = String::from_utf8_lossy(&unleased.key).to_string();
    let granted = i64::from_str_radix(key.trim_start_matches("l0/"), 16).unwrap_or(0);
    let ttl = LeaseClient::new(channel.clone())
        .lease_time_to_live(pb::LeaseTimeToLiveRequest {
            id: granted,
            keys: true,
        })
        .await
        .expect("time to live")
        .into_inner();
    out.push(format!(
        "lock with lease 0: a new lease granted {} s, keys {:?}",
        ttl.granted_ttl,
        ttl.keys
            .iter()
            .map(|k| String::from_utf8_lossy(k).replace(&format!("{granted:x}"), "<new>"))
            .collect::<Vec<_>>()
    ));
    // A waiter that gives up (its call cancelled) leaves no key behind.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        lock.lock(lock_request("l", first)),
    )
    .await;
    out.push(format!("cancelled waiter timed out: {}", gave_up.is_err()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut keys = KvClient::new(channel.clone())
        .range(pb::RangeRequest {
            key: Bytes::from_static(b"l/"),
            range_end: Bytes::from_static(b"l0"),
            keys_only: true,
            ..pb::RangeRequest::default()
        })
        .await
        .expect("range")
        .into_inner()
        .kvs
        .into_iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).to_string());
    out.push(format!(
        "keys under l/ after it: {:?}",
        keys.by_ref().collect::<Vec<_>>()
    ));
    for (what, request) in [
        ("lock without a lease", lock_request("l2", 0x7777)),
        ("lock with no name", lock_request("", first)),
    ] {
        match lock.lock(request).await {
            Ok(answer) => out.push(format!(
                "{what}: {}",
                String::from_utf8_lossy(&answer.into_inner().key)
            )),
            Err(status) => out.push(status_line(what, &status)),
        }
    }
    match lock
        .unlock(lockpb::UnlockRequest { key: Bytes::new() })
        .await
    {
        Ok(answer) => out.push(format!(
            "unlock nothing at {}",
            revision(&answer.into_inner().header)
        )),
        Err(status) => out.push(status_line("unlock nothing", &status)),
    }
    out.iter().map(|line| mask(line, &leases)).collect()
}

/// The Election service's script; its transcript, leases masked.
async fn election_script(channel: &Channel) -> Vec<String> {
    let mut election = ElectionClient::new(channel.clone());
    let mut out = Vec::new();
    let (first, second) = (grant(channel, 60).await, grant(channel, 60).await);
    let leases = [(first, "<L1>"), (second, "<L2>")];
    let name = Bytes::from_static(b"e");
    match election
        .leader(electionpb::LeaderRequest { name: name.clone() })
        .await
    {
        Ok(_) => out.push("leader before any campaign".to_string()),
        Err(status) => out.push(status_line("leader before any campaign", &status)),
    }
    let campaign = |lease: i64, value: &'static str| electionpb::CampaignRequest {
        name: name.clone(),
        lease,
        value: Bytes::from_static(value.as_bytes()),
    };
    let won = election
        .campaign(campaign(first, "v1"))
        .await
        .expect("campaign")
        .into_inner();
    out.push(format!(
        "campaign at {}: {}",
        revision(&won.header),
        leader_key(&won.leader)
    ));
    let mut observed = election
        .observe(electionpb::LeaderRequest { name: name.clone() })
        .await
        .expect("observe")
        .into_inner();
    out.push(next_leader(&mut observed).await);
    let proclaimed = election
        .proclaim(electionpb::ProclaimRequest {
            leader: won.leader.clone(),
            value: Bytes::from_static(b"v2"),
        })
        .await
        .expect("proclaim")
        .into_inner();
    out.push(format!("proclaim at {}", revision(&proclaimed.header)));
    out.push(next_leader(&mut observed).await);
    let leader = election
        .leader(electionpb::LeaderRequest { name: name.clone() })
        .await
        .expect("leader")
        .into_inner();
    out.push(format!(
        "leader at {}: {}",
        revision(&leader.header),
        leader.kv.as_ref().map_or("no kv".to_string(), kv_line)
    ));
    let mut stale = won.leader.clone().expect("a leader key");
    stale.rev += 100;
    match election
        .proclaim(electionpb::ProclaimRequest {
            leader: Some(stale.clone()),
            value: Bytes::from_static(b"bad"),
        })
        .await
    {
        Ok(_) => out.push("proclaim with a stale key: ok".to_string()),
        Err(status) => out.push(status_line("proclaim with a stale key", &status)),
    }
    match election
        .proclaim(electionpb::ProclaimRequest {
            leader: None,
            value: Bytes::new(),
        })
        .await
    {
        Ok(_) => out.push("proclaim without a key: ok".to_string()),
        Err(status) => out.push(status_line("proclaim without a key", &status)),
    }
    match election
        .resign(electionpb::ResignRequest {
            leader: Some(stale),
        })
        .await
    {
        Ok(answer) => out.push(format!(
            "resign with a stale key at {}",
            revision(&answer.into_inner().header)
        )),
        Err(status) => out.push(status_line("resign with a stale key", &status)),
    }
    let mut contender = election.clone();
    let second_campaign = campaign(second, "w1");
    let waiting = tokio::spawn(async move { contender.campaign(second_campaign).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    out.push(format!("second waits: {}", !waiting.is_finished()));
    let resigned = election
        .resign(electionpb::ResignRequest {
            leader: won.leader.clone(),
        })
        .await
        .expect("resign")
        .into_inner();
    out.push(format!("resign at {}", revision(&resigned.header)));
    let next = tokio::time::timeout(STEP, waiting)
        .await
        .expect("the second campaign wins")
        .expect("task")
        .expect("campaign")
        .into_inner();
    out.push(format!(
        "second wins at {}: {}",
        revision(&next.header),
        leader_key(&next.leader)
    ));
    out.push(next_leader(&mut observed).await);
    for (what, request) in [("campaign on a missing lease", campaign(0x7777, "x"))] {
        match election.campaign(request).await {
            Ok(answer) => out.push(format!(
                "{what}: {}",
                leader_key(&answer.into_inner().leader)
            )),
            Err(status) => out.push(status_line(what, &status)),
        }
    }
    out.iter().map(|line| mask(line, &leases)).collect()
}

/// How long `count` uncontended Lock + Unlock pairs take (a figure for
/// the log, not a check).
async fn lock_unlock_time(channel: &Channel, count: u32) -> Duration {
    let lease = grant(channel, 60).await;
    let mut lock = LockClient::new(channel.clone());
    let started = Instant::now();
    for _ in 0..count {
        let held = lock
            .lock(lock_request("timed", lease))
            .await
            .expect("lock")
            .into_inner();
        lock.unlock(lockpb::UnlockRequest { key: held.key })
            .await
            .expect("unlock");
    }
    started.elapsed()
}

/// How long `count` Puts take, one after the other.
async fn put_time(channel: &Channel, count: u32) -> Duration {
    let mut kv = KvClient::new(channel.clone());
    let started = Instant::now();
    for _ in 0..count {
        kv.put(support::put("timed-put", "v")).await.expect("put");
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_and_election_services_answer_as_etcd_does() {
    if !tools_available("lock_and_election_services_answer_as_etcd_does") {
        return;
    }
    let (etcd, cairn) = both("le-grpc", &[]).await;
    let etcd_channel = channel(&etcd.members[0].endpoint()).await;
    let cairn_channel = channel(&cairn.members[0].endpoint()).await;
    let etcd_lock = lock_script(&etcd_channel).await;
    let cairn_lock = lock_script(&cairn_channel).await;
    eprintln!("etcd's Lock transcript:\n{}", etcd_lock.join("\n"));
    assert_eq!(cairn_lock, etcd_lock, "Lock: cairn (left) and etcd (right)");
    let etcd_election = election_script(&etcd_channel).await;
    let cairn_election = election_script(&cairn_channel).await;
    eprintln!("etcd's Election transcript:\n{}", etcd_election.join("\n"));
    assert_eq!(
        cairn_election, etcd_election,
        "Election: cairn (left) and etcd (right)"
    );
    let etcd_time = lock_unlock_time(&etcd_channel, 100).await;
    let cairn_time = lock_unlock_time(&cairn_channel, 100).await;
    eprintln!("100 uncontended Lock+Unlock: etcd {etcd_time:?}, cairn {cairn_time:?}");
    let etcd_puts = put_time(&etcd_channel, 200).await;
    let cairn_puts = put_time(&cairn_channel, 200).await;
    eprintln!("for scale, 200 Puts: etcd {etcd_puts:?}, cairn {cairn_puts:?}");
}

/// `etcdctl lock` and `etcdctl elect` against `endpoint`; what they print.
fn etcdctl_script(endpoint: &str) -> Vec<String> {
    let mut out = Vec::new();
    let holder = Running::start({
        let mut command = etcdctl(endpoint);
        command.args(["lock", "mylock"]);
        command
    });
    out.extend(holder.lines(2));
    out.push(holder.terminate());
    let run = etcdctl(endpoint)
        .args(["lock", "mylock", "--", "sh", "-c"])
        .arg("echo key=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV")
        .output()
        .expect("etcdctl lock -- command");
    out.push(String::from_utf8_lossy(&run.stdout).trim_end().to_string());
    out.push(format!("exit {:?}", run.status.code()));
    let elect = |proposal: &str| {
        let mut command = etcdctl(endpoint);
        command.args(["elect", "myelection", proposal]);
        Running::start(command)
    };
    let first = elect("p1");
    out.extend(first.lines(2));
    let listener = Running::start({
        let mut command = etcdctl(endpoint);
        command.args(["elect", "-l", "myelection"]);
        command
    });
    out.extend(listener.lines(2));
    let second = elect("p2");
    std::thread::sleep(Duration::from_millis(300));
    out.push(format!(
        "second printed: {:?}",
        second.lines.try_recv().ok()
    ));
    out.push(first.terminate());
    out.extend(second.lines(2));
    out.extend(listener.lines(2));
    out.push(second.terminate());
    out.push(listener.terminate());
    // A holder whose lease is revoked under it gives up the lock.
    let revoked = Running::start({
        let mut command = etcdctl(endpoint);
        command.args(["lock", "--ttl", "3", "revoked"]);
        command
    });
    let key = revoked.lines(1).pop().unwrap_or_default();
    let lease = key.rsplit('/').next().unwrap_or_default().to_string();
    let revoke = etcdctl(endpoint)
        .args(["lease", "revoke", &lease])
        .output()
        .expect("etcdctl lease revoke");
    out.push(key);
    out.push(
        String::from_utf8_lossy(&revoke.stdout)
            .trim_end()
            // The key names the lease as `%x`, `lease revoke` as `%016x`.
            .replace(&format!("{lease:0>16}"), "<lease 4>")
            .replace(&lease, "<lease 4>"),
    );
    out.push(revoked.exit());
    mask_keys(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcdctl_lock_and_elect_print_what_etcd_prints() {
    if !tools_available("etcdctl_lock_and_elect_print_what_etcd_prints") {
        return;
    }
    let (etcd, cairn) = both("le-ctl", &[]).await;
    let (etcd_endpoint, cairn_endpoint) = (etcd.members[0].endpoint(), cairn.members[0].endpoint());
    let etcd_out = tokio::task::spawn_blocking(move || etcdctl_script(&etcd_endpoint));
    let cairn_out = tokio::task::spawn_blocking(move || etcdctl_script(&cairn_endpoint));
    let (etcd_out, cairn_out) = (
        etcd_out.await.expect("etcd"),
        cairn_out.await.expect("cairn"),
    );
    eprintln!("etcd:\n{}", etcd_out.join("\n"));
    assert_eq!(cairn_out, etcd_out, "cairn (left) and etcd (right)");
}

/// Appends one line to the shared log of critical sections (O_APPEND: each
/// line lands whole, whichever process writes it).
fn record(log: &std::path::Path, line: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    file.write_all(format!("{line}\n").as_bytes())
        .expect("append");
}

/// One critical section: read the counter, write it plus one, not atomically.
async fn increment(
    kv: &mut KvClient<Channel>,
    inside: &AtomicBool,
    log: &std::path::Path,
    who: &str,
) {
    record(log, &format!("enter {who}"));
    assert!(
        !inside.swap(true, Ordering::SeqCst),
        "{who} entered while another was inside"
    );
    let read = kv
        .range(support::get("counter"))
        .await
        .expect("get")
        .into_inner();
    let value: u64 = read.kvs.first().map_or(0, |kv| {
        String::from_utf8_lossy(&kv.value).parse().unwrap_or(0)
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    kv.put(support::put("counter", &(value + 1).to_string()))
        .await
        .expect("put");
    inside.store(false, Ordering::SeqCst);
    record(log, &format!("exit {who}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locks_exclude_each_other_under_contention() {
    if !tools_available("locks_exclude_each_other_under_contention") {
        return;
    }
    const ROUNDS: usize = 6;
    const ETCDCTL_ROUNDS: usize = 3;
    let cairn = Cluster::start("le-mutex", 1).await;
    let endpoint = cairn.members[0].endpoint();
    let channel = channel(&endpoint).await;
    let log = cairn.dir.join("sections.log");
    let inside = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    // Three through the Lock service, three through cairn-client's Mutex:
    // both queue on the keys under `counter-lock/`.
    for worker in 0..6 {
        let (channel, log, inside, endpoint) = (
            channel.clone(),
            log.clone(),
            inside.clone(),
            endpoint.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut kv = KvClient::new(channel.clone());
            let who = format!("task{worker}");
            if worker < 3 {
                let mut lock = LockClient::new(channel.clone());
                let lease = grant(&channel, 30).await;
                for _ in 0..ROUNDS {
                    let held = lock
                        .lock(lock_request("counter-lock", lease))
                        .await
                        .expect("lock")
                        .into_inner();
                    increment(&mut kv, &inside, &log, &who).await;
                    lock.unlock(lockpb::UnlockRequest { key: held.key })
                        .await
                        .expect("unlock");
                }
            } else {
                use cairn_client::concurrency::{Mutex, Session, SessionOptions};
                let config = cairn_client::ClientConfig::new(
                    cairn_client::endpoint::parse_list([endpoint.as_str()]).expect("endpoint"),
                );
                let client = cairn_client::Client::connect(config).await.expect("client");
                let session = Session::new(&client, SessionOptions::default().with_ttl(30))
                    .await
                    .expect("session");
                let mut mutex = Mutex::new(&session, "counter-lock");
                for _ in 0..ROUNDS {
                    mutex.lock().await.expect("lock");
                    increment(&mut kv, &inside, &log, &who).await;
                    mutex.unlock().await.expect("unlock");
                }
                session.close().await.expect("close");
            }
        }));
    }
    // And two etcdctl processes, each section a shell running etcdctl.
    let section = format!(
        "echo enter $W >> {log}; v=$({ETCDCTL} --endpoints {endpoint} get counter --print-value-only); \
         {ETCDCTL} --endpoints {endpoint} put counter $((${{v:-0}}+1)) >/dev/null; echo exit $W >> {log}",
        log = log.display()
    );
    for worker in 0..2 {
        let (endpoint, section) = (endpoint.clone(), section.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            for _ in 0..ETCDCTL_ROUNDS {
                let status = etcdctl(&endpoint)
                    .env("W", format!("etcdctl{worker}"))
                    .args(["lock", "counter-lock", "--", "sh", "-c", &section])
                    .status()
                    .expect("etcdctl lock");
                assert!(status.success(), "etcdctl lock -- sh: {status}");
            }
        }));
    }
    let started = Instant::now();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(40), task)
            .await
            .expect("in time")
            .expect("worker");
    }
    let total = 6 * ROUNDS + 2 * ETCDCTL_ROUNDS;
    let mut kv = KvClient::new(channel.clone());
    let read = kv
        .range(support::get("counter"))
        .await
        .expect("get")
        .into_inner();
    let counter = String::from_utf8_lossy(&read.kvs[0].value).to_string();
    assert_eq!(counter, total.to_string(), "lost increments");
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .expect("log")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2 * total);
    for pair in lines.chunks(2) {
        let enter = pair[0].strip_prefix("enter ");
        let exit = pair[1].strip_prefix("exit ");
        assert!(
            enter.is_some() && enter == exit,
            "overlapping critical sections: {pair:?}"
        );
    }
    eprintln!(
        "{total} critical sections by 8 lockers in {:?}",
        started.elapsed()
    );
}

/// Kills an `etcdctl lock --ttl 3` holder with SIGKILL; a waiter on the Lock
/// service gets the lock once the holder's lease expired: within the TTL
/// and a margin, and never while the lease lives.
async fn holder_killed(endpoint: String) -> Duration {
    const TTL_SECONDS: u64 = 3;
    let channel = channel(&endpoint).await;
    let mut holder = Running::start({
        let mut command = etcdctl(&endpoint);
        command.args(["lock", "--ttl", &TTL_SECONDS.to_string(), "fenced"]);
        command
    });
    let key = holder.lines(1).pop().expect("the holder prints its key");
    let lease =
        i64::from_str_radix(key.rsplit('/').next().unwrap_or_default(), 16).expect("lease hex");
    let waiter_lease = grant(&channel, 30).await;
    let mut lock = LockClient::new(channel.clone());
    let waiting =
        tokio::spawn(async move { lock.lock(lock_request("fenced", waiter_lease)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the waiter got a held lock");
    let _ = holder.child.kill();
    let _ = holder.child.wait();
    let killed = Instant::now();
    let held = tokio::time::timeout(Duration::from_secs(TTL_SECONDS + 3), waiting)
        .await
        .expect("the waiter gets the lock within the TTL and a margin")
        .expect("task")
        .expect("lock")
        .into_inner();
    let waited = killed.elapsed();
    let holder_lease = LeaseClient::new(channel)
        .lease_time_to_live(pb::LeaseTimeToLiveRequest {
            id: lease,
            keys: false,
        })
        .await
        .expect("time to live")
        .into_inner();
    assert_eq!(
        holder_lease.ttl, -1,
        "the lock passed on while the holder's lease lived"
    );
    assert!(held.key.starts_with(b"fenced/"));
    assert!(
        waited >= Duration::from_millis(500),
        "the lock passed on before the lease could expire: {waited:?}"
    );
    waited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_holders_lock_passes_on_when_its_lease_expires() {
    if !tools_available("a_killed_holders_lock_passes_on_when_its_lease_expires") {
        return;
    }
    let (etcd, cairn) = both("le-kill", &[]).await;
    let (etcd_waited, cairn_waited) = tokio::join!(
        holder_killed(etcd.members[0].endpoint()),
        holder_killed(cairn.members[0].endpoint())
    );
    eprintln!("lock passed on after the kill: etcd {etcd_waited:?}, cairn {cairn_waited:?}");
}

/// A Lock request as `token`'s user.
fn as_user<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("token", token.parse().expect("ascii token"));
    request
}

/// With auth on, alice (read-write on `a/` only) locks under `a/` and is
/// refused under `b/`; through the service and through etcdctl.
async fn auth_script(endpoint: String) -> Vec<String> {
    let channel = channel(&endpoint).await;
    let mut auth = pb::auth_client::AuthClient::new(channel.clone());
    support::auth::enable_with_alice(&mut auth, "rootpw", "alicepw").await;
    let token = auth
        .authenticate(pb::AuthenticateRequest {
            name: "alice".into(),
            password: "alicepw".into(),
        })
        .await
        .expect("authenticate")
        .into_inner()
        .token;
    let lease = LeaseClient::new(channel.clone())
        .lease_grant(as_user(pb::LeaseGrantRequest { ttl: 30, id: 0 }, &token))
        .await
        .expect("grant")
        .into_inner()
        .id;
    let mut lock = LockClient::new(channel.clone());
    let mut out = Vec::new();
    for name in ["a/lock", "b/lock"] {
        match lock.lock(as_user(lock_request(name, lease), &token)).await {
            Ok(answer) => out.push(format!(
                "lock {name}: {}",
                String::from_utf8_lossy(&answer.into_inner().key)
            )),
            Err(status) => out.push(status_line(&format!("lock {name}"), &status)),
        }
    }
    match lock.lock(lock_request("a/lock2", lease)).await {
        Ok(_) => out.push("lock without a token: ok".to_string()),
        Err(status) => out.push(status_line("lock without a token", &status)),
    }
    let mut election = ElectionClient::new(channel.clone());
    let campaign = electionpb::CampaignRequest {
        name: "b/e".into(),
        lease,
        value: "v".into(),
    };
    match election.campaign(as_user(campaign, &token)).await {
        Ok(_) => out.push("campaign b/e: ok".to_string()),
        Err(status) => out.push(status_line("campaign b/e", &status)),
    }
    let ctl = tokio::task::spawn_blocking(move || {
        etcdctl(&endpoint)
            .args(["--user", "alice:alicepw", "lock", "b/lock"])
            .output()
            .expect("etcdctl")
    })
    .await
    .expect("etcdctl");
    out.push(format!(
        "etcdctl lock b/lock: {:?} {}",
        ctl.status.code(),
        // etcdctl's client also logs its retries as JSON, with times.
        String::from_utf8_lossy(&ctl.stderr)
            .lines()
            .filter(|line| !line.starts_with('{'))
            .collect::<Vec<_>>()
            .join("\n")
    ));
    out.iter()
        .map(|line| mask(line, &[(lease, "<L>")]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_without_permission_is_refused_as_etcd_refuses_it() {
    if !tools_available("a_lock_without_permission_is_refused_as_etcd_refuses_it") {
        return;
    }
    let (etcd, cairn) = both("le-auth", &[]).await;
    let (etcd_out, cairn_out) = tokio::join!(
        auth_script(etcd.members[0].endpoint()),
        auth_script(cairn.members[0].endpoint())
    );
    eprintln!("etcd:\n{}", etcd_out.join("\n"));
    assert_eq!(cairn_out, etcd_out, "cairn (left) and etcd (right)");
}

/// More waiters of one caller than HTTP/2's usual stream limit (200): each
/// waits on a stream of the caller's in-process connection, and the
/// holder's Unlock must still get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_waiters_of_one_caller_do_not_block_the_holder() {
    const WAITERS: usize = 220;
    let cairn = Cluster::start("le-many", 1).await;
    let channel = channel(&cairn.members[0].endpoint()).await;
    let mut lock = LockClient::new(channel.clone());
    let held = lock
        .lock(lock_request("crowded", grant(&channel, 60).await))
        .await
        .expect("lock")
        .into_inner();
    let mut waiters = Vec::new();
    for _ in 0..WAITERS {
        let (mut lock, lease) = (lock.clone(), grant(&channel, 60).await);
        waiters.push(tokio::spawn(async move {
            let held = lock
                .lock(lock_request("crowded", lease))
                .await?
                .into_inner();
            lock.unlock(lockpb::UnlockRequest { key: held.key }).await?;
            Ok::<_, tonic::Status>(())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    tokio::time::timeout(STEP, lock.unlock(lockpb::UnlockRequest { key: held.key }))
        .await
        .expect("the holder's Unlock is not stuck behind the waiters")
        .expect("unlock");
    for waiter in waiters {
        tokio::time::timeout(Duration::from_secs(20), waiter)
            .await
            .expect("every waiter gets the lock in turn")
            .expect("task")
            .expect("lock and unlock");
    }
    eprintln!(
        "{WAITERS} waiters held the lock in turn in {:?}",
        started.elapsed()
    );
}

/// With `--client-cert-auth` and auth on, a caller known by its
/// certificate's CN (no token) locks with that user's permissions: the
/// in-process calls carry the CN.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_users_lock_runs_with_its_permissions() {
    use support::certs::Ca;
    use support::{ClientTls, Options};
    let dir = support::temp_dir("le-cn-pki");
    let _cleanup = support::RemoveOnDrop(dir.clone());
    let ca = Ca::new("lock test CA");
    let ca_file = ca.write(&dir, "ca.pem");
    let server = ca
        .issue("server", &["127.0.0.1", "localhost"], 1)
        .write(&dir, "server");
    let tls = |name: &str, serial: u64| {
        let leaf = ca.issue(name, &["127.0.0.1"], serial);
        ClientTls {
            ca_pem: ca.cert_pem.clone(),
            cert_pem: leaf.cert_pem,
            key_pem: leaf.key_pem,
        }
    };
    let (root, alice) = (tls("root", 2), tls("alice", 3));
    let flags = [
        "--cert-file",
        server.cert(),
        "--key-file",
        server.key(),
        "--trusted-ca-file",
        ca_file.to_str().expect("utf-8"),
        "--client-cert-auth",
    ];
    let options = Options {
        client_tls: Some(root),
        ..Options::extra(&flags)
    };
    let cairn = Cluster::start_with_options("le-cn", 1, options).await;
    let root_channel = cairn.channel(0, STEP).await.expect("root's channel");
    let mut auth = pb::auth_client::AuthClient::new(root_channel);
    support::auth::enable_with_alice(&mut auth, "rootpw", "alicepw").await;
    let alice_channel = Channel::from_shared(cairn.members[0].endpoint())
        .expect("endpoint")
        .tls_config(alice.config())
        .expect("tls")
        .connect()
        .await
        .expect("alice's channel");
    let lease = grant(&alice_channel, 30).await;
    let mut lock = LockClient::new(alice_channel);
    let held = lock
        .lock(lock_request("a/lock", lease))
        .await
        .expect("alice locks under a/")
        .into_inner();
    assert!(held.key.starts_with(b"a/lock/"));
    let refused = lock
        .lock(lock_request("b/lock", lease))
        .await
        .expect_err("alice may not lock under b/");
    assert_eq!(
        (refused.code(), refused.message()),
        (tonic::Code::Unknown, "etcdserver: permission denied")
    );
}

/// cairn-client's Session keeps a short lease alive past its TTL, and says
/// it is done soon after the lease is revoked behind its back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_keeps_its_lease_alive_until_the_lease_is_gone() {
    use cairn_client::concurrency::{Session, SessionOptions};
    let cairn = Cluster::start("le-session", 1).await;
    let endpoint = cairn.members[0].endpoint();
    let config = cairn_client::ClientConfig::new(
        cairn_client::endpoint::parse_list([endpoint.as_str()]).expect("endpoint"),
    );
    let client = cairn_client::Client::connect(config).await.expect("client");
    let session = Session::new(&client, SessionOptions::default().with_ttl(2))
        .await
        .expect("session");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut leases = LeaseClient::new(channel(&endpoint).await);
    let alive = leases
        .lease_time_to_live(pb::LeaseTimeToLiveRequest {
            id: session.lease(),
            keys: false,
        })
        .await
        .expect("time to live")
        .into_inner();
    assert!(alive.ttl > 0, "the lease expired: {alive:?}");
    assert!(!session.is_done());
    leases
        .lease_revoke(pb::LeaseRevokeRequest {
            id: session.lease(),
        })
        .await
        .expect("revoke");
    tokio::time::timeout(Duration::from_secs(3), session.done())
        .await
        .expect("done within the TTL after the revoke");
    assert!(session.is_done());
}

/// A waiter whose lease is revoked while it waits: etcd 3.4 still answers
/// the Lock with its (deleted) key once the holder unlocks; cairn answers
/// "mutex: session is expired", as etcd 3.5 does. The one deliberate
/// difference (docs/lock-election.md).
async fn waiter_loses_its_lease(endpoint: String) -> String {
    let channel = channel(&endpoint).await;
    let mut lock = LockClient::new(channel.clone());
    let (holder, waiter) = (grant(&channel, 60).await, grant(&channel, 60).await);
    let held = lock
        .lock(lock_request("lost", holder))
        .await
        .expect("lock")
        .into_inner();
    let mut waiting_lock = lock.clone();
    let waiting =
        tokio::spawn(async move { waiting_lock.lock(lock_request("lost", waiter)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    LeaseClient::new(channel.clone())
        .lease_revoke(pb::LeaseRevokeRequest { id: waiter })
        .await
        .expect("revoke");
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.unlock(lockpb::UnlockRequest { key: held.key })
        .await
        .expect("unlock");
    let answer = tokio::time::timeout(STEP, waiting)
        .await
        .expect("the waiter answers")
        .expect("task");
    match answer {
        Ok(answer) => mask(
            &format!(
                "locked {}",
                String::from_utf8_lossy(&answer.into_inner().key)
            ),
            &[(waiter, "<waiter>")],
        ),
        Err(status) => status_line("lock", &status),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiter_whose_lease_is_revoked_is_told_so() {
    if !tools_available("a_waiter_whose_lease_is_revoked_is_told_so") {
        return;
    }
    let (etcd, cairn) = both("le-lost", &[]).await;
    let (etcd_answer, cairn_answer) = tokio::join!(
        waiter_loses_its_lease(etcd.members[0].endpoint()),
        waiter_loses_its_lease(cairn.members[0].endpoint())
    );
    assert_eq!(etcd_answer, "locked lost/<waiter>", "etcd 3.4's answer");
    assert_eq!(
        cairn_answer,
        "lock: error Unknown \"mutex: session is expired\""
    );
}
