//! curl against two servers side by side, for the HTTP/JSON gateway's
//! differential test (`gateway_differential.rs`): run a request on both,
//! mask what legitimately differs, list every difference.
//!
//! ```text
//!   Diff::post ──curl──▶ etcd  ─┐
//!              ──curl──▶ cairn ─┴─▶ mask ─▶ equal? else a failure line
//! ```

use std::process::Command;

pub const CURL: &str = "/usr/bin/curl";

/// The trailer etcd's gateway writes after a gRPC error, as curl -i shows it.
const GO_TRAILER: &str = "Grpc-Trailer-Content-Type: application/grpc\r\n";

/// IDs and values that differ between two servers for good reasons.
const ALWAYS_MASKED: &[&str] = &["cluster_id", "member_id", "raft_term", "token"];

/// One answer as curl saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// The headers that matter to a gateway client, lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A server under test: its base URL and curl's TLS arguments.
pub struct Target {
    pub base: String,
    pub tls: Vec<String>,
    pub token: Option<String>,
}

impl Target {
    pub fn curl(&self, path: &str, body: Option<&str>, extra: &[&str]) -> Reply {
        let mut command = Command::new(CURL);
        command
            .args(["-s", "-S", "-i", "--max-time", "10"])
            .args(&self.tls)
            .args(extra);
        if let Some(token) = &self.token {
            command.args(["-H", &format!("Authorization: {token}")]);
        }
        if let Some(body) = body {
            command.args(["-X", "POST", "-d", body]);
        }
        let output = command
            .arg(format!("{}{path}", self.base))
            .output()
            .expect("run curl");
        let reply = parse(&String::from_utf8_lossy(&output.stdout));
        if reply.status == 0 {
            eprintln!(
                "curl {path} on {}: {} {}",
                self.base,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        reply
    }
}

/// curl -i output: status line, headers, blank line, body.
pub fn parse(text: &str) -> Reply {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let kept = [
        "content-type",
        "grpc-metadata-content-type",
        "access-control-allow-origin",
        "location",
        "x-content-type-options",
    ];
    let mut headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .filter(|(name, _)| kept.contains(&name.as_str()))
        .collect();
    headers.sort();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `text` with the values of `keys` replaced by `"*"`, and every loopback
/// port by `PORT`.
pub fn mask(text: &str, keys: &[&str]) -> String {
    let mut out = text.to_string();
    for key in ALWAYS_MASKED.iter().chain(keys) {
        let needle = format!("\"{key}\":");
        let mut from = 0;
        while let Some(found) = out[from..].find(&needle) {
            let start = from + found + needle.len();
            let rest = &out[start..];
            let length = if let Some(inner) = rest.strip_prefix('"') {
                inner.find('"').map_or(rest.len(), |end| end + 2)
            } else {
                rest.find([',', '}', ']']).unwrap_or(rest.len())
            };
            out.replace_range(start..start + length, "\"*\"");
            from = start + 3;
        }
    }
    let mut masked = String::new();
    let mut rest = out.as_str();
    while let Some(at) = rest.find("127.0.0.1:") {
        masked.push_str(&rest[..at + 10]);
        rest = rest[at + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
        masked.push_str("PORT");
    }
    masked.push_str(rest);
    masked
}

/// Collects the differences of a run.
#[derive(Default)]
pub struct Diff {
    pub failures: Vec<String>,
    pub show: bool,
}

impl Diff {
    pub fn compare(&mut self, name: &str, etcd: &Reply, cairn: &Reply, keys: &[&str]) {
        let masked = |reply: &Reply| Reply {
            body: mask(&reply.body, keys),
            ..reply.clone()
        };
        let (mut want, got) = (masked(etcd), masked(cairn));
        // Known difference: after a gRPC error etcd's gateway sends the
        // HTTP/1.1 trailer `Grpc-Trailer-Content-Type`; hyper sends
        // trailers only to clients that announce `TE: trailers`, which
        // curl does not, so cairn's answer has none.
        if let Some(body) = want.body.strip_suffix(GO_TRAILER) {
            want.body = body.to_string();
        }
        if self.show {
            eprintln!("== {name}\n etcd:  {want:?}\n cairn: {got:?}");
        }
        if want != got {
            self.failures.push(format!(
                "{name}:\n  etcd:  {want:?}\n  cairn: {got:?}\n  raw etcd:  {}\n  raw cairn: {}",
                etcd.body, cairn.body
            ));
        }
    }

    /// One POST against both.
    pub fn post(
        &mut self,
        targets: &[Target; 2],
        name: &str,
        path: &str,
        body: &str,
        keys: &[&str],
    ) {
        let etcd = targets[0].curl(path, Some(body), &[]);
        let cairn = targets[1].curl(path, Some(body), &[]);
        self.compare(name, &etcd, &cairn, keys);
    }

    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} differences:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

pub fn show() -> bool {
    std::env::var("CAIRN_GATEWAY_DIFF_SHOW").is_ok_and(|v| v == "1")
}

pub fn available(test: &str) -> bool {
    super::etcd::etcd_available(test) && super::tools_available(test, &[CURL], "curl")
}
