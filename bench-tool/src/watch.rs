//! watch and watch-latency: watchers spread over Watch streams, puts to the
//! watched keys, and the latency from each put's start to each event.
//!
//! ```text
//!   put clients ──Put(key, value = start time)──▶ cluster
//!   stream 0: watchers 0, S, 2S, ...  ◀── events ──┘   latency = now - start time
//!   stream 1: watchers 1, S+1, ...
//! ```
//! Each value carries the nanoseconds since the run's epoch at which its put
//! was sent, so any stream can time any event without shared state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use cairn_client::AuthedChannel as Conn;
use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::watch_client::WatchClient;
use cairn_proto::etcdserverpb::{watch_request, PutRequest, WatchCreateRequest, WatchRequest};
use tokio::sync::{mpsc, watch as signal};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::driver::{run_workers, Plan, Worker};
use crate::keys::{random_value, Random};
use crate::recorder::{status_text, Recorder};

/// How long to wait, after the last put, for events still on their way.
const EVENT_DRAIN_GRACE: Duration = Duration::from_secs(10);
/// Requests buffered towards one Watch stream.
const WATCH_QUEUE_REQUESTS: usize = 64;
/// Bytes at the head of each value: the put's start, in ns since the epoch.
const START_STAMP_BYTES: usize = 8;

/// What a watch run does.
#[derive(Debug, Clone)]
pub struct WatchSetup {
    pub watchers: u64,
    pub streams: u64,
    pub keys: Vec<Bytes>,
    pub put_rate_per_s: f64,
    pub put_clients: usize,
    pub val_size: usize,
}

/// Result of a watch run: event latencies in `all`, puts and watch creation
/// as classes, and the event accounting.
#[derive(Debug)]
pub struct WatchOutcome {
    pub recorder: Recorder,
    pub elapsed: Duration,
    pub events_expected: u64,
    pub events_received: u64,
    pub puts: u64,
}

struct StreamTask {
    channel: Conn,
    /// Key index of each watcher on this stream.
    watcher_keys: Vec<usize>,
    keys: Arc<Vec<Bytes>>,
    epoch: Instant,
    received: Arc<AtomicU64>,
    stop: signal::Receiver<bool>,
    created: mpsc::Sender<Result<(), String>>,
}

impl StreamTask {
    async fn run(mut self) -> Recorder {
        let mut recorder = Recorder::default();
        let (requests, receiver) = mpsc::channel(WATCH_QUEUE_REQUESTS);
        let mut receiver = Some(receiver);
        let mut responses = None;
        // Create the watchers one at a time, timing each creation.
        for &key in &self.watcher_keys {
            let started = Instant::now();
            let create = WatchRequest {
                request_union: Some(watch_request::RequestUnion::CreateRequest(
                    WatchCreateRequest {
                        key: self.keys[key].clone(),
                        ..Default::default()
                    },
                )),
            };
            if requests.send(create).await.is_err() {
                let _ = self
                    .created
                    .send(Err("watch stream closed".to_string()))
                    .await;
                return recorder;
            }
            // grpc-go (etcd) sends the response headers only with the first
            // response, so the call opens only once a request is queued.
            if let Some(receiver) = receiver.take() {
                let mut client = WatchClient::new(self.channel.clone());
                match client.watch(ReceiverStream::new(receiver)).await {
                    Ok(response) => responses = Some(response.into_inner()),
                    Err(status) => {
                        let _ = self.created.send(Err(status_text(&status))).await;
                        return recorder;
                    }
                }
            }
            let responses = responses.as_mut().expect("the call is open");
            let result = match responses.message().await {
                Ok(Some(response)) if response.created => Ok(()),
                Ok(Some(response)) => Err(format!(
                    "watch not created (canceled: {}, reason: {:?})",
                    response.canceled, response.cancel_reason
                )),
                Ok(None) => Err("watch stream ended".to_string()),
                Err(status) => Err(status_text(&status)),
            };
            recorder.record_class_only("create", started.elapsed(), result.clone());
            if let Err(error) = result {
                let _ = self.created.send(Err(error)).await;
                return recorder;
            }
        }
        let Some(mut responses) = responses else {
            // No watcher on this stream.
            let _ = self.created.send(Ok(())).await;
            return recorder;
        };
        let _ = self.created.send(Ok(())).await;
        // Then time events until told to stop.
        loop {
            let message = tokio::select! {
                message = responses.message() => message,
                _ = self.stop.wait_for(|stop| *stop) => break,
            };
            match message {
                Ok(Some(response)) => {
                    if response.canceled {
                        recorder.record(
                            None,
                            Duration::ZERO,
                            Err(format!("watch canceled: {}", response.cancel_reason)),
                        );
                    }
                    let now_ns = self.epoch.elapsed().as_nanos() as u64;
                    for event in &response.events {
                        let stamp = event
                            .kv
                            .as_ref()
                            .and_then(|kv| kv.value.get(..START_STAMP_BYTES));
                        let result = match stamp {
                            Some(stamp) => {
                                let start_ns =
                                    u64::from_be_bytes(stamp.try_into().expect("8 bytes"));
                                Ok(Duration::from_nanos(now_ns.saturating_sub(start_ns)))
                            }
                            None => Err("event without a start stamp".to_string()),
                        };
                        match result {
                            Ok(latency) => recorder.record(None, latency, Ok(())),
                            Err(error) => recorder.record(None, Duration::ZERO, Err(error)),
                        }
                    }
                    self.received
                        .fetch_add(response.events.len() as u64, Ordering::Relaxed);
                }
                Ok(None) => {
                    recorder.record(None, Duration::ZERO, Err("watch stream ended".to_string()));
                    break;
                }
                Err(status) => {
                    recorder.record(None, Duration::ZERO, Err(status_text(&status)));
                    break;
                }
            }
        }
        drop(requests);
        recorder
    }
}

/// Puts to the watched keys; the value starts with the send time.
#[derive(Debug)]
struct PutWorker {
    client: KvClient<Conn>,
    keys: Arc<Vec<Bytes>>,
    puts_by_key: Arc<Vec<AtomicU64>>,
    epoch: Instant,
    padding: Bytes,
    random: Random,
}

impl Worker for PutWorker {
    async fn call(&mut self, _ticket: u64) -> Result<(), Status> {
        let key = (self.random.next_u64() % self.keys.len() as u64) as usize;
        let mut value = BytesMut::with_capacity(START_STAMP_BYTES + self.padding.len());
        value.put_u64(self.epoch.elapsed().as_nanos() as u64);
        value.put_slice(&self.padding);
        let request = PutRequest {
            key: self.keys[key].clone(),
            value: value.freeze(),
            ..Default::default()
        };
        self.client.put(request).await?;
        self.puts_by_key[key].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Creates the watchers, runs the puts by `plan_of_puts`, drains events.
pub async fn run(
    setup: WatchSetup,
    channels: &[Conn],
    plan_of_puts: impl FnOnce() -> Plan,
    request_timeout: Duration,
    progress: bool,
) -> Result<WatchOutcome, String> {
    if setup.keys.is_empty() || setup.streams == 0 || setup.watchers == 0 {
        return Err("need at least one key, stream and watcher".to_string());
    }
    let epoch = Instant::now();
    let keys = Arc::new(setup.keys.clone());
    let received = Arc::new(AtomicU64::new(0));
    let (stop_sender, stop) = signal::channel(false);
    let (created_sender, mut created) = mpsc::channel(setup.streams as usize);
    let mut watchers_by_key = vec![0u64; keys.len()];
    let mut tasks = Vec::new();
    for stream in 0..setup.streams {
        let watcher_keys: Vec<usize> = (stream..setup.watchers)
            .step_by(setup.streams as usize)
            .map(|watcher| (watcher % keys.len() as u64) as usize)
            .collect();
        for &key in &watcher_keys {
            watchers_by_key[key] += 1;
        }
        let task = StreamTask {
            channel: channels[stream as usize % channels.len()].clone(),
            watcher_keys,
            keys: keys.clone(),
            epoch,
            received: received.clone(),
            stop: stop.clone(),
            created: created_sender.clone(),
        };
        tasks.push(tokio::spawn(task.run()));
    }
    drop(created_sender);
    for _ in 0..setup.streams {
        match created.recv().await {
            Some(Ok(())) => {}
            Some(Err(error)) => {
                let _ = stop_sender.send(true);
                return Err(format!("creating watchers: {error}"));
            }
            None => return Err("a watch stream task ended early".to_string()),
        }
    }

    let puts_by_key: Arc<Vec<AtomicU64>> =
        Arc::new(keys.iter().map(|_| AtomicU64::new(0)).collect());
    let padding = random_value(setup.val_size.saturating_sub(START_STAMP_BYTES), 0x3a7c);
    let workers: Vec<PutWorker> = (0..setup.put_clients.max(1))
        .map(|client| PutWorker {
            client: KvClient::new(channels[client % channels.len()].clone()),
            keys: keys.clone(),
            puts_by_key: puts_by_key.clone(),
            epoch,
            padding: padding.clone(),
            random: Random::new(client as u64 ^ 0x77a7),
        })
        .collect();
    let plan = Arc::new(plan_of_puts());
    let (put_recorder, elapsed) = run_workers(workers, plan, request_timeout, progress).await;

    let events_expected: u64 = puts_by_key
        .iter()
        .zip(&watchers_by_key)
        .map(|(puts, watchers)| puts.load(Ordering::Relaxed) * watchers)
        .sum();
    let drain_deadline = Instant::now() + EVENT_DRAIN_GRACE;
    while received.load(Ordering::Relaxed) < events_expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_sender.send(true);
    let mut recorder = Recorder::default();
    for task in tasks {
        recorder.merge(
            &task
                .await
                .map_err(|error| format!("watch stream task: {error}"))?,
        );
    }
    let events_received = received.load(Ordering::Relaxed);
    if events_received < events_expected {
        *recorder
            .all
            .errors
            .entry("watch events missing after the drain grace".to_string())
            .or_insert(0) += events_expected - events_received;
    }
    let put_stats = put_recorder.all;
    let puts = put_stats.count();
    recorder.classes.insert("put", put_stats);
    Ok(WatchOutcome {
        recorder,
        elapsed,
        events_expected,
        events_received,
        puts,
    })
}
