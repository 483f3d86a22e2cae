//! A first, small load generator over etcd's v3 gRPC API (the full
//! `cairn-bench` comes later). Works against cairn and etcd alike.
//!
//! ```text
//! cargo run --release -p cairn-server --example load -- \
//!     --endpoints 127.0.0.1:2379 --op put --clients 64 --conns 8 --seconds 10
//! ```
//! Ops: `put` (256-byte values over 10,000 keys), `get` (linearizable),
//! `get-s` (serializable).

#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb as pb;
use pb::kv_client::KvClient;
use tonic::transport::Channel;

struct Options {
    endpoints: Vec<String>,
    op: String,
    clients: usize,
    conns: usize,
    seconds: u64,
}

fn options() -> Options {
    let mut options = Options {
        endpoints: vec!["127.0.0.1:2379".to_string()],
        op: "put".to_string(),
        clients: 16,
        conns: 4,
        seconds: 10,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--endpoints" => options.endpoints = value.split(',').map(str::to_string).collect(),
            "--op" => options.op = value,
            "--clients" => options.clients = value.parse().expect("--clients is a number"),
            "--conns" => options.conns = value.parse().expect("--conns is a number"),
            "--seconds" => options.seconds = value.parse().expect("--seconds is a number"),
            other => panic!("unknown option {other}"),
        }
    }
    options
}

#[tokio::main]
async fn main() {
    let options = options();
    let mut channels = Vec::new();
    for i in 0..options.conns {
        let endpoint = &options.endpoints[i % options.endpoints.len()];
        let channel = Channel::from_shared(format!("http://{endpoint}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        channels.push(channel);
    }
    let value = bytes::Bytes::from(vec![b'v'; 256]);
    // Seed the keys for reads.
    if options.op != "put" {
        let mut client = KvClient::new(channels[0].clone());
        for key in 0..1000 {
            let put = pb::PutRequest {
                key: format!("key{key:05}").into_bytes().into(),
                value: value.clone(),
                ..Default::default()
            };
            client.put(put).await.expect("seed");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let mut tasks = Vec::new();
    for c in 0..options.clients {
        let mut client = KvClient::new(channels[c % channels.len()].clone());
        let op = options.op.clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::new();
            let mut errors = 0u64;
            let mut n = c as u64;
            while Instant::now() < deadline {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let started = Instant::now();
                let ok = match op.as_str() {
                    "put" => client
                        .put(pb::PutRequest {
                            key: format!("key{:05}", n % 10_000).into_bytes().into(),
                            value: value.clone(),
                            ..Default::default()
                        })
                        .await
                        .is_ok(),
                    "get" | "get-s" => client
                        .range(pb::RangeRequest {
                            key: format!("key{:05}", n % 1000).into_bytes().into(),
                            serializable: op == "get-s",
                            ..Default::default()
                        })
                        .await
                        .is_ok(),
                    other => panic!("unknown op {other}"),
                };
                if ok {
                    latencies_us.push(started.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (latencies_us, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut l, e) = task.await.expect("client task");
        latencies.append(&mut l);
        errors += e;
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "op={} clients={} conns={} requests={} errors={} throughput={:.0}/s p50={}us p99={}us",
        options.op,
        options.clients,
        options.conns,
        latencies.len(),
        errors,
        latencies.len() as f64 / options.seconds as f64,
        pct(0.50),
        pct(0.99)
    );
}
