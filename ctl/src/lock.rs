//! `lock <lockname> [exec-command arg1 arg2 ...]` (ctlv3/command/lock_command.go)
//! on cairn-client's concurrency recipes (a [`Session`] with `--ttl`, a
//! [`Mutex`] named `<lockname>`).
//!
//! ```text
//!   Session(ttl) ─▶ Mutex::lock ─┬─ command given: run it with ETCD_LOCK_KEY /
//!                                │  ETCD_LOCK_REV, unlock, "exit status N" if it failed
//!                                └─ none: print the lock key (as `get` does), hold
//!                                   until SIGINT/SIGTERM (unlock, exit 0) or the
//!                                   session ends ("session expired", exit 1)
//!   a signal while waiting for the lock: "context canceled", exit 1
//! ```
//!
//! Also home of what lock and elect share: the signal wait and the
//! translation of a recipe's error into etcdctl's.

use cairn_client::concurrency::{Error as RecipeError, Mutex, Session, SessionOptions};
use cairn_proto::etcdserverpb as pb;

use crate::exit::{CtlError, EXIT_ERROR};
use crate::flags::Values;
use crate::global::{connect, Global};
use crate::kv::print_get;

type Env = [(String, String)];

/// Resolves on the first SIGINT or SIGTERM (etcdctl's `signal.Notify`); never
/// when the handlers cannot be installed.
pub async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// A recipe's failure as etcdctl reports it (exit 1): a failed call with
/// clientv3's warning and text, the recipe's own errors with etcd's texts.
pub fn recipe_error(global: &Global, error: RecipeError) -> CtlError {
    let text = match error {
        RecipeError::Status(status) => global.rpc_error(&status),
        other => other.to_string(),
    };
    CtlError::new(EXIT_ERROR, text)
}

/// etcdctl's `context canceled`: a signal arrived while waiting.
pub fn canceled() -> CtlError {
    CtlError::new(EXIT_ERROR, "context canceled")
}

/// Gets `key` and prints it as `get` would (etcdctl's `display.Get`).
pub async fn print_key(global: &Global, key: &[u8]) -> Result<pb::RangeResponse, CtlError> {
    let request = pb::RangeRequest {
        key: key.to_vec().into(),
        ..Default::default()
    };
    let response = global
        .client
        .kv()
        .range(request)
        .await
        .map_err(|status| global.failed(&status))?
        .into_inner();
    if !response.kvs.is_empty() {
        print_get(global.format, global.hex, false, &response)?;
    }
    Ok(response)
}

/// `lock`.
pub async fn lock(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let Some((name, command)) = args.split_first() else {
        return Err(CtlError::bad_args(
            "lock takes a lock name argument and an optional command to execute",
        ));
    };
    let ttl = values.int("ttl");
    let global = connect(values, env).await?;
    let session = Session::new(&global.client, SessionOptions::default().with_ttl(ttl))
        .await
        .map_err(|e| recipe_error(&global, e))?;
    let mut mutex = Mutex::new(&session, name.as_bytes());
    let signal = interrupted();
    tokio::pin!(signal);
    let locked = tokio::select! {
        locked = mutex.lock() => Some(locked),
        _ = &mut signal => None,
    };
    match locked {
        Some(Ok(())) => {}
        Some(Err(error)) => return Err(recipe_error(&global, error)),
        None => {
            // Abandoned while waiting: take our key out of the queue.
            let _ = mutex.unlock().await;
            return Err(canceled());
        }
    }
    if !command.is_empty() {
        let ran = run_command(command, &mutex).await;
        let unlocked = mutex.unlock().await;
        ran?;
        return unlocked.map_err(|e| recipe_error(&global, e));
    }
    let held = print_key(&global, mutex.key()).await?;
    if held.kvs.is_empty() {
        return Err(CtlError::new(EXIT_ERROR, "lock lost on init"));
    }
    tokio::select! {
        _ = signal => mutex.unlock().await.map_err(|e| recipe_error(&global, e)),
        _ = session.done() => Err(CtlError::new(EXIT_ERROR, "session expired")),
    }
}

/// Runs the exec form's command with the lock's key and revision in its
/// environment, its output going to ours; Go's `exec` error text if it
/// fails.
async fn run_command(command: &[String], mutex: &Mutex) -> Result<(), CtlError> {
    let Some((program, rest)) = command.split_first() else {
        return Err(CtlError::bad_args("no command to run"));
    };
    let revision = mutex.header().map_or(0, |h| h.revision);
    let child = tokio::process::Command::new(program)
        .args(rest)
        .env(
            "ETCD_LOCK_KEY",
            String::from_utf8_lossy(mutex.key()).into_owned(),
        )
        .env("ETCD_LOCK_REV", revision.to_string())
        .status();
    exec_result(program, child.await)
}

/// Go's `exec.Cmd.Run` error for a finished (or unstartable) command.
pub fn exec_result(
    program: &str,
    status: std::io::Result<std::process::ExitStatus>,
) -> Result<(), CtlError> {
    use std::os::unix::process::ExitStatusExt;
    let why = match status {
        Ok(status) if status.success() => return Ok(()),
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("signal: {}", signal_name(signal)),
            (None, None) => "signal: killed".to_string(),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !program.contains('/') => {
            format!("exec: {program:?}: executable file not found in $PATH")
        }
        Err(error) => format!("fork/exec {program}: {}", go_errno_text(&error)),
    };
    Err(CtlError::new(EXIT_ERROR, why))
}

/// Go's `syscall.Signal.String()` for the common signals.
fn signal_name(signal: i32) -> String {
    match signal {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        6 => "aborted".into(),
        9 => "killed".into(),
        11 => "segmentation fault".into(),
        13 => "broken pipe".into(),
        15 => "terminated".into(),
        other => format!("signal {other}"),
    }
}

/// Go's errno texts (lower-case, without Rust's " (os error N)").
fn go_errno_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
