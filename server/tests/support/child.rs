//! Helper processes of the tests (etcd's tools, dnsmasq, proxies), killed
//! by their own PID when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// A child process killed (by its own PID) when dropped.
pub struct Proc(pub Option<Child>);

impl Proc {
    pub fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `program` with its stderr appended to `log` (stdout dropped).
pub fn spawn(program: &str, args: &[String], log: &Path, env: &[(String, String)]) -> Proc {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    Proc(Some(child))
}

/// dnsmasq on a loopback port, serving `records` (dnsmasq flags) for the
/// `test` domain; cairn is pointed at it with `CAIRN_DNS_NAMESERVER`.
pub fn start_dnsmasq(dir: &Path, records: &[String]) -> (Proc, u16) {
    let port = free_port();
    let mut args = vec![
        "--keep-in-foreground".to_string(),
        "--no-resolv".to_string(),
        "--no-hosts".to_string(),
        format!("--port={port}"),
        "--listen-address=127.0.0.1".to_string(),
        "--bind-interfaces".to_string(),
        format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
        "--user=root".to_string(),
        "--local=/test/".to_string(),
    ];
    args.extend(records.iter().cloned());
    let proc = spawn(DNSMASQ, &args, &dir.join("dnsmasq.log"), &[]);
    // Listening once a TCP connect succeeds.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "dnsmasq did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (proc, port)
}
