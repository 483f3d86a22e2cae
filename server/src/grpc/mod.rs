//! etcd's v3 gRPC API: conversions, the error table, and the services.

pub mod auth;
pub mod convert;
pub mod lease;
pub mod services;
pub mod status;
pub mod watch;
