//! [`Client`]: a set of endpoints dialled with one TLS setting and one
//! user's token, tonic clients for each etcd service, and calls that retry
//! within bounds.
//!
//! ```text
//!   endpoints[0] ── channel (connected at start)   ◀── current
//!   endpoints[1] ── channel (connects when used)        │ moves on when a
//!   endpoints[2] ── channel (connects when used)        ▼ call finds its
//!                                                         endpoint unavailable
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use tokio::time::Instant;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::auth::{AuthError, AuthInterceptor, Credentials, TokenCell};
use crate::dial::{DialError, Dialer, DIAL_TIMEOUT_DEFAULT};
use crate::endpoint::{Endpoint, EndpointError, Scheme};
use crate::leader::LeaderCache;
use crate::retry::{self, Idempotence, RetryPolicy, Verdict};
use crate::tls::{TlsError, TlsOptions};

/// A channel that puts the client's token on every request.
pub type AuthedChannel = InterceptedService<Channel, AuthInterceptor>;

/// What [`Client::connect`] needs; the fields mirror etcdctl's global flags.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `--endpoints` (see [`crate::endpoint::parse_list`]).
    pub endpoints: Vec<Endpoint>,
    /// `--cacert`, `--cert`, `--key`, `--insecure-skip-tls-verify`; `None`
    /// when none is given (bare endpoints are then plain).
    pub tls: Option<TlsOptions>,
    /// `--user name:password`.
    pub credentials: Option<Credentials>,
    /// `--dial-timeout`: TCP connection and TLS handshake together.
    pub dial_timeout: Duration,
    /// `--command-timeout` for each request, if any.
    pub request_timeout: Option<Duration>,
    /// Bounds on retrying calls made through [`Client::call`] and
    /// [`Client::leader_call`].
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Plain connections, no user, etcdctl's dial timeout, default retries.
    pub fn new(endpoints: Vec<Endpoint>) -> ClientConfig {
        ClientConfig {
            endpoints,
            tls: None,
            credentials: None,
            dial_timeout: DIAL_TIMEOUT_DEFAULT,
            request_timeout: None,
            retry: RetryPolicy::default(),
        }
    }

    /// TLS options; empty ones count as none given.
    pub fn with_tls(mut self, options: TlsOptions) -> ClientConfig {
        self.tls = (!options.is_empty()).then_some(options);
        self
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> ClientConfig {
        self.credentials = Some(credentials);
        self
    }

    pub fn with_dial_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.dial_timeout = timeout;
        self
    }

    pub fn with_request_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.request_timeout = Some(timeout);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> ClientConfig {
        self.retry = retry;
        self
    }
}

/// Why a client could not be made or could not route a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error("no endpoint could be reached: {}", .0.join("; "))]
    Unreachable(Vec<String>),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("no endpoint knows a leader ({0})")]
    NoLeader(String),
}

/// A connection to a cluster through its endpoints. Cheap to clone; clones
/// share channels, token and leader.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    /// As given.
    pub(crate) endpoints: Vec<Endpoint>,
    /// One per endpoint, same order; each reconnects by itself.
    pub(crate) channels: Vec<Channel>,
    /// Index into `endpoints` of the one calls go to (modulo its length).
    current: AtomicUsize,
    pub(crate) dialer: Dialer,
    /// Whether TLS options were given (bare endpoints then use TLS).
    tls_options_given: bool,
    token: TokenCell,
    credentials: Option<Credentials>,
    /// Held while authenticating again, so that one request does it.
    reauthentication: tokio::sync::Mutex<()>,
    pub(crate) retry: RetryPolicy,
    /// Bounds each question asked while looking for the leader.
    pub(crate) probe_timeout: Duration,
    pub(crate) leader: LeaderCache,
}

/// How long one status or member-list question may take while looking for
/// the leader, unless a request timeout is configured.
const PROBE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

impl Client {
    /// Dials the endpoints in order until one connects (the others connect
    /// when first used), then authenticates if a user is given.
    pub async fn connect(config: ClientConfig) -> Result<Client, Error> {
        if config.endpoints.is_empty() {
            return Err(EndpointError::NoEndpoints.into());
        }
        let tls_options_given = config.tls.is_some();
        let wants_tls = config
            .endpoints
            .iter()
            .any(|endpoint| endpoint.uses_tls(tls_options_given));
        // etcdctl dials https:// endpoints with the system's CAs when no
        // TLS option is given.
        let tls = match (&config.tls, wants_tls) {
            (Some(options), _) => Some(Arc::new(options.client_config()?)),
            (None, true) => Some(Arc::new(TlsOptions::default().client_config()?)),
            (None, false) => None,
        };
        let mut dialer = Dialer::new(tls).with_dial_timeout(config.dial_timeout);
        if let Some(timeout) = config.request_timeout {
            dialer = dialer.with_request_timeout(timeout);
        }
        let mut channels = Vec::with_capacity(config.endpoints.len());
        let mut failures = Vec::new();
        let mut current = None;
        for (index, endpoint) in config.endpoints.iter().enumerate() {
            let endpoint = explicit(endpoint, tls_options_given);
            if current.is_none() {
                match dialer.channel(&endpoint).await {
                    Ok(channel) => {
                        channels.push(channel);
                        current = Some(index);
                        continue;
                    }
                    Err(error) => failures.push(error.to_string()),
                }
            }
            channels.push(dialer.lazy_channel(&endpoint)?);
        }
        let Some(current) = current else {
            return Err(Error::Unreachable(failures));
        };
        let client = Client {
            shared: Arc::new(Shared {
                endpoints: config.endpoints,
                channels,
                current: AtomicUsize::new(current),
                dialer,
                tls_options_given,
                token: TokenCell::default(),
                credentials: config.credentials,
                reauthentication: tokio::sync::Mutex::new(()),
                retry: config.retry,
                probe_timeout: config.request_timeout.unwrap_or(PROBE_TIMEOUT_DEFAULT),
                leader: LeaderCache::default(),
            }),
        };
        client.authenticate().await?;
        Ok(client)
    }

    /// A client over one channel made elsewhere (an in-process connection,
    /// a channel with a connector of its own) that `endpoint` names, with no
    /// user: whatever identifies the caller travels with the channel. The
    /// server's Lock and Election services make their recipes' calls
    /// through such a client.
    pub fn from_channel(endpoint: Endpoint, channel: Channel) -> Client {
        Client {
            shared: Arc::new(Shared {
                endpoints: vec![endpoint],
                channels: vec![channel],
                current: AtomicUsize::new(0),
                dialer: Dialer::new(None),
                tls_options_given: false,
                token: TokenCell::default(),
                credentials: None,
                reauthentication: tokio::sync::Mutex::new(()),
                retry: RetryPolicy::default(),
                probe_timeout: PROBE_TIMEOUT_DEFAULT,
                leader: LeaderCache::default(),
            }),
        }
    }

    /// The endpoints, as given.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.shared.endpoints
    }

    /// The endpoint calls go to now.
    pub fn current_endpoint(&self) -> &Endpoint {
        &self.shared.endpoints[self.current_index()]
    }

    /// The dialer this client opens channels with (its TLS, its timeouts).
    pub fn dialer(&self) -> &Dialer {
        &self.shared.dialer
    }

    /// The current endpoint's channel, with the token.
    pub fn channel(&self) -> AuthedChannel {
        self.authed(self.current_index())
    }

    pub fn kv(&self) -> pb::kv_client::KvClient<AuthedChannel> {
        pb::kv_client::KvClient::new(self.channel())
    }

    pub fn lease(&self) -> pb::lease_client::LeaseClient<AuthedChannel> {
        pb::lease_client::LeaseClient::new(self.channel())
    }

    pub fn watch(&self) -> pb::watch_client::WatchClient<AuthedChannel> {
        pb::watch_client::WatchClient::new(self.channel())
    }

    pub fn maintenance(&self) -> pb::maintenance_client::MaintenanceClient<AuthedChannel> {
        pb::maintenance_client::MaintenanceClient::new(self.channel())
    }

    pub fn cluster(&self) -> pb::cluster_client::ClusterClient<AuthedChannel> {
        pb::cluster_client::ClusterClient::new(self.channel())
    }

    pub fn auth(&self) -> pb::auth_client::AuthClient<AuthedChannel> {
        pb::auth_client::AuthClient::new(self.channel())
    }

    /// `count` new connections (HTTP/2 channels of their own), connection i
    /// to `endpoints[i % len]`, each connected before this returns, each
    /// with the token: for load that should not share one connection.
    pub async fn open_channels(
        &self,
        endpoints: &[Endpoint],
        count: usize,
    ) -> Result<Vec<AuthedChannel>, Error> {
        if endpoints.is_empty() {
            return Err(EndpointError::NoEndpoints.into());
        }
        let mut channels = Vec::with_capacity(count.max(1));
        for index in 0..count.max(1) {
            let endpoint = self.explicit(&endpoints[index % endpoints.len()]);
            let channel = self.shared.dialer.channel(&endpoint).await?;
            channels.push(self.intercept(channel));
        }
        Ok(channels)
    }

    /// Runs `op` on the current endpoint's channel, again on failures
    /// [`retry::verdict`] allows, within the retry policy's bounds: moving
    /// to the next endpoint when one is unavailable, authenticating again
    /// when the token is refused.
    pub async fn call<T, F, Fut>(&self, idempotence: Idempotence, mut op: F) -> Result<T, Status>
    where
        F: FnMut(AuthedChannel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let index = self.current_index();
            let generation = self.shared.token.generation();
            let status = match op(self.authed(index)).await {
                Ok(value) => return Ok(value),
                Err(status) => status,
            };
            let verdict = retry::verdict(&status, idempotence);
            if verdict == Verdict::Fail || !self.may_retry(attempt, started) {
                return Err(status);
            }
            if verdict == Verdict::Reauthenticate {
                if self.reauthenticate(generation).await.is_err() {
                    return Err(status);
                }
                continue;
            }
            if status.code() == Code::Unavailable {
                self.move_on_from(index);
            }
            tokio::time::sleep(self.shared.retry.backoff(attempt)).await;
        }
    }

    /// Authenticates again (when a user is given), unless the token was
    /// already replaced since generation `seen` was in use.
    pub(crate) async fn reauthenticate(&self, seen: u64) -> Result<(), Error> {
        let _only_one = self.shared.reauthentication.lock().await;
        if self.shared.token.generation() != seen {
            return Ok(());
        }
        let Some(credentials) = &self.shared.credentials else {
            return Err(AuthError::Refused {
                name: String::new(),
                status: Status::unauthenticated(retry::texts::INVALID_AUTH_TOKEN),
            }
            .into());
        };
        let channel = self.shared.channels[self.current_index()].clone();
        self.shared
            .token
            .set(credentials.authenticate(channel).await?);
        Ok(())
    }

    /// The first authentication, retried like an idempotent call (over a
    /// channel without a token: there is none yet).
    async fn authenticate(&self) -> Result<(), Error> {
        let Some(credentials) = &self.shared.credentials else {
            return Ok(());
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let index = self.current_index();
            let error = match credentials
                .authenticate(self.shared.channels[index].clone())
                .await
            {
                Ok(token) => {
                    self.shared.token.set(token);
                    return Ok(());
                }
                Err(error) => error,
            };
            let AuthError::Refused { status, .. } = &error else {
                return Err(error.into());
            };
            if !retry::is_transient(status) || !self.may_retry(attempt, started) {
                return Err(error.into());
            }
            if status.code() == Code::Unavailable {
                self.move_on_from(index);
            }
            tokio::time::sleep(self.shared.retry.backoff(attempt)).await;
        }
    }

    /// Whether attempt number `attempt` (just failed) may be followed by
    /// another within the policy.
    pub(crate) fn may_retry(&self, attempt: u32, started: Instant) -> bool {
        let policy = &self.shared.retry;
        attempt < policy.attempts_max
            && started.elapsed() + policy.backoff(attempt) <= policy.total_max
    }

    pub(crate) fn current_index(&self) -> usize {
        self.shared.current.load(Ordering::Relaxed) % self.shared.endpoints.len()
    }

    /// The next endpoint becomes current, unless another call moved on
    /// from `index` already.
    fn move_on_from(&self, index: usize) {
        let next = (index + 1) % self.shared.endpoints.len();
        let _ =
            self.shared
                .current
                .compare_exchange(index, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub(crate) fn authed(&self, index: usize) -> AuthedChannel {
        self.intercept(self.shared.channels[index].clone())
    }

    pub(crate) fn intercept(&self, channel: Channel) -> AuthedChannel {
        InterceptedService::new(channel, AuthInterceptor::new(self.shared.token.clone()))
    }

    pub(crate) fn token_generation(&self) -> u64 {
        self.shared.token.generation()
    }

    /// `endpoint` with the scheme it is dialled with.
    pub(crate) fn explicit(&self, endpoint: &Endpoint) -> Endpoint {
        explicit(endpoint, self.shared.tls_options_given)
    }
}

/// A bare endpoint's transport made explicit, so that a dialer with TLS
/// (for https:// endpoints) does not also put bare ones over TLS.
fn explicit(endpoint: &Endpoint, tls_options_given: bool) -> Endpoint {
    if endpoint.socket_path().is_some() {
        return endpoint.clone();
    }
    let scheme = if endpoint.uses_tls(tls_options_given) {
        Scheme::Https
    } else {
        Scheme::Http
    };
    endpoint.with_scheme(scheme)
}
