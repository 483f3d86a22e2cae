//! `member list | add | remove | update | promote`
//! (ctlv3/command/member_command.go). Member IDs are hexadecimal on the
//! command line and in simple output, decimal in json and fields.
//!
//! ```text
//!   member list    d38c58135f1f7c1e, started, e, http://..:45002, http://..:45001, false
//!   member add     Member d5f53727f466f60c added to cluster 423236063c269833
//!                  (+ the ETCD_NAME / ETCD_INITIAL_CLUSTER / ... lines)
//!   member remove  Member ... removed from cluster ...
//!   member update  Member ... updated in cluster ...
//!   member promote Member ... promoted in cluster ...
//! ```
//!
//! etcdctl's printers give add/remove/update json and protobuf only
//! (fields and table: "not supported", after the change is made); promote
//! has no printer but the simple one, so any other format crashes etcdctl
//! on a nil pointer (after the promotion), which cairnctl mirrors.

use cairn_proto::etcdserverpb as pb;
use prost::Message;

use crate::exit::{CtlError, EXIT_ERROR};
use crate::flags::Values;
use crate::global::{connect, Format, Global};
use crate::kv::unsupported;
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
        .map_err(|s| global.failed(&s))?;
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
        Format::Json => println!(
            "{}",
            with_header(JsonObject::new(), response.header.as_ref())
                .list("members", members_json(&response.members))
                .build()
        ),
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

/// `member add <memberName> --peer-urls=... [--learner]`.
pub async fn add(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let name = match args {
        [] => return Err(CtlError::bad_args("member name not provided")),
        [name] => name.clone(),
        _ => {
            let mut text = String::from("too many arguments");
            for arg in args {
                if arg.to_lowercase().starts_with("http") {
                    text.push_str(&format!(", did you mean --peer-urls={arg}"));
                }
            }
            return Err(CtlError::bad_args(text));
        }
    };
    let urls_text = values.string("peer-urls");
    let urls = peer_urls(&urls_text)?;
    let global = connect(values, env).await?;
    check_urls(&urls)?;
    let request = pb::MemberAddRequest {
        peer_ur_ls: urls,
        is_learner: values.bool("learner"),
    };
    let response = global
        .timed(global.client.cluster().member_add(request))
        .await
        .map_err(|s| global.failed(&s))?;
    let new_id = response.member.as_ref().map_or(0, |m| m.id);
    match global.format {
        Format::Simple => {
            println!(
                "Member {new_id:16x} added to cluster {:16x}",
                cluster_id(response.header.as_ref())
            );
            let mut cluster = Vec::new();
            for member in &response.members {
                let shown = if member.id == new_id {
                    &name
                } else {
                    &member.name
                };
                for url in &member.peer_ur_ls {
                    cluster.push(format!("{shown}={url}"));
                }
            }
            println!();
            println!("ETCD_NAME={}", printer::go_quote(name.as_bytes()));
            println!(
                "ETCD_INITIAL_CLUSTER={}",
                printer::go_quote(cluster.join(",").as_bytes())
            );
            println!(
                "ETCD_INITIAL_ADVERTISE_PEER_URLS={}",
                printer::go_quote(urls_text.as_bytes())
            );
            println!("ETCD_INITIAL_CLUSTER_STATE=\"existing\"");
        }
        Format::Json => {
            let mut object = with_header(JsonObject::new(), response.header.as_ref());
            if let Some(member) = &response.member {
                object = object.raw("member", member_json(member));
            }
            println!(
                "{}",
                object
                    .list("members", members_json(&response.members))
                    .build()
            );
        }
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        other => return Err(unsupported(other)),
    }
    Ok(())
}

/// `member remove <memberID>`.
pub async fn remove(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let id = id_arg(args)?;
    let global = connect(values, env).await?;
    let response = global
        .timed(
            global
                .client
                .cluster()
                .member_remove(pb::MemberRemoveRequest { id }),
        )
        .await
        .map_err(|s| global.failed(&s))?;
    let shape = Changed {
        id,
        verb: "removed from",
        header: response.header.as_ref(),
        members: &response.members,
    };
    print_changed(&global, &shape, &response.encode_to_vec())
}

/// `member update <memberID> --peer-urls=...`.
pub async fn update(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let id = id_arg(args)?;
    let urls = peer_urls(&values.string("peer-urls"))?;
    let global = connect(values, env).await?;
    check_urls(&urls)?;
    let request = pb::MemberUpdateRequest {
        id,
        peer_ur_ls: urls,
    };
    let response = global
        .timed(global.client.cluster().member_update(request))
        .await
        .map_err(|s| global.failed(&s))?;
    let shape = Changed {
        id,
        verb: "updated in",
        header: response.header.as_ref(),
        members: &response.members,
    };
    print_changed(&global, &shape, &response.encode_to_vec())
}

/// `member promote <memberID>`.
pub async fn promote(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let id = id_arg(args)?;
    let global = connect(values, env).await?;
    let response = global
        .timed(
            global
                .client
                .cluster()
                .member_promote(pb::MemberPromoteRequest { id }),
        )
        .await
        .map_err(|s| global.failed(&s))?;
    if global.format != Format::Simple {
        return Err(CtlError::nil_panic());
    }
    println!(
        "Member {id:16x} promoted in cluster {:16x}",
        cluster_id(response.header.as_ref())
    );
    Ok(())
}

/// What remove and update answer: the member changed and the members now.
struct Changed<'a> {
    id: u64,
    verb: &'static str,
    header: Option<&'a pb::ResponseHeader>,
    members: &'a [pb::Member],
}

/// The simple line, json, protobuf (`encoded`) of a remove or update.
fn print_changed(global: &Global, changed: &Changed, encoded: &[u8]) -> Result<(), CtlError> {
    match global.format {
        Format::Simple => println!(
            "Member {:16x} {} cluster {:16x}",
            changed.id,
            changed.verb,
            cluster_id(changed.header)
        ),
        Format::Json => println!(
            "{}",
            with_header(JsonObject::new(), changed.header)
                .list("members", members_json(changed.members))
                .build()
        ),
        Format::Protobuf => printer::write_raw(encoded),
        other => return Err(unsupported(other)),
    }
    Ok(())
}

fn cluster_id(header: Option<&pb::ResponseHeader>) -> u64 {
    header.map_or(0, |h| h.cluster_id)
}

/// `"header":{...}` when the response has one (Go's `omitempty` of a
/// pointer).
pub fn with_header(object: JsonObject, header: Option<&pb::ResponseHeader>) -> JsonObject {
    match header {
        Some(header) => object.raw("header", printer::header_json(Some(header))),
        None => object,
    }
}

/// A member as Go's `json.Marshal` writes etcd's `Member`.
fn member_json(m: &pb::Member) -> String {
    let strings = |list: &[String]| list.iter().map(|s| json_string(s)).collect();
    let mut object = JsonObject::new().num("ID", m.id);
    if !m.name.is_empty() {
        object = object.raw("name", json_string(&m.name));
    }
    object
        .list("peerURLs", strings(&m.peer_ur_ls))
        .list("clientURLs", strings(&m.client_ur_ls))
        .flag("isLearner", m.is_learner)
        .build()
}

fn members_json(members: &[pb::Member]) -> Vec<String> {
    members.iter().map(member_json).collect()
}

/// The one `<memberID>` argument of remove, update and promote.
fn id_arg(args: &[String]) -> Result<u64, CtlError> {
    let [text] = args else {
        return Err(CtlError::bad_args("member ID is not provided"));
    };
    parse_hex_id(text).map_err(|why| {
        CtlError::bad_args(format!("bad member ID arg ({why}), expecting ID in Hex"))
    })
}

/// Go's `strconv.ParseUint(text, 16, 64)`, with its error text.
pub fn parse_hex_id(text: &str) -> Result<u64, String> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "strconv.ParseUint: parsing {text:?}: invalid syntax"
        ));
    }
    u64::from_str_radix(text, 16)
        .map_err(|_| format!("strconv.ParseUint: parsing {text:?}: value out of range"))
}

/// `--peer-urls` split at commas; etcdctl refuses an empty one (exit 128).
fn peer_urls(text: &str) -> Result<Vec<String>, CtlError> {
    if text.is_empty() {
        return Err(CtlError::bad_args("member peer urls not provided"));
    }
    Ok(text.split(',').map(str::to_string).collect())
}

/// clientv3's check of peer URLs before it sends them (etcd's
/// `types.NewURLs`): exit 1 with its text.
fn check_urls(urls: &[String]) -> Result<(), CtlError> {
    for url in urls {
        check_url(url.trim()).map_err(|text| CtlError::new(EXIT_ERROR, text))?;
    }
    Ok(())
}

/// One URL as Go's `url.Parse` and `types.NewURLs` see it: a scheme of
/// http, https, unix or unixs, a `host:port`, no path.
fn check_url(url: &str) -> Result<(), String> {
    let scheme_error = || format!("URL scheme must be http, https, unix, or unixs: {url}");
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(scheme_error());
    };
    let scheme_chars = |c: char| c.is_ascii_alphanumeric() || "+-.".contains(c);
    if scheme.is_empty() {
        return Err(format!("parse {url:?}: missing protocol scheme"));
    }
    if !scheme.starts_with(|c: char| c.is_ascii_alphabetic()) || !scheme.chars().all(scheme_chars) {
        return Err(scheme_error());
    }
    if !["http", "https", "unix", "unixs"].contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(scheme_error());
    }
    let host_port_error = || format!("URL address does not have the form \"host:port\": {url}");
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(host_port_error());
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    // url.Parse checks the port's digits before etcd looks at the form.
    let port = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map(|(_, after)| after),
        None => host.find(':').map(|at| &host[at..]),
    };
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        let digits = port.strip_prefix(':');
        if !digits.is_some_and(|d| d.chars().all(|c| c.is_ascii_digit())) {
            return Err(format!("parse {url:?}: invalid port {port:?} after host"));
        }
    }
    let split_ok = match host.strip_prefix('[') {
        Some(v6) => v6
            .split_once("]:")
            .is_some_and(|(_, port)| !port.contains(':')),
        None => host.matches(':').count() == 1,
    };
    if !split_ok {
        return Err(host_port_error());
    }
    let path = tail.split(['?', '#']).next().unwrap_or("");
    if !path.is_empty() {
        return Err(format!("URL must not contain a path: {url}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_as_etcd_does() {
        assert!(check_url("http://127.0.0.1:2380").is_ok());
        assert!(check_url("https://[::1]:2380").is_ok());
        assert_eq!(
            check_url("bad").unwrap_err(),
            "URL scheme must be http, https, unix, or unixs: bad"
        );
        assert_eq!(
            check_url("http://127.0.0.1").unwrap_err(),
            "URL address does not have the form \"host:port\": http://127.0.0.1"
        );
        assert_eq!(
            check_url("http://a:1/p").unwrap_err(),
            "URL must not contain a path: http://a:1/p"
        );
        assert_eq!(
            check_url("http://a:x").unwrap_err(),
            "parse \"http://a:x\": invalid port \":x\" after host"
        );
    }

    #[test]
    fn ids_parse_as_go_parse_uint() {
        assert_eq!(parse_hex_id("ff"), Ok(255));
        assert!(parse_hex_id("zz").unwrap_err().ends_with("invalid syntax"));
        assert!(parse_hex_id("1ffffffffffffffff")
            .unwrap_err()
            .ends_with("value out of range"));
    }
}
