//! Fuzz bodies for what a client's bytes reach before the member: gRPC
//! requests (protobuf decoding, then [`crate::grpc::convert`]) and auth
//! tokens (simple tokens and JWTs). Not part of the API: `fuzz/fuzz_targets/`
//! (cargo-fuzz) and `server/tests/fuzz_requests.rs` (stable proptest) call
//! them; cairn-core's `fuzzing` module has the decoders of peer, WAL and
//! snapshot bytes.
//!
//! A body panics only on a bug: a conversion or a verifier must answer every
//! input with a value or a `Status`.

use bytes::Bytes;
use cairn_core::auth::{AuthError, AuthOp, AuthStore, Caller, Identity};
use cairn_core::lease::{Lessor, LessorConfig};
use cairn_core::member::{decode_proposal, encode_proposal};
use cairn_core::member::{Op, Proposal};
use cairn_core::mvcc::{self, Store, DEFAULT_MAX_TXN_OPS};
use cairn_core::time::Instant;
use cairn_proto::etcdserverpb as pb;
use prost::Message;
use tonic::metadata::AsciiMetadataValue;

use crate::grpc::convert;
use crate::grpc::tokens::{TokenProvider, TOKEN_METADATA};

/// The largest input a body reads; the rest is ignored.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// The fuzz targets of this crate, as named in `fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 5] = [
    "grpc_request",
    "auth_token",
    "etcd_import",
    "v2_request",
    "gateway_json",
];

/// Runs the body of the target named `target` (one of [`TARGETS`]).
///
/// # Panics
/// On an unknown name, or when the body finds a bug.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "grpc_request" => grpc_request(data),
        "auth_token" => auth_token(data),
        "etcd_import" => crate::backup::fuzz::etcd_import(capped(data)),
        "v2_request" => crate::v2::fuzz::v2_request(capped(data)),
        "gateway_json" => crate::gateway::fuzz::gateway_json(capped(data)),
        other => panic!("no fuzz target {other:?} in cairn-server"),
    }
}

fn capped(data: &[u8]) -> &[u8] {
    &data[..data.len().min(MAX_INPUT_BYTES)]
}

/// Request kinds of a [`grpc_request`] input's first byte (modulo their count).
const REQUEST_RANGE: u8 = 0;
const REQUEST_PUT: u8 = 1;
const REQUEST_DELETE_RANGE: u8 = 2;
const REQUEST_TXN: u8 = 3;
const REQUEST_COMPACTION: u8 = 4;
const REQUEST_KINDS: u8 = 5;

/// A KV request as a client sends it: `kind u8 | protobuf message`. What
/// converts must also survive what follows it on a member: encoding into a
/// proposal (and decoding back, identical, as every member decodes it) and
/// applying to a store.
pub fn grpc_request(data: &[u8]) {
    let data = capped(data);
    let Some((&kind, message)) = data.split_first() else {
        return;
    };
    let mut leases = lessor();
    let mut store = store(&mut leases);
    match kind % REQUEST_KINDS {
        REQUEST_RANGE => {
            let Some(range) = converted(message, convert::range_request) else {
                return;
            };
            // A range alone is read, not proposed; inside a txn it is proposed.
            round_trip(Op::Txn(mvcc::TxnRequest {
                compare: Vec::new(),
                success: vec![mvcc::RequestOp::Range(range.clone())],
                failure: Vec::new(),
            }));
            let _ = store.range(&range);
        }
        REQUEST_PUT => {
            let Some(put) = converted(message, convert::put_request) else {
                return;
            };
            round_trip(Op::Put(put.clone()));
            let _ = store.put(&mut leases, &put);
        }
        REQUEST_DELETE_RANGE => {
            let Some(delete) = converted(message, convert::delete_range_request) else {
                return;
            };
            round_trip(Op::DeleteRange(delete.clone()));
            let _ = store.delete_range(&mut leases, &delete);
        }
        REQUEST_TXN => {
            let convert = |request| convert::txn_request(request, DEFAULT_MAX_TXN_OPS);
            let Some(txn) = converted(message, convert) else {
                return;
            };
            round_trip(Op::Txn(txn.clone()));
            let _ = store.txn(&mut leases, &txn);
        }
        REQUEST_COMPACTION => {
            let Some((revision, physical)) = converted(message, convert::compaction_request) else {
                return;
            };
            round_trip(Op::Compact { revision, physical });
            let _ = store.compact(revision);
        }
        _ => unreachable!("kind is taken modulo REQUEST_KINDS"),
    }
}

/// Decodes `message` as protobuf and converts it; `None` where either refused.
fn converted<Request: Message + Default, Converted>(
    message: &[u8],
    convert: impl FnOnce(Request) -> Result<Converted, tonic::Status>,
) -> Option<Converted> {
    let request = Request::decode(message).ok()?;
    convert(request).ok()
}

/// A proposal of `op` decodes back to itself.
fn round_trip(op: Op) {
    let proposal = Proposal {
        origin: 1,
        seq: 1,
        identity: Identity::User("alice".into()),
        op,
    };
    let decoded = decode_proposal(&encode_proposal(&proposal))
        .unwrap_or_else(|error| panic!("an accepted request does not decode: {error}"));
    assert_eq!(decoded, proposal);
}

const LEASE: i64 = 7;

fn lessor() -> Lessor {
    let mut leases = Lessor::new(LessorConfig { min_ttl_secs: 1 });
    leases.grant(LEASE, 30, Instant::ZERO).expect("grant");
    leases
}

/// A store with a few keys, one with a lease, history compacted at 2.
fn store(leases: &mut Lessor) -> Store {
    let mut store = Store::default();
    for (key, lease) in [("a", 0), ("b", LEASE), ("c", 0), ("a", 0)] {
        let put = mvcc::PutRequest {
            key: Bytes::from_static(key.as_bytes()),
            value: Bytes::from_static(b"value"),
            lease,
            ..mvcc::PutRequest::default()
        };
        let _ = store.put(leases, &put).expect("put");
    }
    store.compact(2).expect("compact");
    store
}

/// The secret of the JWTs [`auth_token`] signs.
const JWT_SECRET: &[u8] = b"the fuzz target's HS256 secret";
/// The simple token the auth store of [`auth_token`] knows.
const SIMPLE_TOKEN: &str = "tokenforalice.1";

/// A token as a client sends it in gRPC metadata, read by a member with
/// simple tokens and by one with JWTs; and `data` as the claims of a JWT
/// signed with the right key (`header json | 0x00 | claims json`, or the
/// claims alone under a standard header), to get past the signature to the
/// claims parser.
pub fn auth_token(data: &[u8]) {
    let data = capped(data);
    let simple = TokenProvider::from_flags("simple", 4).expect("simple tokens");
    let jwt = TokenProvider::jwt_hs256(JWT_SECRET);

    if let Ok(value) = AsciiMetadataValue::try_from(data) {
        let mut request = tonic::Request::new(());
        request.metadata_mut().insert(TOKEN_METADATA, value);
        match simple.caller(&request) {
            Ok(Caller::Token(token)) => {
                assert_eq!(token.as_bytes(), data);
                let identity = auth_store().identify(&Caller::Token(token.clone()), Instant::ZERO);
                match identity {
                    Ok(Identity::User(name)) => {
                        assert!(token == SIMPLE_TOKEN && name == "alice");
                    }
                    Ok(other) => panic!("token {token:?} identifies {other:?}"),
                    Err(error) => assert_eq!(error, AuthError::InvalidAuthToken),
                }
            }
            Ok(other) => panic!("a simple token read as {other:?}"),
            Err(_) => {}
        }
        if let Ok(caller) = jwt.caller(&request) {
            check_jwt_caller(&jwt, caller);
        }
    }

    // Past the signature: the fuzzer's bytes as header and claims.
    if let Ok(caller) = jwt.caller(&token_request(&signed_token(data))) {
        check_jwt_caller(&jwt, caller);
    }
}

/// `data` as a JWT signed with [`JWT_SECRET`]: `header json | 0x00 | claims
/// json`, or the claims alone under the standard HS256 header.
fn signed_token(data: &[u8]) -> String {
    let (header, claims) = match data.iter().position(|&byte| byte == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], data),
    };
    let message = format!("{}.{}", base64url(header), base64url(claims));
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET);
    let algorithm = jsonwebtoken::Algorithm::HS256;
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, algorithm)
        .expect("HMAC signing cannot fail");
    format!("{message}.{signature}")
}

/// A request carrying `token` (ASCII) in its metadata.
fn token_request(token: &str) -> tonic::Request<()> {
    let value = AsciiMetadataValue::try_from(token).expect("a JWT is ASCII");
    let mut request = tonic::Request::new(());
    request.metadata_mut().insert(TOKEN_METADATA, value);
    request
}

/// A JWT that verified names a user, and a token signed for that user at that
/// revision verifies to the same caller.
fn check_jwt_caller(jwt: &TokenProvider, caller: Caller) {
    let Caller::User {
        name,
        revision: Some(revision),
    } = &caller
    else {
        panic!("a JWT read as {caller:?}");
    };
    assert!(!name.is_empty());
    let token = jwt
        .sign_jwt(name, *revision)
        .expect("a JWT provider")
        .expect("HMAC signing cannot fail");
    assert_eq!(jwt.caller(&token_request(&token)).ok(), Some(caller));
}

/// An auth store with auth enabled and one simple token, alice's.
fn auth_store() -> AuthStore {
    let mut store = AuthStore::new(60_000);
    let system = Identity::System;
    for op in [
        AuthOp::UserAdd {
            name: "root".into(),
            password_hash: b"$2b$04$unused".to_vec(),
            no_password: false,
        },
        AuthOp::UserGrantRole {
            user: "root".into(),
            role: "root".into(),
        },
        AuthOp::UserAdd {
            name: "alice".into(),
            password_hash: b"$2b$04$unused".to_vec(),
            no_password: false,
        },
        AuthOp::Enable,
    ] {
        store.apply(&system, &op, Instant::ZERO).expect("auth op");
    }
    let authenticate = AuthOp::Authenticate {
        name: "alice".into(),
        token: SIMPLE_TOKEN.into(),
        checked_revision: store.revision(),
    };
    store
        .apply(&system, &authenticate, Instant::ZERO)
        .expect("authenticate");
    store
}

/// Base64url without padding (RFC 7515's JWS encoding).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (i, &byte)| {
            word | u32::from(byte) << (16 - 8 * i)
        });
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(word >> (18 - 6 * i) & 0x3f) as usize] as char);
        }
    }
    out
}

/// `(name, bytes)` of every seed of `target` (one of [`TARGETS`]): requests
/// of every kind as clients send them, and tokens.
///
/// # Panics
/// On an unknown target name.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let inputs = match target {
        "grpc_request" => request_seeds(),
        "auth_token" => token_seeds(),
        "etcd_import" => crate::backup::fuzz::seeds(),
        "v2_request" => crate::v2::fuzz::seeds(),
        "gateway_json" => crate::gateway::fuzz::seeds(),
        other => panic!("no fuzz target {other:?} in cairn-server"),
    };
    inputs
        .into_iter()
        .enumerate()
        .map(|(n, bytes)| (format!("seed-{target}-{n:02}"), bytes))
        .collect()
}

fn request_seeds() -> Vec<Vec<u8>> {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    use pb::request_op::Request;
    let range = pb::RangeRequest {
        key: Bytes::from_static(b"a"),
        range_end: Bytes::from_static(b"z"),
        limit: 10,
        sort_order: 2,
        sort_target: 3,
        min_mod_revision: 1,
        ..pb::RangeRequest::default()
    };
    let put = pb::PutRequest {
        key: Bytes::from_static(b"k"),
        value: Bytes::from_static(b"v"),
        lease: LEASE,
        prev_kv: true,
        ..pb::PutRequest::default()
    };
    let delete = pb::DeleteRangeRequest {
        key: Bytes::from_static(b"a"),
        range_end: Bytes::from_static(b"\0"),
        prev_kv: true,
    };
    let compare = pb::Compare {
        result: CompareResult::Greater as i32,
        target: CompareTarget::Mod as i32,
        key: Bytes::from_static(b"a"),
        range_end: Bytes::new(),
        target_union: Some(TargetUnion::ModRevision(1)),
    };
    let nested = pb::TxnRequest {
        compare: Vec::new(),
        success: vec![pb::RequestOp {
            request: Some(Request::RequestDeleteRange(delete.clone())),
        }],
        failure: Vec::new(),
    };
    let txn = pb::TxnRequest {
        compare: vec![compare],
        success: vec![
            pb::RequestOp {
                request: Some(Request::RequestPut(put.clone())),
            },
            pb::RequestOp {
                request: Some(Request::RequestTxn(nested)),
            },
        ],
        failure: vec![pb::RequestOp {
            request: Some(Request::RequestRange(range.clone())),
        }],
    };
    let compaction = pb::CompactionRequest {
        revision: 3,
        physical: true,
    };
    let tagged = |kind: u8, message: Vec<u8>| [vec![kind], message].concat();
    vec![
        tagged(REQUEST_RANGE, range.encode_to_vec()),
        tagged(REQUEST_PUT, put.encode_to_vec()),
        tagged(REQUEST_DELETE_RANGE, delete.encode_to_vec()),
        tagged(REQUEST_TXN, txn.encode_to_vec()),
        tagged(REQUEST_COMPACTION, compaction.encode_to_vec()),
    ]
}

fn token_seeds() -> Vec<Vec<u8>> {
    // A fixed expiry (year 5138), so the seed is the same on every run.
    let claims = br#"{"username":"alice","revision":3,"exp":99999999999}"#;
    vec![
        SIMPLE_TOKEN.as_bytes().to_vec(),
        signed_token(claims).into_bytes(),
        claims.to_vec(),
        [
            &br#"{"alg":"HS256"}"#[..],
            &[0],
            br#"{"username":"bob","revision":0,"exp":99999999999,"extra":[1,{"a":null}]}"#,
        ]
        .concat(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64url(plain.as_bytes()), encoded);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    /// The signed-claims path reaches a verified caller, so the fuzzer works
    /// on the claims parser and not only on the signature check.
    #[test]
    fn signed_claims_verify() {
        let jwt = TokenProvider::jwt_hs256(JWT_SECRET);
        let claims = br#"{"username":"alice","revision":3,"exp":99999999999}"#;
        assert_eq!(
            jwt.caller(&token_request(&signed_token(claims))).ok(),
            Some(Caller::User {
                name: "alice".into(),
                revision: Some(3)
            })
        );
        let expired = br#"{"username":"alice","revision":3,"exp":1}"#;
        assert!(jwt.caller(&token_request(&signed_token(expired))).is_err());
    }
}
