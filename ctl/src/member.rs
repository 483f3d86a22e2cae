//! `member list` (ctlv3/command/member_command.go): one line per member
//! (`ID, status, name, peer URLs, client URLs, is learner`), or json,
//! fields, table.
//!
//! ```text
//!   d38c58135f1f7c1e, started, e, http://127.0.0.1:45002, http://127.0.0.1:45001, false
//! ```

use cairn_proto::etcdserverpb as pb;
use prost::Message;

use crate::exit::{CtlError, EXIT_ERROR};
use crate::flags::Values;
use crate::global::{connect, Format};
use crate::printer::{self, json_string, JsonObject};

type Env = [(String, String)];

/// `member list`.
pub async fn list(values: &mut Values, _args: &[String], env: &Env) -> Result<(), CtlError> {
    let global = connect(values, env).await?;
    let response = global
        .timed(
            global
                .client
                .cluster()
                .member_list(pb::MemberListRequest {}),
        )
        .await
        .map_err(|s| CtlError::new(EXIT_ERROR, global.rpc_error(&s)))?;
    let rows: Vec<Vec<String>> = response
        .members
        .iter()
        .map(|m| {
            vec![
                format!("{:x}", m.id),
                if m.name.is_empty() {
                    "unstarted"
                } else {
                    "started"
                }
                .to_string(),
                m.name.clone(),
                m.peer_ur_ls.join(","),
                m.client_ur_ls.join(","),
                m.is_learner.to_string(),
            ]
        })
        .collect();
    match global.format {
        Format::Simple => {
            for row in &rows {
                println!("{}", row.join(", "));
            }
        }
        Format::Table => print!(
            "{}",
            printer::table(
                &[
                    "ID",
                    "Status",
                    "Name",
                    "Peer Addrs",
                    "Client Addrs",
                    "Is Learner"
                ],
                &rows
            )
        ),
        Format::Json => {
            let strings = |list: &[String]| list.iter().map(|s| json_string(s)).collect();
            let members: Vec<String> = response
                .members
                .iter()
                .map(|m| {
                    let mut object = JsonObject::new().num("ID", m.id);
                    if !m.name.is_empty() {
                        object = object.raw("name", json_string(&m.name));
                    }
                    object
                        .list("peerURLs", strings(&m.peer_ur_ls))
                        .list("clientURLs", strings(&m.client_ur_ls))
                        .flag("isLearner", m.is_learner)
                        .build()
                })
                .collect();
            println!(
                "{}",
                JsonObject::new()
                    .raw("header", printer::header_json(response.header.as_ref()))
                    .list("members", members)
                    .build()
            );
        }
        Format::Fields => {
            printer::fields_header(response.header.as_ref());
            for m in &response.members {
                println!("\"ID\" : {}", m.id);
                println!("\"Name\" : {}", printer::go_quote(m.name.as_bytes()));
                for url in &m.peer_ur_ls {
                    println!("\"PeerURL\" : {}", printer::go_quote(url.as_bytes()));
                }
                for url in &m.client_ur_ls {
                    println!("\"ClientURL\" : {}", printer::go_quote(url.as_bytes()));
                }
                println!("\"IsLearner\" : {}", m.is_learner);
                println!();
            }
        }
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
    }
    Ok(())
}
