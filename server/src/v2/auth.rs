//! `/v2/auth`: etcd's v2 auth API (`v2http/client_auth.go`, `v2auth`):
//!
//! ```text
//!   /v2/auth/enable          GET (anyone) PUT DELETE (root)
//!   /v2/auth/users[/]        GET                       (root)
//!   /v2/auth/users/<name>    GET PUT DELETE            (root)
//!   /v2/auth/roles[/]        GET                       (root)
//!   /v2/auth/roles/<name>    GET PUT DELETE            (root)
//! ```
//!
//! "root": while auth is on, the request's basic credentials must be a
//! user's with the root role. Reads come from this member's copy of the
//! auth state; changes are [`V2AuthWrite`]s through the log, decided by
//! core when applied; passwords are hashed here first (`--bcrypt-cost`).
//! Answers, statuses and messages are etcd's, byte for byte.

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use cairn_core::auth::Caller;
use cairn_core::member::{ClientError, V2Request, V2Result};
use cairn_core::v2store::{clean_path, V2Auth, V2AuthAnswer, V2AuthWrite, V2Role, V2Write};

use super::auth_check::{auth_state, has_root_access};
use super::auth_json::{self as json, RoleInput};
use super::{method_not_allowed, V2Shared};

const ALL_METHODS: &[&str] = &["GET", "PUT", "DELETE"];

/// An answer of `/v2/auth` (status, body), headers added by [`respond`].
struct Answer {
    status: StatusCode,
    body: String,
}

fn ok(status: StatusCode, body: String) -> Answer {
    Answer { status, body }
}

/// etcd's `httptypes.HTTPError` (a `v2auth.Error` too): `{"message":..}`.
fn error(status: u16, message: &str) -> Answer {
    Answer {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body: json::message(message),
    }
}

fn internal_error() -> Answer {
    error(500, "Internal Server Error")
}

/// An answer after the handler set its headers (cluster ID, JSON).
fn respond(shared: &V2Shared, answer: Answer) -> Response {
    Response::builder()
        .status(answer.status)
        .header("Content-Type", "application/json")
        .header("X-Etcd-Cluster-Id", format!("{:x}", shared.cluster_id))
        .body(Body::from(answer.body))
        .expect("valid response")
}

/// An answer before the handler set its headers (a bad path, no access).
fn respond_bare(answer: Answer) -> Response {
    Response::builder()
        .status(answer.status)
        .header("Content-Type", "application/json")
        .body(Body::from(answer.body))
        .expect("valid response")
}

/// etcd's `writeNoAuth`: 401 `{"message":"Insufficient credentials"}`.
pub fn no_auth() -> Response {
    respond_bare(error(401, "Insufficient credentials"))
}

/// Proposes an auth write and waits for its answer.
async fn propose(shared: &V2Shared, write: V2AuthWrite) -> Result<V2AuthAnswer, Answer> {
    let request = V2Request::Write(V2Write::Auth(write));
    match shared.handle.call(Caller::Anonymous, request).await {
        Ok((_, answer)) => match answer.result {
            V2Result::Auth(answer) => Ok(answer),
            _ => Err(internal_error()),
        },
        Err((_, ClientError::V2Auth(refused))) => Err(error(refused.status, &refused.message)),
        Err(_) => Err(internal_error()),
    }
}

/// `/v2/auth/enable`.
pub async fn serve_enable(shared: V2Shared, request: Request) -> Response {
    let method = request.method().clone();
    if !ALL_METHODS.contains(&method.as_str()) {
        return method_not_allowed(ALL_METHODS);
    }
    let Some(auth) = auth_state(&shared).await else {
        return respond(&shared, internal_error());
    };
    let reads = method == Method::GET;
    if !reads && !has_root_access(&shared, &auth, request.headers()).await {
        return no_auth();
    }
    let answer = match method {
        Method::GET => ok(StatusCode::OK, json::enabled_answer(auth.enabled())),
        _ => {
            let write = if method == Method::PUT {
                V2AuthWrite::Enable
            } else {
                V2AuthWrite::Disable
            };
            match propose(&shared, write).await {
                Ok(_) => ok(StatusCode::OK, String::new()),
                Err(refused) => refused,
            }
        }
    };
    respond(&shared, answer)
}

/// The name in `/v2/auth/<kind>/<name>` (etcd's `handleUsers` and
/// `handleRoles`): `Ok(None)` for the collection itself; `Err`: the answer
/// to a path that names neither.
fn resource_name(parts: &Parts) -> Result<Option<String>, Box<Response>> {
    let Some(decoded) = super::percent_decode_path(parts.uri.path()) else {
        return Err(Box::new(super::bad_request("invalid URL escape in path")));
    };
    if let Some(redirect) = super::redirect_unclean(&decoded, &parts.uri, &parts.method) {
        return Err(Box::new(redirect));
    }
    let subpath = clean_path(decoded.strip_prefix("/v2/auth").unwrap_or_default());
    let pieces: Vec<&str> = subpath.split('/').collect();
    match pieces.len() {
        2 => Ok(None),
        3 => Ok(Some(pieces[2].to_owned())),
        _ => Err(Box::new(respond_bare(error(400, "Invalid path")))),
    }
}

/// What `/v2/auth/users` and `/v2/auth/roles` check first, in etcd's
/// order: the name in the path, the method (a collection is GET only),
/// then root access; the name and the auth state, or the answer.
async fn admit(
    shared: &V2Shared,
    parts: &Parts,
) -> Result<(Option<String>, Box<V2Auth>), Box<Response>> {
    let name = resource_name(parts)?;
    let allowed: &[&str] = if name.is_some() {
        ALL_METHODS
    } else {
        &["GET"]
    };
    if !allowed.contains(&parts.method.as_str()) {
        return Err(Box::new(method_not_allowed(allowed)));
    }
    let Some(auth) = auth_state(shared).await else {
        return Err(Box::new(respond(shared, internal_error())));
    };
    if !has_root_access(shared, &auth, &parts.headers).await {
        return Err(Box::new(no_auth()));
    }
    Ok((name, auth))
}

/// `/v2/auth/users[/<name>]`.
pub async fn serve_users(shared: V2Shared, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (name, auth) = match admit(&shared, &parts).await {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let answer = match (name, parts.method) {
        (None, _) => list_users(&auth),
        (Some(name), Method::GET) => get_user(&auth, &name),
        (Some(name), Method::PUT) => match read_body(body).await {
            Some(body) => put_user(&shared, &name, &body).await,
            None => error(400, "Invalid JSON in request body."),
        },
        (Some(name), _) => match propose(&shared, V2AuthWrite::UserDelete { name }).await {
            Ok(_) => ok(StatusCode::OK, String::new()),
            Err(refused) => refused,
        },
    };
    respond(&shared, answer)
}

async fn read_body(body: Body) -> Option<Bytes> {
    axum::body::to_bytes(body, super::MAX_FORM_BYTES).await.ok()
}

/// etcd's `baseUsers`: every user with the roles that exist.
fn list_users(auth: &V2Auth) -> Answer {
    let users: Vec<(String, Vec<V2Role>)> = auth
        .user_names()
        .into_iter()
        .filter_map(|name| auth.user(&name))
        .map(|user| {
            let roles = user
                .roles
                .iter()
                .flatten()
                .filter_map(|role| auth.role(role))
                .collect();
            (user.name, roles)
        })
        .collect();
    ok(StatusCode::OK, json::users_answer(&users))
}

/// etcd's `forUser` GET: the user with its roles, every one of which must
/// exist.
fn get_user(auth: &V2Auth, name: &str) -> Answer {
    let Some(user) = auth.user(name) else {
        return error(404, &format!("auth: User {name} does not exist."));
    };
    let mut roles = Vec::new();
    for role in user.roles.iter().flatten() {
        match auth.role(role) {
            Some(found) => roles.push(found),
            None => return error(404, &format!("auth: Role {role} does not exist.")),
        }
    }
    let mut body = String::new();
    json::user_with_roles(&mut body, &user.name, &roles);
    body.push('\n');
    ok(StatusCode::OK, body)
}

/// etcd's `forUser` PUT: a create, a create-or-update or an update (core
/// decides which, from the body and the user's existence).
async fn put_user(shared: &V2Shared, name: &str, body: &[u8]) -> Answer {
    let Some(input) = json::decode_user(body) else {
        return error(400, "Invalid JSON in request body.");
    };
    if input.user != name {
        return error(400, "User JSON name does not match the name in the URL");
    }
    let grants = !input.grant.is_empty() || !input.revoke.is_empty();
    if grants && input.roles.as_ref().is_some_and(|roles| !roles.is_empty()) {
        return error(400, "User JSON contains both roles and grant/revoke");
    }
    let password_hash = if input.password.is_empty() {
        None
    } else {
        match shared.passwords.hash(input.password).await {
            Ok(hash) => Some(hash),
            Err(_) => return internal_error(),
        }
    };
    let write = V2AuthWrite::UserPut {
        name: input.user,
        password_hash,
        roles: input.roles,
        grant: input.grant,
        revoke: input.revoke,
    };
    match propose(shared, write).await {
        Ok(V2AuthAnswer::User {
            name,
            roles,
            created,
        }) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            ok(status, json::user_answer(&name, roles.as_deref()))
        }
        Ok(_) => internal_error(),
        Err(refused) => refused,
    }
}

/// `/v2/auth/roles[/<name>]`.
pub async fn serve_roles(shared: V2Shared, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (name, auth) = match admit(&shared, &parts).await {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let answer = match (name, parts.method) {
        (None, _) => {
            let roles: Vec<V2Role> = auth
                .role_names()
                .iter()
                .filter_map(|name| auth.role(name))
                .collect();
            ok(StatusCode::OK, json::roles_answer(&roles))
        }
        (Some(name), Method::GET) => match auth.role(&name) {
            Some(role) => ok(StatusCode::OK, json::role_answer(&role)),
            None => error(404, &format!("auth: Role {name} does not exist.")),
        },
        (Some(name), Method::PUT) => match read_body(body).await {
            Some(body) => put_role(&shared, &name, &body).await,
            None => error(400, "Invalid JSON in request body."),
        },
        (Some(name), _) => match propose(&shared, V2AuthWrite::RoleDelete { name }).await {
            Ok(_) => ok(StatusCode::OK, String::new()),
            Err(refused) => refused,
        },
    };
    respond(&shared, answer)
}

/// etcd's `forRole` PUT: without grant or revoke a create, which answers
/// its input; otherwise an update, which answers the role as it now is.
async fn put_role(shared: &V2Shared, name: &str, body: &[u8]) -> Answer {
    let Some(input) = json::decode_role(body) else {
        return error(400, "Invalid JSON in request body.");
    };
    if input.role != name {
        return error(400, "Role JSON name does not match the name in the URL");
    }
    let empty = |permissions: &Option<_>| {
        permissions
            .as_ref()
            .is_none_or(cairn_core::v2store::V2Permissions::is_empty)
    };
    if empty(&input.grant) && empty(&input.revoke) {
        return create_role(shared, input).await;
    }
    if !input.permissions.is_empty() {
        return error(400, "Role JSON contains both permissions and grant/revoke");
    }
    let write = V2AuthWrite::RoleUpdate {
        name: input.role,
        grant: input.grant.unwrap_or_default(),
        revoke: input.revoke.unwrap_or_default(),
    };
    match propose(shared, write).await {
        Ok(V2AuthAnswer::Role(role)) => ok(StatusCode::OK, json::role_answer(&role)),
        Ok(_) => internal_error(),
        Err(refused) => refused,
    }
}

async fn create_role(shared: &V2Shared, input: RoleInput) -> Answer {
    let write = V2AuthWrite::RoleCreate {
        role: V2Role {
            name: input.role.clone(),
            permissions: input.permissions.clone(),
        },
    };
    match propose(shared, write).await {
        Ok(_) => ok(StatusCode::CREATED, json::role_input_answer(&input)),
        Err(refused) => refused,
    }
}
