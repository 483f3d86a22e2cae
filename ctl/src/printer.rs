//! Pieces of etcdctl's printers shared by the commands: Go's `json.Marshal`
//! of gogo-protobuf structs (snake_case names, `omitempty`, bytes in
//! base64, 64-bit numbers as numbers), the `fields` printer's lines, and
//! the simple printer's key/value lines (`--hex`: `\x66\x6f`).
//!
//! ```text
//!   json    {"header":{"cluster_id":1,...},"kvs":[{"key":"Zm9v",...}],"count":1}
//!   fields  "ClusterID" : 1
//!           "Key" : "foo"
//!   simple  foo
//!           bar
//! ```

use std::io::Write;

use cairn_proto::etcdserverpb as pb;
use cairn_proto::mvccpb;

/// Writes raw bytes to stdout (the protobuf printer, values that are not
/// UTF-8).
pub fn write_raw(bytes: &[u8]) {
    let mut out = std::io::stdout();
    let _ = out.write_all(bytes);
}

/// Standard base64 with padding, as Go encodes `[]byte` in JSON.
pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A JSON object built field by field, leaving out zero values where Go's
/// `omitempty` would.
#[derive(Debug, Default)]
pub struct JsonObject {
    fields: Vec<String>,
}

impl JsonObject {
    pub fn new() -> JsonObject {
        JsonObject::default()
    }

    /// A field whatever its value.
    pub fn raw(mut self, name: &str, json: String) -> JsonObject {
        self.fields.push(format!("{name:?}:{json}"));
        self
    }

    /// A number, left out when zero.
    pub fn num(self, name: &str, value: impl Into<i128>) -> JsonObject {
        let value = value.into();
        if value == 0 {
            self
        } else {
            self.raw(name, value.to_string())
        }
    }

    /// Bytes in base64, left out when empty.
    pub fn bytes(self, name: &str, value: &[u8]) -> JsonObject {
        if value.is_empty() {
            self
        } else {
            self.raw(name, format!("\"{}\"", base64(value)))
        }
    }

    /// `true`, left out when false.
    pub fn flag(self, name: &str, value: bool) -> JsonObject {
        if value {
            self.raw(name, "true".to_string())
        } else {
            self
        }
    }

    /// A list, left out when empty.
    pub fn list(self, name: &str, items: Vec<String>) -> JsonObject {
        if items.is_empty() {
            self
        } else {
            self.raw(name, format!("[{}]", items.join(",")))
        }
    }

    /// The fields of another object inlined (Go's embedded struct).
    pub fn inline(mut self, other: JsonObject) -> JsonObject {
        self.fields.extend(other.fields);
        self
    }

    pub fn build(self) -> String {
        format!("{{{}}}", self.fields.join(","))
    }
}

/// Go's JSON string (`json.Marshal` of a string: HTML characters escaped).
pub fn json_string(text: &str) -> String {
    cairn_etcd_wal::go_string(text)
}

/// The response header's fields.
pub fn header_fields(header: Option<&pb::ResponseHeader>) -> JsonObject {
    let header = header.cloned().unwrap_or_default();
    JsonObject::new()
        .num("cluster_id", header.cluster_id)
        .num("member_id", header.member_id)
        .num("revision", header.revision)
        .num("raft_term", header.raft_term)
}

/// `"header":{...}`.
pub fn header_json(header: Option<&pb::ResponseHeader>) -> String {
    header_fields(header).build()
}

pub fn kv_json(kv: &mvccpb::KeyValue) -> String {
    JsonObject::new()
        .bytes("key", &kv.key)
        .num("create_revision", kv.create_revision)
        .num("mod_revision", kv.mod_revision)
        .num("version", kv.version)
        .bytes("value", &kv.value)
        .num("lease", kv.lease)
        .build()
}

/// The fields printer's header lines.
pub fn fields_header(header: Option<&pb::ResponseHeader>) {
    let header = header.cloned().unwrap_or_default();
    println!("\"ClusterID\" : {}", header.cluster_id);
    println!("\"MemberID\" : {}", header.member_id);
    println!("\"Revision\" : {}", header.revision);
    println!("\"RaftTerm\" : {}", header.raft_term);
}

/// Go's `%q` of bytes taken as a string.
pub fn go_quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The fields printer's lines for one key-value (`prefix` "Prev" or "").
pub fn fields_kv(prefix: &str, kv: &mvccpb::KeyValue) {
    println!("\"{prefix}Key\" : {}", go_quote(&kv.key));
    println!("\"{prefix}CreateRevision\" : {}", kv.create_revision);
    println!("\"{prefix}ModRevision\" : {}", kv.mod_revision);
    println!("\"{prefix}Version\" : {}", kv.version);
    println!("\"{prefix}Value\" : {}", go_quote(&kv.value));
    println!("\"{prefix}Lease\" : {}", kv.lease);
}

/// The simple printer's key and value lines (`printKV`).
pub fn simple_kv(hex: bool, value_only: bool, kv: &mvccpb::KeyValue) {
    let show = |bytes: &[u8]| -> Vec<u8> {
        if hex {
            bytes
                .iter()
                .flat_map(|b| format!("\\x{b:02x}").into_bytes())
                .collect()
        } else {
            bytes.to_vec()
        }
    };
    let mut out = Vec::new();
    if !value_only {
        out.extend(show(&kv.key));
        out.push(b'\n');
    }
    out.extend(show(&kv.value));
    out.push(b'\n');
    write_raw(&out);
}

/// ASCII table as olekukonko/tablewriter draws it (headers upper-cased and
/// centred, cells right-aligned, as etcdctl sets it).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let mut out = line.clone();
    for (i, name) in header.iter().enumerate() {
        let name = name.to_uppercase();
        let pad = widths[i] - name.len();
        let left = pad / 2;
        out.push_str(&format!(
            "| {}{}{} ",
            " ".repeat(left),
            name,
            " ".repeat(pad - left)
        ));
    }
    out.push_str("|\n");
    out.push_str(&line);
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(&format!("| {:>width$} ", cell, width = widths[i]));
        }
        out.push_str("|\n");
    }
    out.push_str(&line);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"baz!"), "YmF6IQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
