//! `cairnctl completion <shell>`: the bash script, sourced in a real bash,
//! completes commands, subcommands and flags (global and per command); the
//! other shells' scripts name every command; the help texts are etcdctl's.

#![allow(clippy::disallowed_methods)]

use std::process::Command;

const CAIRNCTL: &str = env!("CARGO_BIN_EXE_cairnctl");

fn cairnctl(args: &[&str]) -> String {
    let output = Command::new(CAIRNCTL)
        .args(args)
        .output()
        .expect("run cairnctl");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8")
}

/// What bash's completion of `words` (the last one being completed)
/// offers, with the script cairnctl generated sourced first.
fn complete_in_bash(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let current = words[cword];
    let previous = words[cword - 1];
    let program = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={cword}; _cairnctl cairnctl '{current}' '{previous}'; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .expect("run bash");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_commands_subcommands_and_flags() {
    let dir = std::env::temp_dir().join(format!("cairnctl-completion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("cairnctl.bash");
    std::fs::write(&script, cairnctl(&["completion", "bash"])).expect("write script");
    let cases: &[(&[&str], &[&str])] = &[
        (&["cairnctl", "mem"], &["member"]),
        (&["cairnctl", "l"], &["lease", "lock"]),
        (&["cairnctl", "member", "pro"], &["promote"]),
        (
            &["cairnctl", "get", "--pr"],
            &["--prefix", "--print-value-only"],
        ),
        (&["cairnctl", "get", "--endp"], &["--endpoints"]),
        (&["cairnctl", "lease", "keep-alive", "--on"], &["--once"]),
    ];
    let mut failures = Vec::new();
    for (words, expected) in cases {
        let got = complete_in_bash(&script, words);
        if got != *expected {
            failures.push(format!("{words:?}: expected {expected:?}, got {got:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shell_gets_a_script_naming_the_commands() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = cairnctl(&["completion", shell]);
        for word in ["member", "keep-alive", "snapshot", "write-out"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    let described = cairnctl(&["completion", "fish"]);
    let bare = cairnctl(&["completion", "fish", "--no-descriptions"]);
    assert!(described.contains("Membership related commands"));
    assert!(!bare.contains("Membership related commands"));
}

#[test]
fn help_texts_are_etcdctls() {
    let etcdctl = std::path::Path::new("/usr/bin/etcdctl");
    if !etcdctl.exists() {
        let required = std::env::var("CAIRN_REQUIRE_ETCD").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "CAIRN_REQUIRE_ETCD is set but etcdctl is missing"
        );
        eprintln!("SKIPPED help_texts_are_etcdctls: no etcdctl");
        return;
    }
    for args in [
        vec!["completion", "-h"],
        vec!["completion", "bash", "-h"],
        vec!["completion", "zsh", "--help"],
        vec!["completion", "fish", "-h"],
        vec!["completion", "powershell", "-h"],
    ] {
        let reference = Command::new(etcdctl).args(&args).output().expect("etcdctl");
        let ours = Command::new(CAIRNCTL)
            .args(&args)
            .output()
            .expect("cairnctl");
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&reference.stdout),
            "{args:?}"
        );
        assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
    }
}
