//! Raft consensus as a pure, deterministic state machine. See [`RawNode`] for
//! the contract between the node and the runtime that drives it.
//!
//! Files: `node.rs` (state, inputs, outputs), `ready.rs` (the output types), `election.rs`,
//! `replication.rs`, `reads.rs` (ReadIndex), `membership.rs`, and the pure
//! pieces `log.rs`, `progress.rs`, `quorum.rs` (randomness from `crate::rng`).

mod config;
mod election;
mod errors;
mod log;
mod membership;
mod node;
mod progress;
pub mod quorum;
mod reads;
mod ready;
mod replication;
mod start;
mod types;

#[cfg(test)]
mod tests;

pub use config::{Config, ConfigError, Knobs};
pub use errors::{ProposeError, ReadError, RestoreError, TransferError};
pub use node::RawNode;
pub use progress::{Progress, ProgressState};
pub use ready::{Outgoing, Proposed, Ready, Restored, Role, RoleState, Write, WriteId};
pub use types::*;
