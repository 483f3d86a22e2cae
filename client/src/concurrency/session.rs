//! [`Session`]: a lease that lives as long as its holder does (etcd's
//! `concurrency.Session`).
//!
//! ```text
//!   new ── LeaseGrant(ttl) or a given lease ──▶ keep-alive task
//!            every ttl/3: LeaseKeepAlive ──▶ TTL > 0: alive until now + TTL
//!                                        └─▶ TTL 0 (expired, revoked), or no
//!                                            answer before the deadline ──▶ done
//!   orphan: the task stops (the lease lives on until its TTL) ──▶ done
//!   close:  orphan, then LeaseRevoke (its keys go with it)
//! ```

use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::Error;
use crate::client::Client;

/// etcd's `defaultSessionTTL`, in seconds.
pub const SESSION_TTL_DEFAULT_SECONDS: i64 = 60;

/// The shortest pause between two keep-alives, whatever the TTL.
const KEEP_ALIVE_INTERVAL_MIN: Duration = Duration::from_millis(500);
/// The pause before opening a keep-alive stream again after it failed.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// How a session is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// The TTL of the lease granted (ignored with `lease`), in seconds.
    pub ttl_seconds: i64,
    /// An existing lease to use instead of granting one (0, etcd's
    /// `NoLease`, counts as none).
    pub lease: Option<i64>,
    /// Whether to keep the lease alive (the Lock and Election services do
    /// not: their callers keep their own leases alive).
    pub keep_alive: bool,
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            ttl_seconds: SESSION_TTL_DEFAULT_SECONDS,
            lease: None,
            keep_alive: true,
        }
    }
}

impl SessionOptions {
    /// A TTL; non-positive ones keep the default, as etcd's `WithTTL`.
    pub fn with_ttl(mut self, ttl_seconds: i64) -> SessionOptions {
        if ttl_seconds > 0 {
            self.ttl_seconds = ttl_seconds;
        }
        self
    }

    /// An existing lease (etcd's `WithLease`).
    pub fn with_lease(mut self, lease: i64) -> SessionOptions {
        self.lease = Some(lease);
        self
    }

    /// No keep-alive task: the session is orphaned from the start.
    pub fn without_keep_alive(mut self) -> SessionOptions {
        self.keep_alive = false;
        self
    }
}

/// A lease and the task keeping it alive. Dropping it orphans it.
#[derive(Debug)]
pub struct Session {
    client: Client,
    lease: i64,
    ttl_seconds: i64,
    /// `true` once the keep-alive ended; the sender's drop counts too.
    done: watch::Receiver<bool>,
    keep_alive: Option<JoinHandle<()>>,
}

impl Session {
    /// Grants a lease (or takes the given one) and starts keeping it alive.
    pub async fn new(client: &Client, options: SessionOptions) -> Result<Session, Error> {
        // Lease 0 is etcd's `NoLease`: a lease is granted, as etcd's
        // `WithLease(0)` does (so a Lock with lease 0 holds for the TTL).
        let (lease, ttl_seconds) = match options.lease.filter(|&lease| lease != 0) {
            Some(lease) => (lease, options.ttl_seconds),
            None => {
                let granted = client
                    .lease()
                    .lease_grant(pb::LeaseGrantRequest {
                        ttl: options.ttl_seconds,
                        id: 0,
                    })
                    .await?
                    .into_inner();
                if !granted.error.is_empty() {
                    return Err(tonic::Status::unknown(granted.error).into());
                }
                (granted.id, granted.ttl.max(1))
            }
        };
        let (sender, done) = watch::channel(false);
        let keep_alive = options.keep_alive.then(|| {
            tokio::spawn(keep_alive(
                client.clone(),
                lease,
                Duration::from_secs(ttl_seconds.max(1) as u64),
                sender,
            ))
        });
        Ok(Session {
            client: client.clone(),
            lease,
            ttl_seconds,
            done,
            keep_alive,
        })
    }

    /// The client the session's calls go through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The session's lease ID.
    pub fn lease(&self) -> i64 {
        self.lease
    }

    /// Resolves once the lease is no longer kept alive: it expired, was
    /// revoked, could not be renewed before its deadline, or the session
    /// was orphaned (etcd's `Done()`).
    pub async fn done(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|done| *done).await;
    }

    /// Whether [`Session::done`] has fired.
    pub fn is_done(&self) -> bool {
        *self.done.borrow() || self.done.has_changed().is_err()
    }

    /// Stops keeping the lease alive, leaving it to expire (etcd's
    /// `Orphan`).
    pub fn orphan(&mut self) {
        if let Some(task) = self.keep_alive.take() {
            task.abort();
        }
    }

    /// Orphans the session and revokes its lease, waiting at most the TTL
    /// (after which the lease has expired anyway).
    pub async fn close(mut self) -> Result<(), Error> {
        self.orphan();
        let mut lease = self.client.lease();
        let revoke = lease.lease_revoke(pb::LeaseRevokeRequest { id: self.lease });
        let ttl = Duration::from_secs(self.ttl_seconds.max(1) as u64);
        match tokio::time::timeout(ttl, revoke).await {
            Ok(answer) => answer.map(|_| ()).map_err(Error::from),
            Err(_) => Err(tonic::Status::deadline_exceeded("context deadline exceeded").into()),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.orphan();
    }
}

/// Renews `lease` every third of its TTL until it is gone or no renewal
/// arrives before its deadline; then says so through `done`.
async fn keep_alive(client: Client, lease: i64, ttl: Duration, done: watch::Sender<bool>) {
    let mut deadline = Instant::now() + ttl;
    'streams: while Instant::now() < deadline {
        let (requests, receiver) = mpsc::channel(1);
        let opened = tokio::time::timeout_at(
            deadline,
            client
                .lease()
                .lease_keep_alive(ReceiverStream::new(receiver)),
        )
        .await;
        let mut responses = match opened {
            Ok(Ok(responses)) => responses.into_inner(),
            Ok(Err(_)) => {
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
            Err(_) => break,
        };
        loop {
            if requests
                .send(pb::LeaseKeepAliveRequest { id: lease })
                .await
                .is_err()
            {
                continue 'streams;
            }
            match tokio::time::timeout_at(deadline, responses.message()).await {
                Ok(Ok(Some(answer))) if answer.ttl <= 0 => break 'streams,
                Ok(Ok(Some(answer))) => {
                    let ttl = Duration::from_secs(answer.ttl as u64);
                    deadline = Instant::now() + ttl;
                    tokio::time::sleep((ttl / 3).max(KEEP_ALIVE_INTERVAL_MIN)).await;
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue 'streams;
                }
                Err(_) => break 'streams,
            }
        }
    }
    let _ = done.send(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_etcds_defaults() {
        let options = SessionOptions::default();
        assert_eq!(options.ttl_seconds, 60);
        assert_eq!(options.with_ttl(0).ttl_seconds, 60);
        assert_eq!(options.with_ttl(5).ttl_seconds, 5);
        let given = options.with_lease(7).without_keep_alive();
        assert_eq!((given.lease, given.keep_alive), (Some(7), false));
    }
}
