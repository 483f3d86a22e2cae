//! cairn-sim-tests: seeded whole-cluster simulations and the linearizability
//! checker.
//!
//! Status: not built yet (issue 5). Until then, cairn-core's own deterministic
//! multi-node test network (`core/tests/`) is where Raft is exercised under faults.

pub mod checker;
pub mod history;
pub mod timeline;

pub mod scenario;
#[cfg(madsim)]
pub mod sim;
pub mod trace;
