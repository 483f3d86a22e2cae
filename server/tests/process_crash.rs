//! The crash test: three real members under concurrent write load; the
//! leader is killed with SIGKILL several times and restarted on its data
//! directory. Every acknowledged write must be on every member afterwards,
//! and the members must agree (HashKV). It runs with plain peer connections
//! and again with peers over TLS (`--peer-auto-tls`, `https://` peer URLs).

#![allow(clippy::disallowed_methods)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use support::{get, put, Cluster, Options};

const KILLS: usize = 3;
const WRITERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_write() {
    crash_test(Cluster::start("crash", 3).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_write_with_peers_over_tls() {
    let cluster = Cluster::start_with_options("crash-tls", 3, Options::peer_auto_tls()).await;
    for member in &cluster.members {
        let log = member.log_text();
        assert!(log.contains("embed: peerTLS: cert = "), "{log}");
        assert!(log.contains("listening for peers on https://"), "{log}");
    }
    crash_test(cluster).await;
}

async fn crash_test(cluster: Cluster) {
    let cluster = Arc::new(tokio::sync::Mutex::new(cluster));
    let endpoints: Vec<String> = cluster
        .lock()
        .await
        .members
        .iter()
        .map(|m| m.endpoint())
        .collect();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let endpoints = endpoints.clone();
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let endpoint = &endpoints[(writer + n as usize) % endpoints.len()];
                n += 1;
                let key = format!("w{writer}-{n}");
                let Ok(channel) = tonic::transport::Channel::from_shared(endpoint.clone())
                    .expect("endpoint")
                    .connect_timeout(Duration::from_millis(300))
                    .timeout(Duration::from_secs(3))
                    .connect()
                    .await
                else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let mut kv = pb::kv_client::KvClient::new(channel);
                if kv.put(put(&key, &key)).await.is_ok() {
                    acknowledged.lock().expect("lock").push(key);
                }
            }
        }));
    }
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut guard = cluster.lock().await;
        let leader = guard.leader().await.expect("a leader before the kill");
        guard.kill(leader);
        drop(guard);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let mut guard = cluster.lock().await;
        guard.spawn(leader);
        guard.wait_serving(leader).await;
        eprintln!(
            "kill {} of {KILLS}: member {leader} killed and restarted",
            kill + 1
        );
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    let guard = cluster.lock().await;
    // Let every member catch up, then read each one locally.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut lost = 0;
    for i in 0..3 {
        let mut kv = guard.kv(i).await.expect("connect");
        for key in &acknowledged {
            let request = pb::RangeRequest {
                serializable: true,
                ..get(key)
            };
            let found = kv.range(request).await.expect("read").into_inner();
            if found.kvs.is_empty() {
                lost += 1;
                eprintln!("member {i} lost acknowledged write {key}");
            }
        }
    }
    let mut hashes = Vec::new();
    for i in 0..3 {
        let mut maintenance = guard.maintenance(i).await.expect("connect");
        let hash = maintenance
            .hash_kv(pb::HashKvRequest { revision: 0 })
            .await
            .expect("hashkv")
            .into_inner();
        hashes.push((hash.hash, hash.header.map(|h| h.revision)));
    }
    eprintln!(
        "crash test: {} writes acknowledged, {KILLS} leader kills, {lost} lost; hashkv {hashes:?}",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() > 100,
        "the load made progress: {}",
        acknowledged.len()
    );
    assert_eq!(lost, 0, "acknowledged writes were lost");
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "members disagree: {hashes:?}"
    );
}

/// A member that misses more entries than the leader keeps for catch-up
/// (5,000 behind the last snapshot) is brought back by a snapshot streamed
/// between real processes, and ends up with the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_far_behind_catches_up_through_a_streamed_snapshot() {
    snapshot_test(Cluster::start_with("snapshot", 3, &["--snapshot-count", "200"]).await).await;
}

/// The same, the snapshot streamed over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_far_behind_catches_up_through_a_snapshot_streamed_over_tls() {
    let mut options = Options::peer_auto_tls();
    options
        .extra
        .extend(["--snapshot-count".into(), "200".into()]);
    snapshot_test(Cluster::start_with_options("snapshot-tls", 3, options).await).await;
}

async fn snapshot_test(mut cluster: Cluster) {
    let leader = cluster.leader().await.expect("a leader");
    let laggard = (leader + 1) % 3;
    cluster.kill(laggard);
    let endpoint = cluster.members[leader].endpoint();
    let mut writers = Vec::new();
    for writer in 0..8 {
        let endpoint = endpoint.clone();
        writers.push(tokio::spawn(async move {
            let channel = tonic::transport::Channel::from_shared(endpoint)
                .expect("endpoint")
                .connect()
                .await
                .expect("connect");
            let mut kv = pb::kv_client::KvClient::new(channel);
            for i in 0..700 {
                let key = format!("s{writer}-{i}");
                kv.put(put(&key, &key)).await.expect("put");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    cluster.spawn(laggard);
    cluster.wait_serving(laggard).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut kv = cluster.kv(laggard).await.expect("connect");
        let request = pb::RangeRequest {
            serializable: true,
            ..get("s7-699")
        };
        if !kv
            .range(request)
            .await
            .expect("read")
            .into_inner()
            .kvs
            .is_empty()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the laggard never caught up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = cluster.members[laggard].log_text();
    assert!(
        log.contains("applied incoming snapshot"),
        "caught up without a snapshot:\n{log}"
    );
    let mut kv = cluster.kv(leader).await.expect("connect");
    let revision = kv
        .range(get("s7-699"))
        .await
        .expect("read")
        .into_inner()
        .header
        .expect("header")
        .revision;
    // Followers apply asynchronously: wait until all answer at that revision.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let hashes = loop {
        let mut hashes = Vec::new();
        for i in 0..3 {
            let mut maintenance = cluster.maintenance(i).await.expect("connect");
            hashes.push(
                maintenance
                    .hash_kv(pb::HashKvRequest { revision })
                    .await
                    .map(|r| r.into_inner().hash)
                    .map_err(|e| e.message().to_string()),
            );
        }
        if hashes.iter().all(Result::is_ok) || std::time::Instant::now() > deadline {
            break hashes;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        hashes.iter().all(Result::is_ok),
        "not every member answered: {hashes:?}"
    );
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "members disagree: {hashes:?}"
    );
}
