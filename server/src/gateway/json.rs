//! The JSON side of the gateway: protobuf's JSON mapping (generated in
//! cairn-proto by pbjson-build) between request/response bodies and the
//! protobuf bytes the gRPC services speak, and grpc-gateway v1's error
//! bodies.
//!
//! ```text
//!   JSON body ──serde (pbjson)──▶ prost message ──encode──▶ protobuf bytes
//!   protobuf bytes ──decode──▶ prost message ──serde──▶ JSON ──Go escapes──▶ body
//! ```
//!
//! etcd's gateway marshals with golang/protobuf's `jsonpb` (`OrigName: true`,
//! defaults omitted), which writes strings through Go's `encoding/json`:
//! `<`, `>`, `&`, U+2028 and U+2029 come out as `\u003c`-style escapes. Those
//! characters can only occur inside JSON strings, so escaping them in the
//! serialized text is exact.

use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One step of reading a stream of JSON requests out of a growing buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A whole message: its protobuf encoding and how many bytes of the
    /// buffer it took.
    Message(Vec<u8>, usize),
    /// The buffer holds only (part of) the next value: read more.
    NeedMore,
    /// The buffer holds only white space.
    End,
    /// Not a valid JSON request.
    Invalid(String),
}

/// A JSON request body as the protobuf encoding of `M`. An empty body is the
/// empty message, as etcd's gateway reads it; unknown fields are ignored.
pub fn request_to_proto<M>(json: &[u8]) -> Result<Vec<u8>, String>
where
    M: Message + DeserializeOwned + Default,
{
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(M::default().encode_to_vec());
    }
    let mut values = serde_json::Deserializer::from_slice(json).into_iter::<M>();
    match values.next() {
        Some(Ok(message)) => Ok(message.encode_to_vec()),
        Some(Err(error)) => Err(describe(&error, json)),
        None => Ok(M::default().encode_to_vec()),
    }
}

/// The next JSON request of a stream body (`{...} {...}` or one a line).
pub fn next_request<M>(buffer: &[u8]) -> Next
where
    M: Message + DeserializeOwned + Default,
{
    if buffer.iter().all(u8::is_ascii_whitespace) {
        return Next::End;
    }
    let mut values = serde_json::Deserializer::from_slice(buffer).into_iter::<M>();
    match values.next() {
        Some(Ok(message)) => Next::Message(message.encode_to_vec(), values.byte_offset()),
        Some(Err(error)) if error.is_eof() => Next::NeedMore,
        Some(Err(error)) => Next::Invalid(describe(&error, buffer)),
        None => Next::End,
    }
}

/// A protobuf-encoded response as etcd's gateway writes it in JSON.
pub fn response_to_json<M>(protobuf: &[u8]) -> Result<Vec<u8>, String>
where
    M: Message + Serialize + Default,
{
    let message = M::decode(protobuf).map_err(|e| e.to_string())?;
    let text = serde_json::to_string(&message).map_err(|e| e.to_string())?;
    Ok(go_escape(&text).into_bytes())
}

/// A decoding error in the words of Go's `encoding/json` where the cases
/// are common (syntax, a wrong type for a bytes field, bad base64), else
/// serde_json's description without its position (Go names none).
fn describe(error: &serde_json::Error, input: &[u8]) -> String {
    let text = error.to_string();
    let plain = match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    if error.is_eof() {
        return "unexpected EOF".to_string();
    }
    let offending = offset_of(input, error.line(), error.column())
        .and_then(|at| input.get(at).map(|byte| (at, *byte)));
    if error.is_syntax() {
        if let Some((at, byte)) = offending {
            if plain == "expected value" {
                return format!(
                    "invalid character {} looking for beginning of value",
                    go_char(byte)
                );
            }
            if plain == "expected ident" {
                if let Some(go) = literal_error(input, at, byte) {
                    return go;
                }
            }
        }
        return plain;
    }
    if let Some(rest) = plain.strip_prefix("invalid type: ") {
        if let Some((found, "a base64 string")) = rest.split_once(", expected ") {
            let kind = found.split(' ').next().unwrap_or("");
            let kind = match kind {
                "integer" | "floating" => "number",
                "boolean" => "bool",
                "map" => "object",
                "sequence" => "array",
                other => other,
            };
            return format!("json: cannot unmarshal {kind} into Go value of type []uint8");
        }
    }
    if let Some(rest) = plain.strip_prefix("Invalid ") {
        if let Some((_, offset)) = rest.split_once("offset ") {
            let offset = offset.trim_end_matches('.');
            return format!("illegal base64 data at input byte {offset}");
        }
    }
    plain
}

/// The byte offset of a 1-based line and column (serde_json's column is
/// that of the offending byte, or 0 before a line's first).
fn offset_of(input: &[u8], line: usize, column: usize) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += input[start..].iter().position(|b| *b == b'\n')? + 1;
    }
    (column > 0).then(|| start + column - 1)
}

/// Go's complaint about a misspelt `null`, `true` or `false`.
fn literal_error(input: &[u8], at: usize, byte: u8) -> Option<String> {
    let start = input[..at]
        .iter()
        .rposition(|b| !b.is_ascii_alphabetic())
        .map_or(0, |p| p + 1);
    let literal = match input.get(start)? {
        b'n' => "null",
        b't' => "true",
        b'f' => "false",
        _ => return None,
    };
    let expected = *literal.as_bytes().get(at - start)?;
    Some(format!(
        "invalid character {} in literal {literal} (expecting {})",
        go_char(byte),
        go_char(expected)
    ))
}

/// A byte quoted as Go's scanner quotes it: `'x'`.
fn go_char(byte: u8) -> String {
    match byte {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        0x20..=0x7e => format!("'{}'", byte as char),
        _ => format!("'\\x{byte:02x}'"),
    }
}

/// Go's `encoding/json` escapes of HTML-sensitive characters and the JS
/// line separators.
pub fn go_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON string literal, escaped as Go's `encoding/json` writes it.
pub fn go_string(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string());
    go_escape(&quoted)
}

/// grpc-gateway's error body: `{"error":M,"message":M,"code":N}` (empty
/// strings left out, as jsonpb omits default values).
pub fn error_body(code: i32, message: &str) -> String {
    let mut fields = Vec::new();
    if !message.is_empty() {
        let quoted = go_string(message);
        fields.push(format!("\"error\":{quoted}"));
        fields.push(format!("\"message\":{quoted}"));
    }
    if code != 0 {
        fields.push(format!("\"code\":{code}"));
    }
    format!("{{{}}}", fields.join(","))
}

/// grpc-gateway's in-stream error: `{"error":{"grpc_code":N,"http_code":N,
/// "message":M,"http_status":S}}`.
pub fn stream_error_line(code: i32, http_code: u16, http_status: &str, message: &str) -> String {
    let mut fields = Vec::new();
    if code != 0 {
        fields.push(format!("\"grpc_code\":{code}"));
    }
    fields.push(format!("\"http_code\":{http_code}"));
    if !message.is_empty() {
        fields.push(format!("\"message\":{}", go_string(message)));
    }
    fields.push(format!("\"http_status\":{}", go_string(http_status)));
    format!("{{\"error\":{{{}}}}}", fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::etcdserverpb::{PutRequest, ResponseHeader, StatusRequest, WatchRequest};

    #[test]
    fn an_empty_body_is_the_empty_message() {
        assert_eq!(
            request_to_proto::<PutRequest>(b"").unwrap(),
            Vec::<u8>::new()
        );
        assert_eq!(
            request_to_proto::<StatusRequest>(b" {} ").unwrap(),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_bad_types_refused() {
        assert!(request_to_proto::<PutRequest>(br#"{"nope":1}"#).is_ok());
        assert!(request_to_proto::<PutRequest>(br#"{"key":1}"#).is_err());
        assert!(request_to_proto::<PutRequest>(b"not json").is_err());
    }

    #[test]
    fn errors_are_worded_as_go_words_them() {
        let error = |body: &[u8]| request_to_proto::<PutRequest>(body).unwrap_err();
        assert_eq!(
            error(br#"{"key":1}"#),
            "json: cannot unmarshal number into Go value of type []uint8"
        );
        assert_eq!(
            error(b"not json"),
            "invalid character 'o' in literal null (expecting 'u')"
        );
        assert_eq!(
            error(b"garbage"),
            "invalid character 'g' looking for beginning of value"
        );
        assert_eq!(
            error(br#"{"key":"!!"}"#),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(error(br#"{"key":"#), "unexpected EOF");
    }

    #[test]
    fn stream_bodies_are_read_one_value_at_a_time() {
        let body = br#"{"create_request":{"key":"Zm9v"}} {"cancel_request":{}}"#;
        let Next::Message(_, used) = next_request::<WatchRequest>(body) else {
            panic!("first message");
        };
        assert!(matches!(
            next_request::<WatchRequest>(&body[used..]),
            Next::Message(..)
        ));
        assert_eq!(
            next_request::<WatchRequest>(b"{\"create_req"),
            Next::NeedMore
        );
        assert_eq!(next_request::<WatchRequest>(b" \n"), Next::End);
    }

    #[test]
    fn responses_use_proto_names_and_string_integers() {
        let header = ResponseHeader {
            cluster_id: 1,
            member_id: 2,
            revision: 3,
            raft_term: 4,
        };
        let json = response_to_json::<ResponseHeader>(&header.encode_to_vec()).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"}"#
        );
    }

    #[test]
    fn error_bodies_are_grpc_gateways() {
        assert_eq!(
            error_body(5, "a<b"),
            r#"{"error":"a\u003cb","message":"a\u003cb","code":5}"#
        );
        assert_eq!(
            stream_error_line(5, 404, "Not Found", "gone"),
            r#"{"error":{"grpc_code":5,"http_code":404,"message":"gone","http_status":"Not Found"}}"#
        );
    }
}
