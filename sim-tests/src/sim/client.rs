//! A simulated client: issues random KV operations on a small key space to
//! random members, over madsim's network, and records each one with its
//! real-time interval. An operation that times out or fails is recorded as
//! indeterminate if it could have changed state, and dropped if it was a read.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_core::member::{ClientError, ClientRequest, ClientResponse, Header};
use cairn_core::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};
use cairn_runtime_sim::node::{ClientPacket, CLIENT_TAG};
use cairn_runtime_tokio::Reply;
use madsim::net::Endpoint;
use madsim::rand::{thread_rng, Rng};

use super::World;
use crate::history::{Input, Operation, Output};
use crate::trace::LocalRead;

/// How long a client waits for an answer before calling the outcome unknown.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(4);
/// Pause between a client's operations, at most.
const THINK_MS_MAX: u64 = 40;

/// What one client saw.
#[derive(Debug, Default)]
pub struct ClientLog {
    pub ops: Vec<Operation>,
    pub local_reads: Vec<LocalRead>,
}

pub fn key(i: usize) -> String {
    format!("k{i}")
}

/// Sends `request` to `server` and waits for the answer (or `None`).
pub async fn call(
    endpoint: &Endpoint,
    server: SocketAddr,
    id: u64,
    request: ClientRequest,
) -> Option<Reply> {
    let packet = ClientPacket { id, request };
    endpoint
        .send_to_raw(server, CLIENT_TAG, Box::new(packet))
        .await
        .ok()?;
    let (payload, _) = tokio::time::timeout(CLIENT_TIMEOUT, endpoint.recv_from_raw(id))
        .await
        .ok()?
        .ok()?;
    payload.downcast::<Reply>().ok().map(|reply| *reply)
}

fn range(start: &str, end: &str, serializable: bool) -> RangeRequest {
    RangeRequest {
        key: Bytes::from(start.to_string()),
        range_end: Bytes::from(end.to_string()),
        serializable,
        ..RangeRequest::default()
    }
}

fn text(bytes: &Bytes) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

enum Planned {
    Checked(Input, ClientRequest),
    /// A serializable get: checked for monotonicity, not linearizability.
    Local(ClientRequest),
}

fn plan(keys: usize, value: String) -> Planned {
    let mut rng = thread_rng();
    let k = key(rng.gen_range(0..keys));
    match rng.gen_range(0..100) {
        0..=29 => Planned::Checked(
            Input::Put {
                key: k.clone(),
                value: value.clone(),
            },
            ClientRequest::Put(PutRequest {
                key: Bytes::from(k),
                value: Bytes::from(value),
                ..PutRequest::default()
            }),
        ),
        30..=54 => Planned::Checked(
            Input::Get { key: k.clone() },
            ClientRequest::Range(range(&k, "", false)),
        ),
        55..=64 => Planned::Local(ClientRequest::Range(range(&k, "", true))),
        65..=71 => Planned::Checked(
            Input::Delete { key: k.clone() },
            ClientRequest::DeleteRange(DeleteRangeRequest {
                key: Bytes::from(k),
                ..DeleteRangeRequest::default()
            }),
        ),
        72..=89 => {
            // Compare-and-swap on the value a recent write may have left, or
            // on absence.
            let expected = if rng.gen_bool(0.3) {
                None
            } else {
                Some(format!("{}", rng.gen_range(0..3u32)))
            };
            let target = match &expected {
                None => CompareTarget::Create(0),
                Some(v) => CompareTarget::Value(Bytes::from(v.clone())),
            };
            let txn = TxnRequest {
                compare: vec![Compare {
                    key: Bytes::from(k.clone()),
                    range_end: Bytes::new(),
                    result: CompareResult::Equal,
                    target,
                }],
                success: vec![RequestOp::Put(PutRequest {
                    key: Bytes::from(k.clone()),
                    value: Bytes::from(value.clone()),
                    ..PutRequest::default()
                })],
                failure: Vec::new(),
            };
            Planned::Checked(
                Input::Cas {
                    key: k,
                    expected,
                    new: value,
                },
                ClientRequest::Txn(txn),
            )
        }
        _ => {
            let a = rng.gen_range(0..keys);
            let b = rng.gen_range(a + 1..=keys);
            let (start, end) = (key(a), if b == keys { "k:".to_string() } else { key(b) });
            Planned::Checked(
                Input::Range {
                    start: start.clone(),
                    end: end.clone(),
                },
                ClientRequest::Range(range(&start, &end, false)),
            )
        }
    }
}

fn output(input: &Input, response: ClientResponse) -> Option<Output> {
    match (input, response) {
        (Input::Put { .. }, ClientResponse::Put(_)) => Some(Output::Put),
        (Input::Get { .. }, ClientResponse::Range(r)) => {
            Some(Output::Get(r.kvs.first().map(|kv| text(&kv.value))))
        }
        (Input::Delete { .. }, ClientResponse::DeleteRange(d)) => Some(Output::Delete {
            deleted: d.deleted as u64,
        }),
        (Input::Cas { .. }, ClientResponse::Txn(t)) => Some(Output::Cas {
            succeeded: t.succeeded,
        }),
        (Input::Range { .. }, ClientResponse::Range(r)) => Some(Output::Range(
            r.kvs
                .iter()
                .map(|kv| (text(&kv.key), text(&kv.value)))
                .collect(),
        )),
        _ => None,
    }
}

/// Errors that mean the request was never proposed, so it changed nothing.
/// A timeout (or no answer at all) may hide a write that committed.
pub(super) fn refused_before_proposal(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::NoLeader
            | ClientError::LeaderChanged
            | ClientError::NoSpace
            | ClientError::TooLarge
            | ClientError::Mvcc(_)
            | ClientError::NotSupportedForLearner
    )
}

fn is_read(input: &Input) -> bool {
    matches!(input, Input::Get { .. } | Input::Range { .. })
}

/// Runs one client until `until_ms`; call on the client's madsim node.
pub async fn run(client: u32, keys: usize, until_ms: u64, world: Arc<Mutex<World>>) -> ClientLog {
    let mut log = ClientLog::default();
    let endpoint = Endpoint::bind("0.0.0.0:0").await.expect("bind a client");
    let mut sequence = 0u64;
    loop {
        let call_ms = world.lock().expect("world").now_ms();
        if call_ms >= until_ms {
            return log;
        }
        sequence += 1;
        let id = (u64::from(client) + 1) << 32 | sequence;
        // Small values repeat on purpose so compare-and-swap sometimes
        // succeeds; the client and sequence make most writes unique.
        let value = if thread_rng().gen_bool(0.3) {
            format!("{}", thread_rng().gen_range(0..3u32))
        } else {
            format!("c{client}.{sequence}")
        };
        let planned = plan(keys, value);
        // The members of the moment: a client learns of new ones and stops
        // using removed ones as soon as the operator does.
        let servers = world.lock().expect("world").serving();
        let server = servers[thread_rng().gen_range(0..servers.len())];
        match planned {
            Planned::Local(request) => {
                let called_incarnations = world.lock().expect("world").incarnations();
                let reply = call(&endpoint, server, id, request).await;
                let world = world.lock().expect("world");
                if let Some((header, Ok(_))) = reply {
                    let incarnation = world.incarnation(header.member_id);
                    // A read that straddles a restart of its member may have
                    // been answered by either incarnation (an answer sent
                    // just before a crash arrives after the restart): it
                    // belongs to neither, so it is left out of the check.
                    let index = header.member_id.saturating_sub(1) as usize;
                    if called_incarnations.get(index) == Some(&incarnation) {
                        log.local_reads.push(LocalRead {
                            node: header.member_id,
                            incarnation,
                            call_ms,
                            return_ms: world.now_ms(),
                            revision: header.revision,
                        });
                    }
                }
            }
            Planned::Checked(input, request) => {
                let reply = call(&endpoint, server, id, request).await;
                let return_ms = world.lock().expect("world").now_ms();
                // Refused before it was proposed: it had no effect.
                let refused =
                    matches!(&reply, Some((_, Err(error))) if refused_before_proposal(error));
                let result: Option<(Header, Output)> = match reply {
                    Some((header, Ok(response))) => output(&input, response).map(|o| (header, o)),
                    _ => None,
                };
                match result {
                    Some((_, out)) => log.ops.push(Operation {
                        id,
                        client,
                        call_ms,
                        return_ms: Some(return_ms),
                        input,
                        output: Some(out),
                    }),
                    None if refused || is_read(&input) => {}
                    None => log.ops.push(Operation {
                        id,
                        client,
                        call_ms,
                        return_ms: None,
                        input,
                        output: None,
                    }),
                }
            }
        }
        let think = thread_rng().gen_range(0..=THINK_MS_MAX);
        tokio::time::sleep(Duration::from_millis(think)).await;
    }
}
