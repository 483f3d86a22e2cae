//! The connection to the leader's client URL, for requests only the leader
//! answers: lease keep-alives and TTL queries, and membership changes that
//! a follower sends on (etcd forwards these over its peer API).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::auth::Caller;
use cairn_core::member::{calls, ClientError};
use tonic::transport::Channel;
use tonic::Status;

use super::backend::Backend;
use super::errors;
use crate::tls::Dialer;

/// How long dialling the leader may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// One channel to the current leader, kept while its URL stays the same.
#[derive(Clone, Debug)]
pub struct LeaderLink {
    backend: Backend,
    /// Opens the connection (TLS for `https://` client URLs).
    dialer: Dialer,
    cached: Arc<Mutex<Option<(String, Channel)>>>,
}

impl LeaderLink {
    pub fn new(backend: Backend, dialer: Dialer) -> LeaderLink {
        LeaderLink {
            backend,
            dialer,
            cached: Arc::default(),
        }
    }

    /// A channel to the current leader's first client URL; "no leader" when
    /// none is known or it cannot be reached.
    pub async fn channel(&self) -> Result<Channel, Status> {
        let no_leader = || errors::client_error(&ClientError::NoLeader);
        let leader = match self
            .backend
            .try_call(Caller::Anonymous, calls::Status)
            .await
        {
            Ok((_, status)) if status.leader != 0 => status.leader,
            _ => return Err(no_leader()),
        };
        let url = match self
            .backend
            .try_call(Caller::Anonymous, calls::MemberList)
            .await
        {
            Ok((_, members)) => members
                .into_iter()
                .find(|m| m.id == leader)
                .and_then(|m| m.client_urls.into_iter().next()),
            Err(_) => None,
        }
        .ok_or_else(no_leader)?;
        let cached = self
            .cached
            .lock()
            .expect("leader channel lock")
            .as_ref()
            .filter(|(cached_url, _)| *cached_url == url)
            .map(|(_, channel)| channel.clone());
        if let Some(channel) = cached {
            return Ok(channel);
        }
        let channel = self
            .dialer
            .channel(&url, DIAL_TIMEOUT)
            .await
            .map_err(|_| no_leader())?;
        *self.cached.lock().expect("leader channel lock") = Some((url, channel.clone()));
        Ok(channel)
    }
}
