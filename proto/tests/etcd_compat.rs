//! Wire compatibility with etcd's own `.proto` files.
//!
//! Compiles etcd 3.4's files as shipped by Debian's `golang-etcd-server-dev`
//! (under `/usr/share/gocode/src`) with protox, then compares every message,
//! enum and service of our five packages with cairn's descriptor set: field
//! names, numbers, labels, types, oneof membership, JSON names and options; enum
//! value names and numbers; method names, input/output types and streaming
//! flags. Any difference fails with the full list.
//!
//! Without etcd's files the test is skipped with a note, unless
//! `CAIRN_REQUIRE_ETCD` is set (to anything but `0`), in which case it
//! fails: CI installs the package and sets it.
//! `CAIRN_GOCODE_SRC` overrides the `/usr/share/gocode/src` root.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

/// Facts (by key prefix) of what cairn adds from etcd 3.5's API.
const FROM_ETCD_3_5: [&str; 3] = [
    "service etcdserverpb.Auth method AuthStatus",
    "message etcdserverpb.AuthStatusRequest",
    "message etcdserverpb.AuthStatusResponse",
];

/// Packages whose contents must match etcd's.
const PACKAGES: [&str; 5] = [
    "etcdserverpb",
    "mvccpb",
    "authpb",
    "v3lockpb",
    "v3electionpb",
];

/// etcd's files, as imported relative to `<root>/go.etcd.io`.
const ETCD_FILES: [&str; 5] = [
    "etcd/mvcc/mvccpb/kv.proto",
    "etcd/auth/authpb/auth.proto",
    "etcd/etcdserver/etcdserverpb/rpc.proto",
    "etcd/etcdserver/api/v3lock/v3lockpb/v3lock.proto",
    "etcd/etcdserver/api/v3election/v3electionpb/v3election.proto",
];

/// Include directories (relative to the root) and one file each must hold:
/// etcd itself, gogoproto's options, and google.api's HTTP annotations.
const INCLUDES: [(&str, &str); 3] = [
    ("go.etcd.io", "etcd/etcdserver/etcdserverpb/rpc.proto"),
    ("github.com/gogo/protobuf", "gogoproto/gogo.proto"),
    (
        "github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis",
        "google/api/annotations.proto",
    ),
];

const DEFAULT_ROOT: &str = "/usr/share/gocode/src";

/// Writes straight to the process's stderr, so the note shows even though
/// the test harness captures `println!` output of passing tests.
fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn etcd_required() -> bool {
    std::env::var("CAIRN_REQUIRE_ETCD").is_ok_and(|value| !value.is_empty() && value != "0")
}

/// Every path the comparison needs that is absent under `root`.
fn missing_files(root: &Path) -> Vec<PathBuf> {
    let etcd = ETCD_FILES
        .iter()
        .map(|file| root.join("go.etcd.io").join(file));
    let imports = INCLUDES
        .iter()
        .map(|(include, file)| root.join(include).join(file));
    let mut missing: Vec<PathBuf> = etcd.chain(imports).filter(|path| !path.is_file()).collect();
    missing.sort();
    missing.dedup();
    missing
}

fn compile_etcd(root: &Path) -> FileDescriptorSet {
    let includes: Vec<PathBuf> = INCLUDES
        .iter()
        .map(|(include, _)| root.join(include))
        .collect();
    let mut compiler = protox::Compiler::new(includes).expect("include paths");
    compiler.include_imports(true).include_source_info(false);
    compiler
        .open_files(ETCD_FILES)
        .unwrap_or_else(|error| panic!("protox cannot compile etcd's files: {error:?}"));
    compiler.file_descriptor_set()
}

fn cairn_descriptors() -> FileDescriptorSet {
    FileDescriptorSet::decode(cairn_proto::FILE_DESCRIPTOR_SET).expect("cairn's descriptor set")
}

/// A flat, comparable description of the API: one entry per message, field,
/// enum, enum value, service and method, keyed so that a diff reads well.
type Facts = BTreeMap<String, String>;

fn facts(set: &FileDescriptorSet) -> Facts {
    let mut facts = Facts::new();
    for file in &set.file {
        let package = file.package();
        if !PACKAGES.contains(&package) {
            continue;
        }
        for message in &file.message_type {
            message_facts(&mut facts, package, message);
        }
        for enumeration in &file.enum_type {
            enum_facts(&mut facts, package, enumeration);
        }
        for service in &file.service {
            let name = format!("{package}.{}", service.name());
            facts.insert(format!("service {name}"), "present".into());
            for method in &service.method {
                let stream = |yes: bool| if yes { "stream " } else { "" };
                facts.insert(
                    format!("service {name} method {}", method.name()),
                    format!(
                        "({}{}) returns ({}{})",
                        stream(method.client_streaming()),
                        method.input_type(),
                        stream(method.server_streaming()),
                        method.output_type(),
                    ),
                );
            }
        }
    }
    facts
}

fn message_facts(facts: &mut Facts, scope: &str, message: &DescriptorProto) {
    let name = format!("{scope}.{}", message.name());
    facts.insert(format!("message {name}"), "present".into());
    for field in &message.field {
        let oneof = match field.oneof_index {
            Some(index) if !field.proto3_optional() => {
                format!(" oneof={}", message.oneof_decl[index as usize].name())
            }
            _ => String::new(),
        };
        let optional = if field.proto3_optional() {
            " proto3_optional"
        } else {
            ""
        };
        let label = Label::try_from(field.label.unwrap_or_default())
            .map_or_else(|_| "?".to_string(), |label| format!("{label:?}"));
        let kind = Type::try_from(field.r#type.unwrap_or_default())
            .map_or_else(|_| "?".to_string(), |kind| format!("{kind:?}"));
        // Field options such as `packed` change the encoding; etcd's five
        // files set none, so any option on our side shows up as a difference.
        let options = field
            .options
            .as_ref()
            .map(|options| format!(" options={options:?}"))
            .unwrap_or_default();
        facts.insert(
            format!("message {name} field #{}", field.number()),
            format!(
                "{} {label} {kind}{}{oneof}{optional} json={}{options}",
                field.name(),
                field
                    .type_name
                    .as_deref()
                    .map(|type_name| format!(" {type_name}"))
                    .unwrap_or_default(),
                field.json_name(),
            ),
        );
    }
    for nested in &message.nested_type {
        message_facts(facts, &name, nested);
    }
    for enumeration in &message.enum_type {
        enum_facts(facts, &name, enumeration);
    }
}

fn enum_facts(facts: &mut Facts, scope: &str, enumeration: &EnumDescriptorProto) {
    let name = format!("{scope}.{}", enumeration.name());
    facts.insert(format!("enum {name}"), "present".into());
    for value in &enumeration.value {
        facts.insert(
            format!("enum {name} value {}", value.name()),
            value.number().to_string(),
        );
    }
}

/// Human-readable differences; empty when the two agree.
fn differences(etcd: &Facts, cairn: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    for (key, expected) in etcd {
        match cairn.get(key) {
            None => out.push(format!("missing in cairn: {key} = {expected}")),
            Some(actual) if actual != expected => out.push(format!(
                "differs: {key}\n    etcd:  {expected}\n    cairn: {actual}"
            )),
            Some(_) => {}
        }
    }
    for (key, actual) in cairn {
        if !etcd.contains_key(key) {
            out.push(format!("extra in cairn: {key} = {actual}"));
        }
    }
    out
}

#[test]
fn matches_etcd_3_4_proto_files() {
    let root = std::env::var_os("CAIRN_GOCODE_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
    let missing = missing_files(&root);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
        if etcd_required() {
            panic!(
                "CAIRN_REQUIRE_ETCD is set but etcd's .proto files are missing:\n  {}\n\
                 install them with: apt-get install -y golang-etcd-server-dev",
                list.join("\n  ")
            );
        }
        note(&format!(
            "SKIPPED matches_etcd_3_4_proto_files: etcd's .proto files not found \
             (missing {}); install golang-etcd-server-dev, or set CAIRN_REQUIRE_ETCD=1 \
             to make this a failure",
            list.join(", ")
        ));
        return;
    }

    let etcd = facts(&compile_etcd(&root));
    let mut cairn = facts(&cairn_descriptors());
    // What cairn serves beyond 3.4, taken unchanged from etcd 3.5 (so 3.5's
    // clients find it): nothing else may differ.
    cairn.retain(|key, _| !FROM_ETCD_3_5.iter().any(|later| key.starts_with(later)));
    for package in PACKAGES {
        let prefix = format!("message {package}.");
        assert!(
            etcd.keys().any(|key| key.starts_with(&prefix)),
            "etcd's files define no message in package {package}: wrong files?"
        );
    }
    let diff = differences(&etcd, &cairn);
    assert!(
        diff.is_empty(),
        "cairn's .proto files differ from etcd's ({} differences):\n{}",
        diff.len(),
        diff.join("\n")
    );
    note(&format!(
        "matches_etcd_3_4_proto_files: {} facts agree with etcd's files under {}",
        etcd.len(),
        root.display()
    ));
}

/// The comparison itself must notice changes; checked on our own set so it
/// runs everywhere.
#[test]
fn comparison_reports_every_kind_of_difference() {
    let original = cairn_descriptors();
    let mut changed = original.clone();
    let rpc = changed
        .file
        .iter_mut()
        .find(|file| file.package() == "etcdserverpb")
        .expect("etcdserverpb file");
    let put = rpc
        .message_type
        .iter_mut()
        .find(|message| message.name() == "PutRequest")
        .expect("PutRequest");
    put.field[1].number = Some(9);
    let kv = rpc
        .service
        .iter_mut()
        .find(|service| service.name() == "KV")
        .expect("KV service");
    kv.method.retain(|method| method.name() != "Compact");
    let watch = rpc
        .service
        .iter_mut()
        .find(|service| service.name() == "Watch")
        .expect("Watch service");
    watch.method[0].client_streaming = Some(false);
    let alarm = rpc
        .enum_type
        .iter_mut()
        .find(|enumeration| enumeration.name() == "AlarmType")
        .expect("AlarmType");
    alarm.value[2].number = Some(7);

    let diff = differences(&facts(&original), &facts(&changed));
    let text = diff.join("\n");
    for expected in [
        "missing in cairn: message etcdserverpb.PutRequest field #2",
        "extra in cairn: message etcdserverpb.PutRequest field #9",
        "missing in cairn: service etcdserverpb.KV method Compact",
        "differs: service etcdserverpb.Watch method Watch",
        "differs: enum etcdserverpb.AlarmType value CORRUPT",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not reported in:\n{text}"
        );
    }
    assert_eq!(diff.len(), 5, "unexpected extra differences:\n{text}");
}

#[test]
fn descriptor_set_holds_exactly_the_five_packages() {
    let set = cairn_descriptors();
    let mut packages: Vec<&str> = set.file.iter().map(|file| file.package()).collect();
    packages.sort_unstable();
    let mut expected = PACKAGES.to_vec();
    expected.sort_unstable();
    assert_eq!(packages, expected);
}
