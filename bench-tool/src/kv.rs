//! Workers of the KV workloads: put, range, txn-put, txn-mixed.

use bytes::Bytes;
use cairn_client::AuthedChannel as Conn;
use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::{request_op, PutRequest, RangeRequest, RequestOp, TxnRequest};
use tonic::Status;

use crate::cli::{Consistency, PutArgs, RangeArgs, TxnMixedArgs, TxnPutArgs};
use crate::driver::Worker;
use crate::keys::{prefix_end, KeyShape, Random};

#[derive(Debug)]
pub struct PutWorker {
    client: KvClient<Conn>,
    shape: KeyShape,
    sequential: bool,
    random: Random,
}

impl PutWorker {
    pub fn new(channel: Conn, args: &PutArgs, client_index: u64) -> Result<Self, String> {
        Ok(Self {
            client: KvClient::new(channel),
            shape: KeyShape::new(&args.keys)?,
            sequential: args.sequential_keys,
            random: Random::new(client_index.wrapping_mul(0x1234_5678_9abc_def1) ^ 0xbe9c),
        })
    }
}

impl Worker for PutWorker {
    async fn call(&mut self, ticket: u64) -> Result<(), Status> {
        let index = if self.sequential {
            ticket
        } else {
            self.random.next_u64()
        };
        let request = PutRequest {
            key: self.shape.key(index),
            value: self.shape.value.clone(),
            ..Default::default()
        };
        self.client.put(request).await.map(|_| ())
    }
}

#[derive(Debug)]
pub struct RangeWorker {
    client: KvClient<Conn>,
    request: RangeRequest,
}

/// The one Range request a range benchmark repeats.
pub fn range_request(args: &RangeArgs) -> RangeRequest {
    let key = Bytes::from(args.key.clone().into_bytes());
    let range_end = if args.prefix {
        Bytes::from(prefix_end(&key))
    } else {
        args.end
            .as_ref()
            .map(|end| Bytes::from(end.clone().into_bytes()))
            .unwrap_or_default()
    };
    RangeRequest {
        key,
        range_end,
        limit: args.limit,
        serializable: args.consistency == Consistency::S,
        keys_only: args.keys_only,
        count_only: args.count_only,
        ..Default::default()
    }
}

impl RangeWorker {
    pub fn new(channel: Conn, request: RangeRequest) -> Self {
        Self {
            client: KvClient::new(channel).max_decoding_message_size(usize::MAX),
            request,
        }
    }
}

impl Worker for RangeWorker {
    async fn call(&mut self, _ticket: u64) -> Result<(), Status> {
        self.client.range(self.request.clone()).await.map(|_| ())
    }
}

fn put_op(key: Bytes, value: Bytes) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key,
            value,
            ..Default::default()
        })),
    }
}

#[derive(Debug)]
pub struct TxnPutWorker {
    client: KvClient<Conn>,
    shape: KeyShape,
    ops_per_txn: u64,
    random: Random,
}

impl TxnPutWorker {
    pub fn new(channel: Conn, args: &TxnPutArgs, client_index: u64) -> Result<Self, String> {
        let shape = KeyShape::new(&args.keys)?;
        if args.txn_ops == 0 || args.txn_ops > shape.space {
            return Err(format!(
                "--txn-ops {} needs 1 <= txn-ops <= key-space-size {} (keys in a txn are distinct)",
                args.txn_ops, shape.space
            ));
        }
        Ok(Self {
            client: KvClient::new(channel),
            shape,
            ops_per_txn: args.txn_ops,
            random: Random::new(client_index.wrapping_mul(0x9e37_79b9) ^ 0x7a11),
        })
    }
}

impl Worker for TxnPutWorker {
    async fn call(&mut self, _ticket: u64) -> Result<(), Status> {
        let first = self.random.next_u64() % self.shape.space;
        let success = (0..self.ops_per_txn)
            .map(|offset| put_op(self.shape.key(first + offset), self.shape.value.clone()))
            .collect();
        let request = TxnRequest {
            success,
            ..Default::default()
        };
        self.client.txn(request).await.map(|_| ())
    }
}

#[derive(Debug)]
pub struct TxnMixedWorker {
    client: KvClient<Conn>,
    shape: KeyShape,
    /// Probability that a txn reads.
    read_fraction: f64,
    serializable: bool,
    end_range: Option<Bytes>,
    random: Random,
    last_class: &'static str,
}

impl TxnMixedWorker {
    pub fn new(channel: Conn, args: &TxnMixedArgs, client_index: u64) -> Result<Self, String> {
        if args.rw_ratio.is_nan() || args.rw_ratio < 0.0 {
            return Err("--rw-ratio must be >= 0".to_string());
        }
        Ok(Self {
            client: KvClient::new(channel).max_decoding_message_size(usize::MAX),
            shape: KeyShape::new(&args.keys)?,
            read_fraction: args.rw_ratio / (1.0 + args.rw_ratio),
            serializable: args.consistency == Consistency::S,
            end_range: args
                .end_range
                .as_ref()
                .map(|end| Bytes::from(end.clone().into_bytes())),
            random: Random::new(client_index.wrapping_mul(0x51_7cc1_b727_220a) ^ 0x3d),
            last_class: "write",
        })
    }
}

impl Worker for TxnMixedWorker {
    async fn call(&mut self, _ticket: u64) -> Result<(), Status> {
        let key = self.shape.key(self.random.next_u64());
        let op = if self.random.next_f64() < self.read_fraction {
            self.last_class = "read";
            RequestOp {
                request: Some(request_op::Request::RequestRange(RangeRequest {
                    key,
                    range_end: self.end_range.clone().unwrap_or_default(),
                    serializable: self.serializable,
                    ..Default::default()
                })),
            }
        } else {
            self.last_class = "write";
            put_op(key, self.shape.value.clone())
        };
        let request = TxnRequest {
            success: vec![op],
            ..Default::default()
        };
        self.client.txn(request).await.map(|_| ())
    }

    fn class(&self) -> Option<&'static str> {
        Some(self.last_class)
    }
}
