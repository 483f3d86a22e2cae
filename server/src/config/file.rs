//! `--config-file`: etcd 3.4's YAML schema (`embed/config.go`, `configYAML`).
//!
//! etcd turns the YAML into JSON and decodes it into its Go struct, so:
//! * keys match case-insensitively; keys outside the schema are ignored (cairn
//!   also returns a warning naming them);
//! * URL lists are comma-separated strings (`listen-client-urls: http://a:2379,http://b:2379`);
//! * `log-outputs` and `cipher-suites` are YAML sequences;
//! * durations are integers of **nanoseconds** (`grpc-keepalive-timeout: 20000000000`);
//! * scalars given where text is expected are taken as text (`name: 123`);
//! * YAML 1.1 booleans (`yes`, `on`, ...) are booleans, as in go-yaml v2;
//! * TLS settings live under `client-transport-security` and
//!   `peer-transport-security` (`cert-file`, `key-file`, `client-cert-auth`,
//!   `trusted-ca-file`, `auto-tls`);
//! * a null value leaves the default.

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use super::error::ConfigError;
use super::fields::{ClusterState, Config, TlsSettings, DEFAULT_INITIAL_CLUSTER};
use super::url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Text,
    Bool,
    /// Go `uint`/`uint64`.
    Unsigned,
    /// Go `int`/`int64`.
    Signed,
    Unsigned32,
    DurationNs,
    UrlList,
    Cors,
    HostWhitelist,
    TextList,
    ClientSecurity,
    PeerSecurity,
}

impl KeyType {
    fn go_type(self) -> &'static str {
        match self {
            KeyType::Text | KeyType::UrlList | KeyType::Cors | KeyType::HostWhitelist => "string",
            KeyType::Bool => "bool",
            KeyType::Unsigned => "uint",
            KeyType::Signed => "int64",
            KeyType::Unsigned32 => "uint32",
            KeyType::DurationNs => "time.Duration",
            KeyType::TextList => "[]string",
            KeyType::ClientSecurity | KeyType::PeerSecurity => "embed.securityConfig",
        }
    }
}

/// Every key of etcd 3.4's configuration file. Each key but the two security
/// sections is also the name of the flag it sets.
const KEYS: &[(&str, KeyType)] = &[
    ("name", KeyType::Text),
    ("data-dir", KeyType::Text),
    ("wal-dir", KeyType::Text),
    ("snapshot-count", KeyType::Unsigned),
    ("max-snapshots", KeyType::Unsigned),
    ("max-wals", KeyType::Unsigned),
    ("heartbeat-interval", KeyType::Unsigned),
    ("election-timeout", KeyType::Unsigned),
    ("initial-election-tick-advance", KeyType::Bool),
    ("backend-batch-interval", KeyType::DurationNs),
    ("backend-batch-limit", KeyType::Signed),
    ("quota-backend-bytes", KeyType::Signed),
    ("max-txn-ops", KeyType::Unsigned),
    ("max-request-bytes", KeyType::Unsigned),
    ("max-concurrent-streams", KeyType::Unsigned32),
    ("listen-peer-urls", KeyType::UrlList),
    ("listen-client-urls", KeyType::UrlList),
    ("initial-advertise-peer-urls", KeyType::UrlList),
    ("advertise-client-urls", KeyType::UrlList),
    ("listen-metrics-urls", KeyType::UrlList),
    ("cipher-suites", KeyType::TextList),
    ("initial-cluster-state", KeyType::Text),
    ("discovery-srv", KeyType::Text),
    ("discovery-srv-name", KeyType::Text),
    ("discovery-proxy", KeyType::Text),
    ("discovery", KeyType::Text),
    ("discovery-fallback", KeyType::Text),
    ("initial-cluster", KeyType::Text),
    ("initial-cluster-token", KeyType::Text),
    ("strict-reconfig-check", KeyType::Bool),
    ("auto-promote-learners", KeyType::Bool),
    ("enable-v2", KeyType::Bool),
    ("auto-compaction-mode", KeyType::Text),
    ("auto-compaction-retention", KeyType::Text),
    ("grpc-keepalive-min-time", KeyType::DurationNs),
    ("grpc-keepalive-interval", KeyType::DurationNs),
    ("grpc-keepalive-timeout", KeyType::DurationNs),
    ("pre-vote", KeyType::Bool),
    ("cors", KeyType::Cors),
    ("host-whitelist", KeyType::HostWhitelist),
    ("auth-token", KeyType::Text),
    ("bcrypt-cost", KeyType::Unsigned),
    ("auth-token-ttl", KeyType::Unsigned),
    ("experimental-initial-corrupt-check", KeyType::Bool),
    ("experimental-corrupt-check-time", KeyType::DurationNs),
    ("experimental-enable-v2v3", KeyType::Text),
    ("experimental-backend-bbolt-freelist-type", KeyType::Text),
    ("experimental-enable-lease-checkpoint", KeyType::Bool),
    (
        "experimental-enable-lease-checkpoint-persist",
        KeyType::Bool,
    ),
    ("experimental-compaction-batch-limit", KeyType::Signed),
    (
        "experimental-watch-progress-notify-interval",
        KeyType::DurationNs,
    ),
    ("experimental-warning-apply-duration", KeyType::DurationNs),
    ("force-new-cluster", KeyType::Bool),
    ("enable-pprof", KeyType::Bool),
    ("metrics", KeyType::Text),
    ("logger", KeyType::Text),
    ("log-level", KeyType::Text),
    ("log-outputs", KeyType::TextList),
    ("log-output", KeyType::TextList),
    ("debug", KeyType::Bool),
    ("log-package-levels", KeyType::Text),
    ("enable-grpc-gateway", KeyType::Bool),
    ("unsafe-no-fsync", KeyType::Bool),
    ("proxy", KeyType::Text),
    ("proxy-failure-wait", KeyType::Unsigned),
    ("proxy-refresh-interval", KeyType::Unsigned),
    ("proxy-dial-timeout", KeyType::Unsigned),
    ("proxy-write-timeout", KeyType::Unsigned),
    ("proxy-read-timeout", KeyType::Unsigned),
    ("client-transport-security", KeyType::ClientSecurity),
    ("peer-transport-security", KeyType::PeerSecurity),
];

/// Keys of the two security sections.
const SECURITY_KEYS: &[(&str, KeyType)] = &[
    ("cert-file", KeyType::Text),
    ("key-file", KeyType::Text),
    ("client-cert-auth", KeyType::Bool),
    ("trusted-ca-file", KeyType::Text),
    ("auto-tls", KeyType::Bool),
];

/// The keys `--config-file` understands, for documentation and tests.
pub fn config_file_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(key, _)| *key)
}

fn kind_of(value: &Yaml) -> &'static str {
    match value {
        Yaml::Real(_) | Yaml::Integer(_) => "number",
        Yaml::String(_) => "string",
        Yaml::Boolean(_) => "bool",
        Yaml::Array(_) => "array",
        Yaml::Hash(_) => "object",
        Yaml::Null | Yaml::Alias(_) | Yaml::BadValue => "null",
    }
}

fn mismatch(key: &str, value: &Yaml, key_type: KeyType) -> String {
    let mut text = format!(
        "cannot unmarshal {} into Go struct field {key} of type {}",
        kind_of(value),
        key_type.go_type()
    );
    if key_type == KeyType::DurationNs {
        text.push_str(" (durations in a configuration file are integers of nanoseconds)");
    }
    text
}

fn scalar_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(text) | Yaml::Real(text) => Some(text.clone()),
        Yaml::Integer(number) => Some(number.to_string()),
        Yaml::Boolean(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// go-yaml v2 (YAML 1.1) booleans.
fn yaml_bool(value: &Yaml) -> Option<bool> {
    match value {
        Yaml::Boolean(flag) => Some(*flag),
        Yaml::String(text) => match text.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
                Some(true)
            }
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
            | "FALSE" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn key_text(key: &Yaml) -> String {
    scalar_text(key).unwrap_or_else(|| format!("{key:?}"))
}

/// What loading a configuration file produced.
#[derive(Debug)]
pub(crate) struct FileLoad {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Reads and applies a configuration file over etcd's defaults (no validation).
pub(crate) fn load_file(path: &Path) -> Result<FileLoad, ConfigError> {
    let fail = |reason: String| ConfigError::ConfigFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| fail(error.to_string()))?;
    let mut load = parse_yaml(&text).map_err(fail)?;
    load.config.config_file = Some(path.to_path_buf());
    Ok(load)
}

/// Applies configuration-file text over etcd's defaults (no validation).
pub(crate) fn parse_yaml(text: &str) -> Result<FileLoad, String> {
    let documents = YamlLoader::load_from_str(text).map_err(|error| error.to_string())?;
    let mut config = Config::default();
    let mut warnings = Vec::new();
    let root = documents.into_iter().next().unwrap_or(Yaml::Null);
    let entries = match root {
        Yaml::Hash(hash) => hash,
        Yaml::Null => Default::default(),
        other => {
            return Err(format!(
                "cannot unmarshal {} into Go value of type embed.configYAML",
                kind_of(&other)
            ))
        }
    };
    let mut client_security = None;
    let mut peer_security = None;
    for (key, value) in &entries {
        let key = key_text(key).to_ascii_lowercase();
        let Some(&(name, key_type)) = KEYS.iter().find(|(name, _)| *name == key) else {
            warnings.push(format!(
                "unrecognized key {key:?} in the configuration file is ignored (etcd 3.4 ignores it too)"
            ));
            continue;
        };
        if matches!(value, Yaml::Null) {
            continue;
        }
        match key_type {
            KeyType::ClientSecurity => client_security = Some(security(name, value)?),
            KeyType::PeerSecurity => peer_security = Some(security(name, value)?),
            _ => apply(&mut config, name, key_type, value)?,
        }
    }
    // etcd copies both sections over the TLS settings, present or not.
    let (client, peer) = (
        client_security.unwrap_or_default(),
        peer_security.unwrap_or_default(),
    );
    copy_security(&mut config.client_tls, client);
    copy_security(&mut config.peer_tls, peer);
    // A discovery setting clears the default --initial-cluster.
    if (config.discovery.is_some() || config.discovery_srv.is_some())
        && config.initial_cluster == DEFAULT_INITIAL_CLUSTER
    {
        config.initial_cluster.clear();
    }
    Ok(FileLoad { config, warnings })
}

fn copy_security(target: &mut TlsSettings, source: TlsSettings) {
    target.cert_file = source.cert_file;
    target.key_file = source.key_file;
    target.client_cert_auth = source.client_cert_auth;
    target.trusted_ca_file = source.trusted_ca_file;
    target.auto_tls = source.auto_tls;
}

fn security(section: &str, value: &Yaml) -> Result<TlsSettings, String> {
    let Yaml::Hash(entries) = value else {
        return Err(mismatch(section, value, KeyType::ClientSecurity));
    };
    // Reuse the client-side flags to parse, then move the values over.
    let mut scratch = Config::default();
    for (key, value) in entries {
        let key = key_text(key).to_ascii_lowercase();
        let Some(&(name, key_type)) = SECURITY_KEYS.iter().find(|(name, _)| *name == key) else {
            continue;
        };
        if !matches!(value, Yaml::Null) {
            apply(&mut scratch, name, key_type, value)
                .map_err(|error| format!("{section}: {error}"))?;
        }
    }
    Ok(scratch.client_tls)
}

fn apply(config: &mut Config, key: &str, key_type: KeyType, value: &Yaml) -> Result<(), String> {
    let set = |config: &mut Config, text: &str| {
        config
            .set(key, text)
            .map_err(|error| format!("invalid value {text:?} for {key}: {}", error.0))
    };
    match key_type {
        KeyType::Text => {
            let text = scalar_text(value).ok_or_else(|| mismatch(key, value, key_type))?;
            if key == "initial-cluster-state" && text.is_empty() {
                config.initial_cluster_state = ClusterState::New;
                return Ok(());
            }
            set(config, &text)
        }
        KeyType::Bool => {
            let flag = yaml_bool(value).ok_or_else(|| mismatch(key, value, key_type))?;
            set(config, if flag { "true" } else { "false" })
        }
        KeyType::Unsigned | KeyType::Signed | KeyType::Unsigned32 => {
            let Yaml::Integer(number) = value else {
                return Err(mismatch(key, value, key_type));
            };
            if *number < 0 && key_type != KeyType::Signed {
                return Err(format!(
                    "cannot unmarshal number {number} into Go struct field {key} of type {}",
                    key_type.go_type()
                ));
            }
            set(config, &number.to_string())
        }
        KeyType::DurationNs => {
            let nanos = match value {
                Yaml::Integer(number) if *number >= 0 => *number as u64,
                _ => return Err(mismatch(key, value, key_type)),
            };
            set(config, &format!("{nanos}ns"))
        }
        KeyType::UrlList => {
            let text = scalar_text(value).ok_or_else(|| mismatch(key, value, key_type))?;
            if text.is_empty() {
                return Ok(());
            }
            url::parse_url_list(&text)
                .map_err(|error| format!("unexpected error setting up {key}: {error}"))?;
            set(config, &text)
        }
        KeyType::Cors | KeyType::HostWhitelist => {
            let text = scalar_text(value).ok_or_else(|| mismatch(key, value, key_type))?;
            if text.is_empty() {
                return Ok(());
            }
            if key_type == KeyType::Cors {
                // A fresh set, as etcd builds it: "*" alone, or URLs.
                config.cors.clear();
            }
            set(config, &text)
        }
        KeyType::TextList => {
            let Yaml::Array(items) = value else {
                return Err(mismatch(key, value, key_type));
            };
            let texts = items
                .iter()
                .map(|item| scalar_text(item).ok_or_else(|| mismatch(key, item, KeyType::Text)))
                .collect::<Result<Vec<_>, _>>()?;
            match key {
                "cipher-suites" => config.cipher_suites = texts,
                "log-outputs" => config.log_outputs = texts,
                _ => config.log_output_deprecated = texts,
            }
            Ok(())
        }
        KeyType::ClientSecurity | KeyType::PeerSecurity => unreachable!("handled by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spec::{self, FlagKind, Section};

    #[test]
    fn every_key_but_the_sections_is_a_flag() {
        for (key, key_type) in KEYS {
            if !matches!(key_type, KeyType::ClientSecurity | KeyType::PeerSecurity) {
                assert!(spec::find(key).is_some(), "{key}");
            }
        }
    }

    #[test]
    fn flags_missing_from_the_schema_are_the_known_ones() {
        // etcd 3.4's file schema has no key for these flags (their settings
        // sit in Go structs without YAML names), so cairn has none either.
        let mut missing: Vec<&str> = spec::FLAGS
            .iter()
            .filter(|s| s.kind != FlagKind::Ignored && s.section != Section::Hidden)
            .map(|s| s.name)
            .filter(|name| !KEYS.iter().any(|(key, _)| key == name))
            .collect();
        missing.sort_unstable();
        assert_eq!(
            missing,
            [
                "auto-tls",
                "cert-file",
                "client-cert-allowed-hostname",
                "client-cert-auth",
                "client-crl-file",
                "experimental-peer-skip-client-san-verification",
                "key-file",
                "peer-auto-tls",
                "peer-cert-allowed-cn",
                "peer-cert-allowed-hostname",
                "peer-cert-file",
                "peer-client-cert-auth",
                "peer-crl-file",
                "peer-key-file",
                "peer-trusted-ca-file",
                "trusted-ca-file",
            ]
        );
    }

    #[test]
    fn yaml_types() {
        let load = parse_yaml(
            "Name: 123\nenable-v2: yes\nlog-outputs: [stderr]\ngrpc-keepalive-timeout: 1000000000\nextra: 1\n",
        )
        .unwrap();
        assert_eq!(load.config.name, "123");
        assert!(load.config.enable_v2);
        assert_eq!(load.config.log_outputs, ["stderr"]);
        assert_eq!(
            load.config.grpc_keepalive_timeout,
            std::time::Duration::from_secs(1)
        );
        assert_eq!(load.warnings.len(), 1);
        assert!(parse_yaml("grpc-keepalive-timeout: 1s\n")
            .unwrap_err()
            .contains("nanoseconds"));
        assert!(parse_yaml("snapshot-count: -1\n").is_err());
        assert!(parse_yaml("log-outputs: stderr\n").is_err());
        assert!(parse_yaml("- a\n").is_err());
        assert_eq!(parse_yaml("").unwrap().config, Config::default());
    }
}
