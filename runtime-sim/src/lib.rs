//! cairn-runtime-sim: runs the production driver of cairn-runtime-tokio on
//! madsim's simulated time and network, and on [`fs::SimFs`], a disk that
//! keeps a live and a durable image of every file so that crashes lose
//! exactly what a real crash may lose.
//!
//! Only [`fs`] is built normally (its tests run with `cargo test`); the rest
//! needs `--cfg madsim`, which `cargo sim` sets.

pub mod fs;

#[cfg(madsim)]
pub mod disk;
#[cfg(madsim)]
pub mod network;
#[cfg(madsim)]
pub mod node;
