//! `make-mirror [options] <destination>` (ctlv3/command/make_mirror_command.go
//! and clientv3/mirror): copies the keys under `--prefix` to another
//! cluster, then follows a watch, counting every key written.
//!
//! ```text
//!   dial destination (--dest-cacert/--dest-cert/--dest-key) and source
//!   get "foo" ─▶ revision R          (the base is read at R, 1000 keys a page)
//!   pages ─▶ dest put(modify_prefix(key), value)      total += 1 each
//!   watch prefix from R+1 ─▶ events grouped by mod revision ─▶ dest txn
//!   every 30 s: print total            compacted watch: error, exit 1
//! ```
//!
//! etcdctl installs no signal handler here: SIGINT ends the process as the
//! default action does.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn_client::concurrency::prefix_range_end;
use cairn_client::{endpoint, Client, ClientConfig, TlsOptions};
use cairn_proto::etcdserverpb as pb;
use tokio_stream::StreamExt;

use crate::exit::{CtlError, EXIT_BAD_ARGS, EXIT_BAD_CONNECTION, EXIT_ERROR};
use crate::flags::Values;
use crate::global::{connect, error_text, Global};
use crate::progress::Progress;

type Env = [(String, String)];

/// How many keys one page of the base copy holds (clientv3/mirror's
/// `batchLimit`).
const BATCH_LIMIT: i64 = 1000;
/// How often the terminal's counter is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// How often the count of mirrored keys is printed.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// `make-mirror`.
pub async fn make_mirror(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "make-mirror takes one destination argument",
        ));
    }
    let destination = dial_destination(values, &args[0]).await?;
    let prefix = values.string("prefix").into_bytes();
    let dest_prefix = values.string("dest-prefix").into_bytes();
    let no_dest_prefix = values.bool("no-dest-prefix");
    let source = connect(values, env).await?;
    let total = Arc::new(AtomicI64::new(0));
    let reporter = tokio::spawn(report(total.clone()));
    let base = source
        .client
        .kv()
        .range(pb::RangeRequest {
            key: Bytes::from_static(b"foo"),
            ..Default::default()
        })
        .await;
    if no_dest_prefix && !dest_prefix.is_empty() {
        return Err(CtlError::bad_args(
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
        ));
    }
    let dest_prefix = if !no_dest_prefix && dest_prefix.is_empty() {
        prefix.clone()
    } else {
        dest_prefix
    };
    let rename = |key: &[u8]| modify_prefix(key, &prefix, &dest_prefix);
    let failed = |status: tonic::Status| source.failed(&status);
    let revision = base
        .map_err(failed)?
        .into_inner()
        .header
        .map_or(0, |h| h.revision);
    copy_base(&source, &destination, &prefix, revision, &rename, &total).await?;
    let outcome = follow(&source, &destination, &prefix, revision, &rename, &total).await;
    reporter.abort();
    outcome
}

/// Prints the count of mirrored keys every 30 s, as etcdctl does; on a
/// terminal, a counter with the rate between those lines.
async fn report(total: Arc<AtomicI64>) {
    let progress = Progress::counter("mirrored keys");
    let mut printed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        let count = total.load(Ordering::Relaxed);
        progress.set(u64::try_from(count).unwrap_or(0));
        if printed.elapsed() >= REPORT_EVERY {
            printed += REPORT_EVERY;
            progress.print(&count.to_string());
        }
    }
}

/// The destination client: its own TLS flags, the global dial timeout.
async fn dial_destination(values: &Values, target: &str) -> Result<Client, CtlError> {
    let endpoints =
        endpoint::parse_list([target]).map_err(|e| CtlError::new(EXIT_BAD_ARGS, e.to_string()))?;
    let path = |name: &str| {
        let text = values.string(name);
        (!text.is_empty()).then(|| text.into())
    };
    let tls = TlsOptions {
        ca_file: path("dest-cacert"),
        cert_file: path("dest-cert"),
        key_file: path("dest-key"),
        insecure_skip_verify: false,
    };
    let config = ClientConfig::new(endpoints)
        .with_dial_timeout(values.duration("dial-timeout"))
        .with_tls(tls);
    Client::connect(config)
        .await
        .map_err(|_| CtlError::new(EXIT_BAD_CONNECTION, "context deadline exceeded"))
}

/// etcdctl's `modifyPrefix`: Go's `strings.Replace(key, prefix, dest, 1)`
/// (the first occurrence anywhere; an empty `prefix` puts `dest` in front).
fn modify_prefix(key: &[u8], prefix: &[u8], dest: &[u8]) -> Bytes {
    let at = if prefix.is_empty() {
        Some(0)
    } else {
        key.windows(prefix.len()).position(|w| w == prefix)
    };
    match at {
        Some(at) => {
            let mut out = key[..at].to_vec();
            out.extend_from_slice(dest);
            out.extend_from_slice(&key[at + prefix.len()..]);
            Bytes::from(out)
        }
        None => Bytes::copy_from_slice(key),
    }
}

/// The range of the mirrored keys: the prefix's, or every key.
fn mirrored_range(prefix: &[u8]) -> (Bytes, Bytes) {
    if prefix.is_empty() {
        (Bytes::from_static(b"\0"), Bytes::from_static(b"\0"))
    } else {
        (Bytes::copy_from_slice(prefix), prefix_range_end(prefix))
    }
}

/// clientv3/mirror's `SyncBase` with the puts: the keys as of `revision`,
/// a page at a time, each put into the destination.
async fn copy_base(
    source: &Global,
    destination: &Client,
    prefix: &[u8],
    revision: i64,
    rename: &dyn Fn(&[u8]) -> Bytes,
    total: &AtomicI64,
) -> Result<(), CtlError> {
    let (mut key, range_end) = mirrored_range(prefix);
    loop {
        let request = pb::RangeRequest {
            key: key.clone(),
            range_end: range_end.clone(),
            limit: BATCH_LIMIT,
            revision,
            ..Default::default()
        };
        let page = source
            .client
            .kv()
            .range(request)
            .await
            .map_err(|s| source.failed(&s))?
            .into_inner();
        for kv in &page.kvs {
            let put = pb::PutRequest {
                key: rename(&kv.key),
                value: kv.value.clone(),
                ..Default::default()
            };
            destination
                .kv()
                .put(put)
                .await
                .map_err(|s| source.failed(&s))?;
            total.fetch_add(1, Ordering::Relaxed);
        }
        match (page.more, page.kvs.last()) {
            (true, Some(last)) => {
                let mut next = last.key.to_vec();
                next.push(0);
                key = Bytes::from(next);
            }
            _ => return Ok(()),
        }
    }
}

/// clientv3/mirror's `SyncUpdates` with the txns: the watch from
/// `revision + 1`, each revision's events applied in one txn.
async fn follow(
    source: &Global,
    destination: &Client,
    prefix: &[u8],
    revision: i64,
    rename: &dyn Fn(&[u8]) -> Bytes,
    total: &AtomicI64,
) -> Result<(), CtlError> {
    let (key, range_end) = mirrored_range(prefix);
    let create = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key,
                range_end,
                start_revision: revision + 1,
                ..Default::default()
            },
        )),
    };
    let requests = tokio_stream::iter(vec![create]).chain(tokio_stream::pending());
    let mut responses = source
        .client
        .watch()
        .watch(requests)
        .await
        .map_err(|s| source.failed(&s))?
        .into_inner();
    let apply = |ops: Vec<pb::RequestOp>| async move {
        let txn = pb::TxnRequest {
            success: ops,
            ..Default::default()
        };
        destination
            .kv()
            .txn(txn)
            .await
            .map(|_| ())
            .map_err(|s| source.failed(&s))
    };
    while let Some(response) = responses.next().await {
        let response = response.map_err(|s| CtlError::new(EXIT_ERROR, error_text(&s)))?;
        if response.compact_revision != 0 {
            return Err(CtlError::new(
                EXIT_ERROR,
                "etcdserver: mvcc: required revision has been compacted",
            ));
        }
        let mut ops = Vec::new();
        let mut last_revision = 0;
        for event in &response.events {
            let kv = event.kv.clone().unwrap_or_default();
            if last_revision != 0 && kv.mod_revision > last_revision {
                apply(std::mem::take(&mut ops)).await?;
            }
            last_revision = kv.mod_revision;
            let request = if event.r#type == 1 {
                pb::request_op::Request::RequestDeleteRange(pb::DeleteRangeRequest {
                    key: rename(&kv.key),
                    ..Default::default()
                })
            } else {
                pb::request_op::Request::RequestPut(pb::PutRequest {
                    key: rename(&kv.key),
                    value: kv.value,
                    ..Default::default()
                })
            };
            ops.push(pb::RequestOp {
                request: Some(request),
            });
            total.fetch_add(1, Ordering::Relaxed);
        }
        if !ops.is_empty() {
            apply(ops).await?;
        }
    }
    // The watch ended without an error: etcdctl exits with a nil error.
    Err(CtlError::new(EXIT_ERROR, "<nil>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_replaced_as_go_replaces_once() {
        assert_eq!(&modify_prefix(b"a/k", b"a/", b"b/")[..], b"b/k");
        assert_eq!(&modify_prefix(b"xa/k", b"a/", b"")[..], b"xk");
        assert_eq!(&modify_prefix(b"k", b"", b"d/")[..], b"d/k");
        assert_eq!(&modify_prefix(b"k", b"z", b"d/")[..], b"k");
        assert_eq!(&modify_prefix(b"a/a/", b"a/", b"b/")[..], b"b/a/");
    }
}
