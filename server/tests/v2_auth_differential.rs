//! etcd's v2 auth, cairn beside a real etcd 3.4.23 (both with
//! `--enable-v2=true`): one script of curl requests and `ETCDCTL_API=2
//! etcdctl` commands runs against each, and every step must answer alike —
//! HTTP status, the headers that matter, the body byte for byte, etcdctl's
//! stdout, stderr and exit code.
//!
//! Normalised where the two legitimately differ: v2 store indexes (etcd's
//! auth writes take v2 indexes under its hidden `/2`, cairn's take none) in
//! `X-Etcd-Index`, `X-Raft-*`, `modifiedIndex`, `createdIndex`, `index` and
//! etcdctl's `[index]`; the cluster ID's value; `/v2/members`' body.
//!
//! Needs etcd, etcdctl and curl (Debian's `etcd-server`, `etcd-client`,
//! `curl`); without them the test says so and passes, unless
//! `CAIRN_REQUIRE_ETCD=1` (CI).

#![allow(clippy::disallowed_methods)]

mod support;

use std::process::Command;

use support::etcd::{EtcdCluster, ETCD};
use support::{tools_available, Cluster};

const ROOT: &str = "root:pass";
const BOB: &str = "bob:bobpass";

/// One step of the script.
enum Step {
    /// `curl -X method [-u user] [-d body] path`.
    Curl {
        method: &'static str,
        path: &'static str,
        user: Option<&'static str>,
        body: Option<&'static str>,
        /// Compare the status and headers only (the body names members).
        status_only: bool,
    },
    /// `etcdctl [--username user] args...`.
    Ctl {
        user: Option<&'static str>,
        args: &'static [&'static str],
    },
}

fn curl(method: &'static str, path: &'static str) -> Step {
    Step::Curl {
        method,
        path,
        user: None,
        body: None,
        status_only: false,
    }
}

fn curl_as(user: &'static str, method: &'static str, path: &'static str) -> Step {
    Step::Curl {
        method,
        path,
        user: Some(user),
        body: None,
        status_only: false,
    }
}

fn curl_body(
    user: Option<&'static str>,
    method: &'static str,
    path: &'static str,
    body: &'static str,
) -> Step {
    Step::Curl {
        method,
        path,
        user,
        body: Some(body),
        status_only: false,
    }
}

fn ctl(args: &'static [&'static str]) -> Step {
    Step::Ctl { user: None, args }
}

fn ctl_as(user: &'static str, args: &'static [&'static str]) -> Step {
    Step::Ctl {
        user: Some(user),
        args,
    }
}

/// The script: users, roles, grants, auth on, keys with and without
/// credentials, auth off, removals — with etcd's refusals along the way.
fn script() -> Vec<Step> {
    vec![
        // Auth off, nothing stored.
        curl("GET", "/v2/auth/enable"),
        curl("GET", "/v2/auth/users"),
        curl("GET", "/v2/auth/roles"),
        curl("PUT", "/v2/auth/enable"),
        curl("DELETE", "/v2/auth/enable"),
        curl("POST", "/v2/auth/enable"),
        curl("HEAD", "/v2/auth/users"),
        curl("GET", "/v2/auth/other"),
        // Users: etcdctl's `user add name:password`, then etcd's create,
        // create-or-update and update over curl.
        ctl(&["user", "add", ROOT]),
        ctl(&["user", "add", BOB]),
        ctl(&["user", "add", BOB]),
        curl_body(
            None,
            "PUT",
            "/v2/auth/users/carl",
            r#"{"user":"carl","password":"x","roles":["z","a","a"]}"#,
        ),
        curl("GET", "/v2/auth/users/carl"),
        curl_body(
            None,
            "PUT",
            "/v2/auth/users/dave",
            r#"{"user":"dave","password":"d"}"#,
        ),
        curl_body(None, "PUT", "/v2/auth/users/dave", r#"{"user":"dave"}"#),
        curl_body(None, "PUT", "/v2/auth/users/dave", r#"{"user":"dave"}"#),
        curl_body(None, "PUT", "/v2/auth/users/erin", r#"{"User":"erin"}"#),
        curl_body(None, "PUT", "/v2/auth/users/dave", "nope"),
        curl_body(None, "PUT", "/v2/auth/users/dave", r#"{"user":"other"}"#),
        curl_body(
            None,
            "PUT",
            "/v2/auth/users/dave",
            r#"{"user":"dave","roles":["a"],"grant":["b"]}"#,
        ),
        curl_body(
            None,
            "PUT",
            "/v2/auth/users/dave",
            r#"{"user":"dave","revoke":["q"]}"#,
        ),
        curl_body(
            None,
            "PUT",
            "/v2/auth/users/nobody",
            r#"{"user":"nobody","grant":["q"]}"#,
        ),
        curl_body(
            None,
            "PUT",
            "/v2/auth/roles/nope",
            r#"{"role":"nope","grant":{"kv":{"read":["/x"]}}}"#,
        ),
        curl("GET", "/v2/auth/users/x/y"),
        curl("GET", "/v2/auth/users/a/../carl"),
        curl("PUT", "/v2/auth/users/"),
        curl("GET", "/v2/auth/users/nobody"),
        curl("PATCH", "/v2/auth/users/dave"),
        curl("DELETE", "/v2/auth/users/dave"),
        curl("DELETE", "/v2/auth/users/dave"),
        // Roles.
        ctl(&["role", "add", "foo-rw"]),
        ctl(&["role", "add", "foo-rw"]),
        ctl(&["role", "grant", "foo-rw", "--path", "/foo/*", "--readwrite"]),
        ctl(&["role", "grant", "foo-rw", "--path", "/bar", "--read"]),
        ctl(&["role", "grant", "nope", "--path", "/bar", "--read"]),
        curl_body(None, "PUT", "/v2/auth/roles/r1", r#"{"role":"r1"}"#),
        curl_body(
            None,
            "PUT",
            "/v2/auth/roles/r1",
            r#"{"role":"r1","grant":{"kv":{"read":["/b","/a*"]}}}"#,
        ),
        curl_body(
            None,
            "PUT",
            "/v2/auth/roles/r1",
            r#"{"role":"r1","grant":{"kv":{"read":["/b"]}}}"#,
        ),
        curl_body(
            None,
            "PUT",
            "/v2/auth/roles/r1",
            r#"{"role":"r1","revoke":{"kv":{"read":["/zzz"]}}}"#,
        ),
        curl_body(
            None,
            "PUT",
            "/v2/auth/roles/r1",
            r#"{"role":"r1","permissions":{"kv":{"read":["/x"]}},"revoke":{"kv":{"read":["/b"]}}}"#,
        ),
        curl_body(
            None,
            "PUT",
            "/v2/auth/roles/r2",
            r#"{"role":"r2","permissions":{"kv":{"write":["/w"]}},"grant":{}}"#,
        ),
        curl_body(None, "PUT", "/v2/auth/roles/root", r#"{"role":"root"}"#),
        curl("DELETE", "/v2/auth/roles/root"),
        curl("DELETE", "/v2/auth/roles/r2"),
        curl("DELETE", "/v2/auth/roles/r2"),
        curl("GET", "/v2/auth/roles/r2"),
        curl_body(
            None,
            "PUT",
            "/v2/auth/roles/_hidden",
            r#"{"role":"_hidden"}"#,
        ),
        curl("GET", "/v2/auth/roles/"),
        curl("GET", "/v2/auth/roles/_hidden"),
        curl("DELETE", "/v2/auth/roles/_hidden"),
        ctl(&["role", "get", "foo-rw"]),
        ctl(&["role", "get", "root"]),
        ctl(&["role", "list"]),
        ctl(&["user", "grant", "bob", "--roles", "foo-rw"]),
        ctl(&["user", "grant", "bob", "--roles", "foo-rw"]),
        ctl(&["user", "revoke", "bob", "--roles", "r1"]),
        ctl(&["user", "get", "bob"]),
        ctl(&["user", "get", "root"]),
        ctl(&["user", "list"]),
        curl("GET", "/v2/auth/users"),
        curl("GET", "/v2/auth/users/bob"),
        // Keys before auth: created and read by anyone.
        curl_body(None, "PUT", "/v2/keys/foo/a?prevExist=false", "value=1"),
        // Auth on.
        ctl(&["auth", "enable"]),
        ctl(&["auth", "enable"]),
        curl("GET", "/v2/auth/enable"),
        curl("GET", "/v2/auth/users"),
        curl_as("root:bad", "GET", "/v2/auth/users"),
        curl_as("nobody:x", "GET", "/v2/auth/users"),
        curl_as(BOB, "GET", "/v2/auth/users"),
        curl_as(ROOT, "GET", "/v2/auth/users"),
        curl_as(ROOT, "GET", "/v2/auth/roles/guest"),
        ctl(&["user", "list"]),
        ctl_as(ROOT, &["user", "list"]),
        // The guest role (created on enable) grants everything...
        curl("GET", "/v2/keys/foo/a"),
        curl_body(None, "PUT", "/v2/keys/open?prevExist=false", "value=o"),
        // (but not the empty key: `/*` does not match "").
        curl("GET", "/v2/keys"),
        // ...until revoked.
        ctl_as(
            ROOT,
            &["role", "revoke", "guest", "--path", "/*", "--readwrite"],
        ),
        curl("GET", "/v2/keys/foo/a"),
        curl_body(None, "PUT", "/v2/keys/foo/a", "value=2"),
        curl_as(BOB, "GET", "/v2/keys/foo/a"),
        curl_as("bob:wrong", "GET", "/v2/keys/foo/a"),
        curl_body(Some(BOB), "PUT", "/v2/keys/foo/a", "value=2"),
        curl_body(
            Some(BOB),
            "PUT",
            "/v2/keys/foo/b?prevExist=false",
            "value=3",
        ),
        // Recursive access needs the glob over the path as given: /foo/*
        // covers /foo/ but not /foo.
        curl_as(BOB, "GET", "/v2/keys/foo?recursive=true"),
        curl_as(BOB, "GET", "/v2/keys/foo/?recursive=true&sorted=true"),
        curl_as(BOB, "GET", "/v2/keys/bar"),
        curl_as(BOB, "DELETE", "/v2/keys/foo/b"),
        curl_body(Some(BOB), "PUT", "/v2/keys/bar", "value=no"),
        curl_body(
            Some(ROOT),
            "PUT",
            "/v2/keys/bar?prevExist=false",
            "value=yes",
        ),
        curl_as(BOB, "GET", "/v2/keys/bar"),
        curl_as(ROOT, "GET", "/v2/keys/?sorted=true"),
        ctl(&["get", "/foo/a"]),
        ctl_as(BOB, &["get", "/foo/a"]),
        ctl_as(BOB, &["set", "/bar", "x"]),
        ctl_as(ROOT, &["set", "/bar", "x"]),
        // Membership: reads for anyone, changes for root.
        Step::Curl {
            method: "GET",
            path: "/v2/members",
            user: None,
            body: None,
            status_only: true,
        },
        curl("DELETE", "/v2/members/1234"),
        curl_as(BOB, "DELETE", "/v2/members/1234"),
        // The root user stays while auth is on; the root role always.
        curl_as(ROOT, "DELETE", "/v2/auth/users/root"),
        ctl_as(ROOT, &["role", "remove", "root"]),
        ctl_as(ROOT, &["role", "remove", "foo-rw"]),
        curl_as(BOB, "GET", "/v2/keys/foo/a"),
        ctl_as(ROOT, &["user", "get", "bob"]),
        curl_as(ROOT, "GET", "/v2/auth/users"),
        ctl(&["auth", "disable"]),
        ctl_as(ROOT, &["auth", "disable"]),
        ctl(&["auth", "disable"]),
        // Auth off again: anyone reads.
        curl("GET", "/v2/keys/foo/a"),
        ctl(&["user", "remove", "bob"]),
        ctl(&["user", "remove", "bob"]),
        ctl(&["user", "remove", "root"]),
        ctl(&["role", "remove", "r1"]),
        ctl(&["user", "list"]),
        ctl(&["role", "list"]),
        curl("GET", "/v2/auth/users"),
    ]
}

/// Replaces the digits after each `marker` with `N`.
fn mask_after(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let end = at + marker.len();
        out.push_str(&rest[..end]);
        rest = &rest[end..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push('N');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// A body or output with v2 indexes masked.
fn mask_indexes(text: &str) -> String {
    ["\"modifiedIndex\":", "\"createdIndex\":", "\"index\":", "["]
        .iter()
        .fold(text.to_string(), |text, marker| mask_after(&text, marker))
}

/// What a curl step answered, normalised: status line, kept headers
/// (sorted, lower-case), body.
fn run_curl(
    endpoint: &str,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: Option<&str>,
    status_only: bool,
) -> String {
    let mut command = Command::new("curl");
    command.args(["-s", "-i", "--max-time", "10"]);
    if method == "HEAD" {
        command.arg("-I");
    } else {
        command.args(["-X", method]);
    }
    if let Some(user) = user {
        command.args(["-u", user]);
    }
    if let Some(body) = body {
        command.args(["--data-binary", body]);
    }
    command.arg(format!("{endpoint}{path}"));
    let output = command.output().expect("curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_string();
    let mut headers: Vec<String> = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            match name.as_str() {
                "content-type"
                | "allow"
                | "www-authenticate"
                | "x-content-type-options"
                | "location" => Some(format!("{name}: {value}")),
                "x-etcd-cluster-id" | "x-etcd-index" | "x-raft-index" | "x-raft-term" => {
                    Some(format!("{name}: N"))
                }
                _ => None,
            }
        })
        .collect();
    headers.sort();
    let body = if status_only {
        String::new()
    } else {
        mask_indexes(body)
    };
    format!("{status}\n{}\n{body}", headers.join("\n"))
}

/// What an etcdctl step answered: exit code, stdout, stderr.
fn run_ctl(endpoint: &str, user: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new("etcdctl");
    command.env("ETCDCTL_API", "2");
    command.args(["--endpoints", endpoint]);
    if let Some(user) = user {
        command.args(["--username", user]);
    }
    let output = command.args(args).output().expect("etcdctl");
    format!(
        "exit {}\nstdout: {}\nstderr: {}",
        output.status.code().unwrap_or(-1),
        mask_indexes(&String::from_utf8_lossy(&output.stdout)),
        mask_indexes(&String::from_utf8_lossy(&output.stderr)),
    )
}

fn describe(step: &Step) -> String {
    match step {
        Step::Curl {
            method,
            path,
            user,
            body,
            ..
        } => format!(
            "curl -X {method}{} {path}{}",
            user.map(|u| format!(" -u {u}")).unwrap_or_default(),
            body.map(|b| format!(" -d '{b}'")).unwrap_or_default()
        ),
        Step::Ctl { user, args } => format!(
            "etcdctl{} {}",
            user.map(|u| format!(" --username {u}")).unwrap_or_default(),
            args.join(" ")
        ),
    }
}

/// Every step's normalised answer from the server at `endpoint`.
fn transcript(endpoint: &str) -> Vec<String> {
    script()
        .iter()
        .map(|step| match step {
            Step::Curl {
                method,
                path,
                user,
                body,
                status_only,
            } => run_curl(endpoint, method, path, *user, *body, *status_only),
            Step::Ctl { user, args } => run_ctl(endpoint, *user, args),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_auth_answers_as_etcd_does() {
    let test = "v2_auth_answers_as_etcd_does";
    if !tools_available(
        test,
        &[ETCD, "/usr/bin/etcdctl", "/usr/bin/curl"],
        "etcd-server etcd-client curl",
    ) {
        return;
    }
    let flags = ["--enable-v2=true"];
    let (etcd, cairn) = tokio::join!(
        EtcdCluster::start("v2auth", 1, &flags),
        Cluster::start_with("v2auth", 1, &flags),
    );
    let etcd_endpoint = etcd.members[0].endpoint();
    let cairn_endpoint = cairn.members[0].endpoint();
    // Both scripts at once, each in its own order.
    let etcd_run = std::thread::spawn(move || transcript(&etcd_endpoint));
    let cairn_transcript = transcript(&cairn_endpoint);
    let etcd_transcript = etcd_run.join().expect("etcd's script");
    let mut differences = Vec::new();
    for ((step, want), got) in script().iter().zip(&etcd_transcript).zip(&cairn_transcript) {
        if want != got {
            differences.push(format!(
                "{}\n--- etcd\n{want}\n--- cairn\n{got}\n",
                describe(step)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} steps differ:\n\n{}",
        differences.len(),
        etcd_transcript.len(),
        differences.join("\n")
    );
}
