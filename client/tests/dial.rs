//! Dialling real `cairn` members: plain `http://` and bare endpoints, and
//! `https://` ones with a CA and a client certificate the member requires;
//! the lower-level Dialer with a rustls configuration built elsewhere (as
//! the server builds its own).

mod support;

use std::sync::Arc;
use std::time::Duration;

use cairn_client::{Client, ClientConfig, Dialer, Endpoint, Error, TlsOptions};
use cairn_proto::etcdserverpb as pb;
use support::certs::{Ca, Pair};
use support::{put, value_of, Cluster};

fn config(endpoint: &str) -> ClientConfig {
    let endpoint = Endpoint::parse(endpoint).expect("valid endpoint");
    ClientConfig::new(vec![endpoint]).with_dial_timeout(Duration::from_secs(2))
}

async fn put_and_read_back(client: &Client, key: &str) {
    client.kv().put(put(key, "v")).await.expect("put");
    assert_eq!(value_of(client, key).await.as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_members_are_dialled_bare_or_with_http() {
    let cluster = Cluster::start("dial-plain", 1, &[]).await;
    let port = cluster.members[0].client_port;
    for written in [
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    ] {
        let client = Client::connect(config(&written)).await.expect("connects");
        put_and_read_back(&client, &format!("k-{}", written.len())).await;
    }
    // http:// stays plain even when TLS options are given (etcd drops them).
    let tls = TlsOptions {
        insecure_skip_verify: true,
        ..TlsOptions::default()
    };
    let client = Client::connect(config(&format!("http://127.0.0.1:{port}")).with_tls(tls))
        .await
        .expect("connects plainly");
    put_and_read_back(&client, "k-http-with-options").await;
    // An endpoint nobody listens on is reported, not waited for forever.
    let dead = format!("127.0.0.1:{}", support::free_port());
    let error = Client::connect(config(&dead)).await.unwrap_err();
    assert!(matches!(error, Error::Unreachable(_)), "{error}");
}

/// A member that serves https:// and requires client certificates from `ca`.
struct TlsMember {
    cluster: Cluster,
    dir: std::path::PathBuf,
    ca_file: std::path::PathBuf,
    client: Pair,
}

async fn tls_member(tag: &str) -> TlsMember {
    let dir = support::temp_dir(tag);
    let ca = Ca::new("test CA");
    let ca_file = ca.write(&dir, "ca.pem");
    let server = ca.issue(&dir, "server", "m1");
    let client = ca.issue(&dir, "client", "client");
    let flags = [
        "--cert-file",
        server.cert(),
        "--key-file",
        server.key(),
        "--trusted-ca-file",
        ca_file.to_str().expect("utf-8"),
        "--client-cert-auth",
    ];
    let options = TlsOptions {
        ca_file: Some(ca_file.clone()),
        cert_file: Some(client.cert.clone()),
        key_file: Some(client.key.clone()),
        insecure_skip_verify: false,
    };
    let cluster = Cluster::start_with_tls(tag, 1, &flags, "https", options).await;
    TlsMember {
        cluster,
        dir,
        ca_file,
        client,
    }
}

impl Drop for TlsMember {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_members_are_dialled_with_a_ca_and_a_client_certificate() {
    let member = tls_member("dial-tls").await;
    let port = member.cluster.members[0].client_port;
    let https = format!("https://127.0.0.1:{port}");
    let full = member.cluster.tls.clone();

    let client = Client::connect(config(&https).with_tls(full.clone()))
        .await
        .expect("connects over TLS");
    put_and_read_back(&client, "k-https").await;

    // A bare endpoint with TLS options is dialled over TLS, as etcdctl does.
    let bare = format!("127.0.0.1:{port}");
    let client = Client::connect(config(&bare).with_tls(full.clone()))
        .await
        .expect("bare endpoint over TLS");
    put_and_read_back(&client, "k-bare").await;

    // Skipping verification still presents the client certificate.
    let skip = TlsOptions {
        ca_file: None,
        insecure_skip_verify: true,
        ..full.clone()
    };
    let client = Client::connect(config(&https).with_tls(skip))
        .await
        .expect("connects without verifying");
    put_and_read_back(&client, "k-skip").await;

    // Without a client certificate the member refuses the handshake. Under
    // TLS 1.3 the client learns it only when the connection is closed on
    // its first request, so either step may fail.
    let no_identity = TlsOptions {
        cert_file: None,
        key_file: None,
        ..full.clone()
    };
    if let Ok(client) = Client::connect(config(&https).with_tls(no_identity)).await {
        let refused = client.kv().range(support::get("k")).await;
        assert!(
            refused.is_err(),
            "a client without a certificate was served"
        );
    }

    // A server certificate from another CA is not trusted.
    let other_dir = support::temp_dir("dial-tls-other");
    let other_ca = Ca::new("another CA").write(&other_dir, "other-ca.pem");
    let wrong_ca = TlsOptions {
        ca_file: Some(other_ca),
        ..full.clone()
    };
    let error = Client::connect(config(&https).with_tls(wrong_ca))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unreachable(_)), "{error}");
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    let _ = std::fs::remove_dir_all(&other_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialer_takes_a_rustls_configuration_built_elsewhere() {
    let member = tls_member("dial-server-style").await;
    let url = member.cluster.url(0);
    // As the server does: its own rustls configuration, without ALPN (the
    // dialer adds h2), and its own wording of handshake failures.
    let options = TlsOptions {
        ca_file: Some(member.ca_file.clone()),
        cert_file: Some(member.client.cert.clone()),
        key_file: Some(member.client.key.clone()),
        insecure_skip_verify: false,
    };
    let rustls_config = Arc::new(options.client_config().expect("configuration"));
    assert!(rustls_config.alpn_protocols.is_empty());
    let dialer = Dialer::new(Some(rustls_config))
        .with_dial_timeout(Duration::from_secs(3))
        .with_request_timeout(Duration::from_secs(5))
        .with_handshake_error_text(|_| "handshake refused, in our words".to_string());
    let channel = dialer.channel_to(&url).await.expect("dials");
    let status = pb::maintenance_client::MaintenanceClient::new(channel)
        .status(pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_ne!(status.leader, 0);

    // Without TLS the same URL is refused before any connection is made.
    let error = Dialer::default().channel_to(&url).await.unwrap_err();
    assert!(error.to_string().contains("no TLS configured"), "{error}");

    // A failed handshake is worded by the hook.
    let untrusting = TlsOptions {
        ca_file: Some(Ca::new("stranger").write(&member.dir, "stranger.pem")),
        ..options
    };
    let dialer = Dialer::new(Some(Arc::new(untrusting.client_config().expect("config"))))
        .with_handshake_error_text(|_| "handshake refused, in our words".to_string());
    let error = dialer.channel_to(&url).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("handshake refused, in our words"),
        "{error}"
    );
}
