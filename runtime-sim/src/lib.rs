//! cairn-runtime-sim: executes the same node driver as production on madsim's
//! simulated network and time, and on SimDisk, a fault-injecting simulated disk.
//!
//! Status: not built yet (issue 5); nothing here claims to work.
