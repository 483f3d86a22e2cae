//! `watch [options] [key or prefix] [range_end] [--] [exec-command ...]`
//! and `watch -i` (ctlv3/command/watch_command.go): one watch stream per
//! watch, its responses printed as they come; the exec form runs a command
//! per event with `ETCD_WATCH_*` set; a canceled watch ends the command
//! with exit 5.
//!
//! ```text
//!   argv ─▶ parse_args (os args after "watch": "--" splits off the command;
//!          ETCDCTL_WATCH_KEY / _RANGE_END stand for the key)
//!        ─▶ Watch stream ─▶ print (simple: PUT\nkey\nvalue, json, fields)
//!                         └▶ exec: ETCD_WATCH_REVISION, _EVENT_TYPE, _KEY, _VALUE
//!   -i: stdin lines "watch [flags] key ..." each start a watch (a task)
//! ```

use std::io::Write;

use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;
use tokio_stream::StreamExt;

use crate::exit::{CtlError, EXIT_BAD_ARGS, EXIT_INTERRUPTED, EXIT_INVALID_INPUT};
use crate::flags::Values;
use crate::global::{connect, Format, Global};
use crate::kv::prefix_end;
use crate::printer::{self, JsonObject};
use crate::spec::COMMANDS;
use crate::txn::argify;

type Env = [(String, String)];

const BAD_NUM: &str = "bad number of arguments";
const BAD_NUM_ENV: &str = "bad number of arguments (found conflicting environment key)";
const BAD_NUM_SEP: &str = "bad number of arguments (found separator --, but no commands)";

/// The options of one watch.
#[derive(Debug, Clone, Default)]
struct Options {
    prefix: bool,
    rev: i64,
    prev_kv: bool,
}

fn lookup(env: &Env, key: &str) -> String {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// `watch`.
pub async fn watch(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let env_key = lookup(env, "ETCDCTL_WATCH_KEY");
    let env_range = lookup(env, "ETCDCTL_WATCH_RANGE_END");
    if env_key.is_empty() && !env_range.is_empty() {
        return Err(CtlError::bad_args(format!(
            "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={env_range:?}"
        )));
    }
    let env: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| !k.starts_with("ETCDCTL_WATCH_"))
        .cloned()
        .collect();
    let options = Options {
        prefix: values.bool("prefix"),
        rev: values.int("rev"),
        prev_kv: values.bool("prev-kv"),
    };
    if values.bool("interactive") {
        let global = connect(values, &env).await?;
        return interactive(global, options, &env_key, &env_range).await;
    }
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let raw = match raw.iter().position(|a| a == "watch") {
        Some(at) => raw[at + 1..].to_vec(),
        None => raw,
    };
    let (watch_args, exec_args) =
        parse_args(&raw, args, &env_key, &env_range).map_err(CtlError::bad_args)?;
    let global = connect(values, &env).await?;
    let request = create_request(&watch_args, &options).map_err(CtlError::bad_args)?;
    run_watch(&global, request, &exec_args).await?;
    Err(CtlError::new(
        EXIT_INTERRUPTED,
        "watch is canceled by the server",
    ))
}

/// etcdctl's `parseWatchArgs` for the command line: the key arguments and
/// the command after `--`.
fn parse_args(
    raw: &[String],
    args: &[String],
    env_key: &str,
    env_range: &str,
) -> Result<(Vec<String>, Vec<String>), &'static str> {
    let separator = raw.iter().position(|a| a == "--");
    if separator == Some(raw.len().wrapping_sub(1)) {
        return Err(BAD_NUM_SEP);
    }
    if separator.is_none() && raw.is_empty() && env_key.is_empty() {
        return Err(BAD_NUM);
    }
    if let (Some(sep), false) = (separator, env_key.is_empty()) {
        let mut r = raw.len() - 1;
        for word in args.iter().rev() {
            if word == &raw[r] {
                r = r.saturating_sub(1);
                continue;
            }
            if r == sep {
                return Err(BAD_NUM_ENV);
            }
        }
    }
    if separator.is_none() && !args.is_empty() && !env_key.is_empty() {
        return Err(BAD_NUM_ENV);
    }
    let exec: Vec<String> = separator.map_or(Vec::new(), |at| raw[at + 1..].to_vec());
    let mut watch_args = Vec::new();
    if !env_key.is_empty() {
        watch_args.push(env_key.to_string());
        if !env_range.is_empty() {
            watch_args.push(env_range.to_string());
        }
    }
    watch_args.extend(args.iter().cloned());
    if let Some(first) = exec.first() {
        let end = watch_args.iter().rposition(|a| a == first).unwrap_or(0);
        watch_args.truncate(end);
    }
    Ok((watch_args, exec))
}

/// The create request of `watch key [range_end]` with `options`.
fn create_request(args: &[String], options: &Options) -> Result<pb::WatchCreateRequest, String> {
    let Some(key) = args.first() else {
        return Err(BAD_NUM.to_string());
    };
    let mut key = key.clone().into_bytes();
    let mut range_end = Vec::new();
    if args.len() == 2 {
        if options.prefix {
            return Err("`range_end` and `--prefix` are mutually exclusive".to_string());
        }
        range_end = args[1].clone().into_bytes();
    }
    if options.prefix {
        if key.is_empty() {
            key = vec![0];
            range_end = vec![0];
        } else {
            range_end = prefix_end(&key);
        }
    }
    Ok(pb::WatchCreateRequest {
        key: key.into(),
        range_end: range_end.into(),
        start_revision: options.rev,
        prev_kv: options.prev_kv,
        ..Default::default()
    })
}

/// Opens one watch and prints its responses until it ends.
async fn run_watch(
    global: &Global,
    request: pb::WatchCreateRequest,
    exec: &[String],
) -> Result<(), CtlError> {
    let create = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(request)),
    };
    // The request stream stays open (a closed one would end the watch).
    let requests = tokio_stream::iter(vec![create]).chain(tokio_stream::pending());
    let mut responses = match global.client.watch().watch(requests).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            eprintln!("watch was canceled ({})", global.rpc_error(&status));
            return Ok(());
        }
    };
    while let Some(item) = responses.next().await {
        let response = match item {
            Ok(response) => response,
            Err(status) => {
                eprintln!(
                    "watch was canceled ({})",
                    crate::global::error_text(&status)
                );
                return Ok(());
            }
        };
        if response.created && !response.canceled && response.events.is_empty() {
            continue;
        }
        print_response(global.format, global.hex, &response, exec)?;
        if response.canceled {
            return Ok(());
        }
    }
    Ok(())
}

/// clientv3's `WatchResponse.Err()` text of a canceled watch.
fn cancel_text(response: &pb::WatchResponse) -> String {
    if response.compact_revision != 0 {
        "etcdserver: mvcc: required revision has been compacted".to_string()
    } else if !response.cancel_reason.is_empty() {
        response.cancel_reason.clone()
    } else {
        "etcdserver: mvcc: required revision is a future revision".to_string()
    }
}

fn event_type(event: &mvccpb::Event) -> &'static str {
    if event.r#type == 1 {
        "DELETE"
    } else {
        "PUT"
    }
}

/// etcdctl's `printWatchCh` for one response.
fn print_response(
    format: Format,
    hex: bool,
    response: &pb::WatchResponse,
    exec: &[String],
) -> Result<(), CtlError> {
    let revision = response.header.as_ref().map_or(0, |h| h.revision);
    if response.canceled {
        eprintln!("watch was canceled ({})", cancel_text(response));
    }
    let progress = response.events.is_empty()
        && !response.canceled
        && !response.created
        && response.compact_revision == 0;
    if progress {
        println!("progress notify: {revision}");
    }
    match format {
        Format::Simple | Format::Table => {
            for event in &response.events {
                println!("{}", event_type(event));
                if let Some(prev) = &event.prev_kv {
                    printer::simple_kv(hex, false, prev);
                }
                printer::simple_kv(hex, false, &event.kv.clone().unwrap_or_default());
            }
        }
        Format::Json => println!("{}", watch_json(response)),
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            for event in &response.events {
                println!("\"Type\" : {}", event_type(event));
                if let Some(prev) = &event.prev_kv {
                    printer::fields_kv("Prev", prev);
                }
                printer::fields_kv("", &event.kv.clone().unwrap_or_default());
            }
        }
        Format::Protobuf => {
            use prost::Message;
            printer::write_raw(&response.encode_to_vec());
        }
    }
    let _ = std::io::stdout().flush();
    if let Some((program, rest)) = exec.split_first() {
        for event in &response.events {
            let kv = event.kv.clone().unwrap_or_default();
            let status = std::process::Command::new(program)
                .args(rest)
                .env("ETCD_WATCH_REVISION", revision.to_string())
                .env(
                    "ETCD_WATCH_EVENT_TYPE",
                    format!("\"{}\"", event_type(event)),
                )
                .env("ETCD_WATCH_KEY", printer::go_quote(&kv.key))
                .env("ETCD_WATCH_VALUE", printer::go_quote(&kv.value))
                .status();
            let failure = match status {
                Ok(status) if status.success() => None,
                Ok(status) => Some(match status.code() {
                    Some(code) => format!("exit status {code}"),
                    None => "signal: killed".to_string(),
                }),
                Err(error) => Some(format!("exec: {program:?}: {error}")),
            };
            if let Some(why) = failure {
                let quoted: Vec<String> = exec.iter().map(|a| format!("{a:?}")).collect();
                eprintln!("command [{}] error ({why})", quoted.join(" "));
                return Err(CtlError::new(1, ""));
            }
        }
    }
    Ok(())
}

/// Go's JSON of clientv3's WatchResponse.
fn watch_json(response: &pb::WatchResponse) -> String {
    let events: Vec<String> = response
        .events
        .iter()
        .map(|e| {
            let mut object = JsonObject::new().num("type", e.r#type);
            if let Some(kv) = &e.kv {
                object = object.raw("kv", printer::kv_json(kv));
            }
            if let Some(prev) = &e.prev_kv {
                object = object.raw("prev_kv", printer::kv_json(prev));
            }
            object.build()
        })
        .collect();
    JsonObject::new()
        .raw("Header", printer::header_json(response.header.as_ref()))
        .raw("Events", format!("[{}]", events.join(",")))
        .raw("CompactRevision", response.compact_revision.to_string())
        .raw("Canceled", response.canceled.to_string())
        .raw("Created", response.created.to_string())
        .build()
}

/// `watch -i`: one watch per `watch ...` line on stdin, until stdin ends
/// (exit 3, as etcdctl).
async fn interactive(
    global: Global,
    _options: Options,
    env_key: &str,
    env_range: &str,
) -> Result<(), CtlError> {
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<std::io::Result<String>>();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        loop {
            let mut line = String::new();
            match stdin.read_line(&mut line) {
                Ok(0) => {
                    let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "EOF");
                    let _ = lines_tx.send(Err(eof));
                    return;
                }
                Ok(_) if !line.ends_with('\n') => {
                    let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "EOF");
                    let _ = lines_tx.send(Err(eof));
                    return;
                }
                Ok(_) => {
                    if lines_tx.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    let _ = lines_tx.send(Err(error));
                    return;
                }
            }
        }
    });
    let global = std::sync::Arc::new(global);
    let spec = COMMANDS.iter().find(|c| c.path == "watch");
    while let Some(line) = lines.recv().await {
        let line = line.map_err(|e| {
            CtlError::new(
                EXIT_INVALID_INPUT,
                format!("Error reading watch request line: {e}"),
            )
        })?;
        let line = line.strip_suffix('\n').unwrap_or(&line).to_string();
        let words = argify(&line);
        match words.first().map(String::as_str) {
            None => eprintln!("Invalid command: {line} (watch and progress supported)"),
            Some("watch") => {
                if words.len() < 2 && env_key.is_empty() {
                    eprintln!("Invalid command {line} (command type or key is not provided)");
                    continue;
                }
                let rest = &words[1..];
                let separator = rest.iter().position(|a| a == "--");
                if separator == Some(rest.len().wrapping_sub(1)) {
                    return Err(CtlError::new(EXIT_BAD_ARGS, BAD_NUM_SEP));
                }
                let parsed = crate::flags::parse(spec.map_or(&[][..], |s| s.flags), rest)
                    .map_err(|e| CtlError::new(EXIT_BAD_ARGS, e))?;
                let mut positional = parsed.positional;
                if separator.is_none() && env_key.is_empty() && positional.is_empty() {
                    return Err(CtlError::new(EXIT_BAD_ARGS, BAD_NUM));
                }
                if separator.is_none() && !positional.is_empty() && !env_key.is_empty() {
                    return Err(CtlError::new(EXIT_BAD_ARGS, BAD_NUM_ENV));
                }
                let exec: Vec<String> = separator.map_or(Vec::new(), |at| rest[at + 1..].to_vec());
                let options = Options {
                    prefix: parsed.values.bool("prefix"),
                    rev: parsed.values.int("rev"),
                    prev_kv: parsed.values.bool("prev-kv"),
                };
                let mut watch_args = Vec::new();
                if !env_key.is_empty() {
                    watch_args.push(env_key.to_string());
                    if !env_range.is_empty() {
                        watch_args.push(env_range.to_string());
                    }
                }
                watch_args.append(&mut positional);
                if let Some(first) = exec.first() {
                    let end = watch_args.iter().rposition(|a| a == first).unwrap_or(0);
                    watch_args.truncate(end);
                }
                let request = match create_request(&watch_args, &options) {
                    Ok(request) => request,
                    Err(why) => {
                        eprintln!("Invalid command {line} ({why})");
                        continue;
                    }
                };
                let global = global.clone();
                tokio::spawn(async move {
                    if let Err(error) = run_watch(&global, request, &exec).await {
                        std::process::exit(error.code);
                    }
                });
            }
            Some("progress") => {}
            Some(_) => eprintln!("Invalid command {line} (only support watch)"),
        }
    }
    Ok(())
}
