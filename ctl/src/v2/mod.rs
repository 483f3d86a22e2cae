//! `ETCDCTL_API=2 cairnctl`: etcdctl 3.4.23's v2 command line (etcd's
//! `etcdctl/ctlv2`, built on urfave/cli v1) over etcd's v2 HTTP+JSON API,
//! through `cairn_client::v2`.
//!
//! ```text
//!   argv ─▶ global flags (Go flag) ─▶ -h / -v / help / unknown command
//!             │
//!             ▼ command (group ─▶ subcommand)
//!           reorder + parse its flags ─▶ -h: help (urfave templates)
//!             │
//!             ▼ Ctx { global, flags, args, env }
//!           keys / members / auth ─▶ output (print, errors, the client)
//! ```

pub mod auth;
pub mod flags;
pub mod help;
pub mod keys;
pub mod members;
pub mod output;
pub mod spec;

use std::future::Future;
use std::io::Write;

use cairn_client::v2::V2Error;
use flags::Values;
use output::{Fail, Outcome};
use spec::{find, Command, Flag, COMMANDS, GLOBAL_FLAGS, HELP_FLAG};

/// What a command runs with: the global flags, its own flags and
/// arguments, and the environment.
#[derive(Debug)]
pub struct Ctx {
    pub global: Values,
    pub flags: Values,
    pub args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Ctx {
    /// Environment variable `name` (empty when unset).
    pub fn env(&self, name: &str) -> String {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The environment, without `ETCDCTL_API` (which etcdctl unsets).
    pub fn environment(&self) -> impl Iterator<Item = &(String, String)> {
        self.env.iter().filter(|(k, _)| k != "ETCDCTL_API")
    }

    /// `-o`: simple, extended or json.
    pub fn output(&self) -> String {
        self.global.string("output")
    }

    /// `contextWithTotalTimeout`: `call` bounded by `--total-timeout`.
    pub async fn total<T>(
        &self,
        call: impl Future<Output = Result<T, V2Error>>,
    ) -> Result<T, V2Error> {
        let limit = self.global.duration("total-timeout");
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(V2Error::Deadline),
        }
    }
}

/// Runs a v2 command line (`args` without the program name); the exit
/// code.
pub fn run(args: &[String], env: &[(String, String)]) -> i32 {
    let global_flags: Vec<&'static Flag> = GLOBAL_FLAGS.iter().collect();
    let (global, rest) = match flags::parse(&global_flags, args) {
        Ok(parsed) => parsed,
        Err(error) => {
            print!("Incorrect Usage. {error}\n\n{}", help::app());
            eprintln!("{error}");
            return 1;
        }
    };
    if global.bool("help") {
        print!("{}", help::app());
        return 0;
    }
    if global.bool("version") {
        println!("etcdctl version: {}", crate::usage::VERSION);
        println!("API version: 2");
        return 0;
    }
    let Some(name) = rest.first() else {
        print!("{}", help::app());
        return 0;
    };
    if name == "help" || name == "h" {
        return help_topic(COMMANDS, "", &rest[1..]);
    }
    let Some(command) = find(COMMANDS, name) else {
        return no_topic(name);
    };
    let ctx = Ctx {
        global,
        flags: Values::default(),
        args: Vec::new(),
        env: env.to_vec(),
    };
    if command.subcommands.is_empty() {
        run_leaf(ctx, command.name.to_string(), command, &rest[1..])
    } else {
        run_group(ctx, command, &rest[1..])
    }
}

/// urfave/cli's help command: the help of the command `words` name.
fn help_topic(commands: &'static [Command], parent: &str, words: &[String]) -> i32 {
    let Some(word) = words.first() else {
        print!("{}", help::app());
        return 0;
    };
    match find(commands, word) {
        Some(command) => {
            let path = format!("{parent}{}", command.name);
            print!("{}", help::command(&path, command));
            0
        }
        None => no_topic(word),
    }
}

/// urfave/cli's answer to an unknown command (exit 3).
fn no_topic(word: &str) -> i32 {
    eprintln!("No help topic for '{word}'");
    3
}

/// A group (`member`, `user`, `role`, `auth`): urfave/cli runs it as an
/// app of its own whose only flag is `--help`.
fn run_group(ctx: Ctx, group: &'static Command, args: &[String]) -> i32 {
    let (values, rest) = match flags::parse(&[&HELP_FLAG], args) {
        Ok(parsed) => parsed,
        Err(error) => {
            print!("Incorrect Usage. {error}\n\n{}", help::group(group));
            eprintln!("{error}");
            return 1;
        }
    };
    let Some(name) = rest.first().filter(|_| !values.bool("help")) else {
        print!("{}", help::group(group));
        return 0;
    };
    if name == "help" || name == "h" {
        if rest.len() == 1 {
            print!("{}", help::group_app(group));
            return 0;
        }
        return help_topic(group.subcommands, &format!("{} ", group.name), &rest[1..]);
    }
    match find(group.subcommands, name) {
        Some(command) => run_leaf(
            ctx,
            format!("{} {}", group.name, command.name),
            command,
            &rest[1..],
        ),
        None => no_topic(name),
    }
}

/// A command without subcommands: its flags, then its action.
fn run_leaf(mut ctx: Ctx, path: String, command: &'static Command, args: &[String]) -> i32 {
    let mut all: Vec<&'static Flag> = command.flags.iter().collect();
    all.push(&HELP_FLAG);
    let ordered = flags::reorder(&all, args);
    match flags::parse(&all, &ordered) {
        Ok((values, positional)) => {
            ctx.flags = values;
            ctx.args = positional;
        }
        Err(error) => {
            print!(
                "Incorrect Usage: {error}\n\n{}",
                help::command(&path, command)
            );
            eprintln!("{error}");
            return 1;
        }
    }
    if ctx.flags.bool("help") {
        print!("{}", help::command(&path, command));
        return 0;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{error}");
            return 1;
        }
    };
    let result = runtime.block_on(dispatch(&path, &ctx));
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => 0,
        Err(fail) => {
            eprint!("{}", fail.stderr);
            fail.code
        }
    }
}

/// The action of the command at `path`.
async fn dispatch(path: &str, ctx: &Ctx) -> Outcome {
    match path {
        "backup" => Err(Fail::line(
            1,
            "cairnctl does not implement the v2 `backup` (it copies an etcd v2 data dir's \
             WAL and snapshot files, a format cairn does not store); use `ETCDCTL_API=3 \
             cairnctl snapshot save` (see docs/cairnctl.md)",
        )),
        "cluster-health" if ctx.flags.bool("forever") => {
            until_interrupted(members::cluster_health(ctx)).await
        }
        "cluster-health" => members::cluster_health(ctx).await,
        "member list" => members::list(ctx).await,
        "member add" => members::add(ctx).await,
        "member remove" => members::remove(ctx).await,
        "member update" => members::update(ctx).await,
        "watch" => until_interrupted(keys::watch(ctx)).await,
        "exec-watch" => until_interrupted(keys::exec_watch(ctx)).await,
        "ls" => keys::ls(ctx).await,
        "get" => keys::get(ctx).await,
        "mk" | "set" | "update" => keys::set(ctx, path).await,
        "mkdir" | "setdir" | "updatedir" => keys::mkdir(ctx, path).await,
        "rm" | "rmdir" => keys::rm(ctx, path).await,
        "auth enable" => auth::enable(ctx, true).await,
        "auth disable" => auth::enable(ctx, false).await,
        other if other.starts_with("user ") => auth::user(ctx, &other[5..]).await,
        other if other.starts_with("role ") => auth::role(ctx, &other[5..]).await,
        other => Err(Fail::line(1, format!("cairnctl: no action for `{other}`"))),
    }
}

/// etcdctl's watches (and `cluster-health --forever`) exit 0 on an
/// interrupt (Ctrl+C).
async fn until_interrupted(action: impl Future<Output = Outcome>) -> Outcome {
    tokio::select! {
        outcome = action => outcome,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
