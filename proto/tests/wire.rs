//! Known-bytes and round-trip tests: the encodings below are what etcd 3.4
//! (gogoproto, proto3) puts on the wire for the same messages.

use bytes::Bytes;
use cairn_proto::etcdserverpb::{
    compare, request_op, response_op, watch_request, Compare, DeleteRangeRequest, PutRequest,
    RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
    WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest,
};
use cairn_proto::mvccpb::{event::EventType, Event, KeyValue};
use prost::Message;

/// Encodes `message`, checks the bytes against `expected`, and checks that
/// decoding them gives the message back.
fn assert_wire<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M, expected: &[u8]) {
    let encoded = message.encode_to_vec();
    assert_eq!(
        encoded, expected,
        "encoding of {message:?}\n  got:      {encoded:02x?}\n  expected: {expected:02x?}"
    );
    assert_eq!(encoded.len(), message.encoded_len());
    let decoded = M::decode(Bytes::copy_from_slice(expected)).expect("decode");
    assert_eq!(&decoded, message);
}

fn header() -> ResponseHeader {
    ResponseHeader {
        cluster_id: 1,
        member_id: 2,
        revision: 3,
        raft_term: 4,
    }
}

#[test]
fn put_request_known_bytes() {
    let put = PutRequest {
        key: Bytes::from_static(b"foo"),
        value: Bytes::from_static(b"bar"),
        ..Default::default()
    };
    assert_wire(
        &put,
        &[0x0a, 0x03, b'f', b'o', b'o', 0x12, 0x03, b'b', b'a', b'r'],
    );
}

#[test]
fn put_request_all_fields() {
    let put = PutRequest {
        key: Bytes::from_static(b"k"),
        value: Bytes::from_static(b"v"),
        lease: 0x1234,
        prev_kv: true,
        ignore_value: true,
        ignore_lease: true,
    };
    assert_wire(
        &put,
        &[
            0x0a, 0x01, b'k', // key
            0x12, 0x01, b'v', // value
            0x18, 0xb4, 0x24, // lease = 0x1234 as a varint
            0x20, 0x01, // prev_kv
            0x28, 0x01, // ignore_value
            0x30, 0x01, // ignore_lease
        ],
    );
}

#[test]
fn empty_message_encodes_to_nothing() {
    assert_wire(&PutRequest::default(), &[]);
    assert_wire(&RangeRequest::default(), &[]);
}

#[test]
fn range_response_with_header_and_kvs() {
    let response = RangeResponse {
        header: Some(header()),
        kvs: vec![KeyValue {
            key: Bytes::from_static(b"a"),
            create_revision: 2,
            mod_revision: 3,
            version: 1,
            value: Bytes::from_static(b"b"),
            lease: 0,
        }],
        more: true,
        count: 1,
    };
    assert_wire(
        &response,
        &[
            0x0a, 0x08, // header, 8 bytes
            0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x04, //
            0x12, 0x0c, // kvs[0], 12 bytes
            0x0a, 0x01, b'a', 0x10, 0x02, 0x18, 0x03, 0x20, 0x01, 0x2a, 0x01, b'b', //
            0x18, 0x01, // more
            0x20, 0x01, // count
        ],
    );
}

#[test]
fn range_request_negative_revision_and_enums() {
    let request = RangeRequest {
        key: Bytes::from_static(b"a"),
        range_end: Bytes::from_static(b"\0"),
        revision: -1,
        sort_order: 2,  // DESCEND
        sort_target: 3, // MOD
        ..Default::default()
    };
    let mut expected = vec![0x0a, 0x01, b'a', 0x12, 0x01, 0x00, 0x20];
    // int64 -1 is a ten-byte varint, not zigzag.
    expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expected.extend_from_slice(&[0x28, 0x02, 0x30, 0x03]);
    assert_wire(&request, &expected);
}

#[test]
fn watch_request_oneof_create() {
    let request = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: Bytes::from_static(b"k"),
                range_end: Bytes::from_static(b"l"),
                start_revision: 5,
                prev_kv: true,
                filters: vec![0, 1], // NOPUT, NODELETE
                ..Default::default()
            },
        )),
    };
    assert_wire(
        &request,
        &[
            0x0a, 0x0e, // create_request, 14 bytes
            0x0a, 0x01, b'k', // key
            0x12, 0x01, b'l', // range_end
            0x18, 0x05, // start_revision
            0x2a, 0x02, 0x00, 0x01, // filters, packed as proto3 requires
            0x30, 0x01, // prev_kv
        ],
    );
}

#[test]
fn watch_request_oneof_cancel_and_progress() {
    let cancel = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CancelRequest(
            WatchCancelRequest { watch_id: 7 },
        )),
    };
    assert_wire(&cancel, &[0x12, 0x02, 0x08, 0x07]);

    // An empty oneof member is still present on the wire: etcd tells a
    // progress request from an empty WatchRequest by exactly these bytes.
    let progress = WatchRequest {
        request_union: Some(watch_request::RequestUnion::ProgressRequest(
            WatchProgressRequest {},
        )),
    };
    assert_wire(&progress, &[0x1a, 0x00]);
    assert_wire(&WatchRequest::default(), &[]);
}

#[test]
fn compare_target_union_keeps_zero_values() {
    // `mod_revision == 0` ("key does not exist") must be encoded even though
    // 0 is the default: oneof members are always written when set.
    let compare = Compare {
        result: 0, // EQUAL
        target: 2, // MOD
        key: Bytes::from_static(b"k"),
        target_union: Some(compare::TargetUnion::ModRevision(0)),
        range_end: Bytes::new(),
    };
    assert_wire(&compare, &[0x10, 0x02, 0x1a, 0x01, b'k', 0x30, 0x00]);
}

#[test]
fn compare_value_with_range_end_tag_64() {
    let compare = Compare {
        result: 1, // GREATER
        target: 3, // VALUE
        key: Bytes::from_static(b"k"),
        target_union: Some(compare::TargetUnion::Value(Bytes::from_static(b"v"))),
        range_end: Bytes::from_static(b"z"),
    };
    assert_wire(
        &compare,
        &[
            0x08, 0x01, // result
            0x10, 0x03, // target
            0x1a, 0x01, b'k', // key
            0x3a, 0x01, b'v', // value (tag 7)
            0x82, 0x04, 0x01, b'z', // range_end: tag 64, wire type 2 -> varint 514
        ],
    );
}

#[test]
fn event_delete_known_bytes() {
    let event = Event {
        r#type: EventType::Delete as i32,
        kv: Some(KeyValue {
            key: Bytes::from_static(b"x"),
            mod_revision: 9,
            ..Default::default()
        }),
        prev_kv: None,
    };
    assert_wire(
        &event,
        &[0x08, 0x01, 0x12, 0x05, 0x0a, 0x01, b'x', 0x18, 0x09],
    );
}

#[test]
fn txn_round_trip_with_nested_ops() {
    let request = TxnRequest {
        compare: vec![Compare {
            target: 1, // CREATE
            key: Bytes::from_static(b"lock"),
            target_union: Some(compare::TargetUnion::CreateRevision(0)),
            ..Default::default()
        }],
        success: vec![RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: Bytes::from_static(b"lock"),
                value: Bytes::from_static(b"me"),
                lease: 42,
                ..Default::default()
            })),
        }],
        failure: vec![
            RequestOp {
                request: Some(request_op::Request::RequestRange(RangeRequest {
                    key: Bytes::from_static(b"lock"),
                    ..Default::default()
                })),
            },
            RequestOp {
                request: Some(request_op::Request::RequestTxn(TxnRequest {
                    success: vec![RequestOp {
                        request: Some(request_op::Request::RequestDeleteRange(
                            DeleteRangeRequest {
                                key: Bytes::from_static(b"other"),
                                ..Default::default()
                            },
                        )),
                    }],
                    ..Default::default()
                })),
            },
        ],
    };
    let encoded = request.encode_to_vec();
    assert_eq!(TxnRequest::decode(encoded.as_slice()).unwrap(), request);

    let response = TxnResponse {
        header: Some(header()),
        succeeded: false,
        responses: vec![ResponseOp {
            response: Some(response_op::Response::ResponseRange(RangeResponse {
                header: Some(header()),
                count: 0,
                ..Default::default()
            })),
        }],
    };
    let encoded = response.encode_to_vec();
    assert_eq!(TxnResponse::decode(encoded.as_slice()).unwrap(), response);
}

#[test]
fn unknown_fields_are_skipped() {
    // A newer peer may send fields we do not know (etcd 3.5 added some);
    // decoding must skip them rather than fail.
    let mut bytes = PutRequest {
        key: Bytes::from_static(b"k"),
        ..Default::default()
    }
    .encode_to_vec();
    bytes.extend_from_slice(&[0xf8, 0x01, 0x05]); // field 31, varint 5
    let decoded = PutRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.key, Bytes::from_static(b"k"));
}

#[test]
fn decoding_from_bytes_does_not_copy_keys_and_values() {
    let buffer = Bytes::from(
        PutRequest {
            key: Bytes::from_static(b"some-key"),
            value: Bytes::from(vec![7u8; 1024]),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let decoded = PutRequest::decode(buffer.clone()).unwrap();
    let within = |field: &Bytes| {
        let start = buffer.as_ptr() as usize;
        let at = field.as_ptr() as usize;
        at >= start && at + field.len() <= start + buffer.len()
    };
    assert!(within(&decoded.key), "key was copied out of the buffer");
    assert!(within(&decoded.value), "value was copied out of the buffer");
}
