//! `put`, `get`, `del`, `compaction` (ctlv3/command/{put,get,del,
//! compaction}_command.go): arguments checked before dialling, as etcdctl
//! does, then one KV call and its printer.
//!
//! ```text
//!   args ─▶ request (errors: exit 128 bad args, 4 bad feature)
//!        ─▶ global::connect ─▶ KV call ─▶ simple | json | fields | protobuf
//!                                           (table: "not supported", exit 4)
//! ```

use std::io::Read;

use cairn_proto::etcdserverpb as pb;
use prost::Message;

use crate::exit::{CtlError, EXIT_BAD_ARGS, EXIT_BAD_FEATURE, EXIT_ERROR};
use crate::flags::Values;
use crate::global::{connect, Format, Global};
use crate::printer::{self, JsonObject};

type Env = [(String, String)];

/// etcdctl's `unsupported` printer error for a format a command lacks.
pub fn unsupported(format: Format) -> CtlError {
    let name = match format {
        Format::Table => "table",
        Format::Fields => "fields",
        Format::Json => "json",
        Format::Protobuf => "protobuf",
        Format::Simple => "simple",
    };
    CtlError::new(
        EXIT_BAD_FEATURE,
        format!("{name} not supported as output format"),
    )
}

/// The key after `key` in byte order (clientv3's prefix range end).
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// `put [options] <key> <value>`.
pub async fn put(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let request = put_request(values, args, true)?;
    let global = connect(values, env).await?;
    let response = global
        .timed(global.client.kv().put(request))
        .await
        .map_err(|s| global.failed(&s))?;
    print_put(global.format, global.hex, &response)
}

/// put's request from its flags and arguments (`stdin`: the value may be
/// read from standard input; txn lines cannot).
pub fn put_request(
    values: &Values,
    args: &[String],
    stdin: bool,
) -> Result<pb::PutRequest, CtlError> {
    let needs = "put command needs 1 argument and input from stdin or 2 arguments";
    let Some(key) = args.first() else {
        return Err(CtlError::bad_args(needs));
    };
    let ignore_value = values.bool("ignore-value");
    if ignore_value && args.len() > 1 {
        return Err(CtlError::bad_args(
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    let mut value = Vec::new();
    if !ignore_value {
        match args.get(1) {
            Some(text) => value = text.clone().into_bytes(),
            None => {
                let read = if stdin {
                    std::io::stdin().read_to_end(&mut value).map(|_| ())
                } else {
                    Ok(())
                };
                if read.is_err() || value.is_empty() {
                    return Err(CtlError::bad_args(needs));
                }
            }
        }
    }
    let lease = lease_id(&values.string("lease"))
        .map_err(|why| CtlError::bad_args(format!("bad lease ID ({why}), expecting ID in Hex")))?;
    Ok(pb::PutRequest {
        key: key.clone().into_bytes().into(),
        value: value.into(),
        lease,
        prev_kv: values.bool("prev-kv"),
        ignore_value,
        ignore_lease: values.bool("ignore-lease"),
    })
}

/// put's printers.
pub fn print_put(format: Format, hex: bool, response: &pb::PutResponse) -> Result<(), CtlError> {
    match format {
        Format::Simple => {
            println!("OK");
            if let Some(prev) = &response.prev_kv {
                printer::simple_kv(hex, false, prev);
            }
        }
        Format::Json => println!("{}", put_json(response)),
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            if let Some(prev) = &response.prev_kv {
                printer::fields_kv("Prev", prev);
            }
        }
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        Format::Table => return Err(unsupported(Format::Table)),
    }
    Ok(())
}

pub fn put_json(response: &pb::PutResponse) -> String {
    let mut object =
        JsonObject::new().raw("header", printer::header_json(response.header.as_ref()));
    if let Some(prev) = &response.prev_kv {
        object = object.raw("prev_kv", printer::kv_json(prev));
    }
    object.build()
}

/// Go's `strconv.ParseInt(text, 16, 64)`, its error text on failure.
pub fn lease_id(text: &str) -> Result<i64, String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let parsed = if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "strconv.ParseInt: parsing {text:?}: invalid syntax"
        ));
    } else {
        i128::from_str_radix(digits, 16).ok()
    };
    parsed
        .map(|n| if negative { -n } else { n })
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| format!("strconv.ParseInt: parsing {text:?}: value out of range"))
}

/// `get [options] <key> [range_end]`.
pub async fn get(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let request = get_request(values, args)?;
    get_run(values, request, env).await
}

/// get's request from its flags and arguments.
pub fn get_request(values: &Values, args: &[String]) -> Result<pb::RangeRequest, CtlError> {
    let Some(key) = args.first() else {
        return Err(CtlError::bad_args(
            "get command needs one argument as key and an optional argument as range_end",
        ));
    };
    let (prefix, from_key) = (values.bool("prefix"), values.bool("from-key"));
    if prefix && from_key {
        return Err(CtlError::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let consistency = values.string("consistency");
    let serializable = match consistency.as_str() {
        "s" => true,
        "l" => false,
        _ => {
            return Err(CtlError::new(
                EXIT_BAD_FEATURE,
                format!("unknown consistency flag {consistency:?}"),
            ))
        }
    };
    let (key, range_end) = range(
        key,
        args.get(1),
        prefix,
        from_key,
        "only accept one argument",
    )?;
    let order = values.string("order");
    let sort_order = match order.to_uppercase().as_str() {
        "ASCEND" => pb::range_request::SortOrder::Ascend,
        "DESCEND" => pb::range_request::SortOrder::Descend,
        "" => pb::range_request::SortOrder::None,
        _ => {
            return Err(CtlError::new(
                EXIT_BAD_FEATURE,
                format!("bad sort order {order}"),
            ))
        }
    };
    let target = values.string("sort-by");
    use pb::range_request::SortTarget;
    let sort_target = match target.to_uppercase().as_str() {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        _ => {
            return Err(CtlError::new(
                EXIT_BAD_FEATURE,
                format!("bad sort target {target}"),
            ))
        }
    };
    // clientv3's WithSort: ascending by key is the server's natural order.
    let sort_order =
        if sort_target == SortTarget::Key && sort_order == pb::range_request::SortOrder::Ascend {
            pb::range_request::SortOrder::None
        } else {
            sort_order
        };
    Ok(pb::RangeRequest {
        key: key.into(),
        range_end: range_end.into(),
        limit: values.int("limit"),
        revision: values.int("rev").max(0),
        sort_order: sort_order as i32,
        sort_target: sort_target as i32,
        serializable,
        keys_only: values.bool("keys-only"),
        ..Default::default()
    })
}

async fn get_run(
    values: &mut Values,
    request: pb::RangeRequest,
    env: &Env,
) -> Result<(), CtlError> {
    let global = connect(values, env).await?;
    let response = global
        .timed(global.client.kv().range(request))
        .await
        .map_err(|s| global.failed(&s))?;
    let value_only = values.bool("print-value-only");
    if value_only && global.format != Format::Simple {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "print-value-only is only for `--write-out=simple`",
        ));
    }
    print_get(global.format, global.hex, value_only, &response)
}

/// get's printers.
pub fn print_get(
    format: Format,
    hex: bool,
    value_only: bool,
    response: &pb::RangeResponse,
) -> Result<(), CtlError> {
    match format {
        Format::Simple => {
            for kv in &response.kvs {
                printer::simple_kv(hex, value_only, kv);
            }
        }
        Format::Json => println!("{}", range_json(response)),
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            for kv in &response.kvs {
                printer::fields_kv("", kv);
            }
            println!("\"More\" : {}", response.more);
            println!("\"Count\" : {}", response.count);
        }
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        Format::Table => return Err(unsupported(Format::Table)),
    }
    Ok(())
}

pub fn range_json(response: &pb::RangeResponse) -> String {
    JsonObject::new()
        .raw("header", printer::header_json(response.header.as_ref()))
        .list("kvs", response.kvs.iter().map(printer::kv_json).collect())
        .flag("more", response.more)
        .num("count", response.count)
        .build()
}

/// The key and range end of get/del's arguments and flags.
fn range(
    key: &str,
    end: Option<&String>,
    prefix: bool,
    from_key: bool,
    too_many: &str,
) -> Result<(Vec<u8>, Vec<u8>), CtlError> {
    let mut key = key.as_bytes().to_vec();
    let mut range_end = Vec::new();
    if let Some(end) = end {
        if prefix || from_key {
            return Err(CtlError::bad_args(format!(
                "too many arguments, {too_many} when `--prefix` or `--from-key` is set"
            )));
        }
        range_end = end.clone().into_bytes();
    }
    if prefix {
        if key.is_empty() {
            key = vec![0];
            range_end = vec![0];
        } else {
            range_end = prefix_end(&key);
        }
    }
    if from_key {
        if key.is_empty() {
            key = vec![0];
        }
        range_end = vec![0];
    }
    Ok((key, range_end))
}

/// `del [options] <key> [range_end]`.
pub async fn del(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let request = del_request(values, args)?;
    let global = connect(values, env).await?;
    let response = global
        .timed(global.client.kv().delete_range(request))
        .await
        .map_err(|s| global.failed(&s))?;
    print_del(global.format, global.hex, &response)
}

/// del's request from its flags and arguments.
pub fn del_request(values: &Values, args: &[String]) -> Result<pb::DeleteRangeRequest, CtlError> {
    let Some(key) = args.first() else {
        return Err(CtlError::bad_args(
            "del command needs one argument as key and an optional argument as range_end",
        ));
    };
    let (prefix, from_key) = (values.bool("prefix"), values.bool("from-key"));
    if prefix && from_key {
        return Err(CtlError::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let (key, range_end) = range(
        key,
        args.get(1),
        prefix,
        from_key,
        "only accept one argument",
    )?;
    Ok(pb::DeleteRangeRequest {
        key: key.into(),
        range_end: range_end.into(),
        prev_kv: values.bool("prev-kv"),
    })
}

pub fn del_json(response: &pb::DeleteRangeResponse) -> String {
    JsonObject::new()
        .raw("header", printer::header_json(response.header.as_ref()))
        .num("deleted", response.deleted)
        .list(
            "prev_kvs",
            response.prev_kvs.iter().map(printer::kv_json).collect(),
        )
        .build()
}

/// del's printers.
pub fn print_del(
    format: Format,
    hex: bool,
    response: &pb::DeleteRangeResponse,
) -> Result<(), CtlError> {
    match format {
        Format::Simple => {
            println!("{}", response.deleted);
            for kv in &response.prev_kvs {
                printer::simple_kv(hex, false, kv);
            }
        }
        Format::Json => println!("{}", del_json(response)),
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            println!("\"Deleted\" : {}", response.deleted);
            for kv in &response.prev_kvs {
                printer::fields_kv("Prev", kv);
            }
        }
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        Format::Table => return Err(unsupported(Format::Table)),
    }
    Ok(())
}

/// `compaction [options] <revision>`.
pub async fn compaction(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args("compaction command needs 1 argument"));
    }
    let revision: i64 = args[0].parse().map_err(|_| {
        CtlError::new(
            EXIT_ERROR,
            format!("strconv.ParseInt: parsing {:?}: invalid syntax", args[0]),
        )
    })?;
    let request = pb::CompactionRequest {
        revision,
        physical: values.bool("physical"),
    };
    let global: Global = connect(values, env).await?;
    global
        .timed(global.client.kv().compact(request))
        .await
        .map_err(|s| global.failed(&s))?;
    println!("compacted revision {revision}");
    Ok(())
}
