//! Helpers of the snapshot tests: running a tool in a directory, masking
//! zap log lines, a server started on a restored data directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, mask_after, mask_ids, Outcome, ETCDCTL};

/// Masks what differs between two runs of a zap log line: times and
/// durations (`"ts":1.7e9`, `"ts":"2026-..."`, `"took":0.01`).
pub fn mask_zap(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let line = mask_after(line, "\"ts\":", ',');
            let line = mask_after(&line, "\"took\":", '}');
            mask_ids(&mask_after(&line, "endpoint://client-", '/'))
        })
        .collect()
}

/// Runs `binary args` in `dir` (stdin empty); masked output.
pub fn run_in(dir: &Path, binary: &str, args: &[&str]) -> Outcome {
    let output = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env_remove("ETCDCTL_API")
        .stdin(Stdio::null())
        .output()
        .expect("run the tool");
    Outcome {
        stdout: mask_zap(&String::from_utf8_lossy(&output.stdout)),
        stderr: mask_zap(&String::from_utf8_lossy(&output.stderr)),
        code: output.status.code().unwrap_or(-1),
    }
}

/// A fresh, empty directory under the temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("cairnctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn sub(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        std::fs::create_dir_all(&dir).expect("sub dir");
        dir
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server (etcd or cairn) started on an existing data directory as
/// member `m1` advertising `peer_url`; killed when dropped.
pub struct Restored {
    child: Child,
    pub port: u16,
}

impl Restored {
    pub fn start(binary: &Path, data_dir: &Path, peer_url: &str) -> Restored {
        let (port, listen_peer) = (free_port(), free_port());
        let client = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(data_dir.with_extension(format!(
            "{}.log",
            binary.file_name().unwrap_or_default().to_string_lossy()
        )))
        .expect("log file");
        let child = Command::new(binary)
            .args(["--name", "m1", "--data-dir"])
            .arg(data_dir)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args([
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{listen_peer}"),
            ])
            .args(["--initial-advertise-peer-urls", peer_url])
            .args(["--initial-cluster", &format!("m1={peer_url}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn server");
        Restored { child, port }
    }

    /// `etcdctl get --prefix ""` once the server answers (None if it never
    /// does within 20 s).
    pub fn all_keys(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let output = Command::new(ETCDCTL)
                .args(["--endpoints", &format!("127.0.0.1:{}", self.port)])
                .args(["--command-timeout", "1s", "get", "--prefix", ""])
                .output()
                .expect("etcdctl");
            if output.status.success() {
                return Some(String::from_utf8_lossy(&output.stdout).into_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Restored {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
