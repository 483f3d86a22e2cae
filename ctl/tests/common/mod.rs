//! The differential harness shared by the ctl tests: real etcd and cairn
//! servers on free ports, a client run on each side, output masking.
//!
//! ```text
//!   compare(cases): etcdctl→etcd A  ==  cairnctl→etcd B  ==  cairnctl→cairn C
//! ```

#![allow(clippy::disallowed_methods, dead_code)]

pub mod cluster;
pub mod snapshot;
pub mod v2;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ETCD: &str = "/usr/bin/etcd";
pub const ETCDCTL: &str = "/usr/bin/etcdctl";
pub const CAIRNCTL: &str = env!("CARGO_BIN_EXE_cairnctl");

#[path = "../../../server/tests/support/ports.rs"]
mod ports;

/// A free port for a server: the server tests' rule (below Linux's
/// ephemeral range, where no outgoing connection can take it between the
/// check and the server's bind; `CAIRN_TEST_PORTS=first-last` confines it).
pub use ports::free_port;

pub fn cairn_binary() -> PathBuf {
    Path::new(CAIRNCTL)
        .parent()
        .map(|dir| dir.join("cairn"))
        .unwrap_or_default()
}

/// Whether etcd, etcdctl and the cairn binary are here.
pub fn available() -> bool {
    let required = std::env::var("CAIRN_REQUIRE_ETCD").is_ok_and(|v| v != "0" && !v.is_empty());
    let cairn = cairn_binary();
    let missing: Vec<String> = [Path::new(ETCD), Path::new(ETCDCTL), cairn.as_path()]
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        assert!(
            !required,
            "CAIRN_REQUIRE_ETCD is set but {missing:?} missing (apt-get install etcd-server \
             etcd-client; cargo build -p cairn-server --bin cairn)"
        );
        eprintln!("SKIPPED ctl differential: {missing:?} not found");
    }
    missing.is_empty()
}

/// A server process (etcd or cairn), killed and its directory removed when
/// dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub peer: u16,
    dir: PathBuf,
    /// Flags a client needs to reach it (TLS files).
    client_args: Vec<String>,
}

impl Server {
    pub fn start(binary: &Path, tag: &str) -> Server {
        Server::start_with(binary, tag, "http", &[], &[])
    }

    /// [`Server::start`] with more flags (`--enable-v2`); a server given
    /// `--cert-file` serves its clients over TLS (`https://`).
    pub fn start_flags(binary: &Path, tag: &str, extra: &[&str]) -> Server {
        let scheme = if extra.contains(&"--cert-file") {
            "https"
        } else {
            "http"
        };
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Server::start_with(binary, tag, scheme, &extra, &[])
    }

    /// A server whose client URL has `scheme`, started with `extra` flags
    /// (TLS files); `client_args` are what a client needs to reach it.
    pub fn start_with(
        binary: &Path,
        tag: &str,
        scheme: &str,
        extra: &[String],
        client_args: &[String],
    ) -> Server {
        let (port, peer) = (free_port(), free_port());
        let cluster = format!("m1=http://127.0.0.1:{peer}");
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let mut server =
            Server::start_member_with(binary, tag, "m1", (port, peer), &cluster, scheme, &extra);
        server.client_args = client_args.to_vec();
        server
    }

    /// Member `name` of the cluster `initial_cluster` (`name=peer-url,...`)
    /// on ports `(client, peer)`, with `extra` flags.
    pub fn start_member(
        binary: &Path,
        tag: &str,
        name: &str,
        ports: (u16, u16),
        initial_cluster: &str,
        extra: &[&str],
    ) -> Server {
        Server::start_member_with(binary, tag, name, ports, initial_cluster, "http", extra)
    }

    fn start_member_with(
        binary: &Path,
        tag: &str,
        name: &str,
        (port, peer): (u16, u16),
        initial_cluster: &str,
        scheme: &str,
        extra: &[&str],
    ) -> Server {
        let dir = std::env::temp_dir().join(format!("cairnctl-diff-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let client = format!("{scheme}://127.0.0.1:{port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.join("log")).expect("log");
        let child = Command::new(binary)
            .args(["--name", name, "--data-dir"])
            .arg(dir.join("data"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", initial_cluster])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn server");
        Server {
            child,
            port,
            peer,
            dir,
            client_args: Vec::new(),
        }
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ok = Command::new(ETCDCTL)
                .args(["--endpoints", &format!("127.0.0.1:{}", self.port)])
                .args(&self.client_args)
                .args(["--command-timeout", "1s", "get", "ready-probe"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server on port {} never became ready", self.port);
    }
}

impl Server {
    /// Kills the process; its directory stays until the server is dropped.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last `lines` lines of what the server logged.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The member's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one command printed.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// One side of the comparison: a client binary and the server it talks to.
pub struct Side<'a> {
    pub name: &'static str,
    pub binary: &'a str,
    pub server: &'a Server,
    /// The lease granted last, substituted for `{LEASE}`.
    pub lease: String,
    /// A command started with `&` in front of its line.
    pub background: Option<Background>,
    /// Masking of its own after [`Side::mask`] (v2's indexes).
    pub extra_mask: fn(&str) -> String,
}

impl Side<'_> {
    pub fn run(&mut self, line: &str, stdin: Option<&str>, env: &[(&str, &str)]) -> Outcome {
        let mut child = self.spawn(line, env);
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.unwrap_or("").as_bytes());
        }
        self.collect(line, child)
    }

    /// Starts `line` in the background (a watch, a keep-alive): its stdin
    /// gets `stdin` and stays open until [`Side::stop`].
    pub fn start_background(&mut self, line: &str, stdin: Option<&str>, env: &[(&str, &str)]) {
        let mut child = self.spawn(line, env);
        if let (Some(input), Some(text)) = (child.stdin.as_mut(), stdin) {
            let _ = input.write_all(text.as_bytes());
            let _ = input.flush();
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(read_into(pipe, stdout.clone()));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(read_into(pipe, stderr.clone()));
        }
        self.background = Some(Background {
            line: line.to_string(),
            child,
            stdout,
            stderr,
            readers,
        });
    }

    /// Stops the background command (if it still runs): what it printed.
    /// The reference (`expected` none) is stopped once its output has been
    /// quiet for half a second; another side once it has printed what the
    /// reference printed, or after 5 s: a loaded machine delays output,
    /// it does not change it.
    pub fn stop(&mut self, expected: Option<&Outcome>) -> Option<Outcome> {
        let background = self.background.as_ref()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let sizes = || {
            (
                background.stdout.lock().map_or(0, |b| b.len()),
                background.stderr.lock().map_or(0, |b| b.len()),
            )
        };
        let (mut last, mut quiet_since) = (sizes(), Instant::now());
        while Instant::now() < deadline {
            match expected {
                None => {
                    let now = sizes();
                    if now != last {
                        (last, quiet_since) = (now, Instant::now());
                    } else if quiet_since.elapsed() >= Duration::from_millis(500) {
                        break;
                    }
                }
                Some(expected) => {
                    let stdout = background
                        .stdout
                        .lock()
                        .map(|b| b.clone())
                        .unwrap_or_default();
                    let stderr = background
                        .stderr
                        .lock()
                        .map(|b| b.clone())
                        .unwrap_or_default();
                    let now = self.render(&background.line, &stdout, &stderr, expected.code);
                    if now.stdout == expected.stdout && now.stderr == expected.stderr {
                        break;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut background = self.background.take()?;
        let _ = background.child.kill();
        let code = background
            .child
            .wait()
            .ok()
            .and_then(|status| status.code())
            .unwrap_or(-1);
        for reader in background.readers.drain(..) {
            let _ = reader.join();
        }
        let stdout = background
            .stdout
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default();
        let stderr = background
            .stderr
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default();
        Some(self.render(&background.line, &stdout, &stderr, code))
    }

    fn spawn(&mut self, line: &str, env: &[(&str, &str)]) -> Child {
        // ETCDCTL_API=2 in the case's env: v2 wants endpoints as URLs.
        let v2 = env.iter().any(|(k, v)| *k == "ETCDCTL_API" && *v == "2");
        let scheme = if v2 { "http://" } else { "" };
        let endpoint = format!("{scheme}127.0.0.1:{}", self.server.port);
        let mut args = Vec::new();
        for word in line.split_whitespace() {
            args.push(
                word.replace("{EP}", &endpoint)
                    .replace("{LEASE}", &self.lease)
                    .replace("{TMP}", &scratch_dir().display().to_string())
                    .replace('\u{1}', " "),
            );
        }
        let mut command = Command::new(self.binary);
        if !line.contains("{EP}") {
            command.args(["--endpoints", &endpoint]);
        }
        command
            .args(&args)
            .env_remove("ETCDCTL_API")
            .envs(env.iter().map(|(k, v)| {
                let scratch = scratch_dir().display().to_string();
                (*k, v.replace("{EP}", &endpoint).replace("{TMP}", &scratch))
            }))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn client")
    }

    fn collect(&mut self, line: &str, child: Child) -> Outcome {
        let output = child.wait_with_output().expect("client output");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if let Some(rest) = stdout.strip_prefix("lease ") {
            if let Some((id, _)) = rest.split_once(" granted") {
                self.lease = id.to_string();
            }
        }
        let code = output.status.code().unwrap_or(-1);
        self.render(line, &output.stdout, &output.stderr, code)
    }

    /// What a command printed, masked for comparison.
    fn render(&self, line: &str, stdout: &[u8], stderr: &[u8], code: i32) -> Outcome {
        let mut raw: &[u8] = stdout;
        // -w protobuf: the response header (field 1) holds the cluster's
        // and member's IDs; compare what follows it.
        if line.contains("protobuf") && raw.len() > 1 && raw[0] == 0x0a {
            raw = &raw[(2 + raw[1] as usize).min(raw.len())..];
        }
        let stdout = String::from_utf8_lossy(raw).into_owned();
        Outcome {
            stdout: (self.extra_mask)(&self.mask(&stdout)),
            stderr: (self.extra_mask)(&self.mask(&String::from_utf8_lossy(stderr))),
            code,
        }
    }

    /// Hides what differs between servers and runs: ports, IDs (16 hex
    /// digits, 10+ decimal digits), raft terms, times, client ids.
    pub fn mask(&self, text: &str) -> String {
        let text = replace_number(text, self.server.port, "PORT");
        let text = replace_number(&text, self.server.peer, "PEER");
        mask_lines(&text)
    }
}

/// What [`Side::mask`] hides once ports are replaced: IDs, raft terms,
/// times, client ids (table padding squeezed, as it follows IDs' widths).
pub fn mask_lines(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let line = mask_after(line, "\"ts\":\"", '"');
        let line = mask_after(&line, "endpoint://client-", '/');
        let line = mask_after(&line, "\"raft_term\":", ',');
        let line = mask_after(&line, "\"RaftTerm\" : ", '\n');
        let line = mask_after(&line, "took = ", '\n');
        let line =
            if line.len() > 27 && line.as_bytes().get(4) == Some(&b'-') && line.contains(" | ") {
                format!("TIME{}", &line[26..])
            } else {
                line
            };
        let line = mask_ids(&line);
        // Table borders and padding follow the IDs' widths.
        if line.starts_with('+') || line.starts_with('|') {
            let mut squeezed = String::new();
            for ch in line.chars() {
                if !((ch == '-' || ch == ' ') && squeezed.ends_with(ch)) {
                    squeezed.push(ch);
                }
            }
            out.push_str(&squeezed);
        } else {
            out.push_str(&line);
        }
    }
    out
}

/// `number` replaced by `with` where it stands alone, not where its digits
/// are part of a longer number (a member ID holding a port's digits).
pub fn replace_number(text: &str, number: u16, with: &str) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&digits) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + digits.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(|c| c.is_ascii_alphanumeric())
            || after.is_some_and(|c| c.is_ascii_alphanumeric())
        {
            out.push_str(&digits);
        } else {
            out.push_str(with);
        }
        rest = &rest[at + digits.len()..];
    }
    out.push_str(rest);
    out
}

/// Replaces what follows `marker` up to `end` with `*`.
pub fn mask_after(line: &str, marker: &str, end: char) -> String {
    match line.find(marker) {
        Some(at) => {
            let start = at + marker.len();
            let stop = line[start..].find(end).map_or(line.len(), |i| start + i);
            format!("{}*{}", &line[..start], &line[stop..])
        }
        None => line.to_string(),
    }
}

/// Words of 16 hex digits or of 10+ decimal digits become `ID`.
pub fn mask_ids(line: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex16 = word.len() == 16 && word.chars().all(|c| c.is_ascii_hexdigit());
        let long_decimal = word.len() >= 10 && word.chars().all(|c| c.is_ascii_digit());
        let member_hex = word.len() >= 13
            && word.len() <= 16
            && word.chars().all(|c| c.is_ascii_hexdigit())
            && word.chars().any(|c| c.is_ascii_digit());
        if hex16 || long_decimal || member_hex {
            out.push_str("ID");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for ch in line.chars() {
        if ch.is_ascii_alphanumeric() {
            word.push(ch);
        } else {
            flush(&mut word, &mut out);
            out.push(ch);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A command running in the background (`&` in a case): its line, the
/// process, and what it has printed so far (read by threads, so it can be
/// looked at while it runs).
pub struct Background {
    line: String,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// A thread copying `pipe` into `buffer` until it closes.
fn read_into(
    mut pipe: impl std::io::Read + Send + 'static,
    buffer: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            if let Ok(mut buffer) = buffer.lock() {
                buffer.extend_from_slice(&chunk[..n]);
            }
        }
    })
}

/// A command line (`{EP}`: the side's endpoint, `{LEASE}`: the lease
/// granted last, `\u{1}`: a space inside a word), its stdin and env.
pub type Case = (
    &'static str,
    Option<&'static str>,
    &'static [(&'static str, &'static str)],
);

/// A directory of this test process's own for files the cases name
/// (`{TMP}` in a case).
pub fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("cairnctl-diff-files-{}", std::process::id()))
}

/// Runs every case on the three sides; panics listing the differences.
pub fn compare(cases: &[Case]) {
    compare_with(cases, &Server::start, |text| text.to_string());
}

/// [`compare`] on servers that `start(binary, tag)` starts, with outputs
/// masked further by `extra_mask`.
pub fn compare_with(
    cases: &[Case],
    start: &dyn Fn(&Path, &str) -> Server,
    extra_mask: fn(&str) -> String,
) {
    if !available() {
        return;
    }
    let started = Instant::now();
    let etcd_a = start(Path::new(ETCD), "etcd-a");
    let etcd_b = start(Path::new(ETCD), "etcd-b");
    let cairn_c = start(&cairn_binary(), "cairn-c");
    for server in [&etcd_a, &etcd_b, &cairn_c] {
        server.wait_ready();
    }
    let mut reference = Side {
        name: "etcdctl→etcd",
        binary: ETCDCTL,
        server: &etcd_a,
        lease: String::new(),
        background: None,
        extra_mask,
    };
    let mut others = [
        Side {
            name: "cairnctl→etcd",
            binary: CAIRNCTL,
            server: &etcd_b,
            lease: String::new(),
            background: None,
            extra_mask,
        },
        Side {
            name: "cairnctl→cairn",
            binary: CAIRNCTL,
            server: &cairn_c,
            lease: String::new(),
            background: None,
            extra_mask,
        },
    ];
    let mut failures = Vec::new();
    for (line, stdin, env) in cases {
        // "&line": start in the background; "!": stop and compare.
        if let Some(line) = line.strip_prefix('&') {
            reference.start_background(line, *stdin, env);
            for side in others.iter_mut() {
                side.start_background(line, *stdin, env);
            }
            // Time to connect and start watching before the next lines.
            std::thread::sleep(Duration::from_millis(1000));
            continue;
        }
        let stop = *line == "!";
        let expected = if stop {
            reference.stop(None).expect("a background command")
        } else {
            reference.run(line, *stdin, env)
        };
        if std::env::var_os("CTL_DIFF_SHOW").is_some() {
            eprintln!("`{line}`: {expected:?}");
        }
        for side in others.iter_mut() {
            let got = if stop {
                side.stop(Some(&expected)).expect("a background command")
            } else {
                side.run(line, *stdin, env)
            };
            if got != expected {
                failures.push(format!(
                    "`{line}` ({}):\n  etcdctl→etcd: {expected:?}\n  {}: {got:?}",
                    side.name, side.name
                ));
            }
        }
    }
    eprintln!(
        "{} command lines compared in {:?}",
        cases.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
