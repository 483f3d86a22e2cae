//! `txn [-i]` (ctlv3/command/txn_command.go): compares, success requests
//! and failure requests read from stdin, each block ended by an empty line;
//! one Txn call; the txn printers (simple, json, fields, protobuf).
//!
//! ```text
//!   stdin:  mod("k") > "0"          compares: target("key") op "value"
//!           <empty line>
//!           put k v --prev-kv       success: put / get / del lines, their
//!           <empty line>                     own flags (argify'd words)
//!           get k                   failure
//!           <empty line>
//!   -i: "compares:", "success requests (get, put, del):", ... prompts
//!   errors: exit 3 (invalid input) for a bad line or EOF before an empty line
//! ```

use std::io::BufRead;

use cairn_proto::etcdserverpb as pb;
use pb::compare::{CompareResult, CompareTarget, TargetUnion};
use prost::Message;

use crate::exit::{CtlError, EXIT_INVALID_INPUT};
use crate::flags::Values;
use crate::global::{connect, Format};
use crate::kv;
use crate::printer::{self, JsonObject};
use crate::spec::COMMANDS;

type Env = [(String, String)];

fn invalid(message: impl Into<String>) -> CtlError {
    CtlError::new(EXIT_INVALID_INPUT, message)
}

/// `txn [options]`.
pub async fn txn(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if !args.is_empty() {
        return Err(CtlError::bad_args("txn command does not accept argument"));
    }
    let interactive = values.bool("interactive");
    let prompt = |text: &str| {
        if interactive {
            println!("{text}");
        }
    };
    // etcdctl dials before it reads its input.
    let global = connect(values, env).await?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    prompt("compares:");
    let mut compare = Vec::new();
    for line in read_block(&mut input)? {
        compare.push(parse_compare(&line)?);
    }
    prompt("success requests (get, put, del):");
    let mut success = Vec::new();
    for line in read_block(&mut input)? {
        success.push(parse_request(&line)?);
    }
    prompt("failure requests (get, put, del):");
    let mut failure = Vec::new();
    for line in read_block(&mut input)? {
        failure.push(parse_request(&line)?);
    }
    let request = pb::TxnRequest {
        compare,
        success,
        failure,
    };
    let response = global
        .timed(global.client.kv().txn(request))
        .await
        .map_err(|s| global.failed(&s))?;
    print_txn(global.format, global.hex, &response)
}

/// Trimmed lines up to the first empty one; `EOF` (exit 3) when the input
/// ends first, as Go's `ReadString('\n')` does even after a partial line.
fn read_block(input: &mut impl BufRead) -> Result<Vec<String>, CtlError> {
    let mut lines = Vec::new();
    loop {
        let mut raw = Vec::new();
        let read = input
            .read_until(b'\n', &mut raw)
            .map_err(|e| invalid(e.to_string()))?;
        if read == 0 || raw.last() != Some(&b'\n') {
            return Err(invalid("EOF"));
        }
        let line = String::from_utf8_lossy(&raw).trim().to_string();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

/// One success/failure line: `put|get|del` (or a prefix of one) with that
/// command's flags and arguments.
fn parse_request(line: &str) -> Result<pb::RequestOp, CtlError> {
    use pb::request_op::Request;
    let words = argify(line);
    if words.len() < 2 {
        return Err(invalid(format!("invalid txn compare request: {line}")));
    }
    let bad = || invalid(format!("invalid txn request: {line}"));
    let names = ["del", "get", "put"];
    let name = match names.iter().find(|n| **n == words[0]) {
        Some(name) => *name,
        None => {
            let matching: Vec<_> = names.iter().filter(|n| n.starts_with(&words[0])).collect();
            match matching.as_slice() {
                [only] => **only,
                _ => return Err(bad()),
            }
        }
    };
    let spec = COMMANDS.iter().find(|c| c.path == name).ok_or_else(bad)?;
    let parsed = crate::flags::parse(spec.flags, &words[1..]).map_err(|_| bad())?;
    if parsed.help {
        return Err(bad());
    }
    let (values, args) = (parsed.values, parsed.positional);
    let request = match name {
        "put" => Request::RequestPut(kv::put_request(&values, &args, false)?),
        "get" => Request::RequestRange(kv::get_request(&values, &args)?),
        _ => Request::RequestDeleteRange(kv::del_request(&values, &args)?),
    };
    Ok(pb::RequestOp {
        request: Some(request),
    })
}

/// A compare line: `target("key") op "value"`.
fn parse_compare(line: &str) -> Result<pb::Compare, CtlError> {
    let Some((target, rest)) = line.split_once('(') else {
        return Err(invalid(format!("malformed comparison: {line}")));
    };
    // fmt.Sscanf(rest, "%q) %s %q", &key, &op, &val)
    let (mut key, mut op, mut value) = (Vec::new(), String::new(), Vec::new());
    let mut scanned = 0;
    if let Some((k, after)) = scan_quoted(rest) {
        key = k;
        scanned = 1;
        // A space in a Go scan format needs one space or the end.
        let spaced = after
            .strip_prefix(')')
            .filter(|a| a.is_empty() || a.starts_with([' ', '\t', '\r']));
        if let Some(after) = spaced {
            let after = after.trim_start_matches([' ', '\t', '\r']);
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            if end > 0 {
                op = after[..end].to_string();
                scanned = 2;
                if let Some((v, _)) = scan_quoted(&after[end..]) {
                    value = v;
                    scanned = 3;
                }
            }
        }
    }
    if scanned != 3 {
        return Err(invalid(format!(
            "malformed comparison: {line}; got {target}({}) {op} {}",
            printer::go_quote(&key),
            printer::go_quote(&value)
        )));
    }
    let result = match op.as_str() {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        "<" => CompareResult::Less,
        // clientv3.Compare panics here; cairnctl says so instead.
        _ => return Err(CtlError::new(2, "panic: Unknown result op")),
    };
    let text = String::from_utf8_lossy(&value).into_owned();
    let number = || {
        text.parse::<i64>()
            .map_err(|_| invalid(format!("invalid txn compare request: {line}")))
    };
    let (target, union) = match target {
        "ver" | "version" => (CompareTarget::Version, TargetUnion::Version(number()?)),
        "c" | "create" => (
            CompareTarget::Create,
            TargetUnion::CreateRevision(number()?),
        ),
        "m" | "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(number()?)),
        "val" | "value" => (CompareTarget::Value, TargetUnion::Value(value.into())),
        // etcdctl 3.4 passes the value as a string, which clientv3 rejects
        // with a panic ("bad value").
        "lease" => return Err(CtlError::new(2, "panic: bad value")),
        _ => {
            return Err(invalid(format!(
                "malformed comparison: {line} (unknown target {target})"
            )))
        }
    };
    Ok(pb::Compare {
        result: result as i32,
        target: target as i32,
        key: key.into(),
        range_end: Default::default(),
        target_union: Some(union),
    })
}

/// Go's `%q` verb of `Sscanf`: spaces skipped, then a double-quoted
/// (escapes) or back-quoted (raw) string; the bytes and what follows.
fn scan_quoted(input: &str) -> Option<(Vec<u8>, &str)> {
    let input = input.trim_start_matches([' ', '\t', '\r']);
    if let Some(raw) = input.strip_prefix('`') {
        let end = raw.find('`')?;
        return Some((raw.as_bytes()[..end].to_vec(), &raw[end + 1..]));
    }
    let body = input.strip_prefix('"')?;
    let mut escaped = false;
    let end = body.char_indices().find_map(|(at, ch)| {
        if escaped {
            escaped = false;
            None
        } else if ch == '\\' {
            escaped = true;
            None
        } else {
            (ch == '"').then_some(at)
        }
    })?;
    Some((unquote(&body[..end])?, &body[end + 1..]))
}

/// The body of a Go double-quoted string literal, its escapes resolved.
fn unquote(body: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut chars = body.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            let mut buffer = [0; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        let escape = chars.next()?;
        let simple = match escape {
            'a' => Some(7),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        let digits = |n: usize, chars: &mut std::str::Chars, radix: u32| -> Option<u32> {
            let text: String = chars.by_ref().take(n).collect();
            (text.len() == n).then(|| u32::from_str_radix(&text, radix).ok())?
        };
        match escape {
            'x' => out.push(u8::try_from(digits(2, &mut chars, 16)?).ok()?),
            '0'..='7' => {
                let rest = digits(2, &mut chars, 8)?;
                let value = (escape as u32 - '0' as u32) * 64 + rest;
                out.push(u8::try_from(value).ok()?);
            }
            'u' | 'U' => {
                let n = if escape == 'u' { 4 } else { 8 };
                let ch = char::from_u32(digits(n, &mut chars, 16)?)?;
                let mut buffer = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buffer).as_bytes());
            }
            _ => return None,
        }
    }
    Some(out)
}

/// etcdctl's `argify`: words, "double-quoted" (Go escapes) or
/// 'single-quoted' strings; an unclosed quote is skipped.
pub fn argify(line: &str) -> Vec<String> {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let ch = bytes[at];
        if ch.is_ascii_whitespace() {
            at += 1;
        } else if ch == b'"' {
            match scan_quoted(&line[at..]) {
                Some((word, rest)) => {
                    words.push(String::from_utf8_lossy(&word).into_owned());
                    at = line.len() - rest.len();
                }
                None => at += 1,
            }
        } else if ch == b'\'' {
            match line[at + 1..].find('\'') {
                Some(end) => {
                    words.push(line[at + 1..at + 1 + end].to_string());
                    at += end + 2;
                }
                None => at += 1,
            }
        } else {
            let end = line[at..]
                .find(|c: char| c.is_whitespace())
                .map_or(line.len(), |i| at + i);
            words.push(line[at..end].to_string());
            at = end;
        }
    }
    words
}

/// The txn printers.
pub fn print_txn(format: Format, hex: bool, response: &pb::TxnResponse) -> Result<(), CtlError> {
    use pb::response_op::Response;
    match format {
        Format::Simple => {
            println!(
                "{}",
                if response.succeeded {
                    "SUCCESS"
                } else {
                    "FAILURE"
                }
            );
            for op in &response.responses {
                println!();
                match &op.response {
                    Some(Response::ResponseDeleteRange(r)) => kv::print_del(format, hex, r)?,
                    Some(Response::ResponsePut(r)) => kv::print_put(format, hex, r)?,
                    Some(Response::ResponseRange(r)) => kv::print_get(format, hex, false, r)?,
                    _ => println!("unexpected response {op:?}"),
                }
            }
        }
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            println!("\"Succeeded\" : {}", response.succeeded);
            for op in &response.responses {
                match &op.response {
                    Some(Response::ResponseDeleteRange(r)) => kv::print_del(format, hex, r)?,
                    Some(Response::ResponsePut(r)) => kv::print_put(format, hex, r)?,
                    Some(Response::ResponseRange(r)) => kv::print_get(format, hex, false, r)?,
                    _ => println!("\"Unknown\" : \"{op:?}\""),
                }
            }
        }
        Format::Json => println!("{}", txn_json(response)),
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        Format::Table => return Err(kv::unsupported(Format::Table)),
    }
    Ok(())
}

/// Go's JSON of a TxnResponse: each response under its oneof wrapper
/// (`{"Response":{"ResponsePut":{...}}}`).
pub fn txn_json(response: &pb::TxnResponse) -> String {
    use pb::response_op::Response;
    let ops = response
        .responses
        .iter()
        .map(|op| {
            let inner = match &op.response {
                Some(Response::ResponseRange(r)) => {
                    format!("{{\"ResponseRange\":{}}}", kv::range_json(r))
                }
                Some(Response::ResponsePut(r)) => {
                    format!("{{\"ResponsePut\":{}}}", kv::put_json(r))
                }
                Some(Response::ResponseDeleteRange(r)) => {
                    format!("{{\"ResponseDeleteRange\":{}}}", kv::del_json(r))
                }
                Some(Response::ResponseTxn(r)) => format!("{{\"ResponseTxn\":{}}}", txn_json(r)),
                None => "null".to_string(),
            };
            format!("{{\"Response\":{inner}}}")
        })
        .collect();
    JsonObject::new()
        .raw("header", printer::header_json(response.header.as_ref()))
        .flag("succeeded", response.succeeded)
        .list("responses", ops)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argify_splits_and_unquotes() {
        assert_eq!(
            argify(r#"put "a b" 'c d' e"#),
            vec!["put", "a b", "c d", "e"]
        );
        assert_eq!(argify(r#"put "x\ny" z"#), vec!["put", "x\ny", "z"]);
    }

    #[test]
    fn compare_lines() {
        let cmp = parse_compare(r#"mod("k") > "3""#).expect("compare");
        assert_eq!(cmp.target, CompareTarget::Mod as i32);
        assert_eq!(cmp.target_union, Some(TargetUnion::ModRevision(3)));
        let error = parse_compare(r#"value(k) = "v""#).expect_err("malformed");
        assert_eq!(
            error.message,
            r#"malformed comparison: value(k) = "v"; got value("")  """#
        );
        assert!(parse_compare(r#"ver("k") = "x""#).is_err());
    }
}
