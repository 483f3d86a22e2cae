//! Which accepted settings cairn does not act on yet, so the server can refuse
//! or warn by name instead of ignoring them silently.

use super::fields::{Config, LogLevel};
use super::spec::{FlagKind, FLAGS};

/// Flags whose settings cairn implements now (any value is honoured).
pub const IMPLEMENTED_FLAGS: &[&str] = &[
    "name",
    "data-dir",
    // The v2 API and the v2 proxy (server/src/v2/).
    "enable-v2",
    "proxy",
    "proxy-failure-wait",
    "proxy-refresh-interval",
    "proxy-dial-timeout",
    "wal-dir",
    "listen-peer-urls",
    "listen-client-urls",
    "initial-advertise-peer-urls",
    "advertise-client-urls",
    "initial-cluster",
    "initial-cluster-state",
    "initial-cluster-token",
    "snapshot-count",
    "heartbeat-interval",
    "election-timeout",
    "quota-backend-bytes",
    "max-request-bytes",
    "max-txn-ops",
    "max-concurrent-streams",
    "force-new-cluster",
    "strict-reconfig-check",
    "auto-promote-learners",
    "auto-compaction-retention",
    "auto-compaction-mode",
    "experimental-initial-corrupt-check",
    "experimental-corrupt-check-time",
    "logger",
    "log-level",
    "log-outputs",
    // Folded into log-outputs / log-level by loading; see Config::log_level_effective.
    "log-output",
    "debug",
    "max-snapshots",
    "max-wals",
    "pre-vote",
    "experimental-watch-progress-notify-interval",
    "auth-token",
    "auth-token-ttl",
    "bcrypt-cost",
    // TLS (server/src/tls/): client and peer certificates, CAs, CRLs,
    // allowed names, self-signed certificates, cipher suites.
    "cert-file",
    "key-file",
    "client-cert-auth",
    "client-crl-file",
    "client-cert-allowed-hostname",
    "trusted-ca-file",
    "auto-tls",
    "peer-cert-file",
    "peer-key-file",
    "peer-client-cert-auth",
    "peer-trusted-ca-file",
    "peer-cert-allowed-cn",
    "peer-cert-allowed-hostname",
    "peer-auto-tls",
    "peer-crl-file",
    "cipher-suites",
    "experimental-peer-skip-client-san-verification",
    // /metrics and /health (server/src/metrics/, server/src/http.rs).
    "metrics",
    "listen-metrics-urls",
    // Discovery bootstrap (server/src/discovery/): an etcd discovery service
    // (through an HTTP proxy if asked) or DNS SRV records. A full discovery
    // cluster stops the start whatever the fallback (no proxy mode).
    "discovery",
    "discovery-fallback",
    "discovery-proxy",
    "discovery-srv",
    "discovery-srv-name",
    // Not settings: they select what the binary does.
    "config-file",
    "version",
];

/// Flags cairn does not implement where ignoring them would change what the
/// cluster does: set to anything but etcd's default, they stop the start,
/// with why.
pub const REFUSED_FLAGS: &[(&str, &str)] = &[
    ("experimental-enable-v2v3", "the v2 API emulated over the v3 store is not implemented; cairn's v2 API (--enable-v2) has its own store, as etcd's does without this flag"),
    ("host-whitelist", "Host header checks are not implemented yet; ignoring them would accept any Host"),
    ("enable-pprof", "the /debug/pprof endpoints are not implemented"),
    ("experimental-enable-lease-checkpoint", "lease checkpoints are not implemented yet; leases would restart their TTL on a leader change"),
    ("experimental-enable-lease-checkpoint-persist", "lease checkpoints are not implemented yet"),
];

impl Config {
    /// One sentence per setting that differs from etcd's default but belongs to a
    /// feature cairn does not implement yet (v2 API, proxy,
    /// pprof, ...), in flag-table order. Empty when cairn honours
    /// everything that was asked for.
    pub fn unsupported_settings(&self) -> Vec<String> {
        let defaults = Config::default();
        let mut found = Vec::new();
        for spec in FLAGS.iter().filter(|spec| spec.kind != FlagKind::Ignored) {
            if IMPLEMENTED_FLAGS.contains(&spec.name)
                || REFUSED_FLAGS.iter().any(|(flag, _)| *flag == spec.name)
            {
                continue;
            }
            let value = self.get(spec.name);
            if value != defaults.get(spec.name) {
                let value = value.unwrap_or_default();
                found.push(format!("--{}={value} is not supported yet", spec.name));
            }
        }
        found
    }

    /// One sentence per setting that cairn must refuse: a flag of
    /// [`REFUSED_FLAGS`] set to anything but etcd's default. Empty when the
    /// start may go on.
    pub fn refused_settings(&self) -> Vec<String> {
        let defaults = Config::default();
        let mut found = Vec::new();
        for (flag, why) in REFUSED_FLAGS {
            let value = self.get(flag);
            if value != defaults.get(flag) {
                found.push(format!("--{flag}={}: {why}", value.unwrap_or_default()));
            }
        }
        found
    }

    /// `--log-level`, raised to debug by the deprecated `--debug`.
    pub fn log_level_effective(&self) -> LogLevel {
        if self.debug {
            LogLevel::Debug
        } else {
            self.log_level
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing_unsupported() {
        assert_eq!(
            Config::default().unsupported_settings(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn names_each_unsupported_setting() {
        let mut config = Config::default();
        config.set("experimental-enable-v2v3", "/v2v3").unwrap();
        config
            .set("listen-client-urls", "unix://localhost:2379")
            .unwrap();
        config
            .set("discovery", "http://127.0.0.1:4001/v2/keys/x")
            .unwrap();
        config.set("backend-batch-limit", "100").unwrap();
        config.set("name", "n1").unwrap();
        let refused = config.refused_settings();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused
            .iter()
            .any(|s| s.starts_with("--experimental-enable-v2v3=/v2v3: the v2 API emulated")));
        let warned = config.unsupported_settings();
        assert_eq!(
            warned,
            vec!["--backend-batch-limit=100 is not supported yet".to_string()]
        );
        assert_eq!(Config::default().refused_settings(), Vec::<String>::new());
    }

    #[test]
    fn refused_flags_exist_and_are_not_also_implemented() {
        for (flag, _) in REFUSED_FLAGS {
            assert!(FLAGS.iter().any(|spec| spec.name == *flag), "{flag}");
            assert!(!IMPLEMENTED_FLAGS.contains(flag), "{flag}");
        }
    }

    #[test]
    fn tls_settings_and_https_urls_are_supported() {
        let mut config = Config::default();
        for (flag, value) in [
            (
                "listen-client-urls",
                "https://127.0.0.1:2379,http://127.0.0.1:2379",
            ),
            ("advertise-client-urls", "https://127.0.0.1:2379"),
            ("listen-peer-urls", "https://127.0.0.1:2380"),
            ("initial-advertise-peer-urls", "https://127.0.0.1:2380"),
            ("cert-file", "/s.pem"),
            ("key-file", "/s.key"),
            ("trusted-ca-file", "/ca.pem"),
            ("client-cert-auth", "true"),
            ("client-crl-file", "/c.crl"),
            ("auto-tls", "true"),
            ("peer-cert-file", "/p.pem"),
            ("peer-key-file", "/p.key"),
            ("peer-trusted-ca-file", "/ca.pem"),
            ("peer-client-cert-auth", "true"),
            ("peer-cert-allowed-cn", "member"),
            ("peer-crl-file", "/p.crl"),
            ("peer-auto-tls", "true"),
            ("cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        ] {
            config.set(flag, value).unwrap();
        }
        assert_eq!(config.unsupported_settings(), Vec::<String>::new());
    }

    #[test]
    fn metrics_flags_are_supported_over_every_scheme() {
        let mut config = Config::default();
        config.set("metrics", "extensive").unwrap();
        config
            .set(
                "listen-metrics-urls",
                "http://127.0.0.1:2381,https://127.0.0.1:2382",
            )
            .unwrap();
        assert_eq!(config.unsupported_settings(), Vec::<String>::new());
        assert_eq!(config.refused_settings(), Vec::<String>::new());
        config
            .set("listen-metrics-urls", "unix://localhost:2381")
            .unwrap();
        assert_eq!(config.refused_settings(), Vec::<String>::new());
    }

    #[test]
    fn implemented_flags_exist() {
        for name in IMPLEMENTED_FLAGS {
            assert!(super::super::spec::find(name).is_some(), "{name}");
        }
    }
}
