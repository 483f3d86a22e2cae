//! urfave/cli v1's help texts (its `AppHelpTemplate`,
//! `CommandHelpTemplate` and `SubcommandHelpTemplate`) for the v2 tree;
//! columns aligned as Go's tabwriter does with urfave's settings (padding
//! 2, spaces), each block of lines on its own.

use super::spec::{Command, Flag, Kind, COMMANDS, GLOBAL_FLAGS, HELP_FLAG};
use crate::usage::VERSION;

/// `etcdctl --help`.
pub fn app() -> String {
    let mut commands: Vec<(String, String)> = COMMANDS
        .iter()
        .map(|c| (c.name.to_string(), c.usage.to_string()))
        .collect();
    commands.push((
        "help, h".to_string(),
        "Shows a list of commands or help for one command".to_string(),
    ));
    format!(
        "NAME:\n   etcdctl - A simple command line client for etcd.\n\nUSAGE:\n   \
         etcdctl [global options] command [command options] [arguments...]\n\n\
         VERSION:\n   {VERSION}\n\nCOMMANDS:\n{}\nGLOBAL OPTIONS:\n{}",
        columns(&commands, ""),
        columns(&flag_rows(GLOBAL_FLAGS.iter()), ""),
    )
}

/// A command's help (`etcdctl get -h`, `etcdctl help member`): `path` is
/// the command's words (`"member list"`).
pub fn command(path: &str, command: &Command) -> String {
    let mut text = format!(
        "NAME:\n   etcdctl {path} - {}\n\nUSAGE:\n   etcdctl {path}",
        command.usage
    );
    if !command.flags.is_empty() {
        text.push_str(" [command options]");
    }
    text.push(' ');
    text.push_str(args_usage(command));
    if !command.description.is_empty() {
        text.push_str("\n\nDESCRIPTION:\n   ");
        text.push_str(command.description);
    }
    if !command.flags.is_empty() {
        text.push_str("\n\nOPTIONS:\n");
        text.push_str(&columns(&flag_rows(command.flags.iter()), "   \n"));
    } else {
        text.push('\n');
    }
    text
}

/// A group's help (`etcdctl member`, `etcdctl member -h`).
pub fn group(command: &Command) -> String {
    let rows = subcommand_rows(command);
    format!(
        "NAME:\n   etcdctl {name} - {usage}\n\nUSAGE:\n   etcdctl {name} command [command options] \
         [arguments...]\n\nCOMMANDS:\n{}\nOPTIONS:\n{}",
        columns(&rows, ""),
        columns(&flag_rows([HELP_FLAG].iter()), "   \n"),
        name = command.name,
        usage = command.usage,
    )
}

/// `etcdctl member help`: the group's own app help (urfave/cli's app
/// template for a sub-app).
pub fn group_app(command: &Command) -> String {
    let rows = subcommand_rows(command);
    format!(
        "NAME:\n   etcdctl {name} - {usage}\n\nUSAGE:\n   etcdctl {name} [global options] command \
         [command options] [arguments...]\n\nVERSION:\n   {VERSION}\n\nCOMMANDS:\n{}\nGLOBAL OPTIONS:\n{}",
        columns(&rows, ""),
        columns(&flag_rows([HELP_FLAG].iter()), ""),
        name = command.name,
        usage = command.usage,
    )
}

fn subcommand_rows(command: &Command) -> Vec<(String, String)> {
    command
        .subcommands
        .iter()
        .map(|c| (c.name.to_string(), c.usage.to_string()))
        .collect()
}

fn args_usage(command: &Command) -> &'static str {
    if command.args_usage.is_empty() {
        "[arguments...]"
    } else {
        command.args_usage
    }
}

/// Rows `"   name\tusage"` aligned: the first cells padded to the widest
/// plus two; `tail` after the last row.
fn columns(rows: &[(String, String)], tail: &str) -> String {
    let width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let mut out = String::new();
    for (name, usage) in rows {
        let pad = width - name.chars().count();
        out.push_str(&format!("   {name}{}{usage}\n", " ".repeat(pad)));
    }
    out.push_str(tail);
    out
}

/// urfave/cli's flag rows: `--name value, -n value` and the usage with
/// its default (a back-quoted word in the usage names the value).
fn flag_rows<'a>(flags: impl Iterator<Item = &'a Flag>) -> Vec<(String, String)> {
    flags
        .map(|flag| {
            let (placeholder, usage) = placeholder(flag);
            let names: Vec<String> = flag
                .name_list()
                .map(|n| {
                    let dashes = if n.len() == 1 { "-" } else { "--" };
                    match &placeholder {
                        Some(p) => format!("{dashes}{n} {p}"),
                        None => format!("{dashes}{n}"),
                    }
                })
                .collect();
            let default = match (flag.kind, flag.default) {
                (_, "") => String::new(),
                (Kind::Str, value) => format!(" (default: {value:?})"),
                (_, value) => format!(" (default: {value})"),
            };
            (names.join(", "), format!("{usage}{default}"))
        })
        .collect()
}

/// urfave/cli's `unquoteUsage`: the first back-quoted word of the usage
/// (without its quotes) or `value`; none for booleans.
fn placeholder(flag: &Flag) -> (Option<String>, String) {
    let usage = flag.usage;
    if let Some(start) = usage.find('`') {
        if let Some(len) = usage[start + 1..].find('`') {
            let name = &usage[start + 1..start + 1 + len];
            let unquoted = format!("{}{}{}", &usage[..start], name, &usage[start + 2 + len..]);
            return (Some(name.to_string()), unquoted);
        }
    }
    let placeholder = (flag.kind != Kind::Bool).then(|| "value".to_string());
    (placeholder, usage.to_string())
}
