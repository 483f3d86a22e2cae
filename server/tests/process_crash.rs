//! The crash test: three real members under concurrent write load; the
//! leader is killed with SIGKILL several times and restarted on its data
//! directory. Every acknowledged write must be on every member afterwards,
//! and the members must agree (HashKV).

#![allow(clippy::disallowed_methods)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use support::{get, put, Cluster};

const KILLS: usize = 3;
const WRITERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_write() {
    let cluster = Arc::new(tokio::sync::Mutex::new(Cluster::start("crash", 3).await));
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
