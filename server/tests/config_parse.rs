//! Command-line and ETCD_* environment parsing with etcd 3.4's rules.

use std::time::Duration;

use cairn_server::config::{
    load, ClusterState, Config, ConfigError, ConfigSource, Invocation, Loaded, Url,
};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn env(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(list: &[&str], environment: &[(&str, &str)]) -> Box<Loaded> {
    match load(&args(list), &env(environment)) {
        Ok(Invocation::Run(loaded)) => loaded,
        other => panic!("expected a configuration for {list:?}, got {other:?}"),
    }
}

fn fails(list: &[&str], environment: &[(&str, &str)]) -> ConfigError {
    match load(&args(list), &env(environment)) {
        Err(error) => error,
        other => panic!("expected an error for {list:?}, got {other:?}"),
    }
}

#[test]
fn no_arguments_give_etcds_defaults() {
    let loaded = run(&[], &[]);
    let config = &loaded.config;
    assert_eq!(loaded.source, ConfigSource::CommandLine);
    assert_eq!(config.name, "default");
    assert_eq!(config.data_dir.as_deref(), Some("default.etcd".as_ref()));
    assert_eq!(config.wal_dir, None);
    assert_eq!(config.snapshot_count, 100_000);
    assert_eq!(config.heartbeat_interval_ms, 100);
    assert_eq!(config.election_timeout_ms, 1000);
    assert!(config.initial_election_tick_advance);
    assert_eq!(
        config.listen_peer_urls,
        [Url::parse("http://localhost:2380").unwrap()]
    );
    assert_eq!(
        config.listen_client_urls,
        [Url::parse("http://localhost:2379").unwrap()]
    );
    assert_eq!(config.initial_advertise_peer_urls, config.listen_peer_urls);
    assert_eq!(config.advertise_client_urls, config.listen_client_urls);
    assert_eq!(config.initial_cluster, "default=http://localhost:2380");
    assert_eq!(config.initial_cluster_state, ClusterState::New);
    assert_eq!(config.initial_cluster_token, "etcd-cluster");
    assert_eq!(config.max_snapshots, 5);
    assert_eq!(config.max_wals, 5);
    assert_eq!(config.quota_backend_bytes, 0);
    assert_eq!(
        config.quota_backend_bytes_effective(),
        Some(2 * 1024 * 1024 * 1024)
    );
    assert_eq!(config.max_txn_ops, 128);
    assert_eq!(config.max_request_bytes, 1_572_864);
    assert_eq!(config.max_concurrent_streams, u32::MAX);
    assert_eq!(config.grpc_keepalive_min_time, Duration::from_secs(5));
    assert_eq!(config.grpc_keepalive_interval, Duration::from_secs(7200));
    assert_eq!(config.grpc_keepalive_timeout, Duration::from_secs(20));
    assert!(config.strict_reconfig_check);
    assert!(!config.enable_v2);
    assert!(!config.pre_vote);
    assert_eq!(config.auth_token, "simple");
    assert_eq!(config.bcrypt_cost, 10);
    assert_eq!(config.cors, ["*"]);
    assert_eq!(config.host_whitelist, ["*"]);
    assert_eq!(config.metrics, "basic");
    assert_eq!(config.log_outputs, ["default"]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(config.unsupported_settings().is_empty());
}

#[test]
fn every_value_form_is_accepted() {
    for form in [
        &["-name", "n1"][..],
        &["--name", "n1"],
        &["-name=n1"],
        &["--name=n1"],
    ] {
        assert_eq!(run(form, &[]).config.name, "n1", "{form:?}");
    }
}

#[test]
fn booleans_never_take_the_next_argument() {
    let config = run(
        &[
            "--pre-vote",
            "--enable-v2=true",
            "--strict-reconfig-check=false",
        ],
        &[],
    )
    .config;
    assert!(config.pre_vote);
    assert!(config.enable_v2);
    assert!(!config.strict_reconfig_check);
    // "--pre-vote false": "false" is a positional argument, as in etcd.
    assert_eq!(
        fails(&["--pre-vote", "false"], &[]).to_string(),
        "'false' is not a valid flag"
    );
    assert!(run(&["-pre-vote=1"], &[]).config.pre_vote);
    assert!(!run(&["-pre-vote=F"], &[]).config.pre_vote);
}

#[test]
fn repeated_flags_keep_the_last_value() {
    let config = run(
        &[
            "--name",
            "a",
            "--name=b",
            "-snapshot-count",
            "5",
            "--snapshot-count=7",
        ],
        &[],
    )
    .config;
    assert_eq!(config.name, "b");
    assert_eq!(config.snapshot_count, 7);
}

#[test]
fn command_line_errors_have_etcds_text_and_exit_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["-foo"], "flag provided but not defined: -foo"),
        (&["--foo=1"], "flag provided but not defined: -foo"),
        (&["--name"], "flag needs an argument: -name"),
        (&["---name"], "bad flag syntax: ---name"),
        (&["-=x"], "bad flag syntax: -=x"),
        (&["--snapshot-count=abc"], "invalid value \"abc\" for flag -snapshot-count: parse error"),
        (&["--pre-vote=yes"], "invalid boolean value \"yes\" for -pre-vote: parse error"),
        (
            &["--max-concurrent-streams=abc"],
            "invalid value \"abc\" for flag -max-concurrent-streams: strconv.ParseUint: parsing \"abc\": invalid syntax",
        ),
        (&["--initial-cluster-state=bogus"], "invalid value \"bogus\" for flag -initial-cluster-state: invalid value"),
        (
            &["--listen-client-urls=ftp://x:1"],
            "invalid value \"ftp://x:1\" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: ftp://x:1",
        ),
        (
            &["--listen-client-urls", "http://127.0.0.1:2379/x"],
            "invalid value \"http://127.0.0.1:2379/x\" for flag -listen-client-urls: URL must not contain a path: http://127.0.0.1:2379/x",
        ),
        (
            &["--listen-client-urls", "http://127.0.0.1"],
            "invalid value \"http://127.0.0.1\" for flag -listen-client-urls: URL address does not have the form \"host:port\": http://127.0.0.1",
        ),
    ];
    for (list, text) in cases {
        let error = fails(list, &[]);
        assert_eq!(error.to_string(), *text, "{list:?}");
        assert_eq!(error.exit_code(), 2, "{list:?}");
        assert!(error.shows_usage());
    }
}

#[test]
fn positional_arguments_are_refused_with_exit_code_1() {
    let error = fails(&["bar"], &[]);
    assert_eq!(error.to_string(), "'bar' is not a valid flag");
    assert_eq!(error.exit_code(), 1);
    assert_eq!(
        fails(&["--", "--name"], &[]).to_string(),
        "'--name' is not a valid flag"
    );
    assert_eq!(
        fails(&["--name", "x", "y"], &[]).to_string(),
        "'y' is not a valid flag"
    );
    // The proxy subcommands are dispatched before a member's flags are
    // read (main.rs): to the member's parser they are stray words.
    assert_eq!(
        fails(&["grpc-proxy"], &[]).to_string(),
        "'grpc-proxy' is not a valid flag"
    );
}

#[test]
fn help_and_version() {
    for help in ["-h", "--help", "-help", "--h"] {
        assert!(
            matches!(load(&args(&[help]), &[]), Ok(Invocation::Help)),
            "{help}"
        );
    }
    assert!(matches!(
        load(&args(&["--version"]), &[]),
        Ok(Invocation::Version)
    ));
    assert!(matches!(
        load(&args(&["-version", "--name", "x"]), &[]),
        Ok(Invocation::Version)
    ));
    // A positional argument is reported before --version is honoured, as in etcd.
    assert!(load(&args(&["--version", "x"]), &[]).is_err());
}

#[test]
fn ignored_old_flags_warn() {
    let loaded = run(&["-v", "--peer-heartbeat-interval", "--name", "n"], &[]);
    assert_eq!(loaded.config.name, "n");
    assert_eq!(
        loaded.warnings,
        [
            "flag \"-v\" is no longer supported - ignoring.",
            "flag \"-peer-heartbeat-interval\" is no longer supported - ignoring."
        ]
    );
}

#[test]
fn environment_sets_flags_and_is_reported() {
    let loaded = run(
        &[],
        &[
            ("ETCD_NAME", "infra1"),
            ("ETCD_INITIAL_CLUSTER", "infra1=http://127.0.0.1:2380"),
            ("ETCD_INITIAL_ADVERTISE_PEER_URLS", "http://127.0.0.1:2380"),
            ("ETCD_PRE_VOTE", "true"),
            ("PATH", "/usr/bin"),
        ],
    );
    assert_eq!(loaded.config.name, "infra1");
    assert_eq!(
        loaded.config.initial_cluster,
        "infra1=http://127.0.0.1:2380"
    );
    assert!(loaded.config.pre_vote);
    assert_eq!(
        loaded.config.data_dir.as_deref(),
        Some("infra1.etcd".as_ref())
    );
    assert!(loaded
        .notices
        .contains(&"recognized and used environment variable ETCD_NAME=infra1".to_string()));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn unknown_and_empty_etcd_variables_warn() {
    let loaded = run(
        &[],
        &[("ETCD_FOO", "bar"), ("ETCD_NAME", ""), ("OTHER", "x")],
    );
    assert_eq!(
        loaded.warnings,
        [
            "unrecognized environment variable ETCD_FOO=bar",
            "unrecognized environment variable ETCD_NAME="
        ]
    );
    assert_eq!(loaded.config.name, "default");
}

#[test]
fn a_variable_shadowed_by_a_flag_is_fatal_as_in_etcd() {
    let error = fails(&["--name", "y"], &[("ETCD_NAME", "x")]);
    assert_eq!(
        error.to_string(),
        "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
    );
    assert_eq!(error.exit_code(), 1);
    // Even an empty variable counts.
    assert!(matches!(
        fails(&["--name", "y"], &[("ETCD_NAME", "")]),
        ConfigError::EnvironmentShadowed(_)
    ));
    // Other flags still combine with other variables.
    let config = run(&["--name", "y"], &[("ETCD_SNAPSHOT_COUNT", "10")]).config;
    assert_eq!((config.name.as_str(), config.snapshot_count), ("y", 10));
}

#[test]
fn bad_environment_values_name_the_variable() {
    let error = fails(&[], &[("ETCD_SNAPSHOT_COUNT", "abc")]);
    assert_eq!(
        error.to_string(),
        "invalid value \"abc\" for ETCD_SNAPSHOT_COUNT: parse error"
    );
    assert_eq!(error.exit_code(), 1);
    // Booleans from the environment use the plain form.
    assert_eq!(
        fails(&[], &[("ETCD_PRE_VOTE", "yes")]).to_string(),
        "invalid value \"yes\" for ETCD_PRE_VOTE: parse error"
    );
}

#[test]
fn listen_client_urls_from_either_source_need_advertise_client_urls() {
    for (list, environment) in [
        (
            &["--listen-client-urls", "http://127.0.0.1:2379"][..],
            &[][..],
        ),
        (
            &[][..],
            &[("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:2379")][..],
        ),
    ] {
        let error = fails(list, environment);
        assert_eq!(
            error.to_string(),
            "--advertise-client-urls is required when --listen-client-urls is set explicitly"
        );
    }
    let config = run(
        &[
            "--listen-client-urls",
            "http://127.0.0.1:2379,http://[::1]:2379",
        ],
        &[("ETCD_ADVERTISE_CLIENT_URLS", "http://10.0.0.1:2379")],
    )
    .config;
    assert_eq!(config.listen_client_urls.len(), 2);
    assert_eq!(config.advertise_client_urls[0].host, "10.0.0.1");
    // A v2 proxy needs none.
    assert!(load(
        &args(&["--listen-client-urls=http://127.0.0.1:2379", "--proxy=on"]),
        &[]
    )
    .is_ok());
}

#[test]
fn name_alone_renames_the_default_initial_cluster() {
    let config = run(&["--name", "n1"], &[]).config;
    assert_eq!(config.initial_cluster, "n1=http://localhost:2380");
    let config = run(
        &[
            "--name",
            "n1",
            "--initial-advertise-peer-urls",
            "http://10.0.0.1:2380,http://10.0.0.2:2380",
        ],
        &[],
    )
    .config;
    assert_eq!(
        config.initial_cluster,
        "n1=http://10.0.0.1:2380,n1=http://10.0.0.2:2380"
    );
    // Discovery drops the default initial cluster.
    let config = run(&["--discovery", "http://d:1/x"], &[]).config;
    assert_eq!(config.initial_cluster, "");
}

#[test]
fn discovery_flags_are_honoured_not_refused() {
    let config = run(
        &[
            "--discovery",
            "http://d:1/x",
            "--discovery-fallback",
            "exit",
            "--discovery-proxy",
            "127.0.0.1:3128",
        ],
        &[],
    )
    .config;
    assert_eq!(config.refused_settings(), Vec::<String>::new());
    assert_eq!(config.unsupported_settings(), Vec::<String>::new());
    let config = run(
        &[
            "--discovery-srv",
            "example.com",
            "--discovery-srv-name",
            "blue",
        ],
        &[],
    )
    .config;
    assert_eq!(config.initial_cluster, "");
    assert_eq!(config.refused_settings(), Vec::<String>::new());
    assert_eq!(config.unsupported_settings(), Vec::<String>::new());
}

#[test]
fn port_zero_and_typed_values() {
    let config = run(
        &[
            "--listen-peer-urls=http://127.0.0.1:0",
            "--listen-client-urls=http://127.0.0.1:0",
            "--advertise-client-urls=http://127.0.0.1:0",
            "--grpc-keepalive-interval=1h30m",
            "--quota-backend-bytes=0x100000",
            "--log-level=debug",
            "--logger=zap",
        ],
        &[],
    )
    .config;
    assert_eq!(config.listen_peer_urls[0].port, 0);
    assert_eq!(config.grpc_keepalive_interval, Duration::from_secs(5400));
    assert_eq!(config.quota_backend_bytes, 1 << 20);
    assert_eq!(config.log_level, cairn_server::config::LogLevel::Debug);
    let _ = Config::default();
}
