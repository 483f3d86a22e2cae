//! The users and roles the auth tests share: `root` (with the root role) and
//! `alice` (read-write on the prefix `a/`), then auth enabled.

use bytes::Bytes;
use cairn_proto::{authpb, etcdserverpb as pb};
use pb::auth_client::AuthClient;
use tonic::transport::Channel;

/// Adds root and alice with these passwords, gives alice the role `a`
/// (READWRITE on `a/`), and enables auth.
pub async fn enable_with_alice(
    auth: &mut AuthClient<Channel>,
    root_password: &str,
    alice_password: &str,
) {
    for (name, password) in [("root", root_password), ("alice", alice_password)] {
        auth.user_add(pb::AuthUserAddRequest {
            name: name.into(),
            password: password.into(),
            options: None,
        })
        .await
        .expect("user add");
    }
    auth.user_grant_role(pb::AuthUserGrantRoleRequest {
        user: "root".into(),
        role: "root".into(),
    })
    .await
    .expect("grant root");
    auth.role_add(pb::AuthRoleAddRequest { name: "a".into() })
        .await
        .expect("role add");
    auth.role_grant_permission(pb::AuthRoleGrantPermissionRequest {
        name: "a".into(),
        perm: Some(authpb::Permission {
            perm_type: authpb::permission::Type::Readwrite as i32,
            key: Bytes::from_static(b"a/"),
            range_end: Bytes::from_static(b"a0"),
        }),
    })
    .await
    .expect("grant permission");
    auth.user_grant_role(pb::AuthUserGrantRoleRequest {
        user: "alice".into(),
        role: "a".into(),
    })
    .await
    .expect("grant a");
    auth.auth_enable(pb::AuthEnableRequest {})
        .await
        .expect("auth enable");
}
