//! cairnctl against etcdctl 3.4.23 for authentication: `auth`, `user`,
//! `role` in every output format and their errors, password prompts (stdin
//! not a terminal, as speakeasy reads it), `--user` with and without a
//! password, a restricted user's permission errors; then servers serving
//! clients over TLS with client certificates required: `--cacert/--cert/
//! --key`, `--insecure-skip-tls-verify`, a missing CA file, and CN-based
//! authentication. Same three-sided comparison as differential.rs.
//!
//! ```text
//!   etcdctl → etcd A  ==  cairnctl → etcd B  ==  cairnctl → cairn C
//!   (TLS: the three servers with --cert-file/--key-file/--trusted-ca-file
//!    --client-cert-auth; certificates from server/tests/support/certs.rs)
//! ```

#![allow(clippy::disallowed_methods)]

mod common;

#[path = "../../server/tests/support/certs.rs"]
#[allow(dead_code)]
mod certs;

use std::path::Path;

use common::{Case, Server};

/// `--user root:pw` in front of a command line.
macro_rules! root {
    ($line:literal) => {
        concat!("--user root:pw ", $line)
    };
}

const AUTH_CASES: &[Case] = &[
    ("auth", None, &[]),
    ("user", None, &[]),
    ("role", None, &[]),
    ("user add -h", None, &[]),
    ("user get -h", None, &[]),
    ("user passwd -h", None, &[]),
    ("role grant-permission -h", None, &[]),
    ("role revoke-permission --help", None, &[]),
    ("auth enable -h", None, &[]),
    ("user grant-role -h", None, &[]),
    ("role get -h", None, &[]),
    ("help user revoke-role", None, &[]),
    ("auth enable x", None, &[]),
    ("auth disable x", None, &[]),
    ("auth enable", None, &[]),
    // Users.
    ("user add", None, &[]),
    ("user add a b", None, &[]),
    ("user add :pw", None, &[]),
    ("user add root:pw", None, &[]),
    ("user add root:pw", None, &[]),
    ("user add u1:p1 -w json", None, &[]),
    ("user add u2:p2 -w fields", None, &[]),
    ("user add u3:p3 -w protobuf", None, &[]),
    ("user add u4:p4 -w table", None, &[]),
    ("user add u5", Some("pw5\npw5\n"), &[]),
    ("user add u6", Some("a\nb\n"), &[]),
    ("user add u7", Some("\n"), &[]),
    ("user add u7", Some(""), &[]),
    ("user add u8 --interactive=false", Some("pw8 more\n"), &[]),
    ("user add u11 --interactive=false", Some(""), &[]),
    ("user add u12:", None, &[]),
    ("user add u13 --interactive=false", Some("\n"), &[]),
    ("user add u9 --no-password", None, &[]),
    ("user add u10 --new-user-password=pw10", None, &[]),
    ("user list", None, &[]),
    ("user list -w json", None, &[]),
    ("user list -w fields", None, &[]),
    ("user list -w protobuf", None, &[]),
    ("user list -w table", None, &[]),
    ("user list x", None, &[]),
    // Roles and permissions.
    ("role add", None, &[]),
    ("role add r1", None, &[]),
    ("role add r1", None, &[]),
    ("role add r2 -w json", None, &[]),
    ("role add r3 -w fields", None, &[]),
    ("role add r4 -w protobuf", None, &[]),
    ("role grant-permission r1 read foo", None, &[]),
    ("role grant-permission --prefix r1 readwrite pre", None, &[]),
    ("role grant-permission --from-key r1 write fk", None, &[]),
    ("role grant-permission r1 readwrite a c -w json", None, &[]),
    ("role grant-permission r1 READ k2 -w fields", None, &[]),
    ("role grant-permission r1 Write k3 -w protobuf", None, &[]),
    ("role grant-permission r1 rx foo", None, &[]),
    ("role grant-permission r1 read", None, &[]),
    ("role grant-permission --prefix r1 read a b", None, &[]),
    ("role grant-permission --from-key r1 read a b", None, &[]),
    (
        "role grant-permission --prefix --from-key r1 read a",
        None,
        &[],
    ),
    ("role grant-permission nosuch read foo", None, &[]),
    ("role grant-permission r1 read c a", None, &[]),
    ("role grant-permission r1 read a a", None, &[]),
    ("role revoke-permission r1 c a", None, &[]),
    ("role grant-permission r2 read foo", None, &[]),
    ("role get r1", None, &[]),
    ("role get r1 -w json", None, &[]),
    ("role get r1 -w fields", None, &[]),
    ("role get r1 -w protobuf", None, &[]),
    ("role get r1 -w table", None, &[]),
    ("role get nosuch", None, &[]),
    ("role get", None, &[]),
    ("role list", None, &[]),
    ("role list -w json", None, &[]),
    ("role list -w fields", None, &[]),
    ("role list -w protobuf", None, &[]),
    ("role list -w table", None, &[]),
    // Users and roles.
    ("user grant-role u1 r1", None, &[]),
    ("user grant-role u2 r1 -w json", None, &[]),
    ("user grant-role u3 r1 -w fields", None, &[]),
    ("user grant-role u3 r2 -w protobuf", None, &[]),
    ("user grant-role u1 nosuch", None, &[]),
    ("user grant-role nosuch r1", None, &[]),
    ("user grant-role u1", None, &[]),
    ("user get u1", None, &[]),
    ("user get u1 -w json", None, &[]),
    ("user get u1 -w fields", None, &[]),
    ("user get u1 -w protobuf", None, &[]),
    ("user get u1 -w table", None, &[]),
    ("user get u3 --detail", None, &[]),
    ("user get u3 --detail -w json", None, &[]),
    ("user get u3 --detail -w fields", None, &[]),
    ("user get u3 --detail -w table", None, &[]),
    ("user get nosuch", None, &[]),
    ("user get", None, &[]),
    ("user revoke-role u2 r1 -w json", None, &[]),
    ("user revoke-role u2 r1", None, &[]),
    ("user revoke-role u2", None, &[]),
    ("user grant-role u2 r2", None, &[]),
    ("role revoke-permission r1 foo", None, &[]),
    ("role revoke-permission --prefix r1 pre", None, &[]),
    ("role revoke-permission --from-key r1 fk -w json", None, &[]),
    ("role revoke-permission r1 a c -w fields", None, &[]),
    ("role revoke-permission r1 k2 -w protobuf", None, &[]),
    ("role revoke-permission r1 nokey", None, &[]),
    ("role revoke-permission --prefix r1 a b", None, &[]),
    ("role revoke-permission r1", None, &[]),
    ("user passwd u1", Some("np1\nnp1\n"), &[]),
    ("user passwd u1", Some("np1\nnp2\n"), &[]),
    (
        "user passwd u1 --interactive=false -w json",
        Some("np2\n"),
        &[],
    ),
    ("user passwd nosuch --interactive=false", Some("x\n"), &[]),
    ("user passwd", None, &[]),
    ("user delete u4 -w json", None, &[]),
    ("user delete u4", None, &[]),
    ("role delete r4 -w fields", None, &[]),
    ("role delete r4", None, &[]),
    ("user delete", None, &[]),
    // Authentication on: root gets the root role, users need passwords.
    ("auth enable", None, &[]),
    ("get foo", None, &[]),
    ("--user root:wrong get foo", None, &[]),
    (root!("put foo bar"), None, &[]),
    ("--user u2:p2 get foo", None, &[]),
    ("--user u2:p2 put foo x", None, &[]),
    ("--user u2:p2 get bar", None, &[]),
    ("--user u2:p2 get f --prefix", None, &[]),
    ("--user u2 --password p2 get foo", None, &[]),
    ("--user u2 get foo", Some("p2\n"), &[]),
    ("--user u2 get foo", Some(""), &[]),
    ("--user u9 get foo", Some("\n"), &[]),
    ("--user u10:pw10 user list", None, &[]),
    ("--user u1:np2 get foo", None, &[]),
    ("--user u5:pw5 get pre1", None, &[]),
    ("--user u8:pw8 role list", None, &[]),
    ("user list", None, &[("ETCDCTL_USER", "root:pw")]),
    ("--user root --password pw user delete u3", None, &[]),
    (root!("user delete u3"), None, &[]),
    (root!("role delete r3 -w json"), None, &[]),
    ("--user u1:np2 auth disable", None, &[]),
    ("--user u1:np2 user get u1", None, &[]),
    (root!("role delete root"), None, &[]),
    (root!("user delete root"), None, &[]),
    (root!("-w json auth enable"), None, &[]),
    (root!("user revoke-role root root"), None, &[]),
    (root!("auth disable"), None, &[]),
    ("auth disable", None, &[]),
    ("get foo", None, &[]),
];

/// The auth commands, on plain servers.
#[test]
fn auth_user_role_as_etcdctl() {
    common::compare(AUTH_CASES);
}

/// The TLS flags in front of a command line.
macro_rules! tls {
    ($line:literal) => {
        concat!(
            "--cacert {TMP}/ca.pem --cert {TMP}/client.pem --key {TMP}/client-key.pem ",
            $line
        )
    };
}

const TLS_CASES: &[Case] = &[
    (tls!("put k v"), None, &[]),
    (tls!("get k -w json"), None, &[]),
    (tls!("member list -w fields"), None, &[]),
    ("--insecure-skip-tls-verify --cert {TMP}/client.pem --key {TMP}/client-key.pem get k", None, &[]),
    ("--cacert {TMP}/nosuch.pem get k", None, &[]),
    ("--cacert {TMP}/ca.pem --cert {TMP}/client.pem get k", None, &[]),
    ("--cert {TMP}/client.pem --key {TMP}/nosuch-key.pem --cacert {TMP}/ca.pem get k", None, &[]),
    (
        "--cacert {TMP}/ca.pem --cert {TMP}/client.pem --key {TMP}/client-key.pem --dial-timeout 1s get k",
        None,
        &[("ETCDCTL_COMMAND_TIMEOUT", "2s")],
    ),
    ("get k", None, &[("ETCDCTL_CACERT", "{TMP}/ca.pem"), ("ETCDCTL_CERT", "{TMP}/client.pem"), ("ETCDCTL_KEY", "{TMP}/client-key.pem")]),
    ("--cacert {TMP}/other-ca.pem --cert {TMP}/client.pem --key {TMP}/client-key.pem --dial-timeout 1s get k", None, &[]),
    ("--cacert {TMP}/ca.pem --dial-timeout 1s get k", None, &[]),
    ("--insecure-skip-tls-verify --dial-timeout 1s get k", None, &[]),
    ("--cacert {TMP}/ca.pem --cert {TMP}/ca.pem --key {TMP}/ca.pem get k", None, &[]),
    ("--cacert {TMP}/ca.pem --cert {TMP}/client-key.pem --key {TMP}/client.pem get k", None, &[]),
    ("--cacert {TMP}/ca.pem --cert {TMP}/client.pem --key {TMP}/ca.pem.none get k", None, &[]),
    ("--cacert {TMP} get k", None, &[]),
    ("--dial-timeout 1s get k", None, &[]),
    // CN-based authentication: the client certificate's CN is "root".
    (tls!("user add root:pw"), None, &[]),
    (tls!("user add guest:gpw"), None, &[]),
    (tls!("auth enable"), None, &[]),
    (tls!("get k"), None, &[]),
    (tls!("user list"), None, &[]),
    (tls!("--user guest:gpw user list"), None, &[]),
    (tls!("--user guest:bad get k"), None, &[]),
    ("--cacert {TMP}/ca.pem --cert {TMP}/guest.pem --key {TMP}/guest-key.pem get k", None, &[]),
    (tls!("auth disable"), None, &[]),
];

/// The TLS flags on servers requiring client certificates.
#[test]
fn tls_and_client_certificates_as_etcdctl() {
    let dir = common::scratch_dir();
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let _cleanup = RemoveOnDrop(dir.clone());
    let ca = certs::Ca::new("cairnctl test CA");
    ca.write(&dir, "ca.pem");
    certs::Ca::new("another CA").write(&dir, "other-ca.pem");
    let server = ca
        .issue("server", &["127.0.0.1", "localhost"], 2)
        .write(&dir, "server");
    ca.issue("root", &[], 3).write(&dir, "client");
    ca.issue("guest", &[], 4).write(&dir, "guest");
    let ca_file = dir.join("ca.pem").display().to_string();
    let extra = vec![
        "--cert-file".to_string(),
        server.cert().to_string(),
        "--key-file".to_string(),
        server.key().to_string(),
        "--trusted-ca-file".to_string(),
        ca_file.clone(),
        "--client-cert-auth".to_string(),
    ];
    let client = common_client_args(&dir);
    let start = |binary: &Path, tag: &str| {
        Server::start_with(binary, &format!("tls-{tag}"), "https", &extra, &client)
    };
    common::compare_with(TLS_CASES, &start, |text| text.to_string());
}

/// Removes the certificates' directory, also when the comparison fails.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `wait_ready`'s etcdctl needs to reach the TLS servers.
fn common_client_args(dir: &Path) -> Vec<String> {
    let file = |name: &str| dir.join(name).display().to_string();
    vec![
        "--cacert".to_string(),
        file("ca.pem"),
        "--cert".to_string(),
        file("client.pem"),
        "--key".to_string(),
        file("client-key.pem"),
    ]
}
