//! The v2 keys API on a member: writes proposed through the log, reads from
//! this member's copy (or after a read index), watches answered from the
//! history or when a matching event is applied, and the leader's expiry of
//! TTL'd nodes.
//!
//! Time: a v2 TTL is an absolute wall-clock time (etcd shows it as
//! `expiration`), so the member needs the wall clock's reading. It is an
//! input like any other time: `MemberConfig::wall_clock_origin_ms` is the
//! unix time `Instant::ZERO` stands for, and the wall clock is that plus
//! the runtime's instant. Only the leader reads it, to propose an expiry
//! (etcd's SYNC) that every member applies at the same log position.

use std::collections::BTreeMap;

use super::client::{ClientError, ClientResponse, ClientToken, V2Answer, V2Request, V2Result};
use super::node::Member;
use super::request::Op;
use super::requests::ReadRequest;
use crate::auth::Identity;
use crate::raft::Role;
use crate::time::Instant;
use crate::v2store::{watch_matches, V2Event, V2Write};

/// How often, at most, the leader proposes an expiry (etcd syncs every 500 ms).
const EXPIRE_INTERVAL_MS: u64 = 500;

/// A watch waiting for its event.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Waiter {
    path: String,
    recursive: bool,
    since: u64,
    deadline: Instant,
}

/// The member's v2 bookkeeping (none of it replicated).
#[derive(Debug, Default)]
pub(super) struct V2Member {
    /// Watches waiting on events, by the token of their request.
    waiters: BTreeMap<ClientToken, Waiter>,
    /// Not before this instant does the leader propose another expiry.
    next_expire_at: Instant,
}

impl Member {
    /// The wall clock, in unix milliseconds, at the member's `now`.
    pub(super) fn wall_clock_ms(&self) -> i64 {
        self.config
            .wall_clock_origin_ms
            .saturating_add(self.now.as_millis() as i64)
    }

    pub(super) fn serve_v2(&mut self, token: ClientToken, who: Identity, request: V2Request) {
        let deadline = self.now + self.config.request_timeout_ms;
        match request {
            V2Request::Write(V2Write::Expire { .. }) => {
                // Only the leader decides when nodes expire.
                self.respond(token, Err(ClientError::NotLeader));
            }
            V2Request::Write(write) => self.propose(token, who, Op::V2(write), deadline),
            V2Request::Get {
                path,
                recursive,
                sorted,
                quorum: true,
            } if !(self.config.knobs.local_linearizable_reads
                || self.config.knobs.v2_local_quorum_reads) =>
            {
                self.start_read(
                    token,
                    who,
                    ReadRequest::V2Get {
                        path,
                        recursive,
                        sorted,
                    },
                    deadline,
                )
            }
            V2Request::Get {
                path,
                recursive,
                sorted,
                ..
            } => {
                let result = self.v2_get(&path, recursive, sorted);
                self.respond(token, result);
            }
            V2Request::Watch {
                path,
                recursive,
                since,
                timeout_ms,
            } => {
                let path = crate::v2store::clean_path(&path);
                match self.state.v2.watch_history(&path, recursive, since) {
                    Err(error) => self.respond(token, Err(ClientError::V2(error))),
                    Ok(Some(event)) => self.respond_v2_event(token, event),
                    Ok(None) => {
                        let since = if since == 0 {
                            self.state.v2.index() + 1
                        } else {
                            since
                        };
                        if timeout_ms == 0 {
                            let answer = V2Answer {
                                raft_index: 0,
                                store_index: 0,
                                result: V2Result::Waiting { since },
                            };
                            self.respond(token, Ok(ClientResponse::V2(answer)));
                            return;
                        }
                        self.v2.waiters.insert(
                            token,
                            Waiter {
                                path,
                                recursive,
                                since,
                                deadline: self.now + timeout_ms,
                            },
                        );
                    }
                }
            }
            V2Request::AuthGet => {
                let answer = V2Answer {
                    raft_index: 0,
                    store_index: self.state.v2.index(),
                    result: V2Result::AuthState(Box::new(self.state.v2.auth().clone())),
                };
                self.respond(token, Ok(ClientResponse::V2(answer)));
            }
            V2Request::Stats => {
                let mut stats = self.state.v2.stats().clone();
                stats.watchers = self.v2.waiters.len() as u64;
                let answer = V2Answer {
                    raft_index: 0,
                    store_index: 0,
                    result: V2Result::Stats {
                        stats: Box::new(stats),
                        index: self.state.v2.index(),
                    },
                };
                self.respond(token, Ok(ClientResponse::V2(answer)));
            }
        }
    }

    /// A v2 read of this member's copy.
    pub(super) fn v2_get(
        &mut self,
        path: &str,
        recursive: bool,
        sorted: bool,
    ) -> Result<ClientResponse, ClientError> {
        match self.state.v2.get(path, recursive, sorted) {
            Ok(event) => Ok(v2_response(event)),
            Err(error) => Err(ClientError::V2(error)),
        }
    }

    fn respond_v2_event(&mut self, token: ClientToken, event: V2Event) {
        self.respond(token, Ok(v2_response(event)));
    }

    /// Events the log applied: wake the watches they match.
    pub(super) fn v2_applied(&mut self, events: &[V2Event]) {
        if self.v2.waiters.is_empty() {
            return;
        }
        for event in events.iter().filter(|event| !event.refresh) {
            let woken: Vec<ClientToken> = self
                .v2
                .waiters
                .iter()
                .filter(|(_, w)| {
                    event.etcd_index >= w.since && watch_matches(event, &w.path, w.recursive)
                })
                .map(|(&token, _)| token)
                .collect();
            for token in woken {
                self.v2.waiters.remove(&token);
                self.respond_v2_event(token, event.clone());
            }
        }
    }

    /// A snapshot replaced the store: its history may hold events that the
    /// waiting watches never saw applied one by one. Each is answered as a
    /// new watch from its `since` would be now (the first matching event, or
    /// 401 if the history has moved past `since`); the others wait on.
    /// Without this, the next applied match would wake it, and the events
    /// in between would be lost to it.
    pub(super) fn v2_restored(&mut self) {
        let waiting: Vec<(ClientToken, Waiter)> = self
            .v2
            .waiters
            .iter()
            .map(|(&token, waiter)| (token, waiter.clone()))
            .collect();
        for (token, waiter) in waiting {
            let found = self
                .state
                .v2
                .watch_history(&waiter.path, waiter.recursive, waiter.since);
            match found {
                Ok(None) => {}
                Ok(Some(event)) => {
                    self.v2.waiters.remove(&token);
                    self.respond_v2_event(token, event);
                }
                Err(error) => {
                    self.v2.waiters.remove(&token);
                    self.respond(token, Err(ClientError::V2(error)));
                }
            }
        }
    }

    /// On every tick: watches past their time get "ask again", and the
    /// leader proposes the expiry of nodes whose TTL ran out.
    pub(super) fn tick_v2(&mut self) {
        let now = self.now;
        let due: Vec<(ClientToken, u64)> = self
            .v2
            .waiters
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(&token, w)| (token, w.since))
            .collect();
        for (token, since) in due {
            self.v2.waiters.remove(&token);
            let answer = V2Answer {
                raft_index: 0,
                store_index: 0,
                result: V2Result::Waiting { since },
            };
            self.respond(token, Ok(ClientResponse::V2(answer)));
        }
        if self.role.role != Role::Leader || now < self.v2.next_expire_at {
            return;
        }
        let wall = self.wall_clock_ms();
        if self
            .state
            .v2
            .next_expiration_ms()
            .is_some_and(|at| at <= wall)
        {
            self.v2.next_expire_at = now + EXPIRE_INTERVAL_MS;
            self.propose_internal(Op::V2(V2Write::Expire { now_ms: wall }));
        }
    }
}

fn v2_response(event: V2Event) -> ClientResponse {
    ClientResponse::V2(V2Answer {
        raft_index: 0,
        store_index: 0,
        result: V2Result::Event(Box::new(event)),
    })
}
