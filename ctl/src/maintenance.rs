//! `alarm list | disarm`, `defrag`, `move-leader`
//! (ctlv3/command/{alarm,defrag,move_leader}_command.go).
//!
//! ```text
//!   alarm list      memberID:8211f1d0f64f3269 alarm:NOSPACE   (one line per alarm)
//!   alarm disarm    lists the alarms, then deactivates each one
//!   defrag          Finished defragmenting etcd member[127.0.0.1:2379]   (per endpoint)
//!   defrag --data-dir <dir>   <dir>/member/snap/db rewritten compactly (offline)
//!   move-leader ID  finds the leader among --endpoints (Status of each),
//!                   asks it: Leadership transferred from <leader> to <ID>
//! ```

use cairn_proto::etcdserverpb as pb;
use prost::Message;

use crate::endpoint::{call_endpoint, endpoints_from_cluster, one_endpoint, prepare};
use crate::exit::{CtlError, EXIT_ERROR};
use crate::flags::Values;
use crate::global::{connect, Format, Global};
use crate::kv::unsupported;
use crate::member::{parse_hex_id, with_header};
use crate::printer::{self, JsonObject};
use crate::progress::Progress;

mod offline;

type Env = [(String, String)];

/// `alarm list`.
pub async fn alarm_list(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if !args.is_empty() {
        return Err(CtlError::bad_args(
            "alarm list command accepts no arguments",
        ));
    }
    let global = connect(values, env).await?;
    let response = list_alarms(&global).await?;
    print_alarms(global.format, &response)
}

/// `alarm disarm`: clientv3's `AlarmDisarm` of the empty member, which
/// lists the alarms and deactivates them one by one; its answer has the
/// alarms deactivated and no header.
pub async fn alarm_disarm(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if !args.is_empty() {
        return Err(CtlError::bad_args(
            "alarm disarm command accepts no arguments",
        ));
    }
    let global = connect(values, env).await?;
    let listed = list_alarms(&global).await?;
    let mut disarmed = pb::AlarmResponse::default();
    for alarm in listed.alarms {
        let request = pb::AlarmRequest {
            action: pb::alarm_request::AlarmAction::Deactivate as i32,
            member_id: alarm.member_id,
            alarm: alarm.alarm,
        };
        let response = global
            .timed(global.client.maintenance().alarm(request))
            .await
            .map_err(|s| global.failed(&s))?;
        disarmed.alarms.extend(response.alarms);
    }
    print_alarms(global.format, &disarmed)
}

async fn list_alarms(global: &Global) -> Result<pb::AlarmResponse, CtlError> {
    let request = pb::AlarmRequest {
        action: pb::alarm_request::AlarmAction::Get as i32,
        member_id: 0,
        alarm: pb::AlarmType::None as i32,
    };
    global
        .timed(global.client.maintenance().alarm(request))
        .await
        .map_err(|s| global.failed(&s))
}

/// etcdctl's alarm printers. fields needs a header (etcd 3.4 sends none:
/// etcdctl crashes); table has none.
fn print_alarms(format: Format, response: &pb::AlarmResponse) -> Result<(), CtlError> {
    match format {
        Format::Simple => {
            // `%+v` of *AlarmMember: protobuf's compact text form.
            for alarm in &response.alarms {
                let mut text = String::new();
                if alarm.member_id != 0 {
                    text.push_str(&format!("memberID:{} ", alarm.member_id));
                }
                if alarm.alarm != 0 {
                    text.push_str(&format!("alarm:{} ", alarm_name(alarm.alarm)));
                }
                println!("{text}");
            }
        }
        Format::Json => {
            let alarms = response
                .alarms
                .iter()
                .map(|a| {
                    JsonObject::new()
                        .num("memberID", a.member_id)
                        .num("alarm", a.alarm)
                        .build()
                })
                .collect();
            println!(
                "{}",
                with_header(JsonObject::new(), response.header.as_ref())
                    .list("alarms", alarms)
                    .build()
            );
        }
        Format::Fields => {
            if response.header.is_none() {
                return Err(CtlError::nil_panic());
            }
            printer::fields_header(response.header.as_ref());
            for alarm in &response.alarms {
                println!("\"MemberID\" : {}", alarm.member_id);
                println!("\"AlarmType\" : {}", alarm_name(alarm.alarm));
                println!();
            }
        }
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        Format::Table => return Err(unsupported(Format::Table)),
    }
    Ok(())
}

/// The enum's name (Go's `String()` of `AlarmType`; unknown: the number).
fn alarm_name(alarm: i32) -> String {
    match pb::AlarmType::try_from(alarm) {
        Ok(pb::AlarmType::None) => "NONE".to_string(),
        Ok(pb::AlarmType::Nospace) => "NOSPACE".to_string(),
        Ok(pb::AlarmType::Corrupt) => "CORRUPT".to_string(),
        Err(_) => alarm.to_string(),
    }
}

/// `defrag [--cluster]`: each endpoint defragmented in turn, on a
/// connection of its own; `--data-dir`: an etcd member's database file,
/// offline (offline.rs).
pub async fn defrag(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let _ = args;
    let data_dir = values.string("data-dir");
    if !data_dir.is_empty() {
        return offline::defrag_data_dir(&data_dir);
    }
    prepare(values, env).await?;
    let endpoints = endpoints_from_cluster(values).await?;
    let mut failures = 0;
    // On a terminal: members done out of all (defrag of a large member
    // takes minutes).
    let progress = Progress::steps(endpoints.len() as u64, "defragmenting");
    defragment_all(values, &endpoints, |endpoint, result| {
        match result {
            Ok(()) => progress.print(&format!("Finished defragmenting etcd member[{endpoint}]")),
            Err(error) => {
                progress.log(&format!(
                    "Failed to defragment etcd member[{endpoint}] ({error})"
                ));
                failures += 1;
            }
        }
        progress.advance(1);
    })
    .await;
    progress.finish();
    if failures > 0 {
        return Err(CtlError::new(EXIT_ERROR, ""));
    }
    Ok(())
}

/// Defragments `endpoints` one after the other, telling `done` about each
/// as it finishes. This is the hook a progress display wraps: `done` is
/// called once per endpoint, in order, with the endpoint and its outcome.
pub async fn defragment_all(
    values: &Values,
    endpoints: &[String],
    mut done: impl FnMut(&str, Result<(), String>),
) {
    for endpoint in endpoints {
        let result = call_endpoint(values, endpoint, |global| async move {
            global
                .timed(
                    global
                        .client
                        .maintenance()
                        .defragment(pb::DefragmentRequest {}),
                )
                .await
        })
        .await;
        done(endpoint, result.map(|_| ()));
    }
}

/// `move-leader <transferee-member-id>`: the leader is the endpoint whose
/// Status names itself; the request goes to it.
pub async fn move_leader(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let [target] = args else {
        return Err(CtlError::bad_args("move-leader command needs 1 argument"));
    };
    let target = parse_hex_id(target).map_err(CtlError::bad_args)?;
    prepare(values, env).await?;
    let endpoints = values.strings("endpoints");
    let mut leader = None;
    for endpoint in &endpoints {
        let status = call_endpoint(values, endpoint, |global| async move {
            global
                .timed(global.client.maintenance().status(pb::StatusRequest {}))
                .await
        })
        .await
        .map_err(|error| CtlError::new(EXIT_ERROR, error))?;
        if status.header.as_ref().map(|h| h.member_id) == Some(status.leader) {
            leader = Some((endpoint.clone(), status.leader));
            break;
        }
    }
    let Some((endpoint, leader_id)) = leader else {
        return Err(CtlError::bad_args(format!(
            "no leader endpoint given at [{}]",
            endpoints.join(" ")
        )));
    };
    let mut to_leader = one_endpoint(values, &endpoint);
    let global = connect(&mut to_leader, &[]).await?;
    let response = global
        .timed(
            global
                .client
                .maintenance()
                .move_leader(pb::MoveLeaderRequest { target_id: target }),
        )
        .await
        .map_err(|s| global.failed(&s))?;
    match global.format {
        Format::Simple => {
            println!("Leadership transferred from {leader_id:x} to {target:x}")
        }
        Format::Json => println!(
            "{}",
            with_header(JsonObject::new(), response.header.as_ref()).build()
        ),
        Format::Protobuf => printer::write_raw(&response.encode_to_vec()),
        other => return Err(unsupported(other)),
    }
    Ok(())
}
