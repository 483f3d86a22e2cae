//! The watch bookkeeping of etcd 3.4's Watch service, as a pure state machine.
//!
//! [`WatchHub`] keeps every watcher of every client stream and answers with
//! [`WatchResponse`]s for the runtime to send. It never buffers events: a watcher
//! remembers only the next revision it owes its client, and whatever it has not
//! been sent yet is read back from the store's history ([`Store::events`]).
//!
//! ```text
//!              create (start <= current)        catch_up reaches current
//!   create ──▶ ┌──────────┐ ───────────────────▶ ┌────────┐
//!  (future) ─▶ │ unsynced │                      │ synced │ ◀── on_applied: live
//!              └──────────┘ ◀─────────────────── └────────┘     events
//!                  │       stream blocked / snapshot restored
//!                  └──▶ canceled (compact_revision) if its history was compacted
//! ```
//!
//! Invariants:
//! * A synced watcher's `next_revision >= last applied revision + 1`: it has
//!   been sent every matching event up to the store's current revision.
//! * An unsynced watcher has been sent every matching event below its
//!   `next_revision` and nothing at or above it.
//! * Every watcher of a blocked stream is unsynced.
//!
//! Contract with the runtime: [`WatchHub::on_applied`] is called once for every
//! revision the store takes, in order, before any other call sees that store.
//!
//! [`Store::events`]: crate::mvcc::Store::events

mod catch_up;
mod hub;
mod types;
mod watcher;

pub use hub::WatchHub;
pub use types::{
    CreateRequest, WatchFilters, WatchResponse, CANCEL_REASON_DUPLICATE_ID,
    CANCEL_REASON_EMPTY_RANGE, PROGRESS_WATCH_ID,
};

/// Most events in one catch-up response. A single revision is never split (as
/// etcd without `fragment`), so one revision with more matching events than
/// this goes out alone in a larger response.
pub const MAX_EVENTS_PER_RESPONSE: usize = 1000;

/// Most revisions one read of history covers for one watcher, so a catch-up
/// step's work is bounded even where few revisions match (etcd's
/// `watchBatchMaxRevs`).
pub const MAX_REVISIONS_PER_READ: i64 = 1000;

#[cfg(test)]
mod tests;
