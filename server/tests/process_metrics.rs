//! `/metrics` of real processes, read with a real Prometheus text parser:
//! after KV, lease and watch traffic on a three-member cairn cluster, every
//! metric etcd's dashboards use is served with its type and the counters
//! moved; and, side by side with a real etcd 3.4.23 cluster given the same
//! traffic, every `etcd_*`/`grpc_*` name cairn serves is one etcd serves,
//! with the same type, help text and label names. Also `--listen-metrics-urls`.
//!
//! The etcd half needs `/usr/bin/etcd` (Debian's `etcd-server`); without it
//! that half is SKIPPED, unless `CAIRN_REQUIRE_ETCD=1` (as in CI).

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use prometheus_parse::{Scrape, Value};
use support::etcd::{etcd_available, EtcdCluster};
use support::{get, put, Cluster};
use tonic::transport::Channel;

/// A metric family's type as the text format declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
    /// Go's runtime metrics in etcd's scrape only.
    Summary,
}

use Kind::{Counter, Gauge, Histogram};

/// What issue 15 asks for, with the types etcd 3.4.23 gives them.
const REQUIRED: &[(&str, Kind)] = &[
    ("etcd_server_has_leader", Gauge),
    ("etcd_server_is_leader", Gauge),
    ("etcd_server_is_learner", Gauge),
    ("etcd_server_leader_changes_seen_total", Counter),
    ("etcd_server_proposals_committed_total", Gauge),
    ("etcd_server_proposals_applied_total", Gauge),
    // etcd's name has no `_total`.
    ("etcd_server_proposals_pending", Gauge),
    ("etcd_server_proposals_failed_total", Counter),
    ("etcd_server_slow_apply_total", Counter),
    ("etcd_server_quota_backend_bytes", Gauge),
    ("etcd_server_version", Gauge),
    ("etcd_server_id", Gauge),
    ("etcd_disk_wal_fsync_duration_seconds", Histogram),
    ("etcd_disk_backend_commit_duration_seconds", Histogram),
    ("etcd_mvcc_db_total_size_in_bytes", Gauge),
    ("etcd_mvcc_db_total_size_in_use_in_bytes", Gauge),
    ("etcd_mvcc_put_total", Counter),
    ("etcd_mvcc_delete_total", Counter),
    ("etcd_mvcc_range_total", Counter),
    ("etcd_mvcc_txn_total", Counter),
    ("etcd_debugging_mvcc_keys_total", Gauge),
    ("etcd_network_peer_round_trip_time_seconds", Histogram),
    ("etcd_network_peer_sent_bytes_total", Counter),
    ("etcd_network_peer_received_bytes_total", Counter),
    ("etcd_network_client_grpc_sent_bytes_total", Counter),
    ("etcd_network_client_grpc_received_bytes_total", Counter),
    ("grpc_server_started_total", Counter),
    ("grpc_server_handled_total", Counter),
    ("process_cpu_seconds_total", Counter),
    ("process_resident_memory_bytes", Gauge),
    ("process_open_fds", Gauge),
    ("process_max_fds", Gauge),
    ("process_start_time_seconds", Gauge),
    ("process_virtual_memory_bytes", Gauge),
];

/// One scrape, by family.
#[derive(Debug)]
struct Families {
    kinds: BTreeMap<String, Kind>,
    help: BTreeMap<String, String>,
    /// Label names seen on each family's samples (`le` aside).
    labels: BTreeMap<String, BTreeSet<String>>,
    scrape: Scrape,
}

impl Families {
    fn parse(text: &str) -> Families {
        let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).expect("parse");
        // The parser keeps types per sample: collect them per family, and
        // check every TYPE line is one this test knows.
        let mut declared: BTreeMap<String, Kind> = BTreeMap::new();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut words = line.split_whitespace().skip(2);
            let (name, kind) = (words.next().expect("name"), words.next().expect("type"));
            let kind = match kind {
                "counter" => Counter,
                "gauge" => Gauge,
                "histogram" => Histogram,
                "summary" => Kind::Summary,
                other => panic!("{name}: unexpected type {other}"),
            };
            declared.insert(name.to_string(), kind);
        }
        let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for sample in &scrape.samples {
            let kind = match &sample.value {
                Value::Counter(_) => Counter,
                Value::Gauge(_) => Gauge,
                Value::Histogram(_) => Histogram,
                Value::Summary(_) => Kind::Summary,
                // A histogram's or summary's _sum and _count.
                Value::Untyped(_) => continue,
            };
            assert_eq!(
                declared.get(&sample.metric),
                Some(&kind),
                "{}: its samples agree with its TYPE",
                sample.metric
            );
            let names = labels.entry(sample.metric.clone()).or_default();
            names.extend(sample.labels.keys().filter(|k| *k != "le").cloned());
        }
        Families {
            kinds: declared,
            help: scrape.docs.clone().into_iter().collect(),
            labels,
            scrape,
        }
    }

    /// The value of the sample of `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
                Value::Summary(_) => 0.0,
            })
            .sum()
    }

    /// The number of observations of histogram `name` with `labels`.
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
    }
}

fn is_etcds(name: &str) -> bool {
    name.starts_with("etcd_") || name.starts_with("grpc_")
}

async fn channel(endpoint: String) -> Channel {
    Channel::from_shared(endpoint)
        .expect("endpoint")
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

/// What the test does through one member: puts, ranges, a delete, txns,
/// a lease granted, kept alive and revoked, a watch that sees a put.
const PUTS: usize = 20;

async fn traffic(endpoint: String) {
    use pb::watch_request::RequestUnion;
    let channel = channel(endpoint).await;
    let mut kv = pb::kv_client::KvClient::new(channel.clone());
    let mut lease = pb::lease_client::LeaseClient::new(channel.clone());
    let mut watch = pb::watch_client::WatchClient::new(channel);

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(pb::WatchCreateRequest {
            key: b"m/".to_vec().into(),
            range_end: b"m0".to_vec().into(),
            ..Default::default()
        })),
    })
    .await
    .expect("watch request");
    let mut events = watch
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    assert!(
        events
            .message()
            .await
            .expect("stream")
            .expect("created")
            .created
    );

    for i in 0..PUTS {
        kv.put(put(&format!("m/{i}"), "v")).await.expect("put");
    }
    kv.range(get("m/0")).await.expect("range");
    kv.range(pb::RangeRequest {
        serializable: true,
        ..get("m/1")
    })
    .await
    .expect("serializable range");
    kv.delete_range(pb::DeleteRangeRequest {
        key: b"m/0".to_vec().into(),
        ..Default::default()
    })
    .await
    .expect("delete");
    kv.txn(pb::TxnRequest {
        compare: vec![pb::Compare {
            key: b"m/1".to_vec().into(),
            target: pb::compare::CompareTarget::Version as i32,
            result: pb::compare::CompareResult::Greater as i32,
            target_union: Some(pb::compare::TargetUnion::Version(0)),
            ..Default::default()
        }],
        success: vec![pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(put("m/txn", "v"))),
        }],
        ..Default::default()
    })
    .await
    .expect("txn");
    let event = events.message().await.expect("stream").expect("an event");
    assert!(!event.events.is_empty());

    let granted = lease
        .lease_grant(pb::LeaseGrantRequest { ttl: 5, id: 0 })
        .await
        .expect("grant")
        .into_inner();
    let mut alive = lease
        .lease_keep_alive(tokio_stream::once(pb::LeaseKeepAliveRequest {
            id: granted.id,
        }))
        .await
        .expect("keep-alive")
        .into_inner();
    alive.message().await.expect("stream").expect("kept alive");
    lease
        .lease_revoke(pb::LeaseRevokeRequest { id: granted.id })
        .await
        .expect("revoke");
    drop(tx);
}

async fn scrape(port: u16) -> (support::http::Answer, Families) {
    let answer = support::http::request(port, "GET", "/metrics")
        .await
        .expect("GET /metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    let families = Families::parse(&answer.body);
    (answer, families)
}

/// Scrapes until `name` is served (a labelled metric appears once
/// observed; etcd's round trips after its first probe, ~5 s).
async fn scrape_with(port: u16, name: &str) -> Families {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, families) = scrape(port).await;
        if families.kinds.contains_key(name) && families.labels.contains_key(name) {
            return families;
        }
        assert!(Instant::now() < deadline, "{name} never served on :{port}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_etcds_names_and_types_and_count_the_traffic() {
    let cluster = Cluster::start("metrics", 3).await;
    traffic(cluster.members[0].endpoint()).await;
    let port = cluster.members[0].client_port;
    let families = scrape_with(port, "etcd_network_peer_round_trip_time_seconds").await;
    let (answer, _) = scrape(port).await;
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );

    for (name, kind) in REQUIRED {
        assert_eq!(families.kinds.get(*name), Some(kind), "{name}");
    }
    for name in [
        "etcd_server_term",
        "etcd_server_committed_index",
        "etcd_server_applied_index",
    ] {
        assert!(!families.kinds.contains_key(name), "{name} is not etcd's");
        let ours = name.replace("etcd_", "cairn_");
        assert_eq!(families.kinds.get(&ours), Some(&Gauge), "{ours}");
    }

    // The counters moved.
    let puts = PUTS as f64 + 1.0;
    assert!(families.value("etcd_mvcc_put_total", &[]) >= puts);
    assert!(families.value("etcd_mvcc_range_total", &[]) >= 2.0);
    assert!(families.value("etcd_mvcc_delete_total", &[]) >= 1.0);
    assert!(families.value("etcd_mvcc_txn_total", &[]) >= 1.0);
    assert!(families.value("etcd_debugging_mvcc_keys_total", &[]) >= PUTS as f64);
    let put_ok = [
        ("grpc_type", "unary"),
        ("grpc_service", "etcdserverpb.KV"),
        ("grpc_method", "Put"),
        ("grpc_code", "OK"),
    ];
    assert!(families.value("grpc_server_handled_total", &put_ok) >= PUTS as f64);
    assert!(families.value("grpc_server_started_total", &put_ok[..3]) >= PUTS as f64);
    let watch = [("grpc_type", "bidi_stream"), ("grpc_method", "Watch")];
    assert!(families.value("grpc_server_started_total", &watch) >= 1.0);
    let keep_alive = [("grpc_method", "LeaseKeepAlive")];
    assert!(families.value("grpc_server_msg_received_total", &keep_alive) >= 1.0);
    // Pre-initialised as etcd's: every method, every code.
    let unused = [("grpc_method", "MemberPromote"), ("grpc_code", "DataLoss")];
    assert!(families
        .scrape
        .samples
        .iter()
        .any(|s| s.metric == "grpc_server_handled_total"
            && unused.iter().all(|(k, v)| s.labels.get(k) == Some(*v))));
    assert!(families.value("etcd_network_client_grpc_received_bytes_total", &[]) > 0.0);
    assert!(families.value("etcd_network_client_grpc_sent_bytes_total", &[]) > 0.0);
    assert_eq!(families.value("etcd_server_has_leader", &[]), 1.0);
    assert!(families.value("etcd_server_leader_changes_seen_total", &[]) >= 1.0);
    assert!(families.value("etcd_server_proposals_applied_total", &[]) >= puts);
    assert!(families.count("etcd_disk_wal_fsync_duration_seconds", &[]) >= 1.0);
    assert!(families.value("etcd_network_peer_sent_bytes_total", &[]) > 0.0);
    assert!(families.value("etcd_network_peer_received_bytes_total", &[]) > 0.0);
    assert!(families.value("process_resident_memory_bytes", &[]) > 0.0);
    let ids = cluster.member_ids().await;
    let peers: BTreeSet<String> = families
        .scrape
        .samples
        .iter()
        .filter(|s| s.metric == "etcd_network_peer_sent_bytes_total")
        .filter_map(|s| s.labels.get("To").map(str::to_string))
        .collect();
    let expected: BTreeSet<String> = ids[1..].iter().map(|id| format!("{id:x}")).collect();
    assert_eq!(peers, expected, "labelled with the peers' IDs in hex");
    assert_eq!(
        families.value("etcd_server_id", &[("server_id", &format!("{:x}", ids[0]))]),
        1.0
    );

    if !etcd_available("metrics_are_etcds_names_and_types_and_count_the_traffic") {
        return;
    }
    let etcd = EtcdCluster::start("metrics", 3, &[]).await;
    traffic(etcd.members[0].endpoint()).await;
    let theirs = scrape_with(
        etcd.members[0].client_port,
        "etcd_network_peer_round_trip_time_seconds",
    )
    .await;
    for (name, kind) in REQUIRED {
        assert_eq!(theirs.kinds.get(*name), Some(kind), "etcd's {name}");
    }
    for (name, kind) in families.kinds.iter().filter(|(name, _)| is_etcds(name)) {
        assert_eq!(theirs.kinds.get(name), Some(kind), "{name}: etcd's type");
        assert_eq!(
            theirs.help.get(name),
            families.help.get(name),
            "{name}: help"
        );
        if let (Some(ours), Some(etcds)) = (families.labels.get(name), theirs.labels.get(name)) {
            assert_eq!(ours, etcds, "{name}: label names");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_metrics_urls_serve_metrics_and_health_only() {
    let metrics_port = support::free_port();
    let tls_port = support::free_port();
    let url = format!("http://127.0.0.1:{metrics_port}");
    let tls_url = format!("https://127.0.0.1:{tls_port}");
    // https:// metrics URLs are served with the client certificate (here a
    // self-signed one, --auto-tls), as etcd serves them.
    let urls = format!("{url},{tls_url}");
    let cluster = Cluster::start_with(
        "metrics-url",
        1,
        &[
            "--listen-metrics-urls",
            &urls,
            "--metrics",
            "extensive",
            "--auto-tls",
        ],
    )
    .await;
    let mut kv = cluster.kv(0).await.expect("connect");
    kv.put(put("k", "v")).await.expect("put");

    let (answer, families) = scrape(metrics_port).await;
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(families.value("etcd_server_has_leader", &[]), 1.0);
    // --metrics extensive: etcd's handling-time histograms.
    assert_eq!(
        families.kinds.get("grpc_server_handling_seconds"),
        Some(&Histogram)
    );
    let put_labels = [("grpc_method", "Put")];
    assert!(families.count("grpc_server_handling_seconds", &put_labels) >= 1.0);

    let health = support::http::request(metrics_port, "GET", "/health")
        .await
        .expect("health");
    assert_eq!(
        health.shape(),
        (
            200,
            Some("text/plain; charset=utf-8".to_string()),
            "{\"health\":\"true\"}".to_string()
        )
    );
    // Only /metrics and /health, as etcd's metrics listener.
    let version = support::http::request(metrics_port, "GET", "/version")
        .await
        .expect("version");
    assert_eq!(version.status, 404);
    for url in [&url, &tls_url] {
        assert!(cluster.members[0]
            .log_text()
            .contains(&format!("listening for metrics on {url}")));
    }
    let output = std::process::Command::new("curl")
        .args(["-sk", "--max-time", "5", &format!("{tls_url}/metrics")])
        .output()
        .expect("curl (apt-get install curl)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("# TYPE etcd_server_has_leader gauge"),
        "over TLS: {text}"
    );

    // Without the flag, the client port has no extensive histograms.
    let plain = Cluster::start("metrics-basic", 1).await;
    let (_, basic) = scrape(plain.members[0].client_port).await;
    assert!(!basic.kinds.contains_key("grpc_server_handling_seconds"));
}
