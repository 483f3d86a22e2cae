//! The `gateway-put` and `gateway-range` workloads: etcd's HTTP/JSON gateway
//! (`POST /v3/kv/put`, `POST /v3/kv/range`) over HTTP/1.1, one keep-alive
//! connection per client, the JSON bodies as curl users send them (the
//! protobuf JSON mapping: base64 keys and values). Compared with `put` and
//! `range` on the same server, they give the gateway's cost over gRPC.

use bytes::Bytes;
use cairn_proto::etcdserverpb::{PutRequest, RangeRequest};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tonic::Status;

use crate::cli::PutArgs;
use crate::driver::Worker;
use crate::keys::{KeyShape, Random};

/// What a worker sends.
#[derive(Debug)]
enum Workload {
    /// A put of a key chosen per request.
    Put {
        shape: KeyShape,
        sequential: bool,
        random: Random,
    },
    /// The same range body every time.
    Range { body: Bytes },
}

/// One client: its own keep-alive HTTP/1.1 connection.
#[derive(Debug)]
pub struct GatewayWorker {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
    workload: Workload,
}

impl GatewayWorker {
    /// A `gateway-put` client connected to `endpoint` (`http://host:port`).
    pub async fn put(endpoint: &str, args: &PutArgs, client_index: u64) -> Result<Self, String> {
        let workload = Workload::Put {
            shape: KeyShape::new(&args.keys)?,
            sequential: args.sequential_keys,
            random: Random::new(client_index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x6a7),
        };
        Self::connect(endpoint, workload).await
    }

    /// A `gateway-range` client connected to `endpoint`.
    pub async fn range(endpoint: &str, request: &RangeRequest) -> Result<Self, String> {
        let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        Self::connect(endpoint, Workload::Range { body: body.into() }).await
    }

    async fn connect(endpoint: &str, workload: Workload) -> Result<Self, String> {
        // `host:port` is plain http, as for the gRPC workloads.
        if endpoint.starts_with("https://") || endpoint.starts_with("unix") {
            return Err(format!(
                "the gateway workloads speak plain http only, not {endpoint}"
            ));
        }
        let authority = endpoint
            .strip_prefix("http://")
            .unwrap_or(endpoint)
            .trim_end_matches('/')
            .to_string();
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("dial {authority}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{authority}: {e}"))?;
        tokio::spawn(connection);
        Ok(Self {
            sender,
            authority,
            workload,
        })
    }

    /// The path and JSON body of request `ticket`.
    fn next_request(&mut self, ticket: u64) -> Result<(&'static str, Bytes), Status> {
        match &mut self.workload {
            Workload::Put {
                shape,
                sequential,
                random,
            } => {
                let index = if *sequential {
                    ticket
                } else {
                    random.next_u64()
                };
                let request = PutRequest {
                    key: shape.key(index),
                    value: shape.value.clone(),
                    ..Default::default()
                };
                let body =
                    serde_json::to_vec(&request).map_err(|e| Status::internal(e.to_string()))?;
                Ok(("/v3/kv/put", body.into()))
            }
            Workload::Range { body } => Ok(("/v3/kv/range", body.clone())),
        }
    }
}

impl Worker for GatewayWorker {
    async fn call(&mut self, ticket: u64) -> Result<(), Status> {
        let (path, body) = self.next_request(ticket)?;
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, self.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| Status::internal(e.to_string()))?;
        super::v2::send(&mut self.sender, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bodies_are_the_gateways_json() {
        let request = RangeRequest {
            key: Bytes::from_static(b"foo"),
            limit: 1,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"key":"Zm9v","limit":"1"}"#
        );
    }
}
