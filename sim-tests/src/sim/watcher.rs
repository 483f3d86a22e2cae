//! Simulated watchers and lease holders, and what the checks need of them.
//!
//! A watcher watches every workload key from revision 1, on a random member;
//! when its stream goes quiet for a while (the member may be down or cut
//! off) it reconnects to another member from the revision after the last one
//! it saw. At the end its events, all connections together, must be exactly
//! a prefix of the cluster's own history of those keys, which a fresh watch
//! reads back after convergence: in revision order, each revision once, no
//! gap, nothing invented.
//!
//! A lease holder grants a lease, attaches a key to it and keeps it alive
//! from the leader. Whenever it learns the lease is gone, the last successful
//! keep-alive must be at least a TTL (less the clock drift allowed) in the
//! past: a lease kept alive never expires.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_core::lease::LeaseError;
use cairn_core::member::{ClientError, ClientRequest, ClientResponse, Header};
use cairn_core::mvcc::{EventKind as MvccEventKind, PutRequest};
use cairn_core::watch::{CreateRequest, WatchResponse};
use cairn_runtime_sim::node::{WatchOpen, WATCH_TAG};
use madsim::net::Endpoint;
use madsim::rand::{thread_rng, Rng};

use super::{client, World};
use crate::scenario::DRIFT_PPM_MAX;
use crate::trace::EventKind;
pub use crate::watch_check::{check_watchers, SeenEvent, WatchLog};

/// A watcher reconnects after this long without a response.
const WATCH_SILENCE_MS: u64 = 3_000;
/// Lease TTL the holders ask for, and how often they renew.
pub const LEASE_TTL_SECS: i64 = 3;
const KEEPALIVE_EVERY_MS: u64 = 500;

fn seen(response: &WatchResponse) -> Vec<SeenEvent> {
    response
        .events
        .iter()
        .map(|event| SeenEvent {
            revision: event.kv.mod_revision,
            key: String::from_utf8_lossy(&event.kv.key).into_owned(),
            put: event.kind == MvccEventKind::Put,
            value: String::from_utf8_lossy(&event.kv.value).into_owned(),
        })
        .collect()
}

/// Every key the workload touches: `k0`..`k9`.
pub fn watched_range(start_revision: i64) -> CreateRequest {
    CreateRequest {
        key: Bytes::from_static(b"k"),
        range_end: Bytes::from_static(b"l"),
        start_revision,
        ..CreateRequest::default()
    }
}

/// Reads one connection's responses, in the order they were sent, until
/// `on_response` says stop or the stream stays quiet (or has a gap, a lost
/// packet, as a broken connection would) for `silence_ms`.
async fn read_stream(
    endpoint: &Endpoint,
    tag: u64,
    silence_ms: u64,
    mut on_response: impl FnMut(Header, WatchResponse) -> bool,
) {
    let mut next = 1u64;
    let mut early: BTreeMap<u64, (Header, WatchResponse)> = BTreeMap::new();
    loop {
        let received = tokio::time::timeout(
            Duration::from_millis(silence_ms),
            endpoint.recv_from_raw(tag),
        )
        .await;
        let Ok(Ok((payload, _))) = received else {
            return;
        };
        let Ok(packet) = payload.downcast::<(u64, Header, WatchResponse)>() else {
            continue;
        };
        let (sequence, header, response) = *packet;
        early.insert(sequence, (header, response));
        while let Some((header, response)) = early.remove(&next) {
            next += 1;
            if !on_response(header, response) {
                return;
            }
        }
    }
}

/// A member to talk to, at random among the members of the moment (see
/// [`World::serving`]).
fn pick_server(world: &Mutex<World>) -> SocketAddr {
    let servers = world.lock().expect("world").serving();
    servers[thread_rng().gen_range(0..servers.len())]
}

/// Runs one watcher until `until_ms`.
pub async fn run_watcher(watcher: u32, until_ms: u64, world: Arc<Mutex<World>>) -> WatchLog {
    let mut log = WatchLog {
        watcher,
        ..WatchLog::default()
    };
    let now = || world.lock().expect("world").now_ms();
    let mut next_revision = 1i64;
    let mut tag = (u64::from(watcher) + 1) << 40;
    while now() < until_ms {
        // A fresh endpoint per connection: responses of an abandoned stream
        // go nowhere.
        let endpoint = Endpoint::bind("0.0.0.0:0").await.expect("bind a watcher");
        tag += 1;
        log.connections += 1;
        let server = pick_server(&world);
        let open = WatchOpen {
            reply_tag: tag,
            request: watched_range(next_revision),
        };
        if endpoint
            .send_to_raw(server, WATCH_TAG, Box::new(open))
            .await
            .is_err()
        {
            continue;
        }
        let silence = WATCH_SILENCE_MS.min(until_ms.saturating_sub(now()).max(1));
        read_stream(&endpoint, tag, silence, |_, response| {
            if response.canceled {
                log.problems.push(format!(
                    "watch from revision {next_revision} canceled: {} (compact revision {})",
                    response.cancel_reason, response.compact_revision
                ));
                return false;
            }
            for event in seen(&response) {
                if event.revision < next_revision
                    && log
                        .events
                        .last()
                        .is_some_and(|last| last.revision != event.revision)
                {
                    log.problems.push(format!(
                        "event at revision {} after revision {} was already seen",
                        event.revision,
                        next_revision - 1
                    ));
                }
                next_revision = event.revision + 1;
                log.events.push(event);
            }
            now() < until_ms
        })
        .await;
    }
    log
}

/// The cluster's own history of the watched keys, read by a fresh watch on
/// `server` up to `revision`.
pub async fn reference_history(server: SocketAddr, revision: i64) -> Option<Vec<SeenEvent>> {
    let endpoint = Endpoint::bind("0.0.0.0:0").await.ok()?;
    let tag = 1u64 << 50;
    let open = WatchOpen {
        reply_tag: tag,
        request: watched_range(1),
    };
    endpoint
        .send_to_raw(server, WATCH_TAG, Box::new(open))
        .await
        .ok()?;
    // The cluster is quiet now: the replay is complete once the stream has
    // answered at the current revision and then stays silent.
    let mut events = Vec::new();
    let mut caught_up = false;
    read_stream(&endpoint, tag, 1_500, |header, response| {
        events.extend(seen(&response));
        caught_up |= header.revision >= revision;
        true
    })
    .await;
    caught_up.then_some(events)
}

/// What one lease holder found.
#[derive(Debug, Default)]
pub struct LeaseLog {
    pub holder: u32,
    pub grants: u32,
    pub keepalives: u32,
    pub expiries: u32,
    pub problems: Vec<String>,
}

/// Runs one lease holder until `until_ms`.
pub async fn run_lease_holder(holder: u32, until_ms: u64, world: Arc<Mutex<World>>) -> LeaseLog {
    let mut log = LeaseLog {
        holder,
        ..LeaseLog::default()
    };
    let now = || world.lock().expect("world").now_ms();
    let endpoint = Endpoint::bind("0.0.0.0:0")
        .await
        .expect("bind a lease holder");
    let mut id = (u64::from(holder) + 1) << 48;
    let mut request = |request: ClientRequest, server: SocketAddr| {
        id += 1;
        let call_id = id;
        let endpoint = &endpoint;
        async move { client::call(endpoint, server, call_id, request).await }
    };
    // A renewal counts from its call: the leader renewed at or after it.
    let ttl_ms = LEASE_TTL_SECS as u64 * 1_000;
    let allowed_ms = ttl_ms - ttl_ms * DRIFT_PPM_MAX as u64 * 2 / 1_000_000;
    'grant: while now() < until_ms {
        let server = pick_server(&world);
        // The lease's TTL starts when the leader applies the grant: no
        // earlier than this call (a lagging member may answer much later).
        let grant_called_ms = now();
        let grant = request(
            ClientRequest::LeaseGrant {
                id: 0,
                ttl_secs: LEASE_TTL_SECS,
            },
            server,
        )
        .await;
        let (lease, granted_at) = match grant {
            Some((_, Ok(ClientResponse::LeaseGrant { id, .. }))) => (id, grant_called_ms),
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        log.grants += 1;
        world.lock().expect("world").record(
            None,
            EventKind::Note(format!(
                "lease holder {holder}: granted {lease:x} through {server} (called {granted_at}ms)"
            )),
        );
        let put = ClientRequest::Put(PutRequest {
            key: Bytes::from(format!("lease{holder}")),
            value: Bytes::from(format!("{lease}")),
            lease,
            ..PutRequest::default()
        });
        let _ = request(put, server).await;
        let mut renewed_from = granted_at;
        let mut leader = server;
        while now() < until_ms {
            tokio::time::sleep(Duration::from_millis(KEEPALIVE_EVERY_MS)).await;
            let call_ms = now();
            match request(ClientRequest::LeaseKeepAlive { id: lease }, leader).await {
                Some((header, Ok(ClientResponse::LeaseKeepAlive { .. }))) => {
                    log.keepalives += 1;
                    renewed_from = call_ms;
                    world.lock().expect("world").record(
                        Some(header.member_id),
                        EventKind::Note(format!(
                            "lease holder {holder}: renewed {lease:x} (called {call_ms}ms)"
                        )),
                    );
                }
                Some((header, Err(ClientError::Lease(LeaseError::NotFound)))) => {
                    log.expiries += 1;
                    let found_ms = now();
                    world.lock().expect("world").record(
                        Some(header.member_id),
                        EventKind::Note(format!(
                            "lease holder {holder}: {lease:x} not found (called {call_ms}ms)"
                        )),
                    );
                    if found_ms < renewed_from + allowed_ms {
                        log.problems.push(format!(
                            "lease {lease:x} was gone at {found_ms}ms, though kept alive at {renewed_from}ms with a TTL of {LEASE_TTL_SECS}s"
                        ));
                    }
                    continue 'grant;
                }
                // Not the leader, no leader, or no answer: ask someone else.
                _ => leader = pick_server(&world),
            }
        }
    }
    log
}
