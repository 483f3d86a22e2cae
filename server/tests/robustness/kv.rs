//! The KV workload: clients that put, read linearizably and compare-and-swap
//! a few keys on random members through the gRPC API, and record every
//! operation in the simulator's history format (`cairn_sim_tests::history`)
//! for its linearizability checker.
//!
//! A gRPC result maps to the history as the simulator's clients map theirs:
//!
//! * an answer is a definite result; a txn whose compare failed is one too
//!   (`Output::Cas { succeeded: false }`);
//! * no connection to the member: nothing was sent, nothing is recorded;
//! * an error on a sent request (a deadline, `etcdserver: request timed
//!   out`, `leader changed`, a connection dropped mid-call) may hide a write
//!   that committed: a write is recorded as indeterminate, a read is left
//!   out (it changed nothing). No error text is trusted to mean "not
//!   applied": that would only make the history more precise, never the
//!   check sounder.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use cairn_sim_tests::checker::generate::SplitMix64;
use cairn_sim_tests::history::{Input, Operation, Output};
use pb::kv_client::KvClient;
use tonic::transport::Channel;

use super::{connect, stopped, Clock, Stop};

/// How long a request may take before its outcome is called unknown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between a client's operations, at most.
const THINK_MS_MAX: u64 = 20;
/// Operations one client issues at most (the stop signal comes first).
const OPS_MAX_PER_CLIENT: u64 = 100_000;

/// The workload's keys: `rk/0`, `rk/1`, ...
pub fn key(index: u64) -> String {
    format!("rk/{index}")
}

/// Runs one client until `stop`; returns its history.
pub async fn run_client(
    client: u32,
    endpoints: Vec<String>,
    keys: usize,
    seed: u64,
    clock: Clock,
    stop: Stop,
) -> Vec<Operation> {
    let mut rng = SplitMix64(seed);
    let mut channels: Vec<Option<Channel>> = vec![None; endpoints.len()];
    // The last value this client saw under each key (`None`: absent), which
    // its compare-and-swaps expect, so that some of them succeed.
    let mut seen: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut ops = Vec::new();
    for sequence in 1..=OPS_MAX_PER_CLIENT {
        if stopped(&stop) {
            break;
        }
        let member = rng.below(endpoints.len() as u64) as usize;
        let channel = match &channels[member] {
            Some(channel) => channel.clone(),
            None => match connect(&endpoints[member], Some(REQUEST_TIMEOUT)).await {
                Some(channel) => channels[member].insert(channel).clone(),
                None => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let input = plan(&mut rng, client, sequence, keys, &seen);
        let id = (u64::from(client) + 1) << 32 | sequence;
        let call_ms = clock.now_ms();
        let result = send(channel, &input).await;
        let return_ms = clock.now_ms();
        match result {
            Ok(output) => {
                learn(&mut seen, &input, &output);
                ops.push(Operation {
                    id,
                    client,
                    call_ms,
                    return_ms: Some(return_ms),
                    input,
                    output: Some(output),
                });
            }
            Err(_) => {
                // The connection may be what failed: dial afresh next time.
                channels[member] = None;
                if input.is_write() {
                    ops.push(Operation {
                        id,
                        client,
                        call_ms,
                        return_ms: None,
                        input,
                        output: None,
                    });
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.below(THINK_MS_MAX + 1))).await;
    }
    ops
}

/// The next operation: puts, linearizable gets and compare-and-swaps.
/// Every value written is unique (client and sequence).
fn plan(
    rng: &mut SplitMix64,
    client: u32,
    sequence: u64,
    keys: usize,
    seen: &BTreeMap<String, Option<String>>,
) -> Input {
    let key = key(rng.below(keys as u64));
    let value = format!("c{client}.{sequence}");
    match rng.below(100) {
        0..=39 => Input::Put { key, value },
        40..=74 => Input::Get { key },
        choice => {
            // Mostly the value last seen (often still there); sometimes
            // absence, which is almost always a definite failure.
            let expected = if choice < 95 {
                seen.get(&key).cloned().flatten()
            } else {
                None
            };
            Input::Cas {
                key,
                expected,
                new: value,
            }
        }
    }
}

fn learn(seen: &mut BTreeMap<String, Option<String>>, input: &Input, output: &Output) {
    match (input, output) {
        (Input::Put { key, value }, Output::Put) => {
            seen.insert(key.clone(), Some(value.clone()));
        }
        (Input::Get { key }, Output::Get(value)) => {
            seen.insert(key.clone(), value.clone());
        }
        (Input::Cas { key, new, .. }, Output::Cas { succeeded: true }) => {
            seen.insert(key.clone(), Some(new.clone()));
        }
        _ => {}
    }
}

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn send(channel: Channel, input: &Input) -> Result<Output, tonic::Status> {
    let mut kv = KvClient::new(channel);
    match input {
        Input::Put { key, value } => {
            let request = pb::PutRequest {
                key: bytes(key),
                value: bytes(value),
                ..Default::default()
            };
            kv.put(request).await?;
            Ok(Output::Put)
        }
        Input::Get { key } => {
            // Linearizable: `serializable` stays false.
            let request = pb::RangeRequest {
                key: bytes(key),
                ..Default::default()
            };
            let response = kv.range(request).await?.into_inner();
            Ok(Output::Get(response.kvs.first().map(|kv| text(&kv.value))))
        }
        Input::Cas { key, expected, new } => {
            let response = kv.txn(compare_and_swap(key, expected, new)).await?;
            Ok(Output::Cas {
                succeeded: response.into_inner().succeeded,
            })
        }
        Input::Delete { .. } | Input::Range { .. } => {
            panic!("the workload sends no {input}")
        }
    }
}

/// `if value(key) == expected then put(key, new)`; `expected: None` means
/// absent (create revision 0), as the checker's model reads it.
fn compare_and_swap(key: &str, expected: &Option<String>, new: &str) -> pb::TxnRequest {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    let (target, target_union) = match expected {
        Some(value) => (CompareTarget::Value, TargetUnion::Value(bytes(value))),
        None => (CompareTarget::Create, TargetUnion::CreateRevision(0)),
    };
    let put = pb::PutRequest {
        key: bytes(key),
        value: bytes(new),
        ..Default::default()
    };
    pb::TxnRequest {
        compare: vec![pb::Compare {
            result: CompareResult::Equal as i32,
            target: target as i32,
            key: bytes(key),
            range_end: Bytes::new(),
            target_union: Some(target_union),
        }],
        success: vec![pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(put)),
        }],
        failure: Vec::new(),
    }
}
