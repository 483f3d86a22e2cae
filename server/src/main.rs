//! The `cairn` binary: an etcd-compatible member, started exactly as `etcd`.

use std::process::ExitCode;
use std::sync::Arc;

use cairn_server::config::{self, Invocation, LogLevel, Logger as LoggerKind};
use cairn_server::logging::{Level, Logger};

fn main() -> ExitCode {
    // etcd's proxy subcommands, with flags of their own.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    if args.first().map(String::as_str) == Some("gateway") {
        return cairn_server::tcp_gateway::main(&args[1..]);
    }
    if args.first().is_some_and(|first| first == "grpc-proxy") {
        return cairn_server::grpc_proxy::main(&args[1..]);
    }
    let loaded = match config::load_from_process() {
        Ok(Invocation::Help) => {
            eprint!("{}", config::usage_text());
            print!("{}", config::flags_text());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Version) => {
            print!("{}", config::version_text());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Run(loaded)) => loaded,
        Err(error) => {
            if error.shows_usage() {
                eprintln!("{error}");
                eprint!("{}", config::usage_text());
            } else {
                eprintln!("error verifying flags, {error}. See 'cairn --help'.");
            }
            return ExitCode::from(error.exit_code());
        }
    };
    let config = loaded.config;
    let level = match config.log_level_effective() {
        LogLevel::Debug => Level::Debug,
        LogLevel::Info => Level::Info,
        LogLevel::Warn => Level::Warning,
        _ => Level::Error,
    };
    let output = match log_output(&config.log_outputs) {
        Ok(output) => output,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(1);
        }
    };
    let log = Arc::new(Logger::new(config.logger == LoggerKind::Zap, level, output));
    for notice in &loaded.notices {
        log.info("etcdmain", notice);
    }
    for warning in &loaded.warnings {
        log.warn("etcdmain", warning);
    }
    log.info(
        "etcdmain",
        &format!("cairn Version: {}", env!("CARGO_PKG_VERSION")),
    );
    log.info(
        "etcdmain",
        &format!(
            "etcd API Version: {}",
            cairn_server::version::ETCD_API_VERSION
        ),
    );
    // Settings of features cairn does not implement yet: where ignoring one
    // would change what the cluster does (a proxy would start as a member,
    // the v2 API would not answer), the start stops, naming it; tuning knobs of etcd's own
    // storage are accepted with a warning that says what is not done.
    let refused = config.refused_settings();
    let warned = config.unsupported_settings();
    for setting in &warned {
        log.warn("etcdmain", &format!("{setting}; continuing without it"));
    }
    if let Err(code) = cairn_server::process::refuse_unimplemented(&log, &refused) {
        return code;
    }
    let runtime = match cairn_server::process::runtime(|text| log.error("etcdmain", text)) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    // etcd's choice by the data directory: a member's stays a member, a
    // proxy's or an empty one follows --proxy.
    let proxy =
        config.proxy != config::ProxyMode::Off && !config.data_dir_path().join("member").exists();
    if config.proxy != config::ProxyMode::Off && !proxy {
        log.warn(
            "etcdmain",
            "the data directory holds a member: starting the member, not the proxy",
        );
    }
    let started = if proxy {
        runtime.block_on(cairn_server::v2::proxy::run(config, log.clone()))
    } else {
        runtime.block_on(cairn_server::run::run(config, log.clone()))
    };
    match started {
        Ok(()) => ExitCode::SUCCESS,
        // etcd exits cleanly once it has been removed from its cluster.
        Err(reason) if reason == cairn_runtime_tokio::MEMBER_REMOVED => {
            log.notice("etcdmain", &reason);
            ExitCode::SUCCESS
        }
        Err(reason) => {
            log.error("etcdmain", &reason);
            ExitCode::from(1)
        }
    }
}

/// Where `--log-outputs` sends log lines: `default` and `stderr` to standard
/// error, `stdout` to standard output, anything else is a file appended to.
/// Several outputs each get every line.
fn log_output(outputs: &[String]) -> Result<Box<dyn std::io::Write + Send>, String> {
    let mut sinks: Vec<Box<dyn std::io::Write + Send>> = Vec::new();
    for output in outputs {
        match output.as_str() {
            "default" | "stderr" | "" => sinks.push(Box::new(std::io::stderr())),
            "stdout" => sinks.push(Box::new(std::io::stdout())),
            path => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open log output {path}: {e}"))?;
                sinks.push(Box::new(file));
            }
        }
    }
    if sinks.is_empty() {
        sinks.push(Box::new(std::io::stderr()));
    }
    Ok(Box::new(Tee(sinks)))
}

/// Writes every line to each sink.
struct Tee(Vec<Box<dyn std::io::Write + Send>>);

impl std::io::Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for sink in &mut self.0 {
            sink.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for sink in &mut self.0 {
            sink.flush()?;
        }
        Ok(())
    }
}
