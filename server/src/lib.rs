pub mod backup;
pub mod compactor;
pub mod config;
pub mod corrupt_check;
pub mod discovery;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod http;
pub mod identity;
pub mod ids;
pub mod logging;
pub mod metrics;
pub mod run;
pub mod serve;
pub mod tls;
pub mod version;
