//! cairnctl against etcdctl 3.4.23, second part: `txn` (stdin and `-i`),
//! and the commands after it; the same three-sided comparison as
//! differential.rs (etcdctl→etcd, cairnctl→etcd, cairnctl→cairn), through
//! the shared harness in common/.
//!
//! ```text
//!   case: (command line, stdin, env) ─▶ three runs ─▶ masked outcomes equal
//! ```

#![allow(clippy::disallowed_methods)]

mod common;

use common::Case;

const CASES: &[Case] = &[
    ("txn -h", None, &[]),
    ("watch --help", None, &[]),
    ("lease keep-alive -h", None, &[]),
    ("put foo bar", None, &[]),
    ("txn", Some("value(\"foo\") = \"bar\"\n\nget foo\nput k v\ndel x\n\nput f y\n\n"), &[]),
    ("txn -w json", Some("value(\"foo\") = \"bar\"\n\nget foo\nput k v --prev-kv\ndel x\n\nput f y\n\n"), &[]),
    ("txn -w fields", Some("mod(\"foo\") > \"1\"\n\nget foo --keys-only\nput k v2 --prev-kv\ndel k --prev-kv\n\n\n"), &[]),
    ("txn -w protobuf", Some("ver(\"foo\") = \"1\"\n\nget foo\n\n\n"), &[]),
    ("txn -w table", Some("\nget foo\n\n\n"), &[]),
    ("txn -i", Some("c(\"foo\") < \"2\"\nversion(\"foo\") != \"9\"\n\nget f\n\nput f y\nget f\n\n"), &[]),
    ("txn --interactive", Some("value(\"foo\") = \"no\"\n\nget foo\n\nput f z --prev-kv\ndel nokey\n\n"), &[]),
    ("txn", Some("\n\nput \"sp ace\" 'v 1'\nget \"sp ace\"\n\n"), &[]),
    ("txn --hex", Some("\nget foo\n\n\n"), &[]),
    ("txn x", None, &[]),
    ("txn", Some(""), &[]),
    ("txn", Some("value(\"foo\") = \"bar\"\n"), &[]),
    ("txn", Some("bad\n\n\n\n"), &[]),
    ("txn", Some("value(foo) = \"bar\"\n\n\n\n"), &[]),
    ("txn", Some("value(\"foo\")=\"bar\"\n\n\n\n"), &[]),
    ("txn", Some("nope(\"foo\") = \"bar\"\n\n\n\n"), &[]),
    ("txn", Some("ver(\"foo\") = \"x\"\n\n\n\n"), &[]),
    ("txn", Some("\nput\n\n\n"), &[]),
    ("txn", Some("\nput k\n\n\n"), &[]),
    ("txn", Some("\nfrob k\n\n\n"), &[]),
    ("txn", Some("\nget a --prefix --from-key\n\n\n"), &[]),
    ("txn", Some("\np k2 v\ng k2\n\n\n"), &[]),
    ("txn", Some("\nput k v --lease zz\n\n\n"), &[]),
    ("txn", Some("\nput k v --lease 1234\n\n\n"), &[]),
    ("txn -w json", Some("\nget fo --prefix --limit 1\ndel fo --prefix\n\n\n"), &[]),
    // watch: "&" starts the line in the background, "!" stops it and
    // compares what it printed.
    ("&watch wk", None, &[]),
    ("put wk v1", None, &[]),
    ("del wk", None, &[]),
    ("!", None, &[]),
    ("&watch wk --prev-kv -w json", None, &[]),
    ("put wk v2", None, &[]),
    ("put wk v3", None, &[]),
    ("!", None, &[]),
    ("&watch w --prefix -w fields", None, &[]),
    ("put wa 1", None, &[]),
    ("put wb 2", None, &[]),
    ("!", None, &[]),
    ("&watch wk -- sh -c echo\u{1}$ETCD_WATCH_KEY=$ETCD_WATCH_VALUE\u{1}$ETCD_WATCH_EVENT_TYPE\u{1}$ETCD_WATCH_REVISION", None, &[]),
    ("put wk v4", None, &[]),
    ("!", None, &[]),
    ("&watch -i", Some("watch wk\nwatch wa --prev-kv\nbogus\n\nwatch\nwatch b c --prefix\n"), &[]),
    ("put wk v5", None, &[]),
    ("put wa v6", None, &[]),
    ("!", None, &[]),
    ("&watch --rev 1 wk --hex", None, &[]),
    ("!", None, &[]),
    ("&watch", None, &[("ETCDCTL_WATCH_KEY", "w"), ("ETCDCTL_WATCH_RANGE_END", "wz")]),
    ("put wq v7", None, &[]),
    ("!", None, &[]),
    ("watch", None, &[]),
    ("watch a b --prefix", None, &[]),
    ("watch a --", None, &[]),
    ("watch x", None, &[("ETCDCTL_WATCH_KEY", "wk")]),
    ("watch", None, &[("ETCDCTL_WATCH_RANGE_END", "wz")]),
    ("watch -i", Some("watch\n"), &[]),
    ("watch -i", Some("watch a --\n"), &[]),
    ("compaction 5", None, &[]),
    ("watch wk --rev 2", None, &[]),
    ("watch wk --rev 2 -w json", None, &[]),
    // lease keep-alive
    ("lease keep-alive", None, &[]),
    ("lease keep-alive zz", None, &[]),
    ("lease grant 100", None, &[]),
    ("lease keep-alive --once {LEASE}", None, &[]),
    ("lease keep-alive --once {LEASE} -w json", None, &[]),
    ("lease keep-alive --once {LEASE} -w fields", None, &[]),
    ("lease keep-alive --once {LEASE} -w table", None, &[]),
    ("&lease keep-alive {LEASE}", None, &[]),
    ("!", None, &[]),
    ("&lease keep-alive {LEASE} -w json", None, &[]),
    ("!", None, &[]),
    ("lease revoke {LEASE}", None, &[]),
    ("lease keep-alive {LEASE}", None, &[]),
    ("lease keep-alive {LEASE} -w fields", None, &[]),
    ("lease keep-alive --once {LEASE}", None, &[]),
];

#[test]
fn cairnctl_prints_what_etcdctl_prints_ops() {
    common::compare(CASES);
}
