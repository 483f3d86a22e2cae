//! Watch streams: creating and canceling watchers (with their permission
//! checks), live events from applied writes, catch-up from history and
//! progress notifications.

use super::action::Action;
use super::node::Member;
use crate::auth::Caller;
use crate::time::Instant;
use crate::watch::{CreateRequest, WatchResponse};

impl Member {
    /// A watch stream's request.
    pub fn handle_watch(&mut self, now: Instant, input: WatchInput) {
        self.now = now;
        let responses = match input {
            WatchInput::Create {
                stream,
                request,
                caller,
            } => match self.watch_permitted(&caller, &request) {
                Ok(()) => self.watch.create(stream, request, &self.state.store),
                // etcd's answer: created and canceled at once, with the reason.
                Err(error) => vec![WatchResponse {
                    stream,
                    watch_id: crate::watch::PROGRESS_WATCH_ID,
                    created: true,
                    canceled: true,
                    cancel_reason: error.to_string(),
                    header_revision: self.state.store.current_revision(),
                    ..WatchResponse::default()
                }],
            },
            WatchInput::Cancel { stream, watch_id } => self
                .watch
                .cancel(stream, watch_id, &self.state.store)
                .into_iter()
                .collect(),
            WatchInput::Progress { stream } => self.watch.progress(stream, &self.state.store),
            WatchInput::Close { stream } => {
                self.watch.close_stream(stream);
                Vec::new()
            }
            WatchInput::Blocked { stream, blocked } => {
                self.watch.set_stream_blocked(stream, blocked);
                if blocked {
                    Vec::new()
                } else {
                    self.watch
                        .catch_up(&self.state.store, WATCH_CATCH_UP_EVENTS)
                }
            }
        };
        self.emit_watch(responses);
        self.drive();
    }

    /// A watcher needs read access to all it covers (the whole key space
    /// from its key for a `"\0"` range end; etcd checks only the key then).
    pub(super) fn watch_permitted(
        &mut self,
        caller: &Caller,
        request: &CreateRequest,
    ) -> Result<(), crate::auth::AuthError> {
        let who = self.state.auth.identify(caller, self.now)?;
        let key: &[u8] = if request.key.is_empty() {
            b"\0"
        } else {
            &request.key
        };
        self.state
            .auth
            .check(&who, crate::auth::Access::Read, key, &request.range_end)
    }

    /// Catch-up for watchers behind the store, and periodic progress.
    pub(super) fn tick_watchers(&mut self) {
        let mut responses = self
            .watch
            .catch_up(&self.state.store, WATCH_CATCH_UP_EVENTS);
        if self.now >= self.progress_notify_at {
            self.progress_notify_at = self.now + self.config.watch_progress_notify_interval_ms;
            responses.extend(self.watch.progress_notify_due(&self.state.store));
        }
        self.emit_watch(responses);
    }

    pub(super) fn emit_watch(&mut self, responses: Vec<WatchResponse>) {
        if !responses.is_empty() {
            let header = self.header();
            self.actions.push_back(Action::Watch { header, responses });
        }
    }

    /// A write took a revision (its bytes are accounted by the applied
    /// state): tell the watchers.
    pub(super) fn written(&mut self, events: &[crate::mvcc::Event]) {
        if events.is_empty() {
            return;
        }
        let responses = self
            .watch
            .on_applied(self.state.store.current_revision(), events);
        self.emit_watch(responses);
    }
}

/// Events one tick's catch-up may send (bounded work per tick).
const WATCH_CATCH_UP_EVENTS: usize = 10_000;

/// What a watch stream asks of the member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchInput {
    Create {
        stream: u64,
        request: CreateRequest,
        /// Who opened the stream (its credentials are checked at each create).
        caller: Caller,
    },
    Cancel {
        stream: u64,
        watch_id: i64,
    },
    Progress {
        stream: u64,
    },
    Close {
        stream: u64,
    },
    /// The stream's outbound queue is full (`true`) or drained (`false`): a
    /// blocked stream gets no live events and catches up from history later.
    Blocked {
        stream: u64,
        blocked: bool,
    },
}
