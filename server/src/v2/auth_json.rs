//! `/v2/auth` JSON as etcd reads and writes it (`v2auth.User`, `v2auth.Role`
//! and the handlers' `userWithRoles`, `usersCollections`).
//!
//! Reading follows Go's `json.Decoder.Decode` into those structs: the first
//! JSON value of the body (whatever follows it is ignored), `null` leaves a
//! field as it is (a list `null`), keys match field names case-insensitively,
//! unknown keys are ignored, a value of the wrong type fails the whole body.
//! Writing follows `json.Encoder`: etcd's field order, `null` for a list that
//! was never set, empty `omitempty` fields left out, a newline at the end.

use cairn_core::v2store::{V2Permissions, V2Role};
use serde_json::{Map, Value};

use super::json::go_string;

/// A `PUT /v2/auth/users/<name>` body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInput {
    pub user: String,
    pub password: String,
    pub roles: Option<Vec<String>>,
    pub grant: Vec<String>,
    pub revoke: Vec<String>,
}

/// A `PUT /v2/auth/roles/<name>` body (`grant`, `revoke`: `*Permissions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleInput {
    pub role: String,
    pub permissions: V2Permissions,
    pub grant: Option<V2Permissions>,
    pub revoke: Option<V2Permissions>,
}

/// Go's field-name folding (`encoding/json` `foldName`): ASCII case, and
/// the two non-ASCII letters that fold to ASCII ones (ſ to s, K to k).
fn folds_to(key: &str, name: &str) -> bool {
    let fold = |c: char| match c {
        '\u{017f}' => 's',
        '\u{212a}' => 'k',
        c => c.to_ascii_lowercase(),
    };
    key.chars().map(fold).eq(name.chars().map(fold))
}

/// Every value whose key names the field `name` (Go decodes each in turn;
/// the last one stays).
fn fields<'a>(object: &'a Map<String, Value>, name: &'a str) -> impl Iterator<Item = &'a Value> {
    object
        .iter()
        .filter(move |(key, _)| folds_to(key, name))
        .map(|(_, value)| value)
}

/// A `string` field: `null` leaves it as it is.
fn read_string(object: &Map<String, Value>, name: &str, into: &mut String) -> Option<()> {
    for value in fields(object, name) {
        match value {
            Value::Null => {}
            Value::String(text) => text.clone_into(into),
            _ => return None,
        }
    }
    Some(())
}

/// A `[]string`: `null` is nil; a `null` item is "".
fn strings_of(value: &Value) -> Option<Option<Vec<String>>> {
    match value {
        Value::Null => Some(None),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => Some(String::new()),
                Value::String(text) => Some(text.clone()),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map(Some),
        _ => None,
    }
}

fn read_strings(
    object: &Map<String, Value>,
    name: &str,
    into: &mut Option<Vec<String>>,
) -> Option<()> {
    for value in fields(object, name) {
        *into = strings_of(value)?;
    }
    Some(())
}

/// A struct: `null` leaves it as it is, anything but an object fails.
fn read_object(value: &Value) -> Option<Option<&Map<String, Value>>> {
    match value {
        Value::Null => Some(None),
        Value::Object(object) => Some(Some(object)),
        _ => None,
    }
}

/// `Permissions{KV: RWPermission{Read, Write}}` decoded into `into`.
fn read_permissions(value: &Value, into: &mut V2Permissions) -> Option<()> {
    let Some(object) = read_object(value)? else {
        return Some(());
    };
    for kv in fields(object, "kv") {
        if let Some(kv) = read_object(kv)? {
            read_strings(kv, "read", &mut into.read)?;
            read_strings(kv, "write", &mut into.write)?;
        }
    }
    Some(())
}

/// A `*Permissions`: `null` is nil, an object a value (fields kept from an
/// earlier key of the same name, as Go decodes into the pointer it has).
fn read_permissions_pointer(
    object: &Map<String, Value>,
    name: &str,
    into: &mut Option<V2Permissions>,
) -> Option<()> {
    for value in fields(object, name) {
        if value.is_null() {
            *into = None;
        } else {
            read_permissions(value, into.get_or_insert_with(V2Permissions::default))?;
        }
    }
    Some(())
}

/// The body's first JSON value as a struct's object; `Ok(None)` for a
/// top-level `null` (which leaves the struct empty); `Err` as etcd's "Invalid
/// JSON in request body." (no value, bad JSON, not an object).
fn first_object(body: &[u8]) -> Result<Option<Map<String, Value>>, ()> {
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    match values.next() {
        Some(Ok(Value::Object(object))) => Ok(Some(object)),
        Some(Ok(Value::Null)) => Ok(None),
        _ => Err(()),
    }
}

/// Decodes a user body; `None`: etcd's "Invalid JSON in request body."
pub fn decode_user(body: &[u8]) -> Option<UserInput> {
    let mut user = UserInput::default();
    let Some(object) = first_object(body).ok()? else {
        return Some(user);
    };
    read_string(&object, "user", &mut user.user)?;
    read_string(&object, "password", &mut user.password)?;
    read_strings(&object, "roles", &mut user.roles)?;
    let mut grant = None;
    read_strings(&object, "grant", &mut grant)?;
    let mut revoke = None;
    read_strings(&object, "revoke", &mut revoke)?;
    user.grant = grant.unwrap_or_default();
    user.revoke = revoke.unwrap_or_default();
    Some(user)
}

/// Decodes a role body; `None`: etcd's "Invalid JSON in request body."
pub fn decode_role(body: &[u8]) -> Option<RoleInput> {
    let mut role = RoleInput::default();
    let Some(object) = first_object(body).ok()? else {
        return Some(role);
    };
    read_string(&object, "role", &mut role.role)?;
    for value in fields(&object, "permissions") {
        read_permissions(value, &mut role.permissions)?;
    }
    read_permissions_pointer(&object, "grant", &mut role.grant)?;
    read_permissions_pointer(&object, "revoke", &mut role.revoke)?;
    Some(role)
}

/// A `[]string`: `null` when never set.
fn strings(out: &mut String, strings: Option<&[String]>) {
    let Some(strings) = strings else {
        out.push_str("null");
        return;
    };
    out.push('[');
    for (i, text) in strings.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_string(out, text);
    }
    out.push(']');
}

/// `{"kv":{"read":..,"write":..}}`.
fn permissions(out: &mut String, permissions: &V2Permissions) {
    out.push_str("{\"kv\":{\"read\":");
    strings(out, permissions.read.as_deref());
    out.push_str(",\"write\":");
    strings(out, permissions.write.as_deref());
    out.push_str("}}");
}

/// A `v2auth.Role` (no grant or revoke).
pub fn role(out: &mut String, role: &V2Role) {
    role_with(out, &role.name, &role.permissions, None, None);
}

fn role_with(
    out: &mut String,
    name: &str,
    perms: &V2Permissions,
    grant: Option<&V2Permissions>,
    revoke: Option<&V2Permissions>,
) {
    out.push_str("{\"role\":");
    go_string(out, name);
    out.push_str(",\"permissions\":");
    permissions(out, perms);
    for (field, value) in [("grant", grant), ("revoke", revoke)] {
        if let Some(value) = value {
            out.push_str(",\"");
            out.push_str(field);
            out.push_str("\":");
            permissions(out, value);
        }
    }
    out.push('}');
}

/// A role answer: the role and a newline.
pub fn role_answer(value: &V2Role) -> String {
    let mut out = String::new();
    role(&mut out, value);
    out.push('\n');
    out
}

/// What a role create answers: its input as etcd decoded it.
pub fn role_input_answer(input: &RoleInput) -> String {
    let mut out = String::new();
    role_with(
        &mut out,
        &input.role,
        &input.permissions,
        input.grant.as_ref(),
        input.revoke.as_ref(),
    );
    out.push('\n');
    out
}

/// What a user put answers: `{"user":..,"roles":..}` (no password; grant and
/// revoke are always empty there, so left out).
pub fn user_answer(name: &str, roles: Option<&[String]>) -> String {
    let mut out = String::from("{\"user\":");
    go_string(&mut out, name);
    out.push_str(",\"roles\":");
    strings(&mut out, roles);
    out.push_str("}\n");
    out
}

/// `userWithRoles`: the user and its roles in full (left out when none).
pub fn user_with_roles(out: &mut String, name: &str, roles: &[V2Role]) {
    out.push_str("{\"user\":");
    go_string(out, name);
    if !roles.is_empty() {
        out.push_str(",\"roles\":[");
        for (i, value) in roles.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            role(out, value);
        }
        out.push(']');
    }
    out.push('}');
}

/// `{"users":[..]}`, `null` when there are none.
pub fn users_answer(users: &[(String, Vec<V2Role>)]) -> String {
    let mut out = String::from("{\"users\":");
    if users.is_empty() {
        out.push_str("null");
    } else {
        out.push('[');
        for (i, (name, roles)) in users.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            user_with_roles(&mut out, name, roles);
        }
        out.push(']');
    }
    out.push_str("}\n");
    out
}

/// `{"roles":[..]}` (root is always there).
pub fn roles_answer(roles: &[V2Role]) -> String {
    let mut out = String::from("{\"roles\":[");
    for (i, value) in roles.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        role(&mut out, value);
    }
    out.push_str("]}\n");
    out
}

/// `{"enabled":..}`.
pub fn enabled_answer(enabled: bool) -> String {
    format!("{{\"enabled\":{enabled}}}\n")
}

/// etcd's `httptypes.HTTPError` body: `{"message":..}`, no newline.
pub fn message(text: &str) -> String {
    let mut out = String::from("{\"message\":");
    go_string(&mut out, text);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_as_go_decodes_them() {
        let user = decode_user(br#"{"User":"bob","password":"x","roles":null} trailing"#).unwrap();
        assert_eq!(user.user, "bob");
        assert_eq!(user.password, "x");
        assert_eq!(user.roles, None);
        let user = decode_user(br#"{"user":"a","roles":[],"grant":["r",null],"x":1}"#).unwrap();
        assert_eq!(user.roles, Some(vec![]));
        assert_eq!(user.grant, vec!["r".to_string(), String::new()]);
        assert_eq!(decode_user(b"null"), Some(UserInput::default()));
        for bad in [
            &b""[..],
            b"nope",
            b"[]",
            br#"{"user":1}"#,
            br#"{"roles":"x"}"#,
        ] {
            assert_eq!(decode_user(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let role = decode_role(
            br#"{"role":"r","permissions":{"kv":{"read":["/a"]}},"grant":{},"revoke":null}"#,
        )
        .unwrap();
        assert_eq!(role.permissions.read, Some(vec!["/a".to_string()]));
        assert_eq!(role.permissions.write, None);
        assert_eq!(role.grant, Some(V2Permissions::default()));
        assert_eq!(role.revoke, None);
        assert_eq!(decode_role(br#"{"grant":{"kv":{"read":[1]}}}"#), None);
        assert_eq!(
            decode_role("{\"ROLE\":\"r\",\"Permiſſions\":null}".as_bytes())
                .unwrap()
                .role,
            "r"
        );
    }

    /// Answers of etcd 3.4.23, byte for byte.
    #[test]
    fn answers_are_etcds_bytes() {
        assert_eq!(
            user_answer("bob", None),
            "{\"user\":\"bob\",\"roles\":null}\n"
        );
        assert_eq!(
            user_answer("bob", Some(&[])),
            "{\"user\":\"bob\",\"roles\":[]}\n"
        );
        let r1 = RoleInput {
            role: "r1".into(),
            ..RoleInput::default()
        };
        assert_eq!(
            role_input_answer(&r1),
            "{\"role\":\"r1\",\"permissions\":{\"kv\":{\"read\":null,\"write\":null}}}\n"
        );
        let root = V2Role {
            name: "root".into(),
            permissions: V2Permissions {
                read: Some(vec!["/*".into()]),
                write: Some(vec!["/*".into()]),
            },
        };
        assert_eq!(
            roles_answer(std::slice::from_ref(&root)),
            "{\"roles\":[{\"role\":\"root\",\"permissions\":{\"kv\":{\"read\":[\"/*\"],\"write\":[\"/*\"]}}}]}\n"
        );
        assert_eq!(users_answer(&[]), "{\"users\":null}\n");
        assert_eq!(
            users_answer(&[("bob".into(), vec![]), ("root".into(), vec![root])]),
            "{\"users\":[{\"user\":\"bob\"},{\"user\":\"root\",\"roles\":[{\"role\":\"root\",\"permissions\":{\"kv\":{\"read\":[\"/*\"],\"write\":[\"/*\"]}}}]}]}\n"
        );
        assert_eq!(enabled_answer(false), "{\"enabled\":false}\n");
        assert_eq!(
            message("Insufficient credentials"),
            "{\"message\":\"Insufficient credentials\"}"
        );
    }
}
