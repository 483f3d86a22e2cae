//! Locks and elections, side by side with Debian's real etcd 3.4.23: the
//! `Lock` and `Election` gRPC services called directly, `etcdctl lock` and
//! `etcdctl elect` (which run etcd's client-side recipes on KV, Lease and
//! Watch), mutual exclusion under contention (the Lock service and
//! cairn-client's `Mutex` queueing on the same lock), a holder killed with
//! SIGKILL, and a lock refused by auth.
//!
//! Needs `/usr/bin/etcd` and `/usr/bin/etcdctl`; without them the tests
//! print SKIPPED, unless `CAIRN_REQUIRE_ETCD=1` (as in CI).

#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
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
use support::Cluster;
use tonic::transport::Channel;

const ETCDCTL: &str = "/usr/bin/etcdctl";
/// How long any one step may take before the test gives up.
const STEP: Duration = Duration::from_secs(10);

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

async fn grant(channel: &Channel, ttl: i64) -> i64 {
    LeaseClient::new(channel.clone())
        .lease_grant(pb::LeaseGrantRequest { ttl, id: 0 })
        .await
        .expect("grant")
        .into_inner()
        .id
}

fn lock_request(name: &str, lease: i64) -> lockpb::LockRequest {
    lockpb::LockRequest {
        name: Bytes::copy_from_slice(name.as_bytes()),
        lease,
    }
}

/// Replaces each lease's hex (as it appears in keys) and decimal ID by its
/// label, so that two servers' transcripts compare.
fn mask(text: &str, leases: &[(i64, &str)]) -> String {
    let mut text = text.to_string();
    for (id, label) in leases {
        text = text.replace(&format!("{id:x}"), label);
        text = text.replace(&id.to_string(), label);
    }
    text
}

fn status_line(what: &str, status: &tonic::Status) -> String {
    format!("{what}: error {:?} {:?}", status.code(), status.message())
}

fn kv_line(kv: &cairn_proto::mvccpb::KeyValue) -> String {
    format!(
        "kv {} = {} create {} mod {} version {} lease {}",
        String::from_utf8_lossy(&kv.key),
        String::from_utf8_lossy(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        kv.lease
    )
}

fn revision(header: &Option<pb::ResponseHeader>) -> i64 {
    header.as_ref().map_or(-1, |h| h.revision)
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
    match lock.unlock(lockpb::UnlockRequest { key: Bytes::new() }).await {
        Ok(answer) => out.push(format!("unlock nothing at {}", revision(&answer.into_inner().header))),
        Err(status) => out.push(status_line("unlock nothing", &status)),
    }
    out.iter().map(|line| mask(line, &leases)).collect()
}

fn leader_key(key: &Option<electionpb::LeaderKey>) -> String {
    key.as_ref().map_or("none".to_string(), |key| {
        format!(
            "leader {} {} rev {} lease {}",
            String::from_utf8_lossy(&key.name),
            String::from_utf8_lossy(&key.key),
            key.rev,
            key.lease
        )
    })
}

async fn next_leader(
    observed: &mut tonic::Streaming<electionpb::LeaderResponse>,
) -> String {
    match tokio::time::timeout(STEP, observed.message()).await {
        Ok(Ok(Some(answer))) => format!(
            "observe at {}: {}",
            revision(&answer.header),
            answer.kv.as_ref().map_or("no kv".to_string(), kv_line)
        ),
        Ok(Ok(None)) => "observe ended".to_string(),
        Ok(Err(status)) => status_line("observe", &status),
        Err(_) => "observe timed out".to_string(),
    }
}

/// The Election service's script; its transcript, leases masked.
async fn election_script(channel: &Channel) -> Vec<String> {
    let mut election = ElectionClient::new(channel.clone());
    let mut out = Vec::new();
    let (first, second) = (grant(channel, 60).await, grant(channel, 60).await);
    let leases = [(first, "<L1>"), (second, "<L2>")];
    let name = Bytes::from_static(b"e");
    match election.leader(electionpb::LeaderRequest { name: name.clone() }).await {
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
    out.push(format!("campaign at {}: {}", revision(&won.header), leader_key(&won.leader)));
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
    out.push(format!("second wins at {}: {}", revision(&next.header), leader_key(&next.leader)));
    out.push(next_leader(&mut observed).await);
    for (what, request) in [
        ("campaign on a missing lease", campaign(0x7777, "x")),
    ] {
        match election.campaign(request).await {
            Ok(answer) => out.push(format!("{what}: {}", leader_key(&answer.into_inner().leader))),
            Err(status) => out.push(status_line(what, &status)),
        }
    }
    out.iter().map(|line| mask(line, &leases)).collect()
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
}
