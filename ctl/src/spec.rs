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

/// A command cairnctl runs, with its own flags.
const fn done_leaf(
    path: &'static str,
    usage: &'static str,
    short: &'static str,
    flags: &'static [Flag],
) -> CommandSpec {
    CommandSpec {
        flags,
        done: true,
        ..leaf(path, usage, short)
    }
}

/// `--cluster` of `endpoint` (persistent) and of `defrag`.
const CLUSTER_FLAG: Flag = flag(
    "cluster",
    Kind::Bool,
    "false",
    "use all endpoints from the cluster member list",
);

/// The flags a command inherits from the groups above it: etcdctl's group
/// flags are persistent (cobra's `PersistentFlags`), as `endpoint
/// --cluster` is.
pub fn inherited_flags(path: &str) -> Vec<Flag> {
    let mut flags = Vec::new();
    let mut prefix = path;
    while let Some((parent, _)) = prefix.rsplit_once(' ') {
        if let Some(group) = COMMANDS.iter().find(|c| c.path == parent) {
            flags.extend_from_slice(group.flags);
        }
        prefix = parent;
    }
    flags
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

/// cobra's completion commands (`completion <shell>`): their `Use` is the
/// shell's name, and cobra leaves ` [flags]` out of their usage line.
const fn completion(shell: &'static str, long: &'static str) -> CommandSpec {
    CommandSpec {
        path: match shell.as_bytes() {
            b"bash" => "completion bash",
            b"fish" => "completion fish",
            b"powershell" => "completion powershell",
            _ => "completion zsh",
        },
        usage: shell,
        short: match shell.as_bytes() {
            b"bash" => "Generate the autocompletion script for bash",
            b"fish" => "Generate the autocompletion script for fish",
            b"powershell" => "Generate the autocompletion script for powershell",
            _ => "Generate the autocompletion script for zsh",
        },
        long,
        flags: COMPLETION_FLAGS,
        done: true,
    }
}

const COMPLETION_FLAGS: &[Flag] = &[flag(
    "no-descriptions",
    Kind::Bool,
    "false",
    "disable completion descriptions",
)];

/// Whether etcdctl's usage line ends in ` [flags]` (cobra sets
/// `DisableFlagsInUseLine` on its bash completion command only).
pub fn flags_in_use_line(command: &CommandSpec) -> bool {
    command.path != "completion bash"
}

const COMPLETION_BASH_LONG: &str = "Generate the autocompletion script for the bash shell.

This script depends on the 'bash-completion' package.
If it is not installed already, you can install it via your OS's package manager.

To load completions in your current shell session:

\tsource <(etcdctl completion bash)

To load completions for every new session, execute once:

#### Linux:

\tetcdctl completion bash > /etc/bash_completion.d/etcdctl

#### macOS:

\tetcdctl completion bash > $(brew --prefix)/etc/bash_completion.d/etcdctl

You will need to start a new shell for this setup to take effect.
";

const COMPLETION_FISH_LONG: &str = "Generate the autocompletion script for the fish shell.

To load completions in your current shell session:

\tetcdctl completion fish | source

To load completions for every new session, execute once:

\tetcdctl completion fish > ~/.config/fish/completions/etcdctl.fish

You will need to start a new shell for this setup to take effect.
";

const COMPLETION_POWERSHELL_LONG: &str = "Generate the autocompletion script for powershell.

To load completions in your current shell session:

\tetcdctl completion powershell | Out-String | Invoke-Expression

To load completions for every new session, add the output of the above command
to your powershell profile.
";

const COMPLETION_ZSH_LONG: &str = "Generate the autocompletion script for the zsh shell.

If shell completion is not already enabled in your environment you will need
to enable it.  You can execute the following once:

\techo \"autoload -U compinit; compinit\" >> ~/.zshrc

To load completions in your current shell session:

\tsource <(etcdctl completion zsh); compdef _etcdctl etcdctl

To load completions for every new session, execute once:

#### Linux:

\tetcdctl completion zsh > \"${fpath[1]}/_etcdctl\"

#### macOS:

\tetcdctl completion zsh > $(brew --prefix)/share/zsh/site-functions/_etcdctl

You will need to start a new shell for this setup to take effect.
";

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
    done_leaf("alarm disarm", "disarm", "Disarms all alarms", &[]),
    done_leaf("alarm list", "list", "Lists all alarms", &[]),
    CommandSpec {
        usage: "auth <enable or disable>",
        ..group("auth", "Enable or disable authentication")
    },
    done_leaf("auth disable", "disable", "Disables authentication", &[]),
    done_leaf("auth enable", "enable", "Enables authentication", &[]),
    group("check", "commands for checking properties of the etcd cluster"),
    CommandSpec {
        path: "check datascale",
        usage: "datascale [options]",
        short: "Check the memory usage of holding data for different workloads on a given server endpoint.",
        long: "If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.",
        flags: &[
            flag("load", Kind::String, "s", "The datascale check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)"),
            flag("prefix", Kind::String, "/etcdctl-check-datascale/", "The prefix for writing the datascale check's keys."),
            flag("auto-compact", Kind::Bool, "false", "Compact storage with last revision after test is finished."),
            flag("auto-defrag", Kind::Bool, "false", "Defragment storage after test is finished."),
        ],
        done: true,
    },
    CommandSpec {
        path: "check perf",
        usage: "perf [options]",
        short: "Check the performance of the etcd cluster",
        long: "",
        flags: &[
            flag("load", Kind::String, "s", "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)"),
            flag("prefix", Kind::String, "/etcdctl-check-perf/", "The prefix for writing the performance check's keys."),
            flag("auto-compact", Kind::Bool, "false", "Compact storage with last revision after test is finished."),
            flag("auto-defrag", Kind::Bool, "false", "Defragment storage after test is finished."),
        ],
        done: true,
    },
    CommandSpec {
        path: "compaction",
        usage: "compaction [options] <revision>",
        short: "Compacts the event history in etcd",
        long: "",
        flags: &[flag("physical", Kind::Bool, "false", "'true' to wait for compaction to physically remove all old revisions")],
        done: true,
    },
    CommandSpec {
        path: "completion",
        usage: "completion",
        short: "Generate the autocompletion script for the specified shell",
        long: "Generate the autocompletion script for etcdctl for the specified shell.
See each sub-command's help for details on how to use the generated script.
",
        flags: &[],
        done: true,
    },
    completion("bash", COMPLETION_BASH_LONG),
    completion("fish", COMPLETION_FISH_LONG),
    completion("powershell", COMPLETION_POWERSHELL_LONG),
    completion("zsh", COMPLETION_ZSH_LONG),
    done_leaf(
        "defrag",
        "defrag",
        "Defragments the storage of the etcd members with given endpoints",
        &[
            CLUSTER_FLAG,
            flag("data-dir", Kind::String, "", "Optional. If present, defragments a data directory not in use by etcd."),
        ],
    ),
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
    CommandSpec {
        path: "elect",
        usage: "elect <election-name> [proposal]",
        short: "Observes and participates in leader election",
        long: "",
        flags: &[Flag {
            name: "listen",
            short: Some('l'),
            kind: Kind::Bool,
            default: "false",
            usage: "observation mode",
        }],
        done: true,
    },
    // `--cluster` is a persistent flag of the group (see inherited_flags).
    CommandSpec {
        flags: &[CLUSTER_FLAG],
        ..group("endpoint", "Endpoint related commands")
    },
    done_leaf(
        "endpoint hashkv",
        "hashkv",
        "Prints the KV history hash for each endpoint in --endpoints",
        &[flag("rev", Kind::Int, "0", "maximum revision to hash (default: all revisions)")],
    ),
    done_leaf("endpoint health", "health", "Checks the healthiness of endpoints specified in `--endpoints` flag", &[]),
    CommandSpec {
        long: "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.\nThe items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.\n",
        ..done_leaf("endpoint status", "status", "Prints out the status of endpoints specified in `--endpoints` flag", &[])
    },
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
    CommandSpec {
        path: "lock",
        usage: "lock <lockname> [exec-command arg1 arg2 ...]",
        short: "Acquires a named lock",
        long: "",
        flags: &[flag("ttl", Kind::Int, "10", "timeout for session")],
        done: true,
    },
    CommandSpec {
        path: "make-mirror",
        usage: "make-mirror [options] <destination>",
        short: "Makes a mirror at the destination etcd cluster",
        long: "",
        flags: &[
            flag("prefix", Kind::String, "", "Key-value prefix to mirror"),
            flag("dest-prefix", Kind::String, "", "destination prefix to mirror a prefix to a different prefix in the destination cluster"),
            flag("no-dest-prefix", Kind::Bool, "false", "mirror key-values to the root of the destination cluster"),
            flag("dest-cert", Kind::String, "", "Identify secure client using this TLS certificate file for the destination cluster"),
            flag("dest-key", Kind::String, "", "Identify secure client using this TLS key file"),
            flag("dest-cacert", Kind::String, "", "Verify certificates of TLS enabled secure servers using this CA bundle"),
            flag("dest-insecure-transport", Kind::Bool, "true", "Disable transport security for client connections"),
        ],
        done: true,
    },
    group("member", "Membership related commands"),
    done_leaf(
        "member add",
        "add <memberName> [options]",
        "Adds a member into the cluster",
        &[
            flag("peer-urls", Kind::String, "", "comma separated peer URLs for the new member."),
            flag("learner", Kind::Bool, "false", "indicates if the new member is raft learner"),
        ],
    ),
    CommandSpec {
        path: "member list",
        usage: "list",
        short: "Lists all members in the cluster",
        long: "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.\nThe items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.\n",
        flags: &[],
        done: true,
    },
    CommandSpec {
        long: "Promotes a non-voting learner member to a voting one in the cluster.\n",
        ..done_leaf("member promote", "promote <memberID>", "Promotes a non-voting member in the cluster", &[])
    },
    done_leaf("member remove", "remove <memberID>", "Removes a member from the cluster", &[]),
    done_leaf(
        "member update",
        "update <memberID> [options]",
        "Updates a member in the cluster",
        &[flag("peer-urls", Kind::String, "", "comma separated peer URLs for the updated member.")],
    ),
    leaf("migrate", "migrate", "Migrates keys in a v2 store to a mvcc store"),
    done_leaf("move-leader", "move-leader <transferee-member-id>", "Transfers leadership to another etcd cluster member.", &[]),
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
    done_leaf("role add", "add <role name>", "Adds a new role", &[]),
    done_leaf("role delete", "delete <role name>", "Deletes a role", &[]),
    done_leaf("role get", "get <role name>", "Gets detailed information of a role", &[]),
    done_leaf("role grant-permission", "grant-permission [options] <role name> <permission type> <key> [endkey]", "Grants a key to a role", &[
        flag("prefix", Kind::Bool, "false", "grant a prefix permission"),
        flag("from-key", Kind::Bool, "false", "grant a permission of keys that are greater than or equal to the given key using byte compare"),
    ]),
    done_leaf("role list", "list", "Lists all roles", &[]),
    done_leaf("role revoke-permission", "revoke-permission <role name> <key> [endkey]", "Revokes a key from a role", &[
        flag("prefix", Kind::Bool, "false", "revoke a prefix permission"),
        flag("from-key", Kind::Bool, "false", "revoke a permission of keys that are greater than or equal to the given key using byte compare"),
    ]),
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
    done_leaf("user add", "add <user name or user:password> [options]", "Adds a new user", &[
        flag("interactive", Kind::Bool, "true", "Read password from stdin instead of interactive terminal"),
        flag("new-user-password", Kind::String, "", "Supply password from the command line flag"),
        flag("no-password", Kind::Bool, "false", "Create a user without password (CN based auth only)"),
    ]),
    done_leaf("user delete", "delete <user name>", "Deletes a user", &[]),
    done_leaf("user get", "get <user name> [options]", "Gets detailed information of a user", &[
        flag("detail", Kind::Bool, "false", "Show permissions of roles granted to the user"),
    ]),
    done_leaf("user grant-role", "grant-role <user name> <role name>", "Grants a role to a user", &[]),
    done_leaf("user list", "list", "Lists all users", &[]),
    done_leaf("user passwd", "passwd <user name> [options]", "Changes password of user", &[
        flag("interactive", Kind::Bool, "true", "If true, read password from stdin instead of interactive terminal"),
    ]),
    done_leaf("user revoke-role", "revoke-role <user name> <role name>", "Revokes a role from a user", &[]),
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
