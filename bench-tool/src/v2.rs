//! The `v2-set` workload: etcd's v2 keys API over HTTP/1.1, one keep-alive
//! connection per client (HTTP/1.1 does not multiplex), each request a
//! `PUT /v2/keys/<key>` with `value=...` in a urlencoded body, as curl and
//! etcdctl send it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tonic::Status;

use crate::cli::PutArgs;
use crate::driver::Worker;
use crate::keys::{KeyShape, Random};

#[derive(Debug)]
pub struct V2SetWorker {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
    shape: KeyShape,
    body: Bytes,
    sequential: bool,
    random: Random,
}

impl V2SetWorker {
    /// A client with its own connection to `endpoint` (`http://host:port`).
    pub async fn connect(
        endpoint: &str,
        args: &PutArgs,
        client_index: u64,
    ) -> Result<Self, String> {
        let authority = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| format!("v2-set speaks plain http only, not {endpoint}"))?
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
        let shape = KeyShape::new(&args.keys)?;
        // A value of the asked size in characters a form needs no escape for.
        let value: String = shape
            .value
            .iter()
            .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[usize::from(*b) % 36]))
            .collect();
        Ok(Self {
            sender,
            authority,
            shape,
            body: Bytes::from(format!("value={value}")),
            sequential: args.sequential_keys,
            random: Random::new(client_index.wrapping_mul(0x1234_5678_9abc_def1) ^ 0x2e7),
        })
    }
}

impl Worker for V2SetWorker {
    async fn call(&mut self, ticket: u64) -> Result<(), Status> {
        let index = if self.sequential {
            ticket
        } else {
            self.random.next_u64()
        };
        let key = self.shape.key(index);
        let path = format!("/v2/keys/{}", String::from_utf8_lossy(&key));
        let request = hyper::Request::put(path)
            .header(hyper::header::HOST, self.authority.as_str())
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Full::new(self.body.clone()))
            .map_err(|e| Status::internal(e.to_string()))?;
        send(&mut self.sender, request).await
    }
}

/// Sends `request` and reads the whole answer: `Ok` for a 2xx status,
/// else an error carrying the status and body (shared with the gateway
/// workloads).
pub(crate) async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(), Status> {
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?
        .to_bytes();
    if status.is_success() {
        Ok(())
    } else {
        Err(Status::unknown(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body).trim_end()
        )))
    }
}
