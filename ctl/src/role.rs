//! `role add | delete | get | list | grant-permission | revoke-permission`
//! (ctlv3/command/role_command.go). Like etcdctl, these calls have no
//! command timeout.
//!
//! ```text
//!   role grant-permission [--prefix|--from-key] r readwrite key [end]
//!     key ""            ─▶ ["\x00", "")  or  ["\x00", "\x00") with a flag
//!     --prefix  foo     ─▶ [foo, fop)
//!     --from-key foo    ─▶ [foo, "\x00")   (open ended)
//!   role get r ─▶ "Role r" / "KV Read:" / "\t[a, c)" / "KV Write:" ...
//! ```

use cairn_proto::authpb::{permission::Type as PermType, Permission};
use cairn_proto::etcdserverpb as pb;

use crate::auth::{failed, json_names, Shown};
use crate::exit::CtlError;
use crate::flags::Values;
use crate::global::{connect, Global};
use crate::kv::prefix_end;
use crate::printer::{self, JsonObject};

type Env = [(String, String)];

/// Checks that `args` holds exactly the role name; etcdctl's text otherwise.
fn one_role(args: &[String], command: &str) -> Result<String, CtlError> {
    match args {
        [name] => Ok(name.clone()),
        _ => Err(CtlError::bad_args(format!(
            "role {command} command requires role name as its argument"
        ))),
    }
}

/// `role add <name>`.
pub async fn add(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let name = one_role(args, "add")?;
    let global = connect(values, env).await?;
    let response = global
        .client
        .auth()
        .role_add(pb::AuthRoleAddRequest { name: name.clone() })
        .await
        .map_err(failed(&global))?
        .into_inner();
    let header = response.header.as_ref();
    Shown::new(&response, header, format!("Role {name} created\n")).print(global.format)
}

/// `role delete <name>`.
pub async fn delete(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let role = one_role(args, "delete")?;
    let global = connect(values, env).await?;
    let response = global
        .client
        .auth()
        .role_delete(pb::AuthRoleDeleteRequest { role: role.clone() })
        .await
        .map_err(failed(&global))?
        .into_inner();
    let header = response.header.as_ref();
    Shown::new(&response, header, format!("Role {role} deleted\n")).print(global.format)
}

/// `role get <name>`.
pub async fn get(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    let role = one_role(args, "get")?;
    let global = connect(values, env).await?;
    show_role(&global, &role).await
}

/// Gets `role` and prints it (also `user get --detail`, per role).
pub async fn show_role(global: &Global, role: &str) -> Result<(), CtlError> {
    let response = global
        .client
        .auth()
        .role_get(pb::AuthRoleGetRequest {
            role: role.to_string(),
        })
        .await
        .map_err(failed(global))?
        .into_inner();
    let perms: Vec<String> = response
        .perm
        .iter()
        .map(|p| {
            JsonObject::new()
                .num("permType", p.perm_type)
                .bytes("key", &p.key)
                .bytes("range_end", &p.range_end)
                .build()
        })
        .collect();
    let fields = response
        .perm
        .iter()
        .flat_map(|p| {
            [
                format!("\"PermType\" :  {}", perm_name(p.perm_type)),
                format!("\"Key\" : {}", printer::go_quote(&p.key)),
                format!("\"RangeEnd\" : {}", printer::go_quote(&p.range_end)),
            ]
        })
        .collect();
    let simple = role_simple(role, &response.perm);
    Shown::new(&response, response.header.as_ref(), simple)
        .json(JsonObject::new().list("perm", perms))
        .fields(Some(fields))
        .print(global.format)
}

/// The permission type's name (`READ`, `WRITE`, `READWRITE`), or the
/// number Go's enum `String` falls back to.
fn perm_name(value: i32) -> String {
    PermType::try_from(value).map_or_else(|_| value.to_string(), |t| t.as_str_name().to_string())
}

/// The simple printer's `role get`: the read, then the write permissions,
/// one line each (raw key bytes, as etcdctl prints them).
fn role_simple(role: &str, perms: &[Permission]) -> Vec<u8> {
    let mut out = format!("Role {role}\nKV Read:\n").into_bytes();
    let lines = |out: &mut Vec<u8>, wanted: PermType| {
        for perm in perms {
            let matches =
                perm.perm_type == wanted as i32 || perm.perm_type == PermType::Readwrite as i32;
            if !matches {
                continue;
            }
            out.push(b'\t');
            if perm.range_end.is_empty() {
                out.extend_from_slice(&perm.key);
            } else {
                out.push(b'[');
                out.extend_from_slice(&perm.key);
                if perm.range_end[..] == [0] {
                    out.extend_from_slice(b", <open ended>");
                } else {
                    out.extend_from_slice(b", ");
                    out.extend_from_slice(&perm.range_end);
                    out.push(b')');
                }
                if prefix_end(&perm.key) == perm.range_end[..] {
                    out.extend_from_slice(b" (prefix ");
                    out.extend_from_slice(&perm.key);
                    out.push(b')');
                }
            }
            out.push(b'\n');
        }
    };
    lines(&mut out, PermType::Read);
    out.extend_from_slice(b"KV Write:\n");
    lines(&mut out, PermType::Write);
    out
}

/// `role list`.
pub async fn list(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if !args.is_empty() {
        return Err(CtlError::bad_args(
            "role list command requires no arguments",
        ));
    }
    let global = connect(values, env).await?;
    let response = global
        .client
        .auth()
        .role_list(pb::AuthRoleListRequest {})
        .await
        .map_err(failed(&global))?
        .into_inner();
    let simple: String = response.roles.iter().map(|r| format!("{r}\n")).collect();
    let quoted: String = response
        .roles
        .iter()
        .map(|r| format!(" {}", printer::go_quote(r.as_bytes())))
        .collect();
    Shown::new(&response, response.header.as_ref(), simple)
        .json(JsonObject::new().list("roles", json_names(&response.roles)))
        .fields(Some(vec![format!("\"Roles\" :{quoted}")]))
        .print(global.format)
}

/// `role grant-permission [--prefix] [--from-key] <role> <read|write|readwrite> <key> [endkey]`.
pub async fn grant_permission(
    values: &mut Values,
    args: &[String],
    env: &Env,
) -> Result<(), CtlError> {
    if args.len() < 3 {
        return Err(CtlError::bad_args(
            "role grant command requires role name, permission type, and key [endkey] as its argument",
        ));
    }
    let perm_type = PermType::from_str_name(&args[1].to_uppercase())
        .ok_or_else(|| CtlError::bad_args(format!("invalid permission type: {}", args[1])))?;
    let (key, range_end) = perm_range(values, &args[2..])?;
    let global = connect(values, env).await?;
    let role = args[0].clone();
    let request = pb::AuthRoleGrantPermissionRequest {
        name: role.clone(),
        perm: Some(Permission {
            perm_type: perm_type as i32,
            key: key.into(),
            range_end: range_end.into(),
        }),
    };
    let response = global
        .client
        .auth()
        .role_grant_permission(request)
        .await
        .map_err(failed(&global))?
        .into_inner();
    let header = response.header.as_ref();
    Shown::new(&response, header, format!("Role {role} updated\n")).print(global.format)
}

/// `role revoke-permission [--prefix] [--from-key] <role> <key> [endkey]`.
pub async fn revoke_permission(
    values: &mut Values,
    args: &[String],
    env: &Env,
) -> Result<(), CtlError> {
    if args.len() < 2 {
        return Err(CtlError::bad_args(
            "role revoke-permission command requires role name and key [endkey] as its argument",
        ));
    }
    let (key, range_end) = perm_range(values, &args[1..])?;
    let global = connect(values, env).await?;
    let role = args[0].clone();
    let request = pb::AuthRoleRevokePermissionRequest {
        role: role.clone(),
        key: key.into(),
        range_end: range_end.clone().into(),
    };
    let response = global
        .client
        .auth()
        .role_revoke_permission(request)
        .await
        .map_err(failed(&global))?
        .into_inner();
    // etcdctl names the key as given (not the "\x00" an empty one became).
    let mut simple = Vec::new();
    let given = args[1].as_bytes();
    if range_end.is_empty() {
        simple.extend_from_slice(b"Permission of key ");
        simple.extend_from_slice(given);
    } else {
        simple.extend_from_slice(b"Permission of range [");
        simple.extend_from_slice(given);
        if range_end == [0] {
            simple.extend_from_slice(b", <open ended>");
        } else {
            simple.extend_from_slice(b", ");
            simple.extend_from_slice(&range_end);
            simple.push(b')');
        }
    }
    simple.extend_from_slice(format!(" is revoked from role {role}\n").as_bytes());
    Shown::new(&response, response.header.as_ref(), simple).print(global.format)
}

/// etcdctl's `permRange`: the key and range end `--prefix`/`--from-key`
/// and an optional end key describe (`args`: key [endkey]).
fn perm_range(values: &Values, args: &[String]) -> Result<(Vec<u8>, Vec<u8>), CtlError> {
    let (prefix, from_key) = (values.bool("prefix"), values.bool("from-key"));
    let exclusive = || CtlError::bad_args("--from-key and --prefix flags are mutually exclusive");
    let key = args[0].as_bytes().to_vec();
    if key.is_empty() {
        if prefix && from_key {
            return Err(exclusive());
        }
        // The empty key stands for the whole key space, from "\x00";
        // "\x00" as range end is open ended on the server.
        let range_end = if prefix || from_key { vec![0] } else { vec![] };
        return Ok((vec![0], range_end));
    }
    let range_end = match (args.get(1), prefix, from_key) {
        (None, true, true) => return Err(exclusive()),
        (None, true, false) => prefix_end(&key),
        (None, false, true) => vec![0],
        (None, false, false) => vec![],
        (Some(_), true, _) => {
            return Err(CtlError::bad_args(
                "unexpected endkey argument with --prefix flag",
            ))
        }
        (Some(_), false, true) => {
            return Err(CtlError::bad_args(
                "unexpected endkey argument with --from-key flag",
            ))
        }
        (Some(end), false, false) => end.as_bytes().to_vec(),
    };
    Ok((key, range_end))
}
