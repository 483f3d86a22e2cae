//! `endpoint health | status | hashkv` (ctlv3/command/ep_command.go), each
//! over `--endpoints` or, with `--cluster`, over every member's client
//! URLs from MemberList. Each endpoint is asked on a connection of its own,
//! as clientv3's maintenance calls dial the endpoint they are given.
//!
//! ```text
//!   health  stderr: 127.0.0.1:2379 is healthy: successfully committed proposal: took = 1.2ms
//!           (concurrent Gets of "health"; any failure: "Error: unhealthy cluster", exit 1)
//!   status  127.0.0.1:2379, 8e9e05c52164694d, 3.4.23, 20 kB, true, false, 2, 8, 8,
//!   hashkv  127.0.0.1:2379, 1084519789
//!   failure of one endpoint (status, hashkv, defrag): a warning, a
//!           "Failed to ... <endpoint> (<error>)" line, the next endpoint
//! ```

use std::future::Future;
use std::time::Instant;

use cairn_proto::etcdserverpb as pb;
use tonic::{Code, Status};

use crate::exit::{CtlError, EXIT_ERROR};
use crate::flags::{format_duration, Values};
use crate::global::{
    apply_env, connect, error_text, go_status, output_format, try_connect, warn_retry, Format,
    Global,
};
use crate::kv::unsupported;
use crate::member::with_header;
use crate::printer::{self, go_quote, json_string, JsonObject};

type Env = [(String, String)];

/// `endpoint health [--cluster]`.
pub async fn health(values: &mut Values, _args: &[String], env: &Env) -> Result<(), CtlError> {
    apply_env(values, env)?;
    let format = output_format(values)?;
    let endpoints = endpoints_from_cluster(values).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for endpoint in endpoints {
        let mut values = one_endpoint(values, &endpoint);
        tasks.spawn(async move { check_health(&mut values, endpoint).await });
    }
    // In the order the answers come, as etcdctl's channel gives them.
    let mut list = Vec::new();
    while let Some(result) = tasks.join_next().await {
        if let Ok(health) = result {
            list.push(health);
        }
    }
    match format {
        Format::Simple => {
            for h in &list {
                match &h.error {
                    None => eprintln!(
                        "{} is healthy: successfully committed proposal: took = {}",
                        h.endpoint, h.took
                    ),
                    Some(error) => eprintln!(
                        "{} is unhealthy: failed to commit proposal: {error}",
                        h.endpoint
                    ),
                }
            }
        }
        Format::Json => {
            let items = list
                .iter()
                .map(|h| {
                    let object = JsonObject::new()
                        .raw("endpoint", json_string(&h.endpoint))
                        .raw("health", h.healthy().to_string())
                        .raw("took", json_string(&h.took));
                    match &h.error {
                        Some(error) => object.raw("error", json_string(error)),
                        None => object,
                    }
                    .build()
                })
                .collect::<Vec<_>>();
            println!("[{}]", items.join(","));
        }
        Format::Fields => {
            for h in &list {
                println!("\"Endpoint\" : {}", go_quote(h.endpoint.as_bytes()));
                println!("\"Health\" : {}", h.healthy());
                println!("\"Took\" : {}", h.took);
                println!("\"Error\" : {}", h.error.as_deref().unwrap_or(""));
                println!();
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|h| {
                    vec![
                        h.endpoint.clone(),
                        h.healthy().to_string(),
                        h.took.clone(),
                        h.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print!(
                "{}",
                printer::table(&["endpoint", "health", "took", "error"], &rows)
            );
        }
        Format::Protobuf => return Err(unsupported(Format::Protobuf)),
    }
    if list.iter().any(|h| h.error.is_some()) {
        return Err(CtlError::new(EXIT_ERROR, "unhealthy cluster"));
    }
    Ok(())
}

/// One endpoint's health (etcdctl's `epHealth`).
struct Health {
    endpoint: String,
    took: String,
    error: Option<String>,
}

impl Health {
    fn healthy(&self) -> bool {
        self.error.is_none()
    }
}

/// Gets the key "health" through a client of `endpoint` alone; a refused
/// permission still went through consensus, so it counts as healthy.
async fn check_health(values: &mut Values, endpoint: String) -> Health {
    let started = Instant::now();
    let error = match connect(values, &[]).await {
        Err(error) => Some(error.message),
        Ok(global) => {
            let request = pb::RangeRequest {
                key: prost::bytes::Bytes::from_static(b"health"),
                ..Default::default()
            };
            match global.timed(global.client.kv().range(request)).await {
                Ok(_) => None,
                Err(status) if status.message() == "etcdserver: permission denied" => None,
                Err(status) => Some(global.rpc_error(&status)),
            }
        }
    };
    Health {
        endpoint,
        took: format_duration(started.elapsed()),
        error,
    }
}

/// `endpoint status [--cluster]`.
pub async fn status(values: &mut Values, _args: &[String], env: &Env) -> Result<(), CtlError> {
    let format = prepare(values, env).await?;
    let mut list = Vec::new();
    let mut failed = false;
    for endpoint in endpoints_from_cluster(values).await? {
        let answer = call_endpoint(values, &endpoint, |global| async move {
            global
                .timed(global.client.maintenance().status(pb::StatusRequest {}))
                .await
        })
        .await;
        match answer {
            Ok(response) => list.push((endpoint, response)),
            Err(error) => {
                eprintln!("Failed to get the status of endpoint {endpoint} ({error})");
                failed = true;
            }
        }
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|(endpoint, s)| {
            let member = s.header.as_ref().map_or(0, |h| h.member_id);
            vec![
                endpoint.clone(),
                format!("{member:x}"),
                s.version.clone(),
                human_bytes(u64::try_from(s.db_size).unwrap_or(0)),
                (s.leader == member).to_string(),
                s.is_learner.to_string(),
                s.raft_term.to_string(),
                s.raft_index.to_string(),
                s.raft_applied_index.to_string(),
                s.errors.join(", "),
            ]
        })
        .collect();
    match format {
        Format::Simple => print_rows(&rows),
        Format::Table => print!(
            "{}",
            printer::table(
                &[
                    "endpoint",
                    "ID",
                    "version",
                    "db size",
                    "is leader",
                    "is learner",
                    "raft term",
                    "raft index",
                    "raft applied index",
                    "errors",
                ],
                &rows
            )
        ),
        Format::Json => {
            let items = list.iter().map(|(endpoint, s)| {
                JsonObject::new()
                    .raw("Endpoint", json_string(endpoint))
                    .raw("Status", status_json(s))
                    .build()
            });
            println!("[{}]", items.collect::<Vec<_>>().join(","));
        }
        Format::Fields => {
            for (endpoint, s) in &list {
                printer::fields_header(s.header.as_ref());
                println!("\"Version\" : {}", go_quote(s.version.as_bytes()));
                println!("\"DBSize\" : {}", s.db_size);
                println!("\"Leader\" : {}", s.leader);
                println!("\"IsLearner\" : {}", s.is_learner);
                println!("\"RaftIndex\" : {}", s.raft_index);
                println!("\"RaftTerm\" : {}", s.raft_term);
                println!("\"RaftAppliedIndex\" : {}", s.raft_applied_index);
                println!("\"Errors\" : [{}]", s.errors.join(" "));
                println!("\"Endpoint\" : {}", go_quote(endpoint.as_bytes()));
                println!();
            }
        }
        Format::Protobuf => return Err(unsupported(Format::Protobuf)),
    }
    if failed {
        return Err(CtlError::new(EXIT_ERROR, ""));
    }
    Ok(())
}

/// Go's `json.Marshal` of a `StatusResponse` (every field `omitempty`).
fn status_json(s: &pb::StatusResponse) -> String {
    let errors = s.errors.iter().map(|e| json_string(e)).collect();
    let object = with_header(JsonObject::new(), s.header.as_ref());
    let object = if s.version.is_empty() {
        object
    } else {
        object.raw("version", json_string(&s.version))
    };
    object
        .num("dbSize", s.db_size)
        .num("leader", s.leader)
        .num("raftIndex", s.raft_index)
        .num("raftTerm", s.raft_term)
        .num("raftAppliedIndex", s.raft_applied_index)
        .list("errors", errors)
        .num("dbSizeInUse", s.db_size_in_use)
        .flag("isLearner", s.is_learner)
        .build()
}

/// `endpoint hashkv [--cluster] [--rev]`.
pub async fn hashkv(values: &mut Values, _args: &[String], env: &Env) -> Result<(), CtlError> {
    let format = prepare(values, env).await?;
    let revision = values.int("rev");
    let mut list = Vec::new();
    let mut last_error = None;
    for endpoint in endpoints_from_cluster(values).await? {
        let answer = call_endpoint(values, &endpoint, |global| async move {
            let request = pb::HashKvRequest { revision };
            global
                .timed(global.client.maintenance().hash_kv(request))
                .await
        })
        .await;
        match answer {
            Ok(response) => list.push((endpoint, response)),
            Err(error) => {
                eprintln!("Failed to get the hash of endpoint {endpoint} ({error})");
                last_error = Some(error);
            }
        }
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|(endpoint, h)| vec![endpoint.clone(), h.hash.to_string()])
        .collect();
    match format {
        Format::Simple => print_rows(&rows),
        Format::Table => print!("{}", printer::table(&["endpoint", "hash"], &rows)),
        Format::Json => {
            let items = list.iter().map(|(endpoint, h)| {
                let hash = with_header(JsonObject::new(), h.header.as_ref())
                    .num("hash", h.hash)
                    .num("compact_revision", h.compact_revision)
                    .build();
                JsonObject::new()
                    .raw("Endpoint", json_string(endpoint))
                    .raw("HashKV", hash)
                    .build()
            });
            println!("[{}]", items.collect::<Vec<_>>().join(","));
        }
        Format::Fields => {
            for (endpoint, h) in &list {
                printer::fields_header(h.header.as_ref());
                println!("\"Endpoint\" : {}", go_quote(endpoint.as_bytes()));
                println!("\"Hash\" : {}", h.hash);
                println!();
            }
        }
        Format::Protobuf => return Err(unsupported(Format::Protobuf)),
    }
    match last_error {
        Some(error) => Err(CtlError::new(EXIT_ERROR, error)),
        None => Ok(()),
    }
}

/// The simple printer's rows: cells joined by ", ".
fn print_rows(rows: &[Vec<String>]) {
    for row in rows {
        println!("{}", row.join(", "));
    }
}

/// etcdctl's `mustClientFromCmd` for the commands that go on to dial each
/// endpoint: the environment applied, the flags checked (a bad one ends
/// the command); endpoints that cannot be reached fail later, one by one.
/// The output format.
pub async fn prepare(values: &mut Values, env: &Env) -> Result<Format, CtlError> {
    let _reachable = try_connect(values, env).await?;
    output_format(values)
}

/// The endpoints a command goes through (etcdctl's `endpointsFromCluster`):
/// `--endpoints` as given, or with `--cluster` every member's client URLs,
/// in MemberList's order. Call after the environment is applied.
pub async fn endpoints_from_cluster(values: &Values) -> Result<Vec<String>, CtlError> {
    if !values.bool("cluster") {
        return Ok(values.strings("endpoints"));
    }
    let failed = |text: String| {
        CtlError::new(
            EXIT_ERROR,
            format!("failed to fetch endpoints from etcd cluster member list: {text}"),
        )
    };
    // MemberList needs no authentication (etcdctl dials without the user).
    let mut anonymous = values.clone();
    let _ = anonymous.replace("user", "");
    let _ = anonymous.replace("debug", "false");
    let global = connect(&mut anonymous, &[])
        .await
        .map_err(|e| failed(e.message))?;
    let response = global
        .timed(
            global
                .client
                .cluster()
                .member_list(pb::MemberListRequest {}),
        )
        .await
        .map_err(|s| failed(global.rpc_error(&s)))?;
    Ok(response
        .members
        .into_iter()
        .flat_map(|m| m.client_ur_ls)
        .collect())
}

/// The flags with `--endpoints` set to `endpoint` alone (the environment
/// already applied; `--debug` not printed again).
pub fn one_endpoint(values: &Values, endpoint: &str) -> Values {
    let mut values = values.clone();
    let _ = values.replace("endpoints", endpoint);
    let _ = values.replace("debug", "false");
    values
}

/// Runs `call` on a connection to `endpoint` alone, as clientv3 does for
/// `Status`, `HashKV` and `Defragment` (`passthrough:///<endpoint>`). A
/// failure is printed as clientv3's warning; the error text is returned.
pub async fn call_endpoint<T, F, Fut>(values: &Values, endpoint: &str, call: F) -> Result<T, String>
where
    F: FnOnce(Global) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let target = format!("passthrough:///{endpoint}");
    let mut values = one_endpoint(values, endpoint);
    let status = match try_connect(&mut values, &[]).await {
        Ok(Ok(global)) => match call(global).await {
            Ok(answer) => return Ok(answer),
            Err(status) => status,
        },
        Ok(Err(_)) => {
            let address = endpoint.split_once("://").map_or(endpoint, |(_, a)| a);
            Status::new(
                Code::DeadlineExceeded,
                format!(
                    "latest balancer error: connection error: desc = \"transport: Error while dialing dial tcp {address}: connect: connection refused\""
                ),
            )
        }
        Err(error) => return Err(error.message),
    };
    warn_retry(&target, &go_status(&status));
    Err(error_text(&status))
}

/// go-humanize's `Bytes`: SI units, one decimal below 10.
pub fn human_bytes(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if size < 10 {
        return format!("{size} B");
    }
    let exponent = ((size as f64).ln() / 1000f64.ln()).floor();
    let unit = UNITS[(exponent as usize).min(UNITS.len() - 1)];
    let value = (size as f64 / 1000f64.powf(exponent) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_read_as_go_humanize_writes_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(20_480), "20 kB");
        assert_eq!(human_bytes(24_576), "25 kB");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(2_000_000_000), "2.0 GB");
    }
}
