//! `--discovery-srv`: cairnctl finds its endpoints in the domain's
//! `_etcd-client[-ssl][-<name>]._tcp` SRV records (served here by dnsmasq,
//! reached through `CAIRN_DNS_NAMESERVER`), against a real etcd and a cairn
//! member; what it prints is what etcdctl prints with those endpoints given
//! by `--endpoints` (etcdctl itself reads only /etc/resolv.conf, so it
//! cannot be pointed at the test's name server).

#![allow(clippy::disallowed_methods)]

#[path = "../../server/tests/support/child.rs"]
mod child;
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{free_port, Server, CAIRNCTL, ETCD, ETCDCTL};

fn run(binary: &str, args: &[&str], dns_port: u16) -> Output {
    Command::new(binary)
        .args(args)
        .env("CAIRN_DNS_NAMESERVER", format!("127.0.0.1:{dns_port}"))
        .env_remove("ETCDCTL_API")
        .output()
        .expect("run client")
}

fn text(output: &Output) -> (String, String, Option<i32>) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code(),
    )
}

#[test]
fn endpoints_come_from_srv_records() {
    if !common::available() || !Path::new(child::DNSMASQ).exists() {
        let required = std::env::var("CAIRN_REQUIRE_ETCD").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "CAIRN_REQUIRE_ETCD is set but dnsmasq is missing"
        );
        eprintln!("SKIPPED endpoints_come_from_srv_records: dnsmasq or etcd missing");
        return;
    }
    let etcd = Server::start_flags(Path::new(ETCD), "srv-etcd", &["--enable-v2"]);
    let cairn = Server::start_flags(&common::cairn_binary(), "srv-cairn", &["--enable-v2"]);
    etcd.wait_ready();
    cairn.wait_ready();
    let dir = std::env::temp_dir().join(format!("cairnctl-srv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let records = [
        format!(
            "--srv-host=_etcd-client._tcp.etcd.test,127.0.0.1,{}",
            etcd.port
        ),
        format!(
            "--srv-host=_etcd-client._tcp.cairn.test,127.0.0.1,{}",
            cairn.port
        ),
        format!(
            "--srv-host=_etcd-client-blue._tcp.cairn.test,127.0.0.1,{}",
            cairn.port
        ),
    ];
    let (_dns, dns) = child::start_dnsmasq(&dir, &records);
    let mut failures = Vec::new();
    for server in [&etcd, &cairn] {
        let endpoint = format!("127.0.0.1:{}", server.port);
        let domain = if server.port == etcd.port {
            "etcd.test"
        } else {
            "cairn.test"
        };
        let direct = run(
            ETCDCTL,
            &["--endpoints", &endpoint, "put", "srv-key", "v1"],
            dns,
        );
        assert_eq!(direct.status.code(), Some(0), "{direct:?}");
        let reference = text(&run(
            ETCDCTL,
            &["--endpoints", &endpoint, "get", "srv-key"],
            dns,
        ));
        for args in [
            vec!["--discovery-srv", domain, "get", "srv-key"],
            vec!["-d", domain, "--insecure-discovery=true", "get", "srv-key"],
        ] {
            let got = text(&run(CAIRNCTL, &args, dns));
            if got != reference {
                failures.push(format!("{args:?}: {got:?} != etcdctl's {reference:?}"));
            }
        }
        // Without --insecure-discovery, http:// records are dropped (and
        // said so); --endpoints is used instead.
        let got = text(&run(
            CAIRNCTL,
            &[
                "--discovery-srv",
                domain,
                "--insecure-discovery=false",
                "--endpoints",
                &endpoint,
                "get",
                "srv-key",
            ],
            dns,
        ));
        let expected_warning = format!(
            "ignoring discovered insecure endpoint \"http://127.0.0.1:{}\"\n",
            server.port
        );
        if got != (reference.0.clone(), expected_warning, Some(0)) {
            failures.push(format!("insecure-discovery=false on {domain}: {got:?}"));
        }
    }
    // v2 (`ETCDCTL_API=2`): the same records, `ETCDCTL_DISCOVERY_SRV_NAME`.
    for (env, expected) in [
        (vec![], "v2 value\n"),
        (vec![("ETCDCTL_DISCOVERY_SRV_NAME", "blue")], "v2 value\n"),
    ] {
        let output = Command::new(CAIRNCTL)
            .args([
                "--discovery-srv",
                "cairn.test",
                "--insecure-discovery",
                "set",
                "/srv-v2",
                "v2 value",
            ])
            .env("CAIRN_DNS_NAMESERVER", format!("127.0.0.1:{dns}"))
            .env("ETCDCTL_API", "2")
            .envs(env.clone())
            .output()
            .expect("cairnctl v2");
        let got = text(&output);
        if got != (expected.to_string(), String::new(), Some(0)) {
            failures.push(format!("v2 {env:?}: {got:?}"));
        }
    }
    // A service name picks `_etcd-client-<name>`.
    let got = text(&run(
        CAIRNCTL,
        &[
            "--discovery-srv",
            "cairn.test",
            "--discovery-srv-name",
            "blue",
            "get",
            "srv-key",
            "--print-value-only",
        ],
        dns,
    ));
    if got != ("v1\n".to_string(), String::new(), Some(0)) {
        failures.push(format!("--discovery-srv-name blue: {got:?}"));
    }
    // A domain without records: the lookups' errors, exit 1.
    let (stdout, stderr, code) = text(&run(
        CAIRNCTL,
        &["--discovery-srv", "none.test", "get", "k"],
        dns,
    ));
    if !(stdout.is_empty() && stderr.starts_with("Error: dns lookup errors: ") && code == Some(1)) {
        failures.push(format!("unknown domain: {stdout:?} {stderr:?} {code:?}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
