//! `--help` and `--version` texts, in etcd's layout. etcd prints the usage lines
//! on stderr and the flag list on stdout; [`usage_text`] and [`flags_text`] keep
//! them apart so the binary can do the same.

use std::fmt::Write as _;

use super::spec::{FlagKind, Section, FLAGS};

/// The usage lines (etcd prints them on stderr, also after a flag syntax error).
pub fn usage_text() -> String {
    "Usage:

  cairn [flags]
    Start a cairn member (flags, ETCD_* variables and --config-file as etcd 3.4 reads them).

  cairn --version
    Show the version of cairn and of the etcd API it serves.

  cairn -h | --help
    Show this help.

  cairn --config-file
    Read the configuration from a YAML file in etcd's format. When a file is given, every other flag and ETCD_* environment variable is ignored.

  cairn gateway start --endpoints=127.0.0.1:2379 --listen-addr=127.0.0.1:23790
    etcd's L4 gateway: a TCP proxy to the cluster's client URLs (see 'cairn gateway start --help').

  cairn grpc-proxy start
    etcd's L7 gRPC proxy in front of a cluster (see 'cairn grpc-proxy start --help').
"
    .to_string()
}

/// Every flag with its default, grouped by section as etcd lists them. Each flag
/// can also be given as the environment variable `ETCD_<FLAG_IN_UPPER_SNAKE>`.
pub fn flags_text() -> String {
    let mut text = String::new();
    let mut section = None;
    for spec in FLAGS.iter().filter(|spec| spec.kind != FlagKind::Ignored) {
        if section != Some(spec.section) {
            if section == Some(Section::Unsafe) {
                text.push_str("\nCAUTIOUS with unsafe flag! It may break the guarantees given by the consensus protocol!\n");
            }
            section = Some(spec.section);
            let _ = write!(text, "\n{}\n", spec.section.title());
        }
        let _ = write!(
            text,
            "  --{} {}\n    {}\n",
            spec.name, spec.default_text, spec.help
        );
    }
    text.push_str(
        "\nEvery flag can also be set by the environment variable ETCD_<FLAG> (upper case, '-' as '_'),\n\
         e.g. ETCD_INITIAL_CLUSTER; a variable for a flag also given on the command line is an error.\n\
         Flags that cairn accepts but does not implement yet are reported at start-up.\n",
    );
    text
}

/// The whole `--help` output (usage lines, then the flags).
pub fn help_text() -> String {
    format!("{}{}", usage_text(), flags_text())
}

/// `--version`, in etcd's layout.
pub fn version_text() -> String {
    format!(
        "cairn Version: {}\netcd API Version: {}\nGit SHA: not recorded\nOS/Arch: {}/{}\n",
        env!("CARGO_PKG_VERSION"),
        crate::version::ETCD_API_VERSION,
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
