//! One cairn member as a sans-I/O state machine: Raft, the MVCC store, leases,
//! client request tracking, the WAL's group commit and the snapshot policy.
//!
//! ```text
//!  client request ─┐                                   ┌─▶ WriteWal (group commit)
//!  peer message ───┼─▶ Member ─▶ RawNode ─▶ Ready ─────┼─▶ Send / SendSnapshot
//!  tick ───────────┤      │  apply committed entries   ├─▶ SaveSnapshot / DeleteFiles
//!  WAL written ────┘      └─▶ Store, Lessor ───────────┴─▶ Respond / Event
//! ```

mod action;
mod authz;
mod backup;
pub mod calls;
mod client;
mod config;
mod counters;
mod leases;
mod membership;
mod node;
pub mod payload;
mod persistence;
mod request;
mod requests;
mod serve;
mod snapshots;
mod startup;
mod state;
mod v2;
mod wal_batch;
mod watching;

pub use action::{Action, MemberEvent, WalOp};
pub use backup::{Backup, BackupImage};
pub use calls::{answer, Call, CallResult};
pub use client::{
    txn_is_write, AlarmAction, AuthRequest, ClientError, ClientRequest, ClientResponse,
    ClientToken, Header, MemberChange, MemberStatus, StatusInfo, V2Answer, V2Request, V2Result,
};
pub use config::{Knobs, MemberConfig};
pub use counters::{MemberCounters, MvccOps, SLOW_REQUEST_MS};
pub use node::Member;
pub use payload::{
    decode_member_info, decode_proposal, encode_member_info, encode_proposal, encode_proposal_into,
    MAX_TXN_DEPTH, PAYLOAD_FORMAT_VERSION,
};
pub use request::{AlarmKind, MemberInfo, Op, Proposal};
pub use startup::{StartError, StartKind};
pub use watching::WatchInput;
