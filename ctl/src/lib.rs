//! cairnctl: etcdctl 3.4.23's command lines, output and exit codes, built on
//! cairn-client (docs/cairnctl.md lists what is done and what is not).
//!
//! ```text
//!   argv ──▶ run: find the command (cobra's walk) ── spec (the tree)
//!              │          └─ -h / groups / unknown ──▶ usage (help text,
//!              │                                        tabwriter)
//!              ▼
//!            flags::parse (pflag) ──▶ global::Global (ETCDCTL_* env,
//!              │                        output format, ClientConfig)
//!              ▼
//!            kv / txn / watch / lease / member / endpoint / maintenance
//!            snapshot / auth / user / role / lock / elect / check ...
//!              │                                  ── cairn_client::Client
//!              │
//!              ▼
//!            printer (simple, json, fields, table, protobuf)
//!   errors: exit::CtlError { code (ctlv3/command/error.go), text }
//! ```

pub mod auth;
pub mod check;
pub mod completion;
pub mod elect;
pub mod endpoint;
pub mod exit;
pub mod flags;
pub mod global;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod member;
pub mod mirror;
pub mod printer;
pub mod progress;
pub mod role;
pub mod snapshot;
pub mod snapshot_cluster;
pub mod snapshot_restore;
pub mod spec;
pub mod tabwriter;
pub mod tls_files;
pub mod txn;
pub mod usage;
pub mod user;
pub mod v2;
pub mod watch;

use std::io::{IsTerminal, Write};

use exit::{CtlError, EXIT_BAD_FEATURE, EXIT_ERROR};
use spec::{children_of, CommandSpec, GLOBAL_FLAGS};

/// Runs one cairnctl command line (`args` without the program name) with
/// environment `env`; returns the exit code. Output goes to stdout/stderr.
pub fn run(args: &[String], env: &[(String, String)]) -> i32 {
    // etcdctl's main: ETCDCTL_API picks the v2 or the v3 command line.
    match env.iter().rev().find(|(k, _)| k == "ETCDCTL_API") {
        Some((_, api)) if api == "2" => return v2::run(args, env),
        Some((_, api)) if !api.is_empty() && api != "3" => {
            eprintln!("unsupported API version {api}");
            return EXIT_ERROR;
        }
        _ => {}
    }
    let (command, rest) = match find_command(args) {
        Ok(found) => found,
        Err(word) => {
            let message = format!("unknown command {word:?} for \"etcdctl\"");
            eprint!("Error: {message}\nRun 'etcdctl --help' for usage.\nError: {message}\n");
            return EXIT_ERROR;
        }
    };
    let mut all_flags: Vec<flags::Flag> = command.map_or(&[][..], |c| c.flags).to_vec();
    all_flags.extend(spec::inherited_flags(command.map_or("", |c| c.path)));
    all_flags.extend_from_slice(GLOBAL_FLAGS);
    let parsed = match flags::parse(&all_flags, &rest) {
        Ok(parsed) => parsed,
        Err(message) => {
            print!("{}", usage::help(command));
            eprint!("Error: {message}\n\nError: {message}\n");
            return EXIT_ERROR;
        }
    };
    let Some(command) = command else {
        print!("{}", usage::help(None));
        return 0;
    };
    if parsed.help || command.is_group() {
        print!("{}", usage::help(Some(command)));
        return 0;
    }
    if command.path == "help" {
        return help_command(&parsed.positional);
    }
    if !command.done {
        return report(CtlError::new(
            EXIT_BAD_FEATURE,
            format!(
                "cairnctl does not implement `{}` yet (see docs/cairnctl.md)",
                command.path
            ),
        ));
    }
    let result = match command.path {
        "version" => {
            println!("etcdctl version: {}", usage::VERSION);
            println!("API version: {}", usage::API_VERSION);
            Ok(())
        }
        "completion bash" | "completion fish" | "completion powershell" | "completion zsh" => {
            completion::completion(command, parsed.values.bool("no-descriptions"))
        }
        _ => dispatch(command, parsed, env),
    };
    match result {
        Ok(()) => 0,
        Err(error) => report(error),
    }
}

/// Runs a command that talks to the cluster.
fn dispatch(
    command: &CommandSpec,
    parsed: flags::Parsed,
    env: &[(String, String)],
) -> Result<(), CtlError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::new(EXIT_ERROR, e.to_string()))?;
    let args = parsed.positional.clone();
    let mut values = parsed.values;
    let result = runtime.block_on(async {
        match command.path {
            "put" => kv::put(&mut values, &args, env).await,
            "get" => kv::get(&mut values, &args, env).await,
            "del" => kv::del(&mut values, &args, env).await,
            "compaction" => kv::compaction(&mut values, &args, env).await,
            "lease grant" => lease::grant(&mut values, &args, env).await,
            "lease revoke" => lease::revoke(&mut values, &args, env).await,
            "lease timetolive" => lease::time_to_live(&mut values, &args, env).await,
            "lease list" => lease::list(&mut values, &args, env).await,
            "lease keep-alive" => lease::keep_alive(&mut values, &args, env).await,
            "member list" => member::list(&mut values, &args, env).await,
            "member add" => member::add(&mut values, &args, env).await,
            "member remove" => member::remove(&mut values, &args, env).await,
            "member update" => member::update(&mut values, &args, env).await,
            "member promote" => member::promote(&mut values, &args, env).await,
            "endpoint health" => endpoint::health(&mut values, &args, env).await,
            "endpoint status" => endpoint::status(&mut values, &args, env).await,
            "endpoint hashkv" => endpoint::hashkv(&mut values, &args, env).await,
            "alarm list" => maintenance::alarm_list(&mut values, &args, env).await,
            "alarm disarm" => maintenance::alarm_disarm(&mut values, &args, env).await,
            "defrag" => maintenance::defrag(&mut values, &args, env).await,
            "move-leader" => maintenance::move_leader(&mut values, &args, env).await,
            "txn" => txn::txn(&mut values, &args, env).await,
            "watch" => watch::watch(&mut values, &args, env).await,
            "auth enable" => auth::enable(&mut values, &args, env).await,
            "auth disable" => auth::disable(&mut values, &args, env).await,
            "user add" => user::add(&mut values, &args, env).await,
            "user delete" => user::delete(&mut values, &args, env).await,
            "user get" => user::get(&mut values, &args, env).await,
            "user list" => user::list(&mut values, &args, env).await,
            "user passwd" => user::passwd(&mut values, &args, env).await,
            "user grant-role" => user::grant_role(&mut values, &args, env).await,
            "user revoke-role" => user::revoke_role(&mut values, &args, env).await,
            "role add" => role::add(&mut values, &args, env).await,
            "role delete" => role::delete(&mut values, &args, env).await,
            "role get" => role::get(&mut values, &args, env).await,
            "role list" => role::list(&mut values, &args, env).await,
            "role grant-permission" => role::grant_permission(&mut values, &args, env).await,
            "role revoke-permission" => role::revoke_permission(&mut values, &args, env).await,
            "lock" => lock::lock(&mut values, &args, env).await,
            "elect" => elect::elect(&mut values, &args, env).await,
            "make-mirror" => mirror::make_mirror(&mut values, &args, env).await,
            "check perf" => check::perf(&mut values, &args, env).await,
            "check datascale" => check::datascale(&mut values, &args, env).await,
            "snapshot save" => snapshot::save(&mut values, &args, env).await,
            "snapshot status" => snapshot::status(&values, &args),
            "snapshot restore" => snapshot_restore::restore(&values, &args),
            other => Err(CtlError::new(
                EXIT_BAD_FEATURE,
                format!("cairnctl does not implement `{other}` yet"),
            )),
        }
    });
    result.map_err(|error| permission_hint(error, &values, command, &args))
}

/// A permission error, named: which user asked for what on which key
/// (etcd's text names neither).
fn permission_hint(
    error: CtlError,
    values: &flags::Values,
    command: &CommandSpec,
    args: &[String],
) -> CtlError {
    if !error.message.ends_with("permission denied") || error.hint.is_some() {
        return error;
    }
    let user = values.string("user");
    let user = user.split(':').next().unwrap_or_default();
    let who = if user.is_empty() {
        "this client (no --user, no certificate common name)".to_string()
    } else {
        format!("user {user:?}")
    };
    let target = match args.first() {
        Some(key) => format!("`{}` on key {key:?}", command.path),
        None => format!("`{}`", command.path),
    };
    error.with_hint(format!(
        "{who} may not run {target}: its roles (`cairnctl user get {user} --detail`) \
         need a permission covering that key, or the root role"
    ))
}

/// `help [command]`: the help of the command the words name.
fn help_command(words: &[String]) -> i32 {
    match find_command(words) {
        Ok((command, _)) => print!("{}", usage::help(command)),
        Err(_) => print!("{}", usage::help(None)),
    }
    0
}

/// Prints `Error: <text>` on stderr; the exit code.
fn report(error: CtlError) -> i32 {
    let _ = std::io::stdout().flush();
    if !error.message.is_empty() {
        eprintln!("Error: {}", error.message);
    }
    if let Some(hint) = error.hint.filter(|_| std::io::stderr().is_terminal()) {
        eprintln!("hint: {hint}");
    }
    error.code
}

/// cobra's walk down the tree: the first word that is not a flag (nor a
/// flag's value) names a child, by name or by an unambiguous prefix; its
/// first occurrence is removed. `Err(word)`: the root was given an unknown
/// command.
fn find_command(args: &[String]) -> Result<(Option<&'static CommandSpec>, Vec<String>), String> {
    let mut current: Option<&'static CommandSpec> = None;
    let mut rest: Vec<String> = args.to_vec();
    loop {
        let path = current.map_or("", |c| c.path);
        let words = strip_flags(&rest, current);
        let Some(word) = words.first() else { break };
        let children = children_of(path);
        let exact = children.iter().find(|c| c.name() == word.as_str());
        let prefixed: Vec<_> = children
            .iter()
            .filter(|c| c.name().starts_with(word.as_str()))
            .collect();
        let next = match (exact, prefixed.as_slice()) {
            (Some(child), _) => Some(*child),
            (None, [only]) => Some(**only),
            _ => None,
        };
        match next {
            Some(child) => {
                if let Some(at) = rest.iter().position(|a| a == word) {
                    rest.remove(at);
                }
                current = Some(child);
            }
            None if current.is_none() => return Err(word.clone()),
            None => break,
        }
    }
    Ok((current, rest))
}

/// cobra's `stripFlags`: the words that are not flags, skipping the value
/// after a flag given without `=` unless it is a boolean flag.
fn strip_flags(args: &[String], command: Option<&CommandSpec>) -> Vec<String> {
    let inherited = spec::inherited_flags(command.map_or("", |c| c.path));
    let is_bool = |name: &str| {
        name == "help"
            || GLOBAL_FLAGS
                .iter()
                .chain(command.map_or(&[][..], |c| c.flags))
                .chain(&inherited)
                .any(|f| f.name == name && flags::takes_no_value(f))
    };
    let is_bool_short = |short: &str| {
        short == "h"
            || GLOBAL_FLAGS.iter().any(|f| {
                f.short.map(String::from).as_deref() == Some(short) && flags::takes_no_value(f)
            })
    };
    let mut words = Vec::new();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        if arg == "--" {
            break;
        }
        let takes_value = if let Some(long) = arg.strip_prefix("--") {
            !arg.contains('=') && !is_bool(long)
        } else if arg.starts_with('-') && arg.len() == 2 {
            !is_bool_short(&arg[1..])
        } else {
            false
        };
        if takes_value {
            if args.len() - index <= 1 {
                break;
            }
            index += 1;
        } else if !arg.is_empty() && !arg.starts_with('-') {
            words.push(arg.clone());
        }
    }
    words
}
