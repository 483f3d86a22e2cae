//! The member's own gRPC services, called from inside the member as the
//! sender of a request: how the Lock and Election services run
//! cairn-client's recipes (as etcd's run clientv3's over its `v3client`).
//!
//! ```text
//!   Lock/Campaign request (token, or TLS client CN) ──▶ Caller identity
//!        │
//!        ▼  InProcess::client_for(&request): a cairn_client::Client whose
//!           channel connects through tokio::io::duplex, no socket (one
//!           connection per recent caller identity, reused)
//!   client end ══ HTTP/2 (in memory) ══ server end ──▶ WithCaller ──▶ router
//!                                        every request gets the caller's   (KV, Lease,
//!                                        `token` metadata / CN extension    Watch, ...)
//! ```
//!
//! Why in memory rather than a channel to the member's own client URL: no
//! dependence on which URLs are listened on (TLS with client certificates,
//! Unix sockets, an interface the member cannot reach itself on), and the
//! caller's identity is handed on as-is, including a verified certificate's
//! CN, which a dialled connection could not carry. Calls made this way pass
//! the same checks (auth, permissions, limits) as calls from outside; they
//! are not counted in the gRPC metrics, as etcd's `v3client` calls are not.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{Request, Uri};
use cairn_client::concurrency::Error as RecipeError;
use cairn_client::{Client, Endpoint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic::Status;

use super::errors;
use super::tokens::TOKEN_METADATA;
use crate::tls::ClientCommonName;

/// The in-memory pipe's buffer per direction, in bytes.
const DUPLEX_BUFFER_BYTES: usize = 256 * 1024;
/// The name the in-process channel is dialled with (never resolved).
const IN_PROCESS_URL: &str = "http://in-process:2379";
/// The key etcd's gRPC gateway sends tokens under.
const GATEWAY_TOKEN_METADATA: &str = "authorization";

/// How many callers' connections are kept for reuse (the oldest goes first).
const CONNECTIONS_MAX: usize = 64;

/// The services the recipes call (not Lock and Election themselves), and a
/// connection to them per recent caller.
#[derive(Clone, Debug)]
pub struct InProcess {
    router: axum::Router,
    /// Recent callers' channels, newest last. A channel only ever carries
    /// the identity it was made for.
    connections: Arc<std::sync::Mutex<VecDeque<(Caller, Channel)>>>,
}

/// Who sent a request: what [`WithCaller`] puts on every in-process call.
#[derive(Clone, Debug, Default, PartialEq)]
struct Caller {
    token: Option<MetadataValue<Ascii>>,
    common_name: Option<ClientCommonName>,
}

impl Caller {
    fn of<T>(request: &tonic::Request<T>) -> Caller {
        let metadata = request.metadata();
        let token = metadata
            .get(TOKEN_METADATA)
            .or_else(|| metadata.get(GATEWAY_TOKEN_METADATA))
            .cloned();
        Caller {
            token,
            common_name: request.extensions().get::<ClientCommonName>().cloned(),
        }
    }
}

impl InProcess {
    /// Calls go to `router`.
    pub fn new(router: axum::Router) -> InProcess {
        InProcess {
            router,
            connections: Arc::default(),
        }
    }

    /// A client whose every call is made as the sender of `request`, over
    /// that caller's connection (made on first use, kept for the next
    /// calls of the same caller).
    pub fn client_for<T>(&self, request: &tonic::Request<T>) -> Client {
        let caller = Caller::of(request);
        let endpoint = Endpoint::parse(IN_PROCESS_URL).expect("a valid constant URL");
        let mut connections = self.connections.lock().expect("in-process connections");
        if let Some((_, channel)) = connections.iter().find(|(known, _)| *known == caller) {
            return Client::from_channel(endpoint, channel.clone());
        }
        let channel = self.connect(caller.clone());
        if connections.len() >= CONNECTIONS_MAX {
            connections.pop_front();
        }
        connections.push_back((caller, channel.clone()));
        Client::from_channel(endpoint, channel)
    }

    /// A channel whose connections (the first, and any after it drops) are
    /// in-memory pipes served by the router as `caller`.
    fn connect(&self, caller: Caller) -> Channel {
        let router = self.router.clone();
        let connector = tower::service_fn(move |_: Uri| {
            let (client_end, server_end) = tokio::io::duplex(DUPLEX_BUFFER_BYTES);
            let service = TowerToHyperService::new(WithCaller {
                inner: router.clone(),
                caller: caller.clone(),
            });
            tokio::spawn(async move {
                let mut builder = Builder::new(TokioExecutor::new());
                // One caller's waiters and observers hold a stream each for
                // as long as they wait; a cap here could leave the holder's
                // Unlock queued behind them. The caller's own connection to
                // the member is the one `--max-concurrent-streams` bounds.
                builder.http2().max_concurrent_streams(None);
                let _ = builder
                    .serve_connection(TokioIo::new(server_end), service)
                    .await;
            });
            std::future::ready(Ok::<_, std::io::Error>(TokioIo::new(client_end)))
        });
        tonic::transport::Endpoint::from_static(IN_PROCESS_URL)
            .connect_with_connector_lazy(connector)
    }
}

/// Puts the caller's token and certificate CN on every request.
#[derive(Clone, Debug)]
struct WithCaller<S> {
    inner: S,
    caller: Caller,
}

impl<S, B> tower::Service<Request<B>> for WithCaller<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let headers = request.headers_mut();
        headers.remove(TOKEN_METADATA);
        headers.remove(GATEWAY_TOKEN_METADATA);
        if let Some(token) = &self.caller.token {
            if let Ok(value) = token.to_str().unwrap_or_default().parse() {
                headers.insert(TOKEN_METADATA, value);
            }
        }
        if let Some(name) = &self.caller.common_name {
            request.extensions_mut().insert(name.clone());
        }
        self.inner.call(request)
    }
}

/// What etcd's Lock and Election services send for a recipe's error. Their
/// recipes run on etcd's Go client, which turns each status whose message
/// is in etcd's error table into a plain Go error (`rpctypes.Error`); the
/// gRPC server then sends that with code `Unknown`. The recipes' own errors
/// ("election: no leader", ...) are plain Go errors too.
pub fn recipe_status(error: RecipeError) -> Status {
    match error {
        RecipeError::Status(status) => {
            let known = errors::TABLE
                .iter()
                .any(|row| row.message == status.message());
            if known {
                errors::unknown(status.message())
            } else {
                status
            }
        }
        other => errors::unknown(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_process_url_is_an_endpoint() {
        assert!(Endpoint::parse(IN_PROCESS_URL).is_ok());
    }

    #[test]
    fn recipe_errors_are_sent_as_etcd_sends_them() {
        let lease = recipe_status(RecipeError::Status(Status::not_found(
            "etcdserver: requested lease not found",
        )));
        assert_eq!(
            (lease.code(), lease.message()),
            (
                tonic::Code::Unknown,
                "etcdserver: requested lease not found"
            )
        );
        let gone = recipe_status(RecipeError::Status(Status::unavailable("transport closed")));
        assert_eq!(gone.code(), tonic::Code::Unavailable);
        let none = recipe_status(RecipeError::NoLeader);
        assert_eq!(
            (none.code(), none.message()),
            (tonic::Code::Unknown, "election: no leader")
        );
    }
}
