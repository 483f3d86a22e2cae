//! Membership changes on real processes: a cluster grown from one member to
//! five and shrunk back under a steady stream of writes, losing none; a
//! learner that catches up and is promoted; the leader removed (it hands
//! leadership over, then stops and says why, in etcd's words).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use pb::cluster_client::ClusterClient;
use pb::kv_client::KvClient;
use support::{put, Cluster};
use tonic::transport::Channel;

/// Every key under `prefix` that member i holds (a linearizable read).
async fn keys_on(cluster: &Cluster, i: usize, prefix: &str) -> Vec<String> {
    let mut kv = cluster.kv(i).await.expect("connect");
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().expect("a prefix") += 1;
    let response = kv
        .range(pb::RangeRequest {
            key: prefix.as_bytes().to_vec().into(),
            range_end: end.into(),
            keys_only: true,
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    response
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

/// Writes `w000000`, `w000001`, ... through `kv` until `stop`, recording
/// each acknowledged key. Failed writes (a leader change) are retried under
/// the next key.
fn start_writer(
    mut kv: KvClient<Channel>,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut failed = 0;
        let mut n = 0u64;
        // Bounded: at most 60 s of writing.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let key = format!("w{n:06}");
            n += 1;
            match kv.put(put(&key, "v")).await {
                Ok(_) => acked.lock().expect("acked").push(key),
                Err(_) => {
                    failed += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        failed
    })
}

async fn member_list(cluster: &Cluster, via: usize) -> Vec<pb::Member> {
    let channel = cluster
        .channel(via, Duration::from_secs(10))
        .await
        .expect("connect");
    ClusterClient::new(channel)
        .member_list(pb::MemberListRequest {})
        .await
        .expect("member list")
        .into_inner()
        .members
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_grows_from_one_to_five_and_back_under_writes_losing_none() {
    let mut cluster = Cluster::start("grow", 1).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = start_writer(
        cluster.kv(0).await.expect("connect"),
        stop.clone(),
        acked.clone(),
    );
    let mut ids = vec![cluster.member_ids().await[0]];
    for _ in 2..=5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (index, id) = cluster.add_member(0, false).await;
        cluster.wait_serving(index).await;
        ids.push(id);
    }
    assert_eq!(member_list(&cluster, 4).await.len(), 5);
    // Every member, the newest included, holds every write acknowledged
    // before this point.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before: Vec<String> = acked.lock().expect("acked").clone();
    assert!(
        before.len() > 20,
        "the writer made progress: {}",
        before.len()
    );
    for i in 0..5 {
        let held = keys_on(&cluster, i, "w").await;
        let missing: Vec<&String> = before.iter().filter(|k| !held.contains(k)).collect();
        assert!(missing.is_empty(), "m{} misses {missing:?}", i + 1);
    }
    // Shrink back to the first member, newest first; each removed member
    // stops by itself, cleanly.
    for index in (1..5).rev() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cluster
            .remove_member(0, ids[index])
            .await
            .unwrap_or_else(|e| panic!("remove m{}: {e}", index + 1));
        let status = cluster.wait_exit(index, Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "m{} did not stop cleanly ({status:?}); log:\n{}",
            index + 1,
            cluster.members[index].log_text()
        );
        assert!(cluster.members[index]
            .log_text()
            .contains("the member has been permanently removed from the cluster"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let failed = writer.await.expect("writer");
    let acked = acked.lock().expect("acked").clone();
    let held = keys_on(&cluster, 0, "w").await;
    let missing: Vec<&String> = acked.iter().filter(|k| !held.contains(k)).collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert_eq!(member_list(&cluster, 0).await.len(), 1);
    eprintln!(
        "grow 1→5→1: {} writes acknowledged, {failed} refused and retried, none lost",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_catches_up_is_promoted_and_the_leader_is_removed() {
    let mut cluster = Cluster::start("learner", 3).await;
    let mut kv = cluster.kv(0).await.expect("connect");
    for i in 0..200 {
        kv.put(put(&format!("k{i:03}"), "v")).await.expect("put");
    }
    let (learner, learner_id) = cluster.add_member(0, true).await;
    cluster.wait_serving(learner).await;
    // A learner serves serializable reads only; wait for it to hold all.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut kv = cluster.kv(learner).await.expect("connect");
        let count = kv
            .range(pb::RangeRequest {
                key: b"k".to_vec().into(),
                range_end: b"l".to_vec().into(),
                count_only: true,
                serializable: true,
                ..Default::default()
            })
            .await
            .expect("serializable range on a learner")
            .into_inner()
            .count;
        if count == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the learner has {count} of 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut learner_kv = cluster.kv(learner).await.expect("connect");
    let refused = learner_kv
        .put(put("x", "y"))
        .await
        .expect_err("a learner refuses writes");
    assert_eq!(
        refused.message(),
        "etcdserver: rpc not supported for learner"
    );
    // Promote it (through a follower: sent on to the leader).
    let channel = cluster
        .channel(1, Duration::from_secs(10))
        .await
        .expect("connect");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ClusterClient::new(channel.clone())
            .member_promote(pb::MemberPromoteRequest { id: learner_id })
            .await
        {
            Ok(_) => break,
            Err(status)
                if status.message().contains("in sync with leader")
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(status) => panic!("promote: {status}"),
        }
    }
    // Through the promoted member itself, once it has applied its promotion
    // (a learner is not served member lists).
    let deadline = Instant::now() + Duration::from_secs(10);
    let members = loop {
        let channel = cluster
            .channel(learner, Duration::from_secs(10))
            .await
            .expect("connect");
        match ClusterClient::new(channel)
            .member_list(pb::MemberListRequest {})
            .await
        {
            Ok(list) => break list.into_inner().members,
            Err(status) if Instant::now() < deadline => {
                assert_eq!(
                    status.message(),
                    "etcdserver: rpc not supported for learner"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("member list on the promoted member: {status}"),
        }
    };
    assert_eq!(members.len(), 4);
    assert!(members.iter().all(|m| !m.is_learner));
    learner_kv.put(put("x", "y")).await.expect("a voter writes");

    // Remove the leader: it hands leadership over first, then stops.
    let leader = cluster.leader().await.expect("a leader");
    let leader_id = cluster.member_ids().await[leader];
    let via = (leader + 1) % 4;
    cluster
        .remove_member(via, leader_id)
        .await
        .expect("remove the leader");
    let status = cluster.wait_exit(leader, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "the removed leader did not stop cleanly ({status:?})"
    );
    let new_leader = cluster.leader().await.expect("a new leader");
    assert_ne!(new_leader, leader);
    let mut kv = cluster.kv(new_leader).await.expect("connect");
    kv.put(put("after", "v"))
        .await
        .expect("write after removal");
    assert_eq!(member_list(&cluster, new_leader).await.len(), 3);
}

/// A member that was down while another joined, and comes back while the
/// new one leads: it has no URL for the leader until it applies the change
/// that added it, which that leader has to send it. It asks the members it
/// knows (`GET /members` on their peer ports) and catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_back_from_downtime_finds_a_leader_added_meanwhile() {
    let mut cluster = Cluster::start("rejoin", 3).await;
    let leader = cluster.leader().await.expect("a leader");
    let away = (leader + 1) % 3;
    cluster.kill(away);
    let (new, new_id) = cluster.add_member(leader, false).await;
    cluster.wait_serving(new).await;
    // Leadership to the new member (MoveLeader is asked of the leader).
    let channel = cluster
        .channel(leader, Duration::from_secs(10))
        .await
        .expect("connect");
    pb::maintenance_client::MaintenanceClient::new(channel)
        .move_leader(pb::MoveLeaderRequest { target_id: new_id })
        .await
        .expect("move leader to the new member");
    let mut kv = cluster.kv(new).await.expect("connect");
    kv.put(put("written-while-away", "v"))
        .await
        .expect("put through the new leader");
    cluster.spawn(away);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = match cluster.kv(away).await {
            Ok(mut kv) => kv
                .range(pb::RangeRequest {
                    key: b"written-while-away".to_vec().into(),
                    serializable: true,
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().count)
                .unwrap_or(0),
            // Not listening yet.
            Err(_) => 0,
        };
        if found == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the returning member did not catch up; its log:\n{}",
            cluster.members[away].log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(member_list(&cluster, away).await.len(), 4);
}

/// A member removed while it was down learns it when it comes back: its
/// peers refuse it (etcd answers `410 Gone`), and it stops cleanly, saying
/// why in etcd's words, instead of campaigning forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_while_down_is_told_and_stops() {
    let mut cluster = Cluster::start("told", 3).await;
    let ids = cluster.member_ids().await;
    let leader = cluster.leader().await.expect("a leader");
    let gone = (leader + 1) % 3;
    let via = (leader + 2) % 3;
    cluster.kill(gone);
    cluster
        .remove_member(via, ids[gone])
        .await
        .expect("remove the member that is down");
    cluster.spawn(gone);
    let status = cluster.wait_exit(gone, Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "the removed member did not stop cleanly ({status:?}); log:\n{}",
        cluster.members[gone].log_text()
    );
    let log = cluster.members[gone].log_text();
    assert!(
        log.contains("the member has been permanently removed from the cluster"),
        "{log}"
    );
    let others: Vec<String> = (0..3)
        .filter(|i| *i != gone)
        .map(|i| cluster.members[i].log_text())
        .collect();
    let refusal = format!(
        "rejected the stream from peer {:x} since it was removed",
        ids[gone]
    );
    assert!(
        others.iter().any(|log| log.contains(&refusal)),
        "no member logged: {refusal}"
    );
    let mut kv = cluster.kv(via).await.expect("connect");
    kv.put(put("after", "v"))
        .await
        .expect("the two left still write");
}
