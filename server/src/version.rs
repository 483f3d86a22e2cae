//! The etcd version cairn speaks, in one place: what `/version`,
//! `Maintenance.Status`, `--version` and the start-up log report.

/// The etcd server version cairn's API corresponds to, as etcd reports its
/// own (`/version`'s `etcdserver`, `Status.version`).
pub const ETCD_VERSION: &str = "3.4.0";
/// The cluster version (`/version`'s `etcdcluster`).
pub const ETCD_CLUSTER_VERSION: &str = "3.4.0";
/// The API version, as etcd's `--version` and start-up log print it.
pub const ETCD_API_VERSION: &str = "3.4";
