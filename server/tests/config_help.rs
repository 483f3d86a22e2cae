//! `--help` lists every flag; `--version` is truthful; the flag set matches
//! Debian's etcd 3.4 when it is installed.

use std::collections::BTreeSet;
use std::process::Command;

use cairn_server::config::{flags_text, help_text, usage_text, version_text, FlagKind, FLAGS};

/// Flag names in an etcd-style help text: lines `  --name ...`.
fn help_flag_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("  --"))
        .map(|rest| rest.split([' ', '\'']).next().unwrap_or("").to_string())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Flag → default text in an etcd-style help text.
fn help_defaults(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("  --"))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, default)| (name.to_string(), default.trim().to_string()))
        .collect()
}

#[test]
fn help_lists_every_flag_with_its_default() {
    let help = help_text();
    let listed = help_flag_names(&flags_text());
    for spec in FLAGS {
        let should_list = spec.kind != FlagKind::Ignored;
        assert_eq!(listed.contains(spec.name), should_list, "--{}", spec.name);
        if should_list {
            let line = format!("  --{} {}", spec.name, spec.default_text);
            assert!(help.contains(&line), "missing {line:?}");
        }
    }
    assert!(usage_text().starts_with("Usage:\n"));
    assert!(usage_text().contains("--config-file"));
}

#[test]
fn version_is_etcd_shaped_and_truthful() {
    let text = version_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("cairn Version: {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(lines[1], "etcd API Version: 3.4");
    assert_eq!(lines[2], "Git SHA: not recorded");
}

#[test]
fn flag_set_matches_debians_etcd() {
    let etcd = std::path::Path::new("/usr/bin/etcd");
    let required = std::env::var("CAIRN_REQUIRE_ETCD").is_ok_and(|v| v == "1");
    if !etcd.exists() {
        assert!(
            !required,
            "CAIRN_REQUIRE_ETCD=1 but /usr/bin/etcd is absent (apt-get install etcd-server)"
        );
        println!("SKIPPED: /usr/bin/etcd is absent; install Debian's etcd-server to compare flags");
        return;
    }
    let output = Command::new(etcd)
        .arg("--help")
        .output()
        .expect("run etcd --help");
    let etcd_help = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs = help_flag_names(&etcd_help);
    assert!(
        theirs.len() >= 70,
        "etcd --help listed only {} flags",
        theirs.len()
    );
    let ours: BTreeSet<String> = FLAGS.iter().map(|s| s.name.to_string()).collect();
    let missing: Vec<&String> = theirs.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "flags etcd has and cairn lacks: {missing:?}"
    );
    // Defaults shown by both helps agree.
    let our_defaults = help_defaults(&flags_text());
    for (name, default) in help_defaults(&etcd_help) {
        if let Some((_, ours)) = our_defaults.iter().find(|(n, _)| *n == name) {
            assert_eq!(ours, &default, "default of --{name}");
        }
    }
    let version = Command::new(etcd)
        .arg("--version")
        .output()
        .expect("run etcd --version");
    let version = String::from_utf8_lossy(&version.stdout);
    println!(
        "compared {} flags of {} with cairn's {}",
        theirs.len(),
        version.lines().next().unwrap_or("etcd"),
        ours.len()
    );
}
