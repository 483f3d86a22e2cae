//! `ETCDCTL_API=2 cairnctl` against `ETCDCTL_API=2 etcdctl` 3.4.23: the
//! three-sided comparison of differential.rs (etcdctl→etcd,
//! cairnctl→etcd, cairnctl→cairn), servers started with `--enable-v2`,
//! endpoints given as `http://` URLs, v2 indexes masked (common/v2.rs).
//! Every etcdctl command of docs' reference/v2-usage.md is here, with each
//! output format, the error answers, help texts, and watches in the
//! background (`&` starts a line, `!` stops it and compares).
//!
//! ```text
//!   case: (command line, stdin, env with ETCDCTL_API=2) ─▶ three runs
//!         ─▶ masked outcomes equal
//! ```

#![allow(clippy::disallowed_methods)]

mod common;

use common::v2::{compare_v2, compare_v2_tls, V2};
use common::Case;

/// `ETCDCTL_API=2` and the endpoints in `ETCDCTL_ENDPOINTS`.
const V2_ENV_ENDPOINTS: &[(&str, &str)] = &[("ETCDCTL_API", "2"), ("ETCDCTL_ENDPOINTS", "{EP}")];
/// `ETCDCTL_API=2` and the root user's credentials in `ETCDCTL_USERNAME`.
const V2_ENV_ROOT: &[(&str, &str)] = &[("ETCDCTL_API", "2"), ("ETCDCTL_USERNAME", "root:rootpw")];

/// Help, usage errors and the version: no server needed, but run anyway.
const HELP: &[Case] = &[
    ("--help", None, V2),
    ("-h", None, V2),
    ("--version", None, V2),
    ("help", None, V2),
    ("help get", None, V2),
    ("h member", None, V2),
    ("help frob", None, V2),
    ("frob", None, V2),
    ("member", None, V2),
    ("member -h", None, V2),
    ("member help", None, V2),
    ("member help list", None, V2),
    ("member frob", None, V2),
    ("member --bogus", None, V2),
    ("user", None, V2),
    ("role -h", None, V2),
    ("auth", None, V2),
    ("auth enable -h", None, V2),
    ("member list -h", None, V2),
    ("user grant -h", None, V2),
    ("role grant --help", None, V2),
    ("get -h", None, V2),
    ("set --help", None, V2),
    ("mk -h", None, V2),
    ("mkdir -h", None, V2),
    ("rm -h", None, V2),
    ("rmdir -h", None, V2),
    ("ls -h", None, V2),
    ("setdir -h", None, V2),
    ("update -h", None, V2),
    ("updatedir -h", None, V2),
    ("watch -h", None, V2),
    ("exec-watch -h", None, V2),
    ("cluster-health -h", None, V2),
    ("backup -h", None, V2),
    ("backup --bogus", None, V2),
    ("--bogus get /a", None, V2),
    ("get /a --bogus", None, V2),
    ("get --bogus /a", None, V2),
    ("set --ttl x /a b", None, V2),
    ("set --ttl 99999999999999999999 /a b", None, V2),
    ("--timeout 1x get /a", None, V2),
    ("--no-sync=maybe get /a", None, V2),
    // etcdctl 3.4.23's v2 has no --password (only -u user:password).
    ("--password x get /a", None, V2),
    ("-o", None, V2),
    ("ls --sort=2 /", None, V2),
    // endpoints and TLS files that cannot be used
    ("--endpoints http://127.0.0.1:1 get /a", None, V2),
    ("--endpoints http://127.0.0.1:1 --no-sync get /a", None, V2),
    ("--endpoints http://127.0.0.1:1 cluster-health", None, V2),
    ("--endpoints http://127.0.0.1:1 member list", None, V2),
    ("--endpoints 127.0.0.1:1 get /a", None, V2),
    ("--endpoints localhost:1 ls", None, V2),
    ("--ca-file /nonexistent get /a", None, V2),
    ("--cert-file /nonexistent get /a", None, V2),
    (
        "--key-file /nonexistent --cert-file /etc/hostname get /a",
        None,
        V2,
    ),
    (
        "get /a",
        None,
        &[("ETCDCTL_API", "2"), ("ETCDCTL_CA_FILE", "/nonexistent")],
    ),
    ("get /a", None, &[("ETCDCTL_API", "7")]),
];

/// The commands of v2-usage.md in its order, with their error answers.
const GUIDE: &[Case] = &[
    ("mkdir /dir", None, V2),
    ("set /dir/k v", None, V2),
    ("ls", None, V2),
    ("ls /", None, V2),
    ("ls --recursive /", None, V2),
    ("ls -p -r /", None, V2),
    ("-o json ls /", None, V2),
    ("rm --recursive /dir", None, V2),
    ("set /message hello,\u{1}etcd", None, V2),
    ("get /message", None, V2),
    ("-o extended get /message", None, V2),
    ("-o json get /message", None, V2),
    ("get /notexist", None, V2),
    ("-o json get /notexist", None, V2),
    ("set /tempkey gone\u{1}with\u{1}wind --ttl 5", None, V2),
    ("-o json get /tempkey", None, V2),
    ("set --swap-with-value hello,\u{1}world /message goodbye,\u{1}etcd", None, V2),
    ("set --swap-with-value hello,\u{1}etcd /message goodbye,\u{1}etcd", None, V2),
    ("set --swap-with-index 1 /message x", None, V2),
    ("mk /foo bar", None, V2),
    ("mk /foo bar", None, V2),
    ("mk --in-order /queue job1", None, V2),
    ("mk --in-order /queue job2", None, V2),
    ("ls --sort /queue", None, V2),
    ("-o json ls --sort /queue", None, V2),
    ("-o extended mk --in-order /queue job3", None, V2),
    ("update /message I'am\u{1}changed", None, V2),
    ("update /notexist I'am\u{1}changed", None, V2),
    ("-o extended update /message again", None, V2),
    ("rm /foo", None, V2),
    ("mk /foo bar", None, V2),
    ("rm --with-value wrong /foo", None, V2),
    ("rm --with-index 1 /foo", None, V2),
    ("rm --with-value bar /foo", None, V2),
    ("rm /foo", None, V2),
    ("mkdir /dir", None, V2),
    ("mkdir /dir", None, V2),
    ("mkdir /dir/subdir/", None, V2),
    ("rmdir /dir/subdir/", None, V2),
    ("set /dir/k v", None, V2),
    ("rmdir /dir", None, V2),
    ("rm /dir", None, V2),
    ("rm --dir /dir", None, V2),
    ("get /dir", None, V2),
    ("set /dir/k/sub v", None, V2),
    ("-o extended rm --recursive /dir", None, V2),
    ("-o json mkdir /d2", None, V2),
    ("-o extended setdir /d2", None, V2),
    ("setdir /d3", None, V2),
    ("updatedir /d3", None, V2),
    ("-o json updatedir /d3", None, V2),
    ("updatedir /nodir", None, V2),
    ("setdir /message", None, V2),
    ("-o json rm --dir /d2", None, V2),
    ("rmdir /d3", None, V2),
    ("-o json rm /message", None, V2),
    ("set /message v", None, V2),
    ("set /message/sub x", None, V2),
    ("set --ttl abc /a b", None, V2),
    ("mkdir --ttl -1 /ttldir", None, V2),
    ("-o bogus get /message", None, V2),
    ("set /fromstdin", Some("piped value\n"), V2),
    ("get /fromstdin", None, V2),
    ("set /nostdin", Some(""), V2),
    ("get", None, V2),
    ("rm", None, V2),
    ("ls /message", None, V2),
    ("ls /notexist", None, V2),
    ("get --quorum /message", None, V2),
    ("get --sort -q /message", None, V2),
    ("set -- /dash -value", None, V2),
    ("get /dash", None, V2),
    ("--no-sync get /message", None, V2),
    ("--endpoint {EP} get /message", None, V2),
    ("--peers {EP} get /message", None, V2),
    ("-C {EP} get /message", None, V2),
    ("get /message {EP}", None, V2_ENV_ENDPOINTS),
    ("--debug get /message", None, V2),
    ("--debug --no-sync set /debug a\u{1}b", None, V2),
    ("--total-timeout 3s --timeout 1s get /message", None, V2),
    // watches in the background
    ("&watch /message", None, V2),
    ("set /message w1", None, V2),
    ("!", None, V2),
    ("&watch --recursive /", None, V2),
    ("set /message w2", None, V2),
    ("!", None, V2),
    ("&watch --forever /message", None, V2),
    ("set /message w3", None, V2),
    ("set /message w4", None, V2),
    ("rm /message", None, V2),
    ("!", None, V2),
    ("&-o json watch -f -r /wd", None, V2),
    ("mkdir /wd/sub", None, V2),
    ("set /wd/sub/k v1", None, V2),
    ("!", None, V2),
    ("&-o extended watch /wd/sub/k", None, V2),
    ("update /wd/sub/k v2", None, V2),
    ("!", None, V2),
    ("&exec-watch --recursive / -- sh -c echo\u{1}change\u{1}detected.", None, V2),
    ("set /message x1", None, V2),
    ("!", None, V2),
    ("&exec-watch /message -- sh -c echo\u{1}$ETCD_WATCH_ACTION\u{1}$ETCD_WATCH_KEY=$ETCD_WATCH_VALUE\u{1}$ETCD_WATCH_MODIFIED_INDEX\u{1}${ETCDCTL_API:-unset}", None, V2),
    ("set /message x2", None, V2),
    ("!", None, V2),
    ("&exec-watch -r /wd -- sh -c echo\u{1}$ETCD_WATCH_KEY", None, V2),
    ("mkdir /wd/other", None, V2),
    ("set /wd/other/k v", None, V2),
    ("!", None, V2),
    ("watch", None, V2),
    ("exec-watch /message", None, V2),
    ("watch --after-index 1 /message", None, V2),
    // the cluster
    ("cluster-health", None, V2),
    ("cluster-health x", None, V2),
    ("member list", None, V2),
    ("member list x", None, V2),
    ("member add m2", None, V2),
    ("member add m2 foo", None, V2),
    ("member add m2 http://host", None, V2),
    ("member remove", None, V2),
    ("member remove 1234", None, V2),
    ("member remove m1", None, V2),
    ("member update 1234", None, V2),
    ("member update 1234 foo", None, V2),
];

/// Users, roles and auth (v2 auth), then a member added last (a
/// one-member cluster with an unstarted second member loses its quorum).
const AUTH: &[Case] = &[
    ("user list", None, V2),
    ("--debug user list", None, V2),
    ("user list x", None, V2),
    ("user add", None, V2),
    ("user add root:rootpw", None, V2),
    ("user add root:again", None, V2),
    ("user add bob:bobpw", None, V2),
    ("user add carol", Some("carolpw\n"), V2),
    ("user list", None, V2),
    ("user get bob", None, V2),
    ("user get nobody", None, V2),
    ("role list", None, V2),
    ("role add r1", None, V2),
    ("role add r1", None, V2),
    ("role add r2", None, V2),
    ("role get r1", None, V2),
    ("role get nobody", None, V2),
    ("role grant r1", None, V2),
    ("role grant r1 --path x", None, V2),
    ("role grant r1 --path /x/../y", None, V2),
    ("role grant r1 --path /x", None, V2),
    ("role grant r1 --path /x --read --write", None, V2),
    ("role grant r1 --path /x --read", None, V2),
    ("role grant r1 --path /x --read", None, V2),
    ("role grant r1 --path /y/* --rw", None, V2),
    ("role grant nobody --path /y --write", None, V2),
    ("role get r1", None, V2),
    ("role revoke r1 --path /x --read", None, V2),
    ("role revoke r1 --path /nothere --write", None, V2),
    ("role get r1", None, V2),
    ("role list", None, V2),
    ("user grant bob", None, V2),
    ("user grant bob --roles r1", None, V2),
    ("user grant bob --roles r1 --roles r2", None, V2),
    ("user get bob", None, V2),
    ("user revoke bob --roles r2", None, V2),
    ("user revoke bob --roles nothere", None, V2),
    ("user get bob", None, V2),
    ("user passwd bob", Some("newpw\n"), V2),
    ("auth enable x", None, V2),
    ("auth enable", None, V2),
    ("-u bob:newpw set /y/k v", None, V2),
    ("-u bob:wrong get /y/k", None, V2),
    ("-u bob:newpw user list", None, V2),
    ("user list", None, V2_ENV_ROOT),
    ("-u root get /y/k", Some("rootpw\n"), V2),
    ("role remove r2", None, V2_ENV_ROOT),
    ("user remove carol", None, V2_ENV_ROOT),
    ("auth disable", None, V2),
    ("auth disable", None, V2_ENV_ROOT),
    ("user remove nobody", None, V2),
    ("role remove nobody", None, V2),
    ("user list", None, V2),
    ("member add m2 http://127.0.0.1:1", None, V2),
];

/// One test (the harness names its servers' directories by process, so
/// the three lists run one after the other, each on fresh servers).
#[test]
fn cairnctl_v2_prints_what_etcdctl_v2_prints() {
    compare_v2(HELP);
    compare_v2(GUIDE);
    compare_v2(AUTH);
}

/// The same client over TLS (`https://` endpoints, `--ca-file`, and
/// without it the system's CAs, which do not know the test CA).
#[test]
fn cairnctl_v2_over_tls_prints_what_etcdctl_v2_prints() {
    compare_v2_tls(&[
        "set /t v",
        "get /t",
        "-o json get /t",
        "-o extended get /nothere",
        "ls /",
        "member list",
        "cluster-health",
        "--ca-file= get /t",
        "--no-sync --ca-file= get /t",
        "--ca-file= cluster-health",
    ]);
}

/// `backup` copies an etcd data directory's WAL and snapshots; cairnctl
/// refuses it (docs/cairnctl.md), clearly and with etcdctl's failure code.
#[test]
fn cairnctl_v2_refuses_backup() {
    let output = std::process::Command::new(common::CAIRNCTL)
        .args([
            "backup",
            "--data-dir",
            "/nonexistent",
            "--backup-dir",
            "/tmp/nowhere",
        ])
        .env("ETCDCTL_API", "2")
        .output()
        .expect("run cairnctl");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("does not implement the v2 `backup`"),
        "{stderr}"
    );
}
