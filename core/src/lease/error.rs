//! Lease errors, with etcd's wire texts (`rpctypes/error.go`).

/// Why a lease operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("etcdserver: requested lease not found")]
    NotFound,
    #[error("etcdserver: lease already exists")]
    AlreadyExists,
    #[error("etcdserver: too large lease TTL")]
    TtlTooLarge,
    /// This lessor is not the leader's; the server forwards the request to the
    /// leader (etcd's internal `ErrNotPrimary`, never sent to clients).
    #[error("not a primary lessor")]
    NotPrimary,
    /// A keep-alive for a lease that has expired but is not yet revoked. etcd waits
    /// for the revocation and then answers "lease not found"; the server may do the
    /// same or answer at once with this error's (identical) text.
    #[error("etcdserver: requested lease not found")]
    Expired,
}
