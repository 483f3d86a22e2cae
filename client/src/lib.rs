//! cairn-client: the one place cairn's programs dial etcd's v3 gRPC API
//! from (cairn-bench, the server's own calls to other members).
//!
//! ```text
//!   --endpoints ──▶ endpoint::parse_list ──▶ Vec<Endpoint>
//!   --cacert/--cert/--key/--insecure-skip-tls-verify ──▶ TlsOptions
//!   --user name:password ──▶ Credentials
//!            │
//!            ▼ ClientConfig
//!   Client::connect ── Dialer (rustls on ring, tonic channels)
//!            │          └── also used alone, with a rustls config built
//!            │              elsewhere (the server's, from its flags)
//!            ├── kv() lease() watch() maintenance() cluster() auth():
//!            │     tonic clients whose requests carry the token
//!            ├── call(idempotence, op): bounded retries, next endpoint on
//!            │     Unavailable, authenticate again on an invalid token
//!            ├── leader_channel(), leader_call(idempotence, op): the
//!            │     leader, found by asking the members, cached by URL
//!            └── concurrency: Session, Mutex, Election (etcd's recipes)
//!   v2::V2Client: etcd's v2 HTTP+JSON API (keys, members, auth, health)
//!            over Dialer::connect_http1
//! ```

pub mod auth;
pub mod client;
pub mod concurrency;
pub mod dial;
pub mod endpoint;
mod leader;
pub mod retry;
pub mod srv;
pub mod tls;
pub mod v2;

pub use auth::{AuthError, Credentials};
pub use client::{AuthedChannel, Client, ClientConfig, Error};
pub use dial::{DialError, Dialer};
pub use endpoint::{Endpoint, EndpointError, Scheme};
pub use retry::{Idempotence, RetryPolicy};
pub use tls::{TlsError, TlsOptions};
