//! Member and cluster IDs as etcd 3.4 derives them: the functions live in
//! `cairn-etcd-wal` (`cairn_etcd_wal::ids`), shared with cairnctl's
//! `snapshot restore`, and are re-exported here for the server's callers.

pub use cairn_etcd_wal::ids::{cluster_id, member_id};
