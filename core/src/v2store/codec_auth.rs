//! The v2 auth state in the v2 store's image, and the payload of a
//! [`V2AuthWrite`] (both layouts in docs/peer-protocol.md, "v2 writes").
//!
//! Canonical as the rest of the image: users and roles in name order, each
//! once; the section is there only when the state is not empty.

use std::collections::BTreeMap;

use super::auth::{V2Auth, V2AuthWrite, V2Permissions, V2Role, V2User, ROOT_ROLE, ROOT_USER};
use crate::codec::wire::{put_bytes, put_strings, Reader};
use crate::codec::CodecError;

// Auth write tags (after the v2 write tag `Auth`).
const AUTH_ENABLE: u8 = 1;
const AUTH_DISABLE: u8 = 2;
const AUTH_USER_PUT: u8 = 3;
const AUTH_USER_DELETE: u8 = 4;
const AUTH_ROLE_CREATE: u8 = 5;
const AUTH_ROLE_UPDATE: u8 = 6;
const AUTH_ROLE_DELETE: u8 = 7;

// User put flags.
const U_PASSWORD: u8 = 0x01;
const U_ROLES: u8 = 0x02;

// Permission flags: which lists follow (an absent one is JSON `null`).
const P_READ: u8 = 0x01;
const P_WRITE: u8 = 0x02;

// Auth section flags.
const A_ENABLED: u8 = 0x01;

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn invalid(what: &'static str, offset: usize) -> CodecError {
    CodecError::OutOfOrder { what, offset }
}

pub(super) fn put_auth_write(out: &mut Vec<u8>, write: &V2AuthWrite) {
    match write {
        V2AuthWrite::Enable => out.push(AUTH_ENABLE),
        V2AuthWrite::Disable => out.push(AUTH_DISABLE),
        V2AuthWrite::UserPut {
            name,
            password_hash,
            roles,
            grant,
            revoke,
        } => {
            out.push(AUTH_USER_PUT);
            put_string(out, name);
            out.push(flag(password_hash.is_some(), U_PASSWORD) | flag(roles.is_some(), U_ROLES));
            if let Some(hash) = password_hash {
                put_string(out, hash);
            }
            if let Some(roles) = roles {
                put_strings(out, roles);
            }
            put_strings(out, grant);
            put_strings(out, revoke);
        }
        V2AuthWrite::UserDelete { name } => {
            out.push(AUTH_USER_DELETE);
            put_string(out, name);
        }
        V2AuthWrite::RoleCreate { role } => {
            out.push(AUTH_ROLE_CREATE);
            put_string(out, &role.name);
            put_permissions(out, &role.permissions);
        }
        V2AuthWrite::RoleUpdate {
            name,
            grant,
            revoke,
        } => {
            out.push(AUTH_ROLE_UPDATE);
            put_string(out, name);
            put_permissions(out, grant);
            put_permissions(out, revoke);
        }
        V2AuthWrite::RoleDelete { name } => {
            out.push(AUTH_ROLE_DELETE);
            put_string(out, name);
        }
    }
}

pub(super) fn read_auth_write(reader: &mut Reader<'_>) -> Result<V2AuthWrite, CodecError> {
    let offset = reader.offset();
    let tag = reader.u8("v2 auth write tag")?;
    Ok(match tag {
        AUTH_ENABLE => V2AuthWrite::Enable,
        AUTH_DISABLE => V2AuthWrite::Disable,
        AUTH_USER_PUT => {
            let name = reader.string("v2 auth user name")?;
            let flags = reader.flags("v2 auth user flags", U_PASSWORD | U_ROLES)?;
            let password_hash = if flags & U_PASSWORD != 0 {
                Some(reader.string("v2 auth password hash")?)
            } else {
                None
            };
            let roles = if flags & U_ROLES != 0 {
                Some(reader.strings("v2 auth role count", "v2 auth role")?)
            } else {
                None
            };
            V2AuthWrite::UserPut {
                name,
                password_hash,
                roles,
                grant: reader.strings("v2 auth grant count", "v2 auth grant")?,
                revoke: reader.strings("v2 auth revoke count", "v2 auth revoke")?,
            }
        }
        AUTH_USER_DELETE => V2AuthWrite::UserDelete {
            name: reader.string("v2 auth user name")?,
        },
        AUTH_ROLE_CREATE => V2AuthWrite::RoleCreate {
            role: V2Role {
                name: reader.string("v2 auth role name")?,
                permissions: read_permissions(reader)?,
            },
        },
        AUTH_ROLE_UPDATE => V2AuthWrite::RoleUpdate {
            name: reader.string("v2 auth role name")?,
            grant: read_permissions(reader)?,
            revoke: read_permissions(reader)?,
        },
        AUTH_ROLE_DELETE => V2AuthWrite::RoleDelete {
            name: reader.string("v2 auth role name")?,
        },
        tag => {
            return Err(CodecError::UnknownTag {
                what: "v2 auth write",
                tag,
                offset,
            })
        }
    })
}

fn put_permissions(out: &mut Vec<u8>, permissions: &V2Permissions) {
    let V2Permissions { read, write } = permissions;
    out.push(flag(read.is_some(), P_READ) | flag(write.is_some(), P_WRITE));
    for globs in [read, write].into_iter().flatten() {
        put_strings(out, globs);
    }
}

fn read_permissions(reader: &mut Reader<'_>) -> Result<V2Permissions, CodecError> {
    let flags = reader.flags("v2 auth permission flags", P_READ | P_WRITE)?;
    let mut globs = |bit: u8| -> Result<Option<Vec<String>>, CodecError> {
        if flags & bit == 0 {
            return Ok(None);
        }
        reader
            .strings("v2 auth glob count", "v2 auth glob")
            .map(Some)
    };
    let read = globs(P_READ)?;
    let write = globs(P_WRITE)?;
    Ok(V2Permissions { read, write })
}

/// The auth section of the image: flags (`0x01` enabled), the users in name
/// order (name, hash, flags `0x01` roles, [roles]), the roles in name order
/// (name, permissions). Written only for a state that is not empty.
pub(super) fn put_auth_image(out: &mut Vec<u8>, auth: &V2Auth) {
    out.push(flag(auth.enabled, A_ENABLED));
    crate::codec::wire::put_varint(out, auth.users.len() as u64);
    for user in auth.users.values() {
        put_string(out, &user.name);
        put_string(out, &user.password_hash);
        out.push(flag(user.roles.is_some(), U_ROLES));
        if let Some(roles) = &user.roles {
            put_strings(out, roles);
        }
    }
    crate::codec::wire::put_varint(out, auth.roles.len() as u64);
    for role in auth.roles.values() {
        put_string(out, &role.name);
        put_permissions(out, &role.permissions);
    }
}

/// Reads the auth section; refuses what [`put_auth_image`] never writes:
/// names out of order or repeated, a stored root role, auth on without a
/// root user, an empty state.
pub(super) fn read_auth_image(reader: &mut Reader<'_>) -> Result<V2Auth, CodecError> {
    let offset = reader.offset();
    let enabled = reader.flags("v2 auth flags", A_ENABLED)? & A_ENABLED != 0;
    // Each user: name length, hash length, flags.
    let count = reader.count("v2 auth user count", 3)?;
    let mut users = BTreeMap::new();
    for _ in 0..count {
        let at = reader.offset();
        let name = reader.string("v2 auth user name")?;
        let password_hash = reader.string("v2 auth password hash")?;
        let flags = reader.flags("v2 auth user flags", U_ROLES)?;
        let roles = if flags & U_ROLES != 0 {
            Some(reader.strings("v2 auth role count", "v2 auth role")?)
        } else {
            None
        };
        if users
            .last_key_value()
            .is_some_and(|(last, _)| *last >= name)
        {
            return Err(invalid("v2 auth user (unsorted or repeated)", at));
        }
        let user = V2User {
            name: name.clone(),
            password_hash,
            roles,
        };
        users.insert(name, user);
    }
    // Each role: name length, permission flags.
    let count = reader.count("v2 auth role count", 2)?;
    let mut roles = BTreeMap::new();
    for _ in 0..count {
        let at = reader.offset();
        let name = reader.string("v2 auth role name")?;
        let permissions = read_permissions(reader)?;
        if name == ROOT_ROLE
            || roles
                .last_key_value()
                .is_some_and(|(last, _)| *last >= name)
        {
            return Err(invalid("v2 auth role (root, unsorted or repeated)", at));
        }
        let role = V2Role {
            name: name.clone(),
            permissions,
        };
        roles.insert(name, role);
    }
    if enabled && !users.contains_key(ROOT_USER) {
        return Err(invalid("v2 auth enabled without a root user", offset));
    }
    let auth = V2Auth {
        enabled,
        users,
        roles,
    };
    if auth.is_empty() {
        return Err(invalid("v2 auth section of the empty state", offset));
    }
    Ok(auth)
}
