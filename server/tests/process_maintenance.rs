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
        let alarms = cluster.alarms(0).await;
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

/// Changes `from` to `to` (same length) inside a snapshot file and re-seals
/// it (section and file checksums, docs/snapshot-format.md), so that the
/// member loads it without complaint: data that silently went bad.
fn tamper_snapshot(path: &std::path::Path, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut file = std::fs::read(path).expect("read snapshot");
    let at = file
        .windows(from.len())
        .position(|w| w == from)
        .expect("the value is in the snapshot");
    file[at..at + from.len()].copy_from_slice(to);
    let u32_at = |f: &[u8], i: usize| u32::from_le_bytes(f[i..i + 4].try_into().expect("4"));
    let u64_at = |f: &[u8], i: usize| u64::from_le_bytes(f[i..i + 8].try_into().expect("8"));
    let trailer_at = file.len() - 16;
    let mut section = 16;
    for _ in 0..u32_at(&file, 12) {
        let body_at = section + 24;
        let body_end = body_at + u64_at(&file, section + 8) as usize;
        if (body_at..body_end).contains(&at) {
            let crc = crc32fast::hash(&file[body_at..body_end]);
            file[section + 16..section + 20].copy_from_slice(&crc.to_le_bytes());
        }
        section = body_end.next_multiple_of(8);
    }
    let crc = crc32fast::hash(&file[..trailer_at]);
    file[trailer_at + 8..trailer_at + 12].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, file).expect("write snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_corrupt_data_raises_corrupt_and_writes_stop() {
    let mut cluster = Cluster::start_with(
        "corrupt",
        3,
        &[
            "--snapshot-count",
            "20",
            "--experimental-corrupt-check-time",
            "1s",
        ],
    )
    .await;
    let leader = cluster.leader().await.expect("a leader");
    let victim = (leader + 1) % 3;
    let mut kv = cluster.kv(leader).await.expect("connect");
    kv.put(put("target", "good-value")).await.expect("put");
    for i in 0..60 {
        kv.put(put(&format!("k{i}"), "v")).await.expect("put");
    }
    // Let the victim apply and snapshot everything, then stop it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.kill(victim);
    let snap_dir = cluster.members[victim].data_dir.join("member/snap");
    let mut snapshots: Vec<std::path::PathBuf> = std::fs::read_dir(&snap_dir)
        .expect("snapshot dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    snapshots.sort();
    let newest = snapshots.last().expect("the victim has a snapshot");
    tamper_snapshot(newest, b"good-value", b"evil-value");
    cluster.spawn(victim);
    cluster.wait_serving(victim).await;
    let victim_id = cluster.member_ids().await[victim];
    // The leader's periodic check finds it; writes stop everywhere.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match kv.put(put("after", "v")).await {
            Err(status) if status.message() == "etcdserver: corrupt cluster" => break,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no CORRUPT alarm within 20 s; leader log:\n{}",
            cluster.members[leader].log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let alarms = cluster.alarms(leader).await;
    assert!(
        alarms
            .iter()
            .any(|a| a.member_id == victim_id && a.alarm == pb::AlarmType::Corrupt as i32),
        "{alarms:?}"
    );
    let mut other = cluster.kv((leader + 2) % 3).await.expect("connect");
    let refused = other.put(put("x", "y")).await.expect_err("refused");
    assert_eq!(refused.message(), "etcdserver: corrupt cluster");
    assert!(cluster.members[leader].log_text().contains("'s hash"));
}
