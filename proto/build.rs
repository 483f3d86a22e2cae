//! Compiles `proto/**/*.proto` with protox (pure Rust, no system `protoc`) and
//! generates prost messages plus tonic clients and servers from the result.
//!
//! Besides the Rust code, the encoded `FileDescriptorSet` is written to
//! `$OUT_DIR/cairn_descriptor.bin` so the crate can export it.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

/// Include root of our `.proto` files; imports are relative to it.
const PROTO_ROOT: &str = "proto";

/// Every file we compile. Imports are pulled in by protox automatically, but
/// listing all five makes each one a root of generation.
const PROTO_FILES: &[&str] = &[
    "mvccpb/kv.proto",
    "authpb/auth.proto",
    "etcdserverpb/rpc.proto",
    "v3lockpb/v3lock.proto",
    "v3electionpb/v3election.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={PROTO_ROOT}/{file}");
    }

    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("cairn_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Every `bytes` field becomes `bytes::Bytes`: decoding slices the
        // request buffer instead of copying keys and values.
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
