//! The parts of the robustness test (`tests/robustness_process.rs`): the
//! plan one seed stands for, the faults, and the three kinds of client whose
//! records the checks read (KV clients, lease holders, watchers).

pub mod faults;
pub mod kv;
pub mod leases;
pub mod plan;
pub mod watchers;

use std::time::{Duration, Instant};

use tonic::transport::Channel;

/// The test's one clock: milliseconds since the workload started, as the
/// history records them.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Rounded down, so an interval recorded never looks shorter than it
    /// was at its start nor ends before it really did (see `kv`).
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).expect("a test runs for less than ages")
    }
}

/// Tells the clients to finish their current operation and return.
pub type Stop = tokio::sync::watch::Receiver<bool>;

pub fn stopped(stop: &Stop) -> bool {
    *stop.borrow()
}

/// How long a client waits for a connection to a member (a paused member
/// accepts TCP connections but never speaks HTTP/2).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

/// A connected channel to `endpoint`, whose requests time out after
/// `timeout` (streams go without: their readers time each answer out);
/// `None` if the member does not take the connection: nothing was sent, so
/// nothing happened.
pub async fn connect(endpoint: &str, timeout: Option<Duration>) -> Option<Channel> {
    let mut builder = Channel::from_shared(endpoint.to_string())
        .expect("a valid endpoint")
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    tokio::time::timeout(CONNECT_TIMEOUT, builder.connect())
        .await
        .ok()?
        .ok()
}
