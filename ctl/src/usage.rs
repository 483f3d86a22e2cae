//! etcdctl's help text (ctlv3/help.go's template, through Go's tabwriter):
//!
//! ```text
//!   NAME:            \t<path> - <short>
//!   USAGE:           \tetcdctl <use> [flags]
//!   VERSION:         (root only)
//!   API VERSION:     (commands with subcommands)
//!   COMMANDS:        \t<sub path>\t<short>   (all runnable descendants)
//!   DESCRIPTION:     (the long text, a tab before each line)
//!   OPTIONS:         the command's own flags and -h, sorted by name
//!   GLOBAL OPTIONS:  the persistent flags (not for the root)
//! ```

use crate::flags::{Flag, Kind};
use crate::spec::{children_of, CommandSpec, GLOBAL_FLAGS};
use crate::tabwriter;

/// etcdctl's version, as `version` and the root help print it.
pub const VERSION: &str = "3.4.23";
/// The API version it speaks.
pub const API_VERSION: &str = "3.4";

/// The help text of `command` (`None`: the root), as etcdctl prints it on
/// stdout.
pub fn help(command: Option<&CommandSpec>) -> String {
    let mut text = String::from("NAME:\n");
    match command {
        None => text.push_str("\tetcdctl - A simple command line client for etcd3.\n"),
        Some(c) => text.push_str(&format!("\t{} - {}\n", c.path, c.short)),
    }
    text.push_str("\nUSAGE:\n");
    let path = command.map_or("", |c| c.path);
    let subcommands = descendants(path);
    match command {
        None => text.push_str("\tetcdctl [flags]\n"),
        Some(c) => {
            let usage = if c.is_group() && !c.usage.is_empty() {
                c.usage.to_string()
            } else if c.is_group() {
                format!("{} <subcommand>", c.path)
            } else {
                let words: Vec<&str> = c.path.split(' ').collect();
                let parent = words[..words.len() - 1].join(" ");
                if parent.is_empty() {
                    c.usage.to_string()
                } else {
                    format!("{parent} {}", c.usage)
                }
            };
            let flags = if crate::spec::flags_in_use_line(c) {
                " [flags]"
            } else {
                ""
            };
            text.push_str(&format!("\tetcdctl {usage}{flags}\n"));
        }
    }
    if command.is_none() {
        text.push_str(&format!("\nVERSION:\n\t{VERSION}\n"));
    }
    if !subcommands.is_empty() {
        text.push_str(&format!("\nAPI VERSION:\n\t{API_VERSION}\n"));
        text.push_str("\n\nCOMMANDS:\n");
        for sub in &subcommands {
            let relative = sub
                .path
                .strip_prefix(path)
                .map_or(sub.path, |s| s.trim_start());
            text.push_str(&format!("\t{relative}\t{}\n", sub.short));
        }
    }
    if let Some(c) = command {
        if !c.long.is_empty() {
            text.push_str("\nDESCRIPTION:\n");
            for line in c
                .long
                .trim_matches(|ch| ch == '\n' || ch == '\t' || ch == ' ')
                .split('\n')
            {
                text.push_str(&format!("\t{line}\n"));
            }
        }
    }
    let name = command.map_or("etcdctl", |c| c.name());
    let help_flag = Flag {
        name: "help",
        short: Some('h'),
        kind: Kind::Bool,
        default: "false",
        usage: "",
    };
    let help_usage = format!("help for {name}");
    let mut local: Vec<(Flag, String)> = command
        .map_or(&[][..], |c| c.flags)
        .iter()
        .map(|f| (*f, f.usage.to_string()))
        .collect();
    if command.is_none() {
        local.extend(GLOBAL_FLAGS.iter().map(|f| (*f, f.usage.to_string())));
    }
    local.push((help_flag, help_usage));
    local.sort_by_key(|(f, _)| f.name);
    text.push_str("\nOPTIONS:\n");
    for (flag, usage) in &local {
        text.push_str(&flag_line(flag, usage));
    }
    if command.is_some() {
        let inherited = crate::spec::inherited_flags(path);
        let mut global: Vec<&Flag> = GLOBAL_FLAGS.iter().chain(&inherited).collect();
        global.sort_by_key(|f| f.name);
        text.push_str("\nGLOBAL OPTIONS:\n");
        for flag in global {
            text.push_str(&flag_line(flag, flag.usage));
        }
    }
    text.push('\n');
    tabwriter::align(&text)
}

/// Every runnable command under `path`, depth first in name order.
fn descendants(path: &str) -> Vec<&'static CommandSpec> {
    let mut out = Vec::new();
    for child in children_of(path) {
        if !child.is_group() {
            out.push(child);
        }
        out.extend(descendants(child.path));
    }
    out
}

/// One line of etcd's flag listing (`etcdFlagUsages`).
fn flag_line(flag: &Flag, usage: &str) -> String {
    let mut line = match flag.short {
        Some(short) => format!("  -{short}, --{}", flag.name),
        None => format!("      --{}", flag.name),
    };
    let default = match flag.kind {
        Kind::String => format!("{:?}", flag.default),
        _ => flag.default.to_string(),
    };
    if flag.kind == Kind::Bool {
        line.push_str(&format!("[={default}]"));
    } else {
        line.push_str(&format!("={default}"));
    }
    format!("{line}\t{usage}\n")
}
