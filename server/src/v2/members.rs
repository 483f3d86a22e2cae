//! `/v2/members`, `/v2/machines` and `/v2/stats/store` as etcd's v2 API
//! answers them (`v2http/client.go`, `httptypes`). Membership changes go
//! through the gRPC Cluster service's code, which sends them on to the
//! leader when this member is not it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use cairn_core::auth::Caller;
use cairn_core::member::{calls, MemberStatus, V2Request, V2Result};
use cairn_proto::etcdserverpb as pb;
use pb::cluster_server::Cluster;

use super::json::go_string;
use super::{method_not_allowed, V2Shared};

/// etcd's `httptypes.HTTPError`: `{"message":..}` with a status.
pub(crate) fn http_error(status: StatusCode, message: &str) -> Response {
    let body = super::auth_json::message(message);
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .expect("valid response")
}

fn json_response(status: StatusCode, cluster_id: u64, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("X-Etcd-Cluster-Id", format!("{cluster_id:x}"))
        .body(Body::from(body))
        .expect("valid response")
}

/// A member as `httptypes.Member` marshals it.
fn member_json(
    out: &mut String,
    id: u64,
    name: &str,
    peer_urls: &[String],
    client_urls: &[String],
) {
    out.push_str(&format!("{{\"id\":\"{id:x}\",\"name\":"));
    go_string(out, name);
    out.push_str(",\"peerURLs\":");
    strings_json(out, peer_urls);
    out.push_str(",\"clientURLs\":");
    strings_json(out, client_urls);
    out.push('}');
}

fn strings_json(out: &mut String, strings: &[String]) {
    out.push('[');
    for (i, s) in strings.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_string(out, s);
    }
    out.push(']');
}

fn status_json(out: &mut String, m: &MemberStatus) {
    member_json(out, m.id, &m.name, &m.peer_urls, &m.client_urls);
}

pub async fn serve_members(shared: V2Shared, request: Request) -> Response {
    let method = request.method().clone();
    if ![Method::GET, Method::POST, Method::DELETE, Method::PUT].contains(&method) {
        return method_not_allowed(&["GET", "POST", "DELETE", "PUT"]);
    }
    if !super::auth_check::has_write_root_access(&shared, &method, request.headers()).await {
        return super::auth::no_auth();
    }
    let rest = request
        .uri()
        .path()
        .strip_prefix("/v2/members")
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    match method {
        Method::GET => list_or_leader(&shared, &rest).await,
        Method::POST => {
            let Some(urls) = peer_urls_of(request).await else {
                return bad_content_type_or_json();
            };
            add(&shared, urls).await
        }
        _ => {
            if rest.is_empty() {
                return Response::builder()
                    .status(StatusCode::METHOD_NOT_ALLOWED)
                    .header("Content-Type", "text/plain; charset=utf-8")
                    .body(Body::from("Method Not Allowed\n"))
                    .expect("valid response");
            }
            let Ok(id) = u64::from_str_radix(&rest, 16) else {
                return http_error(StatusCode::NOT_FOUND, &format!("No such member: {rest}"));
            };
            if method == Method::DELETE {
                remove(&shared, id).await
            } else {
                match peer_urls_of(request).await {
                    Some(Ok(urls)) => update(&shared, id, urls).await,
                    Some(Err(response)) => response,
                    None => bad_content_type_or_json(),
                }
            }
        }
    }
}

fn bad_content_type_or_json() -> Response {
    http_error(StatusCode::BAD_REQUEST, "unexpected end of JSON input")
}

/// The `peerURLs` of a JSON body (`MemberCreateRequest`/`MemberUpdateRequest`);
/// `Err` is etcd's answer to a bad content type or body.
async fn peer_urls_of(request: Request) -> Option<Result<Vec<String>, Response>> {
    let content_type = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let media = match content_type.find(';') {
        Some(at) => content_type[..at].trim().to_ascii_lowercase(),
        None => content_type.clone(),
    };
    if media != "application/json" {
        return Some(Err(http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Bad Content-Type {media}, accept application/json"),
        )));
    }
    let body = axum::body::to_bytes(request.into_body(), super::MAX_FORM_BYTES)
        .await
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "peerURLs", default)]
        peer_urls: Vec<String>,
    }
    let parsed: Body = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(e) => return Some(Err(http_error(StatusCode::BAD_REQUEST, &e.to_string()))),
    };
    for url in &parsed.peer_urls {
        if let Err(e) = crate::config::Url::parse(url) {
            return Some(Err(http_error(StatusCode::BAD_REQUEST, &e.to_string())));
        }
    }
    Some(Ok(parsed.peer_urls))
}

async fn list_or_leader(shared: &V2Shared, rest: &str) -> Response {
    let Ok((_, members)) = shared.handle.call(Caller::System, calls::MemberList).await else {
        return http_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    match rest {
        "" => {
            let mut body = String::from("{\"members\":[");
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                status_json(&mut body, m);
            }
            body.push_str("]}\n");
            json_response(StatusCode::OK, shared.cluster_id, body)
        }
        "leader" => {
            let leader = match shared.handle.call(Caller::System, calls::Status).await {
                Ok((_, status)) => status.leader,
                Err(_) => 0,
            };
            match members.iter().find(|m| m.id == leader) {
                Some(m) if leader != 0 => {
                    let mut body = String::new();
                    status_json(&mut body, m);
                    body.push('\n');
                    json_response(StatusCode::OK, shared.cluster_id, body)
                }
                _ => http_error(StatusCode::SERVICE_UNAVAILABLE, "During election"),
            }
        }
        _ => http_error(StatusCode::NOT_FOUND, "Not found"),
    }
}

async fn add(shared: &V2Shared, urls: Result<Vec<String>, Response>) -> Response {
    let urls = match urls {
        Ok(urls) => urls,
        Err(response) => return response,
    };
    let request = tonic::Request::new(pb::MemberAddRequest {
        peer_ur_ls: urls,
        is_learner: false,
    });
    match shared.cluster.member_add(request).await {
        Ok(response) => {
            let member = response.into_inner().member.unwrap_or_default();
            let mut body = String::new();
            member_json(&mut body, member.id, "", &member.peer_ur_ls, &[]);
            body.push('\n');
            json_response(StatusCode::CREATED, shared.cluster_id, body)
        }
        Err(status) => membership_error(&status, 0),
    }
}

async fn remove(shared: &V2Shared, id: u64) -> Response {
    let request = tonic::Request::new(pb::MemberRemoveRequest { id });
    match shared.cluster.member_remove(request).await {
        Ok(_) => no_content(shared.cluster_id),
        Err(status) => membership_error(&status, id),
    }
}

async fn update(shared: &V2Shared, id: u64, urls: Vec<String>) -> Response {
    let request = tonic::Request::new(pb::MemberUpdateRequest {
        id,
        peer_ur_ls: urls,
    });
    match shared.cluster.member_update(request).await {
        Ok(_) => no_content(shared.cluster_id),
        Err(status) => membership_error(&status, id),
    }
}

fn no_content(cluster_id: u64) -> Response {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header("X-Etcd-Cluster-Id", format!("{cluster_id:x}"))
        .body(Body::empty())
        .expect("valid response")
}

/// etcd's v2 answers to membership errors (`membership.Err*`).
fn membership_error(status: &tonic::Status, id: u64) -> Response {
    let message = status.message();
    if message.contains("member not found") {
        http_error(StatusCode::NOT_FOUND, &format!("No such member: {id:x}"))
    } else if message.contains("Peer URLs already exists") {
        http_error(StatusCode::CONFLICT, "membership: peerURL exists")
    } else if message.contains("member ID already exist") {
        http_error(StatusCode::CONFLICT, "membership: ID exists")
    } else if message.contains("given member URLs are invalid") {
        http_error(StatusCode::BAD_REQUEST, message)
    } else {
        http_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

/// `/v2/machines`: every member's client URLs, joined by ", ".
pub async fn serve_machines(shared: V2Shared, request: Request) -> Response {
    if ![Method::GET, Method::HEAD].contains(request.method()) {
        return method_not_allowed(&["GET", "HEAD"]);
    }
    let Ok((_, members)) = shared.handle.call(Caller::System, calls::MemberList).await else {
        return http_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let urls: Vec<String> = members
        .iter()
        .flat_map(|m| m.client_urls.iter().cloned())
        .collect();
    Response::builder()
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(Body::from(urls.join(", ")))
        .expect("valid response")
}

/// `/v2/stats/store`: the v2 store's operation counts on this member.
pub async fn serve_store_stats(shared: V2Shared, request: Request) -> Response {
    if request.method() != Method::GET {
        return method_not_allowed(&["GET"]);
    }
    let stats = match shared.handle.call(Caller::System, V2Request::Stats).await {
        Ok((_, answer)) => match answer.result {
            V2Result::Stats { stats, .. } => stats,
            _ => return http_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        },
        Err(_) => return http_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    };
    let body = format!(
        "{{\"getsSuccess\":{},\"getsFail\":{},\"setsSuccess\":{},\"setsFail\":{},\
         \"deleteSuccess\":{},\"deleteFail\":{},\"updateSuccess\":{},\"updateFail\":{},\
         \"createSuccess\":{},\"createFail\":{},\"compareAndSwapSuccess\":{},\
         \"compareAndSwapFail\":{},\"compareAndDeleteSuccess\":{},\"compareAndDeleteFail\":{},\
         \"expireCount\":{},\"watchers\":{}}}",
        stats.get_success,
        stats.get_fail,
        stats.set_success,
        stats.set_fail,
        stats.delete_success,
        stats.delete_fail,
        stats.update_success,
        stats.update_fail,
        stats.create_success,
        stats.create_fail,
        stats.compare_and_swap_success,
        stats.compare_and_swap_fail,
        stats.compare_and_delete_success,
        stats.compare_and_delete_fail,
        stats.expire_count,
        stats.watchers,
    );
    Response::builder()
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .expect("valid response")
}

/// `/v2/stats/self`: this member, its state, its leader and the append
/// requests it sent and received (`v2stats.ServerStats`).
pub async fn serve_self_stats(shared: V2Shared, request: Request) -> Response {
    if request.method() != Method::GET {
        return method_not_allowed(&["GET"]);
    }
    let leader = match shared.handle.call(Caller::System, calls::Status).await {
        Ok((_, status)) => status.leader,
        Err(_) => 0,
    };
    let stats = shared.handle.raft_stats();
    let state = if leader != 0 && leader == shared.member_id {
        "StateLeader"
    } else {
        "StateFollower"
    };
    let now = super::wall_clock_ms();
    let (leader_id, uptime) = match stats.leader {
        Some((id, since)) => (id, since),
        None => (leader, std::time::Duration::ZERO),
    };
    let leader_start = now - uptime.as_millis() as i64;
    let mut body = String::from("{\"name\":");
    go_string(&mut body, &shared.name);
    body.push_str(&format!(
        ",\"id\":\"{:x}\",\"state\":\"{state}\",\"startTime\":\"{}\",\
         \"leaderInfo\":{{\"leader\":\"{leader_id:x}\",\"uptime\":\"{}\",\"startTime\":\"{}\"}},\
         \"recvAppendRequestCnt\":{},\"sendAppendRequestCnt\":{}}}",
        shared.member_id,
        super::json::rfc3339(shared.start_time_ms),
        go_duration(uptime),
        super::json::rfc3339(leader_start),
        stats.append_received,
        stats.append_sent,
    ));
    Response::builder()
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .expect("valid response")
}

/// `/v2/stats/leader`: on the leader, each follower's append round trips
/// (ms) and answers (`v2stats.LeaderStats`); elsewhere 403.
pub async fn serve_leader_stats(shared: V2Shared, request: Request) -> Response {
    if request.method() != Method::GET {
        return method_not_allowed(&["GET"]);
    }
    let leader = match shared.handle.call(Caller::System, calls::Status).await {
        Ok((_, status)) => status.leader,
        Err(_) => 0,
    };
    if leader == 0 || leader != shared.member_id {
        return http_error(StatusCode::FORBIDDEN, "not current leader");
    }
    let stats = shared.handle.raft_stats();
    let mut body = format!("{{\"leader\":\"{:x}\",\"followers\":{{", shared.member_id);
    for (i, (id, follower)) in stats.followers.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            "\"{id:x}\":{{\"latency\":{{\"current\":{},\"average\":{},\"standardDeviation\":{},\
             \"minimum\":{},\"maximum\":{}}},\"counts\":{{\"fail\":{},\"success\":{}}}}}",
            go_float(follower.current_ms),
            go_float(follower.average_ms),
            go_float(follower.stddev_ms),
            go_float(follower.minimum_ms),
            go_float(follower.maximum_ms),
            follower.fail,
            follower.success,
        ));
    }
    body.push_str("}}");
    Response::builder()
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .expect("valid response")
}

/// A float as Go's `encoding/json` writes it (shortest form; integers
/// without a fraction).
fn go_float(value: f64) -> String {
    if value.is_finite() {
        let text = format!("{value}");
        text.strip_suffix(".0").map_or(text.clone(), str::to_string)
    } else {
        "0".to_string()
    }
}

/// A duration as Go's `time.Duration.String` writes it: `1h2m3.5s`,
/// `1.837617378s`, `1.5ms`, `0s`.
pub fn go_duration(duration: std::time::Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    let fraction = |value: u128, unit: u128| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let digits = unit.to_string().len() - 1;
            let text = format!("{whole}.{rest:0digits$}");
            text.trim_end_matches('0').to_string()
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_and_floats_as_go_writes_them() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(
            go_duration(Duration::from_nanos(1_837_617_378)),
            "1.837617378s"
        );
        assert_eq!(go_duration(Duration::from_micros(1_500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration(Duration::from_millis(61_500)), "1m1.5s");
        assert_eq!(go_duration(Duration::from_nanos(999)), "999ns");
        assert_eq!(go_float(2.0), "2");
        assert_eq!(go_float(0.25), "0.25");
    }
}
