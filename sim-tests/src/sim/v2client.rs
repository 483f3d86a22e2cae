//! A simulated client of etcd's v2 keys API: sets, compare-and-swaps (on a
//! value or an index), compare-and-deletes, creates, updates, deletes, keys
//! with short TTLs, in-order creates and deletes in a queue directory,
//! quorum and local gets, and waits, on a few keys, through random members.
//! It records every call with its real-time interval for the v2 check
//! ([`crate::v2_check`]).
//!
//! Every write stores a value of its own (`v<client>.<sequence>`), which is
//! how the check finds a write of unknown outcome in the log. Conditions
//! and waits use what the client last saw, so that they often hold.
//!
//! Names are chosen so that etcd's two watch rules agree (the history's
//! bare string prefix for a deleted directory, and the live one's path
//! prefix): no name is hidden (`_`), and no directory's name is a prefix of
//! a sibling's.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use cairn_core::member::{ClientError, ClientRequest, ClientResponse, V2Request, V2Result};
use cairn_core::v2store::{V2Action, V2Event, V2Node, V2Write};
use madsim::net::Endpoint;
use madsim::rand::{thread_rng, Rng};

use super::client::{call, refused_before_proposal};
use super::World;
use crate::v2_check::{V2Op, V2Outcome};

/// Keys `/keys/k0`.. of the workload.
const KEYS: usize = 4;
const KEYS_DIR: &str = "/keys";
/// In-order keys go here.
const QUEUE_DIR: &str = "/queue";
/// Events a run's v2 log may hold: the history keeps 1,000, and the check
/// reads the whole log from it. Shared among the clients, each write
/// counted for the events it may make (itself, and its node's expiry).
pub const EVENTS_BUDGET: u64 = 900;
/// TTLs short enough that keys expire during a run.
const TTL_MS: RangeInclusive<i64> = 1_000..=3_000;
/// No new TTL this close to the end of the safety phase, so that the
/// liveness phase seldom has to wait for the last expiry (simulated time is
/// what a run costs).
const TTL_QUIET_MS: u64 = 4_000;
/// How long a wait waits for its event before "ask again".
const WAIT_TIMEOUT_MS: RangeInclusive<u64> = 200..=1_500;
/// Pause between a client's operations, at most.
const THINK_MS_MAX: u64 = 120;
/// Op ids: this plus the client, shifted, keeps them apart from the KV
/// clients' ids.
const ID_BASE: u64 = 200;

fn key_path(index: usize) -> String {
    format!("{KEYS_DIR}/k{index}")
}

/// The unix time in ms, simulated.
pub fn wall_ms() -> i64 {
    madsim::time::TimeHandle::current()
        .now_time()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// What the client last saw.
#[derive(Debug, Default)]
struct Memory {
    /// Key -> (value, modified index).
    keys: BTreeMap<String, (String, u64)>,
    /// Queue items that may exist.
    queue: Vec<String>,
    /// The highest store index seen.
    index: u64,
}

impl Memory {
    fn learn_node(&mut self, node: &V2Node) {
        if node.key == QUEUE_DIR {
            if let Some(children) = &node.nodes {
                self.queue = children.iter().map(|child| child.key.clone()).collect();
            }
            return;
        }
        if let Some(value) = &node.value {
            if node.key.starts_with(KEYS_DIR) {
                self.keys
                    .insert(node.key.clone(), (value.clone(), node.modified_index));
            }
        }
        for child in node.nodes.iter().flatten() {
            self.learn_node(child);
        }
    }

    fn learn(&mut self, event: &V2Event) {
        match event.action {
            V2Action::Delete | V2Action::CompareAndDelete | V2Action::Expire => {
                let gone = &event.node.key;
                self.keys.remove(gone);
                self.queue
                    .retain(|item| item != gone && !item.starts_with(&format!("{gone}/")));
            }
            V2Action::Create if event.node.key.starts_with(QUEUE_DIR) => {
                self.queue.push(event.node.key.clone());
            }
            _ => self.learn_node(&event.node),
        }
    }
}

/// What the next write may spend of the budget.
fn cost(write: &V2Write) -> u64 {
    let expires = matches!(
        write,
        V2Write::Set {
            expire_ms: Some(_),
            ..
        } | V2Write::Create {
            expire_ms: Some(_),
            ..
        } | V2Write::Update {
            expire_ms: Some(_),
            ..
        } | V2Write::CompareAndSwap {
            expire_ms: Some(_),
            ..
        }
    );
    1 + u64::from(expires)
}

/// A TTL for three writes in ten (if TTLs are given).
fn ttl(rng: &mut impl Rng, expiring: bool) -> Option<i64> {
    (rng.gen_bool(0.3) && expiring).then(|| wall_ms() + rng.gen_range(TTL_MS))
}

/// A compare on the value last seen, or (less often) a stale guess.
fn prev_value(rng: &mut impl Rng, known: &Option<(String, u64)>) -> String {
    match known {
        Some((value, _)) if rng.gen_bool(0.8) => value.clone(),
        _ => format!("v0.{}", rng.gen_range(1..50)),
    }
}

/// A compare on the index last seen, or (less often) a recent one.
fn prev_index(rng: &mut impl Rng, known: &Option<(String, u64)>, memory: &Memory) -> u64 {
    match known {
        Some((_, index)) if rng.gen_bool(0.8) => *index,
        _ => memory.index.saturating_sub(rng.gen_range(0..5)).max(1),
    }
}

/// The client's next request (a write only if `may_write`, with a TTL only
/// if `expiring`).
fn plan(memory: &Memory, value: String, may_write: bool, expiring: bool) -> V2Request {
    let mut rng = thread_rng();
    let key = key_path(rng.gen_range(0..KEYS));
    let known = memory.keys.get(&key).cloned();
    let mut roll = rng.gen_range(0..100);
    if !may_write && roll < 60 {
        roll = 60 + roll % 40;
    }
    let write = match roll {
        0..=11 => V2Write::Set {
            path: key,
            dir: false,
            value,
            expire_ms: ttl(&mut rng, expiring),
            refresh: false,
        },
        12..=21 => V2Write::CompareAndSwap {
            path: key,
            prev_value: prev_value(&mut rng, &known),
            prev_index: if rng.gen_bool(0.2) {
                prev_index(&mut rng, &known, memory)
            } else {
                0
            },
            value,
            expire_ms: ttl(&mut rng, expiring),
            refresh: false,
        },
        22..=28 => V2Write::CompareAndSwap {
            path: key,
            prev_value: String::new(),
            prev_index: prev_index(&mut rng, &known, memory),
            value,
            expire_ms: ttl(&mut rng, expiring),
            refresh: false,
        },
        29..=33 if rng.gen_bool(0.5) => V2Write::CompareAndDelete {
            path: key,
            prev_value: prev_value(&mut rng, &known),
            prev_index: 0,
        },
        29..=33 => V2Write::CompareAndDelete {
            path: key,
            prev_value: String::new(),
            prev_index: prev_index(&mut rng, &known, memory),
        },
        34..=40 => V2Write::Create {
            path: key,
            dir: false,
            value,
            unique: false,
            expire_ms: ttl(&mut rng, expiring),
        },
        41..=46 => V2Write::Update {
            path: key,
            value,
            expire_ms: ttl(&mut rng, expiring),
            refresh: false,
        },
        47..=50 => V2Write::Delete {
            path: key,
            dir: false,
            recursive: false,
        },
        51..=56 => V2Write::Create {
            path: QUEUE_DIR.into(),
            dir: false,
            value,
            unique: true,
            expire_ms: ttl(&mut rng, expiring),
        },
        57..=59 if !memory.queue.is_empty() && rng.gen_bool(0.8) => V2Write::Delete {
            path: memory.queue[rng.gen_range(0..memory.queue.len())].clone(),
            dir: false,
            recursive: false,
        },
        57..=59 => V2Write::Delete {
            path: QUEUE_DIR.into(),
            dir: true,
            recursive: true,
        },
        60..=82 => {
            let path = match rng.gen_range(0..4) {
                0 => KEYS_DIR.to_string(),
                1 => QUEUE_DIR.to_string(),
                2 => "/".to_string(),
                _ => key,
            };
            return V2Request::Get {
                path,
                recursive: rng.gen_bool(0.5),
                sorted: true,
                quorum: roll <= 74,
            };
        }
        _ => {
            let (path, recursive) = match rng.gen_range(0..3) {
                0 => (KEYS_DIR.to_string(), true),
                1 => (QUEUE_DIR.to_string(), true),
                _ => (key, false),
            };
            let since = (memory.index + 1)
                .saturating_sub(rng.gen_range(0..8))
                .max(1);
            return V2Request::Watch {
                path,
                recursive,
                since,
                timeout_ms: rng.gen_range(WAIT_TIMEOUT_MS),
            };
        }
    };
    V2Request::Write(write)
}

/// Runs one v2 client until `until_ms`, with its share of the events
/// budget; call on the client's madsim node.
pub async fn run(
    client: u32,
    clients: usize,
    until_ms: u64,
    world: Arc<Mutex<World>>,
) -> Vec<V2Op> {
    let mut ops = Vec::new();
    let endpoint = Endpoint::bind("0.0.0.0:0").await.expect("bind a v2 client");
    let mut memory = Memory::default();
    let mut budget = EVENTS_BUDGET / clients.max(1) as u64;
    let now = || world.lock().expect("world").now_ms();
    let mut sequence = 0u64;
    while now() < until_ms {
        sequence += 1;
        let id = (ID_BASE + u64::from(client)) << 32 | sequence;
        let expiring = now() + TTL_QUIET_MS < until_ms;
        let request = plan(
            &memory,
            format!("v{client}.{sequence}"),
            budget >= 2,
            expiring,
        );
        if let V2Request::Write(write) = &request {
            budget -= cost(write);
        }
        let servers = world.lock().expect("world").serving();
        let server = servers[thread_rng().gen_range(0..servers.len())];
        let call_ms = now();
        let reply = call(&endpoint, server, id, ClientRequest::V2(request.clone())).await;
        let return_ms = now();
        let (member, outcome) = match reply {
            Some((header, Ok(ClientResponse::V2(answer)))) => {
                memory.index = memory.index.max(answer.store_index);
                if let V2Result::Event(event) = &answer.result {
                    memory.learn(event);
                }
                (Some(header.member_id), V2Outcome::Answered(answer))
            }
            Some((header, Err(ClientError::V2(error)))) => {
                memory.index = memory.index.max(error.index);
                (Some(header.member_id), V2Outcome::Refused(error))
            }
            Some((header, Err(error))) if refused_before_proposal(&error) => (
                Some(header.member_id),
                V2Outcome::NotProposed(error.to_string()),
            ),
            Some((header, _)) => (Some(header.member_id), V2Outcome::Unknown),
            None => (None, V2Outcome::Unknown),
        };
        let return_ms = (outcome != V2Outcome::Unknown).then_some(return_ms);
        ops.push(V2Op {
            id,
            client,
            member,
            call_ms,
            return_ms,
            request,
            outcome,
        });
        let think = thread_rng().gen_range(0..=THINK_MS_MAX);
        tokio::time::sleep(Duration::from_millis(think)).await;
    }
    ops
}
