//! `unix://` client and peer URLs, as etcd takes them: `unix://name:port`
//! is the socket file `name:port` in the member's working directory.
//!
//! 1. Three cairn members talk to each other and to the real `etcdctl`
//!    over Unix sockets only, including the calls etcdctl makes to one named
//!    endpoint (`endpoint hashkv --cluster`), whose `:authority` is the whole
//!    `unix://...` URL.
//! 2. The same etcdctl commands against one real etcd 3.4.23 member and one
//!    cairn member, each in a directory of its own with the same socket
//!    names, print the same text.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::certs::Ca;
use support::{free_port, temp_dir, tools_available};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");
const ETCD: &str = "/usr/bin/etcd";
const ETCDCTL: &str = "/usr/bin/etcdctl";

/// A process killed (and reaped) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One member's flags: every URL a Unix socket named `localhost:<port>`.
fn unix_flags(name: &str, client: u16, peer: u16, cluster: &str) -> Vec<String> {
    [
        ("--name", name.to_string()),
        ("--data-dir", format!("{name}.data")),
        ("--listen-client-urls", format!("unix://localhost:{client}")),
        (
            "--advertise-client-urls",
            format!("unix://localhost:{client}"),
        ),
        ("--listen-peer-urls", format!("unix://localhost:{peer}")),
        (
            "--initial-advertise-peer-urls",
            format!("unix://localhost:{peer}"),
        ),
        ("--initial-cluster", cluster.to_string()),
        ("--heartbeat-interval", "50".to_string()),
        ("--election-timeout", "500".to_string()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_string(), value])
    .collect()
}

/// Cairn members on Unix sockets, killed when dropped.
struct UnixCluster {
    _members: Vec<Process>,
    /// (client, peer) socket-name ports of each member.
    ports: Vec<(u16, u16)>,
    /// Each member's client endpoint, scheme included.
    endpoints: Vec<String>,
}

/// Starts `size` cairn members in `dir` whose every URL is a `scheme`
/// (`unix` or `unixs`) socket, with `extra` flags.
fn start_cluster(
    dir: &Path,
    prefix: &str,
    scheme: &str,
    size: usize,
    extra: &[String],
) -> UnixCluster {
    let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
    let cluster: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("{prefix}{i}={scheme}://localhost:{peer}"))
        .collect();
    let cluster = cluster.join(",");
    let members = ports
        .iter()
        .enumerate()
        .map(|(i, (client, peer))| {
            let name = format!("{prefix}{i}");
            let mut flags = unix_flags(&name, *client, *peer, &cluster);
            for flag in &mut flags {
                *flag = flag.replace("unix://", &format!("{scheme}://"));
            }
            flags.extend_from_slice(extra);
            start(CAIRN, dir, &name, &flags)
        })
        .collect();
    let endpoints = ports
        .iter()
        .map(|(client, _)| format!("{scheme}://localhost:{client}"))
        .collect();
    UnixCluster {
        _members: members,
        ports,
        endpoints,
    }
}

fn start(binary: &str, dir: &Path, name: &str, flags: &[String]) -> Process {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
    let child = Command::new(binary)
        .args(flags)
        .current_dir(dir)
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {binary}: {e}"));
    Process(child)
}

/// Runs etcdctl in `dir`; answers (success, stdout, stderr).
fn etcdctl(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(ETCDCTL)
        .args(args)
        .current_dir(dir)
        .env("ETCDCTL_API", "3")
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn etcdctl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = etcdctl(dir, args);
    assert!(
        ok,
        "etcdctl {args:?} in {}: {stderr}{stdout}",
        dir.display()
    );
    stdout
}

/// Waits until `endpoint` answers a linearizable read.
fn wait_ready(dir: &Path, endpoint: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, _, stderr) = etcdctl(
            dir,
            &["--endpoints", endpoint, "--command-timeout=2s", "get", "x"],
        );
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{endpoint} in {} never served: {stderr}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_cluster_over_unix_sockets_serves_etcdctl() {
    if !tools_available(
        "a_cluster_over_unix_sockets_serves_etcdctl",
        &[ETCDCTL],
        "etcd-client",
    ) {
        return;
    }
    let dir = temp_dir("unix-cluster");
    let _cleanup = support::RemoveOnDrop(dir.clone());
    let UnixCluster {
        _members,
        ports,
        endpoints,
    } = start_cluster(&dir, "u", "unix", 3, &[]);
    for endpoint in &endpoints {
        wait_ready(&dir, endpoint);
    }
    assert!(
        dir.join(format!("localhost:{}", ports[0].0)).exists(),
        "the client socket is the file localhost:<port> in the working directory"
    );
    etcdctl_ok(
        &dir,
        &["--endpoints", &endpoints[0], "put", "k", "over unix"],
    );
    let read = etcdctl_ok(&dir, &["--endpoints", &endpoints[2], "get", "k"]);
    assert_eq!(read, "k\nover unix\n");

    let members = etcdctl_ok(&dir, &["--endpoints", &endpoints[1], "member", "list"]);
    assert_eq!(members.lines().count(), 3, "{members}");
    for (i, (client, peer)) in ports.iter().enumerate() {
        let line =
            format!(", started, u{i}, unix://localhost:{peer}, unix://localhost:{client}, false");
        assert!(members.contains(&line), "{line} not in\n{members}");
    }

    // Followers send lease grants on to the leader, at its advertised
    // client URL: a Unix socket too.
    for endpoint in &endpoints {
        let granted = etcdctl_ok(&dir, &["--endpoints", endpoint, "lease", "grant", "30"]);
        assert!(granted.contains("granted with TTL(30s)"), "{granted}");
    }

    // Calls to one named endpoint: grpc-go sends the whole URL as
    // :authority.
    let all = endpoints.join(",");
    let hashes = etcdctl_ok(&dir, &["--endpoints", &all, "endpoint", "hashkv"]);
    let values: Vec<&str> = hashes
        .lines()
        .map(|line| line.rsplit(", ").next().unwrap_or(""))
        .collect();
    assert_eq!(values.len(), 3, "{hashes}");
    assert!(values.iter().all(|v| *v == values[0]), "{hashes}");
    let status = etcdctl_ok(
        &dir,
        &[
            "--endpoints",
            &endpoints[0],
            "endpoint",
            "status",
            "--cluster",
        ],
    );
    assert_eq!(status.lines().count(), 3, "{status}");
    for endpoint in &endpoints {
        assert!(status.contains(endpoint.as_str()), "{endpoint}: {status}");
    }
}

/// Where one server of the differential runs.
struct Side {
    dir: PathBuf,
    _process: Process,
    /// Last, so it drops after the process is stopped.
    _cleanup: support::RemoveOnDrop,
}

fn one_member(binary: &str, tag: &str, client: u16, peer: u16) -> Side {
    let dir = temp_dir(tag);
    let flags = unix_flags("m1", client, peer, &format!("m1=unix://localhost:{peer}"));
    let process = start(binary, &dir, "m1", &flags);
    wait_ready(&dir, &format!("unix://localhost:{client}"));
    Side {
        _cleanup: support::RemoveOnDrop(dir.clone()),
        dir,
        _process: process,
    }
}

#[test]
fn etcdctl_over_unix_sockets_gets_etcds_answers() {
    if !tools_available(
        "etcdctl_over_unix_sockets_gets_etcds_answers",
        &[ETCD, ETCDCTL],
        "etcd-server etcd-client",
    ) {
        return;
    }
    // Same socket names in two directories: the outputs name the same
    // endpoints, and the member IDs (from the peer URLs) are the same.
    let (client, peer) = (free_port(), free_port());
    let etcd = one_member(ETCD, "unix-etcd", client, peer);
    let cairn = one_member(CAIRN, "unix-cairn", client, peer);
    let endpoint = format!("unix://localhost:{client}");
    let commands: Vec<Vec<&str>> = vec![
        vec!["put", "a", "1"],
        vec!["put", "b", "2"],
        vec!["get", "a"],
        vec!["get", "", "--prefix", "--keys-only"],
        vec!["get", "a", "-w", "json", "--consistency=s"],
        vec!["del", "b"],
        vec!["member", "list"],
        vec!["member", "list", "-w", "table"],
        vec!["endpoint", "status", "-w", "table"],
        vec!["get", "nothing"],
    ];
    for command in commands {
        let mut args = vec!["--endpoints", endpoint.as_str()];
        args.extend(command.iter().copied());
        let from_etcd = etcdctl(&etcd.dir, &args);
        let from_cairn = etcdctl(&cairn.dir, &args);
        let (etcd_text, cairn_text) = if command[0] == "endpoint" {
            // Version, database size and the raft indexes are the servers'
            // own; the rest of the row is compared.
            (status_shape(&from_etcd.1), status_shape(&from_cairn.1))
        } else if command.contains(&"json") {
            (json_shape(&from_etcd.1), json_shape(&from_cairn.1))
        } else {
            (from_etcd.1.clone(), from_cairn.1.clone())
        };
        eprintln!("etcdctl {command:?} (both): {}", cairn_text.trim());
        assert_eq!(
            (from_etcd.0, etcd_text),
            (from_cairn.0, cairn_text),
            "etcdctl {command:?}: etcd said {from_etcd:?}, cairn said {from_cairn:?}"
        );
    }
}

/// `endpoint status -w table` with the version, size and index columns
/// blanked.
fn status_shape(table: &str) -> String {
    table
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            if cells.len() < 10 || line.contains("ENDPOINT") {
                return line.to_string();
            }
            cells
                .iter()
                .enumerate()
                .map(|(i, cell)| match i {
                    3 | 4 | 7 | 8 | 9 => "",
                    _ => cell,
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `-w json` answer with the header's IDs and revisions left out.
fn json_shape(text: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(text.trim()).expect("json");
    if let Some(header) = value.get_mut("header").and_then(|h| h.as_object_mut()) {
        header.clear();
    }
    value.to_string()
}

#[test]
fn unixs_sockets_carry_tls_between_members_and_to_etcdctl() {
    if !tools_available(
        "unixs_sockets_carry_tls_between_members_and_to_etcdctl",
        &[ETCDCTL],
        "etcd-client",
    ) {
        return;
    }
    let dir = temp_dir("unixs");
    let _cleanup = support::RemoveOnDrop(dir.clone());
    let ca = Ca::new("cairn unix test CA");
    let ca_file = ca.write(&dir, "ca.pem");
    let ca_file = ca_file.display().to_string();
    let server = ca
        .issue("server", &["127.0.0.1", "localhost"], 1)
        .write(&dir, "server");
    let client = ca.issue("client", &["127.0.0.1"], 2).write(&dir, "client");
    let tls_args = [
        "--cacert",
        ca_file.as_str(),
        "--cert",
        client.cert(),
        "--key",
        client.key(),
    ];
    let mut tls_flags: Vec<String> = Vec::new();
    for (flag, value) in [
        ("--cert-file", server.cert()),
        ("--key-file", server.key()),
        ("--trusted-ca-file", ca_file.as_str()),
        ("--peer-cert-file", server.cert()),
        ("--peer-key-file", server.key()),
        ("--peer-trusted-ca-file", ca_file.as_str()),
    ] {
        tls_flags.push(flag.to_string());
        tls_flags.push(value.to_string());
    }
    // A peer on a Unix socket has no address for etcd's check of its
    // certificate's SANs (etcd refuses it: "missing port in address"), so,
    // as with etcd, the check is turned off.
    tls_flags.push("--experimental-peer-skip-client-san-verification".to_string());
    let UnixCluster {
        _members,
        endpoints,
        ..
    } = start_cluster(&dir, "s", "unixs", 2, &tls_flags);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, _, stderr) = etcdctl(
            &dir,
            &[
                &["--endpoints", &endpoints[1], "--command-timeout=2s"][..],
                &tls_args,
                &["put", "k", "over unixs"],
            ]
            .concat(),
        );
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served over unixs: {stderr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let read = etcdctl_ok(
        &dir,
        &[
            &["--endpoints", &endpoints[0]][..],
            &tls_args,
            &["get", "k"],
        ]
        .concat(),
    );
    assert_eq!(read, "k\nover unixs\n");
    // Without the CA, the server's certificate is not trusted.
    let (ok, _, _) = etcdctl(
        &dir,
        &[
            "--endpoints",
            &endpoints[0],
            "--cert",
            client.cert(),
            "--key",
            client.key(),
            "--command-timeout=2s",
            "--dial-timeout=1s",
            "get",
            "k",
        ],
    );
    assert!(!ok, "an unverified unixs server was trusted");
}
