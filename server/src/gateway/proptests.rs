//! Property tests of the JSON mapping: a random message encoded with prost,
//! written as the gateway writes JSON and read back as the gateway reads
//! requests, is the same message; and random bytes never make the
//! decoder panic.

use bytes::Bytes;
use cairn_proto::etcdserverpb::{
    compare, request_op, watch_request, Compare, PutRequest, RangeRequest, RequestOp, TxnRequest,
    WatchCreateRequest, WatchRequest,
};
use cairn_proto::mvccpb::{event, Event, KeyValue};
use proptest::prelude::*;
use prost::Message;

use super::json::{next_request, request_to_proto, response_to_json, Next};

fn bytes() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn put() -> impl Strategy<Value = PutRequest> {
    (bytes(), bytes(), any::<i64>(), any::<bool>(), any::<bool>()).prop_map(
        |(key, value, lease, prev_kv, ignore_value)| PutRequest {
            key,
            value,
            lease,
            prev_kv,
            ignore_value,
            ignore_lease: false,
        },
    )
}

fn range() -> impl Strategy<Value = RangeRequest> {
    (
        bytes(),
        bytes(),
        any::<i64>(),
        any::<i64>(),
        0..3i32,
        0..5i32,
    )
        .prop_map(
            |(key, range_end, limit, revision, sort_order, sort_target)| RangeRequest {
                key,
                range_end,
                limit,
                revision,
                sort_order,
                sort_target,
                ..RangeRequest::default()
            },
        )
}

fn txn() -> impl Strategy<Value = TxnRequest> {
    let compare = (bytes(), 0..4i32, any::<i64>()).prop_map(|(key, result, version)| Compare {
        key,
        result,
        target: 0,
        target_union: Some(compare::TargetUnion::Version(version)),
        range_end: Bytes::new(),
    });
    let op = prop_oneof![
        put().prop_map(|p| RequestOp {
            request: Some(request_op::Request::RequestPut(p))
        }),
        range().prop_map(|r| RequestOp {
            request: Some(request_op::Request::RequestRange(r))
        }),
    ];
    (
        prop::collection::vec(compare, 0..3),
        prop::collection::vec(op.clone(), 0..3),
        prop::collection::vec(op, 0..3),
    )
        .prop_map(|(compare, success, failure)| TxnRequest {
            compare,
            success,
            failure,
        })
}

fn event() -> impl Strategy<Value = Event> {
    (bytes(), bytes(), any::<i64>(), any::<i64>(), any::<bool>()).prop_map(
        |(key, value, create_revision, lease, delete)| Event {
            r#type: if delete {
                event::EventType::Delete as i32
            } else {
                event::EventType::Put as i32
            },
            kv: Some(KeyValue {
                key,
                value,
                create_revision,
                mod_revision: create_revision,
                version: 1,
                lease,
            }),
            prev_kv: None,
        },
    )
}

/// prost → JSON (as answered) → prost (as requested) gives the same bytes.
fn round_trips<M>(message: &M) -> Result<(), TestCaseError>
where
    M: Message + Default + serde::Serialize + serde::de::DeserializeOwned,
{
    let encoded = message.encode_to_vec();
    let json = response_to_json::<M>(&encoded).map_err(TestCaseError::fail)?;
    let back = request_to_proto::<M>(&json).map_err(TestCaseError::fail)?;
    prop_assert_eq!(back, encoded, "JSON: {}", String::from_utf8_lossy(&json));
    Ok(())
}

proptest! {
    #[test]
    fn put_requests_round_trip(message in put()) {
        round_trips(&message)?;
    }

    #[test]
    fn range_requests_round_trip(message in range()) {
        round_trips(&message)?;
    }

    #[test]
    fn txn_requests_round_trip(message in txn()) {
        round_trips(&message)?;
    }

    #[test]
    fn events_round_trip(message in event()) {
        round_trips(&message)?;
    }

    #[test]
    fn watch_streams_split_into_their_requests(keys in prop::collection::vec(bytes(), 1..4)) {
        let requests: Vec<WatchRequest> = keys
            .into_iter()
            .map(|key| WatchRequest {
                request_union: Some(watch_request::RequestUnion::CreateRequest(
                    WatchCreateRequest { key, ..WatchCreateRequest::default() },
                )),
            })
            .collect();
        let mut body = Vec::new();
        for request in &requests {
            body.extend(response_to_json::<WatchRequest>(&request.encode_to_vec())
                .map_err(TestCaseError::fail)?);
            body.push(b'\n');
        }
        let mut at = 0;
        for request in &requests {
            match next_request::<WatchRequest>(&body[at..]) {
                Next::Message(message, used) => {
                    prop_assert_eq!(message, request.encode_to_vec());
                    at += used;
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
        prop_assert_eq!(next_request::<WatchRequest>(&body[at..]), Next::End);
    }

    #[test]
    fn random_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = request_to_proto::<TxnRequest>(&body);
        let _ = next_request::<WatchRequest>(&body);
    }

    #[test]
    fn random_json_values_never_panic(json in "[{}\\[\\]\":,a-z0-9 ]{0,40}") {
        let _ = request_to_proto::<RangeRequest>(json.as_bytes());
        let _ = request_to_proto::<TxnRequest>(json.as_bytes());
    }
}
