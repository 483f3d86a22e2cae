//! Which failures are worth another attempt, and how long to wait before it.
//!
//! A call is repeated only when repeating cannot do harm:
//!
//! ```text
//!   failure                                  idempotent call   other call
//!   Unavailable (connection lost, refused,
//!     "etcdserver: leader changed",
//!     "etcdserver: no leader",
//!     "etcdserver: request timed out", ...)  retry             no
//!   "etcdserver: not leader"                 retry             retry
//!   "etcdserver: invalid auth token"         re-auth, retry    re-auth, retry
//!   anything else                            no                no
//! ```
//!
//! "not leader" and "invalid auth token" are refusals before anything was
//! done, so even a write may be sent again; a write that met Unavailable may
//! have been applied, so it is not.

use std::time::Duration;

use tonic::{Code, Status};

/// etcd's wire texts this client reacts to (`api/v3rpc/rpctypes`).
pub mod texts {
    pub const INVALID_AUTH_TOKEN: &str = "etcdserver: invalid auth token";
    pub const NOT_LEADER: &str = "etcdserver: not leader";
    pub const LEADER_CHANGED: &str = "etcdserver: leader changed";
    pub const NO_LEADER: &str = "etcdserver: no leader";
    pub const REQUEST_TIMED_OUT: &str = "etcdserver: request timed out";
}

/// Whether a call may be sent twice without changing its outcome (a read,
/// a status query, a keep-alive), which lets it be retried after any
/// transient failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotence {
    Idempotent,
    NotIdempotent,
}

/// Bounds on retrying one call: a count and a total time, with a backoff
/// that doubles from `backoff_initial` up to `backoff_max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub attempts_max: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// No attempt starts after this long from the first.
    pub total_max: Duration,
}

impl Default for RetryPolicy {
    /// Long enough to ride out an election (etcd's default election
    /// timeout is 1 s), short enough that a dead cluster is reported soon.
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts_max: 8,
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            total_max: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// One attempt only.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            attempts_max: 1,
            ..RetryPolicy::default()
        }
    }

    /// The pause after failed attempt number `attempt` (1 = the first).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        self.backoff_initial
            .saturating_mul(1 << doublings)
            .min(self.backoff_max)
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Give the failure to the caller.
    Fail,
    /// Try again (on another endpoint, or after finding the leader again).
    Retry,
    /// Authenticate again, then try again.
    Reauthenticate,
}

/// The verdict on `status` for a call of this idempotence.
pub fn verdict(status: &Status, idempotence: Idempotence) -> Verdict {
    if status.message() == texts::INVALID_AUTH_TOKEN {
        return Verdict::Reauthenticate;
    }
    if status.message() == texts::NOT_LEADER {
        return Verdict::Retry;
    }
    if idempotence == Idempotence::Idempotent && is_transient(status) {
        return Verdict::Retry;
    }
    Verdict::Fail
}

/// A failure that may pass by itself: the connection, or the cluster
/// between leaders.
pub fn is_transient(status: &Status) -> bool {
    status.code() == Code::Unavailable
        || [
            texts::LEADER_CHANGED,
            texts::NO_LEADER,
            texts::REQUEST_TIMED_OUT,
        ]
        .iter()
        .any(|text| status.message().starts_with(text))
}

/// A failure that says the member asked is not (or no longer) the leader,
/// or cannot reach one: find the leader again before the next attempt.
pub fn is_leader_lost(status: &Status) -> bool {
    status.code() == Code::Unavailable
        || [texts::NOT_LEADER, texts::LEADER_CHANGED, texts::NO_LEADER].contains(&status.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let policy = RetryPolicy::default();
        let pauses: Vec<u128> = (1..=7).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn only_harmless_repeats_are_retried() {
        use Idempotence::*;
        let unavailable = Status::unavailable("etcdserver: leader changed");
        assert_eq!(verdict(&unavailable, Idempotent), Verdict::Retry);
        assert_eq!(verdict(&unavailable, NotIdempotent), Verdict::Fail);
        let not_leader = Status::failed_precondition(texts::NOT_LEADER);
        assert_eq!(verdict(&not_leader, NotIdempotent), Verdict::Retry);
        let token = Status::unauthenticated(texts::INVALID_AUTH_TOKEN);
        assert_eq!(verdict(&token, NotIdempotent), Verdict::Reauthenticate);
        let timed_out = Status::unknown(texts::REQUEST_TIMED_OUT);
        assert_eq!(verdict(&timed_out, Idempotent), Verdict::Retry);
        let denied = Status::permission_denied("etcdserver: permission denied");
        assert_eq!(verdict(&denied, Idempotent), Verdict::Fail);
    }
}
