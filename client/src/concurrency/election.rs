//! [`Election`]: leader election on a session's lease (etcd's
//! `concurrency.Election`).
//!
//! ```text
//!   campaign(v): txn if create_revision(<pfx>/<lease>) == 0 then put(key, v, lease)
//!                    else get(key) (and proclaim v if the value differs)
//!                wait until every key created before ours is deleted ──▶ leader
//!   proclaim(v): txn if create_revision(key) == leader_rev then put(key, v)
//!                    else ──▶ "election: not leader"
//!   resign:      txn if create_revision(key) == leader_rev then delete(key)
//!   leader:      the key created first under <pfx>/ ──▶ or "election: no leader"
//!   observe:     leader ──▶ its puts ... its delete ──▶ the next leader ...
//! ```

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;
use tokio::sync::mpsc;

use super::mutex::DeleteOnDrop;
use super::watcher::Watcher;
use super::{
    create_revision_is, get, lease_key, owner_range, prefix_range_end, range_answer,
    request_delete, request_put, request_range, slash_prefix, wait_deletes, Error, Session,
};
use crate::client::Client;

/// How many leader changes an [`Observer`] buffers ahead of its reader.
const OBSERVE_BUFFER: usize = 1;

/// An election named by a prefix; a campaigner's key is
/// `<name>/<lease hex>`, and the key created first leads.
#[derive(Debug)]
pub struct Election {
    client: Client,
    lease: i64,
    prefix: Bytes,
    leader_key: Bytes,
    leader_rev: i64,
    /// The lease this election leads with; `None` when not leading.
    leader_lease: Option<i64>,
    header: Option<pb::ResponseHeader>,
}

/// One leader, as [`Observer`] reports it: the header of the response that
/// showed it and its key-value.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderEvent {
    pub header: pb::ResponseHeader,
    pub kv: mvccpb::KeyValue,
    /// The `count` and `more` of the Get response etcd's `Observe` sends
    /// (what etcdctl's `elect -l` prints): 0 and false for a leader's first
    /// report, then those of the range that found the leader (also 0 and
    /// false when a watch found it) for each of its new values.
    pub count: i64,
    pub more: bool,
}

impl Election {
    /// An election named `name` (its keys live under `name/`) for `session`.
    pub fn new(session: &Session, name: impl AsRef<[u8]>) -> Election {
        Election {
            client: session.client().clone(),
            lease: session.lease(),
            prefix: slash_prefix(name.as_ref()),
            leader_key: Bytes::new(),
            leader_rev: 0,
            leader_lease: None,
            header: None,
        }
    }

    /// A leadership won before, from its key and revision (etcd's
    /// `ResumeElection`): to proclaim or resign with a leader key that a
    /// Campaign response returned.
    pub fn resume(session: &Session, name: impl AsRef<[u8]>, key: Bytes, rev: i64) -> Election {
        Election {
            client: session.client().clone(),
            lease: session.lease(),
            prefix: Bytes::copy_from_slice(name.as_ref()),
            leader_key: key,
            leader_rev: rev,
            leader_lease: Some(session.lease()),
            header: None,
        }
    }

    /// Puts `value` under this session's key and waits until it leads.
    pub async fn campaign(&mut self, value: impl Into<Bytes>) -> Result<(), Error> {
        let value = value.into();
        let key = lease_key(&self.prefix, self.lease);
        let txn = pb::TxnRequest {
            compare: vec![create_revision_is(&key, 0)],
            success: vec![request_put(&key, value.clone(), self.lease)],
            failure: vec![request_range(get(&key))],
        };
        let answer = self.client.kv().txn(txn).await?.into_inner();
        let header = answer
            .header
            .ok_or(Error::Unexpected("a txn without its header"))?;
        self.leader_key = key;
        self.leader_rev = header.revision;
        self.leader_lease = Some(self.lease);
        if !answer.succeeded {
            let existing = range_answer(&answer, 0)?
                .kvs
                .first()
                .ok_or(Error::Unexpected(
                    "the campaign key vanished within its txn",
                ))?;
            self.leader_rev = existing.create_revision;
            if existing.value != value {
                if let Err(error) = self.proclaim(value).await {
                    let _ = self.resign().await;
                    return Err(error);
                }
            }
        }
        let mut abandoned = DeleteOnDrop::new(&self.client, &self.leader_key);
        let waited = wait_deletes(&self.client, &self.prefix, self.leader_rev - 1).await;
        abandoned.disarm();
        if let Err(error) = waited {
            self.leader_lease = None;
            return Err(error);
        }
        self.header = Some(header);
        Ok(())
    }

    /// Replaces the leader's value, if this election still leads.
    pub async fn proclaim(&mut self, value: impl Into<Bytes>) -> Result<(), Error> {
        let Some(lease) = self.leader_lease else {
            return Err(Error::NotLeader);
        };
        let txn = pb::TxnRequest {
            compare: vec![create_revision_is(&self.leader_key, self.leader_rev)],
            success: vec![request_put(&self.leader_key, value.into(), lease)],
            failure: vec![],
        };
        let answer = self.client.kv().txn(txn).await?.into_inner();
        if !answer.succeeded {
            self.leader_key = Bytes::new();
            return Err(Error::NotLeader);
        }
        self.header = answer.header;
        Ok(())
    }

    /// Gives up leadership (deletes the key if it is still this
    /// election's); nothing to do when not leading.
    pub async fn resign(&mut self) -> Result<(), Error> {
        if self.leader_lease.is_none() {
            return Ok(());
        }
        let txn = pb::TxnRequest {
            compare: vec![create_revision_is(&self.leader_key, self.leader_rev)],
            success: vec![request_delete(&self.leader_key)],
            failure: vec![],
        };
        let answer = self.client.kv().txn(txn).await;
        self.leader_key = Bytes::new();
        self.leader_lease = None;
        self.header = answer?.into_inner().header;
        Ok(())
    }

    /// The current leader: the range answer holding the key created first.
    pub async fn leader(&self) -> Result<pb::RangeResponse, Error> {
        let answer = self
            .client
            .kv()
            .range(owner_range(&self.prefix, None))
            .await?
            .into_inner();
        if answer.kvs.is_empty() {
            return Err(Error::NoLeader);
        }
        Ok(answer)
    }

    /// Every leader from now on, and every new value of each (etcd's
    /// `Observe`), until the returned observer is dropped or a call fails.
    pub fn observe(&self) -> Observer {
        let (sender, receiver) = mpsc::channel(OBSERVE_BUFFER);
        let client = self.client.clone();
        let prefix = self.prefix.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = observe(client, prefix, &sender) => {}
                _ = sender.closed() => {}
            }
        });
        Observer { receiver, task }
    }

    /// The leader key this election campaigned with.
    pub fn key(&self) -> &Bytes {
        &self.leader_key
    }

    /// The leader key's create revision.
    pub fn rev(&self) -> i64 {
        self.leader_rev
    }

    /// The header of the last response that changed this election's state.
    pub fn header(&self) -> Option<pb::ResponseHeader> {
        self.header
    }
}

/// The leaders [`Election::observe`] reports, in order.
#[derive(Debug)]
pub struct Observer {
    receiver: mpsc::Receiver<LeaderEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    /// The next leader or leader value; `None` once observing ended (a call
    /// failed or a watch ended).
    pub async fn next(&mut self) -> Option<LeaderEvent> {
        self.receiver.recv().await
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// etcd's `observe` loop: report the first-created key (waiting for one to
/// be put when there is none), then each of its puts, until it is deleted;
/// then the next leader. Returns when a call fails or the reader is gone.
async fn observe(client: Client, prefix: Bytes, sender: &mpsc::Sender<LeaderEvent>) {
    loop {
        let Ok(answer) = client.kv().range(owner_range(&prefix, None)).await else {
            return;
        };
        let answer = answer.into_inner();
        let revision = answer.header.as_ref().map_or(0, |h| h.revision);
        let (count, more) = (answer.count, answer.more);
        let leader = match (answer.kvs.into_iter().next(), answer.header) {
            (Some(kv), Some(header)) => LeaderEvent {
                header,
                kv,
                count: 0,
                more: false,
            },
            (Some(_), None) => return,
            (None, _) => match first_put(&client, &prefix, revision).await {
                Some(leader) => leader,
                None => return,
            },
        };
        let watch_from = leader.header.revision + 1;
        let key = leader.kv.key.clone();
        if sender.send(leader).await.is_err() {
            return;
        }
        let Ok(mut watcher) = Watcher::start(&client, key, Bytes::new(), watch_from).await else {
            return;
        };
        'key: loop {
            let Ok(Some(response)) = watcher.next().await else {
                return;
            };
            let header = response.header.unwrap_or_default();
            for event in response.events {
                if event.r#type == mvccpb::event::EventType::Delete as i32 {
                    break 'key;
                }
                let Some(kv) = event.kv else { continue };
                let update = LeaderEvent {
                    header,
                    kv,
                    count,
                    more,
                };
                if sender.send(update).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Watches the whole prefix from `revision` for the first put: the new
/// leader, with the watch response's header at the put's revision.
async fn first_put(client: &Client, prefix: &Bytes, revision: i64) -> Option<LeaderEvent> {
    let mut watcher = Watcher::start(client, prefix.clone(), prefix_range_end(prefix), revision)
        .await
        .ok()?;
    loop {
        let response = watcher.next().await.ok()??;
        let put = response
            .events
            .into_iter()
            .find(|event| event.r#type == mvccpb::event::EventType::Put as i32)
            .and_then(|event| event.kv);
        if let Some(kv) = put {
            let mut header = response.header.unwrap_or_default();
            header.revision = kv.mod_revision;
            return Some(LeaderEvent {
                header,
                kv,
                count: 0,
                more: false,
            });
        }
    }
}
