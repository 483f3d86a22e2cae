//! Maintenance on real processes: auto-compaction in both of etcd's modes,
//! and the space quota's alarm cleared as an operator clears it (compact,
//! defragment, disarm), with the member serving throughout.

mod support;

use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use pb::maintenance_client::MaintenanceClient;
use support::{current_revision, put, Cluster, Options};

const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";

/// Whether a read at `revision` is refused as compacted.
async fn compacted_at(cluster: &Cluster, revision: i64) -> bool {
    let mut kv = cluster.kv(0).await.expect("connect");
    match kv
        .range(pb::RangeRequest {
            key: b"k".to_vec().into(),
            revision,
            ..Default::default()
        })
        .await
    {
        Ok(_) => false,
        Err(status) => {
            assert_eq!(status.message(), COMPACTED);
            true
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_auto_compaction_keeps_the_retention_window() {
    let cluster = Cluster::start_with(
        "autocompact-periodic",
        1,
        &[
            "--auto-compaction-mode",
            "periodic",
            "--auto-compaction-retention",
            "2s",
        ],
    )
    .await;
    let mut kv = cluster.kv(0).await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        kv.put(put("k", "v")).await.expect("put");
        if compacted_at(&cluster, 2).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no periodic compaction within 15 s; log:\n{}",
            cluster.members[0].log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = cluster.members[0].log_text();
    assert!(
        log.contains("Starting auto-compaction at revision"),
        "{log}"
    );
    assert!(log.contains("(retention: 2s)"), "{log}");
    assert!(
        log.contains("Finished auto-compaction at revision"),
        "{log}"
    );
    // Recent history stays readable.
    let current = current_revision(&mut kv, "k").await;
    assert!(!compacted_at(&cluster, current - 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_auto_compaction_keeps_the_last_revisions() {
    let options = Options {
        env: vec![(
            "CAIRN_AUTO_COMPACTION_REVISION_INTERVAL_MS".to_string(),
            "200".to_string(),
        )],
        ..Options::extra(&[
            "--auto-compaction-mode",
            "revision",
            "--auto-compaction-retention",
            "10",
        ])
    };
    let cluster = Cluster::start_with_options("autocompact-revision", 1, options).await;
    let mut kv = cluster.kv(0).await.expect("connect");
    for _ in 0..40 {
        kv.put(put("k", "v")).await.expect("put");
    }
    let current = current_revision(&mut kv, "k").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !compacted_at(&cluster, current - 11).await {
        assert!(
            Instant::now() < deadline,
            "no revision compaction; log:\n{}",
            cluster.members[0].log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!compacted_at(&cluster, current - 9).await);
    let log = cluster.members[0].log_text();
    assert!(
        log.contains(&format!(
            "Starting auto-compaction at revision {} (retention: 10 revisions)",
            current - 10
        )),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_quota_is_cleared_by_compact_defrag_and_disarm() {
    let cluster = Cluster::start_with("quota", 1, &["--quota-backend-bytes", "300000"]).await;
    let mut kv = cluster.kv(0).await.expect("connect");
    let value = "x".repeat(10_000);
    let mut refused = None;
    for i in 0..100 {
        match kv.put(put("big", &value)).await {
            Ok(_) => {}
            Err(status) => {
                refused = Some((i, status));
                break;
            }
        }
    }
    let (writes, status) = refused.expect("the quota refuses writes");
    assert!(writes > 5, "{writes} writes before the quota");
    assert_eq!(
        status.message(),
        "etcdserver: mvcc: database space exceeded"
    );
    let channel = cluster
        .channel(0, Duration::from_secs(10))
        .await
        .expect("connect");
    let mut maintenance = MaintenanceClient::new(channel);
    // The alarm is raised through the log, just after the refusal.
    let deadline = Instant::now() + Duration::from_secs(5);
    let alarms = loop {
        let alarms = maintenance
            .alarm(pb::AlarmRequest {
                action: pb::alarm_request::AlarmAction::Get as i32,
                member_id: 0,
                alarm: pb::AlarmType::None as i32,
            })
            .await
            .expect("alarm list")
            .into_inner()
            .alarms;
        if !alarms.is_empty() || Instant::now() > deadline {
            break alarms;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].alarm, pb::AlarmType::Nospace as i32);
    // Reads and deletes still work; writes do not until disarmed.
    kv.range(support::get("big")).await.expect("reads serve");
    let current = current_revision(&mut kv, "big").await;
    kv.compact(pb::CompactionRequest {
        revision: current,
        physical: true,
    })
    .await
    .expect("compact");
    maintenance
        .defragment(pb::DefragmentRequest {})
        .await
        .expect("defragment");
    assert!(kv.put(put("big", "small")).await.is_err(), "still alarmed");
    maintenance
        .alarm(pb::AlarmRequest {
            action: pb::alarm_request::AlarmAction::Deactivate as i32,
            member_id: alarms[0].member_id,
            alarm: pb::AlarmType::Nospace as i32,
        })
        .await
        .expect("disarm");
    kv.put(put("big", "small")).await.expect("writes again");
    let status = maintenance
        .status(pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert!(status.errors.is_empty(), "{:?}", status.errors);
    assert!(status.db_size >= status.db_size_in_use);
}
