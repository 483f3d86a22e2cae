//! The command tree of `ETCDCTL_API=2 etcdctl` (etcd's `etcdctl/ctlv2`):
//! names, usages, argument texts and flags exactly as urfave/cli is given
//! them there, so that help texts and parsing follow.

/// How a flag takes its value (urfave/cli's flag types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Str,
    Int,
    Duration,
    /// `StringSliceFlag`: each use appends a value.
    Slice,
}

/// One flag: `names` as urfave/cli writes them (`"recursive, r"`).
#[derive(Debug)]
pub struct Flag {
    pub names: &'static str,
    pub kind: Kind,
    pub usage: &'static str,
    /// The default as help shows it (`""`: none shown).
    pub default: &'static str,
}

/// A command (with `subcommands`, a group such as `member`).
#[derive(Debug)]
pub struct Command {
    pub name: &'static str,
    pub usage: &'static str,
    pub args_usage: &'static str,
    pub description: &'static str,
    pub flags: &'static [Flag],
    pub subcommands: &'static [Command],
}

const fn flag(names: &'static str, kind: Kind, usage: &'static str) -> Flag {
    Flag {
        names,
        kind,
        usage,
        default: "",
    }
}

const fn int(names: &'static str, usage: &'static str) -> Flag {
    Flag {
        names,
        kind: Kind::Int,
        usage,
        default: "0",
    }
}

const fn leaf(
    name: &'static str,
    usage: &'static str,
    args_usage: &'static str,
    flags: &'static [Flag],
) -> Command {
    Command {
        name,
        usage,
        args_usage,
        description: "",
        flags,
        subcommands: &[],
    }
}

const fn group(
    name: &'static str,
    usage: &'static str,
    subcommands: &'static [Command],
) -> Command {
    Command {
        name,
        usage,
        args_usage: "",
        description: "",
        flags: &[],
        subcommands,
    }
}

use Kind::{Bool, Duration, Slice, Str};

/// The program's own flags (`app.Flags` in ctlv2/ctl.go), then urfave's
/// `--help` and `--version`.
pub const GLOBAL_FLAGS: &[Flag] = &[
    flag("debug", Bool, "output cURL commands which can be used to reproduce the request"),
    flag("no-sync", Bool, "don't synchronize cluster information before sending request"),
    Flag {
        names: "output, o",
        kind: Str,
        usage: "output response in the given format (`simple`, `extended` or `json`)",
        default: "simple",
    },
    flag("discovery-srv, D", Str, "domain name to query for SRV records describing cluster endpoints"),
    flag("insecure-discovery", Bool, "accept insecure SRV records describing cluster endpoints"),
    flag("peers, C", Str, "DEPRECATED - \"--endpoints\" should be used instead"),
    flag("endpoint", Str, "DEPRECATED - \"--endpoints\" should be used instead"),
    flag("endpoints", Str, "a comma-delimited list of machine addresses in the cluster (default: \"http://127.0.0.1:2379,http://127.0.0.1:4001\")"),
    flag("cert-file", Str, "identify HTTPS client using this SSL certificate file"),
    flag("key-file", Str, "identify HTTPS client using this SSL key file"),
    flag("ca-file", Str, "verify certificates of HTTPS-enabled servers using this CA bundle"),
    flag("username, u", Str, "provide username[:password] and prompt if password is not supplied."),
    Flag {
        names: "timeout",
        kind: Duration,
        usage: "connection timeout per request",
        default: "2s",
    },
    Flag {
        names: "total-timeout",
        kind: Duration,
        usage: "timeout for the command execution (except watch)",
        default: "5s",
    },
    HELP_FLAG,
    flag("version, v", Bool, "print the version"),
];

/// urfave/cli's help flag, added to every command's flags.
pub const HELP_FLAG: Flag = flag("help, h", Bool, "show help");

const TTL: Flag = int("ttl", "key time-to-live in seconds");
const SORT: Flag = flag("sort", Bool, "returns result in sorted order");
const QUORUM: Flag = flag("quorum, q", Bool, "require quorum for get request");
const AFTER_INDEX: Flag = int("after-index", "watch after the given index");
const ROLES: Flag = flag("roles", Slice, "List of roles to grant or revoke");

/// The commands, in ctlv2/ctl.go's order.
pub const COMMANDS: &[Command] = &[
    leaf("backup", "backup an etcd directory", " ", &[
        flag("data-dir", Str, "Path to the etcd data dir"),
        flag("wal-dir", Str, "Path to the etcd wal dir"),
        flag("backup-dir", Str, "Path to the backup dir"),
        flag("backup-wal-dir", Str, "Path to the backup wal dir"),
        flag("with-v3", Bool, "Backup v3 backend data"),
    ]),
    leaf("cluster-health", "check the health of the etcd cluster", " ", &[
        flag("forever, f", Bool, "forever check the health every 10 second until CTRL+C"),
    ]),
    leaf("mk", "make a new key with a given value", "<key> <value>", &[
        flag("in-order", Bool, "create in-order key under directory <key>"),
        TTL,
    ]),
    leaf("mkdir", "make a new directory", "<key>", &[TTL]),
    leaf("rm", "remove a key or a directory", "<key>", &[
        flag("dir", Bool, "removes the key if it is an empty directory or a key-value pair"),
        flag("recursive, r", Bool, "removes the key and all child keys(if it is a directory)"),
        flag("with-value", Str, "previous value"),
        int("with-index", "previous index"),
    ]),
    leaf("rmdir", "removes the key if it is an empty directory or a key-value pair", "<key>", &[]),
    leaf("get", "retrieve the value of a key", "<key>", &[SORT, QUORUM]),
    leaf("ls", "retrieve a directory", "[key]", &[
        SORT,
        flag("recursive, r", Bool, "returns all key names recursively for the given path"),
        flag("p", Bool, "append slash (/) to directories"),
        QUORUM,
    ]),
    Command {
        name: "set",
        usage: "set the value of a key",
        args_usage: "<key> <value>",
        description: "Set sets the value of a key.\n\n   When <value> begins with '-', <value> is interpreted as a flag.\n   Insert '--' for workaround:\n\n   $ set -- <key> <value>",
        flags: &[
            TTL,
            flag("swap-with-value", Str, "previous value"),
            int("swap-with-index", "previous index"),
        ],
        subcommands: &[],
    },
    leaf("setdir", "create a new directory or update an existing directory TTL", "<key>", &[TTL]),
    leaf("update", "update an existing key with a given value", "<key> <value>", &[TTL]),
    leaf("updatedir", "update an existing directory", "<key> <value>", &[TTL]),
    leaf("watch", "watch a key for changes", "<key>", &[
        flag("forever, f", Bool, "forever watch a key until CTRL+C"),
        AFTER_INDEX,
        flag("recursive, r", Bool, "returns all values for key and child keys"),
    ]),
    leaf("exec-watch", "watch a key for changes and exec an executable", "<key> <command> [args...]", &[
        AFTER_INDEX,
        flag("recursive, r", Bool, "watch all values for key and child keys"),
    ]),
    group("member", "member add, remove and list subcommands", &[
        leaf("list", "enumerate existing cluster members", " ", &[]),
        leaf("add", "add a new member to the etcd cluster", "<name> <peerURL>", &[]),
        leaf("remove", "remove an existing member from the etcd cluster", "<memberID>", &[]),
        leaf("update", "update an existing member in the etcd cluster", "<memberID> <peerURLs>", &[]),
    ]),
    group("user", "user add, grant and revoke subcommands", &[
        leaf("add", "add a new user for the etcd cluster", "<user>", &[]),
        leaf("get", "get details for a user", "<user>", &[]),
        leaf("list", "list all current users", "<user>", &[]),
        leaf("remove", "remove a user for the etcd cluster", "<user>", &[]),
        leaf("grant", "grant roles to an etcd user", "<user>", &[ROLES]),
        leaf("revoke", "revoke roles for an etcd user", "<user>", &[ROLES]),
        leaf("passwd", "change password for a user", "<user>", &[]),
    ]),
    group("role", "role add, grant and revoke subcommands", &[
        leaf("add", "add a new role for the etcd cluster", "<role> ", &[]),
        leaf("get", "get details for a role", "<role>", &[]),
        leaf("list", "list all roles", " ", &[]),
        leaf("remove", "remove a role from the etcd cluster", "<role>", &[]),
        leaf("grant", "grant path matches to an etcd role", "<role>", &[
            flag("path", Str, "Path granted for the role to access"),
            flag("read", Bool, "Grant read-only access"),
            flag("write", Bool, "Grant write-only access"),
            flag("readwrite, rw", Bool, "Grant read-write access"),
        ]),
        leaf("revoke", "revoke path matches for an etcd role", "<role>", &[
            flag("path", Str, "Path revoked for the role to access"),
            flag("read", Bool, "Revoke read access"),
            flag("write", Bool, "Revoke write access"),
            flag("readwrite, rw", Bool, "Revoke read-write access"),
        ]),
    ]),
    group("auth", "overall auth controls", &[
        leaf("enable", "enable auth access controls", " ", &[]),
        leaf("disable", "disable auth access controls", " ", &[]),
    ]),
];

impl Flag {
    /// The names without spaces: `["recursive", "r"]`.
    pub fn name_list(&self) -> impl Iterator<Item = &'static str> {
        self.names.split(',').map(str::trim)
    }

    /// The first (long) name, under which the value is kept.
    pub fn name(&self) -> &'static str {
        self.name_list().next().unwrap_or_default()
    }
}

/// The command named `name` among `commands`.
pub fn find(commands: &'static [Command], name: &str) -> Option<&'static Command> {
    commands.iter().find(|c| c.name == name)
}
