//! Validation and --initial-cluster bootstrap checks, with etcd 3.4's texts.

use cairn_server::config::{load, Config, ConfigError, InitialCluster, Invocation};

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn config(args: &[&str]) -> Config {
    match load(&strings(args), &[]) {
        Ok(Invocation::Run(loaded)) => loaded.config,
        other => panic!("expected a configuration for {args:?}, got {other:?}"),
    }
}

fn refused(args: &[&str]) -> String {
    match load(&strings(args), &[]) {
        Err(error) => {
            assert_eq!(error.exit_code(), 1, "{args:?}");
            error.to_string()
        }
        other => panic!("expected an error for {args:?}, got {other:?}"),
    }
}

#[test]
fn timing_limits() {
    assert_eq!(
        refused(&["--heartbeat-interval", "300"]),
        "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"
    );
    assert_eq!(
        refused(&[
            "--election-timeout",
            "60000",
            "--heartbeat-interval",
            "1000"
        ]),
        "--election-timeout[60000ms] is too long, and should be set less than 50000ms"
    );
    assert_eq!(
        refused(&["--heartbeat-interval", "0"]),
        "--heartbeat-interval must be >0 (set to 0ms)"
    );
    assert_eq!(
        refused(&["--election-timeout", "0"]),
        "--election-timeout must be >0 (set to 0ms)"
    );
    // Exactly 5 heartbeats and exactly 50 s are allowed.
    config(&["--heartbeat-interval", "200", "--election-timeout", "1000"]);
    config(&[
        "--heartbeat-interval",
        "1000",
        "--election-timeout",
        "50000",
    ]);
}

#[test]
fn url_checks() {
    assert_eq!(
        refused(&[
            "--listen-client-urls",
            "http://foo:2379",
            "--advertise-client-urls",
            "http://x:1"
        ]),
        "expected IP in URL for binding (http://foo:2379)"
    );
    assert_eq!(
        refused(&["--initial-advertise-peer-urls", "http://:2380"]),
        "--initial-advertise-peer-urls \"http://:2380\" must be \"host:port\" (unexpected empty host (http://:2380))"
    );
    // Binding to localhost, an IP or a unix socket is fine.
    config(&[
        "--listen-peer-urls",
        "http://0.0.0.0:2380,unix://sock:1",
        "--listen-client-urls",
        "http://[::]:2379",
        "--advertise-client-urls",
        "http://node1:2379",
    ]);
}

#[test]
fn bootstrap_sources_conflict() {
    assert_eq!(
        refused(&["--discovery", "http://x:1/abc", "--initial-cluster", "default=http://localhost:2380"]),
        "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\""
    );
}

#[test]
fn logging_and_compaction_checks() {
    assert_eq!(refused(&["--logger=foo"]), "unknown logger option \"foo\"");
    assert!(
        refused(&["--auto-compaction-mode=foo"]).contains("unknown auto-compaction-mode \"foo\"")
    );
    assert_eq!(
        refused(&["--log-outputs=stderr,stdout"]),
        "--logger=capnslog supports only 1 value in '--log-outputs', got [\"stderr\" \"stdout\"]"
    );
    config(&["--logger=zap", "--log-outputs=stderr,/tmp/x.log"]);
    assert_eq!(
        refused(&["--logger=zap", "--log-outputs=default,stderr"]),
        "multi logoutput for \"default\" is not supported yet"
    );
    assert_eq!(
        refused(&["--auto-compaction-retention=abc"]),
        "error parsing CompactionRetention: time: invalid duration \"abc\""
    );
    assert_eq!(
        refused(&["--experimental-enable-lease-checkpoint-persist"]),
        "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint"
    );
}

#[test]
fn initial_cluster_parsing() {
    let cluster = InitialCluster::parse(
        "infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380,infra0=http://10.0.2.10:2380",
    )
    .unwrap();
    assert_eq!(
        cluster.members().keys().collect::<Vec<_>>(),
        ["infra0", "infra1"]
    );
    assert_eq!(cluster.urls_of("infra0").unwrap().len(), 2);
    assert!(cluster.urls_of("nope").is_none());
    assert!(InitialCluster::parse("a=http://x:1,b=ftp://y:1").is_err());
    assert!(InitialCluster::parse("a=http://x:1,a=http://x:1")
        .unwrap()
        .has_duplicate_url());
}

#[test]
fn bootstrap_defaults_verify() {
    let cluster = config(&[]).verify_bootstrap().unwrap();
    assert_eq!(cluster.to_string(), "default=http://localhost:2380");
    // localhost matches 127.0.0.1 as etcd's resolver makes it.
    config(&["--initial-cluster", "default=http://127.0.0.1:2380"])
        .verify_bootstrap()
        .unwrap();
}

#[test]
fn bootstrap_errors_have_etcds_texts() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--initial-advertise-peer-urls", "http://127.0.0.1:23800"],
            "--initial-cluster has default=http://localhost:2380 but missing from --initial-advertise-peer-urls=http://127.0.0.1:23800 (resolved urls: \"http://127.0.0.1:23800\" != \"http://127.0.0.1:2380\")",
        ),
        (
            &["--name", "n1", "--initial-cluster", "n2=http://127.0.0.1:23800"],
            "couldn't find local name \"n1\" in the initial cluster configuration",
        ),
        (
            &["--initial-cluster", "default=http://localhost:2380,default=http://127.0.0.1:23801"],
            "--initial-cluster has default=http://127.0.0.1:23801 but missing from --initial-advertise-peer-urls=http://localhost:2380 (len([\"http://localhost:2380\"]) != len([\"http://127.0.0.1:23801\" \"http://localhost:2380\"]))",
        ),
        (
            &[
                "--initial-advertise-peer-urls",
                "http://localhost:2380,http://10.0.0.1:2380",
                "--initial-cluster",
                "default=http://localhost:2380",
            ],
            "--initial-advertise-peer-urls has http://10.0.0.1:2380 but missing from --initial-cluster=default=http://10.0.0.1:2380,default=http://localhost:2380",
        ),
        (
            &["--initial-cluster", "default=http://localhost:2380,n2=http://localhost:2380"],
            "initial cluster default=http://localhost:2380,n2=http://localhost:2380 has duplicate url",
        ),
        (
            &["--initial-cluster", "default=http://localhost:2380,n2=ftp://x:1"],
            "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: ftp://x:1",
        ),
        (
            &["--initial-cluster-state", "existing", "--initial-cluster", ""],
            "couldn't find local name \"default\" in the initial cluster configuration",
        ),
    ];
    for (args, text) in cases {
        let error = config(args).verify_initial_cluster().unwrap_err();
        assert_eq!(error.to_string(), *text, "{args:?}");
        assert_eq!(error.exit_code(), 1);
    }
}

#[test]
fn joining_an_existing_cluster_skips_the_advertise_match() {
    let config = config(&[
        "--initial-cluster-state",
        "existing",
        "--initial-cluster",
        "default=http://10.0.0.9:2380,other=http://10.0.0.8:2380",
    ]);
    assert_eq!(config.verify_initial_cluster().unwrap().members().len(), 2);
    let error = ConfigError::DiscoveryWhenJoining;
    assert_eq!(
        error.to_string(),
        "discovery URL should not be set when joining existing initial cluster"
    );
}
