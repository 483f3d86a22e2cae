//! Why a configuration was refused. Texts are etcd 3.4's where etcd has one.

use std::path::PathBuf;

use super::url::UrlError;

/// A configuration error. [`ConfigError::exit_code`] gives the status etcd exits
/// with: 2 for command-line syntax errors (Go's `flag` package), 1 for the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `flag provided but not defined: -foo`, `flag needs an argument: -name`,
    /// `bad flag syntax: ---x`, `invalid value "x" for flag -y: parse error`,
    /// `invalid boolean value "yes" for -pre-vote: parse error`.
    #[error("{0}")]
    CommandLine(String),
    /// A positional argument; etcd accepts none.
    #[error("'{0}' is not a valid flag")]
    NotAFlag(String),
    /// An `ETCD_*` variable whose value its flag refuses.
    #[error("invalid value {value:?} for {key}: {reason}")]
    Environment {
        key: String,
        value: String,
        reason: String,
    },
    /// An `ETCD_*` variable for a flag that is also on the command line: etcd 3.4
    /// refuses to start rather than pick one.
    #[error("conflicting environment variable {0:?} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)")]
    EnvironmentShadowed(String),
    /// The `--config-file` could not be read or does not fit etcd's schema.
    #[error("{}: {reason}", path.display())]
    ConfigFile { path: PathBuf, reason: String },
    #[error("expected IP in URL for binding ({0})")]
    BindUrlNotIp(String),
    #[error("--{flag} {urls:?} must be \"host:port\" (unexpected empty host ({url}))")]
    EmptyHost {
        flag: &'static str,
        urls: String,
        url: String,
    },
    #[error("multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\"")]
    ConflictingBootstrapFlags,
    #[error("--heartbeat-interval must be >0 (set to {0}ms)")]
    HeartbeatZero(u64),
    #[error("--election-timeout must be >0 (set to {0}ms)")]
    ElectionZero(u64),
    #[error("--election-timeout[{election_ms}ms] should be at least as 5 times as --heartbeat-interval[{heartbeat_ms}ms]")]
    ElectionTooShort { election_ms: u64, heartbeat_ms: u64 },
    #[error(
        "--election-timeout[{election_ms}ms] is too long, and should be set less than {max_ms}ms"
    )]
    ElectionTooLong { election_ms: u64, max_ms: u64 },
    #[error("--advertise-client-urls is required when --listen-client-urls is set explicitly")]
    UnsetAdvertiseClientUrls,
    #[error("setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint")]
    LeaseCheckpointPersistWithoutCheckpoint,
    #[error("error parsing CompactionRetention: {0}")]
    CompactionRetention(String),
    /// A logging combination etcd refuses (`--logger=capnslog` with several outputs, ...).
    #[error("{0}")]
    Logging(String),
    /// A value etcd takes as text and refuses only when validating
    /// (`unknown logger option "x"`, `unknown auto-compaction-mode "x"`).
    #[error("{0}")]
    Setting(String),
    /// `--initial-cluster` holds a URL etcd refuses.
    #[error("error setting up initial cluster: {0}")]
    InitialCluster(UrlError),
    #[error("couldn't find local name {0:?} in the initial cluster configuration")]
    LocalMemberMissing(String),
    #[error("--initial-cluster has {missing} but missing from --initial-advertise-peer-urls={advertised} ({detail})")]
    InitialClusterNotAdvertised {
        missing: String,
        advertised: String,
        detail: String,
    },
    #[error(
        "--initial-advertise-peer-urls has {missing} but missing from --initial-cluster={cluster}"
    )]
    AdvertisedNotInInitialCluster { missing: String, cluster: String },
    #[error("failed to resolve {advertised} to match --initial-cluster={cluster} ({detail})")]
    AdvertiseMismatch {
        advertised: String,
        cluster: String,
        detail: String,
    },
    #[error("initial cluster {0} has duplicate url")]
    DuplicateUrl(String),
    #[error("initial cluster unset and no discovery URL found")]
    InitialClusterUnset,
    #[error("discovery URL should not be set when joining existing initial cluster")]
    DiscoveryWhenJoining,
}

impl ConfigError {
    /// The process exit status etcd uses for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            ConfigError::CommandLine(_) => 2,
            _ => 1,
        }
    }

    /// Whether etcd prints its usage lines after this error (it does for Go
    /// `flag` syntax errors).
    pub fn shows_usage(&self) -> bool {
        matches!(self, ConfigError::CommandLine(_))
    }
}
