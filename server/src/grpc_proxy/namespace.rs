//! `--namespace`: every key a client names gets the prefix on its way to the
//! cluster, and loses it on the way back (etcd's `clientv3/namespace`).
//!
//! ```text
//!   client  "foo"          ──▶ cluster "/ns/foo"
//!   client  ["a", "b")     ──▶ cluster ["/ns/a", "/ns/b")
//!   client  ["a", "\0")    ──▶ cluster ["/ns/a", "/ns0")     (the edge: prefix + 1)
//!   cluster kv "/ns/foo"   ──▶ client  kv "foo"
//! ```
//!
//! Invariant: with an empty prefix every function is the identity.

use bytes::Bytes;
use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;

/// A key prefix; empty means no namespace.
#[derive(Clone, Debug, Default)]
pub struct Namespace {
    prefix: Vec<u8>,
}

impl Namespace {
    pub fn new(prefix: &str) -> Namespace {
        Namespace {
            prefix: prefix.as_bytes().to_vec(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.prefix.is_empty()
    }

    /// The prefix itself (where `--resolver-prefix` registrations go too).
    pub fn key(&self, key: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(self.prefix.len() + key.len());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(key);
        out.into()
    }

    /// etcd's `prefixInterval`: key and range end in the namespace.
    pub fn interval(&self, key: &mut Bytes, end: &mut Bytes) {
        if self.is_empty() {
            return;
        }
        *key = self.key(key);
        if end[..] == [0] {
            // "from key to the end of the keyspace": the end of the namespace.
            let mut edge = self.prefix.clone();
            let mut carried = true;
            for byte in edge.iter_mut().rev() {
                *byte = byte.wrapping_add(1);
                if *byte != 0 {
                    carried = false;
                    break;
                }
            }
            *end = if carried { vec![0] } else { edge }.into();
        } else if !end.is_empty() {
            *end = self.key(end);
        }
    }

    /// The key with the prefix removed (unchanged when it lacks it).
    pub fn strip(&self, key: &mut Bytes) {
        if !self.is_empty() && key.starts_with(&self.prefix) {
            *key = key.slice(self.prefix.len()..);
        }
    }

    pub fn strip_kv(&self, kv: &mut mvccpb::KeyValue) {
        self.strip(&mut kv.key);
    }

    pub fn range(&self, request: &mut pb::RangeRequest) {
        self.interval(&mut request.key, &mut request.range_end);
    }

    pub fn put(&self, request: &mut pb::PutRequest) {
        if !self.is_empty() {
            request.key = self.key(&request.key);
        }
    }

    pub fn delete(&self, request: &mut pb::DeleteRangeRequest) {
        self.interval(&mut request.key, &mut request.range_end);
    }

    pub fn txn(&self, request: &mut pb::TxnRequest) {
        if self.is_empty() {
            return;
        }
        for compare in &mut request.compare {
            self.interval(&mut compare.key, &mut compare.range_end);
        }
        for op in request.success.iter_mut().chain(request.failure.iter_mut()) {
            self.request_op(op);
        }
    }

    fn request_op(&self, op: &mut pb::RequestOp) {
        use pb::request_op::Request;
        match &mut op.request {
            Some(Request::RequestRange(r)) => self.range(r),
            Some(Request::RequestPut(r)) => self.put(r),
            Some(Request::RequestDeleteRange(r)) => self.delete(r),
            Some(Request::RequestTxn(r)) => self.txn(r),
            None => {}
        }
    }

    pub fn range_response(&self, response: &mut pb::RangeResponse) {
        if !self.is_empty() {
            response.kvs.iter_mut().for_each(|kv| self.strip_kv(kv));
        }
    }

    pub fn put_response(&self, response: &mut pb::PutResponse) {
        if let Some(kv) = &mut response.prev_kv {
            self.strip_kv(kv);
        }
    }

    pub fn delete_response(&self, response: &mut pb::DeleteRangeResponse) {
        if !self.is_empty() {
            response
                .prev_kvs
                .iter_mut()
                .for_each(|kv| self.strip_kv(kv));
        }
    }

    pub fn txn_response(&self, response: &mut pb::TxnResponse) {
        use pb::response_op::Response;
        if self.is_empty() {
            return;
        }
        for op in &mut response.responses {
            match &mut op.response {
                Some(Response::ResponseRange(r)) => self.range_response(r),
                Some(Response::ResponsePut(r)) => self.put_response(r),
                Some(Response::ResponseDeleteRange(r)) => self.delete_response(r),
                Some(Response::ResponseTxn(r)) => self.txn_response(r),
                None => {}
            }
        }
    }

    pub fn event(&self, event: &mut mvccpb::Event) {
        if let Some(kv) = &mut event.kv {
            self.strip_kv(kv);
        }
        if let Some(kv) = &mut event.prev_kv {
            self.strip_kv(kv);
        }
    }

    /// etcd's namespaced lease: keys outside the namespace are left out.
    pub fn lease_keys(&self, keys: &mut Vec<Bytes>) {
        if self.is_empty() {
            return;
        }
        keys.retain(|key| key.starts_with(&self.prefix));
        keys.iter_mut().for_each(|key| self.strip(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_edges() {
        let ns = Namespace::new("/ns/");
        let (mut key, mut end) = (Bytes::from("a"), Bytes::from(vec![0]));
        ns.interval(&mut key, &mut end);
        assert_eq!((&key[..], &end[..]), (&b"/ns/a"[..], &b"/ns0"[..]));
        let (mut key, mut end) = (Bytes::from("a"), Bytes::from("b"));
        ns.interval(&mut key, &mut end);
        assert_eq!((&key[..], &end[..]), (&b"/ns/a"[..], &b"/ns/b"[..]));
        let ff = Namespace {
            prefix: vec![0xff, 0xff],
        };
        let (mut key, mut end) = (Bytes::from("a"), Bytes::from(vec![0]));
        ff.interval(&mut key, &mut end);
        assert_eq!(&end[..], &[0]);
        let mut stripped = Bytes::from("/ns/foo");
        ns.strip(&mut stripped);
        assert_eq!(&stripped[..], b"foo");
        let mut keys = vec![Bytes::from("/ns/x"), Bytes::from("other")];
        ns.lease_keys(&mut keys);
        assert_eq!(keys, vec![Bytes::from("x")]);
    }
}
