//! Peer protocol properties: every message variant round trips through a frame;
//! a frame's every strict prefix asks for more bytes; a flipped bit anywhere in
//! a frame is an error (the CRC catches body flips); arbitrary bytes never
//! panic, and whatever still decodes re-encodes to the very same bytes.
//!
//! A failure prints its minimal case; replay a run with PROPTEST_RNG_SEED=<seed>
//! cargo test -p cairn-core --test codec_peer.

use bytes::Bytes;
use cairn_core::codec::{
    decode_frame, decode_hello, decode_message_body, encode_hello, encode_message,
    encode_message_body, CodecError, Hello, FRAME_HEADER_BYTES, FRAME_MAGIC, HELLO_BYTES,
};
use cairn_core::raft::{
    ConfState, Entry, EntryKind, Message, MessageBody, RejectHint, SnapshotMeta,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Mostly small numbers (short varints), sometimes any (long ones).
fn int() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0u64..300, 1 => any::<u64>()]
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    let kind = prop_oneof![Just(EntryKind::Normal), Just(EntryKind::ConfChange)];
    let data = vec(any::<u8>(), 0..40).prop_map(Bytes::from);
    let entry = (int(), int(), kind, data).prop_map(|(term, index, kind, data)| Entry {
        term,
        index,
        kind,
        data,
    });
    vec(entry, 0..5)
}

fn ids() -> impl Strategy<Value = Vec<u64>> {
    vec(int(), 0..6)
}

fn body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        (int(), int(), entries(), int()).prop_map(|(prev_index, prev_term, entries, commit)| {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            }
        }),
        (int(), proptest::option::of((int(), int()))).prop_map(|(index, reject)| {
            MessageBody::AppendResponse {
                index,
                reject: reject.map(|(index, term)| RejectHint { index, term }),
            }
        }),
        (int(), int())
            .prop_map(|(commit, read_round)| MessageBody::Heartbeat { commit, read_round }),
        int().prop_map(|read_round| MessageBody::HeartbeatResponse { read_round }),
        (any::<bool>(), int(), int(), any::<bool>()).prop_map(
            |(pre, last_index, last_term, transfer)| MessageBody::Vote {
                pre,
                last_index,
                last_term,
                transfer,
            }
        ),
        any::<(bool, bool)>().prop_map(|(pre, granted)| MessageBody::VoteResponse { pre, granted }),
        (int(), int(), ids(), ids()).prop_map(|(index, term, voters, learners)| {
            MessageBody::Snapshot {
                meta: SnapshotMeta {
                    index,
                    term,
                    conf_state: ConfState { voters, learners },
                },
            }
        }),
        entries().prop_map(|entries| MessageBody::Propose { entries }),
        ids().prop_map(|ids| MessageBody::ReadIndex { ids }),
        (ids(), int()).prop_map(|(ids, index)| MessageBody::ReadIndexResponse { ids, index }),
        int().prop_map(|target| MessageBody::TransferLeader { target }),
        Just(MessageBody::TimeoutNow),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (int(), int(), int(), body()).prop_map(|(from, to, term, body)| Message {
        from,
        to,
        term,
        body,
    })
}

fn frame_of(message: &Message) -> Bytes {
    let mut out = Vec::new();
    encode_message(message, &mut out);
    Bytes::from(out)
}

/// Wraps any body in a valid header, so the body parser is what is exercised.
fn frame_around(body: &[u8]) -> Bytes {
    let mut out = vec![FRAME_MAGIC];
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// Decodes `frame`; if it decodes, the consumed bytes must be exactly what
/// encoding the message gives.
fn check_canonical(frame: &Bytes) -> Result<(), TestCaseError> {
    if let Ok(Some((message, consumed))) = decode_frame(frame) {
        prop_assert_eq!(&frame_of(&message), &frame.slice(..consumed));
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
    fn messages_round_trip(message in message(), next in message()) {
        let frame = frame_of(&message);
        let body = &frame[FRAME_HEADER_BYTES..];
        prop_assert_eq!(frame.len(), FRAME_HEADER_BYTES + body.len());
        prop_assert_eq!(
            decode_message_body(&Bytes::copy_from_slice(body)),
            Ok(message.clone())
        );
        let mut only_body = Vec::new();
        encode_message_body(&message, &mut only_body);
        prop_assert_eq!(&only_body[..], body);
        // Two frames back to back: the first says where the second starts.
        let mut stream = frame.to_vec();
        encode_message(&next, &mut stream);
        let stream = Bytes::from(stream);
        prop_assert_eq!(decode_frame(&stream), Ok(Some((message, frame.len()))));
        prop_assert_eq!(
            decode_frame(&stream.slice(frame.len()..)),
            Ok(Some((next, stream.len() - frame.len())))
        );
    }

    #[test]
    fn every_strict_prefix_asks_for_more(message in message()) {
        let frame = frame_of(&message);
        for cut in 0..frame.len() {
            prop_assert_eq!(decode_frame(&frame.slice(..cut)), Ok(None), "cut at {}", cut);
        }
    }

    #[test]
    fn every_bit_flip_is_caught(message in message(), bit in any::<prop::sample::Index>()) {
        let frame = frame_of(&message);
        let bit = bit.index(frame.len() * 8);
        let mut flipped = frame.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let result = decode_frame(&Bytes::from(flipped));
        match bit / 8 {
            0 => {
                let bad_magic = matches!(result, Err(CodecError::BadMagic { .. }));
                prop_assert!(bad_magic, "{:?}", result);
            }
            // A changed length: the body ends elsewhere (so its CRC fails), lies
            // beyond the bytes at hand (wait for more), or exceeds the limit.
            1..=4 => prop_assert!(matches!(result, Err(_) | Ok(None)), "{:?}", result),
            // CRC-32 detects every single-bit error in the body or in itself.
            _ => {
                let mismatch = matches!(result, Err(CodecError::ChecksumMismatch { .. }));
                prop_assert!(mismatch, "{:?}", result);
            }
        }
    }

    /// Without the CRC's protection, a flipped body bit still never panics.
    #[test]
    fn body_bit_flips_never_panic(message in message(), bit in any::<prop::sample::Index>()) {
        let frame = frame_of(&message);
        let body = &frame[FRAME_HEADER_BYTES..];
        let bit = bit.index(body.len() * 8);
        let mut flipped = body.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        check_canonical(&frame_around(&flipped))?;
        let _ = decode_message_body(&Bytes::from(flipped));
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in vec(prop_oneof![0u8..16, any::<u8>()], 0..64)) {
        check_canonical(&frame_around(&body))?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(tail in vec(any::<u8>(), 0..64), magic in any::<bool>()) {
        let mut bytes = Vec::new();
        if magic {
            bytes.push(FRAME_MAGIC);
        }
        bytes.extend_from_slice(&tail);
        check_canonical(&Bytes::from(bytes.clone()))?;
        let _ = decode_hello(&bytes);
    }

    #[test]
    fn hellos_round_trip(cluster_id in any::<u64>(), from in int(), to in int(), bit in 0..HELLO_BYTES * 8) {
        let hello = encode_hello(cluster_id, from, to);
        let decoded = Hello { cluster_id, from, to };
        prop_assert_eq!(decode_hello(&hello), Ok(Some((decoded, HELLO_BYTES))));
        prop_assert_eq!(decoded.check(cluster_id, to), Ok(()));
        let mut flipped = hello;
        flipped[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(decode_hello(&flipped).is_err());
    }
}
