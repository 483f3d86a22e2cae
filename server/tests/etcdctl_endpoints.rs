//! The real `etcdctl` 3.4.23 against a cairn member with every endpoint
//! spelling users type: `http://127.0.0.1:PORT`, bare `127.0.0.1:PORT`, and
//! `https://127.0.0.1:PORT` over TLS; each command must succeed with the
//! output etcd gives.
//!
//! grpc-go (inside etcdctl) sends the endpoint as dialed, scheme included,
//! as the HTTP/2 `:authority` of the calls it makes to one named endpoint
//! (`endpoint status`, `endpoint hashkv`, and every `--cluster` variant,
//! which dials the advertised `http://` URLs). Upstream `h2` reset those
//! streams with PROTOCOL_ERROR; cairn builds with a patched copy
//! (`vendor/h2/CAIRN-PATCH.md`). The last test sends such a request frame
//! by frame, so it runs without etcdctl too.
//!
//! `etcdctl` is Debian's (`etcd-client`); the tests that need it skip
//! without it, except under `CAIRN_REQUIRE_ETCD=1` (as in CI), where they
//! fail.

#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::certs::Ca;
use support::{temp_dir, ClientTls, Cluster, Member, Options};

const ETCDCTL: &str = "/usr/bin/etcdctl";

/// Whether etcdctl is installed; fails when CI requires it.
fn etcdctl_available(test: &str) -> bool {
    support::tools_available(test, &[ETCDCTL], "etcd-client")
}

/// etcdctl pointed at one endpoint, with flags of its own (TLS files).
struct Etcdctl {
    endpoint: String,
    flags: Vec<String>,
    /// The member's log, shown when a command fails.
    log: std::path::PathBuf,
}

impl Etcdctl {
    fn new(endpoint: &str, member: &Member) -> Etcdctl {
        Etcdctl {
            endpoint: endpoint.to_string(),
            flags: Vec::new(),
            log: member.log.clone(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ETCDCTL);
        command
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .args(["--dial-timeout=3s", "--command-timeout=10s"])
            .args(&self.flags)
            .args(args);
        command
    }

    /// Runs `args` (with `stdin`), asserts exit 0, returns stdout and
    /// stderr.
    fn output(&self, args: &[&str], stdin: &str) -> (String, String) {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run etcdctl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let output = child.wait_with_output().expect("etcdctl output");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(
            output.status.success(),
            "etcdctl --endpoints={} {} exited with {}:\n{stdout}{stderr}\ncairn log:\n{}",
            self.endpoint,
            args.join(" "),
            output.status,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        (stdout, stderr)
    }

    /// Runs `args` with `stdin`, asserts exit 0, returns stdout.
    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> String {
        self.output(args, stdin).0
    }

    /// Runs `args`, asserts exit 0, returns stdout.
    fn run(&self, args: &[&str]) -> String {
        self.output(args, "").0
    }

    /// Runs `args`, asserts exit 0, returns stderr (where `endpoint health`
    /// prints).
    fn run_stderr(&self, args: &[&str]) -> String {
        self.output(args, "").1
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("-w=json");
        let out = self.run(&args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"))
    }
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `watch --rev=<rev> key` in the background: waits for the event at `rev`
/// (the watch is then established), puts `key`=`value`, waits for that
/// event too, and stops etcdctl.
fn watch(ctl: &Etcdctl, key: &str, rev: i64, first: &str, value: &str) {
    let mut child = ctl
        .command(&["watch", &format!("--rev={rev}"), key])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run etcdctl watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |event: [&str; 3]| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.windows(3).any(|w: &[String]| w == event) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "etcdctl --endpoints={} watch: no {event:?} within 10s; printed {seen:?}",
                    ctl.endpoint
                ),
            }
        }
        seen.clear();
    };
    wait_for(["PUT", key, first]);
    assert_eq!(ctl.run(&["put", key, value]), "OK\n");
    wait_for(["PUT", key, value]);
    let _ = child.kill();
    let _ = child.wait();
}

/// The commands etcd users type every day, through `ctl`'s endpoint, on a
/// fresh one-member cluster whose member is `member`.
fn every_command(ctl: &Etcdctl, member: &Member) {
    let client_url = format!("http://127.0.0.1:{}", member.client_port);
    let peer_url = format!("http://127.0.0.1:{}", member.peer_port);
    let ep = ctl.endpoint.as_str();

    // KV.
    assert_eq!(ctl.run(&["put", "k1", "v1"]), "OK\n");
    assert_eq!(ctl.run(&["get", "k1"]), "k1\nv1\n");
    let put = ctl.json(&["put", "k2", "v2"]);
    let rev = put["header"]["revision"].as_i64().expect("revision");
    let got = ctl.json(&["get", "k", "--prefix"]);
    assert_eq!(got["count"], 2, "{got}");
    assert_eq!(got["kvs"][0]["key"], base64("k1"), "{got}");
    assert_eq!(got["kvs"][1]["value"], base64("v2"), "{got}");
    assert_eq!(ctl.run(&["del", "k2"]), "1\n");
    assert_eq!(ctl.run(&["get", "k2"]), "");

    // Transactions, from stdin as scripts feed them.
    let txn = "value(\"k1\") = \"v1\"\n\nput t yes\n\nput t no\n\n";
    assert_eq!(ctl.run_with_stdin(&["txn"], txn), "SUCCESS\n\nOK\n");
    assert_eq!(ctl.run(&["get", "t"]), "t\nyes\n");
    let txn = "value(\"k1\") = \"other\"\n\nput t yes\n\nput t no\n\n";
    let answer: Value =
        serde_json::from_str(&ctl.run_with_stdin(&["txn", "-w=json"], txn)).expect("txn json");
    assert_ne!(answer["succeeded"], true, "{answer}");
    assert_eq!(ctl.run(&["get", "t", "--print-value-only"]), "no\n");

    // Compaction.
    assert_eq!(
        ctl.run(&["compaction", &rev.to_string()]),
        format!("compacted revision {rev}\n")
    );

    // Watch.
    let put = ctl.json(&["put", "w", "1"]);
    let rev = put["header"]["revision"].as_i64().expect("revision");
    watch(ctl, "w", rev, "1", "2");

    // Leases.
    let grant = ctl.run(&["lease", "grant", "60"]);
    let id = grant
        .strip_prefix("lease ")
        .and_then(|rest| rest.strip_suffix(" granted with TTL(60s)\n"))
        .unwrap_or_else(|| panic!("lease grant printed {grant:?}"))
        .to_string();
    assert_eq!(
        ctl.run(&["put", "lk", "lv", &format!("--lease={id}")]),
        "OK\n"
    );
    let ttl = ctl.run(&["lease", "timetolive", &id, "--keys"]);
    assert!(
        ttl.starts_with(&format!("lease {id} granted with TTL(60s), remaining("))
            && ttl.ends_with("s), attached keys([lk])\n"),
        "{ttl:?}"
    );
    assert_eq!(
        ctl.run(&["lease", "list"]),
        format!("found 1 leases\n{id}\n")
    );
    assert_eq!(
        ctl.run(&["lease", "revoke", &id]),
        format!("lease {id} revoked\n")
    );
    assert_eq!(ctl.run(&["get", "lk"]), "");
    assert_eq!(ctl.run(&["lease", "list"]), "found 0 leases\n");

    // Cluster and maintenance.
    let status = ctl.json(&["endpoint", "status"]);
    assert_eq!(status[0]["Endpoint"], ep, "{status}");
    let member_id = status[0]["Status"]["header"]["member_id"]
        .as_u64()
        .expect("member_id");
    assert_eq!(status[0]["Status"]["leader"], member_id, "{status}");
    let id = format!("{member_id:x}");
    assert_eq!(
        ctl.run(&["member", "list"]),
        format!("{id}, started, m1, {peer_url}, {client_url}, false\n")
    );
    let table = ctl.run(&["member", "list", "-w=table"]);
    assert!(
        table.contains(&format!(
            "| {id} | started |   m1 | {peer_url} | {client_url} |      false |"
        )),
        "{table}"
    );
    for (args, endpoint) in [
        (&["endpoint", "status"][..], ep),
        (&["endpoint", "status", "--cluster"][..], &client_url),
    ] {
        let out = ctl.run(args);
        assert!(
            out.starts_with(&format!("{endpoint}, {id}, ")) && out.contains(", true, false, "),
            "{args:?}: {out:?}"
        );
    }
    let table = ctl.run(&["endpoint", "status", "-w=table"]);
    assert!(table.contains(&format!("| {ep} | {id} |")), "{table}");
    let status = ctl.json(&["endpoint", "status", "--cluster"]);
    assert_eq!(status[0]["Endpoint"], client_url.as_str(), "{status}");
    for (args, endpoint) in [
        (&["endpoint", "health"][..], ep),
        (&["endpoint", "health", "--cluster"][..], &client_url),
    ] {
        let out = ctl.run_stderr(args);
        assert!(
            out.starts_with(&format!(
                "{endpoint} is healthy: successfully committed proposal: took = "
            )),
            "{args:?}: {out:?}"
        );
    }
    let health = ctl.json(&["endpoint", "health"]);
    assert_eq!(health[0]["endpoint"], ep, "{health}");
    assert_eq!(health[0]["health"], true, "{health}");

    let hashkv = ctl.json(&["endpoint", "hashkv"]);
    assert_eq!(hashkv[0]["Endpoint"], ep, "{hashkv}");
    let hash = hashkv[0]["HashKV"]["hash"].as_u64().expect("hash");
    assert_eq!(ctl.run(&["endpoint", "hashkv"]), format!("{ep}, {hash}\n"));
    assert_eq!(
        ctl.run(&["endpoint", "hashkv", "--cluster"]),
        format!("{client_url}, {hash}\n")
    );
    let table = ctl.run(&["endpoint", "hashkv", "--cluster", "-w=table"]);
    assert!(
        table.contains(&format!("| {client_url} | {hash} |")),
        "{table}"
    );
    assert_eq!(ctl.run(&["alarm", "list"]), "");

    // Users, roles and auth, then etcdctl --user.
    assert_eq!(
        ctl.run(&["user", "add", "root", "--new-user-password=rootpw"]),
        "User root created\n"
    );
    assert_eq!(ctl.run(&["role", "add", "root"]), "Role root created\n");
    assert_eq!(
        ctl.run(&["user", "grant-role", "root", "root"]),
        "Role root is granted to user root\n"
    );
    assert_eq!(ctl.run(&["role", "add", "r1"]), "Role r1 created\n");
    assert_eq!(
        ctl.run(&["role", "grant-permission", "r1", "readwrite", "foo"]),
        "Role r1 updated\n"
    );
    assert_eq!(
        ctl.run(&["user", "add", "alice", "--new-user-password=alicepw"]),
        "User alice created\n"
    );
    assert_eq!(
        ctl.run(&["user", "grant-role", "alice", "r1"]),
        "Role r1 is granted to user alice\n"
    );
    assert_eq!(ctl.run(&["auth", "enable"]), "Authentication Enabled\n");
    assert_eq!(
        ctl.run(&["--user=alice:alicepw", "put", "foo", "bar"]),
        "OK\n"
    );
    assert_eq!(
        ctl.run(&["--user=alice:alicepw", "get", "foo"]),
        "foo\nbar\n"
    );
    assert_eq!(
        ctl.run(&["--user=root:rootpw", "user", "list"]),
        "alice\nroot\n"
    );
    assert_eq!(
        ctl.run(&["--user=root:rootpw", "role", "list"]),
        "r1\nroot\n"
    );
    // (The put of foo changed the hash.)
    let out = ctl.run(&["--user=root:rootpw", "endpoint", "hashkv"]);
    let hash = out
        .strip_prefix(&format!("{ep}, "))
        .and_then(|rest| rest.strip_suffix('\n'))
        .and_then(|hash| hash.parse::<u32>().ok());
    assert!(hash.is_some(), "{out:?}");
    let out = ctl.run(&["--user=root:rootpw", "endpoint", "status", "--cluster"]);
    assert!(out.starts_with(&format!("{client_url}, {id}, ")), "{out:?}");
    assert_eq!(
        ctl.run(&["--user=root:rootpw", "auth", "disable"]),
        "Authentication Disabled\n"
    );
    assert_eq!(ctl.run(&["get", "foo"]), "foo\nbar\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_with_an_http_endpoint() {
    let test = "every_command_with_an_http_endpoint";
    if !etcdctl_available(test) {
        return;
    }
    let cluster = Cluster::start("etcdctl-http", 1).await;
    let member = &cluster.members[0];
    let endpoint = format!("http://127.0.0.1:{}", member.client_port);
    let ctl = Etcdctl::new(&endpoint, member);
    tokio::task::block_in_place(|| every_command(&ctl, member));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_with_a_bare_endpoint() {
    let test = "every_command_with_a_bare_endpoint";
    if !etcdctl_available(test) {
        return;
    }
    let cluster = Cluster::start("etcdctl-bare", 1).await;
    let member = &cluster.members[0];
    let endpoint = format!("127.0.0.1:{}", member.client_port);
    let ctl = Etcdctl::new(&endpoint, member);
    tokio::task::block_in_place(|| every_command(&ctl, member));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_endpoint_over_tls() {
    let test = "an_https_endpoint_over_tls";
    if !etcdctl_available(test) {
        return;
    }
    let pki = temp_dir("etcdctl-https-pki");
    let ca = Ca::new("cairn test CA");
    let ca_file = ca.write(&pki, "ca.pem");
    let server = ca
        .issue("server", &["127.0.0.1", "localhost"], 1)
        .write(&pki, "server");
    let client = ca.issue("client", &["127.0.0.1", "localhost"], 2);
    let options = Options {
        client_tls: Some(ClientTls {
            ca_pem: ca.cert_pem.clone(),
            cert_pem: client.cert_pem.clone(),
            key_pem: client.key_pem.clone(),
        }),
        ..Options::extra(&["--cert-file", server.cert(), "--key-file", server.key()])
    };
    let cluster = Cluster::start_with_options("etcdctl-https", 1, options).await;
    let member = &cluster.members[0];
    let endpoint = format!("https://127.0.0.1:{}", member.client_port);
    let mut ctl = Etcdctl::new(&endpoint, member);
    ctl.flags = vec![format!("--cacert={}", ca_file.display())];
    tokio::task::block_in_place(|| {
        assert_eq!(ctl.run(&["put", "k", "over tls"]), "OK\n");
        assert_eq!(ctl.run(&["get", "k"]), "k\nover tls\n");
        let hashkv = ctl.json(&["endpoint", "hashkv"]);
        assert_eq!(hashkv[0]["Endpoint"], endpoint.as_str(), "{hashkv}");
        let hash = hashkv[0]["HashKV"]["hash"].as_u64().expect("hash");
        assert_eq!(
            ctl.run(&["endpoint", "hashkv", "--cluster"]),
            format!("{endpoint}, {hash}\n")
        );
        let out = ctl.run(&["endpoint", "status"]);
        assert!(out.starts_with(&format!("{endpoint}, ")), "{out:?}");
        let out = ctl.run_stderr(&["endpoint", "health", "--cluster"]);
        assert!(
            out.starts_with(&format!("{endpoint} is healthy")),
            "{out:?}"
        );
    });
    drop(cluster);
    let _ = std::fs::remove_dir_all(&pki);
}

// ---- One gRPC call written frame by frame (no etcdctl needed) ----

/// An HPACK header block of literal fields without indexing, new names, no
/// Huffman coding (RFC 7541 §6.2.2).
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        for text in [name, value] {
            let len = u8::try_from(text.len()).expect("short field");
            assert!(len < 0x7f, "a one-byte length");
            block.push(len);
            block.extend_from_slice(text.as_bytes());
        }
    }
    block
}

/// An HTTP/2 frame (RFC 9113 §4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frame length");
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// A response with a message, to the end of the stream.
    Served,
    /// RST_STREAM with this error code.
    Reset(u32),
}

/// `Maintenance/Status` over plain HTTP/2 with `:authority` as given, the
/// way grpc-go writes it; what the member answered.
fn status_call_with_authority(port: u16, authority: &str) -> Answer {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    let block = header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/etcdserverpb.Maintenance/Status"),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]);
    out.extend(frame(HEADERS, END_HEADERS, 1, &block));
    // An empty StatusRequest: not compressed, length 0.
    out.extend(frame(DATA, END_STREAM, 1, &[0, 0, 0, 0, 0]));
    socket.write_all(&out).expect("send");

    let mut message = false;
    loop {
        let mut head = [0u8; 9];
        socket.read_exact(&mut head).expect("a frame");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        socket.read_exact(&mut payload).expect("a frame's payload");
        match (kind, stream) {
            (SETTINGS, 0) if flags & ACK == 0 => {
                socket
                    .write_all(&frame(SETTINGS, ACK, 0, &[]))
                    .expect("ack");
            }
            (GOAWAY, 0) => panic!("GOAWAY {payload:?}"),
            (RST_STREAM, 1) => {
                return Answer::Reset(u32::from_be_bytes(
                    payload[..4].try_into().expect("an error code"),
                ))
            }
            (DATA, 1) => {
                message |= len > 5;
                if flags & END_STREAM != 0 {
                    break;
                }
            }
            (HEADERS, 1) if flags & END_STREAM != 0 => break,
            _ => {}
        }
    }
    assert!(message, "the stream ended without a StatusResponse");
    Answer::Served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheme_prefixed_authority_is_served_not_reset() {
    let cluster = Cluster::start("h2-authority", 1).await;
    let port = cluster.members[0].client_port;
    tokio::task::block_in_place(|| {
        let call = |authority: &str| {
            (
                authority.to_string(),
                status_call_with_authority(port, authority),
            )
        };
        let served = |authority: &str| (authority.to_string(), Answer::Served);
        for authority in [
            format!("127.0.0.1:{port}"),
            format!("http://127.0.0.1:{port}"),
            format!("https://127.0.0.1:{port}"),
            format!("http://127.0.0.1:{port}/"),
            format!("HTTP://localhost:{port}"),
            // A scheme, then nothing an authority can be: served without one.
            "http://not an authority/".to_string(),
        ] {
            assert_eq!(call(&authority), served(&authority));
        }
        // Anything else malformed is refused as upstream h2 refuses it.
        for authority in ["not an authority", "ftp://127.0.0.1:2379"] {
            assert_eq!(
                call(authority),
                (authority.to_string(), Answer::Reset(1)),
                "PROTOCOL_ERROR"
            );
        }
    });
}
