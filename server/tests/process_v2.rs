//! The v2 API on a real 3-member cluster (processes, loopback): TTL expiry
//! and `?wait=true` watches that survive a `kill -9` of the leader, a watch
//! served by a follower, and the v2 proxy mode (`--proxy on|readonly`) in
//! front of the cluster, driven by curl and `ETCDCTL_API=2 etcdctl`.
//!
//! Needs `curl` and etcdctl (Debian's `curl`, `etcd-client`); without
//! them the test says so and passes, unless `CAIRN_REQUIRE_ETCD=1` (CI).

#![allow(clippy::disallowed_methods)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::free_port;
use support::{tools_available, Cluster};

/// `curl -s` with `args`; stdout.
fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// curl in the background (a long poll); its stdout when it ends.
struct Background(Option<Child>);

impl Background {
    fn curl(url: &str) -> Background {
        let child = Command::new("curl")
            .args(["-s", "--max-time", "40", url])
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl");
        Background(Some(child))
    }

    fn output(mut self) -> String {
        let child = self.0.take().expect("running");
        let output = child.wait_with_output().expect("curl output");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn keys_url(port: u16, key: &str) -> String {
    format!("http://127.0.0.1:{port}/v2/keys{key}")
}

/// Polls `check` every 100 ms for up to `within`.
fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn etcdctl(endpoint: &str, args: &[&str]) -> (String, String, i32) {
    let output = Command::new("etcdctl")
        .env("ETCDCTL_API", "2")
        .args(["--endpoints", endpoint])
        .args(args)
        .output()
        .expect("etcdctl");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code().unwrap_or(-1),
    )
}

fn tools(test: &str) -> bool {
    tools_available(
        test,
        &["/usr/bin/curl", "/usr/bin/etcdctl"],
        "curl etcd-client",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry_and_waits_survive_a_leader_kill() {
    if !tools("ttl_expiry_and_waits_survive_a_leader_kill") {
        return;
    }
    let mut cluster = Cluster::start_with("v2-kill", 3, &["--enable-v2=true"]).await;
    let leader = cluster.leader().await.expect("a leader");
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let (f1, f2) = (
        cluster.members[followers[0]].client_port,
        cluster.members[followers[1]].client_port,
    );

    // A TTL key and the index it was set at, written through a follower.
    let set = json(&curl(&[
        "-XPUT",
        &keys_url(f1, "/session"),
        "-d",
        "value=alive",
        "-d",
        "ttl=3",
    ]));
    assert_eq!(set["node"]["ttl"], 3, "{set}");
    let set_index = set["node"]["modifiedIndex"].as_u64().expect("index");

    // Watches served by a follower: the next change of /watched, and the
    // first event on /session after its set (its expiry).
    let watched = Background::curl(&format!("{}?wait=true", keys_url(f2, "/watched")));
    let expiry = Background::curl(&format!(
        "{}?wait=true&waitIndex={}",
        keys_url(f2, "/session"),
        set_index + 1
    ));
    std::thread::sleep(Duration::from_millis(300));

    cluster.kill(leader);
    // A new leader, then a write through the other follower.
    eventually(Duration::from_secs(15), "a write after the kill", || {
        let answer = curl(&["-XPUT", &keys_url(f1, "/watched"), "-d", "value=after"]);
        answer.contains("\"action\":\"set\"")
    });
    let event = json(&watched.output());
    assert_eq!(event["action"], "set", "{event}");
    assert_eq!(event["node"]["value"], "after", "{event}");

    // The TTL runs out under the new leader: every survivor agrees.
    let expired = json(&expiry.output());
    assert_eq!(expired["action"], "expire", "{expired}");
    assert_eq!(expired["node"]["key"], "/session", "{expired}");
    assert_eq!(expired["prevNode"]["value"], "alive", "{expired}");
    for port in [f1, f2] {
        let answer = json(&curl(&[&format!(
            "{}?quorum=true",
            keys_url(port, "/session")
        )]));
        assert_eq!(answer["errorCode"], 100, "{answer}");
    }

    // The killed leader comes back and catches up.
    cluster.spawn(leader);
    cluster.wait_serving(leader).await;
    let back = cluster.members[leader].client_port;
    eventually(
        Duration::from_secs(15),
        "the restarted member to catch up",
        || {
            let answer = curl(&[&keys_url(back, "/watched")]);
            answer.contains("\"value\":\"after\"")
        },
    );
    let answer = json(&curl(&[&keys_url(back, "/session")]));
    assert_eq!(answer["errorCode"], 100, "{answer}");
}

/// A `cairn --proxy` process, killed on drop.
struct Proxy {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Proxy {
    fn start(cluster: &Cluster, mode: &str) -> Proxy {
        let port = free_port();
        let dir = cluster.dir.join(format!("proxy-{mode}-{port}"));
        let initial: Vec<String> = cluster
            .members
            .iter()
            .map(|m| format!("{}={}", m.name, m.advertised_peer_url()))
            .collect();
        let log =
            std::fs::File::create(cluster.dir.join(format!("proxy-{port}.log"))).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args([
                "--proxy",
                mode,
                "--data-dir",
                dir.to_str().expect("utf-8"),
                "--listen-client-urls",
                &format!("http://127.0.0.1:{port}"),
                "--initial-cluster",
                &initial.join(","),
                "--proxy-refresh-interval",
                "500",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn cairn --proxy");
        Proxy { child, port, dir }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v2_proxy_forwards_and_follows_the_cluster() {
    if !tools("the_v2_proxy_forwards_and_follows_the_cluster") {
        return;
    }
    let mut cluster = Cluster::start_with("v2-proxy", 3, &["--enable-v2=true"]).await;
    let proxy = Proxy::start(&cluster, "on");
    eventually(
        Duration::from_secs(10),
        "the proxy to know the cluster",
        || {
            let config = curl(&[&format!("{}/v2/config/local/proxy", proxy.url())]);
            serde_json::from_str::<serde_json::Value>(&config)
                .ok()
                .and_then(|v| v["endpoints"].as_array().map(Vec::len))
                == Some(3)
        },
    );
    // The cluster file a restarted proxy starts from.
    let file = std::fs::read_to_string(proxy.dir.join("proxy/cluster")).expect("cluster file");
    assert_eq!(
        json(&file)["PeerURLs"].as_array().map(Vec::len),
        Some(3),
        "{file}"
    );

    // etcdctl and curl through the proxy.
    let (out, err, code) = etcdctl(&proxy.url(), &["--no-sync", "set", "/via-proxy", "hello"]);
    assert_eq!((out.as_str(), code), ("hello\n", 0), "{err}");
    let (out, _, code) = etcdctl(&proxy.url(), &["--no-sync", "get", "/via-proxy"]);
    assert_eq!((out.as_str(), code), ("hello\n", 0));
    let member = cluster.members[0].client_port;
    let direct = json(&curl(&[&keys_url(member, "/via-proxy")]));
    assert_eq!(direct["node"]["value"], "hello");

    // A watch through the proxy sees a write made on a member.
    let wait = Background::curl(&format!("{}/v2/keys/via-proxy?wait=true", proxy.url()));
    std::thread::sleep(Duration::from_millis(300));
    curl(&[
        "-XPUT",
        &keys_url(member, "/via-proxy"),
        "-d",
        "value=changed",
    ]);
    let event = json(&wait.output());
    assert_eq!(event["node"]["value"], "changed", "{event}");

    // A read-only proxy forwards reads and refuses the rest with 501.
    let readonly = Proxy::start(&cluster, "readonly");
    eventually(Duration::from_secs(10), "the read-only proxy", || {
        curl(&[&format!("{}/v2/keys/via-proxy", readonly.url())]).contains("changed")
    });
    let status = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-XPUT",
        &format!("{}/v2/keys/via-proxy", readonly.url()),
        "-d",
        "value=no",
    ]);
    assert_eq!(status, "501");

    // With a member down, the proxy goes on through the others.
    cluster.kill(0);
    eventually(Duration::from_secs(15), "a write through the proxy", || {
        let answer = curl(&[
            "-XPUT",
            &format!("{}/v2/keys/after-kill", proxy.url()),
            "-d",
            "value=1",
        ]);
        answer.contains("\"action\":\"set\"")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_members_change_through_etcdctl_and_serve_over_https() {
    if !tools("v2_members_change_through_etcdctl_and_serve_over_https") {
        return;
    }
    let cluster = Cluster::start_with("v2-members", 3, &["--enable-v2=true"]).await;
    let endpoint = cluster.members[1].endpoint();
    // `member add` through a follower or the leader (sent on to the leader).
    let peer = format!("http://127.0.0.1:{}", free_port());
    let (out, err, code) = etcdctl(&endpoint, &["member", "add", "m4", &peer]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("Added member named m4 with ID "), "{out}");
    assert!(out.contains("ETCD_INITIAL_CLUSTER=\""), "{out}");
    let id = out
        .trim_start_matches("Added member named m4 with ID ")
        .split_whitespace()
        .next()
        .expect("an id")
        .to_string();
    let (list, _, _) = etcdctl(&endpoint, &["member", "list"]);
    assert!(
        list.contains(&format!("{id}[unstarted]: peerURLs={peer}")),
        "{list}"
    );
    let (out, err, code) = etcdctl(&endpoint, &["member", "remove", &id]);
    assert_eq!(
        (out.as_str(), code),
        (format!("Removed member {id} from cluster\n").as_str(), 0),
        "{err}"
    );
    let (list, _, _) = etcdctl(&endpoint, &["member", "list"]);
    assert_eq!(list.lines().count(), 3, "{list}");
    drop(cluster);

    // The v2 API over https (a certificate cairn makes itself).
    let port = free_port();
    let dir = support::temp_dir("v2-https");
    let url = format!("https://127.0.0.1:{port}");
    let peer_port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "--enable-v2=true",
            "--auto-tls",
            "--data-dir",
            dir.join("m.etcd").to_str().expect("utf-8"),
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
            "--listen-peer-urls",
            &format!("http://127.0.0.1:{peer_port}"),
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer_port}"),
            "--initial-cluster",
            &format!("default=http://127.0.0.1:{peer_port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cairn");
    let key = format!("{url}/v2/keys/secure");
    eventually(Duration::from_secs(15), "a v2 set over https", || {
        curl(&["-k", "-XPUT", &key, "-d", "value=tls"]).contains("\"value\":\"tls\"")
    });
    let answer = json(&curl(&["-k", &key]));
    assert_eq!(answer["node"]["value"], "tls", "{answer}");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
