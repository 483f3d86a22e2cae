//! After convergence, the v2 logs of the live voters for the v2 check
//! ([`crate::v2_check`]): once every node with a TTL has expired (which
//! must happen within a grace period of its time: the cluster is healed),
//! and every voter's store has reached the same index, each voter's whole
//! event log (a recursive watch of `/` from each index, answered from its
//! history, [`WATCHES_IN_FLIGHT`] at a time) and its whole tree. Learners
//! serve no v2 requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::member::{ClientRequest, ClientResponse, V2Request, V2Result};
use cairn_core::v2store::{V2Node, HISTORY_CAPACITY};
use madsim::net::Endpoint;

use super::client::call;
use super::members::{client_address, member_id};
use super::v2client::wall_ms;
use crate::v2_check::MemberLog;

/// A node with a TTL must be gone this long after its expiration time: the
/// leader proposes expiries every 500 ms, and its clock may be 1% off.
const EXPIRY_GRACE_MS: i64 = 5_000;
/// The voters' stores must reach the same index within this long.
const AGREEMENT_MS: u64 = 10_000;
/// A request is asked this many times before the member counts as silent.
const ATTEMPTS: u64 = 3;
/// Watches a log is read with at once (each answers one index).
const WATCHES_IN_FLIGHT: u64 = 64;

/// Asks `request` of `server` until it answers (ids `id`, `id + 1`, ...).
async fn ask(
    endpoint: &Endpoint,
    server: SocketAddr,
    id: u64,
    request: V2Request,
) -> Option<V2Result> {
    for attempt in 0..ATTEMPTS {
        let request = ClientRequest::V2(request.clone());
        if let Some((_, Ok(ClientResponse::V2(answer)))) =
            call(endpoint, server, id + attempt, request).await
        {
            return Some(answer.result);
        }
    }
    None
}

struct Reader {
    endpoint: Arc<Endpoint>,
    id: u64,
}

impl Reader {
    async fn ask(&mut self, server: SocketAddr, request: V2Request) -> Option<V2Result> {
        self.id += ATTEMPTS;
        ask(&self.endpoint, server, self.id, request).await
    }

    async fn store_index(&mut self, server: SocketAddr) -> Option<u64> {
        match self.ask(server, V2Request::Stats).await? {
            V2Result::Stats { index, .. } => Some(index),
            _ => None,
        }
    }

    async fn tree(&mut self, server: SocketAddr) -> Option<V2Node> {
        let get = V2Request::Get {
            path: "/".into(),
            recursive: true,
            sorted: true,
            quorum: false,
        };
        match self.ask(server, get).await? {
            V2Result::Event(event) => Some(event.node),
            _ => None,
        }
    }

    /// The member's events from index 1 to `index`, one watch each: the
    /// answer to a watch from `since` is the event at `since` (a gap shows
    /// as a later event, which the check reports).
    async fn log(&mut self, slot: usize, index: u64) -> Result<MemberLog, String> {
        let server = client_address(slot);
        let name = format!("m{}", member_id(slot));
        let mut events = Vec::new();
        let mut since = 1;
        while since <= index {
            let last = index.min(since + WATCHES_IN_FLIGHT - 1);
            let watches: Vec<_> = (since..=last)
                .map(|from| {
                    let watch = V2Request::Watch {
                        path: "/".into(),
                        recursive: true,
                        since: from,
                        timeout_ms: 0,
                    };
                    self.id += ATTEMPTS;
                    let (endpoint, id) = (self.endpoint.clone(), self.id);
                    tokio::spawn(async move { ask(&endpoint, server, id, watch).await })
                })
                .collect();
            for (from, watch) in (since..=last).zip(watches) {
                match watch.await.ok().flatten() {
                    Some(V2Result::Event(event)) => events.push(*event),
                    Some(_) => {
                        return Err(format!(
                            "{name} has no event at or after {from}, though its store is at index {index}"
                        ))
                    }
                    None => return Err(format!("{name} did not answer a watch from {from}")),
                }
            }
            since = last + 1;
        }
        let tree = self.tree(server).await;
        if tree.is_none() {
            return Err(format!("{name} did not answer a get of /"));
        }
        Ok(MemberLog {
            member: member_id(slot),
            events,
            index,
            tree,
        })
    }
}

/// The nodes of `tree` that have a TTL, and the latest expiration.
fn latest_expiration(node: &V2Node) -> Option<(i64, String)> {
    let own = node.expiration_ms.map(|at| (at, node.key.clone()));
    node.nodes
        .iter()
        .flatten()
        .filter_map(latest_expiration)
        .chain(own)
        .max()
}

/// Reads the logs of the live `voters` (slots).
pub async fn read_logs(
    voters: &[usize],
    now_ms: impl Fn() -> u64,
) -> Result<Vec<MemberLog>, String> {
    let endpoint = Endpoint::bind("0.0.0.0:0")
        .await
        .map_err(|e| format!("bind the v2 reader: {e}"))?;
    let mut reader = Reader {
        endpoint: Arc::new(endpoint),
        id: 3 << 60,
    };
    let Some(&first) = voters.first() else {
        return Err("no live voter to read the v2 logs from".into());
    };
    // Every TTL runs out, and the leader expires it.
    loop {
        let Some(tree) = reader.tree(client_address(first)).await else {
            return Err(format!("m{} did not answer a get of /", member_id(first)));
        };
        let Some((at, key)) = latest_expiration(&tree) else {
            break;
        };
        let wall = wall_ms();
        if wall > at + EXPIRY_GRACE_MS {
            return Err(format!(
                "expiry: {key} expires at unix {at}ms, but is still there {}ms later (m{})",
                wall - at,
                member_id(first)
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every voter applies the last expiry.
    let deadline_ms = now_ms() + AGREEMENT_MS;
    let index = loop {
        let mut indexes = Vec::new();
        for &slot in voters {
            indexes.push(reader.store_index(client_address(slot)).await);
        }
        if let Some(&Some(index)) = indexes.first() {
            if indexes.iter().all(|i| *i == Some(index)) {
                break index;
            }
        }
        if now_ms() > deadline_ms {
            return Err(format!(
                "the voters' v2 store indexes still differ {AGREEMENT_MS}ms after the last expiry: {indexes:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if index >= HISTORY_CAPACITY as u64 {
        return Err(format!(
            "the store reached index {index}: its history ({HISTORY_CAPACITY}) no longer holds the whole log (the workload's budget is broken)"
        ));
    }
    let mut logs = Vec::new();
    for &slot in voters {
        logs.push(reader.log(slot, index).await?);
    }
    Ok(logs)
}
