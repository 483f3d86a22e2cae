//! `Config`: every etcd 3.4 server setting, typed, with etcd's defaults, and the
//! per-flag `set`/`get` that the command line, the environment and the YAML file
//! all go through.

use std::path::PathBuf;
use std::time::Duration;

use super::goflag::{self, NumError};
use super::url::{self, Url};

/// `--initial-cluster-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterState {
    #[default]
    New,
    Existing,
}

/// `--discovery-fallback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscoveryFallback {
    #[default]
    Proxy,
    Exit,
}

/// `--proxy` (etcd's v2 proxy mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyMode {
    #[default]
    Off,
    Readonly,
    On,
}

/// `--auto-compaction-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoCompactionMode {
    #[default]
    Periodic,
    Revision,
}

/// `--logger`. cairn writes its own log lines; the choice selects their format
/// (structured for `zap`, plain for `capnslog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Logger {
    #[default]
    Capnslog,
    Zap,
}

/// `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Dpanic,
    Panic,
    Fatal,
}

/// TLS settings of one side (clients or peers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_cert_auth: bool,
    pub trusted_ca_file: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    /// `--peer-cert-allowed-cn` (peers only).
    pub allowed_cn: Option<String>,
    pub allowed_hostname: Option<String>,
    pub auto_tls: bool,
    /// `--experimental-peer-skip-client-san-verification` (peers only).
    pub skip_client_san_verification: bool,
}

impl TlsSettings {
    /// Whether any TLS setting was given.
    pub fn is_configured(&self) -> bool {
        *self != TlsSettings::default()
    }
}

/// Every etcd 3.4 server setting. Field units are in the names; `None` stands for
/// Go's empty string.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    // Member
    pub name: String,
    /// `None` until loading resolves it to `<name>.etcd`, as etcd does.
    pub data_dir: Option<PathBuf>,
    pub wal_dir: Option<PathBuf>,
    /// 0 means etcd's default (100,000): see [`Config::snapshot_count_effective`].
    pub snapshot_count: u64,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    pub initial_election_tick_advance: bool,
    pub listen_peer_urls: Vec<Url>,
    pub listen_client_urls: Vec<Url>,
    pub max_snapshots: u64,
    pub max_wals: u64,
    /// 0 means 2 GiB, negative disables the quota: see [`Config::quota_backend_bytes_effective`].
    pub quota_backend_bytes: i64,
    /// Zero means the backend's own default.
    pub backend_batch_interval: Duration,
    pub backend_batch_limit: i64,
    pub max_txn_ops: u64,
    pub max_request_bytes: u64,
    pub max_concurrent_streams: u32,
    pub grpc_keepalive_min_time: Duration,
    pub grpc_keepalive_interval: Duration,
    pub grpc_keepalive_timeout: Duration,
    // Clustering
    pub initial_advertise_peer_urls: Vec<Url>,
    /// The raw `--initial-cluster` text; [`Config::initial_cluster_members`] parses it.
    pub initial_cluster: String,
    pub initial_cluster_state: ClusterState,
    pub initial_cluster_token: String,
    /// Empty when `--listen-client-urls` was given without it (an error unless proxying).
    pub advertise_client_urls: Vec<Url>,
    pub discovery: Option<String>,
    pub discovery_fallback: DiscoveryFallback,
    pub discovery_proxy: Option<String>,
    pub discovery_srv: Option<String>,
    pub discovery_srv_name: Option<String>,
    pub strict_reconfig_check: bool,
    /// cairn's own `--auto-promote-learners` (off by default): the leader
    /// promotes a learner once it has caught up.
    pub auto_promote_learners: bool,
    pub pre_vote: bool,
    /// Read according to `auto_compaction_mode`: see [`Config::auto_compaction`].
    pub auto_compaction_retention: String,
    pub auto_compaction_mode: AutoCompactionMode,
    pub enable_v2: bool,
    // Security
    pub client_tls: TlsSettings,
    pub peer_tls: TlsSettings,
    pub cipher_suites: Vec<String>,
    pub cors: Vec<String>,
    pub host_whitelist: Vec<String>,
    // Auth
    pub auth_token: String,
    pub bcrypt_cost: u64,
    pub auth_token_ttl_s: u64,
    // Profiling and monitoring
    pub enable_pprof: bool,
    pub metrics: String,
    pub listen_metrics_urls: Vec<Url>,
    // Logging
    pub logger: Logger,
    pub log_outputs: Vec<String>,
    /// `--log-output`, the deprecated spelling.
    pub log_output_deprecated: Vec<String>,
    pub log_level: LogLevel,
    pub debug: bool,
    pub log_package_levels: Option<String>,
    // v2 proxy
    pub proxy: ProxyMode,
    pub proxy_failure_wait_ms: u64,
    pub proxy_refresh_interval_ms: u64,
    pub proxy_dial_timeout_ms: u64,
    pub proxy_write_timeout_ms: u64,
    pub proxy_read_timeout_ms: u64,
    // Experimental
    pub experimental_initial_corrupt_check: bool,
    pub experimental_corrupt_check_time: Duration,
    pub experimental_enable_v2v3: Option<String>,
    pub experimental_backend_bbolt_freelist_type: String,
    pub experimental_enable_lease_checkpoint: bool,
    pub experimental_enable_lease_checkpoint_persist: bool,
    pub experimental_compaction_batch_limit: i64,
    pub experimental_watch_progress_notify_interval: Duration,
    pub experimental_warning_apply_duration: Duration,
    // Other
    pub enable_grpc_gateway: bool,
    pub force_new_cluster: bool,
    pub unsafe_no_fsync: bool,
    pub config_file: Option<PathBuf>,
}

/// etcd's default `--initial-cluster`.
pub const DEFAULT_INITIAL_CLUSTER: &str = "default=http://localhost:2380";
/// etcd's default `--name`.
pub const DEFAULT_NAME: &str = "default";
/// etcd's `DefaultSnapshotCount`.
pub const DEFAULT_SNAPSHOT_COUNT: u64 = 100_000;
/// etcd's `DefaultQuotaBytes` (2 GiB), used when `--quota-backend-bytes` is 0.
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// etcd's `MaxQuotaBytes` (8 GiB): larger quotas are allowed but warned about.
pub const MAX_QUOTA_BACKEND_BYTES_RECOMMENDED: u64 = 8 * 1024 * 1024 * 1024;
/// etcd's `maxElectionMs`.
pub const ELECTION_TIMEOUT_MS_MAX: u64 = 50_000;

fn default_url(text: &str) -> Vec<Url> {
    vec![Url::parse(text).expect("default URLs are valid")]
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: DEFAULT_NAME.to_string(),
            data_dir: None,
            wal_dir: None,
            snapshot_count: DEFAULT_SNAPSHOT_COUNT,
            heartbeat_interval_ms: 100,
            election_timeout_ms: 1000,
            initial_election_tick_advance: true,
            listen_peer_urls: default_url("http://localhost:2380"),
            listen_client_urls: default_url("http://localhost:2379"),
            max_snapshots: 5,
            max_wals: 5,
            quota_backend_bytes: 0,
            backend_batch_interval: Duration::ZERO,
            backend_batch_limit: 0,
            max_txn_ops: 128,
            max_request_bytes: 1_572_864,
            max_concurrent_streams: u32::MAX,
            grpc_keepalive_min_time: Duration::from_secs(5),
            grpc_keepalive_interval: Duration::from_secs(2 * 3600),
            grpc_keepalive_timeout: Duration::from_secs(20),
            initial_advertise_peer_urls: default_url("http://localhost:2380"),
            initial_cluster: DEFAULT_INITIAL_CLUSTER.to_string(),
            initial_cluster_state: ClusterState::New,
            initial_cluster_token: "etcd-cluster".to_string(),
            advertise_client_urls: default_url("http://localhost:2379"),
            discovery: None,
            discovery_fallback: DiscoveryFallback::Proxy,
            discovery_proxy: None,
            discovery_srv: None,
            discovery_srv_name: None,
            strict_reconfig_check: true,
            auto_promote_learners: false,
            pre_vote: false,
            auto_compaction_retention: "0".to_string(),
            auto_compaction_mode: AutoCompactionMode::Periodic,
            enable_v2: false,
            client_tls: TlsSettings::default(),
            peer_tls: TlsSettings::default(),
            cipher_suites: Vec::new(),
            cors: vec!["*".to_string()],
            host_whitelist: vec!["*".to_string()],
            auth_token: "simple".to_string(),
            bcrypt_cost: 10,
            auth_token_ttl_s: 300,
            enable_pprof: false,
            metrics: "basic".to_string(),
            listen_metrics_urls: Vec::new(),
            logger: Logger::Capnslog,
            log_outputs: vec!["default".to_string()],
            log_output_deprecated: vec!["default".to_string()],
            log_level: LogLevel::Info,
            debug: false,
            log_package_levels: None,
            proxy: ProxyMode::Off,
            proxy_failure_wait_ms: 5000,
            proxy_refresh_interval_ms: 30000,
            proxy_dial_timeout_ms: 1000,
            proxy_write_timeout_ms: 5000,
            proxy_read_timeout_ms: 0,
            experimental_initial_corrupt_check: false,
            experimental_corrupt_check_time: Duration::ZERO,
            experimental_enable_v2v3: None,
            experimental_backend_bbolt_freelist_type: "array".to_string(),
            experimental_enable_lease_checkpoint: false,
            experimental_enable_lease_checkpoint_persist: false,
            experimental_compaction_batch_limit: 1000,
            experimental_watch_progress_notify_interval: Duration::from_secs(600),
            experimental_warning_apply_duration: Duration::from_millis(100),
            enable_grpc_gateway: true,
            force_new_cluster: false,
            unsafe_no_fsync: false,
            config_file: None,
        }
    }
}

/// Why a value was refused by [`Config::set`]: the text etcd prints after
/// `invalid value "<v>" for flag -<name>: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetError(pub String);

impl From<NumError> for SetError {
    fn from(error: NumError) -> Self {
        SetError(error.flag_text().to_string())
    }
}

fn text_option(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn path_option(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

fn parse_bool(value: &str) -> Result<bool, SetError> {
    goflag::parse_bool(value).ok_or(SetError("parse error".to_string()))
}

fn parse_duration(value: &str) -> Result<Duration, SetError> {
    goflag::parse_duration(value).map_err(|_| SetError("parse error".to_string()))
}

/// etcd's `UniqueURLs.Set`: an empty value (the allowed exception) leaves the
/// list as it was; anything else replaces it.
fn set_urls(target: &mut Vec<Url>, value: &str) -> Result<(), SetError> {
    if value.is_empty() {
        return Ok(());
    }
    *target = url::parse_url_list(value).map_err(|error| SetError(error.to_string()))?;
    Ok(())
}

/// etcd's `UniqueStringsValue.Set`: split on commas, deduplicated, sorted.
fn unique_strings(value: &str) -> Vec<String> {
    let mut values: Vec<String> = value.split(',').map(str::to_string).collect();
    values.sort();
    values.dedup();
    values
}

fn optional_text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn optional_path(value: &Option<PathBuf>) -> String {
    value
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

impl LogLevel {
    pub fn parse(text: &str) -> Option<LogLevel> {
        Some(match text {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "dpanic" => LogLevel::Dpanic,
            "panic" => LogLevel::Panic,
            "fatal" => LogLevel::Fatal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Dpanic => "dpanic",
            LogLevel::Panic => "panic",
            LogLevel::Fatal => "fatal",
        }
    }
}

impl Config {
    /// Sets one flag from its text, with the value syntax etcd's flag has. Bool
    /// flags take Go's boolean words. Unknown names and ignored flags are the
    /// caller's business (they return an error here).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SetError> {
        match name {
            "name" => self.name = value.to_string(),
            "data-dir" => self.data_dir = path_option(value),
            "wal-dir" => self.wal_dir = path_option(value),
            "snapshot-count" => self.snapshot_count = goflag::parse_uint(value, 64)?,
            "heartbeat-interval" => self.heartbeat_interval_ms = goflag::parse_uint(value, 64)?,
            "election-timeout" => self.election_timeout_ms = goflag::parse_uint(value, 64)?,
            "initial-election-tick-advance" => {
                self.initial_election_tick_advance = parse_bool(value)?
            }
            "listen-peer-urls" => set_urls(&mut self.listen_peer_urls, value)?,
            "listen-client-urls" => set_urls(&mut self.listen_client_urls, value)?,
            "max-snapshots" => self.max_snapshots = goflag::parse_uint(value, 64)?,
            "max-wals" => self.max_wals = goflag::parse_uint(value, 64)?,
            "quota-backend-bytes" => self.quota_backend_bytes = goflag::parse_int(value)?,
            "backend-batch-interval" => self.backend_batch_interval = parse_duration(value)?,
            "backend-batch-limit" => self.backend_batch_limit = goflag::parse_int(value)?,
            "max-txn-ops" => self.max_txn_ops = goflag::parse_uint(value, 64)?,
            "max-request-bytes" => self.max_request_bytes = goflag::parse_uint(value, 64)?,
            "max-concurrent-streams" => {
                // etcd's own uint32 flag type prints strconv's raw error text.
                self.max_concurrent_streams = goflag::parse_uint(value, 32)
                    .map_err(|error| SetError(error.strconv_text("ParseUint", value)))?
                    as u32
            }
            "grpc-keepalive-min-time" => self.grpc_keepalive_min_time = parse_duration(value)?,
            "grpc-keepalive-interval" => self.grpc_keepalive_interval = parse_duration(value)?,
            "grpc-keepalive-timeout" => self.grpc_keepalive_timeout = parse_duration(value)?,
            "initial-advertise-peer-urls" => {
                set_urls(&mut self.initial_advertise_peer_urls, value)?
            }
            "initial-cluster" => self.initial_cluster = value.to_string(),
            "initial-cluster-state" => {
                self.initial_cluster_state = match value {
                    "new" => ClusterState::New,
                    "existing" => ClusterState::Existing,
                    _ => return Err(SetError("invalid value".to_string())),
                }
            }
            "initial-cluster-token" => self.initial_cluster_token = value.to_string(),
            "advertise-client-urls" => set_urls(&mut self.advertise_client_urls, value)?,
            "discovery" => self.discovery = text_option(value),
            "discovery-fallback" => {
                self.discovery_fallback = match value {
                    "proxy" => DiscoveryFallback::Proxy,
                    "exit" => DiscoveryFallback::Exit,
                    _ => return Err(SetError("invalid value".to_string())),
                }
            }
            "discovery-proxy" => self.discovery_proxy = text_option(value),
            "discovery-srv" => self.discovery_srv = text_option(value),
            "discovery-srv-name" => self.discovery_srv_name = text_option(value),
            "strict-reconfig-check" => self.strict_reconfig_check = parse_bool(value)?,
            "auto-promote-learners" => self.auto_promote_learners = parse_bool(value)?,
            "pre-vote" => self.pre_vote = parse_bool(value)?,
            "auto-compaction-retention" => self.auto_compaction_retention = value.to_string(),
            "auto-compaction-mode" => {
                self.auto_compaction_mode = match value {
                    "periodic" | "" => AutoCompactionMode::Periodic,
                    "revision" => AutoCompactionMode::Revision,
                    _ => return Err(SetError(format!("unknown auto-compaction-mode {value:?}"))),
                }
            }
            "enable-v2" => self.enable_v2 = parse_bool(value)?,
            "cert-file" => self.client_tls.cert_file = path_option(value),
            "key-file" => self.client_tls.key_file = path_option(value),
            "client-cert-auth" => self.client_tls.client_cert_auth = parse_bool(value)?,
            "client-crl-file" => self.client_tls.crl_file = path_option(value),
            "client-cert-allowed-hostname" => self.client_tls.allowed_hostname = text_option(value),
            "trusted-ca-file" => self.client_tls.trusted_ca_file = path_option(value),
            "auto-tls" => self.client_tls.auto_tls = parse_bool(value)?,
            "peer-cert-file" => self.peer_tls.cert_file = path_option(value),
            "peer-key-file" => self.peer_tls.key_file = path_option(value),
            "peer-client-cert-auth" => self.peer_tls.client_cert_auth = parse_bool(value)?,
            "peer-trusted-ca-file" => self.peer_tls.trusted_ca_file = path_option(value),
            "peer-cert-allowed-cn" => self.peer_tls.allowed_cn = text_option(value),
            "peer-cert-allowed-hostname" => self.peer_tls.allowed_hostname = text_option(value),
            "peer-auto-tls" => self.peer_tls.auto_tls = parse_bool(value)?,
            "peer-crl-file" => self.peer_tls.crl_file = path_option(value),
            "experimental-peer-skip-client-san-verification" => {
                self.peer_tls.skip_client_san_verification = parse_bool(value)?
            }
            "cipher-suites" => {
                self.cipher_suites = if value.is_empty() {
                    Vec::new()
                } else {
                    value.split(',').map(str::to_string).collect()
                }
            }
            "cors" => {
                // etcd's UniqueURLs with the exception "*": "*" is added to the set,
                // anything else must be a list of URLs and replaces it.
                if value == "*" {
                    if !self.cors.iter().any(|origin| origin == "*") {
                        self.cors.push("*".to_string());
                    }
                } else {
                    let urls =
                        url::parse_url_list(value).map_err(|error| SetError(error.to_string()))?;
                    self.cors = urls.iter().map(Url::to_string).collect();
                }
            }
            "host-whitelist" => self.host_whitelist = unique_strings(value),
            "auth-token" => self.auth_token = value.to_string(),
            "bcrypt-cost" => self.bcrypt_cost = goflag::parse_uint(value, 64)?,
            "auth-token-ttl" => self.auth_token_ttl_s = goflag::parse_uint(value, 64)?,
            "enable-pprof" => self.enable_pprof = parse_bool(value)?,
            "metrics" => self.metrics = value.to_string(),
            "listen-metrics-urls" => set_urls(&mut self.listen_metrics_urls, value)?,
            "logger" => {
                self.logger = match value {
                    "capnslog" => Logger::Capnslog,
                    "zap" => Logger::Zap,
                    _ => return Err(SetError(format!("unknown logger option {value:?}"))),
                }
            }
            "log-outputs" => self.log_outputs = unique_strings(value),
            "log-output" => self.log_output_deprecated = unique_strings(value),
            "log-level" => {
                self.log_level = LogLevel::parse(value)
                    .ok_or_else(|| SetError(format!("unknown level {value:?}")))?
            }
            "debug" => self.debug = parse_bool(value)?,
            "log-package-levels" => self.log_package_levels = text_option(value),
            "proxy" => {
                self.proxy = match value {
                    "off" => ProxyMode::Off,
                    "readonly" => ProxyMode::Readonly,
                    "on" => ProxyMode::On,
                    _ => return Err(SetError("invalid value".to_string())),
                }
            }
            "proxy-failure-wait" => self.proxy_failure_wait_ms = goflag::parse_uint(value, 64)?,
            "proxy-refresh-interval" => {
                self.proxy_refresh_interval_ms = goflag::parse_uint(value, 64)?
            }
            "proxy-dial-timeout" => self.proxy_dial_timeout_ms = goflag::parse_uint(value, 64)?,
            "proxy-write-timeout" => self.proxy_write_timeout_ms = goflag::parse_uint(value, 64)?,
            "proxy-read-timeout" => self.proxy_read_timeout_ms = goflag::parse_uint(value, 64)?,
            "experimental-initial-corrupt-check" => {
                self.experimental_initial_corrupt_check = parse_bool(value)?
            }
            "experimental-corrupt-check-time" => {
                self.experimental_corrupt_check_time = parse_duration(value)?
            }
            "experimental-enable-v2v3" => self.experimental_enable_v2v3 = text_option(value),
            "experimental-backend-bbolt-freelist-type" => {
                self.experimental_backend_bbolt_freelist_type = value.to_string()
            }
            "experimental-enable-lease-checkpoint" => {
                self.experimental_enable_lease_checkpoint = parse_bool(value)?
            }
            "experimental-enable-lease-checkpoint-persist" => {
                self.experimental_enable_lease_checkpoint_persist = parse_bool(value)?
            }
            "experimental-compaction-batch-limit" => {
                self.experimental_compaction_batch_limit = goflag::parse_int(value)?
            }
            "experimental-watch-progress-notify-interval" => {
                self.experimental_watch_progress_notify_interval = parse_duration(value)?
            }
            "experimental-warning-apply-duration" => {
                self.experimental_warning_apply_duration = parse_duration(value)?
            }
            "enable-grpc-gateway" => self.enable_grpc_gateway = parse_bool(value)?,
            "force-new-cluster" => self.force_new_cluster = parse_bool(value)?,
            "unsafe-no-fsync" => self.unsafe_no_fsync = parse_bool(value)?,
            "config-file" => self.config_file = path_option(value),
            _ => return Err(SetError(format!("no setting named {name:?}"))),
        }
        Ok(())
    }

    /// The value of one flag as text, in the form `set` accepts (lists are
    /// comma-separated, durations in Go's form). `None` for names that hold no
    /// setting (`version`, ignored flags, unknown names).
    pub fn get(&self, name: &str) -> Option<String> {
        let text = match name {
            "name" => self.name.clone(),
            "data-dir" => optional_path(&self.data_dir),
            "wal-dir" => optional_path(&self.wal_dir),
            "snapshot-count" => self.snapshot_count.to_string(),
            "heartbeat-interval" => self.heartbeat_interval_ms.to_string(),
            "election-timeout" => self.election_timeout_ms.to_string(),
            "initial-election-tick-advance" => self.initial_election_tick_advance.to_string(),
            "listen-peer-urls" => url::join_urls(&self.listen_peer_urls),
            "listen-client-urls" => url::join_urls(&self.listen_client_urls),
            "max-snapshots" => self.max_snapshots.to_string(),
            "max-wals" => self.max_wals.to_string(),
            "quota-backend-bytes" => self.quota_backend_bytes.to_string(),
            "backend-batch-interval" => goflag::format_duration(self.backend_batch_interval),
            "backend-batch-limit" => self.backend_batch_limit.to_string(),
            "max-txn-ops" => self.max_txn_ops.to_string(),
            "max-request-bytes" => self.max_request_bytes.to_string(),
            "max-concurrent-streams" => self.max_concurrent_streams.to_string(),
            "grpc-keepalive-min-time" => goflag::format_duration(self.grpc_keepalive_min_time),
            "grpc-keepalive-interval" => goflag::format_duration(self.grpc_keepalive_interval),
            "grpc-keepalive-timeout" => goflag::format_duration(self.grpc_keepalive_timeout),
            "initial-advertise-peer-urls" => url::join_urls(&self.initial_advertise_peer_urls),
            "initial-cluster" => self.initial_cluster.clone(),
            "initial-cluster-state" => match self.initial_cluster_state {
                ClusterState::New => "new".to_string(),
                ClusterState::Existing => "existing".to_string(),
            },
            "initial-cluster-token" => self.initial_cluster_token.clone(),
            "advertise-client-urls" => url::join_urls(&self.advertise_client_urls),
            "discovery" => optional_text(&self.discovery),
            "discovery-fallback" => match self.discovery_fallback {
                DiscoveryFallback::Proxy => "proxy".to_string(),
                DiscoveryFallback::Exit => "exit".to_string(),
            },
            "discovery-proxy" => optional_text(&self.discovery_proxy),
            "discovery-srv" => optional_text(&self.discovery_srv),
            "discovery-srv-name" => optional_text(&self.discovery_srv_name),
            "strict-reconfig-check" => self.strict_reconfig_check.to_string(),
            "auto-promote-learners" => self.auto_promote_learners.to_string(),
            "pre-vote" => self.pre_vote.to_string(),
            "auto-compaction-retention" => self.auto_compaction_retention.clone(),
            "auto-compaction-mode" => match self.auto_compaction_mode {
                AutoCompactionMode::Periodic => "periodic".to_string(),
                AutoCompactionMode::Revision => "revision".to_string(),
            },
            "enable-v2" => self.enable_v2.to_string(),
            "cert-file" => optional_path(&self.client_tls.cert_file),
            "key-file" => optional_path(&self.client_tls.key_file),
            "client-cert-auth" => self.client_tls.client_cert_auth.to_string(),
            "client-crl-file" => optional_path(&self.client_tls.crl_file),
            "client-cert-allowed-hostname" => optional_text(&self.client_tls.allowed_hostname),
            "trusted-ca-file" => optional_path(&self.client_tls.trusted_ca_file),
            "auto-tls" => self.client_tls.auto_tls.to_string(),
            "peer-cert-file" => optional_path(&self.peer_tls.cert_file),
            "peer-key-file" => optional_path(&self.peer_tls.key_file),
            "peer-client-cert-auth" => self.peer_tls.client_cert_auth.to_string(),
            "peer-trusted-ca-file" => optional_path(&self.peer_tls.trusted_ca_file),
            "peer-cert-allowed-cn" => optional_text(&self.peer_tls.allowed_cn),
            "peer-cert-allowed-hostname" => optional_text(&self.peer_tls.allowed_hostname),
            "peer-auto-tls" => self.peer_tls.auto_tls.to_string(),
            "peer-crl-file" => optional_path(&self.peer_tls.crl_file),
            "experimental-peer-skip-client-san-verification" => {
                self.peer_tls.skip_client_san_verification.to_string()
            }
            "cipher-suites" => self.cipher_suites.join(","),
            "cors" => self.cors.join(","),
            "host-whitelist" => self.host_whitelist.join(","),
            "auth-token" => self.auth_token.clone(),
            "bcrypt-cost" => self.bcrypt_cost.to_string(),
            "auth-token-ttl" => self.auth_token_ttl_s.to_string(),
            "enable-pprof" => self.enable_pprof.to_string(),
            "metrics" => self.metrics.clone(),
            "listen-metrics-urls" => url::join_urls(&self.listen_metrics_urls),
            "logger" => match self.logger {
                Logger::Capnslog => "capnslog".to_string(),
                Logger::Zap => "zap".to_string(),
            },
            "log-outputs" => self.log_outputs.join(","),
            "log-output" => self.log_output_deprecated.join(","),
            "log-level" => self.log_level.as_str().to_string(),
            "debug" => self.debug.to_string(),
            "log-package-levels" => optional_text(&self.log_package_levels),
            "proxy" => match self.proxy {
                ProxyMode::Off => "off".to_string(),
                ProxyMode::Readonly => "readonly".to_string(),
                ProxyMode::On => "on".to_string(),
            },
            "proxy-failure-wait" => self.proxy_failure_wait_ms.to_string(),
            "proxy-refresh-interval" => self.proxy_refresh_interval_ms.to_string(),
            "proxy-dial-timeout" => self.proxy_dial_timeout_ms.to_string(),
            "proxy-write-timeout" => self.proxy_write_timeout_ms.to_string(),
            "proxy-read-timeout" => self.proxy_read_timeout_ms.to_string(),
            "experimental-initial-corrupt-check" => {
                self.experimental_initial_corrupt_check.to_string()
            }
            "experimental-corrupt-check-time" => {
                goflag::format_duration(self.experimental_corrupt_check_time)
            }
            "experimental-enable-v2v3" => optional_text(&self.experimental_enable_v2v3),
            "experimental-backend-bbolt-freelist-type" => {
                self.experimental_backend_bbolt_freelist_type.clone()
            }
            "experimental-enable-lease-checkpoint" => {
                self.experimental_enable_lease_checkpoint.to_string()
            }
            "experimental-enable-lease-checkpoint-persist" => self
                .experimental_enable_lease_checkpoint_persist
                .to_string(),
            "experimental-compaction-batch-limit" => {
                self.experimental_compaction_batch_limit.to_string()
            }
            "experimental-watch-progress-notify-interval" => {
                goflag::format_duration(self.experimental_watch_progress_notify_interval)
            }
            "experimental-warning-apply-duration" => {
                goflag::format_duration(self.experimental_warning_apply_duration)
            }
            "enable-grpc-gateway" => self.enable_grpc_gateway.to_string(),
            "force-new-cluster" => self.force_new_cluster.to_string(),
            "unsafe-no-fsync" => self.unsafe_no_fsync.to_string(),
            "config-file" => optional_path(&self.config_file),
            _ => return None,
        };
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::{FlagKind, FLAGS};
    use super::*;

    #[test]
    fn every_setting_round_trips_through_get_and_set() {
        let defaults = Config::default();
        for spec in FLAGS {
            let text = defaults.get(spec.name);
            match spec.kind {
                FlagKind::Ignored => assert_eq!(text, None, "{}", spec.name),
                _ if spec.name == "version" => assert_eq!(text, None),
                _ => {
                    let text = text.unwrap_or_else(|| panic!("no getter for {}", spec.name));
                    let mut config = Config::default();
                    config.set(spec.name, &text).unwrap_or_else(|error| {
                        panic!(
                            "{} does not take its own default {text:?}: {error:?}",
                            spec.name
                        )
                    });
                    assert_eq!(config, defaults, "{}", spec.name);
                }
            }
        }
    }

    #[test]
    fn values_are_typed() {
        let mut config = Config::default();
        config.set("heartbeat-interval", "0x20").unwrap();
        assert_eq!(config.heartbeat_interval_ms, 32);
        config.set("grpc-keepalive-timeout", "1m30s").unwrap();
        assert_eq!(config.grpc_keepalive_timeout, Duration::from_secs(90));
        config.set("quota-backend-bytes", "-1").unwrap();
        assert_eq!(config.quota_backend_bytes, -1);
        config.set("host-whitelist", "b,a,b").unwrap();
        assert_eq!(config.host_whitelist, ["a", "b"]);
        config.set("log-level", "debug").unwrap();
        assert_eq!(config.log_level, LogLevel::Debug);
        assert_eq!(
            config.set("max-concurrent-streams", "abc"),
            Err(SetError(
                "strconv.ParseUint: parsing \"abc\": invalid syntax".into()
            ))
        );
        assert_eq!(
            config.set("snapshot-count", "x"),
            Err(SetError("parse error".into()))
        );
        assert_eq!(
            config.set("initial-cluster-state", "bogus"),
            Err(SetError("invalid value".into()))
        );
    }

    #[test]
    fn empty_url_value_keeps_the_list_and_cors_star_is_added() {
        let mut config = Config::default();
        config.set("listen-client-urls", "").unwrap();
        assert_eq!(
            config.listen_client_urls,
            Config::default().listen_client_urls
        );
        config.set("cors", "http://a:1").unwrap();
        config.set("cors", "*").unwrap();
        assert_eq!(config.cors, ["http://a:1", "*"]);
    }
}
