//! cairn-bench: a load generator for etcd's v3 gRPC API, modelled on etcd's
//! `tools/benchmark`. It loads cairn and real etcd alike.
//!
//! ```text
//! cairn-bench --endpoints 127.0.0.1:2379 --conns 100 --clients 1000 --duration 10 \
//!     put --key-size 8 --val-size 256 --key-space-size 100000
//! cairn-bench --clients 100 --total 100000 range foo --consistency s
//! cairn-bench --json --label cairn --title "put" put > cairn.json
//! cairn-bench chart --out latency.svg cairn.json etcd.json
//! ```

mod chart;
mod cli;
mod driver;
mod gateway;
mod keys;
mod kv;
mod lease;
mod progress;
mod recorder;
mod report;
mod v2;
mod watch;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn_client::{AuthedChannel as Conn, Client};
use clap::Parser;

use cli::{Cli, Command, GlobalOptions, DEFAULT_TOTAL};
use driver::{run_workers, show_progress, Plan, Worker};
use report::{Report, RunInfo};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let offline = match &cli.command {
        Command::Chart(args) => Some(chart::write_chart(
            &args.files,
            &args.chart_title,
            &args.out,
        )),
        Command::Summary(args) => Some(report::print_summaries(&args.files)),
        _ => None,
    };
    if let Some(result) = offline {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(report) => {
            print_report(&report);
            // A run where nothing succeeded is a failure a script must notice.
            if report.figures.count == 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => fail(&error),
    }
}

fn fail(error: &str) -> ExitCode {
    eprintln!("cairn-bench: {error}");
    ExitCode::FAILURE
}

fn print_report(report: &Report) {
    if report_as_json() {
        println!(
            "{}",
            serde_json::to_string(report).expect("report serializes")
        );
    } else {
        print!("{}", report.text());
    }
}

static JSON_OUTPUT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

fn report_as_json() -> bool {
    JSON_OUTPUT.get().copied().unwrap_or(false)
}

/// The run's plan from `--total`, `--duration` and `--rate`.
fn plan(global: &GlobalOptions, rate_per_s: f64) -> Plan {
    let total = match (global.total, global.duration) {
        (None, None) => Some(DEFAULT_TOTAL),
        (total, _) => total,
    };
    Plan::new(total, global.duration, rate_per_s)
}

fn info(global: &GlobalOptions, workload: &str, endpoints: &[String]) -> RunInfo {
    RunInfo {
        workload: workload.to_string(),
        title: global.title.clone(),
        label: global.label.clone(),
        endpoints: endpoints.to_vec(),
        conns: global.conns,
        clients: global.clients,
        rate_per_s: global.rate,
    }
}

fn build_workers<W>(
    channels: &[Conn],
    clients: usize,
    mut make: impl FnMut(Conn, u64) -> Result<W, String>,
) -> Result<Vec<W>, String> {
    (0..clients.max(1))
        .map(|client| make(channels[client % channels.len()].clone(), client as u64))
        .collect()
}

async fn run_kv<W: Worker>(
    global: &GlobalOptions,
    workload: &str,
    endpoints: &[String],
    workers: Vec<W>,
) -> Report {
    let plan = Arc::new(plan(global, global.rate));
    let timeout = Duration::from_secs_f64(global.request_timeout);
    let (recorder, elapsed) = run_workers(workers, plan, timeout, show_progress(global.json)).await;
    Report::new(info(global, workload, endpoints), &recorder, elapsed)
}

async fn run(cli: Cli) -> Result<Report, String> {
    let global = cli.global;
    let _ = JSON_OUTPUT.set(global.json);
    if global.request_timeout <= 0.0 || global.duration.is_some_and(|seconds| seconds <= 0.0) {
        return Err("--request-timeout and --duration must be positive".to_string());
    }
    let client = Client::connect(global.client_config()?)
        .await
        .map_err(|error| error.to_string())?;
    let endpoints = if global.target_leader {
        let leader = client.leader_endpoint().await;
        vec![leader.map_err(|error| error.to_string())?]
    } else {
        client.endpoints().to_vec()
    };
    let channels = client
        .open_channels(&endpoints, global.conns)
        .await
        .map_err(|error| error.to_string())?;
    let endpoints: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
    let clients = global.clients;
    match cli.command {
        Command::Put(args) => {
            let workers = build_workers(&channels, clients, |channel, index| {
                kv::PutWorker::new(channel, &args, index)
            })?;
            Ok(run_kv(&global, "put", &endpoints, workers).await)
        }
        Command::Range(args) => {
            let request = kv::range_request(&args);
            let workers = build_workers(&channels, clients, |channel, _| {
                Ok(kv::RangeWorker::new(channel, request.clone()))
            })?;
            Ok(run_kv(&global, "range", &endpoints, workers).await)
        }
        Command::TxnPut(args) => {
            let workers = build_workers(&channels, clients, |channel, index| {
                kv::TxnPutWorker::new(channel, &args, index)
            })?;
            Ok(run_kv(&global, "txn-put", &endpoints, workers).await)
        }
        Command::TxnMixed(args) => {
            let workers = build_workers(&channels, clients, |channel, index| {
                kv::TxnMixedWorker::new(channel, &args, index)
            })?;
            Ok(run_kv(&global, "txn-mixed", &endpoints, workers).await)
        }
        Command::V2Set(args) => {
            let mut workers = Vec::with_capacity(clients);
            for client in 0..clients.max(1) {
                let endpoint = &endpoints[client % endpoints.len()];
                workers.push(v2::V2SetWorker::connect(endpoint, &args, client as u64).await?);
            }
            Ok(run_kv(&global, "v2-set", &endpoints, workers).await)
        }
        Command::GatewayPut(args) => {
            let mut workers = Vec::with_capacity(clients);
            for client in 0..clients.max(1) {
                let endpoint = &endpoints[client % endpoints.len()];
                workers.push(gateway::GatewayWorker::put(endpoint, &args, client as u64).await?);
            }
            Ok(run_kv(&global, "gateway-put", &endpoints, workers).await)
        }
        Command::GatewayRange(args) => {
            let request = kv::range_request(&args);
            let mut workers = Vec::with_capacity(clients);
            for client in 0..clients.max(1) {
                let endpoint = &endpoints[client % endpoints.len()];
                workers.push(gateway::GatewayWorker::range(endpoint, &request).await?);
            }
            Ok(run_kv(&global, "gateway-range", &endpoints, workers).await)
        }
        Command::LeaseKeepalive => {
            let mut workers = Vec::with_capacity(clients);
            for client in 0..clients.max(1) {
                workers.push(
                    lease::KeepAliveWorker::new(channels[client % channels.len()].clone()).await?,
                );
            }
            Ok(run_kv(&global, "lease-keepalive", &endpoints, workers).await)
        }
        Command::Watch(args) => {
            let keys = (0..args.watched_key_total.max(1))
                .map(|index| Bytes::from(format!("{}{index:08}", args.key_prefix)))
                .collect();
            let setup = watch::WatchSetup {
                watchers: args.watchers,
                streams: args.streams,
                keys,
                put_rate_per_s: args.put_rate,
                put_clients: clients,
                val_size: args.val_size,
            };
            run_watch(&global, "watch", &endpoints, &channels, setup).await
        }
        Command::WatchLatency(args) => {
            let setup = watch::WatchSetup {
                watchers: args.watchers,
                streams: args.streams,
                keys: vec![Bytes::from(args.key.clone().into_bytes())],
                put_rate_per_s: args.put_rate,
                put_clients: 1,
                val_size: args.val_size,
            };
            run_watch(&global, "watch-latency", &endpoints, &channels, setup).await
        }
        Command::Chart(_) | Command::Summary(_) => unreachable!("runs without a runtime"),
    }
}

async fn run_watch(
    global: &GlobalOptions,
    workload: &str,
    endpoints: &[String],
    channels: &[Conn],
    setup: watch::WatchSetup,
) -> Result<Report, String> {
    let put_rate = setup.put_rate_per_s;
    let (watchers, streams) = (setup.watchers, setup.streams);
    let outcome = watch::run(
        setup,
        channels,
        || plan(global, put_rate),
        Duration::from_secs_f64(global.request_timeout),
        show_progress(global.json),
    )
    .await?;
    let mut info = info(global, workload, endpoints);
    info.rate_per_s = put_rate;
    let mut report = Report::new(info, &outcome.recorder, outcome.elapsed);
    for (name, value) in [
        ("watchers", watchers),
        ("streams", streams),
        ("puts", outcome.puts),
        ("events_expected", outcome.events_expected),
        ("events_received", outcome.events_received),
    ] {
        report.extra.insert(name.to_string(), value.into());
    }
    Ok(report)
}
