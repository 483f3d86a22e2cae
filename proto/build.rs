//! Compiles `proto/**/*.proto` with protox (pure Rust, no system `protoc`) and
//! generates prost messages plus tonic clients and servers from the result.
//!
//! Besides the Rust code, the encoded `FileDescriptorSet` is written to
//! `$OUT_DIR/cairn_descriptor.bin` so the crate can export it, and pbjson-build
//! generates protobuf's JSON mapping (serde) for the HTTP gateway from it.

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
    let encoded = descriptors.encode_to_vec();
    fs::write(out_dir.join("cairn_descriptor.bin"), &encoded)?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Every `bytes` field becomes `bytes::Bytes`: decoding slices the
        // request buffer instead of copying keys and values.
        .bytes(".")
        .compile_fds(descriptors)?;

    // serde impls with protobuf's JSON mapping for every message, as etcd's
    // grpc-gateway marshals them (`OrigName: true`): proto field names,
    // 64-bit integers as strings, bytes as base64, enums by name, default
    // values left out, unknown fields ignored (grpc-gateway v1 allows them). Written to `<package>.serde.rs`.
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        .preserve_proto_field_names()
        .ignore_unknown_fields()
        .build(&[
            ".mvccpb",
            ".authpb",
            ".etcdserverpb",
            ".v3lockpb",
            ".v3electionpb",
        ])?;
    Ok(())
}
