//! Watches on real `cairn` processes: progress notifications at the
//! configured period, `fragment`, and a watcher that follows its keys across
//! the loss of the leader and the restart of the member it watches through,
//! resuming from its last revision with no gap and no duplicate.

#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use pb::watch_client::WatchClient;
use pb::watch_request::RequestUnion;
use support::{put, Cluster};
use tokio::sync::mpsc;
use tonic::transport::Channel;

fn create(key: &str, range_end: &str, start_revision: i64) -> pb::WatchCreateRequest {
    pb::WatchCreateRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        range_end: Bytes::copy_from_slice(range_end.as_bytes()),
        start_revision,
        ..Default::default()
    }
}

struct Watch {
    requests: mpsc::Sender<pb::WatchRequest>,
    responses: tonic::Streaming<pb::WatchResponse>,
}

async fn open(endpoint: String, request: pb::WatchCreateRequest) -> Result<Watch, String> {
    let channel = Channel::from_shared(endpoint)
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel(16);
    tx.send(pb::WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(request)),
    })
    .await
    .expect("queue the create");
    let responses = WatchClient::new(channel)
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    Ok(Watch {
        requests: tx,
        responses,
    })
}

async fn next(watch: &mut Watch, within: Duration) -> Option<pb::WatchResponse> {
    tokio::time::timeout(within, watch.responses.message())
        .await
        .ok()?
        .ok()?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_notifications_follow_the_configured_period() {
    let cluster = Cluster::start_with(
        "progress",
        1,
        &["--experimental-watch-progress-notify-interval", "300ms"],
    )
    .await;
    let mut kv = cluster.kv(0).await.expect("connect");
    kv.put(put("p", "1")).await.expect("put");
    let mut watch = open(
        cluster.members[0].endpoint(),
        pb::WatchCreateRequest {
            progress_notify: true,
            ..create("p", "", 0)
        },
    )
    .await
    .expect("watch");
    let created = next(&mut watch, Duration::from_secs(5))
        .await
        .expect("created");
    assert!(created.created);
    // etcd's default is ten minutes: two notifications within two seconds
    // can only come from the flag.
    for _ in 0..2 {
        let progress = next(&mut watch, Duration::from_secs(2))
            .await
            .expect("a progress notification within 2s");
        assert!(progress.events.is_empty() && !progress.created && !progress.canceled);
        assert_eq!(progress.header.expect("header").revision, 2);
    }
    drop(watch.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragmenting_watcher_gets_a_large_revision_in_pieces() {
    let cluster = Cluster::start_with("fragment", 1, &["--max-request-bytes", "4096"]).await;
    let mut kv = cluster.kv(0).await.expect("connect");
    // One txn, one revision, eight values of 450 bytes: under the request
    // limit; with their previous values the watch response is over it.
    let value = "x".repeat(450);
    let txn = || pb::TxnRequest {
        success: (0..8)
            .map(|i| pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(put(
                    &format!("f/{i}"),
                    &value,
                ))),
            })
            .collect(),
        ..Default::default()
    };
    kv.txn(txn()).await.expect("txn");
    let mut fragmenting = open(
        cluster.members[0].endpoint(),
        pb::WatchCreateRequest {
            fragment: true,
            prev_kv: true,
            ..create("f/", "f0", 0)
        },
    )
    .await
    .expect("watch");
    let mut whole = open(
        cluster.members[0].endpoint(),
        pb::WatchCreateRequest {
            prev_kv: true,
            ..create("f/", "f0", 0)
        },
    )
    .await
    .expect("watch");
    assert!(
        next(&mut fragmenting, Duration::from_secs(5))
            .await
            .expect("created")
            .created
    );
    assert!(
        next(&mut whole, Duration::from_secs(5))
            .await
            .expect("created")
            .created
    );
    kv.txn(txn()).await.expect("txn");
    let mut pieces = Vec::new();
    loop {
        let piece = next(&mut fragmenting, Duration::from_secs(5))
            .await
            .expect("a piece");
        let more = piece.fragment;
        pieces.push(piece);
        if !more {
            break;
        }
    }
    assert!(pieces.len() > 1, "the response was not fragmented");
    assert_eq!(pieces.iter().map(|p| p.events.len()).sum::<usize>(), 8);
    let single = next(&mut whole, Duration::from_secs(5))
        .await
        .expect("response");
    assert!(!single.fragment);
    assert_eq!(
        single.events.len(),
        8,
        "a watcher that did not ask gets one response"
    );
}

/// A watcher on a follower keeps receiving every revision, once, while the
/// leader is killed; when its own member is then killed it resumes on
/// another from the revision after the last one it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_resumes_without_gap_or_duplicate_across_leader_loss_and_restart() {
    let mut cluster = Cluster::start("resume", 3).await;
    let leader = cluster.leader().await.expect("a leader");
    let watched = (leader + 1) % 3;
    let third = (leader + 2) % 3;
    let endpoints: Vec<String> = cluster.members.iter().map(|m| m.endpoint()).collect();

    // The watcher: follows "w/" from revision 1, reconnecting to the next
    // member whenever its stream breaks, and records every revision it sees.
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<i64>();
    let watcher_endpoints = endpoints.clone();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    let watcher = tokio::spawn(async move {
        let mut next_revision = 1;
        let mut target = watched;
        loop {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Ok(mut watch) = open(
                watcher_endpoints[target].clone(),
                create("w/", "w0", next_revision),
            )
            .await
            {
                while let Some(response) = next(&mut watch, Duration::from_secs(3)).await {
                    for event in response.events {
                        let revision = event.kv.expect("kv").mod_revision;
                        next_revision = revision + 1;
                        if seen_tx.send(revision).is_err() {
                            return;
                        }
                    }
                }
            }
            target = (target + 1) % watcher_endpoints.len();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // The writer: one put at a time, to whichever member answers.
    let mut written = Vec::new();
    let write = |cluster: &Cluster, count: usize| {
        let endpoints = endpoints.clone();
        let alive: Vec<usize> = (0..3)
            .filter(|&i| cluster.members[i].is_running())
            .collect();
        async move {
            let mut revisions = Vec::new();
            let mut n = 0;
            while revisions.len() < count {
                n += 1;
                let i = alive[n % alive.len()];
                let Ok(channel) = Channel::from_shared(endpoints[i].clone())
                    .expect("endpoint")
                    .timeout(Duration::from_secs(3))
                    .connect()
                    .await
                else {
                    continue;
                };
                let mut kv = pb::kv_client::KvClient::new(channel);
                if let Ok(reply) = kv.put(put(&format!("w/{}", n % 5), &n.to_string())).await {
                    revisions.push(reply.into_inner().header.expect("header").revision);
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            revisions
        }
    };
    written.extend(write(&cluster, 20).await);
    cluster.kill(leader);
    written.extend(write(&cluster, 20).await);
    cluster.kill(watched);
    cluster.spawn(leader);
    cluster.wait_serving(third).await;
    written.extend(write(&cluster, 20).await);
    cluster.spawn(watched);

    let last = *written.iter().max().expect("writes");
    let mut seen = Vec::new();
    while seen.last().is_none_or(|&r| r < last) {
        let revision = tokio::time::timeout(Duration::from_secs(30), seen_rx.recv())
            .await
            .expect("the watcher keeps up")
            .expect("watcher alive");
        seen.push(revision);
    }
    watcher.abort();
    let connections = connections.load(std::sync::atomic::Ordering::Relaxed);
    assert!(connections >= 2, "the watcher never had to reconnect");
    // Only the writer touches w/: every revision from the first write on,
    // once each, in order.
    let first = *written.iter().min().expect("writes");
    let expected: Vec<i64> = (first..=last).collect();
    assert_eq!(seen, expected, "gap or duplicate (written: {written:?})");
}
