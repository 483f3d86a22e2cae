//! What cairnctl shows on a terminal only: hints, after etcdctl's `Error:`
//! line, saying what to do (the unreachable endpoint and its dial error;
//! the user and key a permission error is about), and progress bars
//! (defrag). Piped, the output is etcdctl's alone (the differential tests
//! compare it byte for byte).
//!
//! The terminal is util-linux's `script`, which runs the command on a
//! pseudo-terminal.

#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;

use common::{Server, CAIRNCTL, ETCDCTL};

/// stdout+stderr of `args` run on a pseudo-terminal.
fn on_terminal(args: &[&str]) -> String {
    let line = std::iter::once(CAIRNCTL)
        .chain(args.iter().copied())
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .output()
        .expect("run script (util-linux)");
    String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n")
}

fn piped(args: &[&str]) -> String {
    let output = Command::new(CAIRNCTL)
        .args(args)
        .output()
        .expect("run cairnctl");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn an_unreachable_endpoint_is_named_on_a_terminal_only() {
    let args = [
        "--endpoints",
        "127.0.0.1:1",
        "--dial-timeout",
        "1s",
        "get",
        "k",
    ];
    let terminal = on_terminal(&args);
    assert!(
        terminal.contains("Error: context deadline exceeded\n"),
        "{terminal}"
    );
    assert!(
        terminal.contains("hint: no endpoint could be reached: cannot dial http://127.0.0.1:1:"),
        "{terminal}"
    );
    assert!(terminal.contains("Connection refused"), "{terminal}");
    let piped = piped(&args);
    assert!(
        piped.ends_with("Error: context deadline exceeded\n"),
        "{piped}"
    );
    assert!(!piped.contains("hint:"), "{piped}");
}

#[test]
fn a_permission_error_names_the_user_and_the_key() {
    if !common::available() {
        return;
    }
    let cairn = Server::start(&common::cairn_binary(), "hints");
    cairn.wait_ready();
    let endpoint = format!("127.0.0.1:{}", cairn.port);
    for setup in [
        "user add root:rootpw",
        "user grant-role root root",
        "user add alice:alicepw",
        "auth enable",
    ] {
        let status = Command::new(ETCDCTL)
            .args(["--endpoints", &endpoint, "--user", "root:rootpw"])
            .args(setup.split(' '))
            .output()
            .expect("etcdctl");
        assert!(status.status.success(), "{setup}: {status:?}");
    }
    let args = [
        "--endpoints",
        &endpoint,
        "--user",
        "alice:alicepw",
        "put",
        "secret",
        "v",
    ];
    let terminal = on_terminal(&args);
    assert!(
        terminal.contains("Error: etcdserver: permission denied\n"),
        "{terminal}"
    );
    assert!(
        terminal.contains("hint: user \"alice\" may not run `put` on key \"secret\""),
        "{terminal}"
    );
    assert!(!piped(&args).contains("hint:"));
    drop(cairn);
}

#[test]
fn defrag_and_check_draw_progress_on_a_terminal_only() {
    if !common::available() {
        return;
    }
    let cairn = Server::start(&common::cairn_binary(), "progress");
    cairn.wait_ready();
    let endpoint = format!("127.0.0.1:{}", cairn.port);
    let defrag = ["--endpoints", &endpoint, "defrag"];
    let terminal = on_terminal(&defrag);
    assert!(terminal.contains("defragmenting ["), "{terminal}");
    assert!(
        terminal.contains("Finished defragmenting etcd member["),
        "{terminal}"
    );
    let output = Command::new(CAIRNCTL)
        .args(defrag)
        .output()
        .expect("cairnctl");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("Finished defragmenting etcd member[{endpoint}]\n")
    );
    assert!(output.stderr.is_empty(), "{output:?}");
}
