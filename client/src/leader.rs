//! Leader-aware routing: which member leads, and a channel to it that is
//! kept while the leader's URL stays the same. Keep-alives and TTL queries
//! go to the leader, which keeps the lease clock.
//!
//! ```text
//!   for each endpoint, from the current one:
//!     Maintenance.Status ──▶ leader == 0                → next endpoint
//!                        ──▶ leader == header.member_id → this endpoint leads
//!                        ──▶ another member leads       → Cluster.MemberList:
//!                              its client URL (one of ours if it names the
//!                              same server, else dialled as listed)
//! ```
//!
//! The answer is cached until a call on it fails in a way that says the
//! leader is gone ([`crate::retry::is_leader_lost`]); the next call then
//! asks again, and keeps the old channel if the answer is the same server.

use std::future::Future;
use std::sync::Mutex;

use cairn_proto::etcdserverpb as pb;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::Status;

use crate::client::{AuthedChannel, Client, Error};
use crate::endpoint::Endpoint;
use crate::retry::{self, Idempotence, Verdict};

/// The leader last found.
#[derive(Debug, Default)]
pub(crate) struct LeaderCache {
    state: Mutex<Option<Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    endpoint: Endpoint,
    channel: Channel,
    /// A call found it gone: ask again, but keep the channel if the answer
    /// is the same server.
    stale: bool,
}

impl LeaderCache {
    fn fresh(&self) -> Option<(Endpoint, Channel)> {
        let state = self.state.lock().expect("leader lock");
        state
            .as_ref()
            .filter(|cached| !cached.stale)
            .map(|cached| (cached.endpoint.clone(), cached.channel.clone()))
    }

    /// The cached channel, if it goes to the same server as `endpoint`.
    fn channel_for(&self, endpoint: &Endpoint) -> Option<Channel> {
        let state = self.state.lock().expect("leader lock");
        state
            .as_ref()
            .filter(|cached| {
                cached.endpoint.scheme() == endpoint.scheme()
                    && cached.endpoint.same_server(endpoint)
            })
            .map(|cached| cached.channel.clone())
    }

    fn set(&self, endpoint: Endpoint, channel: Channel) {
        *self.state.lock().expect("leader lock") = Some(Cached {
            endpoint,
            channel,
            stale: false,
        });
    }

    fn mark_stale(&self) {
        if let Some(cached) = self.state.lock().expect("leader lock").as_mut() {
            cached.stale = true;
        }
    }
}

/// Where the leader was found.
enum Found {
    /// `endpoints[index]`.
    Ours(usize),
    /// A client URL from the member list that none of ours names.
    Elsewhere(Endpoint),
}

impl Client {
    /// A channel to the leader's client URL, with the token.
    pub async fn leader_channel(&self) -> Result<AuthedChannel, Error> {
        let (_, channel) = self.leader().await?;
        Ok(self.intercept(channel))
    }

    /// The leader's endpoint: one of ours as given, or its client URL.
    pub async fn leader_endpoint(&self) -> Result<Endpoint, Error> {
        Ok(self.leader().await?.0)
    }

    /// Forgets the leader (a call found it gone): the next leader call asks
    /// again.
    pub fn forget_leader(&self) {
        self.shared.leader.mark_stale();
    }

    /// Runs `op` on the leader's channel, retrying as [`Client::call`] does;
    /// when the failure says the leader is gone, the leader is looked for
    /// again before the next attempt.
    pub async fn leader_call<T, F, Fut>(
        &self,
        idempotence: Idempotence,
        mut op: F,
    ) -> Result<T, Status>
    where
        F: FnMut(AuthedChannel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let generation = self.token_generation();
            let (status, verdict) = match self.leader().await {
                Ok((_, channel)) => match op(self.intercept(channel)).await {
                    Ok(value) => return Ok(value),
                    Err(status) => {
                        let verdict = retry::verdict(&status, idempotence);
                        (status, verdict)
                    }
                },
                // Nothing was sent: trying again is harmless for any call.
                Err(error) => (Status::unavailable(error.to_string()), Verdict::Retry),
            };
            if verdict == Verdict::Fail || !self.may_retry(attempt, started) {
                return Err(status);
            }
            if verdict == Verdict::Reauthenticate {
                if self.reauthenticate(generation).await.is_err() {
                    return Err(status);
                }
                continue;
            }
            if retry::is_leader_lost(&status) {
                self.forget_leader();
            }
            tokio::time::sleep(self.shared.retry.backoff(attempt)).await;
        }
    }

    /// The cached leader, or a new answer from the members.
    async fn leader(&self) -> Result<(Endpoint, Channel), Error> {
        if let Some(fresh) = self.shared.leader.fresh() {
            return Ok(fresh);
        }
        let (endpoint, channel) = match self.find_leader().await? {
            Found::Ours(index) => (
                self.shared.endpoints[index].clone(),
                self.shared.channels[index].clone(),
            ),
            Found::Elsewhere(endpoint) => match self.shared.leader.channel_for(&endpoint) {
                Some(channel) => (endpoint, channel),
                None => {
                    let channel = self.shared.dialer.channel(&endpoint).await?;
                    (endpoint, channel)
                }
            },
        };
        self.shared.leader.set(endpoint.clone(), channel.clone());
        Ok((endpoint, channel))
    }

    /// Asks the endpoints, from the current one, until one names a leader.
    async fn find_leader(&self) -> Result<Found, Error> {
        let count = self.shared.endpoints.len();
        let start = self.current_index();
        let mut last_problem = String::from("no endpoint answered");
        for offset in 0..count {
            let index = (start + offset) % count;
            match self.probe(index).await {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {
                    last_problem = format!("{} knows no leader", self.shared.endpoints[index])
                }
                Err(status) => {
                    last_problem = format!("{}: {}", self.shared.endpoints[index], status.message())
                }
            }
        }
        Err(Error::NoLeader(last_problem))
    }

    /// What `endpoints[index]` says about the leader.
    async fn probe(&self, index: usize) -> Result<Option<Found>, Status> {
        let channel = self.authed(index);
        let mut maintenance = pb::maintenance_client::MaintenanceClient::new(channel.clone());
        let status = self
            .bounded(maintenance.status(pb::StatusRequest {}))
            .await?
            .into_inner();
        if status.leader == 0 {
            return Ok(None);
        }
        if status.header.map(|header| header.member_id) == Some(status.leader) {
            return Ok(Some(Found::Ours(index)));
        }
        let mut cluster = pb::cluster_client::ClusterClient::new(channel);
        let members = self
            .bounded(cluster.member_list(pb::MemberListRequest {}))
            .await?
            .into_inner()
            .members;
        let urls: Vec<Endpoint> = members
            .iter()
            .filter(|member| member.id == status.leader)
            .flat_map(|member| &member.client_ur_ls)
            .filter_map(|url| Endpoint::parse(url).ok())
            .collect();
        for url in &urls {
            if let Some(ours) = self
                .shared
                .endpoints
                .iter()
                .position(|endpoint| endpoint.same_server(url))
            {
                return Ok(Some(Found::Ours(ours)));
            }
        }
        Ok(urls.into_iter().next().map(Found::Elsewhere))
    }

    /// `call` within the probe timeout.
    async fn bounded<T>(&self, call: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        match tokio::time::timeout(self.shared.probe_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(Status::deadline_exceeded("no answer in time")),
        }
    }
}
