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
//!            kv / txn / watch / lease / member ── cairn_client::Client
//!              │
//!              ▼
//!            printer (simple, json, fields, table, protobuf)
//!   errors: exit::CtlError { code (ctlv3/command/error.go), text }
//! ```

pub mod exit;
pub mod flags;
pub mod global;
pub mod kv;
pub mod lease;
pub mod member;
pub mod printer;
pub mod spec;
pub mod tabwriter;
pub mod txn;
pub mod usage;
pub mod v2;
pub mod watch;

use std::io::Write;

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
    runtime.block_on(async move {
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
            "txn" => txn::txn(&mut values, &args, env).await,
            "watch" => watch::watch(&mut values, &args, env).await,
            other => Err(CtlError::new(
                EXIT_BAD_FEATURE,
                format!("cairnctl does not implement `{other}` yet"),
            )),
        }
    })
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
    let is_bool = |name: &str| {
        name == "help"
            || GLOBAL_FLAGS
                .iter()
                .chain(command.map_or(&[][..], |c| c.flags))
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
