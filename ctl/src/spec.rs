//! The command tree, as etcdctl 3.4.23 declares it with cobra: each
//! command's path, `Use` line, one-line and long description and flags,
//! and whether cairnctl runs it yet.
//!
//! ```text
//!   etcdctl (GLOBAL flags, persistent)
//!     ├── get put del compaction version ...      leaves
//!     └── lease member endpoint ...               groups (help only)
//!           └── grant revoke timetolive list ...  leaves
//! ```

use crate::flags::{flag, Flag, Kind};

/// One command of the tree.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Words after the program name: `"lease grant"`.
    pub path: &'static str,
    /// cobra's `Use` (its first word is the name).
    pub usage: &'static str,
    pub short: &'static str,
    pub long: &'static str,
    pub flags: &'static [Flag],
    /// Whether cairnctl carries it out (otherwise it says it cannot).
    pub done: bool,
}

impl CommandSpec {
    /// The last word of the path.
    pub fn name(&self) -> &'static str {
        self.path.rsplit(' ').next().unwrap_or(self.path)
    }

    /// Its direct children, in cobra's (name) order.
    pub fn children(&self) -> Vec<&'static CommandSpec> {
        children_of(self.path)
    }

    pub fn is_group(&self) -> bool {
        !self.children().is_empty()
    }
}

/// Commands whose parent is `path` (`""` for the root), sorted by name.
pub fn children_of(path: &str) -> Vec<&'static CommandSpec> {
    let mut list: Vec<&'static CommandSpec> = COMMANDS
        .iter()
        .filter(|c| match c.path.rsplit_once(' ') {
            Some((parent, _)) => parent == path,
            None => path.is_empty(),
        })
        .collect();
    list.sort_by_key(|c| c.name());
    list
}

/// etcdctl's persistent flags (ctlv3/ctl.go), in declaration order.
pub const GLOBAL_FLAGS: &[Flag] = &[
    flag("endpoints", Kind::Strings, "[127.0.0.1:2379]", "gRPC endpoints"),
    flag("debug", Kind::Bool, "false", "enable client-side debug logging"),
    Flag {
        name: "write-out",
        short: Some('w'),
        kind: Kind::String,
        default: "simple",
        usage: "set the output format (fields, json, protobuf, simple, table)",
    },
    flag("hex", Kind::Bool, "false", "print byte strings as hex encoded strings"),
    flag("dial-timeout", Kind::Duration, "2s", "dial timeout for client connections"),
    flag("command-timeout", Kind::Duration, "5s", "timeout for short running command (excluding dial timeout)"),
    flag("keepalive-time", Kind::Duration, "2s", "keepalive time for client connections"),
    flag("keepalive-timeout", Kind::Duration, "6s", "keepalive timeout for client connections"),
    flag("insecure-transport", Kind::Bool, "true", "disable transport security for client connections"),
    flag("insecure-discovery", Kind::Bool, "true", "accept insecure SRV records describing cluster endpoints"),
    flag("insecure-skip-tls-verify", Kind::Bool, "false", "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)"),
    flag("cert", Kind::String, "", "identify secure client using this TLS certificate file"),
    flag("key", Kind::String, "", "identify secure client using this TLS key file"),
    flag("cacert", Kind::String, "", "verify certificates of TLS-enabled secure servers using this CA bundle"),
    flag("user", Kind::String, "", "username[:password] for authentication (prompt if password is not supplied)"),
    flag("password", Kind::String, "", "password for authentication (if this option is used, --user option shouldn't include password)"),
    Flag {
        name: "discovery-srv",
        short: Some('d'),
        kind: Kind::String,
        default: "",
        usage: "domain name to query for SRV records describing cluster endpoints",
    },
    flag("discovery-srv-name", Kind::String, "", "service name to query when using DNS discovery"),
];

const fn leaf(path: &'static str, usage: &'static str, short: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        usage,
        short,
        long: "",
        flags: &[],
        done: false,
    }
}

const fn group(path: &'static str, short: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        usage: "",
        short,
        long: "",
        flags: &[],
        done: true,
    }
}

const PUT_LONG: &str = "
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
";

/// Every etcdctl 3.4 command; `done: false` ones answer that cairnctl
/// cannot run them yet.
pub const COMMANDS: &[CommandSpec] = &[
    group("alarm", "Alarm related commands"),
    leaf("alarm disarm", "disarm", "Disarms all alarms"),
    leaf("alarm list", "list", "Lists all alarms"),
    group("auth", "Enable or disable authentication"),
    leaf("auth disable", "disable", "Disables authentication"),
    leaf("auth enable", "enable", "Enables authentication"),
    group("check", "commands for checking properties of the etcd cluster"),
    leaf("check datascale", "datascale [options]", "Check the memory usage of holding data for different workloads on a given server endpoint."),
    leaf("check perf", "perf [options]", "Check the performance of the etcd cluster"),
    CommandSpec {
        path: "compaction",
        usage: "compaction [options] <revision>",
        short: "Compacts the event history in etcd",
        long: "",
        flags: &[flag("physical", Kind::Bool, "false", "'true' to wait for compaction to physically remove all old revisions")],
        done: true,
    },
    group("completion", "Generate the autocompletion script for the specified shell"),
    leaf("completion bash", "bash", "Generate the autocompletion script for bash"),
    leaf("completion fish", "fish", "Generate the autocompletion script for fish"),
    leaf("completion powershell", "powershell", "Generate the autocompletion script for powershell"),
    leaf("completion zsh", "zsh", "Generate the autocompletion script for zsh"),
    leaf("defrag", "defrag", "Defragments the storage of the etcd members with given endpoints"),
    CommandSpec {
        path: "del",
        usage: "del [options] <key> [range_end]",
        short: "Removes the specified key or range of keys [key, range_end)",
        long: "",
        flags: &[
            flag("prefix", Kind::Bool, "false", "delete keys with matching prefix"),
            flag("prev-kv", Kind::Bool, "false", "return deleted key-value pairs"),
            flag("from-key", Kind::Bool, "false", "delete keys that are greater than or equal to the given key using byte compare"),
        ],
        done: true,
    },
    leaf("elect", "elect <election-name> [proposal]", "Observes and participates in leader election"),
    group("endpoint", "Endpoint related commands"),
    leaf("endpoint hashkv", "hashkv", "Prints the KV history hash for each endpoint in --endpoints"),
    leaf("endpoint health", "health", "Checks the healthiness of endpoints specified in `--endpoints` flag"),
    leaf("endpoint status", "status", "Prints out the status of endpoints specified in `--endpoints` flag"),
    CommandSpec {
        path: "get",
        usage: "get [options] <key> [range_end]",
        short: "Gets the key or a range of keys",
        long: "",
        flags: &[
            flag("consistency", Kind::String, "l", "Linearizable(l) or Serializable(s)"),
            flag("order", Kind::String, "", "Order of results; ASCEND or DESCEND (ASCEND by default)"),
            flag("sort-by", Kind::String, "", "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION"),
            flag("limit", Kind::Int, "0", "Maximum number of results"),
            flag("prefix", Kind::Bool, "false", "Get keys with matching prefix"),
            flag("from-key", Kind::Bool, "false", "Get keys that are greater than or equal to the given key using byte compare"),
            flag("rev", Kind::Int, "0", "Specify the kv revision"),
            flag("keys-only", Kind::Bool, "false", "Get only the keys"),
            flag("print-value-only", Kind::Bool, "false", "Only write values when using the \"simple\" output format"),
        ],
        done: true,
    },
    CommandSpec {
        path: "help",
        usage: "help [command]",
        short: "Help about any command",
        long: "",
        flags: &[],
        done: true,
    },
    group("lease", "Lease related commands"),
    CommandSpec {
        path: "lease grant",
        usage: "grant <ttl>",
        short: "Creates leases",
        long: "",
        flags: &[],
        done: true,
    },
    CommandSpec {
        path: "lease keep-alive",
        usage: "keep-alive [options] <leaseID>",
        short: "Keeps leases alive (renew)",
        long: "",
        flags: &[flag("once", Kind::Bool, "false", "Resets the keep-alive time to its original value and exits immediately")],
        done: true,
    },
    CommandSpec {
        path: "lease list",
        usage: "list",
        short: "List all active leases",
        long: "",
        flags: &[],
        done: true,
    },
    CommandSpec {
        path: "lease revoke",
        usage: "revoke <leaseID>",
        short: "Revokes leases",
        long: "",
        flags: &[],
        done: true,
    },
    CommandSpec {
        path: "lease timetolive",
        usage: "timetolive <leaseID> [options]",
        short: "Get lease information",
        long: "",
        flags: &[flag("keys", Kind::Bool, "false", "Get keys attached to this lease")],
        done: true,
    },
    leaf("lock", "lock <lockname> [exec-command arg1 arg2 ...]", "Acquires a named lock"),
    leaf("make-mirror", "make-mirror [options] <destination>", "Makes a mirror at the destination etcd cluster"),
    group("member", "Membership related commands"),
    leaf("member add", "add <memberName> [options]", "Adds a member into the cluster"),
    CommandSpec {
        path: "member list",
        usage: "list",
        short: "Lists all members in the cluster",
        long: "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.\nThe items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.\n",
        flags: &[],
        done: true,
    },
    leaf("member promote", "promote <memberID>", "Promotes a non-voting member in the cluster"),
    leaf("member remove", "remove <memberID>", "Removes a member from the cluster"),
    leaf("member update", "update <memberID> [options]", "Updates a member in the cluster"),
    leaf("migrate", "migrate", "Migrates keys in a v2 store to a mvcc store"),
    leaf("move-leader", "move-leader <transferee-member-id>", "Transfers leadership to another etcd cluster member."),
    CommandSpec {
        path: "put",
        usage: "put [options] <key> <value> (<value> can also be given from stdin)",
        short: "Puts the given key into the store",
        long: PUT_LONG,
        flags: &[
            flag("lease", Kind::String, "0", "lease ID (in hexadecimal) to attach to the key"),
            flag("prev-kv", Kind::Bool, "false", "return the previous key-value pair before modification"),
            flag("ignore-value", Kind::Bool, "false", "updates the key using its current value"),
            flag("ignore-lease", Kind::Bool, "false", "updates the key using its current lease"),
        ],
        done: true,
    },
    group("role", "Role related commands"),
    leaf("role add", "add <role name>", "Adds a new role"),
    leaf("role delete", "delete <role name>", "Deletes a role"),
    leaf("role get", "get <role name>", "Gets detailed information of a role"),
    leaf("role grant-permission", "grant-permission [options] <role name> <permission type> <key> [endkey]", "Grants a key to a role"),
    leaf("role list", "list", "Lists all roles"),
    leaf("role revoke-permission", "revoke-permission <role name> <key> [endkey]", "Revokes a key from a role"),
    group("snapshot", "Manages etcd node snapshots"),
    CommandSpec {
        path: "snapshot restore",
        usage: "restore <filename> [options]",
        short: "Restores an etcd member snapshot to an etcd directory",
        long: "",
        flags: &[
            flag("data-dir", Kind::String, "", "Path to the data directory"),
            flag("wal-dir", Kind::String, "", "Path to the WAL directory (use --data-dir if none given)"),
            flag("initial-cluster", Kind::String, "default=http://localhost:2380", "Initial cluster configuration for restore bootstrap"),
            flag("initial-cluster-token", Kind::String, "etcd-cluster", "Initial cluster token for the etcd cluster during restore bootstrap"),
            flag("initial-advertise-peer-urls", Kind::String, "http://localhost:2380", "List of this member's peer URLs to advertise to the rest of the cluster"),
            flag("name", Kind::String, "default", "Human-readable name for this member"),
            flag("skip-hash-check", Kind::Bool, "false", "Ignore snapshot integrity hash value (required if copied from data directory)"),
        ],
        done: true,
    },
    CommandSpec {
        path: "snapshot save",
        usage: "save <filename>",
        short: "Stores an etcd node backend snapshot to a given file",
        long: "",
        flags: &[],
        done: true,
    },
    CommandSpec {
        path: "snapshot status",
        usage: "status <filename>",
        short: "Gets backend snapshot status of a given file",
        long: "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.\nThe items in the lists are hash, revision, total keys, total size.\n",
        flags: &[],
        done: true,
    },
    CommandSpec {
        path: "txn",
        usage: "txn [options]",
        short: "Txn processes all the requests in one transaction",
        long: "",
        flags: &[Flag {
            name: "interactive",
            short: Some('i'),
            kind: Kind::Bool,
            default: "false",
            usage: "Input transaction in interactive mode",
        }],
        done: true,
    },
    group("user", "User related commands"),
    leaf("user add", "add <user name or user:password> [options]", "Adds a new user"),
    leaf("user delete", "delete <user name>", "Deletes a user"),
    leaf("user get", "get <user name> [options]", "Gets detailed information of a user"),
    leaf("user grant-role", "grant-role <user name> <role>", "Grants a role to a user"),
    leaf("user list", "list", "Lists all users"),
    leaf("user passwd", "passwd <user name> [options]", "Changes password of user"),
    leaf("user revoke-role", "revoke-role <user name> <role>", "Revokes a role from a user"),
    CommandSpec {
        path: "version",
        usage: "version",
        short: "Prints the version of etcdctl",
        long: "",
        flags: &[],
        done: true,
    },
    CommandSpec {
        path: "watch",
        usage: "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
        short: "Watches events stream on keys or prefixes",
        long: "",
        flags: &[
            Flag {
                name: "interactive",
                short: Some('i'),
                kind: Kind::Bool,
                default: "false",
                usage: "Interactive mode",
            },
            flag("prefix", Kind::Bool, "false", "Watch on a prefix if prefix is set"),
            flag("rev", Kind::Int, "0", "Revision to start watching"),
            flag("prev-kv", Kind::Bool, "false", "get the previous key-value pair before the event happens"),
        ],
        done: true,
    },
];
