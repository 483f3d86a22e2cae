//! etcd 3.4's configuration surface: the same flags, `ETCD_*` environment
//! variables and `--config-file` YAML, with etcd's defaults, precedence rules,
//! validation and error texts.
//!
//! ```text
//!   args ──▶ command line (Go flag rules) ──▶ -h/--help?  ──▶ Invocation::Help
//!                                         ──▶ positional? ──▶ "'x' is not a valid flag"
//!                                         ──▶ --version?  ──▶ Invocation::Version
//!   --config-file or ETCD_CONFIG_FILE set? ─ yes ─▶ YAML over defaults (flags and env ignored)
//!                                          └ no ──▶ ETCD_* for flags not on the command line
//!                                                   (a variable for a flag given too: error)
//!   ──▶ validate (etcd's texts) ──▶ fill defaults (initial-cluster from name, data-dir) ──▶ Run
//! ```
//!
//! The bootstrap checks on `--initial-cluster` depend on whether the data
//! directory already holds a member, so the server calls
//! [`Config::verify_initial_cluster`] itself when it finds none.

mod cmdline;
pub mod cobra;
mod error;
mod fields;
mod file;
mod goflag;
mod help;
mod spec;
mod unsupported;
mod url;
mod validate;

use std::path::PathBuf;

pub use error::ConfigError;
pub use fields::{
    AutoCompactionMode, ClusterState, Config, DiscoveryFallback, LogLevel, Logger, ProxyMode,
    SetError, TlsSettings, DEFAULT_INITIAL_CLUSTER, DEFAULT_NAME, DEFAULT_QUOTA_BACKEND_BYTES,
    DEFAULT_SNAPSHOT_COUNT, ELECTION_TIMEOUT_MS_MAX,
};
pub use file::config_file_keys;
pub use goflag::{
    format_duration, parse_bool as parse_bool_go, parse_duration, parse_int as parse_int_go,
    NumError as GoNumError,
};
pub use help::{flags_text, help_text, usage_text, version_text};
pub use spec::{env_key, FlagKind, FlagSpec, Section, FLAGS, IGNORED_FLAGS};
pub use unsupported::IMPLEMENTED_FLAGS;
pub use url::{parse_url_list, Scheme, Url, UrlError};
pub use validate::{AutoCompaction, InitialCluster};

/// What the command line asks the binary to do.
#[derive(Debug)]
pub enum Invocation {
    /// Start a member with this configuration.
    Run(Box<Loaded>),
    /// `-h`/`--help`: print [`usage_text`] on stderr and [`flags_text`] on stdout, exit 0.
    Help,
    /// `--version`: print [`version_text`], exit 0.
    Version,
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Flags and `ETCD_*` variables.
    CommandLine,
    /// `--config-file` (or `ETCD_CONFIG_FILE`).
    File(PathBuf),
}

/// A validated configuration and what loading it had to say.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub source: ConfigSource,
    /// Warnings to log (etcd logs them at warning level): unrecognized `ETCD_*`
    /// variables, ignored old flags, deprecated flags, ignored file keys, ...
    pub warnings: Vec<String>,
    /// Informational lines etcd logs: each `ETCD_*` variable used.
    pub notices: Vec<String>,
}

/// Loads the configuration of this process (`std::env::args`, `std::env::vars`).
/// Arguments and variables that are not valid UTF-8 are taken lossily.
pub fn load_from_process() -> Result<Invocation, ConfigError> {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let env: Vec<(String, String)> = std::env::vars_os()
        .map(|(key, value)| {
            (
                key.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        })
        .collect();
    load(&args, &env)
}

/// Loads a configuration from arguments (without the program name) and an
/// environment, with etcd 3.4's rules.
pub fn load(args: &[String], env: &[(String, String)]) -> Result<Invocation, ConfigError> {
    let line = cmdline::parse_args(args)?;
    if line.help {
        return Ok(Invocation::Help);
    }
    if let Some(first) = line.positional.first() {
        return Err(ConfigError::NotAFlag(first.clone()));
    }
    if line.version {
        return Ok(Invocation::Version);
    }
    let mut warnings = line.warnings;
    let config_file = line.config.config_file.clone().or_else(|| {
        cmdline::lookup(env, "ETCD_CONFIG_FILE")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = config_file {
        let ignored: Vec<String> = line
            .set_by_flag
            .iter()
            .filter(|name| **name != "config-file")
            .map(|name| format!("--{name}"))
            .collect();
        if !ignored.is_empty() {
            warnings.push(format!(
                "a configuration file is given, so these flags are ignored: {}",
                ignored.join(" ")
            ));
        }
        let load = file::load_file(&path)?;
        let mut config = load.config;
        warnings.extend(load.warnings);
        let proxy = may_be_proxy(&config);
        validate::validate(&mut config, proxy, &mut warnings)?;
        validate::fill_defaults(&mut config);
        return Ok(Invocation::Run(Box::new(Loaded {
            config,
            source: ConfigSource::File(path),
            warnings,
            notices: Vec::new(),
        })));
    }
    let mut config = line.config;
    let pass = cmdline::apply_environment(&mut config, &line.set_by_flag, env)?;
    warnings.extend(pass.warnings);
    let is_set = |name: &str| line.set_by_flag.contains(name) || pass.set_by_env.contains(name);
    // Listening on chosen client URLs drops the default advertised ones: the
    // operator must say what clients can reach (unless this may be a v2 proxy).
    if is_set("listen-client-urls") && !is_set("advertise-client-urls") && !may_be_proxy(&config) {
        config.advertise_client_urls.clear();
    }
    // A discovery setting drops the default --initial-cluster.
    if (config.discovery.is_some()
        || config.discovery_srv.is_some()
        || config.discovery_srv_name.is_some())
        && !is_set("initial-cluster")
    {
        config.initial_cluster.clear();
    }
    let proxy = may_be_proxy(&config);
    validate::validate(&mut config, proxy, &mut warnings)?;
    validate::fill_defaults(&mut config);
    Ok(Invocation::Run(Box::new(Loaded {
        config,
        source: ConfigSource::CommandLine,
        warnings,
        notices: pass.notices,
    })))
}

/// etcd's `mayBeProxy`: a v2 proxy mode, or discovery that may fall back to one.
fn may_be_proxy(config: &Config) -> bool {
    config.proxy != ProxyMode::Off
        || (config.discovery.is_some() && config.discovery_fallback == DiscoveryFallback::Proxy)
}
