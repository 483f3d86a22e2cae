//! Start-up steps the `cairn` binary's three commands share (the member,
//! `gateway start`, `grpc-proxy start`).

use std::process::ExitCode;

use crate::logging::Logger;

/// Logs each setting cairn does not implement and the refusal, as the
/// member does; `Err` with the exit code when there is any.
pub fn refuse_unimplemented(log: &Logger, refused: &[String]) -> Result<(), ExitCode> {
    if refused.is_empty() {
        return Ok(());
    }
    for setting in refused {
        log.error("etcdmain", setting);
    }
    log.error(
        "etcdmain",
        "cairn does not implement the settings above yet; refusing to start",
    );
    Err(ExitCode::from(1))
}

/// The multi-threaded runtime the commands run on; its error goes to
/// `report` and the exit code is 1.
pub fn runtime(report: impl FnOnce(&str)) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            report(&format!("cannot start the runtime: {error}"));
            ExitCode::from(1)
        })
}
