//! Known bytes (so the formats cannot drift silently) and one test per refusal.
//! Round trips and fuzzing of arbitrary values live in core/tests/codec_*.rs.

use bytes::Bytes;

use super::*;
use crate::member::{
    decode_member_info, decode_proposal, encode_member_info, encode_proposal, MemberInfo, Op,
    Proposal, MAX_TXN_DEPTH, PAYLOAD_FORMAT_VERSION,
};
use crate::mvcc::{PutRequest, RequestOp, TxnRequest};
use crate::raft::{Entry, EntryKind, Message, MessageBody};

/// The frame of [`known_message`], worked out by hand (and its CRC with
/// Python's `zlib.crc32`):
///
/// ```text
/// c1           magic
/// 0f 00 00 00  body length 15
/// 8e 2a 99 b9  CRC-32 of the body
/// 01 02 05     from 1, to 2, term 5
/// 01           tag Append
/// 0a 04 ac 02  prev_index 10, prev_term 4, commit 300 (varint ac 02)
/// 01           one entry:
/// 05 0b 00     term 5, index 11, kind Normal
/// 02 68 69     data "hi"
/// ```
const KNOWN_FRAME: &[u8] = &[
    0xc1, 0x0f, 0x00, 0x00, 0x00, 0x8e, 0x2a, 0x99, 0xb9, 0x01, 0x02, 0x05, 0x01, 0x0a, 0x04, 0xac,
    0x02, 0x01, 0x05, 0x0b, 0x00, 0x02, 0x68, 0x69,
];

fn known_message() -> Message {
    Message {
        from: 1,
        to: 2,
        term: 5,
        body: MessageBody::Append {
            prev_index: 10,
            prev_term: 4,
            entries: vec![Entry {
                term: 5,
                index: 11,
                kind: EntryKind::Normal,
                data: Bytes::from_static(b"hi"),
            }],
            commit: 300,
        },
    }
}

fn frame_of(message: &Message) -> Bytes {
    let mut out = Vec::new();
    encode_message(message, &mut out);
    Bytes::from(out)
}

#[test]
fn a_known_message_has_known_bytes() {
    let frame = frame_of(&known_message());
    assert_eq!(&frame[..], KNOWN_FRAME);
    let decoded = decode_frame(&frame).unwrap();
    assert_eq!(decoded, Some((known_message(), KNOWN_FRAME.len())));
}

#[test]
fn entry_payloads_are_slices_of_the_frame() {
    let frame = frame_of(&known_message());
    let (message, _) = decode_frame(&frame).unwrap().unwrap();
    let MessageBody::Append { entries, .. } = message.body else {
        panic!("decoded {message:?}");
    };
    assert_eq!(entries[0].data.as_ptr(), frame[22..].as_ptr());
}

#[test]
fn a_frame_split_anywhere_waits_for_the_rest() {
    let message = Message {
        body: MessageBody::Propose {
            entries: vec![
                Entry {
                    term: 9,
                    index: 0,
                    kind: EntryKind::ConfChange,
                    data: Bytes::from(vec![7u8; 200]),
                },
                Entry {
                    term: 9,
                    index: 0,
                    kind: EntryKind::Normal,
                    data: Bytes::new(),
                },
            ],
        },
        ..known_message()
    };
    let mut stream = Vec::new();
    encode_message(&message, &mut stream);
    let first_len = stream.len();
    encode_message(&known_message(), &mut stream);
    let stream = Bytes::from(stream);
    for cut in 0..first_len {
        assert_eq!(decode_frame(&stream.slice(..cut)), Ok(None), "cut at {cut}");
    }
    // Complete: the first frame decodes and says where the second begins.
    for end in first_len..stream.len() {
        let decoded = decode_frame(&stream.slice(..end)).unwrap();
        assert_eq!(decoded, Some((message.clone(), first_len)));
    }
    let rest = stream.slice(first_len..);
    assert_eq!(
        decode_frame(&rest),
        Ok(Some((known_message(), KNOWN_FRAME.len())))
    );
}

#[test]
fn frame_refusals_are_precise() {
    let error = decode_frame(&Bytes::from_static(b"GET / HTTP/1.1")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "bad frame magic 0x47 at offset 0, expected 0xc1"
    );

    let mut header = vec![FRAME_MAGIC];
    header.extend_from_slice(&(MAX_FRAME_BODY_BYTES as u32 + 1).to_le_bytes());
    header.extend_from_slice(&[0; 4]);
    let error = decode_frame(&Bytes::from(header)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "frame body length 67108865 at offset 1 exceeds the limit of 67108864 bytes"
    );

    let mut flipped = KNOWN_FRAME.to_vec();
    flipped[20] ^= 0x01;
    let error = decode_frame(&Bytes::from(flipped)).unwrap_err();
    assert!(
        matches!(
            error,
            CodecError::ChecksumMismatch {
                what: "frame",
                stored: 0xb9992a8e,
                ..
            }
        ),
        "{error}"
    );
}

/// Wraps a hand-made body in a valid header, so the body parser is what refuses.
fn frame_around(body: &[u8]) -> Bytes {
    let mut out = vec![FRAME_MAGIC];
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    Bytes::from(out)
}

#[test]
fn malformed_bodies_are_refused_with_frame_offsets() {
    let cases: &[(&[u8], &str)] = &[
        (&[1, 2, 3, 99], "unknown message tag 99 at offset 12"),
        (
            &[1, 2, 3, 12, 0],
            "1 unexpected bytes after the message at offset 13",
        ),
        (
            &[1, 2, 3, 6, 0x04],
            "vote response flags byte 0x04 at offset 13 has bits outside 0x03",
        ),
        (
            &[1, 2, 3, 2, 5, 2],
            "append response rejected byte 0x02 at offset 14 has bits outside 0x01",
        ),
        (
            &[1, 2],
            "message term at offset 11 runs past the end of the input",
        ),
        (
            &[1, 2, 3, 8, 3, 1, 1, 0],
            "entries count 3 at offset 13 cannot fit in the 3 bytes left",
        ),
        (
            &[1, 2, 3, 8, 1, 1, 1, 2, 0],
            "unknown entry kind tag 2 at offset 16",
        ),
        (
            &[1, 2, 3, 8, 1, 1, 1, 0, 9, 0],
            "entry data length 9 at offset 17 exceeds the 1 bytes left",
        ),
        (
            &[1, 2, 0x83, 0x00, 12],
            "message term varint at offset 11 is not minimally encoded",
        ),
    ];
    for (body, expected) in cases {
        let error = decode_frame(&frame_around(body)).unwrap_err();
        assert_eq!(error.to_string(), *expected, "body {body:?}");
    }
}

#[test]
fn hello_has_known_bytes_and_round_trips() {
    let hello = encode_hello(0xc0ffee, 1, 2);
    let expected: [u8; HELLO_BYTES] = [
        0x43, 0x52, 0x4e, 0x50, 0x01, 0x00, 0xee, 0xff, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xec, 0xfa, 0x10, 0xf1,
    ];
    assert_eq!(hello, expected);
    let decoded = Hello {
        cluster_id: 0xc0ffee,
        from: 1,
        to: 2,
    };
    for cut in 0..HELLO_BYTES {
        assert_eq!(decode_hello(&hello[..cut]), Ok(None), "cut at {cut}");
    }
    let mut stream = hello.to_vec();
    stream.extend_from_slice(KNOWN_FRAME);
    assert_eq!(decode_hello(&stream), Ok(Some((decoded, HELLO_BYTES))));
    assert_eq!(decoded.check(0xc0ffee, 2), Ok(()));
}

#[test]
fn hello_refusals_are_precise() {
    let error = decode_hello(b"GET / HTTP/1.1").unwrap_err();
    assert_eq!(
        error.to_string(),
        "bad hello magic 0x47455420 at offset 0, expected 0x43524e50"
    );
    let mut future = encode_hello(7, 1, 2);
    future[4] = 2;
    assert_eq!(
        decode_hello(&future[..6]).unwrap_err().to_string(),
        "unsupported peer protocol version 2 at offset 4, this build reads version 1"
    );
    let mut flipped = encode_hello(7, 1, 2);
    flipped[10] ^= 0x80;
    assert!(matches!(
        decode_hello(&flipped),
        Err(CodecError::ChecksumMismatch { what: "hello", .. })
    ));

    let hello = Hello {
        cluster_id: 7,
        from: 1,
        to: 2,
    };
    assert_eq!(
        hello.check(8, 2).unwrap_err().to_string(),
        "peer 1 belongs to cluster 0x7, this member to cluster 0x8"
    );
    assert_eq!(
        hello.check(7, 3).unwrap_err().to_string(),
        "peer 1 addressed member 2, but this is member 3"
    );
}

#[test]
fn a_known_proposal_has_known_bytes() {
    let proposal = Proposal {
        origin: 3,
        seq: 7,
        identity: crate::auth::Identity::System,
        op: Op::Put(PutRequest {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
            prev_kv: true,
            ..PutRequest::default()
        }),
    };
    // version 1 | origin 3 | seq 7 | Put | key "k" | value "v" | lease 0 | flags prev_kv
    let expected: &[u8] = &[0x01, 0x03, 0x07, 0x01, 0x01, b'k', 0x01, b'v', 0x00, 0x01];
    let encoded = encode_proposal(&proposal);
    assert_eq!(&encoded[..], expected);
    let decoded = decode_proposal(&encoded).unwrap();
    assert_eq!(decoded, proposal);
    let Op::Put(put) = decoded.op else {
        panic!("decoded {decoded:?}");
    };
    assert_eq!(
        put.key.as_ptr(),
        encoded[5..].as_ptr(),
        "a slice, not a copy"
    );
}

#[test]
fn a_known_member_info_has_known_bytes() {
    let info = MemberInfo {
        name: "n1".to_owned(),
        peer_urls: vec!["http://a:2380".to_owned()],
        client_urls: vec![],
    };
    let mut expected = vec![0x01, 0x02, b'n', b'1', 0x01, 13];
    expected.extend_from_slice(b"http://a:2380");
    expected.push(0x00);
    let encoded = encode_member_info(&info);
    assert_eq!(&encoded[..], &expected[..]);
    assert_eq!(decode_member_info(&encoded), Ok(info));
}

/// A txn nested `depth` levels deep (the outermost counts as 1).
fn nested_txn(depth: usize) -> TxnRequest {
    let mut txn = TxnRequest::default();
    for _ in 1..depth {
        txn = TxnRequest {
            success: vec![RequestOp::Txn(txn)],
            ..TxnRequest::default()
        };
    }
    txn
}

#[test]
fn txns_nest_up_to_the_limit_and_no_further() {
    let proposal = |depth| Proposal {
        origin: 1,
        seq: 1,
        identity: crate::auth::Identity::System,
        op: Op::Txn(nested_txn(depth)),
    };
    let deepest = proposal(MAX_TXN_DEPTH);
    assert_eq!(decode_proposal(&encode_proposal(&deepest)), Ok(deepest));
    let error = decode_proposal(&encode_proposal(&proposal(MAX_TXN_DEPTH + 1))).unwrap_err();
    // Header 4 bytes, then each level above the limit's: 0 compares, 1 success, tag.
    let offset = 4 + 3 * MAX_TXN_DEPTH;
    assert_eq!(
        error,
        CodecError::TxnTooDeep {
            limit: MAX_TXN_DEPTH,
            offset
        }
    );
}

#[test]
fn deep_hostile_nesting_is_refused_without_recursing_far() {
    // A txn that claims ever more nested txns: refused at the limit, whatever
    // the input's length.
    let mut payload = vec![PAYLOAD_FORMAT_VERSION, 1, 1, 3];
    for _ in 0..100_000 {
        payload.extend_from_slice(&[0, 1, 4]);
    }
    let error = decode_proposal(&Bytes::from(payload)).unwrap_err();
    assert!(matches!(error, CodecError::TxnTooDeep { .. }), "{error}");
}

#[test]
fn payload_refusals_are_precise() {
    let cases: &[(&[u8], &str)] = &[
        (
            &[],
            "log payload version at offset 0 runs past the end of the input",
        ),
        (
            &[2, 1, 1, 1],
            "unsupported log payload version 2 at offset 0, this build reads version 1",
        ),
        (&[1, 1, 1, 42], "unknown op tag 42 at offset 3"),
        (
            &[1, 1, 1, 1, 0, 0, 0, 0x08],
            "put flags byte 0x08 at offset 7 has bits outside 0x07",
        ),
        (
            &[1, 1, 1, 4, 5, 1, 0],
            "1 unexpected bytes after the proposal at offset 6",
        ),
        (
            &[1, 1, 1, 7, 2, 2, 0xff, 0xfe, 0],
            "member name at offset 6 is not valid UTF-8",
        ),
        (
            &[1, 1, 1, 3, 0, 1, 9, 0, 0, 0, 0],
            "unknown request op tag 9 at offset 6",
        ),
        (
            &[1, 1, 1, 3, 1, 0, 0, 7, 0, 0, 0],
            "unknown compare result tag 7 at offset 7",
        ),
        (
            &[1, 1, 1, 3, 0, 1, 1, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0],
            "unknown sort order tag 5 at offset 11",
        ),
    ];
    for (payload, expected) in cases {
        let error = decode_proposal(&Bytes::copy_from_slice(payload)).unwrap_err();
        assert_eq!(error.to_string(), *expected, "payload {payload:?}");
    }
    let error = decode_member_info(&Bytes::from_static(&[1, 0, 9])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "peer urls count 9 at offset 2 cannot fit in the 0 bytes left"
    );
}
