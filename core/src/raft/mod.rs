//! Raft consensus as a pure state machine. See [`RawNode`] for the contract.

mod types;

pub use types::*;
