//! Three-member clusters for the cluster-operation tests (`member`,
//! `endpoint --cluster`, `move-leader`, `defrag`): the same three-sided
//! comparison as [`super::compare`], with each side a cluster.
//!
//! ```text
//!   etcdctl  ──▶ etcd  A1 A2 A3   (reference)
//!   cairnctl ──▶ etcd  B1 B2 B3
//!   cairnctl ──▶ cairn C1 C2 C3
//!   case "~line": lines (and JSON array items) compared as sets, where
//!                 the order follows random member IDs or answer times
//!   case "!start-learner": start member l1 on each side (joining as the
//!                 learner added with `--peer-urls {LPEER}`)
//!   case "@line": the client only (etcdctl→etcd A vs cairnctl→etcd B):
//!                 the server's answer differs on purpose (docs/cairnctl.md)
//! ```
//!
//! Words substituted per side: `{EPS}` (the three client endpoints, also
//! the default `--endpoints`), `{EP1}`, `{PEER1}` (member 1's peer URL),
//! `{LEADER}`, `{FOLLOWER}`, `{FOLLOWER_EP}` (asked with etcdctl when the
//! line runs), `{NEW}` (the member `member add` added last), `{LPEER}` (the
//! peer URL of the side's learner-to-be, `l1`); and the same
//! on every side: `{DEAD}` (an endpoint nobody listens on), `{NEWPEER}`,
//! `{NEWPEER2}`, `{NEWPEER3}` (peer URLs for members that never start),
//! `{BIG}` (a value over the members' backend quota).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    available, cairn_binary, free_port, mask_after, mask_lines, Outcome, Server, CAIRNCTL, ETCD,
    ETCDCTL,
};

/// A quota a 100 kB value exceeds (`{BIG}`: the NOSPACE alarm).
const QUOTA: [&str; 2] = ["--quota-backend-bytes", "100000"];

/// Three members of one cluster, stopped when dropped.
pub struct Cluster {
    pub members: Vec<Server>,
    /// The server binary, and `--initial-cluster` (for a learner to join).
    binary: PathBuf,
    initial: String,
}

impl Cluster {
    pub fn start(binary: &Path, tag: &str) -> Cluster {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{}=http://127.0.0.1:{peer}", i + 1))
            .collect();
        let initial = initial.join(",");
        let members = ports
            .iter()
            .enumerate()
            .map(|(i, ports)| {
                let name = format!("m{}", i + 1);
                let tag = format!("{tag}-{name}");
                Server::start_member(binary, &tag, &name, *ports, &initial, &QUOTA)
            })
            .collect();
        Cluster {
            members,
            binary: binary.to_path_buf(),
            initial,
        }
    }

    /// Starts member `l1` on `ports`, joining the cluster (which must
    /// have been told with `member add l1 --learner --peer-urls {LPEER}`).
    fn start_learner(&self, ports: (u16, u16)) -> Server {
        let initial = format!("{},l1=http://127.0.0.1:{}", self.initial, ports.1);
        let tag = format!("ops-learner-{}", ports.1);
        let mut flags = vec!["--initial-cluster-state", "existing"];
        flags.extend(QUOTA);
        Server::start_member(&self.binary, &tag, "l1", ports, &initial, &flags)
    }

    pub fn wait_ready(&self) {
        for member in &self.members {
            member.wait_ready();
        }
    }

    pub fn endpoints(&self) -> String {
        let list: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.port))
            .collect();
        list.join(",")
    }

    /// `(endpoint, member ID, is leader)` of each member, from etcdctl's
    /// `endpoint status`; waits (up to 10 s) until one is the leader.
    fn status(&self) -> Vec<(String, String, bool)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let output = Command::new(ETCDCTL)
                .args(["--endpoints", &self.endpoints(), "endpoint", "status"])
                .env_remove("ETCDCTL_API")
                .stderr(Stdio::null())
                .output()
                .expect("etcdctl endpoint status");
            let rows: Vec<(String, String, bool)> = String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| {
                    let cells: Vec<&str> = line.split(", ").collect();
                    (cells.len() >= 5).then(|| {
                        (
                            cells[0].to_string(),
                            cells[1].to_string(),
                            cells[4] == "true",
                        )
                    })
                })
                .collect();
            if rows.len() == 3 && rows.iter().any(|r| r.2) || Instant::now() > deadline {
                return rows;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// What every side substitutes alike.
pub struct Shared {
    dead: String,
    new_peer: String,
    new_peer2: String,
    new_peer3: String,
}

/// One side: a client binary and the cluster it talks to.
pub struct ClusterSide<'a> {
    pub name: &'static str,
    pub binary: &'a str,
    pub cluster: &'a Cluster,
    /// The ID `member add` printed last (`{NEW}`).
    new_member: String,
    /// A member started to join as a learner (`!start-learner`), and its
    /// ports (`{LPEER}`).
    learner: Option<Server>,
    learner_ports: (u16, u16),
}

impl ClusterSide<'_> {
    fn substitute(&self, word: &str, shared: &Shared) -> String {
        let mut word = word
            .replace("{EPS}", &self.cluster.endpoints())
            .replace(
                "{EP1}",
                &format!("127.0.0.1:{}", self.cluster.members[0].port),
            )
            .replace(
                "{PEER1}",
                &format!("http://127.0.0.1:{}", self.cluster.members[0].peer),
            )
            .replace("{NEW}", &self.new_member)
            .replace(
                "{LPEER}",
                &format!("http://127.0.0.1:{}", self.learner_ports.1),
            )
            .replace("{DEAD}", &shared.dead)
            .replace("{NEWPEER}", &shared.new_peer)
            .replace("{NEWPEER2}", &shared.new_peer2)
            .replace("{NEWPEER3}", &shared.new_peer3)
            .replace("{BIG}", &"x".repeat(100_000));
        if word.contains("{LEADER}") || word.contains("{FOLLOWER") {
            let status = self.cluster.status();
            let leader = status.iter().find(|r| r.2).cloned().unwrap_or_default();
            let follower = status.iter().find(|r| !r.2).cloned().unwrap_or_default();
            word = word
                .replace("{LEADER}", &leader.1)
                .replace("{FOLLOWER_EP}", &follower.0)
                .replace("{FOLLOWER}", &follower.1);
        }
        word
    }

    pub fn run(&mut self, line: &str, unordered: bool, shared: &Shared) -> Outcome {
        let args: Vec<String> = line
            .split_whitespace()
            .map(|w| self.substitute(w, shared))
            .collect();
        let mut command = Command::new(self.binary);
        if !line.contains("--endpoints") {
            command.args(["--endpoints", &self.cluster.endpoints()]);
        }
        let output = command
            .args(&args)
            .env_remove("ETCDCTL_API")
            .stdin(Stdio::null())
            .output()
            .expect("run client");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if let Some(id) = added_member(&stdout) {
            self.new_member = id;
        }
        Outcome {
            stdout: self.mask(&stdout, unordered),
            stderr: self.mask(&String::from_utf8_lossy(&output.stderr), unordered),
            code: output.status.code().unwrap_or(-1),
        }
    }

    /// The shared masks, with every member's ports, and the columns that
    /// differ between servers for a principled reason (docs/cairnctl.md):
    /// version, db size, raft term and indexes, health's times.
    fn mask(&self, text: &str, unordered: bool) -> String {
        let mut text = text.to_string();
        let ports = self.cluster.members.iter().map(|m| (m.port, m.peer));
        for (port, peer) in ports.chain([self.learner_ports]) {
            text = super::replace_number(&text, port, "PORT");
            text = super::replace_number(&text, peer, "PEER");
        }
        let mut lines: Vec<String> = mask_lines(&protect_hashes(&text))
            .lines()
            .map(mask_line)
            .collect();
        if lines.first().is_some_and(|l| l.starts_with("panic: ")) {
            lines.truncate(1);
        }
        if unordered {
            for line in &mut lines {
                *line = sort_json_arrays(line);
            }
            lines.sort();
        }
        lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

/// Hashes are compared: `H` in front keeps them from looking like IDs
/// (json, fields, and `endpoint, hash` rows, simple and table).
fn protect_hashes(text: &str) -> String {
    let text = text
        .replace("\"hash\":", "\"hash\":H")
        .replace("\"Hash\" : ", "\"Hash\" : H");
    let is_number = |cell: &str| !cell.is_empty() && cell.chars().all(|c| c.is_ascii_digit());
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let cells: Vec<&str> = body.split('|').map(str::trim).collect();
        let protected = match body.split_once(", ") {
            Some((endpoint, hash)) if endpoint.contains("PORT") && is_number(hash) => {
                format!("{endpoint}, H{hash}")
            }
            _ if cells.len() == 4 && cells[1].contains("PORT") && is_number(cells[2]) => {
                body.replacen(cells[2], &format!("H{}", cells[2]), 1)
            }
            _ => body.to_string(),
        };
        out.push_str(&protected);
        out.push_str(&line[body.len()..]);
    }
    out
}

/// The hexadecimal ID of the member `member add` printed (simple or json).
fn added_member(stdout: &str) -> Option<String> {
    if let Some(rest) = stdout.strip_prefix("Member ") {
        let (id, _) = rest.split_once(" added")?;
        return Some(id.trim().to_string());
    }
    let (_, rest) = stdout.split_once("\"member\":{\"ID\":")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u64>().ok().map(|id| format!("{id:x}"))
}

/// Masks one line beyond [`mask_lines`].
fn mask_line(line: &str) -> String {
    let mut line = line.to_string();
    for (marker, end) in [
        ("\"version\":\"", '"'),
        ("\"raftIndex\":", ','),
        ("\"raftTerm\":", ','),
        ("\"raftAppliedIndex\":", ','),
        ("\"raft_term\":", '}'),
        ("\"took\":\"", '"'),
    ] {
        line = mask_every(&line, marker, end);
    }
    for marker in [",\"dbSize\":", ",\"dbSizeInUse\":"] {
        line = drop_every(&line, marker);
    }
    for marker in [
        "\"Version\" : ",
        "\"DBSize\" : ",
        "\"RaftIndex\" : ",
        "\"RaftAppliedIndex\" : ",
        "\"Took\" : ",
    ] {
        line = mask_after(&line, marker, '\n');
    }
    if let Some(list) = line.strip_prefix("ETCD_INITIAL_CLUSTER=\"") {
        let mut items: Vec<&str> = list.trim_end_matches('"').split(',').collect();
        items.sort_unstable();
        line = format!("ETCD_INITIAL_CLUSTER=\"{}\"", items.join(","));
    }
    while line.contains("  ID") && !line.starts_with('|') {
        line = line.replace("  ID", " ID");
    }
    mask_cells(&line)
}

/// `endpoint status` rows (simple and table): version, db size, raft term,
/// raft index, applied index; `endpoint health` table rows: the time.
fn mask_cells(line: &str) -> String {
    let (separator, cells): (&str, Vec<&str>) = if line.starts_with('|') {
        ("|", line.split('|').collect())
    } else {
        (", ", line.split(", ").collect())
    };
    let masked: &[usize] = match (separator, cells.len()) {
        (", ", 10) => &[2, 3, 6, 7, 8],
        ("|", 12) => &[3, 4, 7, 8, 9],
        ("|", 6) if cells[2].trim() == "true" || cells[2].trim() == "false" => &[3],
        _ => return line.to_string(),
    };
    let cells: Vec<&str> = cells
        .iter()
        .enumerate()
        .map(|(i, cell)| if masked.contains(&i) { "*" } else { cell })
        .collect();
    cells.join(separator)
}

/// [`mask_after`] for every occurrence of `marker`.
fn mask_every(line: &str, marker: &str, end: char) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        out.push_str(&rest[..start]);
        out.push('*');
        let stop = rest[start..]
            .find([end, ',', '}'])
            .map_or(rest.len(), |i| start + i);
        rest = &rest[stop..];
    }
    out.push_str(rest);
    out
}

/// Removes every `,"name":<number>` (`marker`: a field one server leaves
/// out when zero).
fn drop_every(line: &str, marker: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at]);
        let after = &rest[at + marker.len()..];
        let stop = after.find([',', '}']).unwrap_or(after.len());
        rest = &after[stop..];
    }
    out.push_str(rest);
    out
}

/// The line with the items of every JSON array in it sorted (strings kept
/// whole), so that lists ordered by member IDs compare as sets.
fn sort_json_arrays(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut at = 0;
    let mut out = String::new();
    while at < chars.len() {
        let (text, next) = json_value(&chars, at);
        out.push_str(&text);
        at = next;
    }
    out
}

/// One character, string, object or array starting at `at` (arrays
/// sorted); the text and the index after it.
fn json_value(chars: &[char], at: usize) -> (String, usize) {
    match chars[at] {
        '"' => {
            let mut end = at + 1;
            while end < chars.len() && chars[end] != '"' {
                end += if chars[end] == '\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(chars.len());
            (chars[at..end].iter().collect(), end)
        }
        open @ ('[' | '{') => {
            let close = if open == '[' { ']' } else { '}' };
            let mut items = vec![String::new()];
            let mut index = at + 1;
            while index < chars.len() && chars[index] != close {
                if chars[index] == ',' {
                    items.push(String::new());
                    index += 1;
                    continue;
                }
                let (text, next) = json_value(chars, index);
                if let Some(last) = items.last_mut() {
                    last.push_str(&text);
                }
                index = next;
            }
            if open == '[' {
                items.sort();
            }
            let text = format!("{open}{}{close}", items.join(","));
            (text, (index + 1).min(chars.len()))
        }
        other => (other.to_string(), at + 1),
    }
}

/// Waits (up to 30 s) until the member on `port` answers Status (a
/// learner serves no reads); whether it did.
fn wait_for_status(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let answered = Command::new(ETCDCTL)
            .args(["--endpoints", &format!("127.0.0.1:{port}")])
            .args(["--command-timeout", "1s", "endpoint", "status"])
            .env_remove("ETCDCTL_API")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if answered {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Runs every case on three clusters; panics listing the differences.
pub fn compare_clusters(cases: &[&str]) {
    if !available() {
        return;
    }
    let started = Instant::now();
    let a = Cluster::start(Path::new(ETCD), "ops-etcd-a");
    let b = Cluster::start(Path::new(ETCD), "ops-etcd-b");
    let c = Cluster::start(&cairn_binary(), "ops-cairn-c");
    for cluster in [&a, &b, &c] {
        cluster.wait_ready();
    }
    let shared = Shared {
        dead: format!("127.0.0.1:{}", free_port()),
        new_peer: format!("http://127.0.0.1:{}", free_port()),
        new_peer2: format!("http://127.0.0.1:{}", free_port()),
        new_peer3: format!("http://127.0.0.1:{}", free_port()),
    };
    let side = |name, binary, cluster| ClusterSide {
        name,
        binary,
        cluster,
        new_member: String::new(),
        learner: None,
        learner_ports: (free_port(), free_port()),
    };
    let mut reference = side("etcdctl→etcd", ETCDCTL, &a);
    let mut others = [
        side("cairnctl→etcd", CAIRNCTL, &b),
        side("cairnctl→cairn", CAIRNCTL, &c),
    ];
    let mut failures = Vec::new();
    for case in cases {
        if *case == "!start-learner" {
            for side in std::iter::once(&mut reference).chain(others.iter_mut()) {
                side.learner = Some(side.cluster.start_learner(side.learner_ports));
            }
            for side in std::iter::once(&reference).chain(others.iter()) {
                if !wait_for_status(side.learner_ports.0) {
                    let log = side.learner.as_ref().map(|l| l.log_tail(30));
                    panic!(
                        "{}: the learner on port {} never answered; its log:\n{}",
                        side.name,
                        side.learner_ports.0,
                        log.unwrap_or_default()
                    );
                }
            }
            // Time to catch up with the leader (a learner is promoted only
            // once its log is close to the leader's).
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        let line = case.trim_start_matches(['@', '~']);
        let marks = &case[..case.len() - line.len()];
        let (client_only, unordered) = (marks.contains('@'), marks.contains('~'));
        let expected = reference.run(line, unordered, &shared);
        if std::env::var_os("CTL_DIFF_SHOW").is_some() {
            eprintln!("`{line}`: {expected:?}");
        }
        for other in others.iter_mut() {
            if client_only && other.name == "cairnctl→cairn" {
                continue;
            }
            let got = other.run(line, unordered, &shared);
            if got != expected {
                failures.push(format!(
                    "`{line}` ({}):\n  etcdctl→etcd: {expected:?}\n  {}: {got:?}",
                    other.name, other.name
                ));
            }
        }
    }
    eprintln!(
        "{} command lines compared on three clusters in {:?}",
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
