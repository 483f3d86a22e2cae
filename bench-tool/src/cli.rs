//! Command-line surface, modelled on etcd's `tools/benchmark`: global options
//! for where and how hard to load, one subcommand per workload.

use std::path::PathBuf;
use std::time::Duration;

use cairn_client::{endpoint, ClientConfig, Credentials, TlsOptions};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Default number of requests when neither `--total` nor `--duration` is given
/// (etcd's benchmark default).
pub const DEFAULT_TOTAL: u64 = 10_000;

#[derive(Parser, Debug)]
#[command(
    name = "cairn-bench",
    version,
    about = "A load generator for etcd's v3 gRPC API (modelled on etcd's benchmark tool)"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOptions {
    /// gRPC endpoints, comma separated: host:port, http://host:port or https://host:port.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,
    /// Number of gRPC connections (HTTP/2 channels), spread over the endpoints.
    #[arg(long, global = true, default_value_t = 1)]
    pub conns: usize,
    /// Number of concurrent clients, spread over the connections.
    #[arg(long, global = true, default_value_t = 1)]
    pub clients: usize,
    /// Total number of requests (default 10000 unless --duration is given).
    #[arg(long, global = true)]
    pub total: Option<u64>,
    /// Run for this many seconds (with --total too: whichever ends first).
    #[arg(long, global = true)]
    pub duration: Option<f64>,
    /// Limit requests per second over all clients; 0 means no limit.
    #[arg(long, global = true, default_value_t = 0.0)]
    pub rate: f64,
    /// Find the leader via Maintenance.Status and send requests only to it.
    #[arg(long, global = true)]
    pub target_leader: bool,
    /// Give up on one request after this many seconds (counted as an error).
    #[arg(long, global = true, default_value_t = 30.0)]
    pub request_timeout: f64,
    /// Print one machine-readable JSON object instead of the text report.
    #[arg(long, global = true)]
    pub json: bool,
    /// Label of the system under test, carried into --json (e.g. cairn, etcd).
    #[arg(long, global = true)]
    pub label: Option<String>,
    /// Title of the run, carried into --json; `chart` groups panels by it.
    #[arg(long, global = true)]
    pub title: Option<String>,
    /// CA bundle (PEM) that https:// endpoints' certificates are verified against.
    #[arg(long, global = true)]
    pub cacert: Option<PathBuf>,
    /// Client certificate (PEM) presented to https:// endpoints.
    #[arg(
        long = "cert",
        id = "client_cert",
        global = true,
        requires = "client_key"
    )]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM). (Its id is not `key`:
    /// `range` has a positional <KEY>.)
    #[arg(
        long = "key",
        id = "client_key",
        global = true,
        requires = "client_cert"
    )]
    pub key: Option<PathBuf>,
    /// Accept any certificate from https:// endpoints (e.g. --auto-tls ones).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
    /// Authenticate as `name:password` and send the token with every request.
    #[arg(long, global = true)]
    pub user: Option<String>,
}

/// How long one connection (TCP and TLS handshake) may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

impl GlobalOptions {
    /// The client these options describe, each flag meaning what it means
    /// to etcdctl: TLS options put bare `host:port` endpoints over TLS too,
    /// `https://` ones without `--cacert` trust the system's CAs.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let endpoints = endpoint::parse_list(&self.endpoints).map_err(|e| e.to_string())?;
        let tls = TlsOptions {
            ca_file: self.cacert.clone(),
            cert_file: self.cert.clone(),
            key_file: self.key.clone(),
            insecure_skip_verify: self.insecure_skip_tls_verify,
        };
        let mut config = ClientConfig::new(endpoints)
            .with_tls(tls)
            .with_dial_timeout(DIAL_TIMEOUT);
        if let Some(user) = &self.user {
            config = config.with_credentials(Credentials::parse(user).map_err(|e| e.to_string())?);
        }
        Ok(config)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Benchmark Put.
    Put(PutArgs),
    /// Benchmark Range of <key> (or [key, end)).
    Range(RangeArgs),
    /// Benchmark Txn with --txn-ops puts each.
    TxnPut(TxnPutArgs),
    /// Benchmark Txns that each read a range or put a key, mixed by --rw-ratio.
    TxnMixed(TxnMixedArgs),
    /// Benchmark watch: create watchers over streams, put to the watched keys,
    /// measure put-to-event latency and count events.
    Watch(WatchArgs),
    /// N watchers on one key; measure the latency from each put to each event.
    WatchLatency(WatchLatencyArgs),
    /// Benchmark LeaseKeepAlive round trips (one lease and stream per client).
    LeaseKeepalive,
    /// Benchmark etcd's v2 keys API: `PUT /v2/keys/<key>` with a value, over
    /// HTTP/1.1, one keep-alive connection per client (--conns is unused).
    V2Set(PutArgs),
    /// Benchmark Put through the HTTP/JSON gateway: `POST /v3/kv/put`, over
    /// HTTP/1.1, one keep-alive connection per client (--conns is unused).
    GatewayPut(PutArgs),
    /// Benchmark Range through the HTTP/JSON gateway: `POST /v3/kv/range`,
    /// as `gateway-put` connects.
    GatewayRange(RangeArgs),
    /// Write an SVG chart comparing latency distributions of --json result files.
    Chart(ChartArgs),
    /// Print one tab-separated line of key figures per --json result file
    /// (for scripts): file, title, label, workload, count, errors, requests/s,
    /// p50 µs, p99 µs, max µs, errors by kind.
    Summary(SummaryArgs),
}

#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// Key size in bytes after --key-prefix (keys are zero-padded decimal numbers).
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,
    /// Prefix of every key, so workloads can share a cluster without overlap.
    #[arg(long, default_value = "")]
    pub key_prefix: String,
}

#[derive(Args, Debug, Clone)]
pub struct PutArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Put keys in order (request n writes key n mod key-space-size) instead of at random.
    #[arg(long)]
    pub sequential_keys: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Linearizable.
    L,
    /// Serializable.
    S,
}

#[derive(Args, Debug, Clone)]
pub struct RangeArgs {
    /// First key of the range.
    pub key: String,
    /// End of the range (exclusive); without it, only <key>.
    pub end: Option<String>,
    /// Range every key with <key> as prefix.
    #[arg(long, conflicts_with = "end")]
    pub prefix: bool,
    #[arg(long, value_enum, default_value = "l")]
    pub consistency: Consistency,
    /// Maximum number of keys returned (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
    /// Return only the count.
    #[arg(long)]
    pub count_only: bool,
    /// Return only the keys.
    #[arg(long)]
    pub keys_only: bool,
}

#[derive(Args, Debug, Clone)]
pub struct TxnPutArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Puts per txn (distinct keys; needs key-space-size >= txn-ops).
    #[arg(long, default_value_t = 1)]
    pub txn_ops: u64,
}

#[derive(Args, Debug, Clone)]
pub struct TxnMixedArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Reads per write.
    #[arg(long, default_value_t = 1.0)]
    pub rw_ratio: f64,
    /// Consistency of the reads.
    #[arg(long, value_enum, default_value = "l")]
    pub consistency: Consistency,
    /// End of each read's range (exclusive); without it, reads get one key.
    #[arg(long)]
    pub end_range: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// Number of watchers, spread over the streams.
    #[arg(long, default_value_t = 1000)]
    pub watchers: u64,
    /// Number of Watch streams, spread over the connections.
    #[arg(long, default_value_t = 10)]
    pub streams: u64,
    /// Number of watched keys (watcher i watches key i mod this).
    #[arg(long, default_value_t = 1)]
    pub watched_key_total: u64,
    /// Puts per second to the watched keys (over all clients).
    #[arg(long, default_value_t = 100.0)]
    pub put_rate: f64,
    /// Value size in bytes (at least 8: the value carries the put's start time).
    #[arg(long, default_value_t = 32)]
    pub val_size: usize,
    /// Prefix of the watched keys.
    #[arg(long, default_value = "watch/")]
    pub key_prefix: String,
}

#[derive(Args, Debug, Clone)]
pub struct WatchLatencyArgs {
    /// Number of watchers on the key, spread over the streams.
    #[arg(long, default_value_t = 100)]
    pub watchers: u64,
    /// Number of Watch streams, spread over the connections.
    #[arg(long, default_value_t = 10)]
    pub streams: u64,
    /// Puts per second (one putting client, as etcd's watch-latency).
    #[arg(long, default_value_t = 100.0)]
    pub put_rate: f64,
    /// Value size in bytes (at least 8: the value carries the put's start time).
    #[arg(long, default_value_t = 32)]
    pub val_size: usize,
    /// The watched key.
    #[arg(long, default_value = "watch-latency")]
    pub key: String,
}

#[derive(Args, Debug, Clone)]
pub struct ChartArgs {
    /// Where to write the SVG.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Title above the panels.
    #[arg(long, default_value = "Latency by percentile")]
    pub chart_title: String,
    /// --json result files; one panel per title, one curve per label.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct SummaryArgs {
    /// --json result files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_parse_beside_ranges_positional_key() {
        let cli = Cli::try_parse_from([
            "cairn-bench",
            "--endpoints",
            "https://127.0.0.1:2379",
            "--cacert",
            "ca.pem",
            "--cert",
            "client.pem",
            "--key",
            "client-key.pem",
            "range",
            "foo",
        ])
        .expect("parses");
        assert_eq!(cli.global.key.as_deref(), Some("client-key.pem".as_ref()));
        assert!(matches!(cli.command, Command::Range(_)));
        assert!(Cli::try_parse_from(["cairn-bench", "--cert", "c.pem", "put"]).is_err());
    }

    #[test]
    fn global_options_make_the_client_configuration() {
        let parse = |args: &[&str]| {
            let cli =
                Cli::try_parse_from([&["cairn-bench"], args, &["put"]].concat()).expect("parses");
            cli.global.client_config()
        };
        let plain = parse(&["--endpoints", "a:1,http://b:2", "--user", "u:p"]).expect("valid");
        assert_eq!(plain.endpoints.len(), 2);
        assert!(plain.tls.is_none());
        assert_eq!(plain.credentials.expect("a user").name, "u");
        let tls = parse(&["--insecure-skip-tls-verify"]).expect("valid");
        assert!(tls.tls.expect("TLS options").insecure_skip_verify);
        assert!(parse(&["--user", "u"]).is_err());
        assert!(parse(&["--endpoints", "a:1,"]).is_err());
    }
}
