//! Binary layouts of auth changes (inside log payloads) and of the auth
//! state (the snapshot's auth section). Same conventions as
//! [`crate::codec`]: varints, length-prefixed strings, canonical encodings,
//! and decoding that never panics.
//!
//! ```text
//!  auth op   tag u8 | fields                      (tags: AUTH_* below)
//!  image     version=1 | enabled u8 | revision v
//!            | n×(name s | hash s | no_password u8 | n×role s)
//!            | n×(name s | n×(key s | range_end s | type u8))
//! ```

use bytes::Bytes;

use super::{AuthOp, AuthStore, PermType, Permission, Role, User};
use crate::codec::wire::{put_bool, put_bytes, put_strings, put_varint, Reader};
use crate::codec::CodecError;

const AUTH_ENABLE: u8 = 1;
const AUTH_DISABLE: u8 = 2;
const AUTH_USER_ADD: u8 = 3;
const AUTH_USER_DELETE: u8 = 4;
const AUTH_USER_CHANGE_PASSWORD: u8 = 5;
const AUTH_USER_GRANT_ROLE: u8 = 6;
const AUTH_USER_REVOKE_ROLE: u8 = 7;
const AUTH_ROLE_ADD: u8 = 8;
const AUTH_ROLE_DELETE: u8 = 9;
const AUTH_ROLE_GRANT_PERMISSION: u8 = 10;
const AUTH_ROLE_REVOKE_PERMISSION: u8 = 11;
const AUTH_AUTHENTICATE: u8 = 12;

const IMAGE_VERSION: u8 = 1;

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_perm(out: &mut Vec<u8>, perm: &Permission) {
    put_bytes(out, &perm.key);
    put_bytes(out, &perm.range_end);
    out.push(perm.perm_type.to_byte());
}

fn read_perm(reader: &mut Reader<'_>) -> Result<Permission, CodecError> {
    let key = reader.bytes("permission key")?.to_vec();
    let range_end = reader.bytes("permission range end")?.to_vec();
    let offset = reader.offset();
    let tag = reader.u8("permission type")?;
    let perm_type = PermType::from_byte(tag).ok_or(CodecError::UnknownTag {
        what: "permission type",
        tag,
        offset,
    })?;
    Ok(Permission {
        key,
        range_end,
        perm_type,
    })
}

/// Appends an auth change.
pub(crate) fn put_auth_op(out: &mut Vec<u8>, op: &AuthOp) {
    match op {
        AuthOp::Enable => out.push(AUTH_ENABLE),
        AuthOp::Disable => out.push(AUTH_DISABLE),
        AuthOp::UserAdd {
            name,
            password_hash,
            no_password,
        } => {
            out.push(AUTH_USER_ADD);
            put_str(out, name);
            put_bytes(out, password_hash);
            put_bool(out, *no_password);
        }
        AuthOp::UserDelete { name } => {
            out.push(AUTH_USER_DELETE);
            put_str(out, name);
        }
        AuthOp::UserChangePassword {
            name,
            password_hash,
        } => {
            out.push(AUTH_USER_CHANGE_PASSWORD);
            put_str(out, name);
            put_bytes(out, password_hash);
        }
        AuthOp::UserGrantRole { user, role } => {
            out.push(AUTH_USER_GRANT_ROLE);
            put_str(out, user);
            put_str(out, role);
        }
        AuthOp::UserRevokeRole { name, role } => {
            out.push(AUTH_USER_REVOKE_ROLE);
            put_str(out, name);
            put_str(out, role);
        }
        AuthOp::RoleAdd { name } => {
            out.push(AUTH_ROLE_ADD);
            put_str(out, name);
        }
        AuthOp::RoleDelete { name } => {
            out.push(AUTH_ROLE_DELETE);
            put_str(out, name);
        }
        AuthOp::RoleGrantPermission { name, perm } => {
            out.push(AUTH_ROLE_GRANT_PERMISSION);
            put_str(out, name);
            put_perm(out, perm);
        }
        AuthOp::RoleRevokePermission {
            role,
            key,
            range_end,
        } => {
            out.push(AUTH_ROLE_REVOKE_PERMISSION);
            put_str(out, role);
            put_bytes(out, key);
            put_bytes(out, range_end);
        }
        AuthOp::Authenticate {
            name,
            token,
            checked_revision,
        } => {
            out.push(AUTH_AUTHENTICATE);
            put_str(out, name);
            put_str(out, token);
            put_varint(out, *checked_revision);
        }
    }
}

/// Reads an auth change written by [`put_auth_op`].
pub(crate) fn read_auth_op(reader: &mut Reader<'_>) -> Result<AuthOp, CodecError> {
    let offset = reader.offset();
    Ok(match reader.u8("auth op tag")? {
        AUTH_ENABLE => AuthOp::Enable,
        AUTH_DISABLE => AuthOp::Disable,
        AUTH_USER_ADD => AuthOp::UserAdd {
            name: reader.string("user name")?,
            password_hash: reader.bytes("password hash")?.to_vec(),
            no_password: reader.bool("no password")?,
        },
        AUTH_USER_DELETE => AuthOp::UserDelete {
            name: reader.string("user name")?,
        },
        AUTH_USER_CHANGE_PASSWORD => AuthOp::UserChangePassword {
            name: reader.string("user name")?,
            password_hash: reader.bytes("password hash")?.to_vec(),
        },
        AUTH_USER_GRANT_ROLE => AuthOp::UserGrantRole {
            user: reader.string("user name")?,
            role: reader.string("role name")?,
        },
        AUTH_USER_REVOKE_ROLE => AuthOp::UserRevokeRole {
            name: reader.string("user name")?,
            role: reader.string("role name")?,
        },
        AUTH_ROLE_ADD => AuthOp::RoleAdd {
            name: reader.string("role name")?,
        },
        AUTH_ROLE_DELETE => AuthOp::RoleDelete {
            name: reader.string("role name")?,
        },
        AUTH_ROLE_GRANT_PERMISSION => AuthOp::RoleGrantPermission {
            name: reader.string("role name")?,
            perm: read_perm(reader)?,
        },
        AUTH_ROLE_REVOKE_PERMISSION => AuthOp::RoleRevokePermission {
            role: reader.string("role name")?,
            key: reader.bytes("permission key")?.to_vec(),
            range_end: reader.bytes("permission range end")?.to_vec(),
        },
        AUTH_AUTHENTICATE => AuthOp::Authenticate {
            name: reader.string("user name")?,
            token: reader.string("token")?,
            checked_revision: reader.varint("checked revision")?,
        },
        tag => {
            return Err(CodecError::UnknownTag {
                what: "auth op",
                tag,
                offset,
            })
        }
    })
}

impl AuthStore {
    /// The replicated state as the snapshot's auth section.
    pub fn encode_image(&self) -> Vec<u8> {
        let mut out = vec![IMAGE_VERSION];
        put_bool(&mut out, self.is_enabled());
        put_varint(&mut out, self.revision());
        let users: Vec<&User> = self.users().collect();
        put_varint(&mut out, users.len() as u64);
        for user in users {
            put_str(&mut out, &user.name);
            put_bytes(&mut out, &user.password_hash);
            put_bool(&mut out, user.no_password);
            put_strings(&mut out, &user.roles);
        }
        let roles: Vec<&Role> = self.roles().collect();
        put_varint(&mut out, roles.len() as u64);
        for role in roles {
            put_str(&mut out, &role.name);
            put_varint(&mut out, role.perms.len() as u64);
            for perm in &role.perms {
                put_perm(&mut out, perm);
            }
        }
        out
    }

    /// Decodes an auth section; an empty one (a snapshot written before
    /// auth existed) is the initial state.
    pub fn decode_image(image: &Bytes, token_ttl_ms: u64) -> Result<AuthStore, CodecError> {
        if image.is_empty() {
            return Ok(AuthStore::new(token_ttl_ms));
        }
        let mut reader = Reader::new(image, 0);
        let offset = reader.offset();
        let version = reader.u8("auth image version")?;
        if version != IMAGE_VERSION {
            return Err(CodecError::UnknownTag {
                what: "auth image version",
                tag: version,
                offset,
            });
        }
        let enabled = reader.bool("auth enabled")?;
        let revision = reader.varint("auth revision")?;
        // name, hash, flag, role count: at least four bytes a user.
        let count = reader.count("user count", 4)?;
        let mut users = Vec::with_capacity(count);
        for _ in 0..count {
            let offset = reader.offset();
            let user = User {
                name: reader.string("user name")?,
                password_hash: reader.bytes("password hash")?.to_vec(),
                no_password: reader.bool("no password")?,
                roles: reader.strings("role count", "role name")?,
            };
            let after_last = users.last().is_none_or(|u: &User| u.name < user.name);
            if !after_last || !strictly_increasing(&user.roles) {
                return Err(CodecError::OutOfOrder {
                    what: "user",
                    offset,
                });
            }
            users.push(user);
        }
        let count = reader.count("role count", 2)?;
        let mut roles = Vec::with_capacity(count);
        for _ in 0..count {
            let offset = reader.offset();
            let name = reader.string("role name")?;
            let perm_count = reader.count("permission count", 3)?;
            let mut perms = Vec::with_capacity(perm_count);
            for _ in 0..perm_count {
                perms.push(read_perm(&mut reader)?);
            }
            let after_last = roles.last().is_none_or(|r: &Role| r.name < name);
            let perms_sorted = perms
                .windows(2)
                .all(|w| (&w[0].key, &w[0].range_end) < (&w[1].key, &w[1].range_end));
            if !after_last || !perms_sorted {
                return Err(CodecError::OutOfOrder {
                    what: "role",
                    offset,
                });
            }
            roles.push(Role { name, perms });
        }
        reader.finish("auth image")?;
        Ok(AuthStore::from_parts(
            enabled,
            revision,
            users,
            roles,
            token_ttl_ms,
        ))
    }
}

fn strictly_increasing(names: &[String]) -> bool {
    names.windows(2).all(|w| w[0] < w[1])
}

#[cfg(test)]
mod tests {
    use super::super::{AuthOp, Identity};
    use super::*;
    use crate::time::Instant;
    use proptest::prelude::*;

    #[test]
    fn image_round_trips() {
        let mut store = AuthStore::new(5);
        let sys = Identity::System;
        for op in [
            AuthOp::UserAdd {
                name: "root".into(),
                password_hash: b"$2b$10$x".to_vec(),
                no_password: false,
            },
            AuthOp::UserGrantRole {
                user: "root".into(),
                role: "root".into(),
            },
            AuthOp::RoleAdd { name: "r".into() },
            AuthOp::RoleGrantPermission {
                name: "r".into(),
                perm: Permission {
                    key: b"k".to_vec(),
                    range_end: b"\0".to_vec(),
                    perm_type: PermType::Write,
                },
            },
            AuthOp::Enable,
        ] {
            store.apply(&sys, &op, Instant::ZERO).unwrap();
        }
        let image = Bytes::from(store.encode_image());
        let decoded = AuthStore::decode_image(&image, 5).unwrap();
        assert!(decoded.same_state(&store));
        assert_eq!(decoded, store);
        assert!(AuthStore::decode_image(&Bytes::new(), 5)
            .unwrap()
            .same_state(&AuthStore::new(5)));
    }

    proptest! {
        /// Whatever the bytes, decoding answers (never panics), and whatever
        /// decodes re-encodes to the same bytes.
        #[test]
        fn image_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bytes = Bytes::from(bytes);
            if let Ok(store) = AuthStore::decode_image(&bytes, 1) {
                if !bytes.is_empty() {
                    prop_assert_eq!(store.encode_image(), bytes.to_vec());
                }
            }
        }

        #[test]
        fn op_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let bytes = Bytes::from(bytes);
            let mut reader = Reader::new(&bytes, 0);
            if let Ok(op) = read_auth_op(&mut reader) {
                if reader.finish("op").is_ok() {
                    let mut again = Vec::new();
                    put_auth_op(&mut again, &op);
                    prop_assert_eq!(again, bytes.to_vec());
                }
            }
        }
    }
}
