//! Which accepted settings cairn does not act on yet, so the server can refuse
//! or warn by name instead of ignoring them silently.

use super::fields::{Config, LogLevel};
use super::spec::{FlagKind, FLAGS};
use super::url::{Scheme, Url};

/// Flags whose settings cairn implements now (any value is honoured).
pub const IMPLEMENTED_FLAGS: &[&str] = &[
    "name",
    "data-dir",
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
    "experimental-initial-corrupt-check",
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
    // Not settings: they select what the binary does.
    "config-file",
    "version",
];

/// Reads one URL list out of a configuration.
type UrlsOf = fn(&Config) -> &[Url];

/// URL flags cairn serves over http and https, not yet over unix sockets.
const URL_FLAGS: [(&str, UrlsOf); 5] = [
    ("listen-peer-urls", |c| &c.listen_peer_urls),
    ("listen-client-urls", |c| &c.listen_client_urls),
    ("initial-advertise-peer-urls", |c| {
        &c.initial_advertise_peer_urls
    }),
    ("advertise-client-urls", |c| &c.advertise_client_urls),
    ("listen-metrics-urls", |c| &c.listen_metrics_urls),
];

impl Config {
    /// One sentence per setting that differs from etcd's default but belongs to a
    /// feature cairn does not implement yet (unix sockets, v2 API, discovery, proxy,
    /// pprof, ...), in flag-table order. Empty when cairn honours
    /// everything that was asked for.
    pub fn unsupported_settings(&self) -> Vec<String> {
        let defaults = Config::default();
        let mut found = Vec::new();
        for (flag, urls) in URL_FLAGS {
            for url in urls(self) {
                if !matches!(url.scheme, Scheme::Http | Scheme::Https) {
                    found.push(format!(
                        "--{flag}={url}: {}:// URLs are not supported yet (only http:// and https://)",
                        url.scheme.as_str()
                    ));
                }
            }
        }
        for spec in FLAGS.iter().filter(|spec| spec.kind != FlagKind::Ignored) {
            if IMPLEMENTED_FLAGS.contains(&spec.name) {
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
        config.set("enable-v2", "true").unwrap();
        config
            .set("listen-client-urls", "unix://localhost:2379")
            .unwrap();
        config.set("name", "n1").unwrap();
        let found = config.unsupported_settings();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("--listen-client-urls=unix://localhost:2379: unix://"));
        assert!(found.contains(&"--enable-v2=true is not supported yet".to_string()));
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
    fn metrics_flags_are_supported_over_http_and_https_only() {
        let mut config = Config::default();
        config.set("metrics", "extensive").unwrap();
        config
            .set(
                "listen-metrics-urls",
                "http://127.0.0.1:2381,https://127.0.0.1:2382",
            )
            .unwrap();
        assert_eq!(config.unsupported_settings(), Vec::<String>::new());
        config
            .set("listen-metrics-urls", "unix://localhost:2381")
            .unwrap();
        let found = config.unsupported_settings();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("--listen-metrics-urls=unix://localhost:2381: unix://"));
    }

    #[test]
    fn implemented_flags_exist() {
        for name in IMPLEMENTED_FLAGS {
            assert!(super::super::spec::find(name).is_some(), "{name}");
        }
    }
}
