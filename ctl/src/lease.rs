//! `lease grant | revoke | timetolive [--keys] | list`
//! (ctlv3/command/lease_command.go). IDs are hexadecimal on the command
//! line and in simple output (`%016x`), decimal in json and fields.
//!
//! ```text
//!   lease grant 60   ─▶ "lease 694d77aa9e38260f granted with TTL(60s)"
//!   lease timetolive ─▶ "... granted with TTL(60s), remaining(59s)"
//! ```

use cairn_proto::etcdserverpb as pb;
use prost::Message;

use crate::exit::{CtlError, EXIT_BAD_CONNECTION, EXIT_ERROR};
use crate::flags::Values;
use crate::global::{connect, Format};
use crate::kv::lease_id;
use crate::printer::{self, JsonObject};

type Env = [(String, String)];

fn id_arg(text: &str) -> Result<i64, CtlError> {
    lease_id(text)
        .map_err(|why| CtlError::bad_args(format!("bad lease ID arg ({why}), expecting ID in Hex")))
}

/// `lease grant <ttl>`.
pub async fn grant(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args("lease grant command needs TTL argument"));
    }
    let ttl: i64 = args[0].parse().map_err(|_| {
        CtlError::bad_args(format!(
            "bad TTL (strconv.ParseInt: parsing {:?}: invalid syntax)",
            args[0]
        ))
    })?;
    let global = connect(values, env).await?;
    let response = global
        .timed(
            global
                .client
                .lease()
                .lease_grant(pb::LeaseGrantRequest { ttl, id: 0 }),
        )
        .await
        .map_err(|s| {
            CtlError::new(
                EXIT_ERROR,
                format!("failed to grant lease ({})", global.rpc_error(&s)),
            )
        })?;
    match global.format {
        Format::Simple => println!(
            "lease {:016x} granted with TTL({}s)",
            response.id, response.ttl
        ),
        Format::Json => println!(
            "{}",
            printer::header_fields(response.header.as_ref())
                .raw("ID", response.id.to_string())
                .raw("TTL", response.ttl.to_string())
                .raw("Error", printer::json_string(&response.error))
                .build()
        ),
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            println!("\"ID\" : {}", response.id);
            println!("\"TTL\" : {}", response.ttl);
        }
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        Format::Table => {
            return Err(CtlError::no_table());
        }
    }
    Ok(())
}

/// `lease revoke <leaseID>`.
pub async fn revoke(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args("lease revoke command needs 1 argument"));
    }
    let id = id_arg(&args[0])?;
    let global = connect(values, env).await?;
    let response = global
        .timed(
            global
                .client
                .lease()
                .lease_revoke(pb::LeaseRevokeRequest { id }),
        )
        .await
        .map_err(|s| {
            CtlError::new(
                EXIT_ERROR,
                format!("failed to revoke lease ({})", global.rpc_error(&s)),
            )
        })?;
    match global.format {
        Format::Simple => println!("lease {id:016x} revoked"),
        Format::Json => println!(
            "{}",
            JsonObject::new()
                .raw("header", printer::header_json(response.header.as_ref()))
                .build()
        ),
        Format::Fields => printer::fields_header(response.header.as_ref()),
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        Format::Table => {
            return Err(CtlError::no_table());
        }
    }
    Ok(())
}

/// `lease timetolive <leaseID> [--keys]`.
pub async fn time_to_live(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "lease timetolive command needs lease ID as argument",
        ));
    }
    let id = id_arg(&args[0])?;
    let keys = values.bool("keys");
    let global = connect(values, env).await?;
    let response = global
        .client
        .lease()
        .lease_time_to_live(pb::LeaseTimeToLiveRequest { id, keys })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| CtlError::new(EXIT_BAD_CONNECTION, global.rpc_error(&s)))?;
    match global.format {
        Format::Simple => {
            if response.ttl == -1 {
                println!("lease {:016x} already expired", response.id);
            } else {
                let mut text = format!(
                    "lease {:016x} granted with TTL({}s), remaining({}s)",
                    response.id, response.granted_ttl, response.ttl
                );
                if keys {
                    let names: Vec<String> = response
                        .keys
                        .iter()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect();
                    text.push_str(&format!(", attached keys([{}])", names.join(" ")));
                }
                println!("{text}");
            }
        }
        Format::Json => {
            let keys_json = if response.keys.is_empty() {
                "null".to_string()
            } else {
                let list: Vec<String> = response
                    .keys
                    .iter()
                    .map(|k| format!("\"{}\"", printer::base64(k)))
                    .collect();
                format!("[{}]", list.join(","))
            };
            println!(
                "{}",
                printer::header_fields(response.header.as_ref())
                    .raw("id", response.id.to_string())
                    .raw("ttl", response.ttl.to_string())
                    .raw("granted-ttl", response.granted_ttl.to_string())
                    .raw("keys", keys_json)
                    .build()
            );
        }
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            println!("\"ID\" : {}", response.id);
            println!("\"TTL\" : {}", response.ttl);
            println!("\"GrantedTTL\" : {}", response.granted_ttl);
            for key in &response.keys {
                println!("\"Key\" : {}", printer::go_quote(key));
            }
        }
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        Format::Table => {
            return Err(CtlError::no_table());
        }
    }
    Ok(())
}

/// `lease list`.
pub async fn list(values: &mut Values, _args: &[String], env: &Env) -> Result<(), CtlError> {
    let global = connect(values, env).await?;
    let response = global
        .client
        .lease()
        .lease_leases(pb::LeaseLeasesRequest {})
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| CtlError::new(EXIT_BAD_CONNECTION, global.rpc_error(&s)))?;
    match global.format {
        Format::Simple => {
            println!("found {} leases", response.leases.len());
            for lease in &response.leases {
                println!("{:016x}", lease.id);
            }
        }
        Format::Json => {
            let items: Vec<String> = response
                .leases
                .iter()
                .map(|l| format!("{{\"id\":{}}}", l.id))
                .collect();
            println!(
                "{}",
                printer::header_fields(response.header.as_ref())
                    .raw("leases", format!("[{}]", items.join(",")))
                    .build()
            );
        }
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            for lease in &response.leases {
                println!("\"ID\" : {}", lease.id);
            }
        }
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        Format::Table => {
            return Err(CtlError::no_table());
        }
    }
    Ok(())
}

/// `lease keep-alive [--once] <leaseID>`: one renewal (`--once`), or
/// renewals every TTL/3 (clientv3's rhythm) until the lease is gone.
pub async fn keep_alive(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "lease keep-alive command needs lease ID as argument",
        ));
    }
    let id = id_arg(&args[0])?;
    let once = values.bool("once");
    let global = connect(values, env).await?;
    let (requests, receiver) = tokio::sync::mpsc::unbounded_channel();
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(receiver);
    let lost = |text: String| CtlError::new(EXIT_BAD_CONNECTION, text);
    // The first request goes out with the call: etcd answers the call
    // only once it has one.
    let _ = requests.send(pb::LeaseKeepAliveRequest { id });
    let mut responses = global
        .client
        .lease()
        .lease_keep_alive(stream)
        .await
        .map_err(|s| lost(global.rpc_error(&s)))?
        .into_inner();
    loop {
        let response = match responses.message().await {
            Ok(Some(response)) => response,
            Ok(None) => break,
            Err(status) if once => return Err(lost(global.rpc_error(&status))),
            Err(_) => break,
        };
        if response.ttl <= 0 {
            if once {
                return Err(lost("etcdserver: requested lease not found".to_string()));
            }
            break;
        }
        print_keep_alive(global.format, &response)?;
        if once {
            return Ok(());
        }
        let wait = std::time::Duration::from_secs(response.ttl as u64) / 3;
        tokio::time::sleep(wait.max(std::time::Duration::from_millis(500))).await;
        let _ = requests.send(pb::LeaseKeepAliveRequest { id });
    }
    if global.format == Format::Simple {
        println!("lease {id:016x} expired or revoked.");
    }
    Ok(())
}

fn print_keep_alive(format: Format, response: &pb::LeaseKeepAliveResponse) -> Result<(), CtlError> {
    match format {
        Format::Simple => println!(
            "lease {:016x} keepalived with TTL({})",
            response.id, response.ttl
        ),
        Format::Json => println!(
            "{}",
            printer::header_fields(response.header.as_ref())
                .raw("ID", response.id.to_string())
                .raw("TTL", response.ttl.to_string())
                .build()
        ),
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            println!("\"ID\" : {}", response.id);
            println!("\"TTL\" : {}", response.ttl);
        }
        // etcdctl marshals clientv3's response: its embedded header.
        Format::Protobuf => {
            printer::write_raw(&response.header.unwrap_or_default().encode_to_vec())
        }
        Format::Table => {
            return Err(CtlError::no_table());
        }
    }
    let _ = std::io::Write::flush(&mut std::io::stdout());
    Ok(())
}
