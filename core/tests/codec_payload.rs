//! Log payload codec properties: arbitrary proposals (with nested txns) and
//! member infos round trip; arbitrary bytes, truncations and bit flips never
//! panic, and whatever still decodes re-encodes to the very same bytes (the
//! encoding is canonical).
//!
//! A failure prints its minimal case; replay a run with PROPTEST_RNG_SEED=<seed>
//! cargo test -p cairn-core --test codec_payload.

use bytes::Bytes;
use cairn_core::auth::{AuthOp, Identity, PermType, Permission};
use cairn_core::codec::CodecError;
use cairn_core::member::{
    decode_member_info, decode_proposal, encode_member_info, encode_proposal, encode_proposal_into,
    AlarmKind, MemberInfo, Op, Proposal, PAYLOAD_FORMAT_VERSION,
};
use cairn_core::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    SortOrder, SortTarget, TxnRequest,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn small_bytes() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

/// Mostly small numbers (short varints), sometimes any (long and negative ones).
fn int() -> impl Strategy<Value = i64> {
    prop_oneof![3 => -2i64..300, 1 => any::<i64>()]
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0u64..300, 1 => any::<u64>()]
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,10}"
}

fn put() -> impl Strategy<Value = PutRequest> {
    (
        small_bytes(),
        small_bytes(),
        int(),
        any::<(bool, bool, bool)>(),
    )
        .prop_map(
            |(key, value, lease, (prev_kv, ignore_value, ignore_lease))| PutRequest {
                key,
                value,
                lease,
                prev_kv,
                ignore_value,
                ignore_lease,
            },
        )
}

fn delete() -> impl Strategy<Value = DeleteRangeRequest> {
    (small_bytes(), small_bytes(), any::<bool>()).prop_map(|(key, range_end, prev_kv)| {
        DeleteRangeRequest {
            key,
            range_end,
            prev_kv,
        }
    })
}

fn range() -> impl Strategy<Value = RangeRequest> {
    let sort_order = prop_oneof![
        Just(SortOrder::None),
        Just(SortOrder::Ascend),
        Just(SortOrder::Descend)
    ];
    let sort_target = prop_oneof![
        Just(SortTarget::Key),
        Just(SortTarget::Version),
        Just(SortTarget::Create),
        Just(SortTarget::Mod),
        Just(SortTarget::Value)
    ];
    (
        (small_bytes(), small_bytes(), int(), int()),
        (sort_order, sort_target, any::<(bool, bool, bool)>()),
        (int(), int(), int(), int()),
    )
        .prop_map(
            |(
                (key, range_end, limit, revision),
                (sort_order, sort_target, (serializable, keys_only, count_only)),
                (min_mod_revision, max_mod_revision, min_create_revision, max_create_revision),
            )| RangeRequest {
                key,
                range_end,
                limit,
                revision,
                sort_order,
                sort_target,
                serializable,
                keys_only,
                count_only,
                min_mod_revision,
                max_mod_revision,
                min_create_revision,
                max_create_revision,
            },
        )
}

fn compare() -> impl Strategy<Value = Compare> {
    let result = prop_oneof![
        Just(CompareResult::Equal),
        Just(CompareResult::Greater),
        Just(CompareResult::Less),
        Just(CompareResult::NotEqual)
    ];
    let target = prop_oneof![
        int().prop_map(CompareTarget::Version),
        int().prop_map(CompareTarget::Create),
        int().prop_map(CompareTarget::Mod),
        small_bytes().prop_map(CompareTarget::Value),
        int().prop_map(CompareTarget::Lease),
    ];
    (small_bytes(), small_bytes(), result, target).prop_map(|(key, range_end, result, target)| {
        Compare {
            key,
            range_end,
            result,
            target,
        }
    })
}

fn txn_of(op: impl Strategy<Value = RequestOp> + Clone) -> impl Strategy<Value = TxnRequest> {
    (vec(compare(), 0..3), vec(op.clone(), 0..4), vec(op, 0..3)).prop_map(
        |(compare, success, failure)| TxnRequest {
            compare,
            success,
            failure,
        },
    )
}

/// Txns nested up to 5 levels (the proposal's txn included).
fn txn() -> impl Strategy<Value = TxnRequest> {
    let leaf = prop_oneof![
        range().prop_map(RequestOp::Range),
        put().prop_map(RequestOp::Put),
        delete().prop_map(RequestOp::DeleteRange),
    ];
    let op = leaf.prop_recursive(4, 24, 4, |inner| txn_of(inner).prop_map(RequestOp::Txn));
    txn_of(op)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        put().prop_map(Op::Put),
        delete().prop_map(Op::DeleteRange),
        txn().prop_map(Op::Txn),
        (int(), any::<bool>()).prop_map(|(revision, physical)| Op::Compact { revision, physical }),
        (int(), int()).prop_map(|(id, ttl_secs)| Op::LeaseGrant { id, ttl_secs }),
        int().prop_map(|id| Op::LeaseRevoke { id }),
        (any::<bool>(), id(), any::<bool>()).prop_map(|(activate, member, corrupt)| Op::Alarm {
            activate,
            member,
            alarm: if corrupt {
                AlarmKind::Corrupt
            } else {
                AlarmKind::NoSpace
            },
        }),
        (id(), text(), vec(text(), 0..3)).prop_map(|(member, name, client_urls)| {
            Op::PublishAttributes {
                member,
                name,
                client_urls,
            }
        }),
    ]
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        Just(Identity::System),
        Just(Identity::Anonymous),
        text().prop_map(Identity::User),
    ]
}

fn auth_op() -> impl Strategy<Value = AuthOp> {
    let perm = (small_bytes(), small_bytes(), 0u8..3).prop_map(|(key, range_end, t)| Permission {
        key: key.to_vec(),
        range_end: range_end.to_vec(),
        perm_type: PermType::from_byte(t).expect("0..3"),
    });
    prop_oneof![
        Just(AuthOp::Enable),
        Just(AuthOp::Disable),
        (text(), small_bytes(), any::<bool>()).prop_map(|(name, hash, no_password)| {
            AuthOp::UserAdd {
                name,
                password_hash: hash.to_vec(),
                no_password,
            }
        }),
        text().prop_map(|name| AuthOp::UserDelete { name }),
        (text(), text()).prop_map(|(user, role)| AuthOp::UserGrantRole { user, role }),
        (text(), perm).prop_map(|(name, perm)| AuthOp::RoleGrantPermission { name, perm }),
        (text(), small_bytes(), small_bytes()).prop_map(|(role, key, range_end)| {
            AuthOp::RoleRevokePermission {
                role,
                key: key.to_vec(),
                range_end: range_end.to_vec(),
            }
        }),
        (text(), text(), id()).prop_map(|(name, token, checked_revision)| {
            AuthOp::Authenticate {
                name,
                token,
                checked_revision,
            }
        }),
    ]
}

fn proposal() -> impl Strategy<Value = Proposal> {
    let op = prop_oneof![4 => op(), 1 => auth_op().prop_map(Op::Auth)];
    (id(), id(), identity(), op).prop_map(|(origin, seq, identity, op)| Proposal {
        origin,
        seq,
        identity,
        op,
    })
}

fn member_info() -> impl Strategy<Value = MemberInfo> {
    (text(), vec(text(), 0..3), vec(text(), 0..3)).prop_map(|(name, peer_urls, client_urls)| {
        MemberInfo {
            name,
            peer_urls,
            client_urls,
        }
    })
}

/// Decodes `bytes`; if they decode, they must be exactly what encoding gives.
fn check_canonical(bytes: &Bytes) -> Result<(), TestCaseError> {
    if let Ok(proposal) = decode_proposal(bytes) {
        prop_assert_eq!(&encode_proposal(&proposal), bytes);
    }
    if let Ok(info) = decode_member_info(bytes) {
        prop_assert_eq!(&encode_member_info(&info), bytes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn proposals_round_trip(proposal in proposal(), prefix in vec(any::<u8>(), 0..4)) {
        let encoded = encode_proposal(&proposal);
        prop_assert_eq!(encoded[0], PAYLOAD_FORMAT_VERSION);
        prop_assert_eq!(decode_proposal(&encoded), Ok(proposal.clone()));
        // Appending after other bytes writes the same encoding.
        let mut out = prefix.clone();
        encode_proposal_into(&proposal, &mut out);
        prop_assert_eq!(&out[prefix.len()..], &encoded[..]);
    }

    #[test]
    fn member_infos_round_trip(info in member_info()) {
        let encoded = encode_member_info(&info);
        prop_assert_eq!(decode_member_info(&encoded), Ok(info));
    }

    #[test]
    fn every_truncation_is_an_error(proposal in proposal(), info in member_info()) {
        let encoded = encode_proposal(&proposal);
        for cut in 0..encoded.len() {
            let result = decode_proposal(&encoded.slice(..cut));
            prop_assert!(result.is_err(), "cut at {}: {:?}", cut, result);
        }
        let encoded = encode_member_info(&info);
        for cut in 0..encoded.len() {
            prop_assert!(decode_member_info(&encoded.slice(..cut)).is_err(), "cut at {}", cut);
        }
    }

    #[test]
    fn bit_flips_never_panic(proposal in proposal(), info in member_info(), bit in any::<prop::sample::Index>()) {
        for encoded in [encode_proposal(&proposal), encode_member_info(&info)] {
            let bit = bit.index(encoded.len() * 8);
            let mut flipped = encoded.to_vec();
            flipped[bit / 8] ^= 1 << (bit % 8);
            check_canonical(&Bytes::from(flipped))?;
        }
    }

    #[test]
    fn appended_bytes_are_refused(proposal in proposal(), extra in vec(any::<u8>(), 1..4)) {
        let mut encoded = encode_proposal(&proposal).to_vec();
        encoded.extend_from_slice(&extra);
        let is_trailing = matches!(
            decode_proposal(&Bytes::from(encoded)),
            Err(CodecError::TrailingBytes { .. })
        );
        prop_assert!(is_trailing);
    }

    #[test]
    fn arbitrary_bytes_never_panic(tail in vec(any::<u8>(), 0..48), versioned in any::<bool>()) {
        let mut bytes = Vec::new();
        if versioned {
            bytes.push(PAYLOAD_FORMAT_VERSION);
        }
        bytes.extend_from_slice(&tail);
        check_canonical(&Bytes::from(bytes))?;
    }

    /// Random bytes rarely get past the op tag; these start like a txn.
    #[test]
    fn arbitrary_txn_bodies_never_panic(tail in vec(prop_oneof![0u8..8, any::<u8>()], 0..64)) {
        let mut bytes = vec![PAYLOAD_FORMAT_VERSION, 1, 1, 3];
        bytes.extend_from_slice(&tail);
        check_canonical(&Bytes::from(bytes))?;
    }
}
