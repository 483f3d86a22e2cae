//! One cairn member as a sans-I/O state machine: Raft, the MVCC store, leases,
//! client request tracking, the WAL's group commit and the snapshot policy.

mod request;

pub use request::{MemberInfo, Op, Proposal};
