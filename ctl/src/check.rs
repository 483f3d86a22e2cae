//! `check perf` and `check datascale` (ctlv3/command/check.go): a put load
//! on a prefix, then etcdctl's PASS/FAIL lines with its thresholds.
//!
//! ```text
//!   --load s|m|l|xl (or small, medium, large, xLarge) ─▶ the model's numbers
//!   prefix must be empty (else exit 3) ─▶ workers (one per "client") take
//!   puts from a channel ─▶ latencies and error counts (pkg/report's stats)
//!   perf:      a rate-limited feeder for 60 s; throughput > 90% of the rate,
//!              slowest <= 0.5 s, stddev <= 0.1 s
//!   datascale: `limit` puts; process_resident_memory_bytes from the first
//!              endpoint's /metrics before and after
//!   then: delete the prefix, --auto-compact, --auto-defrag
//! ```
//!
//! `CAIRNCTL_CHECK_PERF_SECONDS` (not in etcdctl) shortens `check perf`'s 60
//! s, for tests. etcdctl draws cheggaaa/pb's bar on stdout; cairnctl draws
//! its load's progress on stderr, on a terminal only, so stdout holds
//! etcdctl's lines alone.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_client::concurrency::prefix_range_end;
use cairn_proto::etcdserverpb as pb;
use tokio::sync::{mpsc, Mutex};

use crate::exit::{CtlError, EXIT_BAD_FEATURE, EXIT_ERROR, EXIT_INVALID_INPUT};
use crate::flags::Values;
use crate::global::{connect, error_text, Global};
use crate::progress::Progress;

type Env = [(String, String)];

/// The environment variable that shortens `check perf` (seconds).
pub const PERF_SECONDS_ENV: &str = "CAIRNCTL_CHECK_PERF_SECONDS";

/// `check perf`'s models: writes per second, clients, seconds.
fn perf_model(load: &str) -> Option<(u64, usize, u64)> {
    Some(match model(load)? {
        "s" => (150, 50, 60),
        "m" => (1000, 200, 60),
        "l" => (8000, 500, 60),
        _ => (15000, 1000, 60),
    })
}

/// `check datascale`'s models: puts, bytes per key-value, clients.
fn datascale_model(load: &str) -> Option<(u64, usize, usize)> {
    Some(match model(load)? {
        "s" => (10_000, 1024, 50),
        "m" => (100_000, 1024, 200),
        "l" => (1_000_000, 1024, 500),
        _ => (3_000_000, 1024, 1000),
    })
}

/// etcdctl's load aliases.
fn model(load: &str) -> Option<&'static str> {
    match load {
        "s" | "small" => Some("s"),
        "m" | "medium" => Some("m"),
        "l" | "large" => Some("l"),
        "xl" | "xLarge" => Some("xl"),
        _ => None,
    }
}

fn unknown_load(load: &str) -> CtlError {
    CtlError::new(EXIT_BAD_FEATURE, format!("unknown load option {load}"))
}

/// `check perf`.
pub async fn perf(values: &mut Values, _args: &[String], env: &Env) -> Result<(), CtlError> {
    let load = values.string("load");
    let (limit, clients, mut seconds) = perf_model(&load).ok_or_else(|| unknown_load(&load))?;
    if let Some(short) = lookup(env, PERF_SECONDS_ENV).and_then(|v| v.parse().ok()) {
        seconds = short;
    }
    let prefix = values.string("prefix");
    let global = connect(values, env).await?;
    let duration = Duration::from_secs(seconds);
    ensure_empty(&global, &prefix, Some(duration)).await?;
    let progress = Arc::new(Progress::steps(seconds, "load (seconds)"));
    let ticker = tokio::spawn({
        let progress = progress.clone();
        async move {
            for _ in 0..seconds {
                tokio::time::sleep(Duration::from_secs(1)).await;
                progress.advance(1);
            }
            progress.finish();
        }
    });
    let (sender, receiver) = mpsc::channel(clients);
    let feeder = {
        let prefix = prefix.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / limit as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let deadline = tokio::time::Instant::now() + duration;
            let mut keys = KeyMaker::new(&prefix, 256);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = tokio::time::sleep_until(deadline) => break,
                }
                let put = put_request(keys.next(), 1024);
                if sender.send(put).await.is_err() {
                    break;
                }
            }
        }
    };
    let (stats, ()) = tokio::join!(run_workers(&global, receiver, clients, None), feeder);
    let _ = ticker.await;
    finish(&global, &prefix, values, Some(Duration::from_secs(30))).await?;
    let mut ok = report_errors(&stats);
    let rps = stats.rps();
    if rps / limit as f64 <= 0.9 {
        println!("FAIL: Throughput too low: {} writes/s", rps as i64 + 1);
        ok = false;
    } else {
        println!("PASS: Throughput is {} writes/s", rps as i64 + 1);
    }
    let slowest = stats.slowest();
    if slowest > 0.5 {
        println!("Slowest request took too long: {slowest:.6}s");
        ok = false;
    } else {
        println!("PASS: Slowest request took {slowest:.6}s");
    }
    let stddev = stats.stddev();
    if stddev > 0.1 {
        println!("Stddev too high: {stddev:.6}s");
        ok = false;
    } else {
        println!("PASS: Stddev is {stddev:.6}s");
    }
    if ok {
        println!("PASS");
        Ok(())
    } else {
        println!("FAIL");
        Err(CtlError::new(EXIT_ERROR, ""))
    }
}

/// `check datascale`.
pub async fn datascale(values: &mut Values, _args: &[String], env: &Env) -> Result<(), CtlError> {
    let load = values.string("load");
    let (limit, kv_size, clients) = datascale_model(&load).ok_or_else(|| unknown_load(&load))?;
    let prefix = values.string("prefix");
    let global = connect(values, env).await?;
    let first_endpoint = values
        .strings("endpoints")
        .first()
        .cloned()
        .unwrap_or_default();
    ensure_empty(&global, &prefix, None).await?;
    let fail = |line: &str| {
        println!("{line}");
        CtlError::new(EXIT_ERROR, "")
    };
    let before = resident_memory(&first_endpoint).await;
    if before == 0.0 {
        return Err(fail(
            "FAIL: Could not read process_resident_memory_bytes before the put operations.",
        ));
    }
    println!("Start data scale check for work load [{limit} key-value pairs, {kv_size} bytes per key-value, {clients} concurrent clients].");
    let progress = Arc::new(Progress::steps(limit, "load (puts)"));
    let (sender, receiver) = mpsc::channel(clients);
    let feeder = {
        let prefix = prefix.clone();
        async move {
            let mut keys = KeyMaker::new(&prefix, 512);
            for _ in 0..limit {
                if sender.send(put_request(keys.next(), 512)).await.is_err() {
                    break;
                }
            }
        }
    };
    let (stats, ()) = tokio::join!(
        run_workers(&global, receiver, clients, Some(progress.clone())),
        feeder
    );
    progress.finish();
    let after = resident_memory(&first_endpoint).await;
    if after == 0.0 {
        return Err(fail(
            "FAIL: Could not read process_resident_memory_bytes after the put operations.",
        ));
    }
    finish(&global, &prefix, values, None).await?;
    if !report_errors(&stats) {
        return Err(CtlError::new(EXIT_ERROR, ""));
    }
    let used = (after - before) / (1024.0 * 1024.0);
    println!("PASS: Approximate system memory used : {used:.2} MB.");
    Ok(())
}

fn lookup(env: &Env, key: &str) -> Option<String> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// Fails (exit 3) when a key already exists under `prefix`.
async fn ensure_empty(
    global: &Global,
    prefix: &str,
    timeout: Option<Duration>,
) -> Result<(), CtlError> {
    let request = pb::RangeRequest {
        key: Bytes::copy_from_slice(prefix.as_bytes()),
        range_end: prefix_range_end(prefix.as_bytes()),
        limit: 1,
        ..Default::default()
    };
    let response = within(timeout, global.client.kv().range(request))
        .await
        .map_err(|status| global.failed(&status))?;
    if !response.kvs.is_empty() {
        return Err(CtlError::new(
            EXIT_INVALID_INPUT,
            format!("prefix {prefix:?} has keys. Delete with etcdctl del --prefix {prefix} first"),
        ));
    }
    Ok(())
}

/// Runs `call`, within `timeout` when one is given (Go's context error
/// otherwise).
async fn within<T>(
    timeout: Option<Duration>,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, tonic::Status> {
    let answer = match timeout {
        Some(limit) => tokio::time::timeout(limit, call)
            .await
            .map_err(|_| tonic::Status::deadline_exceeded("context deadline exceeded"))?,
        None => call.await,
    };
    answer.map(tonic::Response::into_inner)
}

/// After the load: delete the prefix, then compact and defragment when
/// asked (etcdctl's `compact` and `defrag` lines).
async fn finish(
    global: &Global,
    prefix: &str,
    values: &Values,
    timeout: Option<Duration>,
) -> Result<(), CtlError> {
    let failed = |status: tonic::Status| global.failed(&status);
    let request = pb::DeleteRangeRequest {
        key: Bytes::copy_from_slice(prefix.as_bytes()),
        range_end: prefix_range_end(prefix.as_bytes()),
        ..Default::default()
    };
    let deleted = within(timeout, global.client.kv().delete_range(request))
        .await
        .map_err(failed)?;
    let thirty = Some(Duration::from_secs(30));
    if values.bool("auto-compact") {
        let revision = deleted.header.map_or(0, |h| h.revision);
        println!("Compacting with revision {revision}");
        let request = pb::CompactionRequest {
            revision,
            physical: true,
        };
        within(thirty, global.client.kv().compact(request))
            .await
            .map_err(failed)?;
        println!("Compacted with revision {revision}");
    }
    if values.bool("auto-defrag") {
        for endpoint in values.strings("endpoints") {
            println!("Defragmenting {endpoint:?}");
            let request = pb::DefragmentRequest {};
            within(thirty, global.client.maintenance().defragment(request))
                .await
                .map_err(failed)?;
            println!("Defragmented {endpoint:?}");
        }
    }
    Ok(())
}

/// etcdctl's "too many errors" lines; whether there were none.
fn report_errors(stats: &Stats) -> bool {
    if stats.errors.is_empty() {
        return true;
    }
    println!("FAIL: too many errors");
    for (error, count) in &stats.errors {
        println!("FAIL: ERROR({error}) -> {count}");
    }
    false
}

/// pkg/report's numbers: every success's latency, every error's count, and
/// the time from the first request to the last answer.
#[derive(Debug, Default)]
struct Stats {
    latencies: Vec<f64>,
    errors: BTreeMap<String, u64>,
    total: Duration,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.total.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn slowest(&self) -> f64 {
        self.latencies.iter().copied().fold(0.0, f64::max)
    }

    /// The population standard deviation (NaN with no successes, as Go's).
    fn stddev(&self) -> f64 {
        let n = self.latencies.len() as f64;
        let mean = self.latencies.iter().sum::<f64>() / n;
        let squares: f64 = self.latencies.iter().map(|l| (l - mean) * (l - mean)).sum();
        (squares / n).sqrt()
    }
}

/// `clients` workers putting what arrives on `puts` until it closes.
async fn run_workers(
    global: &Global,
    puts: mpsc::Receiver<pb::PutRequest>,
    clients: usize,
    progress: Option<Arc<Progress>>,
) -> Stats {
    let started = Instant::now();
    let puts = Arc::new(Mutex::new(puts));
    let stats = Arc::new(std::sync::Mutex::new(Stats::default()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (puts, stats, progress) = (puts.clone(), stats.clone(), progress.clone());
        let mut kv = global.client.kv();
        workers.spawn(async move {
            loop {
                let Some(put) = puts.lock().await.recv().await else {
                    return;
                };
                let start = Instant::now();
                let answer = kv.put(put).await;
                let latency = start.elapsed().as_secs_f64();
                let mut stats = stats.lock().unwrap_or_else(|e| e.into_inner());
                match answer {
                    Ok(_) => stats.latencies.push(latency),
                    Err(status) => *stats.errors.entry(error_text(&status)).or_default() += 1,
                }
                if let Some(progress) = &progress {
                    progress.advance(1);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let mut stats = std::mem::take(&mut *stats.lock().unwrap_or_else(|e| e.into_inner()));
    stats.total = started.elapsed();
    stats
}

fn put_request(key: Bytes, value_size: usize) -> pb::PutRequest {
    pb::PutRequest {
        key,
        value: Bytes::from(vec![0u8; value_size]),
        ..Default::default()
    }
}

/// etcdctl's keys: the prefix and a `size`-byte buffer starting with a
/// random non-negative int63 as a zig-zag varint (`binary.PutVarint`), the
/// buffer reused as Go's is.
#[derive(Debug)]
struct KeyMaker {
    prefix: Vec<u8>,
    buffer: Vec<u8>,
    random: std::collections::hash_map::RandomState,
    counter: u64,
}

impl KeyMaker {
    fn new(prefix: &str, size: usize) -> KeyMaker {
        KeyMaker {
            prefix: prefix.as_bytes().to_vec(),
            buffer: vec![0; size],
            random: std::collections::hash_map::RandomState::new(),
            counter: 0,
        }
    }

    fn next(&mut self) -> Bytes {
        self.counter += 1;
        let mut hasher = self.random.build_hasher();
        hasher.write_u64(self.counter);
        let n = hasher.finish() >> 1;
        // Zig-zag of a non-negative number is 2n, then base-128 groups.
        let mut value = n << 1;
        let mut at = 0;
        while value >= 0x80 {
            self.buffer[at] = (value as u8) | 0x80;
            value >>= 7;
            at += 1;
        }
        self.buffer[at] = value as u8;
        let mut key = self.prefix.clone();
        key.extend_from_slice(&self.buffer);
        Bytes::from(key)
    }
}

/// `process_resident_memory_bytes` from `host`'s /metrics (etcdctl's
/// `endpointMemoryMetrics`); 0 after printing why it could not be read.
async fn resident_memory(host: &str) -> f64 {
    const KEY: &str = "process_resident_memory_bytes";
    let host = if host.starts_with("http://") || host.starts_with("https://") {
        host.to_string()
    } else {
        format!("http://{host}")
    };
    let url = format!("{host}/metrics");
    let body = match http_get(&url).await {
        Ok(body) => body,
        Err(why) => {
            println!("fetch error: {why}");
            return 0.0;
        }
    };
    let Some(value) = body
        .lines()
        .find_map(|line| line.strip_prefix(KEY))
        .map(str::trim)
    else {
        println!("could not find: {KEY}");
        return 0.0;
    };
    match value.parse::<f64>() {
        Ok(bytes) => bytes,
        Err(_) => {
            println!("parse error: strconv.ParseFloat: parsing {value:?}: invalid syntax");
            0.0
        }
    }
}

/// A plain-HTTP GET's body (HTTP/1.0, the connection closed by the server);
/// Go's `http.Get` error texts.
async fn http_get(url: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "Get {url:?}: cairnctl does not read https metrics yet"
        ));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| {
            format!(
                "Get {url:?}: dial tcp {authority}: connect: {}",
                os_text(&e)
            )
        })?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: */*\r\n\r\n");
    let mut response = Vec::new();
    let io = async {
        stream.write_all(request.as_bytes()).await?;
        stream.read_to_end(&mut response).await
    };
    io.await
        .map_err(|e| format!("Get {url:?}: {}", os_text(&e)))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.starts_with("HTTP/") {
        return Err(format!("Get {url:?}: malformed HTTP response"));
    }
    Ok(body.to_string())
}

/// An I/O error's text as Go's syscall errors read (`connection refused`).
fn os_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_have_etcdctls_aliases_and_numbers() {
        assert_eq!(perf_model("small"), Some((150, 50, 60)));
        assert_eq!(perf_model("xLarge"), Some((15000, 1000, 60)));
        assert_eq!(perf_model("xlarge"), None);
        assert_eq!(datascale_model("m"), Some((100_000, 1024, 200)));
    }

    #[test]
    fn keys_are_the_prefix_and_a_fixed_size_buffer() {
        let mut keys = KeyMaker::new("/p/", 256);
        let (a, b) = (keys.next(), keys.next());
        assert_eq!((a.len(), b.len()), (259, 259));
        assert!(a.starts_with(b"/p/"));
        assert_ne!(a, b);
    }

    #[test]
    fn stats_follow_pkg_report() {
        let stats = Stats {
            latencies: vec![0.1, 0.3],
            errors: BTreeMap::new(),
            total: Duration::from_secs(2),
        };
        assert_eq!(stats.rps(), 1.0);
        assert_eq!(stats.slowest(), 0.3);
        assert!((stats.stddev() - 0.1).abs() < 1e-9);
    }
}
