//! The TCP proxy itself, as etcd's `proxy/tcpproxy` runs it:
//!
//! ```text
//!   accept ──▶ pick a remote (best SRV priority; weighted random, else
//!              round robin over the active ones)
//!                 │ connect failed: the remote is inactive, warn, pick again
//!                 │ none left: close the client's connection
//!                 ▼
//!              copy bytes both ways until either side closes
//!   every --retry-delay: each inactive remote is dialled; one that answers
//!   is active again
//! ```

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::log::{self, Field};

/// How long one connection attempt to a remote may take (etcd has no
/// bound; an unreachable host would hold the client for the system's
/// connect timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One endpoint behind the proxy: an SRV record's priority and weight
/// (0 and 0 for a `--endpoints` entry) and its `host:port`.
#[derive(Debug)]
pub struct Remote {
    pub address: String,
    /// `address` without a DNS name's trailing dot (SRV targets have one).
    dial: String,
    pub priority: u16,
    pub weight: u16,
    active: AtomicBool,
}

impl Remote {
    pub fn new(address: String, priority: u16, weight: u16) -> Remote {
        let dial = match address.rsplit_once(':') {
            Some((host, port)) if host.ends_with('.') && !host.ends_with("..") => {
                format!("{}:{port}", host.trim_end_matches('.'))
            }
            _ => address.clone(),
        };
        Remote {
            address,
            dial,
            priority,
            weight,
            active: AtomicBool::new(true),
        }
    }

    fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }
}

/// The proxy: its remotes and the round-robin position.
#[derive(Debug)]
pub struct TcpProxy {
    remotes: Vec<Arc<Remote>>,
    pick_count: Mutex<usize>,
    monitor_interval: Duration,
}

impl TcpProxy {
    pub fn new(remotes: Vec<Remote>, monitor_interval: Duration) -> TcpProxy {
        let monitor_interval = if monitor_interval.is_zero() {
            Duration::from_secs(5 * 60)
        } else {
            monitor_interval
        };
        TcpProxy {
            remotes: remotes.into_iter().map(Arc::new).collect(),
            pick_count: Mutex::new(0),
            monitor_interval,
        }
    }

    /// Logs etcd's "ready" line, starts the monitor, and serves
    /// connections until accepting fails.
    pub async fn run(self: Arc<Self>, listener: TcpListener) -> io::Error {
        let endpoints: Vec<String> = self.remotes.iter().map(|r| r.address.clone()).collect();
        log::info(
            "ready to proxy client requests",
            &[("endpoints", Field::Strings(endpoints))],
        );
        tokio::spawn(self.clone().monitor());
        loop {
            match listener.accept().await {
                Ok((inbound, _)) => {
                    tokio::spawn(self.clone().serve(inbound));
                }
                Err(error) => return error,
            }
        }
    }

    fn pick(&self) -> Option<Arc<Remote>> {
        let states: Vec<Candidate> = self
            .remotes
            .iter()
            .map(|r| Candidate {
                priority: r.priority,
                weight: r.weight,
                active: r.is_active(),
            })
            .collect();
        let mut count = self.pick_count.lock().unwrap_or_else(|e| e.into_inner());
        pick(&states, &mut count, random_below).map(|i| self.remotes[i].clone())
    }

    async fn serve(self: Arc<Self>, mut inbound: TcpStream) {
        let mut outbound = None;
        while let Some(remote) = self.pick() {
            let attempt =
                tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&remote.dial)).await;
            let error = match attempt {
                Ok(Ok(stream)) => {
                    outbound = Some(stream);
                    break;
                }
                Ok(Err(error)) => go_dial_error(&remote.address, &error),
                Err(_) => format!("dial tcp {}: i/o timeout", remote.address),
            };
            remote.active.store(false, Ordering::SeqCst);
            log::warn(
                "deactivated endpoint",
                &[
                    ("address", Field::String(remote.address.clone())),
                    ("interval", Field::Seconds(self.monitor_interval)),
                    ("error", Field::String(error)),
                ],
            );
        }
        let Some(mut outbound) = outbound else {
            return;
        };
        // Go's TCP connections send small writes at once.
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    }

    async fn monitor(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.monitor_interval).await;
            for remote in &self.remotes {
                if remote.is_active() {
                    continue;
                }
                let remote = remote.clone();
                let interval = self.monitor_interval;
                tokio::spawn(async move {
                    let attempt =
                        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&remote.dial))
                            .await;
                    match attempt {
                        Ok(Ok(_)) => {
                            remote.active.store(true, Ordering::SeqCst);
                            log::info(
                                "activated",
                                &[("address", Field::String(remote.address.clone()))],
                            );
                        }
                        failed => {
                            let error = match failed {
                                Ok(Err(error)) => go_dial_error(&remote.address, &error),
                                _ => format!("dial tcp {}: i/o timeout", remote.address),
                            };
                            log::warn(
                                "failed to activate endpoint (stay inactive for another interval)",
                                &[
                                    ("address", Field::String(remote.address.clone())),
                                    ("interval", Field::Seconds(interval)),
                                    ("error", Field::String(error)),
                                ],
                            );
                        }
                    }
                });
            }
        }
    }
}

/// Go's text for a failed dial: `dial tcp 127.0.0.1:2379: connect:
/// connection refused`.
pub fn go_dial_error(address: &str, error: &io::Error) -> String {
    format!("dial tcp {address}: connect: {}", go_errno_text(error))
}

/// An OS error as Go's syscall package words it: the C library's text,
/// lower-cased at the start, without Rust's `(os error N)`.
pub fn go_errno_text(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// What [`pick`] needs of a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub priority: u16,
    pub weight: u16,
    pub active: bool,
}

/// etcd's choice of a remote: the active ones of the best (lowest)
/// priority; among those with a weight, one at random in proportion to it
/// (with a 1 % chance of a weightless one instead); without weights, the
/// next active remote of all in round-robin order. `random_below(n)` is a
/// uniform number in `0..n`.
pub fn pick(
    remotes: &[Candidate],
    count: &mut usize,
    mut random_below: impl FnMut(u32) -> u32,
) -> Option<usize> {
    let best = remotes
        .iter()
        .filter(|r| r.active)
        .map(|r| r.priority)
        .min()?;
    let class: Vec<usize> = (0..remotes.len())
        .filter(|&i| remotes[i].active && remotes[i].priority == best)
        .collect();
    let weighted: Vec<usize> = class
        .iter()
        .copied()
        .filter(|&i| remotes[i].weight > 0)
        .collect();
    let unweighted: Vec<usize> = class
        .iter()
        .copied()
        .filter(|&i| remotes[i].weight == 0)
        .collect();
    if !weighted.is_empty() {
        if !unweighted.is_empty() && random_below(100) == 1 {
            let chosen = unweighted[*count % unweighted.len()];
            *count = count.wrapping_add(1);
            return Some(chosen);
        }
        let total: u32 = weighted.iter().map(|&i| u32::from(remotes[i].weight)).sum();
        let mut choose = i64::from(random_below(total));
        for &i in &weighted {
            choose -= i64::from(remotes[i].weight);
            if choose <= 0 {
                return Some(i);
            }
        }
        return weighted.last().copied();
    }
    for _ in 0..remotes.len() {
        let i = *count % remotes.len();
        *count = count.wrapping_add(1);
        if remotes[i].active {
            return Some(i);
        }
    }
    None
}

/// A uniform number below `n` from the OS (0 if it fails or `n` is 0).
fn random_below(n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    getrandom::u32().map(|r| r % n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(priority: u16, weight: u16, active: bool) -> Candidate {
        Candidate {
            priority,
            weight,
            active,
        }
    }

    #[test]
    fn round_robin_skips_inactive_remotes() {
        let remotes = [
            candidate(0, 0, true),
            candidate(0, 0, false),
            candidate(0, 0, true),
        ];
        let mut count = 0;
        let picks: Vec<_> = (0..4)
            .map(|_| pick(&remotes, &mut count, |_| 0).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 2, 0, 2]);
    }

    #[test]
    fn no_active_remote_is_none() {
        let remotes = [candidate(0, 0, false), candidate(1, 5, false)];
        assert_eq!(pick(&remotes, &mut 0, |_| 0), None);
        assert_eq!(pick(&[], &mut 0, |_| 0), None);
    }

    #[test]
    fn best_priority_class_with_weights() {
        let remotes = [
            candidate(10, 1, true),
            candidate(5, 1, true),
            candidate(5, 3, true),
        ];
        // total weight 4: 0..=1 → first of the class, 2..=3 → second.
        assert_eq!(pick(&remotes, &mut 0, |_| 0), Some(1));
        assert_eq!(pick(&remotes, &mut 0, |_| 1), Some(1));
        assert_eq!(pick(&remotes, &mut 0, |_| 2), Some(2));
        assert_eq!(pick(&remotes, &mut 0, |_| 3), Some(2));
        // The best class inactive: the next priority serves.
        let remotes = [candidate(10, 1, true), candidate(5, 1, false)];
        assert_eq!(pick(&remotes, &mut 0, |_| 0), Some(0));
    }

    #[test]
    fn go_texts_for_os_errors() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(
            go_dial_error("127.0.0.1:1", &refused),
            "dial tcp 127.0.0.1:1: connect: connection refused"
        );
    }
}
