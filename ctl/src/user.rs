//! `user add | delete | get [--detail] | list | passwd | grant-role |
//! revoke-role` (ctlv3/command/user_command.go). Like etcdctl, these calls
//! have no command timeout (etcdctl gives them `context.TODO()`).
//!
//! ```text
//!   user add u        ─▶ "Password of u: " / "Type password of u again ..."
//!   user add u:pw     ─▶ "User u created"
//!   user add u --interactive=false ─▶ one word of stdin (Go's Scanf "%s")
//! ```

use cairn_proto::authpb;
use cairn_proto::etcdserverpb as pb;

use crate::auth::{failed, json_names, read_password_interactive, scan_word, Shown};
use crate::exit::CtlError;
use crate::flags::Values;
use crate::global::connect;
use crate::printer::JsonObject;
use crate::role;

type Env = [(String, String)];

/// The password of `user passwd`, or of `user add` given a bare name:
/// asked on the terminal (twice), or one word of stdin with
/// `--interactive=false`.
fn new_password(values: &Values, name: &str) -> Result<String, CtlError> {
    if values.bool("interactive") {
        read_password_interactive(name)
    } else {
        Ok(scan_word())
    }
}

/// `user add <name[:password]> [--interactive] [--new-user-password]
/// [--no-password]`.
pub async fn add(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "user add command requires user name as its argument",
        ));
    }
    let no_password = values.bool("no-password");
    let from_flag = values.string("new-user-password");
    let (name, password) = if no_password {
        (args[0].clone(), String::new())
    } else if !from_flag.is_empty() {
        (args[0].clone(), from_flag)
    } else {
        match args[0].split_once(':') {
            None => (args[0].clone(), new_password(values, &args[0])?),
            Some(("", _)) => return Err(CtlError::bad_args("empty user name is not allowed")),
            Some((name, password)) => (name.to_string(), password.to_string()),
        }
    };
    let global = connect(values, env).await?;
    let request = pb::AuthUserAddRequest {
        name: name.clone(),
        password,
        options: Some(authpb::UserAddOptions { no_password }),
    };
    let response = global
        .client
        .auth()
        .user_add(request)
        .await
        .map_err(failed(&global))?
        .into_inner();
    let header = response.header.as_ref();
    Shown::new(&response, header, format!("User {name} created\n")).print(global.format)
}

/// `user delete <name>`.
pub async fn delete(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "user delete command requires user name as its argument",
        ));
    }
    let global = connect(values, env).await?;
    let name = args[0].clone();
    let response = global
        .client
        .auth()
        .user_delete(pb::AuthUserDeleteRequest { name: name.clone() })
        .await
        .map_err(failed(&global))?
        .into_inner();
    let header = response.header.as_ref();
    Shown::new(&response, header, format!("User {name} deleted\n")).print(global.format)
}

/// `user get <name> [--detail]`: its roles, or with `--detail` each role
/// as `role get` shows it.
pub async fn get(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "user get command requires user name as its argument",
        ));
    }
    let global = connect(values, env).await?;
    let name = args[0].clone();
    let response = global
        .client
        .auth()
        .user_get(pb::AuthUserGetRequest { name: name.clone() })
        .await
        .map_err(failed(&global))?
        .into_inner();
    if values.bool("detail") {
        println!("User: {name}");
        for role_name in &response.roles {
            println!();
            role::show_role(&global, role_name).await?;
        }
        return Ok(());
    }
    let simple: String = response.roles.iter().map(|r| format!(" {r}")).collect();
    Shown::new(
        &response,
        response.header.as_ref(),
        format!("User: {name}\nRoles:{simple}\n"),
    )
    .json(JsonObject::new().list("roles", json_names(&response.roles)))
    .fields(None)
    .print(global.format)
}

/// `user list`.
pub async fn list(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if !args.is_empty() {
        return Err(CtlError::bad_args(
            "user list command requires no arguments",
        ));
    }
    let global = connect(values, env).await?;
    let response = global
        .client
        .auth()
        .user_list(pb::AuthUserListRequest {})
        .await
        .map_err(failed(&global))?
        .into_inner();
    let simple: String = response.users.iter().map(|u| format!("{u}\n")).collect();
    Shown::new(&response, response.header.as_ref(), simple)
        .json(JsonObject::new().list("users", json_names(&response.users)))
        .fields(None)
        .print(global.format)
}

/// `user passwd <name> [--interactive]`.
pub async fn passwd(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "user passwd command requires user name as its argument",
        ));
    }
    let password = new_password(values, &args[0])?;
    let global = connect(values, env).await?;
    let request = pb::AuthUserChangePasswordRequest {
        name: args[0].clone(),
        password,
    };
    let response = global
        .client
        .auth()
        .user_change_password(request)
        .await
        .map_err(failed(&global))?
        .into_inner();
    let header = response.header.as_ref();
    Shown::new(&response, header, "Password updated\n".to_string()).print(global.format)
}

/// `user grant-role <user> <role>`.
pub async fn grant_role(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 2 {
        return Err(CtlError::bad_args(
            "user grant command requires user name and role name as its argument",
        ));
    }
    let global = connect(values, env).await?;
    let (user, role) = (args[0].clone(), args[1].clone());
    let request = pb::AuthUserGrantRoleRequest {
        user: user.clone(),
        role: role.clone(),
    };
    let response = global
        .client
        .auth()
        .user_grant_role(request)
        .await
        .map_err(failed(&global))?
        .into_inner();
    let simple = format!("Role {role} is granted to user {user}\n");
    Shown::new(&response, response.header.as_ref(), simple).print(global.format)
}

/// `user revoke-role <user> <role>`.
pub async fn revoke_role(values: &mut Values, args: &[String], env: &Env) -> Result<(), CtlError> {
    if args.len() != 2 {
        return Err(CtlError::bad_args(
            "user revoke-role requires user name and role name as its argument",
        ));
    }
    let global = connect(values, env).await?;
    let (name, role) = (args[0].clone(), args[1].clone());
    let request = pb::AuthUserRevokeRoleRequest {
        name: name.clone(),
        role: role.clone(),
    };
    let response = global
        .client
        .auth()
        .user_revoke_role(request)
        .await
        .map_err(failed(&global))?
        .into_inner();
    let simple = format!("Role {role} is revoked from user {name}\n");
    Shown::new(&response, response.header.as_ref(), simple).print(global.format)
}
