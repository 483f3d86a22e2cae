//! TLS between real processes, with certificates made in the test: gRPC and
//! the HTTP endpoints over TLS with and without client certificates, a CA
//! of another issuer and a CRL refusing clients and peers, plain and TLS on
//! one port, `--auto-tls`, startup errors for bad certificate files, lease
//! forwarding and the initial corruption check between `https://` members,
//! and the real `etcdctl` and `curl` as clients.
//!
//! `etcdctl` and `curl` are Debian's (`etcd-client`, `curl`); tests that
//! need them skip without them, except under `CAIRN_REQUIRE_ETCD=1` (as in
//! CI), where they fail.

#![allow(clippy::disallowed_methods)]

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use pb::kv_client::KvClient;
use support::certs::{Ca, Files};
use support::{free_port, get, put, temp_dir, Cluster, Options};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

const ETCDCTL: &str = "/usr/bin/etcdctl";
const CURL: &str = "/usr/bin/curl";

/// Whether `tool` is installed; fails when CI requires it.
fn tool_available(tool: &str, test: &str) -> bool {
    support::tools_available(test, &[tool], "etcd-client curl")
}

/// One `cairn` process with flags of the test's choosing.
struct Server {
    child: Option<Child>,
    dir: PathBuf,
    log: PathBuf,
    port: u16,
    args: Vec<String>,
}

impl Server {
    /// Starts a one-member cluster serving `client_urls` (`{port}` is
    /// replaced by a free port) with `flags`.
    fn start(tag: &str, client_urls: &str, flags: &[&str]) -> Server {
        let dir = temp_dir(tag);
        let port = free_port();
        let peer = format!("http://127.0.0.1:{}", free_port());
        let urls = client_urls.replace("{port}", &port.to_string());
        let advertise = urls.split(',').next().unwrap_or(&urls).to_string();
        let mut args: Vec<String> = [
            "--name",
            "solo",
            "--data-dir",
            dir.join("solo.etcd").to_str().expect("utf-8"),
            "--listen-client-urls",
            &urls,
            "--advertise-client-urls",
            &advertise,
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &format!("solo={peer}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(flags.iter().map(|s| s.to_string()));
        let mut server = Server {
            child: None,
            log: dir.join("solo.log"),
            dir,
            port,
            args,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn cairn");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the log holds `text` `count` times.
    async fn wait_log_count(&self, text: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.log_text().matches(text).count() < count {
            assert!(
                Instant::now() < deadline,
                "{text:?} not logged {count} times within 20s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_log(&self, text: &str) {
        self.wait_log_count(text, 1).await;
    }

    async fn wait_ready(&self) {
        self.wait_log("ready to serve client requests").await;
    }

    fn https(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("logs kept in {}", self.dir.display());
        }
    }
}

/// Runs cairn with `flags` expecting it to refuse to start; returns what it
/// printed.
fn refused_start(tag: &str, client_urls: &str, flags: &[&str]) -> String {
    let mut server = Server::start(tag, client_urls, flags);
    let deadline = Instant::now() + Duration::from_secs(20);
    let child = server.child.as_mut().expect("child");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "cairn {flags:?} did not stop:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    server.child = None;
    let text = server.log_text();
    assert!(!status.success(), "cairn {flags:?} started:\n{text}");
    assert!(
        !text.contains("panicked"),
        "cairn {flags:?} panicked:\n{text}"
    );
    text
}

/// The PKI of a test: two CAs, certificates from each, a CRL.
struct Pki {
    dir: PathBuf,
    ca: Ca,
    ca_file: PathBuf,
    other_ca: Ca,
}

/// Serials the tests revoke.
const REVOKED_SERIAL: u64 = 66;

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = temp_dir(tag);
        let ca = Ca::new("cairn test CA");
        let ca_file = ca.write(&dir, "ca.pem");
        Pki {
            dir,
            ca,
            ca_file,
            other_ca: Ca::new("another CA"),
        }
    }

    fn ca(&self) -> &str {
        self.ca_file.to_str().expect("utf-8")
    }

    /// A certificate from the trusted CA with CN `name`, for loopback.
    fn issue(&self, name: &str, serial: u64) -> Files {
        self.ca
            .issue(name, &["127.0.0.1", "localhost"], serial)
            .write(&self.dir, name)
    }

    fn crl(&self, revoked: &[u64]) -> String {
        let path = self.dir.join("revoked.crl");
        std::fs::write(&path, self.ca.crl(revoked)).expect("write CRL");
        path.to_str().expect("utf-8").to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A TLS gRPC client trusting `ca_pem`, presenting `identity` if any.
async fn tls_kv(
    url: &str,
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<KvClient<Channel>, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(url.to_string())
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(KvClient::new(channel))
}

/// A put over TLS: `Ok` when the server took it.
async fn tls_put(
    url: &str,
    ca_pem: &str,
    identity: Option<(&str, &str)>,
    key: &str,
) -> Result<(), String> {
    let mut kv = tls_kv(url, ca_pem, identity).await?;
    kv.put(put(key, "v"))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn read_pair(files: &Files) -> (String, String) {
    (
        std::fs::read_to_string(&files.cert).expect("cert"),
        std::fs::read_to_string(&files.key).expect("key"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_let_in_only_clients_of_the_trusted_ca() {
    let pki = Pki::new("tls-clients");
    let server_files = pki.issue("server", 1);
    let alice = read_pair(&pki.issue("alice", 2));
    let revoked = read_pair(&pki.issue("mallory", REVOKED_SERIAL));
    let stranger = pki.other_ca.issue("eve", &["127.0.0.1"], 3);
    let crl = pki.crl(&[REVOKED_SERIAL]);
    let server = Server::start(
        "tls-clients",
        "https://127.0.0.1:{port}",
        &[
            "--cert-file",
            server_files.cert(),
            "--key-file",
            server_files.key(),
            "--trusted-ca-file",
            pki.ca(),
            "--client-cert-auth",
            "--client-crl-file",
            &crl,
        ],
    );
    server.wait_ready().await;
    let url = server.https();
    let ca = &pki.ca.cert_pem;

    // A client of the trusted CA writes and reads.
    let mut kv = tls_kv(&url, ca, Some((&alice.0, &alice.1)))
        .await
        .expect("connect with a client certificate");
    kv.put(put("k", "over tls")).await.expect("put over TLS");
    let found = kv.range(get("k")).await.expect("get").into_inner();
    assert_eq!(&found.kvs[0].value[..], b"over tls");

    // Without a certificate, with one from another CA, with a revoked one:
    // refused, each with etcd's log line saying why.
    let refused = tls_put(&url, ca, None, "x").await;
    assert!(refused.is_err(), "no client certificate was let in");
    server
        .wait_log("(error \"tls: client didn't provide a certificate\", ServerName \"\")")
        .await;
    let refused = tls_put(&url, ca, Some((&stranger.cert_pem, &stranger.key_pem)), "x").await;
    assert!(refused.is_err(), "another CA's certificate was let in");
    server
        .wait_log("(error \"tls: failed to verify client certificate: x509: certificate signed by unknown authority\"")
        .await;
    let refused = tls_put(&url, ca, Some((&revoked.0, &revoked.1)), "x").await;
    assert!(refused.is_err(), "a revoked certificate was let in");
    server
        .wait_log("(error \"transport: certificate serial 42 revoked\", ServerName \"\", IPAddresses [\"127.0.0.1\"], DNSNames [\"localhost\"])")
        .await;
    // Plain HTTP/2 to a TLS-only port.
    let plain = Channel::from_shared(server.http())
        .expect("url")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(3))
        .connect()
        .await;
    if let Ok(channel) = plain {
        assert!(KvClient::new(channel).range(get("k")).await.is_err());
    }
    server
        .wait_log("(error \"tls: first record does not look like a TLS handshake\"")
        .await;

    // Nothing refused got in.
    let found = kv.range(get("x")).await.expect("get").into_inner();
    assert!(found.kvs.is_empty(), "a refused client wrote");
    let log = server.log_text();
    assert!(log.contains(&format!(
        "ClientTLS: cert = {}, key = {}, trusted-ca = {}, client-cert-auth = true, crl-file = {crl}",
        server_files.cert(),
        server_files.key(),
        pki.ca()
    )));
    assert!(log.contains(&format!(
        "embed: serving client requests on 127.0.0.1:{}",
        server.port
    )));
    assert!(!log.contains("serving insecure client requests"), "{log}");
    // (A refused client may reconnect and be refused again.)
    assert!(
        log.matches("rejected connection from \"127.0.0.1:").count() >= 4,
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_tls_clients_share_one_port() {
    let pki = Pki::new("tls-shared");
    let server_files = pki.issue("server", 1);
    let server = Server::start(
        "tls-shared",
        "http://127.0.0.1:{port},https://127.0.0.1:{port}",
        &[
            "--cert-file",
            server_files.cert(),
            "--key-file",
            server_files.key(),
            // TLS 1.2 suites narrowed (TLS 1.3 stays on, as in Go); a CBC
            // suite Go knows is skipped with a warning.
            "--cipher-suites",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        ],
    );
    server.wait_ready().await;
    let channel = Channel::from_shared(server.http())
        .expect("url")
        .connect()
        .await
        .expect("plain connect");
    KvClient::new(channel)
        .put(put("shared", "plain"))
        .await
        .expect("plain put");
    // No client certificate needed: no CA was given.
    let mut kv = tls_kv(&server.https(), &pki.ca.cert_pem, None)
        .await
        .expect("TLS connect");
    let found = kv.range(get("shared")).await.expect("TLS get").into_inner();
    assert_eq!(&found.kvs[0].value[..], b"plain");
    let log = server.log_text();
    let address = format!("127.0.0.1:{}", server.port);
    assert!(log.contains(&format!(
        "serving insecure client requests on {address}, this is strongly discouraged!"
    )));
    assert!(log.contains(&format!("serving client requests on {address}")));
    assert!(
        log.contains(
            "cipher suite TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not implemented by rustls"
        ),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_and_curl_speak_tls_with_client_certificates() {
    let test = "etcdctl_and_curl_speak_tls_with_client_certificates";
    if !tool_available(ETCDCTL, test) || !tool_available(CURL, test) {
        return;
    }
    let pki = Pki::new("tls-etcdctl");
    let server_files = pki.issue("server", 1);
    let client = pki.issue("alice", 2);
    let server = Server::start(
        "tls-etcdctl",
        "https://127.0.0.1:{port}",
        &[
            "--cert-file",
            server_files.cert(),
            "--key-file",
            server_files.key(),
            "--trusted-ca-file",
            pki.ca(),
            "--client-cert-auth",
        ],
    );
    server.wait_ready().await;
    let url = server.https();
    let etcdctl = |args: &[&str]| {
        let output = Command::new(ETCDCTL)
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &url,
                "--cacert",
                pki.ca(),
                "--cert",
                client.cert(),
                "--key",
                client.key(),
                "--dial-timeout",
                "3s",
                "--command-timeout",
                "5s",
            ])
            .args(args)
            .output()
            .expect("run etcdctl");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, out) = etcdctl(&["put", "greeting", "hello over tls"]);
    assert!(ok, "etcdctl put: {out}");
    assert_eq!(out, "OK\n");
    let (ok, out) = etcdctl(&["get", "greeting"]);
    assert!(ok, "etcdctl get: {out}");
    assert_eq!(out, "greeting\nhello over tls\n");

    let curl = |path: &str, with_cert: bool| {
        let mut command = Command::new(CURL);
        command.args(["-sS", "--max-time", "5", "--cacert", pki.ca()]);
        // /metrics over HTTP/1.1 (ALPN http/1.1); the others as curl likes (h2).
        if path == "/metrics" {
            command.arg("--http1.1");
        }
        if with_cert {
            command.args(["--cert", client.cert(), "--key", client.key()]);
        }
        let output = command
            .arg(format!("{url}{path}"))
            .output()
            .expect("run curl");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
        )
    };
    let (ok, body) = curl("/health", true);
    assert!(ok, "curl /health with a certificate");
    assert!(body.contains("\"health\":\"true\""), "{body}");
    let (ok, body) = curl("/version", true);
    assert!(ok && body.contains("etcdserver"), "{body}");
    let (ok, body) = curl("/metrics", true);
    assert!(ok && body.contains("# TYPE"), "{body}");
    let (ok, body) = curl("/health", false);
    assert!(!ok, "curl without a client certificate was served: {body}");
    server
        .wait_log("(error \"tls: client didn't provide a certificate\"")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_tls_serves_a_self_signed_certificate_it_keeps() {
    let mut server = Server::start("tls-auto", "https://127.0.0.1:{port}", &["--auto-tls"]);
    server.wait_ready().await;
    let fixtures = server.dir.join("solo.etcd/fixtures/client");
    let cert_pem = std::fs::read_to_string(fixtures.join("cert.pem")).expect("cert.pem");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(fixtures.join("key.pem"))
            .expect("key.pem")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key.pem is private");
    }
    // The generated certificate names the listen host, so a client that
    // trusts it verifies it.
    let mut kv = tls_kv(&server.https(), &cert_pem, None)
        .await
        .expect("connect trusting the generated certificate");
    kv.put(put("auto", "tls")).await.expect("put");
    assert!(server.log_text().contains(&format!(
        "ClientTLS: cert = {}, key = {}, trusted-ca = , client-cert-auth = false, crl-file = ",
        fixtures.join("cert.pem").display(),
        fixtures.join("key.pem").display()
    )));

    let test = "auto_tls_serves_a_self_signed_certificate_it_keeps";
    if tool_available(ETCDCTL, test) && tool_available(CURL, test) {
        let url = server.https();
        let etcdctl = |args: &[&str]| {
            Command::new(ETCDCTL)
                .env("ETCDCTL_API", "3")
                .args([
                    "--endpoints",
                    &url,
                    "--insecure-transport=false",
                    "--insecure-skip-tls-verify",
                    "--dial-timeout",
                    "3s",
                ])
                .args(args)
                .output()
                .expect("run etcdctl")
        };
        let output = etcdctl(&["put", "skip", "verify"]);
        assert!(output.status.success(), "{output:?}");
        let output = etcdctl(&["get", "skip"]);
        assert_eq!(String::from_utf8_lossy(&output.stdout), "skip\nverify\n");
        let curl = |insecure: bool| {
            let mut command = Command::new(CURL);
            command.args(["-sS", "--max-time", "5"]);
            if insecure {
                command.arg("-k");
            }
            command
                .arg(format!("{url}/version"))
                .output()
                .expect("run curl")
        };
        let output = curl(true);
        assert!(output.status.success(), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("etcdcluster"));
        assert!(
            !curl(false).status.success(),
            "curl trusted a self-signed certificate"
        );
    }

    // A restart reuses the certificate (as etcd does).
    server.stop();
    server.spawn();
    server
        .wait_log_count("ready to serve client requests", 2)
        .await;
    let again = std::fs::read_to_string(fixtures.join("cert.pem")).expect("cert.pem");
    assert_eq!(again, cert_pem, "the certificate was regenerated");
    let mut kv = tls_kv(&server.https(), &cert_pem, None)
        .await
        .expect("reconnect");
    let found = kv.range(get("auto")).await.expect("get").into_inner();
    assert_eq!(found.kvs.len(), 1);
}

#[test]
fn bad_tls_settings_stop_the_start_with_a_clear_error() {
    let pki = Pki::new("tls-bad");
    let good = pki.issue("server", 1);
    let other = pki.issue("other", 2);
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").expect("write");
    let garbage = garbage.to_str().expect("utf-8");
    let missing = pki.dir.join("missing.pem");
    let missing = missing.to_str().expect("utf-8");
    let https = "https://127.0.0.1:{port}";
    let cases: Vec<(Vec<&str>, &str, String)> = vec![
        (
            vec!["--cert-file", missing, "--key-file", good.key()],
            https,
            format!("open {missing}: no such file or directory"),
        ),
        (
            vec!["--cert-file", garbage, "--key-file", good.key()],
            https,
            "tls: failed to find any PEM data in certificate input".to_string(),
        ),
        (
            vec!["--cert-file", good.cert(), "--key-file", garbage],
            https,
            "tls: failed to find any PEM data in key input".to_string(),
        ),
        (
            vec!["--cert-file", good.cert(), "--key-file", other.key()],
            https,
            "tls: private key does not match public key".to_string(),
        ),
        (
            vec![
                "--cert-file",
                good.cert(),
                "--key-file",
                good.key(),
                "--trusted-ca-file",
                garbage,
            ],
            https,
            "no CA certificate found".to_string(),
        ),
        (
            vec!["--cipher-suites", "TLS_NOT_A_SUITE"],
            "http://127.0.0.1:{port}",
            "unexpected TLS cipher suite \"TLS_NOT_A_SUITE\"".to_string(),
        ),
        (
            vec![],
            https,
            "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:"
                .to_string(),
        ),
        (
            vec!["--cert-file", good.cert(), "--key-file", good.key(), "--client-cert-auth"],
            https,
            "--client-cert-auth needs --trusted-ca-file".to_string(),
        ),
        (
            vec!["--peer-cert-file", good.cert()],
            "http://127.0.0.1:{port}",
            "KeyFile and CertFile must both be present".to_string(),
        ),
    ];
    for (i, (flags, urls, expected)) in cases.iter().enumerate() {
        let text = refused_start(&format!("tls-bad-{i}"), urls, flags);
        assert!(
            text.contains(expected.as_str()),
            "{flags:?}: expected {expected:?} in:\n{text}"
        );
    }
}

/// Flags for a member's peer certificate.
fn peer_flags(files: &Files) -> Vec<String> {
    vec![
        "--peer-cert-file".to_string(),
        files.cert().to_string(),
        "--peer-key-file".to_string(),
        files.key().to_string(),
    ]
}

/// Three members over peer TLS with client-cert-auth against `pki`'s CA:
/// members 1 and 2 present certificates with CN `good_cn`, member 3
/// presents `third`. Members 1 and 2 serve (and agree on a key).
async fn peers_with_third(
    tag: &str,
    pki: &Pki,
    good_cn: &str,
    third: &Files,
    extra: &[&str],
) -> Cluster {
    let issue = |file: &str, serial| {
        pki.ca
            .issue(good_cn, &["127.0.0.1", "localhost"], serial)
            .write(&pki.dir, file)
    };
    let m1 = issue("member-1", 11);
    let m2 = issue("member-2", 12);
    let mut flags = vec![
        "--peer-client-cert-auth",
        "--peer-trusted-ca-file",
        pki.ca(),
    ];
    flags.extend_from_slice(extra);
    let options = Options {
        peer_tls: true,
        member_extra: vec![peer_flags(&m1), peer_flags(&m2), peer_flags(third)],
        ..Options::extra(&flags)
    };
    let cluster = Cluster::launch(tag, 3, options);
    cluster.wait_serving(0).await;
    cluster.wait_serving(1).await;
    let mut kv = cluster.kv(0).await.expect("connect");
    kv.put(put("peers", "ok"))
        .await
        .expect("put with two of three");
    cluster
}

/// Waits (bounded) until member i's log holds every text.
async fn wait_member_log(cluster: &Cluster, i: usize, texts: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = cluster.members[i].log_text();
        if texts.iter().all(|text| log.contains(text)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "member {i} did not log {texts:?} within 20s:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether member i sees the key written through member 1 (a local read).
async fn member_has_key(cluster: &Cluster, i: usize) -> bool {
    let Ok(mut kv) = cluster.kv(i).await else {
        return false;
    };
    let request = pb::RangeRequest {
        serializable: true,
        ..get("peers")
    };
    kv.range(request)
        .await
        .is_ok_and(|r| !r.into_inner().kvs.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_a_certificate_from_another_ca_is_refused() {
    let pki = Pki::new("tls-peer-ca");
    let intruder = pki
        .other_ca
        .issue("member", &["127.0.0.1", "localhost"], 13)
        .write(&pki.dir, "intruder");
    let cluster = peers_with_third("tls-peer-ca", &pki, "member", &intruder, &[]).await;
    // Members 1 and 2 refuse its client certificate when it dials them, and
    // its server certificate when they dial it.
    wait_member_log(
        &cluster,
        0,
        &[
            "rejected connection from \"127.0.0.1:",
            "(error \"tls: failed to verify client certificate: x509: certificate signed by unknown authority\"",
            "on stream Message (x509: certificate signed by unknown authority)",
        ],
    )
    .await;
    wait_member_log(
        &cluster,
        2,
        &["remote error: tls: unknown certificate authority"],
    )
    .await;
    assert!(!member_has_key(&cluster, 2).await, "the intruder got data");
    let log = cluster.members[0].log_text();
    assert!(log.contains("peerTLS: cert = "), "{log}");
    assert!(log.contains("client-cert-auth = true"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_cn_is_not_allowed_is_refused() {
    let pki = Pki::new("tls-peer-cn");
    // The right CA, the wrong CN.
    let intruder = pki.issue("intruder", 13);
    let cluster = peers_with_third(
        "tls-peer-cn",
        &pki,
        "member",
        &intruder,
        &["--peer-cert-allowed-cn", "member"],
    )
    .await;
    wait_member_log(
        &cluster,
        0,
        &["(error \"client certificate authentication failed\""],
    )
    .await;
    // Told by the alert, the refused member says why in etcd's words.
    wait_member_log(&cluster, 2, &["(remote error: tls: bad certificate)"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_a_revoked_certificate_is_refused() {
    let pki = Pki::new("tls-peer-crl");
    let revoked = pki.issue("revoked", REVOKED_SERIAL);
    let crl = pki.crl(&[REVOKED_SERIAL]);
    let cluster = peers_with_third(
        "tls-peer-crl",
        &pki,
        "member",
        &revoked,
        &["--peer-crl-file", &crl],
    )
    .await;
    wait_member_log(
        &cluster,
        0,
        &["(error \"transport: certificate serial 42 revoked\""],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_call_each_other_over_https_client_urls() {
    use pb::lease_client::LeaseClient;
    let pki = Pki::new("tls-members");
    let member = pki.issue("member", 1);
    let client = read_pair(&pki.issue("test-client", 2));
    let options = Options {
        client_tls: Some(support::ClientTls {
            ca_pem: pki.ca.cert_pem.clone(),
            cert_pem: client.0,
            key_pem: client.1,
        }),
        ..Options::extra(&[
            "--cert-file",
            member.cert(),
            "--key-file",
            member.key(),
            "--trusted-ca-file",
            pki.ca(),
            "--client-cert-auth",
            "--experimental-initial-corrupt-check",
        ])
    };
    let mut cluster = Cluster::start_with_options("tls-members", 3, options).await;
    let leader = cluster.leader().await.expect("a leader");
    let follower = (leader + 1) % 3;
    // Keep-alives and TTL queries sent to a follower are forwarded to the
    // leader's https:// client URL.
    let channel = cluster
        .channel(follower, Duration::from_secs(10))
        .await
        .expect("connect");
    let mut lease = LeaseClient::new(channel);
    let granted = lease
        .lease_grant(pb::LeaseGrantRequest { ttl: 30, id: 0 })
        .await
        .expect("grant")
        .into_inner();
    let request = pb::LeaseKeepAliveRequest { id: granted.id };
    let mut answers = lease
        .lease_keep_alive(tokio_stream::iter([request]))
        .await
        .expect("keep-alive stream")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("keep-alive answer")
        .expect("one answer");
    assert_eq!(answer.ttl, 30, "the keep-alive reached the leader");
    let ttl = lease
        .lease_time_to_live(pb::LeaseTimeToLiveRequest {
            id: granted.id,
            keys: false,
        })
        .await
        .expect("time to live")
        .into_inner();
    assert!(ttl.ttl > 0, "{ttl:?}");
    // A restarted member checks its hash against both others over TLS.
    cluster.kill(follower);
    cluster.spawn(follower);
    cluster.wait_serving(follower).await;
    wait_member_log(
        &cluster,
        follower,
        &["initial corruption checking passed; no corruption (2 peers compared)"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_names_the_user_when_auth_is_enabled() {
    use pb::auth_client::AuthClient;
    let pki = Pki::new("tls-auth");
    let server_files = pki.issue("server", 1);
    let root = read_pair(&pki.issue("root", 2));
    let alice = read_pair(&pki.issue("alice", 3));
    let nobody = read_pair(&pki.issue("nobody", 4));
    let server = Server::start(
        "tls-auth",
        "https://127.0.0.1:{port}",
        &[
            "--cert-file",
            server_files.cert(),
            "--key-file",
            server_files.key(),
            "--trusted-ca-file",
            pki.ca(),
            "--client-cert-auth",
        ],
    );
    server.wait_ready().await;
    let url = server.https();
    let ca = &pki.ca.cert_pem;
    let channel = |identity: (String, String)| {
        let url = url.clone();
        async move {
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .identity(Identity::from_pem(identity.0, identity.1));
            Channel::from_shared(url)
                .expect("url")
                .tls_config(tls)
                .expect("tls")
                .timeout(Duration::from_secs(5))
                .connect()
                .await
                .expect("connect")
        }
    };
    // Users with passwords nobody types: the certificate is the credential.
    let mut auth = AuthClient::new(channel(root.clone()).await);
    support::auth::enable_with_alice(&mut auth, "root-unused-password", "alice-unused-password")
        .await;

    let mut as_alice = KvClient::new(channel(alice).await);
    as_alice
        .put(put("a/1", "mine"))
        .await
        .expect("alice writes under a/");
    let denied = as_alice
        .put(put("b", "not mine"))
        .await
        .expect_err("denied");
    assert_eq!(denied.message(), "etcdserver: permission denied");
    let mut as_root = KvClient::new(channel(root).await);
    as_root.put(put("b", "root's")).await.expect("root writes");
    let mut as_nobody = KvClient::new(channel(nobody).await);
    assert!(
        as_nobody.range(get("a/1")).await.is_err(),
        "a CN that is no user reads nothing"
    );
    let found = as_root.range(get("b")).await.expect("get").into_inner();
    assert_eq!(&found.kvs[0].value[..], b"root's");
}
