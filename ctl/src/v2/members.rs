//! `member list/add/remove/update` and `cluster-health`
//! (ctlv2/command/member_commands.go, cluster_health.go) on `/v2/members`
//! and each member's `/health`.

use std::time::Duration;

use cairn_client::v2::Member;

use super::output::{
    client, client_no_sync, Fail, Outcome, EXIT_CLUSTER_NOT_HEALTHY, EXIT_SERVER_ERROR,
};
use super::Ctx;

/// etcd's `types.NewURLs` checks of peer URLs, with its error texts.
fn check_urls(urls: &[String]) -> Result<Vec<String>, Fail> {
    for url in urls {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(Fail::line(
                1,
                format!("URL scheme must be http, https, unix, or unixs: {url}"),
            ));
        };
        if !["http", "https", "unix", "unixs"].contains(&scheme) {
            return Err(Fail::line(
                1,
                format!("URL scheme must be http, https, unix, or unixs: {url}"),
            ));
        }
        let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let has_port = host
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if !has_port {
            return Err(Fail::line(
                1,
                format!("URL address does not have the form \"host:port\": {url}"),
            ));
        }
        if !path.is_empty() {
            return Err(Fail::line(1, format!("URL must not contain a path: {url}")));
        }
    }
    let mut sorted = urls.to_vec();
    sorted.sort();
    Ok(sorted)
}

/// `member list`: each member with its URLs and whether it leads.
pub async fn list(ctx: &Ctx) -> Outcome {
    if !ctx.args.is_empty() {
        return Err(Fail::line(1, "No arguments accepted"));
    }
    let mut client = client(ctx).await?;
    let members = ctx
        .total(client.members_list())
        .await
        .map_err(|e| Fail::line(1, e))?;
    let leader = ctx
        .total(client.members_leader())
        .await
        .map_err(|e| Fail::line(1, format!("Failed to get leader:  {e}")))?;
    for member in members {
        let peers = member.peer_urls.join(",");
        if member.name.is_empty() {
            println!("{}[unstarted]: peerURLs={peers}", member.id);
        } else {
            println!(
                "{}: name={} peerURLs={peers} clientURLs={} isLeader={}",
                member.id,
                member.name,
                member.client_urls.join(","),
                member.id == leader.id
            );
        }
    }
    Ok(())
}

/// `member add <name> <peerURL>`: the new member and the settings it
/// must start with.
pub async fn add(ctx: &Ctx) -> Outcome {
    let [name, url] = ctx.args.as_slice() else {
        return Err(Fail::line(1, "Provide a name and a single member peerURL"));
    };
    let mut client = client(ctx).await?;
    let urls = check_urls(std::slice::from_ref(url))?;
    let added = ctx
        .total(client.members_add(&urls))
        .await
        .map_err(|e| Fail::line(1, e))?;
    println!("Added member named {name} with ID {} to cluster", added.id);
    let members = ctx
        .total(client.members_list())
        .await
        .map_err(|e| Fail::line(1, e))?;
    let mut conf = Vec::new();
    for member in &members {
        for peer in &member.peer_urls {
            let member_name = if member.id == added.id {
                name
            } else {
                &member.name
            };
            conf.push(format!("{member_name}={peer}"));
        }
    }
    println!();
    println!("ETCD_NAME={name:?}");
    println!("ETCD_INITIAL_CLUSTER={:?}", conf.join(","));
    println!("ETCD_INITIAL_CLUSTER_STATE=\"existing\"");
    Ok(())
}

/// `member remove <memberID>`: only an ID the cluster lists (a name gets
/// a hint).
pub async fn remove(ctx: &Ctx) -> Outcome {
    let [id] = ctx.args.as_slice() else {
        return Err(Fail::line(1, "Provide a single member ID"));
    };
    let mut client = client(ctx).await?;
    let members: Vec<Member> = ctx.total(client.members_list()).await.map_err(|e| {
        Fail::line(
            1,
            format!("Error while verifying ID against known members: {e}"),
        )
    })?;
    let mut hint = String::new();
    for member in members.iter().filter(|m| &m.name == id) {
        hint.push_str(&format!(
            "Found a member named {}; if this is correct, please use its ID, eg:\n\tetcdctl member remove {}\n\
             For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n\n",
            member.name, member.id
        ));
    }
    if !members.iter().any(|m| &m.id == id) {
        return Err(Fail {
            code: 1,
            stderr: format!("{hint}Couldn't find a member in the cluster with an ID of {id}.\n"),
        });
    }
    eprint!("{hint}");
    ctx.total(client.members_remove(id))
        .await
        .map_err(|e| Fail {
            code: 1,
            stderr: format!("Received an error trying to remove member {id}: {e}"),
        })?;
    println!("Removed member {id} from cluster");
    Ok(())
}

/// `member update <memberID> <peerURLs>`.
pub async fn update(ctx: &Ctx) -> Outcome {
    let [id, urls] = ctx.args.as_slice() else {
        return Err(Fail::line(
            1,
            "Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)",
        ));
    };
    let mut client = client(ctx).await?;
    let split: Vec<String> = urls.split(',').map(str::to_string).collect();
    let urls = check_urls(&split)?;
    ctx.total(client.members_update(id, &urls))
        .await
        .map_err(|e| Fail::line(1, e))?;
    println!("Updated member with ID {id} in cluster");
    Ok(())
}

/// Whether a `/health` body says healthy (`{"health":"true"}` or
/// `{"health":true}`); `Err` for a body that is neither.
fn healthy(body: &[u8]) -> Result<bool, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let field = value
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("health")))
        .map(|(_, v)| v.clone());
    Ok(match field {
        Some(serde_json::Value::String(s)) => s == "true",
        Some(serde_json::Value::Bool(b)) => b,
        _ => false,
    })
}

/// `cluster-health [--forever]`: every member's `/health` through its
/// client URLs, then the cluster's verdict (exit 5 unless all healthy).
pub async fn cluster_health(ctx: &Ctx) -> Outcome {
    let forever = ctx.flags.bool("forever");
    let mut client = client_no_sync(ctx).await?;
    let members = match client.members_list().await {
        Ok(members) => members,
        Err(error) => {
            println!("cluster may be unhealthy: failed to list members");
            return Err(Fail::client(EXIT_SERVER_ERROR, &error));
        }
    };
    loop {
        let mut healthy_count = 0;
        for member in &members {
            if member.client_urls.is_empty() {
                println!(
                    "member {} is unreachable: no available published client urls",
                    member.id
                );
                continue;
            }
            let mut checked = false;
            for url in &member.client_urls {
                let verdict = client.health(url).await.and_then(|body| healthy(&body));
                match verdict {
                    Err(error) => {
                        println!(
                            "failed to check the health of member {} on {url}: {error}",
                            member.id
                        );
                        continue;
                    }
                    Ok(true) => {
                        println!(
                            "member {} is healthy: got healthy result from {url}",
                            member.id
                        );
                        healthy_count += 1;
                    }
                    Ok(false) => {
                        println!(
                            "member {} is unhealthy: got unhealthy result from {url}",
                            member.id
                        );
                    }
                }
                checked = true;
                break;
            }
            if !checked {
                println!(
                    "member {} is unreachable: [{}] are all unreachable",
                    member.id,
                    member.client_urls.join(" ")
                );
            }
        }
        match healthy_count {
            n if n == members.len() => println!("cluster is healthy"),
            0 => println!("cluster is unavailable"),
            _ => println!("cluster is degraded"),
        }
        if !forever {
            if healthy_count == members.len() {
                return Ok(());
            }
            return Err(Fail {
                code: EXIT_CLUSTER_NOT_HEALTHY,
                stderr: String::new(),
            });
        }
        println!("\nnext check after 10 second...\n");
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}
