//! cairn-core performs no I/O and stays deterministic (DESIGN.md, "The one
//! rule"). clippy.toml bans the types and functions; this test also guards the
//! dependency list and catches what lints cannot see (a new dependency on an
//! async runtime, say).

// Tests run outside core's rule: they may read the environment and files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};

const FORBIDDEN_IN_SOURCE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::thread",
    "std::env",
    "std::process",
    "std::time::Instant",
    "std::time::SystemTime",
    "HashMap",
    "HashSet",
    "tokio",
    "madsim",
    "thread_rng",
    "OsRng",
    "getrandom",
];

const FORBIDDEN_DEPENDENCIES: &[&str] = &[
    "tokio",
    "madsim",
    "rand",
    "getrandom",
    "async-std",
    "mio",
    "libc",
    "memmap2",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_sources_touch_no_io_clock_threads_or_unordered_maps() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 5, "found the sources");
    let mut violations = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for needle in FORBIDDEN_IN_SOURCE {
                if code.contains(needle) {
                    violations.push(format!(
                        "{}:{}: {needle}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "core must stay sans-I/O and deterministic:\n{}",
        violations.join("\n")
    );
}

#[test]
fn core_depends_on_no_runtime() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("manifest");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or("");
    for line in dependencies.lines() {
        let name = line.split(['=', '.']).next().unwrap_or("").trim();
        assert!(
            !FORBIDDEN_DEPENDENCIES.contains(&name),
            "cairn-core must not depend on {name}: it performs no I/O"
        );
    }
}
