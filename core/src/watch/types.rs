//! Requests and responses of the watch bookkeeping, mirroring etcdserverpb's
//! WatchCreateRequest and WatchResponse.

use bytes::Bytes;

use crate::mvcc::Event;

/// etcd's `clientv3.InvalidWatchID`: the watch id of a refused create and of
/// the answer to a progress request (which concerns the whole stream).
pub const PROGRESS_WATCH_ID: i64 = -1;

/// etcd 3.4's `mvcc.ErrWatcherDuplicateID`, sent as `cancel_reason`.
pub const CANCEL_REASON_DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";

/// etcd 3.4's `mvcc.ErrEmptyWatcherRange`, sent as `cancel_reason`.
pub const CANCEL_REASON_EMPTY_RANGE: &str = "mvcc: watcher range is empty";

/// WatchCreateRequest.filters: which event kinds the client does not want.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchFilters {
    pub no_put: bool,
    pub no_delete: bool,
}

/// WatchCreateRequest (without `fragment`, which the server applies when it
/// encodes responses).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateRequest {
    pub key: Bytes,
    /// etcd's rules: empty = `key` only, `"\0"` = every key >= `key`, else
    /// `[key, range_end)`.
    pub range_end: Bytes,
    /// 0 = from the next revision.
    pub start_revision: i64,
    pub filters: WatchFilters,
    pub prev_kv: bool,
    pub progress_notify: bool,
    /// 0 = the hub picks the stream's next free id (etcd's `AutoWatchID`).
    pub watch_id: i64,
}

/// One WatchResponse for the runtime to send on `stream`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchResponse {
    pub stream: u64,
    pub watch_id: i64,
    pub created: bool,
    pub canceled: bool,
    /// Set (with `canceled`) when the watcher needed compacted history.
    pub compact_revision: i64,
    pub cancel_reason: String,
    pub events: Vec<Event>,
    pub header_revision: i64,
}
