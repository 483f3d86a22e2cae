//! [`Mutex`]: a distributed lock on a session's lease (etcd's
//! `concurrency.Mutex`).
//!
//! ```text
//!   lock:  txn  if create_revision(<pfx>/<lease>) == 0
//!               then put(<pfx>/<lease>, "", lease), get-first-created(<pfx>/)
//!               else get(<pfx>/<lease>),            get-first-created(<pfx>/)
//!          my_rev = the key's create revision
//!          owner's create revision == my_rev ──▶ held
//!          else wait until every key created before my_rev is deleted,
//!               then check my key is still there (else SessionExpired)
//!   unlock: delete(<pfx>/<lease>)
//! ```
//!
//! A lock call abandoned while waiting (its future dropped, e.g. the
//! caller went away) deletes its key, as etcd's does when its context ends.

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;

use super::{
    create_revision_is, get, lease_key, owner_range, range_answer, request_put, request_range,
    slash_prefix, wait_deletes, Error, Session,
};
use crate::client::Client;

/// A lock named by a prefix; a session holds it through the key
/// `<name>/<lease hex>`.
#[derive(Debug)]
pub struct Mutex {
    client: Client,
    lease: i64,
    prefix: Bytes,
    my_key: Bytes,
    my_rev: i64,
    header: Option<pb::ResponseHeader>,
}

impl Mutex {
    /// A mutex named `name` (its keys live under `name/`) for `session`.
    pub fn new(session: &Session, name: impl AsRef<[u8]>) -> Mutex {
        Mutex {
            client: session.client().clone(),
            lease: session.lease(),
            prefix: slash_prefix(name.as_ref()),
            my_key: Bytes::new(),
            my_rev: -1,
            header: None,
        }
    }

    /// Waits until the lock is held. A session that already holds it holds
    /// it again at once (its key is reused).
    pub async fn lock(&mut self) -> Result<(), Error> {
        self.my_key = lease_key(&self.prefix, self.lease);
        let txn = pb::TxnRequest {
            compare: vec![create_revision_is(&self.my_key, 0)],
            success: vec![
                request_put(&self.my_key, Bytes::new(), self.lease),
                request_range(owner_range(&self.prefix, None)),
            ],
            failure: vec![
                request_range(get(&self.my_key)),
                request_range(owner_range(&self.prefix, None)),
            ],
        };
        let answer = self.client.kv().txn(txn).await?.into_inner();
        let header = answer
            .header
            .ok_or(Error::Unexpected("a txn without its header"))?;
        self.my_rev = header.revision;
        if !answer.succeeded {
            self.my_rev = range_answer(&answer, 0)?
                .kvs
                .first()
                .ok_or(Error::Unexpected("the lock key vanished within its txn"))?
                .create_revision;
        }
        let owner = range_answer(&answer, 1)?.kvs.first();
        if owner.is_none_or(|owner| owner.create_revision == self.my_rev) {
            self.header = Some(header);
            return Ok(());
        }
        let mut abandoned = DeleteOnDrop::new(&self.client, &self.my_key);
        let waited = wait_deletes(&self.client, &self.prefix, self.my_rev - 1).await;
        let checked = match waited {
            Ok(header) => self.check_still_mine().await.map(|()| header),
            Err(error) => Err(error),
        };
        abandoned.disarm();
        match checked {
            Ok(header) => {
                self.header = Some(header);
                Ok(())
            }
            Err(Error::SessionExpired) => Err(Error::SessionExpired),
            Err(error) => {
                let _ = self.unlock().await;
                Err(error)
            }
        }
    }

    /// Whether the lock key survived the wait (etcd 3.5's check: without
    /// it a lock whose lease expired meanwhile would be reported held).
    async fn check_still_mine(&self) -> Result<(), Error> {
        let answer = self
            .client
            .kv()
            .range(get(&self.my_key))
            .await?
            .into_inner();
        if answer.kvs.is_empty() {
            return Err(Error::SessionExpired);
        }
        Ok(())
    }

    /// Releases the lock: deletes the key.
    pub async fn unlock(&mut self) -> Result<(), Error> {
        self.client
            .kv()
            .delete_range(pb::DeleteRangeRequest {
                key: self.my_key.clone(),
                ..pb::DeleteRangeRequest::default()
            })
            .await?;
        self.my_key = Bytes::from_static(b"\0");
        self.my_rev = -1;
        Ok(())
    }

    /// A compare that holds while this mutex holds the lock: put it in the
    /// `compare` of a txn to make a write conditional on still holding it.
    pub fn is_owner(&self) -> pb::Compare {
        create_revision_is(&self.my_key, self.my_rev)
    }

    /// The lock key (`<name>/<lease hex>`).
    pub fn key(&self) -> &Bytes {
        &self.my_key
    }

    /// The lock key's create revision: a fencing token that grows with
    /// every new holder.
    pub fn my_rev(&self) -> i64 {
        self.my_rev
    }

    /// The header of the response that made the lock held.
    pub fn header(&self) -> Option<pb::ResponseHeader> {
        self.header
    }
}

/// Deletes a waiter's key if its wait is abandoned (dropped) midway.
pub(super) struct DeleteOnDrop {
    pending: Option<(Client, Bytes)>,
}

impl DeleteOnDrop {
    pub(super) fn new(client: &Client, key: &Bytes) -> DeleteOnDrop {
        DeleteOnDrop {
            pending: Some((client.clone(), key.clone())),
        }
    }

    pub(super) fn disarm(&mut self) {
        self.pending = None;
    }
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        let Some((client, key)) = self.pending.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let _ = client
                .kv()
                .delete_range(pb::DeleteRangeRequest {
                    key,
                    ..pb::DeleteRangeRequest::default()
                })
                .await;
        });
    }
}
