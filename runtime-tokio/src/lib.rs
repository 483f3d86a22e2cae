//! cairn-runtime-tokio: executes cairn-core's actions with real sockets, files
//! and clocks. It holds no protocol logic; every decision is core's.
//!
//! * [`disk`]: the data directory, read back at startup (WAL segments mapped
//!   read-only) and written by one worker thread, in order, one fdatasync per
//!   group-committed batch.
//! * [`transport`]: the peer transport over TCP.
//! * [`driver`]: the loop that feeds the member and carries out its actions.
//! * [`metrics`]: what the disk and the transport measure, for `/metrics`.
//!
//! Built with `--cfg madsim` (by `cargo sim`), only the driver and its I/O
//! types are compiled, on madsim's tokio: cairn-runtime-sim supplies the
//! disk and the network.

#[cfg(not(madsim))]
pub mod disk;
pub mod driver;
pub mod io;
#[cfg(not(madsim))]
pub mod metrics;
#[cfg(not(madsim))]
pub mod net;
#[cfg(not(madsim))]
pub mod peer_members;
pub mod raft_stats;
#[cfg(not(madsim))]
pub mod transport;

#[cfg(not(madsim))]
mod real;

#[cfg(not(madsim))]
pub use disk::{DataDir, DataDirError, EtcdLayout};
pub use driver::{
    startup_peers, Clock, Disk, Driver, DriverParts, MemberHandle, Network, Reply, RuntimeEvent,
    WatchStream, MEMBER_REMOVED,
};
#[cfg(not(madsim))]
pub use metrics::RuntimeMetrics;
#[cfg(not(madsim))]
pub use net::{is_unix_scheme, NetListener, NetStream};
#[cfg(not(madsim))]
pub use real::{start, StartFailure, StartKind, StartOptions, TokioDriver};
