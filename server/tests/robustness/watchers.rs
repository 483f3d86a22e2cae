//! Watchers: each watches every key the run writes (`r`..`s`: the workload's
//! `rk/` keys, the lease holders' `rl/` keys, the final `rz/` write) from
//! revision 1 on a random member; when its stream fails, is canceled or
//! stays silent for a while (the member may be down, paused or cut off), it
//! reconnects to another member from the revision after the last event it
//! saw.
//!
//! The check: with no compaction in the run, a fresh watch from revision 1
//! after the faults replays the cluster's whole history of those keys, and
//! every watcher's events, all its connections together, must be exactly a
//! prefix of it: in revision order, each event once, no gap, nothing
//! invented.

use std::time::Duration;

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use cairn_sim_tests::checker::generate::SplitMix64;
use pb::watch_client::WatchClient;
use pb::watch_request::RequestUnion;
use tokio::sync::mpsc;

use super::{connect, Stop};
pub use cairn_sim_tests::watch_check::{check_watchers, SeenEvent, WatchLog};

/// The watched range: every key the run writes.
const WATCHED_START: &str = "r";
const WATCHED_END: &str = "s";
/// A stream silent this long is given up for another member's.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections one watcher opens at most, and responses it reads on one
/// (the stop signal comes first).
const CONNECTIONS_MAX: u32 = 10_000;
const RESPONSES_MAX: u32 = 1_000_000;
/// How long the reference watch may take to replay the history.
const REFERENCE_TIMEOUT: Duration = Duration::from_secs(20);

fn seen(response: &pb::WatchResponse) -> Vec<SeenEvent> {
    let put = cairn_proto::mvccpb::event::EventType::Put as i32;
    response
        .events
        .iter()
        .map(|event| {
            let kv = event.kv.clone().unwrap_or_default();
            SeenEvent {
                revision: kv.mod_revision,
                key: String::from_utf8_lossy(&kv.key).into_owned(),
                put: event.r#type == put,
                value: String::from_utf8_lossy(&kv.value).into_owned(),
            }
        })
        .collect()
}

/// One watch stream to one member.
struct Watch {
    /// Kept open: closing the request side would end the watch.
    _requests: mpsc::Sender<pb::WatchRequest>,
    responses: tonic::Streaming<pb::WatchResponse>,
}

async fn open(endpoint: &str, start_revision: i64) -> Option<Watch> {
    let channel = connect(endpoint, None).await?;
    let create = pb::WatchCreateRequest {
        key: Bytes::from_static(WATCHED_START.as_bytes()),
        range_end: Bytes::from_static(WATCHED_END.as_bytes()),
        start_revision,
        ..Default::default()
    };
    let (requests, queue) = mpsc::channel(1);
    requests
        .try_send(pb::WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        })
        .expect("an empty queue takes the create");
    let mut client = WatchClient::new(channel);
    let call = client.watch(tokio_stream::wrappers::ReceiverStream::new(queue));
    let responses = tokio::time::timeout(SILENCE_TIMEOUT, call)
        .await
        .ok()?
        .ok()?
        .into_inner();
    Some(Watch {
        _requests: requests,
        responses,
    })
}

/// Runs one watcher until `stop`.
pub async fn run_watcher(
    watcher: u32,
    endpoints: Vec<String>,
    seed: u64,
    mut stop: Stop,
) -> WatchLog {
    let mut log = WatchLog {
        watcher,
        ..WatchLog::default()
    };
    let mut rng = SplitMix64(seed);
    let mut next_revision = 1;
    for _ in 0..CONNECTIONS_MAX {
        if *stop.borrow() {
            break;
        }
        let member = rng.below(endpoints.len() as u64) as usize;
        let Some(mut watch) = open(&endpoints[member], next_revision).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        log.connections += 1;
        for _ in 0..RESPONSES_MAX {
            let response = tokio::select! {
                message = watch.responses.message() => match message {
                    Ok(Some(response)) => response,
                    _ => break,
                },
                () = tokio::time::sleep(SILENCE_TIMEOUT) => break,
                _ = stop.wait_for(|stop| *stop) => return log,
            };
            if response.canceled {
                log.problems.push(format!(
                    "the watch from revision {next_revision} on m{} was canceled: {:?} (compact revision {})",
                    member + 1,
                    response.cancel_reason,
                    response.compact_revision
                ));
                break;
            }
            // Events of one revision (a txn's) come in one response.
            let floor = next_revision;
            for event in seen(&response) {
                if event.revision < floor || event.revision + 1 < next_revision {
                    log.problems.push(format!(
                        "m{} sent an event at revision {} after one at revision {}",
                        member + 1,
                        event.revision,
                        next_revision - 1
                    ));
                }
                next_revision = event.revision + 1;
                log.events.push(event);
            }
        }
    }
    log
}

/// The cluster's history of the watched keys, replayed by a fresh watch on
/// `endpoint` from revision 1 up to and including the first event on
/// `last_key`.
pub async fn reference_history(endpoint: &str, last_key: &str) -> Result<Vec<SeenEvent>, String> {
    let replay = async {
        let mut watch = open(endpoint, 1).await.ok_or("could not open a watch")?;
        let mut events = Vec::new();
        for _ in 0..RESPONSES_MAX {
            let response = watch
                .responses
                .message()
                .await
                .map_err(|status| status.to_string())?
                .ok_or("the watch ended")?;
            events.extend(seen(&response));
            if events.iter().any(|event| event.key == last_key) {
                return Ok(events);
            }
        }
        Err("too many responses".to_string())
    };
    tokio::time::timeout(REFERENCE_TIMEOUT, replay)
        .await
        .map_err(|_| format!("no event on {last_key} within {REFERENCE_TIMEOUT:?}"))?
}
