//! Authentication and authorization on real processes, through gRPC: JWT
//! tokens (signed, verified, expired, forged, stale after an auth change),
//! simple tokens expiring by `--auth-token-ttl`, a watch that is refused and
//! sends nothing, and auth state surviving a restart.

#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use pb::auth_client::AuthClient;
use pb::kv_client::KvClient;
use pb::watch_client::WatchClient;
use support::{put, Cluster};
use tonic::transport::Channel;
use tonic::{Code, Request};

async fn connect(cluster: &Cluster) -> Channel {
    Channel::from_shared(cluster.members[0].endpoint())
        .expect("endpoint")
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("token", token.parse().expect("ascii token"));
    request
}

/// root and alice (see support/auth.rs), auth enabled; returns root's token.
async fn set_up_users(auth: &mut AuthClient<Channel>) -> String {
    support::auth::enable_with_alice(auth, "rootpw", "alicepw").await;
    login(auth, "root", "rootpw").await.expect("root login")
}

async fn login(
    auth: &mut AuthClient<Channel>,
    name: &str,
    password: &str,
) -> Result<String, tonic::Status> {
    auth.authenticate(pb::AuthenticateRequest {
        name: name.into(),
        password: password.into(),
    })
    .await
    .map(|r| r.into_inner().token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tokens_are_verified_expire_and_go_stale() {
    let dir = support::temp_dir("jwt-keys");
    std::fs::create_dir_all(&dir).expect("key dir");
    let key = rcgen::KeyPair::generate().expect("ES256 key");
    let private = dir.join("jwt.key");
    let public = dir.join("jwt.pub");
    std::fs::write(&private, key.serialize_pem()).expect("write key");
    std::fs::write(&public, key.public_key_pem()).expect("write pub");
    let spec = format!(
        "--auth-token=jwt,pub-key={},priv-key={},sign-method=ES256,ttl=3s",
        public.display(),
        private.display()
    );
    let cluster = Cluster::start_with("jwt", 1, &[&spec]).await;
    let channel = connect(&cluster).await;
    let mut auth = AuthClient::new(channel.clone());
    let mut kv = KvClient::new(channel);
    let root = set_up_users(&mut auth).await;
    assert_eq!(root.split('.').count(), 3, "a JWT: {root}");
    kv.put(with_token(put("a/1", "v"), &root))
        .await
        .expect("root writes");
    // Forged: the payload of alice's token with root's name cannot verify.
    let alice = login(&mut auth, "alice", "alicepw").await.expect("alice");
    let mut parts: Vec<String> = alice.split('.').map(str::to_string).collect();
    parts[1] = root.split('.').nth(1).expect("payload").to_string();
    let forged = parts.join(".");
    let refused = kv
        .put(with_token(put("secret", "x"), &forged))
        .await
        .expect_err("forged token refused");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "etcdserver: invalid auth token");
    // Alice's own token: her prefix yes, the rest no.
    kv.put(with_token(put("a/2", "v"), &alice))
        .await
        .expect("alice writes a/");
    let denied = kv
        .put(with_token(put("secret", "x"), &alice))
        .await
        .expect_err("outside a/");
    assert_eq!(denied.message(), "etcdserver: permission denied");
    // Any auth change makes earlier JWTs stale.
    auth.role_add(with_token(
        pb::AuthRoleAddRequest { name: "b".into() },
        &root,
    ))
    .await
    .expect("role add");
    let stale = kv
        .put(with_token(put("a/3", "v"), &alice))
        .await
        .expect_err("stale token");
    assert_eq!(stale.message(), "etcdserver: revision of auth store is old");
    // A fresh token works, until its TTL runs out.
    let alice = login(&mut auth, "alice", "alicepw").await.expect("again");
    kv.put(with_token(put("a/3", "v"), &alice))
        .await
        .expect("fresh token");
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let expired = kv
        .put(with_token(put("a/4", "v"), &alice))
        .await
        .expect_err("expired");
    assert_eq!(expired.message(), "etcdserver: invalid auth token");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_tokens_expire_and_auth_survives_a_restart() {
    let mut cluster = Cluster::start_with("simple-auth", 1, &["--auth-token-ttl=2"]).await;
    let channel = connect(&cluster).await;
    let mut auth = AuthClient::new(channel.clone());
    let mut kv = KvClient::new(channel);
    let root = set_up_users(&mut auth).await;
    assert!(!root.contains(char::is_whitespace));
    let wrong = login(&mut auth, "alice", "nope")
        .await
        .expect_err("bad password");
    assert_eq!(
        wrong.message(),
        "etcdserver: authentication failed, invalid user ID or password"
    );
    let alice = login(&mut auth, "alice", "alicepw").await.expect("alice");
    // Used every second, the token lives on past its TTL...
    for i in 0..4 {
        kv.put(with_token(put(&format!("a/{i}"), "v"), &alice))
            .await
            .expect("kept alive by use");
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
    // ...idle longer than the TTL, it is gone.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let expired = kv
        .range(with_token(support::get("a/1"), &alice))
        .await
        .expect_err("expired");
    assert_eq!(expired.message(), "etcdserver: invalid auth token");

    // A watch outside alice's permissions is created and canceled at once,
    // and sends nothing of what root writes there.
    let alice = login(&mut auth, "alice", "alicepw").await.expect("alice");
    let mut watch = WatchClient::new(connect(&cluster).await);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let create = |key: &'static [u8], range_end: &'static [u8]| pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: Bytes::from_static(key),
                range_end: Bytes::from_static(range_end),
                ..Default::default()
            },
        )),
    };
    tx.send(create(b"secret", b"")).await.expect("send");
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut responses = watch
        .watch(with_token(stream, &alice))
        .await
        .expect("watch")
        .into_inner();
    let first = responses.message().await.expect("ok").expect("response");
    assert!(first.created && first.canceled, "{first:?}");
    assert_eq!(first.cancel_reason, "etcdserver: permission denied");
    tx.send(create(b"a/", b"a0")).await.expect("send");
    let second = responses.message().await.expect("ok").expect("response");
    assert!(second.created && !second.canceled, "{second:?}");
    kv.put(with_token(put("secret", "hidden"), &root))
        .await
        .expect_err("root's token expired too");
    let root = login(&mut auth, "root", "rootpw").await.expect("root");
    kv.put(with_token(put("secret", "hidden"), &root))
        .await
        .expect("root writes secret");
    kv.put(with_token(put("a/visible", "v"), &root))
        .await
        .expect("root writes a/");
    let event = tokio::time::timeout(Duration::from_secs(5), responses.message())
        .await
        .expect("an event in time")
        .expect("ok")
        .expect("response");
    let keys: Vec<&[u8]> = event
        .events
        .iter()
        .filter_map(|e| e.kv.as_ref().map(|kv| kv.key.as_ref()))
        .collect();
    assert_eq!(keys, vec![b"a/visible".as_ref()], "{event:?}");

    // Restarted from its data directory, the member still enforces auth.
    cluster.kill(0);
    cluster.spawn(0);
    cluster.wait_serving(0).await;
    let channel = connect(&cluster).await;
    let mut auth = AuthClient::new(channel.clone());
    let mut kv = KvClient::new(channel);
    let anonymous = kv.range(support::get("a/1")).await.expect_err("anonymous");
    assert_eq!(anonymous.message(), "etcdserver: user name is empty");
    let root = login(&mut auth, "root", "rootpw").await.expect("root");
    let status = auth
        .auth_status(pb::AuthStatusRequest {})
        .await
        .expect("auth status")
        .into_inner();
    assert!(status.enabled);
    assert!(status.auth_revision > 1, "{status:?}");
    let users = auth
        .user_list(with_token(pb::AuthUserListRequest {}, &root))
        .await
        .expect("user list")
        .into_inner()
        .users;
    assert_eq!(users, vec!["alice".to_string(), "root".to_string()]);
}
