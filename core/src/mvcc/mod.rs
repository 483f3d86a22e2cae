//! The multi-version key-value store behind etcd's v3 API, with etcd 3.4's
//! semantics: revisions, key generations, range/put/delete/txn, compaction,
//! watch events and hashes.
//!
//! * Every write transaction that changes something gets one **main revision**
//!   (the store's revision + 1); each change in it gets the next **sub revision**.
//!   A fresh store is at revision 1, so the first write is revision 2 (as etcd).
//! * Each key keeps its history as **generations** ([`key_index`]): created by a
//!   put, modified by puts, ended by a delete (a tombstone).
//! * Values are stored once, as [`bytes::Bytes`], in the key's history.
//!
//! Requests and responses are plain structs mirroring etcdserverpb; the server
//! converts protobuf to and from them. Error texts are etcd's ([`MvccError`]).

mod codec;
mod error;
mod history;
mod key_index;
mod range;
mod records;
mod revision;
mod store;
mod txn_check;
mod types;
mod write;

pub use codec::StoreDecodeError;
pub use error::MvccError;
pub use records::{
    backend_key, backend_value, HistoryError, RevisionRecord, RevisionView, StoreBuilder,
};
pub use revision::Revision;
pub use store::{Applied, KvHash, Store, StoreConfig, DEFAULT_MAX_TXN_OPS};
pub use txn_check::{check_txn_level, validate_delete, validate_put, validate_range, validate_txn};
pub use types::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, Event,
    EventKind, KeyValue, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    ResponseHeader, ResponseOp, SortOrder, SortTarget, TxnRequest, TxnResponse,
};

#[cfg(test)]
mod tests;
