//! `cairn gateway start`, etcd's L4 gateway: its command line against real
//! etcd's, etcdctl through it in front of a 3-member cluster (and through
//! real etcd's gateway in front of the same cluster, for the same output),
//! a member killed and brought back behind it, and endpoints from DNS SRV
//! records served by dnsmasq.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::child::{spawn, start_dnsmasq, Proc, DNSMASQ};
use support::etcd::{etcd_available, ETCD};
use support::{free_port, temp_dir, tools_available, Cluster};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");
const ETCDCTL: &str = "/usr/bin/etcdctl";

/// Runs `program args` to its end (at most 10 s): stdout, stderr, exit code.
fn run(program: &str, args: &[&str]) -> (String, String, i32) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{program} {args:?} did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code().unwrap_or(-1),
    )
}

/// Waits until `log` has a line containing `text`.
fn wait_log(log: &Path, text: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let content = std::fs::read_to_string(log).unwrap_or_default();
        if content.contains(text) {
            return content;
        }
        assert!(
            Instant::now() < deadline,
            "no {text:?} in {}:\n{content}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn gateway_args(listen: u16, endpoints: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "gateway".to_string(),
        "start".to_string(),
        format!("--listen-addr=127.0.0.1:{listen}"),
        format!("--endpoints={endpoints}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn etcdctl(endpoint: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["--endpoints", endpoint, "--command-timeout=5s"];
    all.extend_from_slice(args);
    let output = Command::new(ETCDCTL)
        .args(&all)
        .env("ETCDCTL_API", "3")
        .stdin(Stdio::null())
        .output()
        .expect("etcdctl");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn the_command_line_is_etcds() {
    if !etcd_available("the_command_line_is_etcds") {
        return;
    }
    let taken = free_port();
    let cases: Vec<Vec<String>> = vec![
        vec!["gateway".into()],
        vec!["gateway".into(), "bogus".into()],
        vec!["gateway".into(), "start".into(), "-h".into()],
        vec!["gateway".into(), "start".into(), "--help".into()],
        vec!["gateway".into(), "start".into(), "--bogus".into()],
        vec!["gateway".into(), "start".into(), "-x".into()],
        vec!["gateway".into(), "start".into(), "--listen-addr".into()],
        vec!["gateway".into(), "start".into(), "--retry-delay=xx".into()],
        vec![
            "gateway".into(),
            "start".into(),
            "--insecure-discovery=maybe".into(),
        ],
        vec![
            "gateway".into(),
            "start".into(),
            "--listen-addr=nope".into(),
        ],
        vec![
            "gateway".into(),
            "start".into(),
            "--endpoints=nohost".into(),
        ],
        vec![
            "gateway".into(),
            "start".into(),
            format!("--endpoints=http://127.0.0.1:{taken}"),
            format!("--listen-addr=127.0.0.1:{taken}"),
        ],
    ];
    for case in cases {
        let args: Vec<&str> = case.iter().map(String::as_str).collect();
        let etcd = run(ETCD, &args);
        let cairn = run(CAIRN, &args);
        let etcd = (
            etcd.0.replace("etcd gateway", "cairn gateway"),
            etcd.1.replace("etcd gateway", "cairn gateway"),
            etcd.2,
        );
        assert_eq!(cairn, etcd, "cairn {case:?} (left) differs from etcd's");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_works_through_the_gateway_and_past_a_dead_member() {
    if !etcd_available("etcdctl_works_through_the_gateway_and_past_a_dead_member") {
        return;
    }
    let mut cluster = Cluster::start("tcp-gateway", 3).await;
    let dir = temp_dir("tcp-gateway-procs");
    // Plain host:port and URLs both name endpoints.
    let endpoints = cluster
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == 0 {
                format!("127.0.0.1:{}", m.client_port)
            } else {
                m.endpoint()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    let cairn_port = free_port();
    let etcd_port = free_port();
    let cairn_log = dir.join("cairn-gateway.log");
    let etcd_log = dir.join("etcd-gateway.log");
    let _cairn_gateway = spawn(
        CAIRN,
        &gateway_args(cairn_port, &endpoints, &["--retry-delay=1s"]),
        &cairn_log,
        &[],
    );
    let _etcd_gateway = spawn(
        ETCD,
        &gateway_args(etcd_port, &endpoints, &["--retry-delay=1s"]),
        &etcd_log,
        &[],
    );
    let ready = wait_log(
        &cairn_log,
        "ready to proxy client requests",
        Duration::from_secs(10),
    );
    let expected: Vec<String> = cluster
        .members
        .iter()
        .map(|m| format!("\"127.0.0.1:{}\"", m.client_port))
        .collect();
    assert!(
        ready.contains(&format!("\"endpoints\":[{}]", expected.join(","))),
        "{ready}"
    );
    wait_log(
        &etcd_log,
        "ready to proxy client requests",
        Duration::from_secs(10),
    );
    let via_cairn = format!("127.0.0.1:{cairn_port}");
    let via_etcd = format!("127.0.0.1:{etcd_port}");
    let steps: Vec<Vec<&str>> = vec![
        vec!["put", "gw/a", "1"],
        vec!["get", "gw/a"],
        vec!["put", "gw/b", "2"],
        vec!["get", "gw/", "--prefix", "--keys-only"],
        vec!["txn"],
        vec!["del", "gw/b"],
        vec!["get", "gw/", "--prefix", "--print-value-only"],
        vec!["member", "list", "-w", "simple"],
    ];
    for step in &steps {
        // Each gateway's keys under a prefix of its own, so both runs of a
        // step see the same keyspace.
        let own = |prefix: &str| -> Vec<String> {
            step.iter().map(|w| w.replace("gw/", prefix)).collect()
        };
        let (args_c, args_e) = (own("gwc/"), own("gwe/"));
        let args_c: Vec<&str> = args_c.iter().map(String::as_str).collect();
        let args_e: Vec<&str> = args_e.iter().map(String::as_str).collect();
        let (ok_c, text_c) = etcdctl(&via_cairn, &args_c);
        let (ok_e, text_e) = etcdctl(&via_etcd, &args_e);
        let text_c = text_c.replace("gwc/", "gw/");
        let text_e = text_e.replace("gwe/", "gw/");
        let mask = |text: &str| mask_json(text);
        assert_eq!(
            (ok_c, mask(&text_c)),
            (ok_e, mask(&text_e)),
            "etcdctl {step:?} through cairn's gateway (left) and etcd's"
        );
        assert!(ok_c || step[0] == "txn", "{step:?}: {text_c}");
    }
    // A watch streams through the gateway.
    let watcher = Command::new(ETCDCTL)
        .args(["--endpoints", &via_cairn, "watch", "gw/w", "--prefix"])
        .env("ETCDCTL_API", "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch");
    let mut watcher = Proc(Some(watcher));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(etcdctl(&via_cairn, &["put", "gw/w1", "x"]).0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let child = watcher.0.take().expect("watcher");
    let _ = nix_kill(child.id());
    let output = child.wait_with_output().expect("watch output");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "PUT\ngw/w1\nx\n");

    // The first endpoint dies: connections picked for it fail over, and
    // the gateway says so. A follower, so no write waits for an election.
    let leader = cluster.leader().await.expect("a leader");
    if leader == 0 {
        let (ok, text) = etcdctl(
            &cluster.members[0].endpoint(),
            &[
                "move-leader",
                &format!("{:x}", cluster.member_ids().await[1]),
            ],
        );
        assert!(ok, "{text}");
    }
    cluster.kill(0);
    for i in 0..6 {
        let key = format!("gw/after-{i}");
        let (ok, text) = etcdctl(&via_cairn, &["put", &key, "v"]);
        assert!(ok, "put through the gateway with a member down: {text}");
    }
    let log = wait_log(&cairn_log, "deactivated endpoint", Duration::from_secs(5));
    assert!(
        log.contains(&format!(
            "\"address\":\"127.0.0.1:{}\"",
            cluster.members[0].client_port
        )),
        "{log}"
    );
    assert!(log.contains("connect: connection refused"), "{log}");
    // Back again: the monitor finds it within --retry-delay.
    cluster.spawn(0);
    cluster.wait_serving(0).await;
    wait_log(&cairn_log, "\"msg\":\"activated\"", Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Member IDs, revisions and terms differ between runs of the same
/// command on one cluster only by time: masks digits runs of IDs.
fn mask_json(text: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 8 {
            out.push_str("<n>");
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(c);
    }
    if digits.len() >= 8 {
        out.push_str("<n>");
    } else {
        out.push_str(&digits);
    }
    // Revisions move between the two runs.
    let mut masked = String::new();
    let mut rest = out.as_str();
    while let Some(at) = rest.find("\"revision\":") {
        masked.push_str(&rest[..at + "\"revision\":".len()]);
        rest = &rest[at + "\"revision\":".len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        masked.push_str("<rev>");
        rest = &rest[end..];
    }
    masked.push_str(rest);
    masked
}

/// SIGTERM to one child by its PID.
fn nix_kill(pid: u32) -> std::io::Result<()> {
    let status = Command::new("kill").arg(pid.to_string()).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_come_from_dns_srv_records() {
    if !tools_available(
        "endpoints_come_from_dns_srv_records",
        &[DNSMASQ, ETCDCTL],
        "dnsmasq etcd-client",
    ) {
        return;
    }
    let cluster = Cluster::start("tcp-gateway-srv", 1).await;
    let dir: PathBuf = temp_dir("tcp-gateway-srv-procs");
    let member = cluster.members[0].client_port;
    let records = vec![format!(
        "--srv-host=_etcd-client._tcp.cairn.test,127.0.0.1,{member}"
    )];
    let (_dns, dns_port) = start_dnsmasq(&dir, &records);
    let env = vec![(
        "CAIRN_DNS_NAMESERVER".to_string(),
        format!("127.0.0.1:{dns_port}"),
    )];
    // Insecure records are used with --insecure-discovery.
    let port = free_port();
    let log = dir.join("insecure.log");
    let mut gateway = spawn(
        CAIRN,
        &[
            "gateway".to_string(),
            "start".to_string(),
            format!("--listen-addr=127.0.0.1:{port}"),
            "--discovery-srv=cairn.test".to_string(),
            "--insecure-discovery".to_string(),
        ],
        &log,
        &env,
    );
    let text = wait_log(&log, "ready to proxy", Duration::from_secs(10));
    assert!(
        text.contains("\"msg\":\"discovered cluster from SRV\""),
        "{text}"
    );
    assert!(
        text.contains(&format!("\"endpoints\":[\"127.0.0.1:{member}\"]")),
        "{text}"
    );
    let (ok, out) = etcdctl(&format!("127.0.0.1:{port}"), &["put", "srv/a", "1"]);
    assert!(ok, "{out}");
    gateway.stop();
    // The grpc proxy finds its cluster the same way.
    let port = free_port();
    let log = dir.join("grpc-proxy.log");
    let mut grpc_proxy = spawn(
        CAIRN,
        &[
            "grpc-proxy".to_string(),
            "start".to_string(),
            format!("--listen-addr=127.0.0.1:{port}"),
            "--discovery-srv=cairn.test".to_string(),
            "--insecure-discovery".to_string(),
            format!("--data-dir={}", dir.join("proxy").display()),
        ],
        &log,
        &env,
    );
    let text = wait_log(&log, "started gRPC proxy", Duration::from_secs(15));
    assert!(
        text.contains("\"msg\":\"discovered cluster from SRV\""),
        "{text}"
    );
    let (ok, out) = etcdctl(&format!("127.0.0.1:{port}"), &["get", "srv/a"]);
    assert!(ok && out == "srv/a\n1\n", "{out}");
    grpc_proxy.stop();
    // Without it, an http:// record is refused as insecure and the gateway
    // falls back to --endpoints, as etcd's does.
    let port = free_port();
    let log = dir.join("secure.log");
    let _gateway = spawn(
        CAIRN,
        &[
            "gateway".to_string(),
            "start".to_string(),
            format!("--listen-addr=127.0.0.1:{port}"),
            "--discovery-srv=cairn.test".to_string(),
            format!("--endpoints=127.0.0.1:{member}"),
        ],
        &log,
        &env,
    );
    let text = wait_log(&log, "ready to proxy", Duration::from_secs(10));
    assert!(
        text.contains("\"msg\":\"failed to validate discovered endpoints\""),
        "{text}"
    );
    assert!(text.contains("is insecure"), "{text}");
    let (ok, out) = etcdctl(&format!("127.0.0.1:{port}"), &["get", "srv/a"]);
    assert!(ok && out == "srv/a\n1\n", "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
