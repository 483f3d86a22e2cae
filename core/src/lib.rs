//! cairn-core: the sans-I/O heart of cairn.
//!
//! Everything in this crate is a pure, deterministic state machine or codec. It
//! never touches a socket, a file, a thread, the wall clock, the environment or an
//! OS random source: every event arrives as an explicit input (with `now` where
//! time matters) and everything a node wants done leaves as an explicit output.
//! The runtimes (`cairn-runtime-tokio`, `cairn-runtime-sim`) execute those outputs.
//!
//! Modules:
//! * [`auth`]: users, roles, key-range permissions and simple tokens.
//! * [`raft`]: consensus (election with pre-vote and check-quorum, replication
//!   with flow control, ReadIndex, leader transfer, membership changes, snapshots).
//! * [`wal`]: the write-ahead-log record and segment codec and its recovery verdict.
//! * [`snapshot`]: the codec of a full image of the applied state.
//! * [`mvcc`]: the multi-version key-value store behind etcd's v3 API.
//! * [`lease`]: lease bookkeeping (grant, revoke, attach, expiry candidates).
//! * [`watch`]: watch bookkeeping (synced/unsynced watchers, catch-up, progress).
//! * [`member`]: one member as a state machine: Raft + MVCC + leases + WAL group commit.
//! * [`codec`]: binary codecs of log payloads and of the peer protocol.
//! * [`time`]: the instant type every time-dependent input carries.
//!
//! `fuzzing` (hidden) holds the fuzz bodies of the decoders above, shared by
//! `fuzz/` (cargo-fuzz) and `tests/fuzz_decoders.rs`; see docs/fuzzing.md.
#![forbid(unsafe_code)]

pub mod auth;
pub mod codec;
#[doc(hidden)]
pub mod fuzzing;
pub mod lease;
pub mod member;
pub mod mvcc;
pub mod raft;
pub mod rng;
pub mod snapshot;
pub mod time;
pub mod v2store;
pub mod wal;
pub mod watch;
