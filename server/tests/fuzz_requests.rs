//! The fuzz bodies of `cairn_server::fuzzing` under stable `cargo test`:
//! random bytes, and mutations (cairn-core's) of requests and tokens as
//! clients send them: gRPC requests through protobuf decoding and conversion,
//! simple tokens and JWTs, etcd's database records, log entries and v2
//! store JSON on their way into cairn. cargo-fuzz runs the same bodies for longer
//! (docs/fuzzing.md).
//!
//! Cases per test: `CAIRN_FUZZ_CASES` (default 5,000: about a second per test).
//! Seeds default to a fixed value; every failure prints `REPRODUCE WITH: ...`.
//! `CAIRN_FUZZ_WRITE_CORPUS=1` rewrites the seed corpus in `fuzz/corpus/`.

use std::path::PathBuf;

use cairn_server::fuzzing::{self, seeds, TARGETS};
use proptest::prelude::*;

#[path = "../../core/tests/fuzz_support/mod.rs"]
mod fuzz_support;
use fuzz_support::{mutated_from, random_bytes, run};

/// A seed of `target` with one to four mutations.
fn mutated(target: &str) -> impl Strategy<Value = Vec<u8>> {
    mutated_from(seeds(target).into_iter().map(|(_, bytes)| bytes).collect())
}

#[test]
fn grpc_requests_random_bytes_never_panic() {
    run(
        "grpc_requests_random_bytes_never_panic",
        random_bytes(128),
        |bytes| fuzzing::grpc_request(&bytes),
    );
}

#[test]
fn grpc_requests_mutated_never_panic() {
    run(
        "grpc_requests_mutated_never_panic",
        mutated("grpc_request"),
        |bytes| fuzzing::grpc_request(&bytes),
    );
}

#[test]
fn etcd_imports_random_bytes_never_panic() {
    run(
        "etcd_imports_random_bytes_never_panic",
        random_bytes(256),
        |bytes| fuzzing::run("etcd_import", &bytes),
    );
}

/// Mutations of an exported database, of log entries of each kind and of
/// the v2 store: a clear error or a state that round-trips, never a panic.
#[test]
fn etcd_imports_mutated_never_panic() {
    run(
        "etcd_imports_mutated_never_panic",
        mutated("etcd_import"),
        |bytes| fuzzing::run("etcd_import", &bytes),
    );
}

#[test]
fn auth_tokens_random_bytes_never_panic() {
    run(
        "auth_tokens_random_bytes_never_panic",
        random_bytes(128),
        |bytes| fuzzing::auth_token(&bytes),
    );
}

#[test]
fn auth_tokens_mutated_never_panic() {
    run(
        "auth_tokens_mutated_never_panic",
        mutated("auth_token"),
        |bytes| fuzzing::auth_token(&bytes),
    );
}

/// Random JSON-ish claims, signed: past the signature to the claims parser.
#[test]
fn jwt_claims_never_panic() {
    let claims = r#"\{("(username|revision|exp|nbf|iat|aud|sub)":(-?[0-9]{1,22}(\.[0-9]+)?(e[0-9]{1,3})?|"\PC{0,8}"|null|true|\[\]|\{\}),?){0,5}\}"#;
    run("jwt_claims_never_panic", claims, |claims: String| {
        fuzzing::auth_token(claims.as_bytes())
    });
}

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every seed passes its own body, and `fuzz/corpus/<target>/` holds the
/// seeds as they are encoded today (`CAIRN_FUZZ_WRITE_CORPUS=1` rewrites them).
#[test]
fn seed_corpus_is_current() {
    let write = std::env::var_os("CAIRN_FUZZ_WRITE_CORPUS").is_some();
    let mut stale = Vec::new();
    for target in TARGETS {
        let dir = corpus_dir(target);
        for (name, bytes) in seeds(target) {
            fuzzing::run(target, &bytes);
            let path = dir.join(&name);
            if write {
                std::fs::create_dir_all(&dir).expect("create the corpus directory");
                std::fs::write(&path, &bytes).expect("write a seed");
            } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "seed corpus out of date: {stale:?}\nrewrite it with: CAIRN_FUZZ_WRITE_CORPUS=1 cargo test -p cairn-server --test fuzz_requests -- seed_corpus_is_current"
    );
}

#[test]
fn v2_requests_random_bytes_never_panic() {
    run(
        "v2_requests_random_bytes_never_panic",
        random_bytes(128),
        |bytes| fuzzing::run("v2_request", &bytes),
    );
}

#[test]
fn v2_requests_mutated_never_panic() {
    run(
        "v2_requests_mutated_never_panic",
        mutated("v2_request"),
        |bytes| fuzzing::run("v2_request", &bytes),
    );
}

#[test]
fn gateway_json_random_bytes_never_panic() {
    run(
        "gateway_json_random_bytes_never_panic",
        random_bytes(128),
        |bytes| fuzzing::run("gateway_json", &bytes),
    );
}

#[test]
fn gateway_json_mutated_never_panic() {
    run(
        "gateway_json_mutated_never_panic",
        mutated("gateway_json"),
        |bytes| fuzzing::run("gateway_json", &bytes),
    );
}
