//! Authentication against a real `cairn` member: `--user name:password`
//! gives a token that every request carries; a refused password is an
//! error at connect; an expired token is replaced by authenticating again.

mod support;

use std::time::Duration;

use cairn_client::retry::texts::INVALID_AUTH_TOKEN;
use cairn_client::{Client, ClientConfig, Credentials, Error, Idempotence};
use cairn_proto::etcdserverpb as pb;
use support::{get, put, value_of, Cluster};

/// Adds `root` with the root role and enables auth.
async fn enable_auth(client: &Client, root_password: &str) {
    let mut auth = client.auth();
    auth.user_add(pb::AuthUserAddRequest {
        name: "root".into(),
        password: root_password.into(),
        options: None,
    })
    .await
    .expect("user add");
    auth.user_grant_role(pb::AuthUserGrantRoleRequest {
        user: "root".into(),
        role: "root".into(),
    })
    .await
    .expect("grant root");
    auth.auth_enable(pb::AuthEnableRequest {})
        .await
        .expect("auth enable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_authenticates_once_and_again_when_the_token_expires() {
    // Simple tokens live 1 s after their last use.
    let cluster = Cluster::start("auth", 1, &["--auth-token-ttl=1"]).await;
    let endpoint = cluster.endpoint(0);
    let anonymous = Client::connect(ClientConfig::new(vec![endpoint.clone()]))
        .await
        .expect("connects");
    enable_auth(&anonymous, "secret").await;
    let refused = anonymous.kv().range(get("k")).await.unwrap_err();
    assert_eq!(refused.message(), "etcdserver: user name is empty");

    let wrong = ClientConfig::new(vec![endpoint.clone()])
        .with_credentials(Credentials::parse("root:guess").expect("valid"));
    let error = Client::connect(wrong).await.unwrap_err();
    assert!(matches!(error, Error::Auth(_)), "{error}");
    assert!(
        error.to_string().contains("authentication failed"),
        "{error}"
    );

    let config = ClientConfig::new(vec![endpoint])
        .with_credentials(Credentials::parse("root:secret").expect("valid"));
    let client = Client::connect(config).await.expect("authenticates");
    client.kv().put(put("k", "v")).await.expect("put as root");
    assert_eq!(value_of(&client, "k").await.as_deref(), Some("v"));

    // Let the token expire: a plain request is refused with etcd's text...
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = client.kv().range(get("k")).await.unwrap_err();
    assert_eq!(expired.message(), INVALID_AUTH_TOKEN);
    // ...and a call through the client authenticates again and succeeds,
    // a write included (a refused token means nothing was done).
    let response = client
        .call(Idempotence::NotIdempotent, |channel| async move {
            pb::kv_client::KvClient::new(channel)
                .put(put("k", "w"))
                .await
        })
        .await
        .expect("put after authenticating again");
    assert!(response.into_inner().header.is_some());
    assert_eq!(value_of(&client, "k").await.as_deref(), Some("w"));
}
