//! The table of every flag etcd 3.4 defines: name, kind, section, default as shown
//! in `--help`, and a one-line description (in cairn's words). Parsing, the
//! `ETCD_*` environment mapping, `--help` and the unsupported-settings report all
//! read this one table.

/// How a flag takes its value on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--flag`, `--flag=true|false`; never consumes the next argument.
    Bool,
    /// `--flag value` or `--flag=value`.
    Value,
    /// A flag of etcd 0.4/2.x that etcd 3.4 still accepts (as a boolean) and ignores
    /// with a warning.
    Ignored,
}

/// The `--help` section a flag is listed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Member,
    Clustering,
    Security,
    Auth,
    Monitoring,
    Logging,
    Proxy,
    Experimental,
    Unsafe,
    Deprecated,
    /// Flags that `--help` does not list (`--config-file`, `--version` are described
    /// in the usage lines; the others are hidden in etcd too).
    Hidden,
}

impl Section {
    pub fn title(self) -> &'static str {
        match self {
            Section::Member => "Member:",
            Section::Clustering => "Clustering:",
            Section::Security => "Security:",
            Section::Auth => "Auth:",
            Section::Monitoring => "Profiling and Monitoring:",
            Section::Logging => "Logging:",
            Section::Proxy => "v2 Proxy (to be deprecated in v4):",
            Section::Experimental => "Experimental feature:",
            Section::Unsafe => "Unsafe feature:",
            Section::Deprecated => "TO BE DEPRECATED:",
            Section::Hidden => "Also accepted:",
        }
    }
}

/// One flag.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    pub name: &'static str,
    pub kind: FlagKind,
    pub section: Section,
    /// The default as `--help` shows it (quoted there, as etcd does).
    pub default_text: &'static str,
    pub help: &'static str,
}

impl FlagSpec {
    /// `ETCD_<NAME>`: the flag's name upper-cased with `-` turned into `_`.
    pub fn env_key(&self) -> String {
        env_key(self.name)
    }
}

/// `flags.FlagToEnv("ETCD", name)`.
pub fn env_key(name: &str) -> String {
    format!("ETCD_{}", name.replace('-', "_").to_ascii_uppercase())
}

/// Looks a flag up by name (without dashes).
pub fn find(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|spec| spec.name == name)
}

const fn flag(
    name: &'static str,
    kind: FlagKind,
    section: Section,
    default_text: &'static str,
    help: &'static str,
) -> FlagSpec {
    FlagSpec {
        name,
        kind,
        section,
        default_text,
        help,
    }
}

use FlagKind::{Bool, Ignored, Value};
use Section::*;

/// Flags of etcd 0.4/2.x that etcd 3.4 still accepts and ignores with a warning.
pub const IGNORED_FLAGS: [&str; 15] = [
    "cluster-active-size",
    "cluster-remove-delay",
    "cluster-sync-interval",
    "config",
    "force",
    "max-result-buffer",
    "max-retry-attempts",
    "peer-heartbeat-interval",
    "peer-election-timeout",
    "retry-interval",
    "snapshot",
    "v",
    "vv",
    "test.coverprofile",
    "test.outputdir",
];

/// Every flag, in the order `--help` lists them.
pub static FLAGS: &[FlagSpec] = &[
    // Member
    flag("name", Value, Member, "'default'", "Human-readable name of this member."),
    flag("data-dir", Value, Member, "'${name}.etcd'", "Directory holding this member's data."),
    flag("wal-dir", Value, Member, "''", "Separate directory for the write-ahead log (empty: inside --data-dir)."),
    flag("snapshot-count", Value, Member, "'100000'", "Committed entries between two snapshots to disk (0 means the default)."),
    flag("heartbeat-interval", Value, Member, "'100'", "Heartbeat interval, in milliseconds."),
    flag("election-timeout", Value, Member, "'1000'", "Election timeout, in milliseconds; at least 5 heartbeat intervals, at most 50000."),
    flag("initial-election-tick-advance", Bool, Member, "'true'", "Fast-forward the election ticks at boot so a first election happens sooner."),
    flag("listen-peer-urls", Value, Member, "'http://localhost:2380'", "URLs to listen on for traffic from other members."),
    flag("listen-client-urls", Value, Member, "'http://localhost:2379'", "URLs to listen on for client traffic."),
    flag("max-snapshots", Value, Member, "'5'", "Snapshot files to keep (0 keeps all)."),
    flag("max-wals", Value, Member, "'5'", "Write-ahead log files to keep (0 keeps all)."),
    flag("quota-backend-bytes", Value, Member, "'0'", "Raise a NOSPACE alarm when the data exceeds this many bytes (0: the default of 2 GiB)."),
    flag("backend-batch-interval", Value, Member, "''", "Longest time before a backend batch is committed (Go duration)."),
    flag("backend-batch-limit", Value, Member, "'0'", "Most operations in one backend batch before it is committed."),
    flag("max-txn-ops", Value, Member, "'128'", "Most operations allowed in one transaction."),
    flag("max-request-bytes", Value, Member, "'1572864'", "Largest client request accepted, in bytes."),
    flag("max-concurrent-streams", Value, Member, "'math.MaxUint32'", "Most concurrent gRPC streams one client connection may open."),
    flag("grpc-keepalive-min-time", Value, Member, "'5s'", "Shortest interval a client may ping the server at."),
    flag("grpc-keepalive-interval", Value, Member, "'2h'", "Interval of server-to-client pings checking a connection (0 disables)."),
    flag("grpc-keepalive-timeout", Value, Member, "'20s'", "Extra wait before closing a connection that does not answer a ping (0 disables)."),
    // Clustering
    flag("initial-advertise-peer-urls", Value, Clustering, "'http://localhost:2380'", "This member's peer URLs, as announced to the rest of the cluster."),
    flag("initial-cluster", Value, Clustering, "'default=http://localhost:2380'", "Members of the cluster to bootstrap, as name=peer-url pairs separated by commas."),
    flag("initial-cluster-state", Value, Clustering, "'new'", "'new' to bootstrap a cluster, 'existing' to join one."),
    flag("initial-cluster-token", Value, Clustering, "'etcd-cluster'", "Token that keeps clusters bootstrapped side by side apart."),
    flag("advertise-client-urls", Value, Clustering, "'http://localhost:2379'", "This member's client URLs, as announced to clients; required when --listen-client-urls is given."),
    flag("discovery", Value, Clustering, "''", "Discovery service URL to bootstrap the cluster with."),
    flag("discovery-fallback", Value, Clustering, "'proxy'", "What to do when the discovery service fails: 'exit' or 'proxy' (v2 only)."),
    flag("discovery-proxy", Value, Clustering, "''", "HTTP proxy for traffic to the discovery service."),
    flag("discovery-srv", Value, Clustering, "''", "DNS domain whose SRV records bootstrap the cluster."),
    flag("discovery-srv-name", Value, Clustering, "''", "Suffix of the SRV name queried when bootstrapping by DNS."),
    flag("strict-reconfig-check", Bool, Clustering, "'true'", "Refuse membership changes that would lose quorum."),
    flag("auto-promote-learners", Bool, Clustering, "'false'", "cairn only: the leader promotes a learner to voter once it has caught up."),
    flag("pre-vote", Bool, Clustering, "'false'", "Run Raft's pre-vote phase before an election."),
    flag("auto-compaction-retention", Value, Clustering, "'0'", "History kept by automatic compaction (0 disables it)."),
    flag("auto-compaction-mode", Value, Clustering, "'periodic'", "How to read --auto-compaction-retention: 'periodic' (a duration; a bare number means hours) or 'revision' (a count of revisions)."),
    flag("enable-v2", Bool, Clustering, "'false'", "Serve the etcd v2 API."),
    // Security
    flag("cert-file", Value, Security, "''", "TLS certificate for client connections."),
    flag("key-file", Value, Security, "''", "TLS key for client connections."),
    flag("client-cert-auth", Bool, Security, "'false'", "Require clients to present certificates."),
    flag("client-crl-file", Value, Security, "''", "Certificate revocation list for client certificates."),
    flag("client-cert-allowed-hostname", Value, Security, "''", "Hostname a client certificate must carry."),
    flag("trusted-ca-file", Value, Security, "''", "CA bundle that client certificates are checked against."),
    flag("auto-tls", Bool, Security, "'false'", "Serve clients over TLS with a self-generated certificate."),
    flag("peer-cert-file", Value, Security, "''", "TLS certificate for peer connections."),
    flag("peer-key-file", Value, Security, "''", "TLS key for peer connections."),
    flag("peer-client-cert-auth", Bool, Security, "'false'", "Require peers to present certificates."),
    flag("peer-trusted-ca-file", Value, Security, "''", "CA bundle that peer certificates are checked against."),
    flag("peer-cert-allowed-cn", Value, Security, "''", "Common name a peer certificate must carry."),
    flag("peer-cert-allowed-hostname", Value, Security, "''", "Hostname a peer certificate must carry."),
    flag("peer-auto-tls", Bool, Security, "'false'", "Talk to peers over TLS with a self-generated certificate when no peer certificate is given."),
    flag("peer-crl-file", Value, Security, "''", "Certificate revocation list for peer certificates."),
    flag("cipher-suites", Value, Security, "''", "TLS cipher suites for clients and peers, comma-separated (empty: the TLS library's choice)."),
    flag("cors", Value, Security, "'*'", "Origins allowed by CORS, comma-separated ('*' or empty allows all)."),
    flag("host-whitelist", Value, Security, "'*'", "Host names accepted in HTTP requests when not serving TLS ('*' or empty allows all)."),
    // Auth
    flag("auth-token", Value, Auth, "'simple'", "Kind of v3 auth token and its options: 'simple' or 'jwt,...'."),
    flag("bcrypt-cost", Value, Auth, "10", "bcrypt cost for hashing passwords (4 to 31)."),
    flag("auth-token-ttl", Value, Auth, "300", "Lifetime of a simple auth token, in seconds."),
    // Profiling and monitoring
    flag("enable-pprof", Bool, Monitoring, "'false'", "Serve runtime profiling under the client URLs at /debug/pprof/."),
    flag("metrics", Value, Monitoring, "'basic'", "Detail of exported metrics: 'basic' or 'extensive' (adds histograms)."),
    flag("listen-metrics-urls", Value, Monitoring, "''", "Extra URLs serving only /metrics and /health."),
    // Logging
    flag("logger", Value, Logging, "'capnslog'", "Log format: 'zap' (structured) or 'capnslog'."),
    flag("log-outputs", Value, Logging, "'default'", "Where logs go: 'default', 'stderr', 'stdout' or file paths, comma-separated."),
    flag("log-level", Value, Logging, "'info'", "Least severe level logged: debug, info, warn, error, panic or fatal."),
    // v2 proxy
    flag("proxy", Value, Proxy, "'off'", "v2 proxy mode: 'off', 'readonly' or 'on'."),
    flag("proxy-failure-wait", Value, Proxy, "5000", "Milliseconds an endpoint stays marked failed."),
    flag("proxy-refresh-interval", Value, Proxy, "30000", "Milliseconds between endpoint refreshes."),
    flag("proxy-dial-timeout", Value, Proxy, "1000", "Milliseconds before a dial times out."),
    flag("proxy-write-timeout", Value, Proxy, "5000", "Milliseconds before a write times out."),
    flag("proxy-read-timeout", Value, Proxy, "0", "Milliseconds before a read times out."),
    // Experimental
    flag("experimental-initial-corrupt-check", Bool, Experimental, "'false'", "Check the data for corruption before serving clients or peers."),
    flag("experimental-corrupt-check-time", Value, Experimental, "'0s'", "Interval between corruption checks across the cluster."),
    flag("experimental-enable-v2v3", Value, Experimental, "''", "Serve the v2 API from the v3 store under this prefix."),
    flag("experimental-backend-bbolt-freelist-type", Value, Experimental, "'array'", "Free-list type of etcd's bbolt backend ('array' or 'map'); cairn has no bbolt backend."),
    flag("experimental-enable-lease-checkpoint", Bool, Experimental, "'false'", "Have the leader checkpoint lease TTLs so a leader change does not renew them."),
    flag("experimental-compaction-batch-limit", Value, Experimental, "1000", "Most revisions deleted in one compaction batch."),
    flag("experimental-peer-skip-client-san-verification", Bool, Experimental, "'false'", "Do not check the SAN of client certificates on peer connections."),
    flag("experimental-watch-progress-notify-interval", Value, Experimental, "'10m'", "Interval of watch progress notifications."),
    flag("experimental-warning-apply-duration", Value, Experimental, "'100ms'", "Log a warning for requests whose apply takes longer than this."),
    flag("experimental-enable-lease-checkpoint-persist", Bool, Experimental, "'false'", "Persist the checkpointed lease TTLs (needs --experimental-enable-lease-checkpoint)."),
    // Unsafe
    flag("force-new-cluster", Bool, Unsafe, "'false'", "Restart as a new one-member cluster keeping the data."),
    flag("unsafe-no-fsync", Bool, Unsafe, "'false'", "Never fsync: data will be lost on a crash."),
    // To be deprecated
    flag("debug", Bool, Deprecated, "'false'", "Log at debug level (use --log-level=debug)."),
    flag("log-package-levels", Value, Deprecated, "''", "Per-package log levels for capnslog (e.g. 'etcdmain=CRITICAL,etcdserver=DEBUG')."),
    flag("log-output", Value, Deprecated, "'default'", "Old spelling of --log-outputs."),
    // Described in the usage lines, or hidden as in etcd
    flag("config-file", Value, Hidden, "''", "YAML configuration file; when given, every other flag and ETCD_* variable is ignored."),
    flag("version", Bool, Hidden, "'false'", "Print the version and exit."),
    flag("enable-grpc-gateway", Bool, Hidden, "'true'", "Serve the JSON gateway to the v3 gRPC API."),
    // Ignored (etcd 0.4/2.x)
    flag("cluster-active-size", Ignored, Hidden, "", ""),
    flag("cluster-remove-delay", Ignored, Hidden, "", ""),
    flag("cluster-sync-interval", Ignored, Hidden, "", ""),
    flag("config", Ignored, Hidden, "", ""),
    flag("force", Ignored, Hidden, "", ""),
    flag("max-result-buffer", Ignored, Hidden, "", ""),
    flag("max-retry-attempts", Ignored, Hidden, "", ""),
    flag("peer-heartbeat-interval", Ignored, Hidden, "", ""),
    flag("peer-election-timeout", Ignored, Hidden, "", ""),
    flag("retry-interval", Ignored, Hidden, "", ""),
    flag("snapshot", Ignored, Hidden, "", ""),
    flag("v", Ignored, Hidden, "", ""),
    flag("vv", Ignored, Hidden, "", ""),
    flag("test.coverprofile", Ignored, Hidden, "", ""),
    flag("test.outputdir", Ignored, Hidden, "", ""),
];

/// Every flag name sorted, the order in which Go's `flag.VisitAll` (and so etcd's
/// environment-variable pass) visits them.
pub fn names_sorted() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = FLAGS.iter().map(|spec| spec.name).collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_ignored_flags_are_listed() {
        let mut names = names_sorted();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
        for name in IGNORED_FLAGS {
            assert_eq!(find(name).map(|spec| spec.kind), Some(FlagKind::Ignored));
        }
        let ignored = FLAGS.iter().filter(|s| s.kind == FlagKind::Ignored).count();
        assert_eq!(ignored, IGNORED_FLAGS.len());
    }

    #[test]
    fn env_keys_are_upper_snake() {
        assert_eq!(env_key("initial-cluster"), "ETCD_INITIAL_CLUSTER");
        assert_eq!(env_key("name"), "ETCD_NAME");
    }
}
