//! cairn-runtime-tokio: executes cairn-core's actions on real sockets, files and
//! clocks.
//!
//! Status: not built yet. The node driver, group-committed WAL writer and peer
//! transport arrive with the server work (issue 4); nothing here claims to work.
