//! Helpers of the lock and election tests: the services' requests and
//! lines for transcripts (lease IDs masked), and `etcdctl` runs whose output
//! arrives line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use cairn_proto::v3electionpb as electionpb;
use cairn_proto::v3lockpb as lockpb;
use pb::lease_client::LeaseClient;
use tonic::transport::Channel;

pub const ETCDCTL: &str = "/usr/bin/etcdctl";
/// How long any one step may take before a test gives up.
pub const STEP: Duration = Duration::from_secs(10);

pub async fn grant(channel: &Channel, ttl: i64) -> i64 {
    LeaseClient::new(channel.clone())
        .lease_grant(pb::LeaseGrantRequest { ttl, id: 0 })
        .await
        .expect("grant")
        .into_inner()
        .id
}

pub fn lock_request(name: &str, lease: i64) -> lockpb::LockRequest {
    lockpb::LockRequest {
        name: Bytes::copy_from_slice(name.as_bytes()),
        lease,
    }
}

/// Replaces each lease's hex (as it appears in keys) and decimal ID by its
/// label, so that two servers' transcripts compare.
pub fn mask(text: &str, leases: &[(i64, &str)]) -> String {
    let mut text = text.to_string();
    for (id, label) in leases {
        text = text.replace(&format!("{id:x}"), label);
        text = text.replace(&id.to_string(), label);
    }
    text
}

pub fn status_line(what: &str, status: &tonic::Status) -> String {
    format!("{what}: error {:?} {:?}", status.code(), status.message())
}

pub fn kv_line(kv: &cairn_proto::mvccpb::KeyValue) -> String {
    format!(
        "kv {} = {} create {} mod {} version {} lease {}",
        String::from_utf8_lossy(&kv.key),
        String::from_utf8_lossy(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        kv.lease
    )
}

pub fn revision(header: &Option<pb::ResponseHeader>) -> i64 {
    header.as_ref().map_or(-1, |h| h.revision)
}
pub fn leader_key(key: &Option<electionpb::LeaderKey>) -> String {
    key.as_ref().map_or("none".to_string(), |key| {
        format!(
            "leader {} {} rev {} lease {}",
            String::from_utf8_lossy(&key.name),
            String::from_utf8_lossy(&key.key),
            key.rev,
            key.lease
        )
    })
}

pub async fn next_leader(observed: &mut tonic::Streaming<electionpb::LeaderResponse>) -> String {
    match tokio::time::timeout(STEP, observed.message()).await {
        Ok(Ok(Some(answer))) => format!(
            "observe at {}: {}",
            revision(&answer.header),
            answer.kv.as_ref().map_or("no kv".to_string(), kv_line)
        ),
        Ok(Ok(None)) => "observe ended".to_string(),
        Ok(Err(status)) => status_line("observe", &status),
        Err(_) => "observe timed out".to_string(),
    }
}

pub fn etcdctl(endpoint: &str) -> Command {
    let mut command = Command::new(ETCDCTL);
    command
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A running etcdctl whose output lines arrive on a channel.
pub struct Running {
    pub child: Child,
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Running {
    pub fn start(mut command: Command) -> Running {
        let mut child = command.spawn().expect("start etcdctl");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Running { child, lines }
    }

    /// The next `count` lines (fewer if it ends or the step times out).
    pub fn lines(&self, count: usize) -> Vec<String> {
        (0..count)
            .map_while(|_| self.lines.recv_timeout(STEP).ok())
            .collect()
    }

    /// SIGTERM (etcdctl then unlocks or resigns), and its exit.
    pub fn terminate(mut self) -> String {
        // SAFETY: signalling a child this test started, by its PID.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait().expect("wait");
        format!("exit {:?}", status.code())
    }

    /// Its exit (waiting at most a step) and what it wrote to stderr, but
    /// the client's JSON log lines (they carry times).
    pub fn exit(mut self) -> String {
        use std::io::Read;
        let deadline = std::time::Instant::now() + STEP;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "etcdctl did not exit");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let stderr: Vec<&str> = stderr.lines().filter(|l| !l.starts_with('{')).collect();
        format!("exit {:?}: {}", status.code(), stderr.join(" | "))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lease hexes in keys (`name/694d...`) replaced by `<lease N>`, numbered
/// in order of appearance.
pub fn mask_keys(lines: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    lines
        .iter()
        .map(|line| {
            let mut words = Vec::new();
            for word in line.split(' ') {
                let masked = word.rsplit_once('/').and_then(|(head, tail)| {
                    let tail = tail.trim_end_matches(|c: char| !c.is_ascii_hexdigit());
                    let hex = tail.len() >= 8 && tail.chars().all(|c| c.is_ascii_hexdigit());
                    hex.then(|| {
                        let index = match seen.iter().position(|s| s == tail) {
                            Some(index) => index,
                            None => {
                                seen.push(tail.to_string());
                                seen.len() - 1
                            }
                        };
                        word.replacen(
                            &format!("{head}/{tail}"),
                            &format!("{head}/<lease {index}>"),
                            1,
                        )
                    })
                });
                words.push(masked.unwrap_or_else(|| word.to_string()));
            }
            words.join(" ")
        })
        .collect()
}
