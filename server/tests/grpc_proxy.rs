//! `cairn grpc-proxy start` in front of real members: etcdctl through the
//! proxy against etcdctl through etcd's own `etcd grpc-proxy start`, watch
//! coalescing counted on both sides, the range cache, `--namespace`, TLS on
//! both sides, and `--resolver-prefix` registration.
//!
//! ```text
//!   etcdctl ──▶ cairn grpc-proxy ──▶ cairn member      (subject)
//!   etcdctl ──▶ etcd grpc-proxy  ──▶ etcd member       (reference)
//! ```

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use pb::watch_client::WatchClient;
use support::certs::Ca;
use support::etcd::{etcd_available, EtcdCluster, ETCD};
use support::{free_port, temp_dir, Cluster};

const ETCDCTL: &str = "/usr/bin/etcdctl";

/// A proxy process, killed when dropped.
struct Proxy {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    /// Dropped after the process is killed (fields drop after `drop`).
    _dir: support::RemoveOnDrop,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts `binary grpc-proxy start --listen-addr=127.0.0.1:<port> <args>` and
/// waits until its port takes connections and it has said it started.
async fn start_proxy(binary: &str, args: &[String]) -> Proxy {
    let port = free_port();
    let dir = temp_dir("grpc-proxy");
    let log = dir.join("proxy.log");
    let child = Command::new(binary)
        .args(["grpc-proxy", "start"])
        .arg(format!("--listen-addr=127.0.0.1:{port}"))
        .arg(format!("--data-dir={}", dir.join("data").display()))
        .args(args)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start the proxy");
    let proxy = Proxy {
        child,
        port,
        log,
        _dir: support::RemoveOnDrop(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !proxy.log_text().contains("started gRPC proxy") {
        assert!(
            Instant::now() < deadline,
            "the proxy did not start: {}",
            proxy.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy
}

fn cairn() -> &'static str {
    env!("CARGO_BIN_EXE_cairn")
}

/// etcdctl's output (stdout then stderr) and whether it succeeded.
fn etcdctl(endpoint: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(ETCDCTL)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg("--command-timeout=5s")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run etcdctl");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("etcdctl output");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// `etcdctl watch <args>` for `for_ms`, while `during` runs.
fn etcdctl_watch(endpoint: &str, args: &[&str], during: impl FnOnce()) -> String {
    let mut child = Command::new(ETCDCTL)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg("watch")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run etcdctl watch");
    std::thread::sleep(Duration::from_millis(700));
    during();
    std::thread::sleep(Duration::from_millis(700));
    let _ = child.kill();
    let output = child.wait_with_output().expect("watch output");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Masks what differs between two clusters: IDs (16 hex digits, or
/// decimal IDs in JSON), revisions, terms, and etcdctl's own log lines.
fn mask(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.contains("\"caller\":\"clientv3/") {
            continue;
        }
        let words: Vec<String> = line
            .split_inclusive(|c: char| c.is_whitespace() || "(),:{}\"".contains(c))
            .map(|word| {
                let core =
                    word.trim_end_matches(|c: char| c.is_whitespace() || "(),:{}\"".contains(c));
                let id = core.len() >= 12 && core.chars().all(|c| c.is_ascii_hexdigit());
                if id {
                    word.replacen(core, "ID", 1)
                } else {
                    word.to_string()
                }
            })
            .collect();
        out.push_str(&words.concat());
        out.push('\n');
    }
    for field in [
        "cluster_id",
        "member_id",
        "raft_term",
        "revision",
        "create_revision",
        "mod_revision",
    ] {
        let pattern = format!("\"{field}\":");
        let mut from = 0;
        while let Some(at) = out[from..].find(&pattern).map(|at| at + from) {
            let start = at + pattern.len();
            let end = out[start..]
                .find([',', '}'])
                .map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "N");
            from = start;
        }
    }
    out
}

/// Each command through the cairn proxy and through etcd's proxy: the
/// same success and the same masked output.
fn same_output(reference: &str, subject: &str, script: &[(&[&str], Option<&str>)]) {
    for (args, stdin) in script {
        let (ok_etcd, expected) = etcdctl(reference, args, *stdin);
        let (ok_cairn, actual) = etcdctl(subject, args, *stdin);
        assert_eq!(
            (ok_cairn, mask(&actual)),
            (ok_etcd, mask(&expected)),
            "etcdctl {args:?} differs (left: cairn's proxy, right: etcd's proxy)"
        );
    }
}

/// One metric's value in a Prometheus text body (0 when absent).
fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .filter(|(series, _)| *series == name)
        .map(|(_, value)| value.trim().parse::<f64>().unwrap_or(0.0))
        .sum()
}

async fn http_body(port: u16, path: &str) -> String {
    support::http::request(port, "GET", path)
        .await
        .map(|answer| answer.body)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_through_the_proxy_gives_etcds_proxy_output() {
    if !etcd_available("etcdctl_through_the_proxy_gives_etcds_proxy_output") {
        return;
    }
    let etcd = EtcdCluster::start("gp-diff", 1, &[]).await;
    let cairn_member = Cluster::start("gp-diff", 1).await;
    let reference = start_proxy(
        ETCD,
        &[format!(
            "--endpoints=127.0.0.1:{}",
            etcd.members[0].client_port
        )],
    )
    .await;
    let subject = start_proxy(
        cairn(),
        &[format!(
            "--endpoints=127.0.0.1:{}",
            cairn_member.members[0].client_port
        )],
    )
    .await;
    let txn = "value(\"k1\") = \"v1\"\n\nput k1 v2\nget k1\n\nput k1 v3\n\n";
    let script: &[(&[&str], Option<&str>)] = &[
        (&["put", "k1", "v1"], None),
        (&["put", "k2", "v2", "--prev-kv"], None),
        (&["get", "k1"], None),
        (&["get", "k", "--prefix", "-w", "json"], None),
        (
            &["get", "k", "--prefix", "--consistency=s", "--keys-only"],
            None,
        ),
        (
            &["get", "k", "--from-key", "--limit=1", "-w", "fields"],
            None,
        ),
        (&["txn", "-w", "json"], Some(txn)),
        (&["get", "k1", "--consistency=s"], None),
        (&["del", "k", "--prefix", "--prev-kv"], None),
        (
            &[
                "get",
                "k",
                "--prefix",
                "--consistency=s",
                "--count-only",
                "-w",
                "fields",
            ],
            None,
        ),
        (&["lease", "grant", "100"], None),
        (&["member", "list"], None),
        (&["member", "list", "-w", "json"], None),
        (&["lock", "--help"], None),
        // Lock passes through to the member's Lock service.
        (&["lock", "pl", "--", "echo", "held"], None),
        (
            &["lock", "pl", "--", "sh", "-c", "echo ${ETCD_LOCK_KEY%%/*}"],
            None,
        ),
    ];
    same_output(&reference.endpoint(), &subject.endpoint(), script);

    // Leases: grant, keep-alive once, time-to-live with the keys on it.
    let mut lease_outputs = Vec::new();
    for proxy in [&reference, &subject] {
        let (ok, granted) = etcdctl(&proxy.endpoint(), &["lease", "grant", "60"], None);
        assert!(ok, "{granted}");
        let id = granted
            .split_whitespace()
            .nth(1)
            .expect("lease id")
            .to_string();
        let mut outputs = vec![etcdctl(
            &proxy.endpoint(),
            &["put", "lk", "v", &format!("--lease={id}")],
            None,
        )];
        outputs.push(etcdctl(
            &proxy.endpoint(),
            &["lease", "keep-alive", "--once", &id],
            None,
        ));
        outputs.push(etcdctl(
            &proxy.endpoint(),
            &["lease", "timetolive", &id, "--keys"],
            None,
        ));
        outputs.push(etcdctl(&proxy.endpoint(), &["lease", "revoke", &id], None));
        outputs.push(etcdctl(&proxy.endpoint(), &["get", "lk"], None));
        lease_outputs.push(
            outputs
                .into_iter()
                .map(|(ok, text)| (ok, mask(&text).replace("(59s)", "(60s)")))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        lease_outputs[1], lease_outputs[0],
        "lease commands (left: cairn)"
    );

    // Watch: events through each proxy.
    let mut watches = Vec::new();
    for proxy in [&reference, &subject] {
        let endpoint = proxy.endpoint();
        watches.push(etcdctl_watch(&endpoint, &["w", "--prev-kv"], || {
            for args in [["put", "w", "1"], ["put", "w", "2"], ["del", "w", ""]] {
                let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
                assert!(etcdctl(&endpoint, &args, None).0);
            }
        }));
    }
    assert_eq!(watches[1], watches[0], "watch output (left: cairn)");
    assert!(watches[1].contains("PUT\nw\n1\n"), "{}", watches[1]);

    // Auth: the client's token goes through the proxy.
    let auth_script: &[(&[&str], Option<&str>)] = &[
        (&["user", "add", "root:rootpw"], None),
        (&["role", "add", "reader"], None),
        (&["role", "grant-permission", "reader", "read", "k1"], None),
        (&["user", "add", "alice:alicepw"], None),
        (&["user", "grant-role", "alice", "reader"], None),
        (&["auth", "enable"], None),
        (&["put", "k1", "secret"], None),
        (&["--user=root:rootpw", "put", "k1", "secret"], None),
        (&["--user=alice:alicepw", "get", "k1"], None),
        (&["--user=alice:alicepw", "put", "k1", "x"], None),
        (&["--user=alice:wrong", "get", "k1"], None),
        (&["--user=root:rootpw", "user", "list"], None),
        (&["--user=root:rootpw", "auth", "disable"], None),
        (&["get", "k1"], None),
    ];
    same_output(&reference.endpoint(), &subject.endpoint(), auth_script);

    // Through the proxy as straight to the member.
    let member = format!("127.0.0.1:{}", cairn_member.members[0].client_port);
    for args in [
        &["get", "k1", "-w", "json"][..],
        &["get", "", "--prefix", "--keys-only"],
    ] {
        let (_, direct) = etcdctl(&member, args, None);
        let (_, proxied) = etcdctl(&subject.endpoint(), args, None);
        assert_eq!(proxied, direct, "etcdctl {args:?}: proxy vs member");
    }
    let (ok, status) = etcdctl(&subject.endpoint(), &["endpoint", "status"], None);
    assert!(ok && status.contains(&subject.endpoint()), "{status}");
    let (ok, health) = etcdctl(&subject.endpoint(), &["endpoint", "health"], None);
    assert!(ok, "{health}");
    assert_eq!(
        http_body(subject.port, "/health").await,
        http_body(reference.port, "/health").await
    );
    // etcd's log lines at the start.
    let log = subject.log_text();
    for line in [
        "listening for gRPC proxy client requests",
        "started gRPC proxy",
    ] {
        assert!(
            log.contains(&format!(
                "\"msg\":\"{line}\",\"address\":\"{}\"",
                subject.endpoint()
            )),
            "{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_refused_flags_are_etcds() {
    if !etcd_available("help_and_refused_flags_are_etcds") {
        return;
    }
    for args in [
        &["grpc-proxy", "start", "--no-such-flag"][..],
        &["grpc-proxy", "start", "--resolver-ttl=x"],
        &["grpc-proxy", "start", "--resolver-prefix=/p"],
        &["grpc-proxy", "start", "--listen-addr"],
        &["grpc-proxy", "start", "--help"],
        &["grpc-proxy", "--bogus"],
        &["grpc-proxy"],
    ] {
        let run = |binary: &str| {
            let output = Command::new(binary)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("run");
            let text = |bytes: &[u8]| {
                String::from_utf8_lossy(bytes)
                    .replace("etcd grpc-proxy", "cairn grpc-proxy")
                    .trim_end()
                    .to_string()
            };
            (
                output.status.code(),
                text(&output.stderr),
                text(&output.stdout),
            )
        };
        assert_eq!(
            run(cairn()),
            run(ETCD),
            "{args:?} (left: cairn, right: etcd)"
        );
    }
}

/// 1,000 client watches on 10 keys, from 100 client streams: upstream
/// watches are counted by the proxy's gauge and by the member's count of
/// Watch streams started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_watches_on_few_keys_share_upstream_watches() {
    const STREAMS: usize = 100;
    const KEYS: usize = 10;
    let member = Cluster::start("gp-watch", 1).await;
    let member_port = member.members[0].client_port;
    let proxy = start_proxy(cairn(), &[format!("--endpoints=127.0.0.1:{member_port}")]).await;
    let started_before = metric(
        &http_body(member_port, "/metrics").await,
        "grpc_server_started_total{grpc_method=\"Watch\",grpc_service=\"etcdserverpb.Watch\",grpc_type=\"bidi_stream\"}",
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", proxy.endpoint()))
        .expect("uri")
        .connect()
        .await
        .expect("connect to the proxy");
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        let (requests, outgoing) = tokio::sync::mpsc::channel(KEYS);
        for key in 0..KEYS {
            let create = pb::WatchRequest {
                request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
                    pb::WatchCreateRequest {
                        key: format!("key{key}").into_bytes().into(),
                        ..Default::default()
                    },
                )),
            };
            requests.send(create).await.expect("queue a create");
        }
        let responses = WatchClient::new(channel.clone())
            .watch(tokio_stream::wrappers::ReceiverStream::new(outgoing))
            .await
            .expect("watch through the proxy")
            .into_inner();
        streams.push((requests, responses));
    }
    let deadline = Duration::from_secs(20);
    for (_, responses) in &mut streams {
        let mut created = 0;
        while created < KEYS {
            let response = tokio::time::timeout(deadline, responses.message())
                .await
                .expect("created in time")
                .expect("stream")
                .expect("open");
            assert!(response.created && !response.canceled, "{response:?}");
            created += 1;
        }
    }
    let proxy_metrics = http_body(proxy.port, "/proxy/metrics").await;
    let upstream = metric(&proxy_metrics, "cairn_grpc_proxy_upstream_watches");
    let coalescing = metric(&proxy_metrics, "etcd_grpc_proxy_watchers_coalescing_total");
    let client_watches = metric(&proxy_metrics, "cairn_grpc_proxy_client_watches");
    let started_after = metric(
        &http_body(member_port, "/metrics").await,
        "grpc_server_started_total{grpc_method=\"Watch\",grpc_service=\"etcdserverpb.Watch\",grpc_type=\"bidi_stream\"}",
    );
    let member_streams = started_after - started_before;
    println!(
        "client watches {client_watches}, upstream watches {upstream} (member: {member_streams} Watch streams started), watchers coalescing {coalescing}"
    );
    assert_eq!(client_watches, (STREAMS * KEYS) as f64);
    assert!(
        upstream <= 2.0 * KEYS as f64 && upstream >= KEYS as f64,
        "{upstream}"
    );
    assert!(member_streams <= 2.0 * KEYS as f64, "{member_streams}");
    assert_eq!(coalescing, (STREAMS * KEYS) as f64 - upstream);

    // One put per key: each client watch sees its key's event exactly once.
    let mut kv = pb::kv_client::KvClient::new(channel.clone());
    for key in 0..KEYS {
        kv.put(support::put(&format!("key{key}"), "v"))
            .await
            .expect("put");
    }
    for (_, responses) in &mut streams {
        let mut seen = vec![0usize; KEYS];
        while seen.iter().sum::<usize>() < KEYS {
            let response = tokio::time::timeout(deadline, responses.message())
                .await
                .expect("events in time")
                .expect("stream")
                .expect("open");
            for event in response.events {
                let key = String::from_utf8_lossy(&event.kv.expect("kv").key).into_owned();
                let index: usize = key.trim_start_matches("key").parse().expect("key index");
                seen[index] += 1;
                assert_eq!(
                    response.watch_id as usize, index,
                    "watch IDs follow creation order"
                );
            }
        }
        assert_eq!(seen, vec![1; KEYS]);
        // Nothing more arrives.
        let more = tokio::time::timeout(Duration::from_millis(20), responses.message()).await;
        assert!(more.is_err(), "{more:?}");
    }
    let events = metric(
        &http_body(proxy.port, "/proxy/metrics").await,
        "etcd_grpc_proxy_events_coalescing_total",
    );
    println!("events coalescing {events}");
    drop(streams);
    // Clients gone: the upstream watches close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = http_body(proxy.port, "/proxy/metrics").await;
        if metric(&body, "cairn_grpc_proxy_upstream_watches") == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "upstream watches left: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serializable_reads_come_from_the_cache_until_a_write() {
    if !support::tools_available("cache", &[ETCDCTL], "etcd-client") {
        return;
    }
    let member = Cluster::start("gp-cache", 1).await;
    let member_port = member.members[0].client_port;
    let proxy = start_proxy(cairn(), &[format!("--endpoints=127.0.0.1:{member_port}")]).await;
    let endpoint = proxy.endpoint();
    let hits = |body: &str| metric(body, "etcd_grpc_proxy_cache_hits_total");
    assert!(etcdctl(&endpoint, &["put", "c", "1"], None).0);
    let (_, first) = etcdctl(&endpoint, &["get", "c", "--consistency=s"], None);
    let before = hits(&http_body(proxy.port, "/metrics").await);
    let (_, second) = etcdctl(&endpoint, &["get", "c", "--consistency=s"], None);
    let after = hits(&http_body(proxy.port, "/metrics").await);
    assert_eq!(first, "c\n1\n");
    assert_eq!(second, first);
    assert_eq!(after, before + 1.0, "the second read is a cache hit");
    // A write straight to the member is not seen (etcd's proxy does the same)...
    let member_endpoint = format!("127.0.0.1:{member_port}");
    assert!(etcdctl(&member_endpoint, &["put", "c", "2"], None).0);
    let (_, stale) = etcdctl(&endpoint, &["get", "c", "--consistency=s"], None);
    assert_eq!(stale, "c\n1\n");
    // ...one through the proxy invalidates the entry.
    assert!(etcdctl(&endpoint, &["put", "c", "3"], None).0);
    let (_, fresh) = etcdctl(&endpoint, &["get", "c", "--consistency=s"], None);
    assert_eq!(fresh, "c\n3\n");
    let body = http_body(proxy.port, "/metrics").await;
    assert!(
        body.contains("etcd_server_has_leader 1"),
        "the member's metrics too"
    );
    assert!(metric(&body, "etcd_grpc_proxy_cache_misses_total") >= 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespace_prefixes_keys_on_the_member() {
    if !support::tools_available("namespace", &[ETCDCTL], "etcd-client") {
        return;
    }
    let member = Cluster::start("gp-ns", 1).await;
    let member_endpoint = format!("127.0.0.1:{}", member.members[0].client_port);
    let proxy = start_proxy(
        cairn(),
        &[
            format!("--endpoints={member_endpoint}"),
            "--namespace=/ns/".to_string(),
        ],
    )
    .await;
    let endpoint = proxy.endpoint();
    assert!(etcdctl(&endpoint, &["put", "a", "1"], None).0);
    assert!(etcdctl(&endpoint, &["put", "b", "2"], None).0);
    assert!(etcdctl(&member_endpoint, &["put", "outside", "x"], None).0);
    assert_eq!(
        etcdctl(&member_endpoint, &["get", "/ns/", "--prefix"], None).1,
        "/ns/a\n1\n/ns/b\n2\n"
    );
    assert_eq!(etcdctl(&endpoint, &["get", "a"], None).1, "a\n1\n");
    assert_eq!(
        etcdctl(&endpoint, &["get", "", "--from-key"], None).1,
        "a\n1\nb\n2\n"
    );
    let watched = etcdctl_watch(&endpoint, &["a", "--prev-kv"], || {
        assert!(etcdctl(&endpoint, &["put", "a", "3"], None).0);
    });
    assert_eq!(watched, "PUT\na\n1\na\n3\n");
    let txn = "value(\"a\") = \"3\"\n\nput b 4\n\n\n";
    let (ok, answer) = etcdctl(&endpoint, &["txn"], Some(txn));
    assert!(ok, "{answer}");
    assert_eq!(
        etcdctl(&member_endpoint, &["get", "/ns/b"], None).1,
        "/ns/b\n4\n"
    );
    assert_eq!(
        etcdctl(&endpoint, &["del", "", "--from-key"], None).1,
        "2\n"
    );
    assert_eq!(
        etcdctl(&member_endpoint, &["get", "outside"], None).1,
        "outside\nx\n"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_from_clients_to_the_proxy_and_from_the_proxy_to_the_member() {
    if !support::tools_available("tls", &[ETCDCTL], "etcd-client") {
        return;
    }
    let dir = temp_dir("gp-tls");
    let _cleanup = support::RemoveOnDrop(dir.clone());
    let ca = Ca::new("grpc-proxy test CA");
    let ca_file = ca.write(&dir, "ca.pem");
    let member_files = ca.issue("member", &["127.0.0.1"], 2).write(&dir, "member");
    let proxy_files = ca.issue("proxy", &["127.0.0.1"], 3).write(&dir, "proxy");
    let client_leaf = ca.issue("client", &["127.0.0.1"], 4);
    let client_files = client_leaf.write(&dir, "client");
    let member = Cluster::start_with_options(
        "gp-tls",
        1,
        support::Options {
            client_tls: Some(support::ClientTls {
                ca_pem: ca.cert_pem.clone(),
                cert_pem: client_leaf.cert_pem.clone(),
                key_pem: client_leaf.key_pem.clone(),
            }),
            ..support::Options::extra(&[
                "--cert-file",
                member_files.cert(),
                "--key-file",
                member_files.key(),
                "--trusted-ca-file",
                path(&ca_file),
            ])
        },
    )
    .await;
    let proxy = start_proxy(
        cairn(),
        &[
            format!(
                "--endpoints=https://127.0.0.1:{}",
                member.members[0].client_port
            ),
            format!("--cert={}", proxy_files.cert()),
            format!("--key={}", proxy_files.key()),
            format!("--cacert={}", path(&ca_file)),
            format!("--cert-file={}", proxy_files.cert()),
            format!("--key-file={}", proxy_files.key()),
            format!("--trusted-ca-file={}", path(&ca_file)),
        ],
    )
    .await;
    let endpoint = format!("https://{}", proxy.endpoint());
    let tls = [
        format!("--cacert={}", path(&ca_file)),
        format!("--cert={}", client_files.cert()),
        format!("--key={}", client_files.key()),
    ];
    let with = |args: &[&str]| -> Vec<String> {
        tls.iter()
            .cloned()
            .chain(args.iter().map(|a| a.to_string()))
            .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        etcdctl(&endpoint, &args, None)
    };
    let (ok, put) = run(with(&["put", "secure", "yes"]));
    assert!(ok, "put over TLS: {put}\n{}", proxy.log_text());
    assert_eq!(run(with(&["get", "secure"])).1, "secure\nyes\n");
    // Without a client certificate the proxy refuses the connection.
    let (ok, refused) = run(vec![
        format!("--cacert={}", path(&ca_file)),
        "--dial-timeout=1s".to_string(),
        "get".to_string(),
        "secure".to_string(),
    ]);
    assert!(!ok, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_proxies_are_the_member_list() {
    if !support::tools_available("resolver", &[ETCDCTL], "etcd-client") {
        return;
    }
    let member = Cluster::start("gp-resolver", 1).await;
    let member_endpoint = format!("127.0.0.1:{}", member.members[0].client_port);
    let advertised = format!("127.0.0.1:{}", free_port());
    let proxy = start_proxy(
        cairn(),
        &[
            format!("--endpoints={member_endpoint}"),
            "--resolver-prefix=/proxies".to_string(),
            "--resolver-ttl=3".to_string(),
            format!("--advertise-client-url={advertised}"),
        ],
    )
    .await;
    let key = format!("/proxies/{advertised}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let value = loop {
        let (_, value) = etcdctl(&member_endpoint, &["get", &key, "--print-value-only"], None);
        if !value.is_empty() {
            break value;
        }
        assert!(
            Instant::now() < deadline,
            "not registered: {}",
            proxy.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let json: serde_json::Value = serde_json::from_str(value.trim()).expect("JSON endpoint");
    assert_eq!(json["Op"], 0);
    assert_eq!(json["Addr"], advertised.as_str());
    assert!(json["Metadata"]
        .as_str()
        .expect("metadata")
        .starts_with("{\"name\":"));
    let (ok, list) = etcdctl(&proxy.endpoint(), &["member", "list"], None);
    assert!(ok, "{list}");
    assert!(list.starts_with("0, started, "), "{list}");
    assert!(list.contains(&format!(", , {advertised}, false")), "{list}");
    // The lease is kept alive beyond its TTL.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, still) = etcdctl(&member_endpoint, &["get", &key, "--keys-only"], None);
    assert_eq!(still.trim(), key);
}

/// Creates one watch on `key` from `start` through `channel`; returns the
/// request sender (kept open) and the responses, after the created one.
async fn open_watch(
    channel: &tonic::transport::Channel,
    key: &str,
    start: i64,
) -> (
    tokio::sync::mpsc::Sender<pb::WatchRequest>,
    tonic::Streaming<pb::WatchResponse>,
) {
    let (requests, outgoing) = tokio::sync::mpsc::channel(1);
    let create = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: key.to_string().into_bytes().into(),
                start_revision: start,
                ..Default::default()
            },
        )),
    };
    requests.send(create).await.expect("queue a create");
    let mut responses = WatchClient::new(channel.clone())
        .watch(tokio_stream::wrappers::ReceiverStream::new(outgoing))
        .await
        .expect("watch")
        .into_inner();
    let created = responses.message().await.expect("stream").expect("open");
    assert!(created.created, "{created:?}");
    (requests, responses)
}

/// The revisions of the next `count` events on `responses`.
async fn next_events(
    responses: &mut tonic::Streaming<pb::WatchResponse>,
    count: usize,
) -> Vec<i64> {
    let mut revisions = Vec::new();
    while revisions.len() < count {
        let response = tokio::time::timeout(Duration::from_secs(10), responses.message())
            .await
            .expect("events in time")
            .expect("stream")
            .expect("open");
        revisions.extend(
            response
                .events
                .iter()
                .map(|e| e.kv.as_ref().expect("kv").mod_revision),
        );
    }
    revisions
}

/// Watches started in the past get upstream watches of their own, and join
/// the live one once they have caught up (etcd's `coalesce`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_from_the_past_coalesce_once_caught_up() {
    let member = Cluster::start("gp-coalesce", 1).await;
    let member_port = member.members[0].client_port;
    let proxy = start_proxy(cairn(), &[format!("--endpoints=127.0.0.1:{member_port}")]).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", proxy.endpoint()))
        .expect("uri")
        .connect()
        .await
        .expect("connect to the proxy");
    let mut kv = pb::kv_client::KvClient::new(channel.clone());
    let mut revisions = Vec::new();
    for i in 0..5 {
        let put = kv
            .put(support::put("h", &i.to_string()))
            .await
            .expect("put");
        revisions.push(put.into_inner().header.expect("header").revision);
    }
    let (_live_requests, mut live) = open_watch(&channel, "h", 0).await;
    let mut past = Vec::new();
    for _ in 0..3 {
        past.push(open_watch(&channel, "h", revisions[0]).await);
    }
    for (_, responses) in &mut past {
        assert_eq!(next_events(responses, 5).await, revisions);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let upstream = loop {
        let body = http_body(proxy.port, "/proxy/metrics").await;
        let upstream = metric(&body, "cairn_grpc_proxy_upstream_watches");
        if upstream == 1.0 || Instant::now() > deadline {
            break upstream;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("after catching up: {upstream} upstream watch(es) for 4 client watches");
    assert_eq!(upstream, 1.0);
    let body = http_body(proxy.port, "/proxy/metrics").await;
    assert_eq!(
        metric(&body, "etcd_grpc_proxy_watchers_coalescing_total"),
        3.0
    );
    let put = kv.put(support::put("h", "new")).await.expect("put");
    let new = put.into_inner().header.expect("header").revision;
    assert_eq!(next_events(&mut live, 1).await, vec![new]);
    for (_, responses) in &mut past {
        assert_eq!(next_events(responses, 1).await, vec![new]);
        let more = tokio::time::timeout(Duration::from_millis(20), responses.message()).await;
        assert!(more.is_err(), "{more:?}");
    }
}
