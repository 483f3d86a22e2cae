//! Checks etcd 3.4 makes on a loaded configuration (`embed.Config.Validate`,
//! `etcdmain`), the defaults it fills in afterwards, and the bootstrap checks on
//! `--initial-cluster` (`etcdserver.ServerConfig.VerifyBootstrap`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::fields::{
    AutoCompactionMode, ClusterState, Config, Logger, DEFAULT_INITIAL_CLUSTER, DEFAULT_NAME,
    DEFAULT_QUOTA_BACKEND_BYTES, DEFAULT_SNAPSHOT_COUNT, ELECTION_TIMEOUT_MS_MAX,
};
use super::goflag;
use super::url::{self, Scheme, Url, UrlError};

/// `--initial-cluster` parsed: member name → its peer URLs (sorted). The syntax is
/// `name=url[,name=url...]`; a name may repeat to give a member several URLs;
/// empty items are skipped; an item without `=` is a name with an empty URL
/// (refused).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InitialCluster {
    members: BTreeMap<String, Vec<Url>>,
}

impl InitialCluster {
    /// Parses with etcd's `types.NewURLsMap` rules.
    pub fn parse(text: &str) -> Result<InitialCluster, UrlError> {
        let mut raw: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for item in text.split(',').filter(|item| !item.is_empty()) {
            let (name, value) = item.split_once('=').unwrap_or((item, ""));
            raw.entry(name.to_string())
                .or_default()
                .push(value.to_string());
        }
        let mut members = BTreeMap::new();
        for (name, texts) in raw {
            let mut urls = texts
                .iter()
                .map(|text| Url::parse(text))
                .collect::<Result<Vec<_>, _>>()?;
            url::sort_urls(&mut urls);
            members.insert(name, urls);
        }
        Ok(InitialCluster { members })
    }

    /// A cluster of one member with the given URLs.
    pub fn single(name: &str, urls: &[Url]) -> InitialCluster {
        let mut urls = urls.to_vec();
        url::sort_urls(&mut urls);
        InitialCluster {
            members: BTreeMap::from([(name.to_string(), urls)]),
        }
    }

    pub fn members(&self) -> &BTreeMap<String, Vec<Url>> {
        &self.members
    }

    pub fn urls_of(&self, name: &str) -> Option<&[Url]> {
        self.members.get(name).map(Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether a URL appears twice (across or within members).
    pub fn has_duplicate_url(&self) -> bool {
        let mut seen = BTreeSet::new();
        self.members
            .values()
            .flatten()
            .any(|url| !seen.insert(url.to_string()))
    }
}

impl fmt::Display for InitialCluster {
    /// etcd's `URLsMap.String`: sorted `name=url` pairs joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut pairs: Vec<String> = self
            .members
            .iter()
            .flat_map(|(name, urls)| urls.iter().map(move |url| format!("{name}={url}")))
            .collect();
        pairs.sort();
        f.write_str(&pairs.join(","))
    }
}

/// How automatic compaction is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    Disabled,
    /// Keep this much history by time.
    Periodic(Duration),
    /// Keep this many revisions.
    Revision(u64),
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

fn check_bind_urls(urls: &[Url]) -> Result<(), ConfigError> {
    for url in urls {
        if matches!(url.scheme, Scheme::Unix | Scheme::Unixs) || url.host == "localhost" {
            continue;
        }
        if url.host.parse::<IpAddr>().is_err() {
            return Err(ConfigError::BindUrlNotIp(url.to_string()));
        }
    }
    Ok(())
}

fn check_host_urls(flag: &'static str, urls: &[Url]) -> Result<(), ConfigError> {
    if let Some(url) = urls.iter().find(|url| url.host.is_empty()) {
        return Err(ConfigError::EmptyHost {
            flag,
            urls: url::join_urls(urls),
            url: url.to_string(),
        });
    }
    Ok(())
}

/// etcd's `setupLogging` checks, as far as they concern the configuration.
fn check_logging(config: &mut Config, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    let default_outputs = vec!["default".to_string()];
    if config.log_output_deprecated != default_outputs {
        if config.log_outputs == default_outputs {
            warnings.push(
                "'--log-output' flag has been deprecated! Please use '--log-outputs'!".into(),
            );
            config.log_outputs = config.log_output_deprecated.clone();
        } else if config.log_outputs != config.log_output_deprecated {
            return Err(ConfigError::Logging(
                "both '--log-output' and '--log-outputs' are set; only set '--log-outputs'".into(),
            ));
        }
    }
    if config.debug {
        warnings.push(
            "Deprecated '--debug' flag is set to true (use '--log-level=debug' instead".into(),
        );
    }
    if let Some(levels) = &config.log_package_levels {
        warnings.push(format!(
            "Deprecated '--log-package-levels={levels}' flag is set; use '--logger=zap' flag instead"
        ));
    }
    match config.logger {
        Logger::Capnslog => {
            if config.log_outputs.len() != 1 {
                return Err(ConfigError::Logging(format!(
                    "--logger=capnslog supports only 1 value in '--log-outputs', got {}",
                    go_quote_list(&config.log_outputs)
                )));
            }
            let output = &config.log_outputs[0];
            if !["default", "stderr", "stdout"].contains(&output.as_str()) {
                return Err(ConfigError::Logging(format!(
                    "unknown log-output {output:?} (only supports \"default\", \"stderr\", \"stdout\")"
                )));
            }
        }
        Logger::Zap => {
            if config.log_outputs.len() > 1 && config.log_outputs.iter().any(|o| o == "default") {
                return Err(ConfigError::Logging(
                    "multi logoutput for \"default\" is not supported yet".into(),
                ));
            }
        }
    }
    Ok(())
}

/// `embed.Config.Validate` (plus the compaction-retention parse etcd does at start).
/// `may_be_proxy` excuses a missing `--advertise-client-urls`, as etcd does when
/// it may run as a v2 proxy.
pub(crate) fn validate(
    config: &mut Config,
    may_be_proxy: bool,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    check_logging(config, warnings)?;
    check_bind_urls(&config.listen_peer_urls)?;
    check_bind_urls(&config.listen_client_urls)?;
    check_bind_urls(&config.listen_metrics_urls)?;
    check_host_urls(
        "initial-advertise-peer-urls",
        &config.initial_advertise_peer_urls,
    )?;
    check_host_urls("advertise-client-urls", &config.advertise_client_urls)?;
    let bootstrap_sources = [
        config.discovery.is_some(),
        !config.initial_cluster.is_empty(),
        config.discovery_srv.is_some(),
    ];
    if bootstrap_sources.iter().filter(|set| **set).count() > 1 {
        return Err(ConfigError::ConflictingBootstrapFlags);
    }
    let (heartbeat_ms, election_ms) = (config.heartbeat_interval_ms, config.election_timeout_ms);
    if heartbeat_ms == 0 {
        return Err(ConfigError::HeartbeatZero(heartbeat_ms));
    }
    if election_ms == 0 {
        return Err(ConfigError::ElectionZero(election_ms));
    }
    if heartbeat_ms.saturating_mul(5) > election_ms {
        return Err(ConfigError::ElectionTooShort {
            election_ms,
            heartbeat_ms,
        });
    }
    if election_ms > ELECTION_TIMEOUT_MS_MAX {
        return Err(ConfigError::ElectionTooLong {
            election_ms,
            max_ms: ELECTION_TIMEOUT_MS_MAX,
        });
    }
    if !config.listen_client_urls.is_empty()
        && config.advertise_client_urls.is_empty()
        && !may_be_proxy
    {
        return Err(ConfigError::UnsetAdvertiseClientUrls);
    }
    if config.experimental_enable_lease_checkpoint_persist
        && !config.experimental_enable_lease_checkpoint
    {
        return Err(ConfigError::LeaseCheckpointPersistWithoutCheckpoint);
    }
    config.auto_compaction()?;
    if config.quota_backend_bytes > 0
        && config.quota_backend_bytes as u64 > super::fields::MAX_QUOTA_BACKEND_BYTES_RECOMMENDED
    {
        warnings.push(format!(
            "backend quota {} exceeds maximum recommended quota {}",
            config.quota_backend_bytes,
            super::fields::MAX_QUOTA_BACKEND_BYTES_RECOMMENDED
        ));
    }
    Ok(())
}

/// What etcd fills in after validation: `--initial-cluster` follows `--name` when
/// only the name was changed, and `--data-dir` defaults to `<name>.etcd`.
pub(crate) fn fill_defaults(config: &mut Config) {
    if config.name != DEFAULT_NAME
        && config.initial_cluster == DEFAULT_INITIAL_CLUSTER
        && !config.initial_advertise_peer_urls.is_empty()
    {
        config.initial_cluster = config
            .initial_advertise_peer_urls
            .iter()
            .map(|url| format!("{}={url}", config.name))
            .collect::<Vec<_>>()
            .join(",");
    }
    if config.data_dir.is_none() {
        config.data_dir = Some(PathBuf::from(format!("{}.etcd", config.name)));
    }
}

impl Config {
    /// `--snapshot-count`, where 0 means etcd's default of 100,000.
    pub fn snapshot_count_effective(&self) -> u64 {
        if self.snapshot_count == 0 {
            DEFAULT_SNAPSHOT_COUNT
        } else {
            self.snapshot_count
        }
    }

    /// `--quota-backend-bytes`: 0 means 2 GiB; a negative value disables the quota (`None`).
    pub fn quota_backend_bytes_effective(&self) -> Option<u64> {
        match self.quota_backend_bytes {
            0 => Some(DEFAULT_QUOTA_BACKEND_BYTES),
            bytes if bytes < 0 => None,
            bytes => Some(bytes as u64),
        }
    }

    /// Election timeout in heartbeat ticks (etcd's `ElectionTicks`).
    pub fn election_ticks(&self) -> u64 {
        self.election_timeout_ms / self.heartbeat_interval_ms.max(1)
    }

    /// The data directory (`<name>.etcd` when not given).
    pub fn data_dir_path(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", self.name)))
    }

    /// `<data-dir>/member`.
    pub fn member_dir(&self) -> PathBuf {
        self.data_dir_path().join("member")
    }

    /// `--wal-dir`, else `<data-dir>/member/wal`.
    pub fn wal_dir_path(&self) -> PathBuf {
        self.wal_dir
            .clone()
            .unwrap_or_else(|| self.member_dir().join("wal"))
    }

    /// `<data-dir>/member/snap`.
    pub fn snap_dir_path(&self) -> PathBuf {
        self.member_dir().join("snap")
    }

    /// `--auto-compaction-retention` read according to `--auto-compaction-mode`:
    /// a bare non-negative integer is hours (periodic) or revisions (revision);
    /// anything else must be a Go duration.
    pub fn auto_compaction(&self) -> Result<AutoCompaction, ConfigError> {
        let text = if self.auto_compaction_retention.is_empty() {
            "0"
        } else {
            self.auto_compaction_retention.as_str()
        };
        let retention = match text.parse::<i64>() {
            Ok(number) if number >= 0 => match self.auto_compaction_mode {
                AutoCompactionMode::Revision => return Ok(revision_or_disabled(number as u64)),
                AutoCompactionMode::Periodic => Duration::from_secs(number as u64 * 3600),
            },
            _ => goflag::parse_duration(text).map_err(ConfigError::CompactionRetention)?,
        };
        Ok(match self.auto_compaction_mode {
            _ if retention.is_zero() => AutoCompaction::Disabled,
            AutoCompactionMode::Periodic => AutoCompaction::Periodic(retention),
            // etcd takes the duration's nanoseconds as the revision count.
            AutoCompactionMode::Revision => revision_or_disabled(retention.as_nanos() as u64),
        })
    }

    /// The members to bootstrap with: from `--initial-cluster`, or with
    /// `--discovery` a one-member map of this member's advertised peer URLs.
    pub fn initial_cluster_members(&self) -> Result<InitialCluster, ConfigError> {
        if self.discovery.is_some() {
            return Ok(InitialCluster::single(
                &self.name,
                &self.initial_advertise_peer_urls,
            ));
        }
        InitialCluster::parse(&self.initial_cluster).map_err(ConfigError::InitialCluster)
    }

    /// Checks for bootstrapping a new cluster (no data on disk yet), in etcd's
    /// order: this member is in `--initial-cluster`, its URLs there match
    /// `--initial-advertise-peer-urls`, no URL is listed twice, and the cluster is
    /// not empty. Names are not resolved: only `localhost` is taken as `127.0.0.1`.
    pub fn verify_bootstrap(&self) -> Result<InitialCluster, ConfigError> {
        let cluster = self.initial_cluster_members()?;
        if cluster.urls_of(&self.name).is_none() {
            return Err(ConfigError::LocalMemberMissing(self.name.clone()));
        }
        self.advertise_matches_cluster(&cluster)?;
        if cluster.has_duplicate_url() {
            return Err(ConfigError::DuplicateUrl(cluster.to_string()));
        }
        if cluster.is_empty() && self.discovery.is_none() {
            return Err(ConfigError::InitialClusterUnset);
        }
        Ok(cluster)
    }

    /// Checks for joining an existing cluster (`--initial-cluster-state=existing`,
    /// no data on disk yet).
    pub fn verify_join_existing(&self) -> Result<InitialCluster, ConfigError> {
        let cluster = self.initial_cluster_members()?;
        if cluster.urls_of(&self.name).is_none() {
            return Err(ConfigError::LocalMemberMissing(self.name.clone()));
        }
        if cluster.has_duplicate_url() {
            return Err(ConfigError::DuplicateUrl(cluster.to_string()));
        }
        if self.discovery.is_some() {
            return Err(ConfigError::DiscoveryWhenJoining);
        }
        Ok(cluster)
    }

    /// [`Config::verify_bootstrap`] or [`Config::verify_join_existing`] according
    /// to `--initial-cluster-state`.
    pub fn verify_initial_cluster(&self) -> Result<InitialCluster, ConfigError> {
        match self.initial_cluster_state {
            ClusterState::New => self.verify_bootstrap(),
            ClusterState::Existing => self.verify_join_existing(),
        }
    }

    fn advertise_matches_cluster(&self, cluster: &InitialCluster) -> Result<(), ConfigError> {
        let in_cluster = cluster.urls_of(&self.name).unwrap_or_default();
        let mut advertised = self.initial_advertise_peer_urls.clone();
        url::sort_urls(&mut advertised);
        let advertised_texts: Vec<String> = advertised.iter().map(Url::to_string).collect();
        let cluster_texts: Vec<String> = in_cluster.iter().map(Url::to_string).collect();
        let detail = if advertised.len() != in_cluster.len() {
            format!(
                "len({}) != len({})",
                go_quote_list(&advertised_texts),
                go_quote_list(&cluster_texts)
            )
        } else {
            let mut left: Vec<Url> = advertised.iter().map(Url::resolved).collect();
            let mut right: Vec<Url> = in_cluster.iter().map(Url::resolved).collect();
            url::sort_urls(&mut left);
            url::sort_urls(&mut right);
            match left.iter().zip(&right).find(|(a, b)| a != b) {
                None => return Ok(()),
                Some((a, b)) => {
                    format!("resolved urls: {:?} != {:?}", a.to_string(), b.to_string())
                }
            }
        };
        let advertised_set: BTreeSet<&String> = advertised_texts.iter().collect();
        let cluster_set: BTreeSet<&String> = cluster_texts.iter().collect();
        let missing: Vec<String> = cluster_set
            .difference(&advertised_set)
            .map(|url| format!("{}={url}", self.name))
            .collect();
        let advertised_joined = advertised_texts.join(",");
        let single = InitialCluster::single(&self.name, &advertised).to_string();
        if !missing.is_empty() {
            return Err(ConfigError::InitialClusterNotAdvertised {
                missing: missing.join(","),
                advertised: advertised_joined,
                detail,
            });
        }
        let extra: Vec<String> = advertised_set
            .difference(&cluster_set)
            .map(|url| url.to_string())
            .collect();
        if !extra.is_empty() {
            return Err(ConfigError::AdvertisedNotInInitialCluster {
                missing: extra.join(","),
                cluster: single,
            });
        }
        Err(ConfigError::AdvertiseMismatch {
            advertised: advertised_joined,
            cluster: single,
            detail,
        })
    }
}

fn revision_or_disabled(revisions: u64) -> AutoCompaction {
    if revisions == 0 {
        AutoCompaction::Disabled
    } else {
        AutoCompaction::Revision(revisions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cluster_syntax() {
        let cluster = InitialCluster::parse(
            "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,,a=http://10.0.0.9:2380",
        )
        .unwrap();
        assert_eq!(cluster.members().len(), 2);
        assert_eq!(cluster.urls_of("a").unwrap().len(), 2);
        assert_eq!(
            cluster.to_string(),
            "a=http://10.0.0.1:2380,a=http://10.0.0.9:2380,b=http://10.0.0.2:2380"
        );
        assert!(InitialCluster::parse("").unwrap().is_empty());
        assert_eq!(
            InitialCluster::parse("a").unwrap_err().to_string(),
            "URL scheme must be http, https, unix, or unixs: "
        );
    }

    #[test]
    fn auto_compaction_reads_the_mode() {
        let mut config = Config::default();
        assert_eq!(config.auto_compaction(), Ok(AutoCompaction::Disabled));
        config.auto_compaction_retention = "2".into();
        assert_eq!(
            config.auto_compaction(),
            Ok(AutoCompaction::Periodic(Duration::from_secs(7200)))
        );
        config.auto_compaction_retention = "30m".into();
        assert_eq!(
            config.auto_compaction(),
            Ok(AutoCompaction::Periodic(Duration::from_secs(1800)))
        );
        config.auto_compaction_mode = AutoCompactionMode::Revision;
        config.auto_compaction_retention = "1000".into();
        assert_eq!(config.auto_compaction(), Ok(AutoCompaction::Revision(1000)));
        config.auto_compaction_retention = "x".into();
        assert!(config.auto_compaction().is_err());
    }

    #[test]
    fn effective_values() {
        let mut config = Config::default();
        assert_eq!(config.quota_backend_bytes_effective(), Some(2 << 30));
        config.quota_backend_bytes = -1;
        assert_eq!(config.quota_backend_bytes_effective(), None);
        config.snapshot_count = 0;
        assert_eq!(config.snapshot_count_effective(), 100_000);
        assert_eq!(config.election_ticks(), 10);
        assert_eq!(
            config.wal_dir_path(),
            PathBuf::from("default.etcd/member/wal")
        );
    }
}
