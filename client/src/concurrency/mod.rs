//! etcd's concurrency recipes (`clientv3/concurrency`), on cairn-client's
//! [`Client`]: sessions, mutexes and elections built from KV, Lease and
//! Watch calls alone. The keys they write are the same as etcd's, so a
//! cairn program, an etcd Go program and the Lock/Election gRPC services
//! (which run these recipes in the server) can queue on the same lock.
//!
//! ```text
//!   Session ── a lease (granted with a TTL, or given), kept alive by a task;
//!     │        `done()` fires when the lease is lost or the session orphaned
//!     ├── Mutex    <name>/<lease hex> = ""     ─┐ the key with the lowest
//!     └── Election <name>/<lease hex> = value  ─┘ create revision holds it;
//!                                                  the others wait for every
//!   waiting:  get the last key created before mine ──▶ watch it until DELETE
//!             └──── again, until no older key is left ◀─┘
//! ```
//!
//! A lock or a leadership held this way lasts as long as its lease, which
//! can expire while its holder still thinks it holds it (a pause, a
//! partition). Guard every write made under it with its revision (a
//! fencing token): see `docs/lock-election.md` and [`Mutex::is_owner`].

mod election;
mod mutex;
mod session;
mod watcher;

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use tonic::Status;

use crate::client::Client;

pub use election::{Election, LeaderEvent, Observer};
pub use mutex::Mutex;
pub use session::{Session, SessionOptions, SESSION_TTL_DEFAULT_SECONDS};

/// Why a recipe failed, with etcd's texts for its own errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call the recipe made failed (its status, as the server sent it).
    #[error("{}", .0.message())]
    Status(#[from] Status),
    /// The lock key vanished (its lease expired) while waiting for the
    /// lock: etcd 3.5's `ErrSessionExpired`.
    #[error("mutex: session is expired")]
    SessionExpired,
    /// etcd's `ErrElectionNotLeader`.
    #[error("election: not leader")]
    NotLeader,
    /// etcd's `ErrElectionNoLeader`.
    #[error("election: no leader")]
    NoLeader,
    /// The watch on an older key ended without seeing its deletion.
    #[error("lost watcher waiting for delete")]
    LostWatcher,
    /// A response lacked what the request guarantees (a broken server).
    #[error("unexpected response: {0}")]
    Unexpected(&'static str),
}

/// The end of the range holding every key that starts with `prefix`
/// (etcd's `GetPrefixRangeEnd`; `\0`, every key from `prefix` on, when no
/// such end exists).
pub fn prefix_range_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    Bytes::from_static(b"\0")
}

/// `prefix` followed by the lease ID in lower-case hex, as Go's `%x` prints
/// an `int64`: the key a session's lock or campaign writes.
pub fn lease_key(prefix: &[u8], lease: i64) -> Bytes {
    let hex = if lease < 0 {
        format!("-{:x}", lease.unsigned_abs())
    } else {
        format!("{lease:x}")
    };
    let mut key = prefix.to_vec();
    key.extend_from_slice(hex.as_bytes());
    Bytes::from(key)
}

/// `name/`: the prefix a mutex or election named `name` keeps its keys under.
fn slash_prefix(name: &[u8]) -> Bytes {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    Bytes::from(prefix)
}

/// The key under `prefix` created first (`WithFirstCreate`) or, with
/// `max_create_revision`, the last created at or before it
/// (`WithLastCreate` + `WithMaxCreateRev`).
fn owner_range(prefix: &Bytes, max_create_revision: Option<i64>) -> pb::RangeRequest {
    let (order, max) = match max_create_revision {
        None => (pb::range_request::SortOrder::Ascend, 0),
        Some(max) => (pb::range_request::SortOrder::Descend, max),
    };
    pb::RangeRequest {
        key: prefix.clone(),
        range_end: prefix_range_end(prefix),
        limit: 1,
        sort_order: order as i32,
        sort_target: pb::range_request::SortTarget::Create as i32,
        max_create_revision: max,
        ..pb::RangeRequest::default()
    }
}

/// A compare on `key`'s create revision.
fn create_revision_is(key: &Bytes, revision: i64) -> pb::Compare {
    pb::Compare {
        result: pb::compare::CompareResult::Equal as i32,
        target: pb::compare::CompareTarget::Create as i32,
        key: key.clone(),
        range_end: Bytes::new(),
        target_union: Some(pb::compare::TargetUnion::CreateRevision(revision)),
    }
}

fn request_range(range: pb::RangeRequest) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestRange(range)),
    }
}

fn request_put(key: &Bytes, value: Bytes, lease: i64) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
            key: key.clone(),
            value,
            lease,
            ..pb::PutRequest::default()
        })),
    }
}

fn request_delete(key: &Bytes) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestDeleteRange(
            pb::DeleteRangeRequest {
                key: key.clone(),
                ..pb::DeleteRangeRequest::default()
            },
        )),
    }
}

fn get(key: &Bytes) -> pb::RangeRequest {
    pb::RangeRequest {
        key: key.clone(),
        ..pb::RangeRequest::default()
    }
}

/// The range response in a txn's `index`-th answer.
fn range_answer(response: &pb::TxnResponse, index: usize) -> Result<&pb::RangeResponse, Error> {
    match response
        .responses
        .get(index)
        .and_then(|r| r.response.as_ref())
    {
        Some(pb::response_op::Response::ResponseRange(range)) => Ok(range),
        _ => Err(Error::Unexpected("a txn answer without its range")),
    }
}

/// Waits until every key under `prefix` created at or before
/// `max_create_revision` is deleted (etcd's `waitDeletes`): watches the
/// last of them until it is deleted, then looks again. The header of the
/// last look, which found none.
async fn wait_deletes(
    client: &Client,
    prefix: &Bytes,
    max_create_revision: i64,
) -> Result<pb::ResponseHeader, Error> {
    loop {
        let range = client
            .kv()
            .range(owner_range(prefix, Some(max_create_revision)))
            .await?
            .into_inner();
        let Some(last) = range.kvs.first() else {
            return range
                .header
                .ok_or(Error::Unexpected("a range without its header"));
        };
        let revision = range.header.as_ref().map_or(0, |h| h.revision);
        wait_delete(client, last.key.clone(), revision).await?;
    }
}

/// Watches `key` from `revision` until an event deletes it.
async fn wait_delete(client: &Client, key: Bytes, revision: i64) -> Result<(), Error> {
    let mut watcher = watcher::Watcher::start(client, key, Bytes::new(), revision).await?;
    while let Some(response) = watcher.next().await? {
        let deleted = response
            .events
            .iter()
            .any(|event| event.r#type == cairn_proto::mvccpb::event::EventType::Delete as i32);
        if deleted {
            return Ok(());
        }
    }
    Err(Error::LostWatcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_bump_the_last_byte_below_ff() {
        assert_eq!(&prefix_range_end(b"lock/")[..], b"lock0");
        assert_eq!(&prefix_range_end(b"a\xff")[..], b"b");
        assert_eq!(&prefix_range_end(b"\xff\xff")[..], b"\0");
        assert_eq!(&prefix_range_end(b"")[..], b"\0");
    }

    #[test]
    fn lease_keys_print_the_id_as_go_does() {
        assert_eq!(
            &lease_key(b"mylock/", 0x694d7a1b2c3d4e5f)[..],
            b"mylock/694d7a1b2c3d4e5f"
        );
        assert_eq!(&lease_key(b"e/", 0)[..], b"e/0");
        assert_eq!(&lease_key(b"e/", -255)[..], b"e/-ff");
        assert_eq!(&slash_prefix(b"name")[..], b"name/");
    }

    #[test]
    fn owner_ranges_sort_by_create_revision() {
        let prefix = Bytes::from_static(b"l/");
        let first = owner_range(&prefix, None);
        assert_eq!(
            (first.limit, first.sort_order, first.max_create_revision),
            (1, pb::range_request::SortOrder::Ascend as i32, 0)
        );
        let last = owner_range(&prefix, Some(41));
        assert_eq!(
            (
                last.sort_order,
                last.max_create_revision,
                &last.range_end[..]
            ),
            (pb::range_request::SortOrder::Descend as i32, 41, &b"l0"[..])
        );
        assert_eq!(
            last.sort_target,
            pb::range_request::SortTarget::Create as i32
        );
    }

    #[test]
    fn errors_print_etcds_texts() {
        assert_eq!(Error::NotLeader.to_string(), "election: not leader");
        assert_eq!(Error::NoLeader.to_string(), "election: no leader");
        assert_eq!(
            Error::SessionExpired.to_string(),
            "mutex: session is expired"
        );
        assert_eq!(
            Error::Status(Status::not_found("etcdserver: requested lease not found")).to_string(),
            "etcdserver: requested lease not found"
        );
    }
}
