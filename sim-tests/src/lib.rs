//! cairn-sim-tests: seeded whole-cluster simulations (`sim`, built only under
//! `--cfg madsim`: `cargo sim`) and the linearizability checker with its
//! history format (`checker`, `history`), which the real-process tests use
//! too.

pub mod checker;
pub mod history;
pub mod timeline;

pub mod scenario;
#[cfg(madsim)]
pub mod sim;
pub mod trace;
pub mod v2_check;
pub mod watch_check;
