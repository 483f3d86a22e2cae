//! The harness for `ETCDCTL_API=2`: servers with `--enable-v2`, and v2's
//! indexes masked (etcd's v2 store also counts membership and auth writes,
//! cairn's only key writes: docs/v2.md), with expirations.
//!
//! ```text
//!   "Error:  100: Key not found (/foo) [12]"  ─▶ "... (/foo) [N]"
//!   "Index: 12", "\"modifiedIndex\":12"      ─▶ "Index: N", "...:N"
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{available, cairn_binary, Case, Server, Side, CAIRNCTL, ETCD, ETCDCTL};

/// The env every v2 case carries.
pub const V2: &[(&str, &str)] = &[("ETCDCTL_API", "2")];

/// Runs the cases on the three sides, v2 servers, v2 masking.
pub fn compare_v2(cases: &[Case]) {
    super::compare_with(
        cases,
        &|binary: &Path, tag: &str| Server::start_flags(binary, tag, &["--enable-v2"]),
        mask_v2,
    );
}

/// Every number after each of `markers` becomes `N`; every quoted string
/// after `"expiration":` becomes `"T"`.
pub fn mask_v2(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let mut line = line.to_string();
        for marker in [
            "Index: ",
            "\"createdIndex\":",
            "\"modifiedIndex\":",
            "\"ttl\":",
            "ETCD_WATCH_MODIFIED_INDEX=",
        ] {
            line = mask_numbers_after(&line, marker);
        }
        line = mask_strings_after(&line, "\"expiration\":\"");
        // An index comparison's cause: "([1 != 9])".
        if line.contains("Compare failed ([") {
            line = mask_numbers_after(&line, " != ");
        }
        if line.starts_with("Error:  ") {
            if let Some(open) = line.rfind(" [") {
                let close = line[open..].find(']').map(|i| open + i);
                if let Some(close) = close {
                    if line[open + 2..close].chars().all(|c| c.is_ascii_digit()) {
                        line = format!("{} [N{}", &line[..open], &line[close..]);
                    }
                }
            }
        }
        out.push_str(&line);
    }
    out
}

fn mask_numbers_after(line: &str, marker: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        out.push_str(&rest[..start]);
        let digits = rest[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        if digits > 0 {
            out.push('N');
        }
        rest = &rest[start + digits..];
    }
    out.push_str(rest);
    out
}

fn mask_strings_after(line: &str, marker: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        out.push_str(&rest[..start]);
        out.push('T');
        let end = rest[start..].find('"').map_or(rest.len(), |i| start + i);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A CA, and a certificate it signs for 127.0.0.1 and localhost, written
/// to `dir`: the CA's file, the certificate's, the key's.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("SANs");
    let cert = params.signed_by(&key, &issuer).expect("certificate");
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).expect("write CA");
    std::fs::write(&paths.1, cert.pem()).expect("write certificate");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write key");
    paths
}

/// Waits until `ETCDCTL_API=2 etcdctl` reads the root of the TLS server.
fn wait_ready_tls(server: &Server, ca: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let endpoint = format!("https://127.0.0.1:{}", server.port);
    while Instant::now() < deadline {
        let ok = Command::new(ETCDCTL)
            .args(["--endpoints", &endpoint, "--ca-file", ca, "ls", "/"])
            .env("ETCDCTL_API", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("TLS server on port {} never became ready", server.port);
}

/// The three-sided comparison against servers serving v2 over TLS: each
/// line runs with `--endpoints https://127.0.0.1:<port> --ca-file <CA>`
/// in front of it (a line can override both).
pub fn compare_v2_tls(lines: &[&str]) {
    if !available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("cairnctl-v2-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (ca, cert, key) = certificates(&dir);
    let (ca, cert, key) = (
        ca.display().to_string(),
        cert.display().to_string(),
        key.display().to_string(),
    );
    let args = ["--enable-v2", "--cert-file", &cert, "--key-file", &key];
    let servers = [
        Server::start_flags(Path::new(ETCD), "tls-etcd-a", &args),
        Server::start_flags(Path::new(ETCD), "tls-etcd-b", &args),
        Server::start_flags(&cairn_binary(), "tls-cairn-c", &args),
    ];
    for server in &servers {
        wait_ready_tls(server, &ca);
    }
    let side = |name, binary, server| Side {
        name,
        binary,
        server,
        lease: String::new(),
        background: None,
        extra_mask: mask_v2,
    };
    let mut sides = [
        side("etcdctl→etcd", ETCDCTL, &servers[0]),
        side("cairnctl→etcd", CAIRNCTL, &servers[1]),
        side("cairnctl→cairn", CAIRNCTL, &servers[2]),
    ];
    let started = Instant::now();
    let mut failures = Vec::new();
    for line in lines {
        let mut outcomes = sides.iter_mut().map(|side| {
            let full = format!(
                "--endpoints https://127.0.0.1:{} --ca-file {ca} {line}",
                side.server.port
            );
            (side.name, side.run(&full, None, V2))
        });
        let (_, expected) = outcomes.next().expect("the reference side");
        if std::env::var_os("CTL_DIFF_SHOW").is_some() {
            eprintln!("`{line}`: {expected:?}");
        }
        for (name, got) in outcomes {
            if got != expected {
                failures.push(format!(
                    "`{line}` ({name}):\n  etcdctl→etcd: {expected:?}\n  {name}: {got:?}"
                ));
            }
        }
    }
    eprintln!(
        "{} TLS command lines compared in {:?}",
        lines.len(),
        started.elapsed()
    );
    if std::env::var_os("CTL_DIFF_SHOW").is_some() {
        eprintln!(
            "last reference outcome: {:?}",
            sides[0].run("--version", None, V2)
        );
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
