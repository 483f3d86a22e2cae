//! `user ...`, `role ...` and `auth enable/disable`
//! (ctlv2/command/{user,role,auth}_commands.go) on `/v2/auth`.

use serde_json::{json, Value};

use cairn_client::v2::{canonical_path, V2Client};

use super::output::{ask_password, client, Fail, Outcome};
use super::Ctx;

/// etcdctl's `mustNewAuth*API`: the client, whose endpoints `--debug`
/// prints once more.
async fn auth_client(ctx: &Ctx) -> Result<V2Client, Fail> {
    let client = client(ctx).await?;
    if ctx.global.bool("debug") {
        eprintln!("Cluster-Endpoints: {}", client.endpoints().join(", "));
    }
    Ok(client)
}

/// An auth call's answer, or its message on stderr with exit 1.
async fn call(
    ctx: &Ctx,
    client: &mut V2Client,
    method: &str,
    what: &str,
    body: Option<Value>,
    expected: &[u16],
) -> Result<Value, Fail> {
    ctx.total(client.auth(method, what, body, expected))
        .await
        .map_err(|e| Fail::line(1, e))
}

/// `auth enable` / `auth disable`.
pub async fn enable(ctx: &Ctx, on: bool) -> Outcome {
    if !ctx.args.is_empty() {
        return Err(Fail::line(1, "No arguments accepted"));
    }
    let mut client = auth_client(ctx).await?;
    let method = if on { "PUT" } else { "DELETE" };
    call(ctx, &mut client, method, "enable", None, &[200, 201]).await?;
    println!("Authentication {}", if on { "Enabled" } else { "Disabled" });
    Ok(())
}

/// The one argument of a user or role command (`missing`: the complaint).
fn one_name(ctx: &Ctx, missing: &str) -> Result<String, Fail> {
    match ctx.args.as_slice() {
        [name] => Ok(name.clone()),
        _ => Err(Fail::line(1, missing)),
    }
}

/// The names in a list answer (`{"users":[{"user":..}]}`,
/// `{"roles":[{"role":..}]}`).
fn names(answer: &Value, list: &str, field: &str) -> Vec<String> {
    answer[list]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item[field].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `user list` / `role list`: the names under `/v2/auth/<collection>`, one
/// a line.
async fn list(ctx: &Ctx, collection: &str, field: &str) -> Outcome {
    if !ctx.args.is_empty() {
        return Err(Fail::line(1, "No arguments accepted"));
    }
    let mut client = auth_client(ctx).await?;
    let answer = call(ctx, &mut client, "GET", collection, None, &[200]).await?;
    for name in names(&answer, collection, field) {
        println!("{name}");
    }
    Ok(())
}

/// The user subcommand `sub`.
pub async fn user(ctx: &Ctx, sub: &str) -> Outcome {
    if sub == "list" {
        return list(ctx, "users", "user").await;
    }
    let roles = ctx.flags.slice("roles");
    if matches!(sub, "grant" | "revoke") && roles.is_empty() {
        return Err(Fail::line(1, "No roles specified; please use `--roles`"));
    }
    let name = one_name(ctx, "Please provide a username")?;
    let mut client = auth_client(ctx).await?;
    match sub {
        "add" => {
            let (user, password) = match name.split_once(':') {
                Some((user, password)) => (user.to_string(), password.to_string()),
                None => (name.clone(), password("New password: ")?),
            };
            let body = json!({ "user": user, "password": password });
            call(
                ctx,
                &mut client,
                "PUT",
                &format!("users/{user}"),
                Some(body),
                &[200, 201],
            )
            .await?;
            println!("User {user} created");
        }
        "remove" => {
            call(
                ctx,
                &mut client,
                "DELETE",
                &format!("users/{name}"),
                None,
                &[200, 201],
            )
            .await?;
            println!("User {name} removed");
        }
        "passwd" => {
            let password = password("New password: ")?;
            let body = json!({ "user": name, "password": password });
            call(
                ctx,
                &mut client,
                "PUT",
                &format!("users/{name}"),
                Some(body),
                &[200],
            )
            .await?;
            println!("Password updated");
        }
        "grant" | "revoke" => {
            let mut body = json!({ "user": name });
            body[sub] = json!(roles);
            call(
                ctx,
                &mut client,
                "PUT",
                &format!("users/{name}"),
                Some(body),
                &[200],
            )
            .await?;
            println!("User {name} updated");
        }
        _ => {
            let answer = call(
                ctx,
                &mut client,
                "GET",
                &format!("users/{name}"),
                None,
                &[200],
            )
            .await?;
            println!("User: {}", answer["user"].as_str().unwrap_or_default());
            println!("Roles: {}", user_roles(&answer).join(" "));
        }
    }
    Ok(())
}

/// A user's roles as etcdctl ends up with them: names given as strings;
/// given as role objects, Go's failed first decoding leaves an empty name
/// per role before the names.
fn user_roles(answer: &Value) -> Vec<String> {
    let items = answer["roles"].as_array().cloned().unwrap_or_default();
    if items.iter().all(Value::is_string) {
        return items
            .iter()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
    }
    let mut roles = vec![String::new(); items.len()];
    roles.extend(
        items
            .iter()
            .map(|r| r["role"].as_str().unwrap_or_default().to_string()),
    );
    roles
}

/// A password asked for on the terminal.
fn password(prompt: &str) -> Result<String, Fail> {
    ask_password(prompt).map_err(|e| Fail::line(1, format!("Error reading password: {e}")))
}

/// The role subcommand `sub`.
pub async fn role(ctx: &Ctx, sub: &str) -> Outcome {
    if sub == "list" {
        return list(ctx, "roles", "role").await;
    }
    if matches!(sub, "grant" | "revoke") {
        return grant_revoke(ctx, sub).await;
    }
    let name = one_name(ctx, "Please provide a role name")?;
    let mut client = auth_client(ctx).await?;
    let what = format!("roles/{name}");
    match sub {
        "add" => {
            if ctx
                .total(client.auth("GET", &what, None, &[200]))
                .await
                .is_ok()
            {
                return Err(Fail::line(1, format!("Role {name} already exists")));
            }
            let body =
                json!({ "role": name, "permissions": { "kv": { "read": null, "write": null } } });
            call(ctx, &mut client, "PUT", &what, Some(body), &[200, 201]).await?;
            println!("Role {name} created");
        }
        "remove" => {
            call(ctx, &mut client, "DELETE", &what, None, &[200, 201]).await?;
            println!("Role {name} removed");
        }
        _ => {
            let answer = call(ctx, &mut client, "GET", &what, None, &[200]).await?;
            println!("Role: {}", answer["role"].as_str().unwrap_or_default());
            for (title, kind) in [("KV Read:", "read"), ("KV Write:", "write")] {
                println!("{title}");
                for path in answer["permissions"]["kv"][kind]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    println!("\t{}", path.as_str().unwrap_or_default());
                }
            }
        }
    }
    Ok(())
}

/// `role grant|revoke <role> --path P --read|--write|--readwrite`.
async fn grant_revoke(ctx: &Ctx, sub: &str) -> Outcome {
    let path = ctx.flags.string("path");
    if path.is_empty() {
        return Err(Fail::line(1, "No path specified; please use `--path`"));
    }
    let canonical = canonical_path(&path);
    if canonical != path {
        return Err(Fail::line(
            1,
            format!("Not canonical path; please use `--path={canonical}`"),
        ));
    }
    let chosen: Vec<&str> = ["read", "write", "readwrite"]
        .into_iter()
        .filter(|f| ctx.flags.bool(f))
        .collect();
    let [permission] = chosen.as_slice() else {
        return Err(Fail::line(
            1,
            "Please specify exactly one of --read, --write or --readwrite",
        ));
    };
    let name = one_name(ctx, "Please provide a role name")?;
    let mut client = auth_client(ctx).await?;
    let what = format!("roles/{name}");
    let current = call(ctx, &mut client, "GET", &what, None, &[200]).await?;
    let paths = json!([path]);
    let (read, write) = match *permission {
        "read" => (paths, Value::Null),
        "write" => (Value::Null, paths),
        _ => (paths.clone(), paths),
    };
    let mut body = json!({
        "role": name,
        "permissions": { "kv": { "read": null, "write": null } },
    });
    body[sub] = json!({ "kv": { "read": read, "write": write } });
    let updated = call(ctx, &mut client, "PUT", &what, Some(body), &[200]).await?;
    if updated["role"] == current["role"] && updated["permissions"] == current["permissions"] {
        let done = if sub == "grant" { "granted" } else { "revoked" };
        print!("Role unchanged; already {done}");
    }
    println!("Role {name} updated");
    Ok(())
}
