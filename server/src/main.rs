//! The `cairn` binary: an etcd-compatible member, started exactly as `etcd`.

use std::process::ExitCode;
use std::sync::Arc;

use cairn_server::config::{self, Invocation, LogLevel, Logger as LoggerKind};
use cairn_server::logging::{Level, Logger};

fn main() -> ExitCode {
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
    let log = Arc::new(Logger::new(
        config.logger == LoggerKind::Zap,
        level,
        Box::new(std::io::stderr()),
    ));
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
    log.info("etcdmain", "etcd API Version: 3.4");
    let unsupported = config.unsupported_settings();
    if !unsupported.is_empty() {
        // Serving without what was asked for (TLS, auth, ...) would be worse
        // than not serving: refuse, and say exactly what is missing.
        for setting in &unsupported {
            log.error("etcdmain", setting);
        }
        log.error(
            "etcdmain",
            "cairn does not implement the settings above yet; refusing to start",
        );
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log.error("etcdmain", &format!("cannot start the runtime: {error}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cairn_server::run::run(config, log.clone())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            log.error("etcdmain", &reason);
            ExitCode::from(1)
        }
    }
}
