//! Lease bookkeeping: which leases exist, what keys hang on them, and when they
//! expire. Pure state: time arrives as `now`, ids come from the request or from a
//! seeded [`LeaseIdGenerator`], and expiry only yields *candidates* the leader
//! proposes for revocation through Raft (so every member revokes at the same log
//! index). Deleting a revoked lease's keys in one revision is
//! [`crate::mvcc::Store::revoke_lease`].
//!
//! Only the primary (the leader's lessor) tracks expiry. Followers hold every lease
//! "forever" until they are promoted; a new leader extends every lease
//! ([`Lessor::promote`]) rather than expiring leases whose keep-alives went to the
//! old leader.

mod error;
mod id;
mod lessor;

pub use error::LeaseError;
pub use id::LeaseIdGenerator;
pub use lessor::{Lease, LeaseRecord, Lessor, LessorConfig, TimeToLive};

/// A lease's id. Clients choose any non-zero int64 (etcd's wire type).
pub type LeaseId = i64;

/// "No lease": a key attached to no lease.
pub const NO_LEASE: LeaseId = 0;

/// The largest TTL a lease may have, in seconds (etcd's `MaxLeaseTTL`).
pub const MAX_LEASE_TTL_SECS: i64 = 9_000_000_000;

/// How many leases the leader revokes per second at most (etcd's `leaseRevokeRate`).
/// The leader checks twice a second, so `expired(now, LEASE_REVOKE_RATE_PER_SEC / 2)`.
pub const LEASE_REVOKE_RATE_PER_SEC: usize = 1000;

/// An expired lease handed out by [`Lessor::expired`] is handed out again only
/// after this long, if still not revoked (etcd's `expiredLeaseRetryInterval`).
pub const EXPIRED_LEASE_RETRY_MS: u64 = 3_000;
