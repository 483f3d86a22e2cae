//! v2 answers in JSON exactly as etcd writes them with Go's `encoding/json`:
//! fields in etcd's struct order, empty ones left out, strings escaped as Go
//! escapes them (`<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`), times as
//! RFC 3339 with trailing zeros of the fraction dropped, and a newline at
//! the end (`json.Encoder`).

use cairn_core::v2store::{V2Error, V2Event, V2Node};

/// A string as Go's `encoding/json` writes it, quotes included.
pub fn go_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 0xf] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An event: `{"action":..,"node":..,"prevNode":..}` and a newline. `now_ms`
/// is the wall clock the nodes' `ttl` is counted from.
pub fn event(event: &V2Event, now_ms: i64, no_value: bool) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"action\":");
    go_string(&mut out, event.action.as_str());
    if !no_value {
        out.push_str(",\"node\":");
        node(&mut out, &event.node, now_ms);
        if let Some(prev) = &event.prev_node {
            out.push_str(",\"prevNode\":");
            node(&mut out, prev, now_ms);
        }
    }
    out.push_str("}\n");
    out
}

/// A node in etcd's `NodeExtern` field order: key, value, dir, expiration,
/// ttl, nodes, modifiedIndex, createdIndex (each left out when empty; the
/// root's key is the empty string once etcd trims its "/1" prefix).
pub fn node(out: &mut String, node_: &V2Node, now_ms: i64) {
    let mut first = true;
    let mut field = |out: &mut String, name: &str| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
    };
    out.push('{');
    if node_.key != "/" && !node_.key.is_empty() {
        field(out, "key");
        go_string(out, &node_.key);
    }
    if let Some(value) = &node_.value {
        field(out, "value");
        go_string(out, value);
    }
    if node_.dir {
        field(out, "dir");
        out.push_str("true");
    }
    if let Some(expiration) = node_.expiration_ms {
        field(out, "expiration");
        out.push('"');
        out.push_str(&rfc3339(expiration));
        out.push('"');
        let ttl = ttl_secs(expiration, now_ms);
        if ttl != 0 {
            field(out, "ttl");
            out.push_str(&ttl.to_string());
        }
    }
    if let Some(children) = node_.nodes.as_ref().filter(|nodes| !nodes.is_empty()) {
        field(out, "nodes");
        out.push('[');
        for (i, child) in children.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            node(out, child, now_ms);
        }
        out.push(']');
    }
    if node_.modified_index != 0 {
        field(out, "modifiedIndex");
        out.push_str(&node_.modified_index.to_string());
    }
    if node_.created_index != 0 {
        field(out, "createdIndex");
        out.push_str(&node_.created_index.to_string());
    }
    out.push('}');
}

/// etcd's TTL of a node: the seconds left, rounded up.
pub fn ttl_secs(expiration_ms: i64, now_ms: i64) -> i64 {
    let left = expiration_ms.saturating_sub(now_ms);
    let secs = left / 1000;
    if left % 1000 > 0 {
        secs + 1
    } else {
        secs
    }
}

/// A v2 error: `{"errorCode":..,"message":..,"cause":..,"index":..}` and a
/// newline.
pub fn error(error: &V2Error) -> String {
    let mut out = format!("{{\"errorCode\":{},\"message\":", error.code);
    go_string(&mut out, error.message());
    if !error.cause.is_empty() {
        out.push_str(",\"cause\":");
        go_string(&mut out, &error.cause);
    }
    out.push_str(&format!(",\"index\":{}}}\n", error.index));
    out
}

/// Unix milliseconds as Go's `time.Time` JSON: RFC 3339 in UTC with the
/// fraction's trailing zeros dropped.
pub fn rfc3339(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (year, month, day) = crate::logging::civil_from_days(days);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    );
    if ms != 0 {
        let fraction = format!("{ms:03}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::v2store::V2Action;

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        let mut out = String::new();
        go_string(&mut out, "a\"b\\c\n<&>\u{1}\u{7f}\u{2028}é");
        assert_eq!(
            out,
            r#""a\"b\\c\n\u003c\u0026\u003e\u0001\u{7f}\u2028é""#.replace("\\u{7f}", "\u{7f}")
        );
    }

    #[test]
    fn times_are_rfc3339_without_trailing_zeros() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_545_897_459_165), "2018-12-27T07:57:39.165Z");
        assert_eq!(rfc3339(1_545_897_459_100), "2018-12-27T07:57:39.1Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(ttl_secs(10_001, 5_000), 6);
        assert_eq!(ttl_secs(10_000, 5_000), 5);
        assert_eq!(ttl_secs(4_000, 5_000), -1);
    }

    #[test]
    fn events_and_errors_as_etcd_writes_them() {
        let set = V2Event {
            action: V2Action::Set,
            node: V2Node {
                key: "/message".into(),
                value: Some("Hello world".into()),
                modified_index: 7,
                created_index: 7,
                ..V2Node::default()
            },
            prev_node: Some(V2Node {
                key: "/message".into(),
                value: Some(String::new()),
                expiration_ms: Some(2_500),
                modified_index: 6,
                created_index: 6,
                ..V2Node::default()
            }),
            etcd_index: 7,
            refresh: false,
        };
        assert_eq!(
            event(&set, 1_000, false),
            "{\"action\":\"set\",\"node\":{\"key\":\"/message\",\"value\":\"Hello world\",\"modifiedIndex\":7,\"createdIndex\":7},\
             \"prevNode\":{\"key\":\"/message\",\"value\":\"\",\"expiration\":\"1970-01-01T00:00:02.5Z\",\"ttl\":2,\"modifiedIndex\":6,\"createdIndex\":6}}\n"
        );
        assert_eq!(event(&set, 0, true), "{\"action\":\"set\"}\n");
        let root = V2Event {
            action: V2Action::Get,
            node: V2Node {
                key: "/".into(),
                dir: true,
                nodes: Some(Vec::new()),
                ..V2Node::default()
            },
            prev_node: None,
            etcd_index: 3,
            refresh: false,
        };
        assert_eq!(
            event(&root, 0, false),
            "{\"action\":\"get\",\"node\":{\"dir\":true}}\n"
        );
        assert_eq!(
            error(&V2Error::new(100, "/foo", 6)),
            "{\"errorCode\":100,\"message\":\"Key not found\",\"cause\":\"/foo\",\"index\":6}\n"
        );
    }
}
