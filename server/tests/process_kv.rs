//! Real `cairn` processes on loopback, driven through etcd's v3 gRPC API.

#![allow(clippy::disallowed_methods)]

mod support;

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use support::{get, put, Cluster};

fn key(k: &str) -> Bytes {
    Bytes::copy_from_slice(k.as_bytes())
}

fn keys(response: &pb::RangeResponse) -> Vec<String> {
    response
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_member_serves_the_kv_api_as_etcd_does() {
    let cluster = Cluster::start("kv1", 1).await;
    let mut kv = cluster.kv(0).await.expect("connect");

    // Put, with prev_kv; revisions start at 2 after the first write.
    let first = kv.put(put("foo", "bar")).await.expect("put").into_inner();
    assert_eq!(first.header.as_ref().map(|h| h.revision), Some(2));
    let mut again = put("foo", "baz");
    again.prev_kv = true;
    let second = kv.put(again).await.expect("put").into_inner();
    assert_eq!(second.prev_kv.map(|kv| kv.value), Some(key("bar")));

    // Range: single key, prefix, limit/more/count, sort, keys_only, count_only, at a revision.
    for k in ["a1", "a2", "a3", "b1"] {
        kv.put(put(k, k)).await.expect("put");
    }
    let got = kv.range(get("foo")).await.expect("range").into_inner();
    assert_eq!(got.kvs[0].value, key("baz"));
    assert_eq!(
        (
            got.kvs[0].create_revision,
            got.kvs[0].mod_revision,
            got.kvs[0].version
        ),
        (2, 3, 2)
    );
    let prefix = pb::RangeRequest {
        key: key("a"),
        range_end: key("b"),
        limit: 2,
        ..Default::default()
    };
    let page = kv.range(prefix.clone()).await.expect("range").into_inner();
    assert_eq!(
        (keys(&page), page.more, page.count),
        (vec!["a1".to_string(), "a2".to_string()], true, 3)
    );
    let descending = pb::RangeRequest {
        sort_order: pb::range_request::SortOrder::Descend as i32,
        sort_target: pb::range_request::SortTarget::Key as i32,
        limit: 0,
        ..prefix.clone()
    };
    let sorted = kv.range(descending).await.expect("range").into_inner();
    assert_eq!(keys(&sorted), vec!["a3", "a2", "a1"]);
    let keys_only = pb::RangeRequest {
        keys_only: true,
        limit: 0,
        ..prefix.clone()
    };
    let only = kv.range(keys_only).await.expect("range").into_inner();
    assert!(only.kvs.iter().all(|kv| kv.value.is_empty()));
    let count_only = pb::RangeRequest {
        count_only: true,
        limit: 0,
        ..prefix.clone()
    };
    let counted = kv.range(count_only).await.expect("range").into_inner();
    assert_eq!((counted.kvs.len(), counted.count), (0, 3));
    let old = pb::RangeRequest {
        revision: 2,
        ..get("foo")
    };
    assert_eq!(
        kv.range(old).await.expect("range").into_inner().kvs[0].value,
        key("bar")
    );
    let serializable = pb::RangeRequest {
        serializable: true,
        ..get("foo")
    };
    assert_eq!(
        kv.range(serializable)
            .await
            .expect("range")
            .into_inner()
            .kvs
            .len(),
        1
    );

    // Delete a prefix with prev_kv.
    let delete = pb::DeleteRangeRequest {
        key: key("a"),
        range_end: key("b"),
        prev_kv: true,
    };
    let deleted = kv.delete_range(delete).await.expect("delete").into_inner();
    assert_eq!((deleted.deleted, deleted.prev_kvs.len()), (3, 3));

    // Txn: compare-and-swap succeeds once, then fails.
    let cas = |expected: &str, new: &str| pb::TxnRequest {
        compare: vec![pb::Compare {
            result: pb::compare::CompareResult::Equal as i32,
            target: pb::compare::CompareTarget::Value as i32,
            key: key("foo"),
            target_union: Some(pb::compare::TargetUnion::Value(key(expected))),
            range_end: Bytes::new(),
        }],
        success: vec![pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(put("foo", new))),
        }],
        failure: vec![pb::RequestOp {
            request: Some(pb::request_op::Request::RequestRange(get("foo"))),
        }],
    };
    assert!(
        kv.txn(cas("baz", "qux"))
            .await
            .expect("txn")
            .into_inner()
            .succeeded
    );
    let failed = kv.txn(cas("baz", "zzz")).await.expect("txn").into_inner();
    assert!(!failed.succeeded);
    match &failed.responses[0].response {
        Some(pb::response_op::Response::ResponseRange(range)) => {
            assert_eq!(range.kvs[0].value, key("qux"))
        }
        other => panic!("failure branch answered {other:?}"),
    }

    // Compaction, then etcd's errors for compacted and future revisions.
    let current = support::current_revision(&mut kv, "foo").await;
    kv.compact(pb::CompactionRequest {
        revision: current,
        physical: true,
    })
    .await
    .expect("compact");
    let compacted = kv
        .range(pb::RangeRequest {
            revision: 2,
            ..get("foo")
        })
        .await
        .expect_err("compacted");
    assert_eq!(
        compacted.message(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(compacted.code(), tonic::Code::OutOfRange);
    let future = kv
        .range(pb::RangeRequest {
            revision: current + 100,
            ..get("foo")
        })
        .await
        .expect_err("future");
    assert_eq!(
        future.message(),
        "etcdserver: mvcc: required revision is a future revision"
    );

    // Bad requests get etcd's texts and change nothing.
    let empty = kv.put(put("", "x")).await.expect_err("empty key");
    assert_eq!(empty.message(), "etcdserver: key is not provided");
    let duplicate = pb::TxnRequest {
        success: vec![
            pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(put("d", "1"))),
            },
            pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(put("d", "2"))),
            },
        ],
        ..Default::default()
    };
    let error = kv.txn(duplicate).await.expect_err("duplicate");
    assert_eq!(
        error.message(),
        "etcdserver: duplicate key given in txn request"
    );
    let many = pb::TxnRequest {
        success: (0..129)
            .map(|i| pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(put(
                    &format!("m{i}"),
                    "v",
                ))),
            })
            .collect(),
        ..Default::default()
    };
    let error = kv.txn(many).await.expect_err("too many");
    assert_eq!(
        error.message(),
        "etcdserver: too many operations in txn request"
    );
    // Above --max-request-bytes (1.5 MiB) but within gRPC's own limit.
    let big = put("big", &"x".repeat(1600 * 1024));
    let error = kv.put(big).await.expect_err("too large");
    assert_eq!(error.message(), "etcdserver: request is too large");
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(kv
        .range(get("d"))
        .await
        .expect("range")
        .into_inner()
        .kvs
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_forward_writes_and_serve_reads_everywhere() {
    let cluster = Cluster::start_with("kv3", 3, &["--experimental-initial-corrupt-check"]).await;
    let leader = cluster.leader().await.expect("a leader");
    for member in &cluster.members {
        assert!(
            member
                .log_text()
                .contains("initial corruption checking passed"),
            "{} did not run the corruption check:\n{}",
            member.name,
            member.log_text()
        );
    }
    let follower = (leader + 1) % 3;
    let mut kv = cluster.kv(follower).await.expect("connect");
    kv.put(put("shared", "yes"))
        .await
        .expect("put through a follower");
    for i in 0..3 {
        let mut kv = cluster.kv(i).await.expect("connect");
        let got = kv
            .range(get("shared"))
            .await
            .expect("linearizable read")
            .into_inner();
        assert_eq!(got.kvs[0].value, key("yes"), "member {i}");
    }
    let mut cluster_client = cairn_proto::etcdserverpb::cluster_client::ClusterClient::new(
        tonic::transport::Channel::from_shared(cluster.members[2].endpoint())
            .expect("endpoint")
            .connect()
            .await
            .expect("connect"),
    );
    // Every member publishes its client URLs through the log once it has a
    // leader; until then it is listed without them (etcd: "unstarted").
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list = cluster_client
            .member_list(pb::MemberListRequest {})
            .await
            .expect("member list")
            .into_inner();
        let mut names: Vec<String> = list.members.iter().map(|m| m.name.clone()).collect();
        names.sort();
        if list.members.iter().all(|m| m.client_ur_ls.len() == 1) {
            assert_eq!(names, vec!["m1", "m2", "m3"]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "members never all published: {list:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_of_another_cluster_is_refused() {
    let mut cluster = Cluster::start("other", 1).await;
    let data_dir = cluster.members[0].data_dir.clone();
    // Stop the member but keep its directory (dropping the cluster deletes it).
    cluster.kill(0);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "--data-dir",
            data_dir.to_str().expect("utf-8"),
            "--name",
            "m1",
            "--initial-cluster",
            "m1=http://127.0.0.1:1",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:1",
            "--listen-peer-urls",
            &format!("http://127.0.0.1:{}", support::free_port()),
            "--listen-client-urls",
            &format!("http://127.0.0.1:{}", support::free_port()),
            "--advertise-client-urls",
            "http://127.0.0.1:2",
        ])
        .output()
        .expect("run cairn");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("belongs to member"), "{stderr}");
}

#[test]
fn an_unknown_flag_is_an_error_that_names_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--no-such-flag")
        .output()
        .expect("run cairn");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-flag"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_quota_refuses_writes_with_etcds_error_until_space_is_reclaimed_and_the_alarm_cleared(
) {
    let cluster = Cluster::start_with("quota", 1, &["--quota-backend-bytes", "20000"]).await;
    let mut kv = cluster.kv(0).await.expect("connect");
    let mut written = 0;
    let refused = loop {
        match kv
            .put(put(&format!("big{written:03}"), &"x".repeat(1000)))
            .await
        {
            Ok(_) => written += 1,
            Err(status) => break status,
        }
        assert!(written < 100, "the quota never refused a write");
    };
    assert_eq!(
        refused.message(),
        "etcdserver: mvcc: database space exceeded"
    );
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(
        written >= 15,
        "writes were accepted up to the quota: {written}"
    );
    // Nothing acknowledged was lost, and the alarm is raised for everyone.
    let all = pb::RangeRequest {
        key: key("big"),
        range_end: key("bih"),
        count_only: true,
        ..Default::default()
    };
    assert_eq!(
        kv.range(all.clone())
            .await
            .expect("range")
            .into_inner()
            .count,
        written
    );
    let mut maintenance = cluster.maintenance(0).await.expect("connect");
    let list = |action| pb::AlarmRequest {
        action,
        member_id: 0,
        alarm: pb::AlarmType::None as i32,
    };
    // The refused write proposed the alarm; it shows once applied.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let alarms = loop {
        let alarms = maintenance
            .alarm(list(pb::alarm_request::AlarmAction::Get as i32))
            .await
            .expect("alarm list")
            .into_inner()
            .alarms;
        if !alarms.is_empty() || std::time::Instant::now() > deadline {
            break alarms;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].alarm, pb::AlarmType::Nospace as i32);
    let status = maintenance
        .status(pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert!(
        status.errors.iter().any(|e| e.contains("alarm:NOSPACE")),
        "{:?}",
        status.errors
    );
    // Still refused while the alarm stands, even small writes.
    assert!(kv.put(put("small", "x")).await.is_err());
    // Deletes and compaction reclaim space; then the operator disarms.
    kv.delete_range(pb::DeleteRangeRequest {
        key: key("big"),
        range_end: key("bih"),
        prev_kv: false,
    })
    .await
    .expect("deletes are allowed under the alarm");
    let revision = support::current_revision(&mut kv, "small").await;
    kv.compact(pb::CompactionRequest {
        revision,
        physical: true,
    })
    .await
    .expect("compaction is allowed under the alarm");
    let member_id = alarms[0].member_id;
    maintenance
        .alarm(pb::AlarmRequest {
            action: pb::alarm_request::AlarmAction::Deactivate as i32,
            member_id,
            alarm: pb::AlarmType::Nospace as i32,
        })
        .await
        .expect("disarm");
    kv.put(put("small", "x"))
        .await
        .expect("writes are accepted again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_grant_keep_alive_expire_and_revoke_through_any_member() {
    use pb::lease_client::LeaseClient;
    let cluster = Cluster::start("lease", 3).await;
    let leader = cluster.leader().await.expect("a leader");
    let follower = (leader + 1) % 3;
    let channel = tonic::transport::Channel::from_shared(cluster.members[follower].endpoint())
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut lease = LeaseClient::new(channel);
    let mut kv = cluster.kv(follower).await.expect("connect");
    // etcd's minimum TTL: 1.5 × the election timeout, rounded up (2 s).
    let granted = lease
        .lease_grant(pb::LeaseGrantRequest { ttl: 1, id: 0 })
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(granted.ttl, 2);
    assert_ne!(granted.id, 0);
    let id = granted.id;
    kv.put(pb::PutRequest {
        lease: id,
        ..put("svc/a", "up")
    })
    .await
    .expect("put with lease");
    // Keep it alive (through a follower, forwarded to the leader) past its TTL.
    for _ in 0..6 {
        let responses = lease
            .lease_keep_alive(tokio_stream::once(pb::LeaseKeepAliveRequest { id }))
            .await
            .expect("keep-alive")
            .into_inner();
        let mut responses = responses;
        let answer = responses
            .message()
            .await
            .expect("stream")
            .expect("one answer");
        assert_eq!((answer.id, answer.ttl), (id, 2));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let ttl = lease
        .lease_time_to_live(pb::LeaseTimeToLiveRequest { id, keys: true })
        .await
        .expect("ttl")
        .into_inner();
    assert_eq!((ttl.granted_ttl, ttl.keys), (2, vec![key("svc/a")]));
    assert!(ttl.ttl >= 1 && ttl.ttl <= 2, "remaining {}", ttl.ttl);
    let leases = lease
        .lease_leases(pb::LeaseLeasesRequest {})
        .await
        .expect("leases")
        .into_inner();
    assert_eq!(
        leases.leases.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![id]
    );
    assert_eq!(
        kv.range(get("svc/a"))
            .await
            .expect("range")
            .into_inner()
            .kvs[0]
            .lease,
        id
    );
    // Left alone, it expires and its key goes with it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !kv
        .range(get("svc/a"))
        .await
        .expect("range")
        .into_inner()
        .kvs
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let gone = lease
        .lease_time_to_live(pb::LeaseTimeToLiveRequest { id, keys: false })
        .await
        .expect("ttl")
        .into_inner();
    assert_eq!(gone.ttl, -1, "an expired lease reports TTL -1, as etcd");
    // Revoking deletes the attached keys at once.
    let second = lease
        .lease_grant(pb::LeaseGrantRequest { ttl: 60, id: 7777 })
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(second.id, 7777);
    let again = lease
        .lease_grant(pb::LeaseGrantRequest { ttl: 60, id: 7777 })
        .await
        .expect_err("exists");
    assert_eq!(again.message(), "etcdserver: lease already exists");
    kv.put(pb::PutRequest {
        lease: 7777,
        ..put("svc/b", "up")
    })
    .await
    .expect("put with lease");
    lease
        .lease_revoke(pb::LeaseRevokeRequest { id: 7777 })
        .await
        .expect("revoke");
    assert!(kv
        .range(get("svc/b"))
        .await
        .expect("range")
        .into_inner()
        .kvs
        .is_empty());
    let missing = lease
        .lease_revoke(pb::LeaseRevokeRequest { id: 7777 })
        .await
        .expect_err("revoked");
    assert_eq!(missing.message(), "etcdserver: requested lease not found");
    let unknown = kv
        .put(pb::PutRequest {
            lease: 4242,
            ..put("svc/c", "up")
        })
        .await
        .expect_err("unknown lease");
    assert_eq!(unknown.message(), "etcdserver: requested lease not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_deliver_history_then_live_events_and_cancel_as_etcd() {
    use pb::watch_client::WatchClient;
    use pb::watch_request::RequestUnion;
    let cluster = Cluster::start("watch", 3).await;
    let leader = cluster.leader().await.expect("a leader");
    let follower = (leader + 1) % 3;
    let mut kv = cluster.kv(leader).await.expect("connect");
    kv.put(put("svc/a", "1")).await.expect("put");
    kv.put(put("svc/b", "2")).await.expect("put");
    kv.delete_range(pb::DeleteRangeRequest {
        key: key("svc/a"),
        ..Default::default()
    })
    .await
    .expect("delete");
    // Served by a follower too.
    let channel = tonic::transport::Channel::from_shared(cluster.members[follower].endpoint())
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut watch = WatchClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let create = |start_revision, watch_id| pb::WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(pb::WatchCreateRequest {
            key: key("svc/"),
            range_end: key("svc0"),
            start_revision,
            prev_kv: true,
            watch_id,
            ..Default::default()
        })),
    };
    tx.send(create(2, 0)).await.expect("send");
    let mut responses = watch
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    let created = next(&mut responses).await;
    assert!(created.created);
    assert_eq!(created.watch_id, 0);
    // History from revision 2: put a, put b, delete a (with its previous value).
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let response = next(&mut responses).await;
        for event in response.events {
            let kv = event.kv.expect("kv");
            seen.push((
                event.r#type,
                String::from_utf8_lossy(&kv.key).into_owned(),
                kv.mod_revision,
            ));
        }
    }
    assert_eq!(
        seen,
        vec![
            (0, "svc/a".to_string(), 2),
            (0, "svc/b".to_string(), 3),
            (1, "svc/a".to_string(), 4)
        ]
    );
    // Then live events, with prev_kv.
    kv.put(put("svc/b", "22")).await.expect("put");
    let live = next(&mut responses).await;
    assert_eq!(live.header.expect("header").revision, 5);
    let event = &live.events[0];
    assert_eq!(event.kv.as_ref().expect("kv").value, key("22"));
    assert_eq!(event.prev_kv.as_ref().expect("prev").value, key("2"));
    // Cancel answers canceled; a watch on compacted history is canceled with
    // the compaction revision.
    tx.send(pb::WatchRequest {
        request_union: Some(RequestUnion::CancelRequest(pb::WatchCancelRequest {
            watch_id: 0,
        })),
    })
    .await
    .expect("send");
    let canceled = next(&mut responses).await;
    assert!(canceled.canceled);
    kv.compact(pb::CompactionRequest {
        revision: 4,
        physical: true,
    })
    .await
    .expect("compact");
    // The watch is served by a follower: wait until it applied the compaction.
    let mut follower_kv = cluster.kv(follower).await.expect("connect");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while follower_kv
        .range(pb::RangeRequest {
            revision: 2,
            serializable: true,
            ..get("svc/b")
        })
        .await
        .is_ok()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the follower never compacted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tx.send(create(2, 9)).await.expect("send");
    let created = next(&mut responses).await;
    assert!(created.created);
    assert_eq!(created.watch_id, 9);
    let compacted = next(&mut responses).await;
    assert!(compacted.canceled);
    assert_eq!(compacted.compact_revision, 4);
}

/// The next watch response, within five seconds.
async fn next(responses: &mut tonic::Streaming<pb::WatchResponse>) -> pb::WatchResponse {
    tokio::time::timeout(std::time::Duration::from_secs(5), responses.message())
        .await
        .expect("a response in time")
        .expect("stream")
        .expect("open")
}
