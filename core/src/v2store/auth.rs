//! etcd's v2 auth (`etcdserver/api/v2auth`): whether auth is on, the users
//! (a bcrypt hash and the names of their roles) and the roles (the key globs
//! they may read and write).
//!
//! Replicated: every change is a [`V2AuthWrite`] in the log, decided when it
//! is applied (root must exist to enable, the root role cannot change, a user
//! or role must exist...) so that every member decides alike. Passwords are
//! hashed by the server before the write is proposed: core never sees one.
//!
//! etcd keeps this state as JSON under the v2 store's hidden `/2` prefix, so
//! its auth writes take v2 store indexes; here they take none (the store's
//! index and history only count keys API writes).
//!
//! etcd's quirks are kept where they show in answers: a user created without
//! roles has `"roles":null` until an update makes them `[]`; roles named
//! with a leading `_` are left out of listings (hidden v2 store nodes); a
//! user may hold the name of a role that does not exist.

use std::collections::BTreeMap;

use super::path::is_hidden_name;

/// The role that may do anything (etcd's `RootRoleName`); never stored.
pub const ROOT_ROLE: &str = "root";
/// The user who must exist to enable auth, and always has [`ROOT_ROLE`].
pub const ROOT_USER: &str = "root";
/// The role of requests without credentials (etcd's `GuestRoleName`).
pub const GUEST_ROLE: &str = "guest";

/// The v2 auth state. The empty state (auth off, no users, no roles) is the
/// state of a store that never had an auth write.
///
/// Invariants: `enabled` implies a user [`ROOT_USER`]; no stored role is
/// named [`ROOT_ROLE`]; every record's name is its key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V2Auth {
    pub(super) enabled: bool,
    pub(super) users: BTreeMap<String, V2User>,
    pub(super) roles: BTreeMap<String, V2Role>,
}

/// A user as etcd stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2User {
    pub name: String,
    /// bcrypt's hash of the password, as the server computed it.
    pub password_hash: String,
    /// The names of the user's roles, in the order etcd keeps them (as given
    /// on creation, sorted once updated). `None`: JSON `null`.
    pub roles: Option<Vec<String>>,
}

/// A role's key globs (`/foo` is that key, `/foo*` every key it prefixes).
/// `None`: JSON `null` (a role created without them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V2Permissions {
    pub read: Option<Vec<String>>,
    pub write: Option<Vec<String>>,
}

impl V2Permissions {
    /// etcd's `Permissions.IsEmpty`: no glob at all.
    pub fn is_empty(&self) -> bool {
        self.read.as_ref().is_none_or(Vec::is_empty)
            && self.write.as_ref().is_none_or(Vec::is_empty)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Role {
    pub name: String,
    pub permissions: V2Permissions,
}

/// A change of the auth state (etcd's `v2auth.Store` methods), through the
/// log as [`super::V2Write::Auth`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2AuthWrite {
    /// `PUT /v2/auth/enable`; creates the guest role if there is none.
    Enable,
    /// `DELETE /v2/auth/enable`.
    Disable,
    /// `PUT /v2/auth/users/<name>`, decided as etcd's handler decides it:
    /// without grant or revoke, a create when `roles` are given, otherwise a
    /// create or (when the user exists) an update; with grant or revoke, an
    /// update. `password_hash`: `None` when no password was given.
    UserPut {
        name: String,
        password_hash: Option<String>,
        roles: Option<Vec<String>>,
        grant: Vec<String>,
        revoke: Vec<String>,
    },
    UserDelete {
        name: String,
    },
    /// `PUT /v2/auth/roles/<name>` without grant or revoke.
    RoleCreate {
        role: V2Role,
    },
    /// `PUT /v2/auth/roles/<name>` with grant or revoke (`None` lists are
    /// empty ones here).
    RoleUpdate {
        name: String,
        grant: V2Permissions,
        revoke: V2Permissions,
    },
    RoleDelete {
        name: String,
    },
}

/// What an applied [`V2AuthWrite`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2AuthAnswer {
    /// Enable, disable, a deletion, a role created (etcd echoes its input).
    Done,
    /// A user put: the user as etcd answers it (no password), and whether
    /// it was created by a create-or-update (etcd's 201; a create with roles
    /// answers 200).
    User {
        name: String,
        roles: Option<Vec<String>>,
        created: bool,
    },
    /// A role updated, as it now is.
    Role(V2Role),
}

/// A refused auth write or request, as etcd's `v2auth.Error` (or the
/// handler's `httptypes.HTTPError`): an HTTP status and the message of
/// `{"message":..}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct V2AuthError {
    pub status: u16,
    pub message: String,
}

/// etcd's `authErr`: the message gets `auth: ` in front.
fn refuse(status: u16, message: String) -> V2AuthError {
    V2AuthError {
        status,
        message: format!("auth: {message}"),
    }
}

const BAD_REQUEST: u16 = 400;
const FORBIDDEN: u16 = 403;
const NOT_FOUND: u16 = 404;
const CONFLICT: u16 = 409;

fn root_role() -> V2Role {
    V2Role {
        name: ROOT_ROLE.to_owned(),
        permissions: V2Permissions {
            read: Some(vec!["/*".to_owned()]),
            write: Some(vec!["/*".to_owned()]),
        },
    }
}

/// The guest role auth enable creates when there is none: everything.
fn default_guest_role() -> V2Role {
    V2Role {
        name: GUEST_ROLE.to_owned(),
        ..root_role()
    }
}

/// etcd's `attachRootRole`: the root user always has the root role.
fn with_root_role(mut user: V2User) -> V2User {
    if user.name == ROOT_USER {
        let roles = user.roles.get_or_insert_with(Vec::new);
        if !roles.iter().any(|role| role == ROOT_ROLE) {
            roles.push(ROOT_ROLE.to_owned());
        }
    }
    user
}

/// A sorted set of `names` (etcd's `types.Set.Values` then `sort.Strings`).
fn sorted_set<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = names.into_iter().cloned().collect();
    names.sort();
    names.dedup();
    names
}

/// etcd's `simpleMatch`: `glob*` prefixes, any other glob is one key. An
/// empty glob matches nothing (etcd's request would panic on it).
fn glob_matches(glob: &str, key: &str) -> bool {
    match glob.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => !glob.is_empty() && glob == key,
    }
}

/// etcd's `prefixMatch`: only `glob*` grants a whole subtree.
fn glob_covers(glob: &str, key: &str) -> bool {
    glob.strip_suffix('*')
        .is_some_and(|prefix| key.starts_with(prefix))
}

impl V2Role {
    fn globs(&self, write: bool) -> &[String] {
        let globs = if write {
            &self.permissions.write
        } else {
            &self.permissions.read
        };
        globs.as_deref().unwrap_or_default()
    }

    /// etcd's `HasKeyAccess`: root may do anything, others what a glob matches.
    pub fn has_key_access(&self, key: &str, write: bool) -> bool {
        self.name == ROOT_ROLE || self.globs(write).iter().any(|glob| glob_matches(glob, key))
    }

    /// etcd's `HasRecursiveAccess`: a `glob*` that prefixes the key.
    pub fn has_recursive_access(&self, key: &str, write: bool) -> bool {
        self.name == ROOT_ROLE || self.globs(write).iter().any(|glob| glob_covers(glob, key))
    }
}

impl V2Auth {
    /// Whether nothing was ever stored (or all was removed again): auth
    /// off, no users, no roles. Such a state adds nothing to an image.
    pub fn is_empty(&self) -> bool {
        !self.enabled && self.users.is_empty() && self.roles.is_empty()
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// etcd's `GetUser`: the user, the root user with the root role.
    pub fn user(&self, name: &str) -> Option<V2User> {
        self.users.get(name).cloned().map(with_root_role)
    }

    /// etcd's `GetRole`: the root role is built in.
    pub fn role(&self, name: &str) -> Option<V2Role> {
        if name == ROOT_ROLE {
            return Some(root_role());
        }
        self.roles.get(name).cloned()
    }

    /// etcd's `AllUsers`: sorted, hidden names (`_x`) left out.
    pub fn user_names(&self) -> Vec<String> {
        self.users
            .keys()
            .filter(|name| !is_hidden_name(name))
            .cloned()
            .collect()
    }

    /// etcd's `AllRoles`: root and the stored ones, sorted, hidden left out.
    pub fn role_names(&self) -> Vec<String> {
        let stored = self.roles.keys().filter(|name| !is_hidden_name(name));
        sorted_set(std::iter::once(&ROOT_ROLE.to_owned()).chain(stored))
    }

    /// Whether `user` (as [`V2Auth::user`] gives it) has the root role
    /// (etcd's `hasRootAccess` once the credentials are checked).
    pub fn is_root(user: &V2User) -> bool {
        user.roles.iter().flatten().any(|role| role == ROOT_ROLE)
    }

    /// etcd's `hasKeyPrefixAccess` for an authenticated user: one of the
    /// user's roles (those that exist) grants `key`, or, for a recursive
    /// request, the subtree under it.
    pub fn user_may_access(&self, user: &V2User, key: &str, recursive: bool, write: bool) -> bool {
        user.roles
            .iter()
            .flatten()
            .filter_map(|name| self.role(name))
            .any(|role| {
                if recursive {
                    role.has_recursive_access(key, write)
                } else {
                    role.has_key_access(key, write)
                }
            })
    }

    /// etcd's `hasGuestAccess`: the guest role, if any, grants `key` (the
    /// key alone, even for a recursive request).
    pub fn guest_may_access(&self, key: &str, write: bool) -> bool {
        self.role(GUEST_ROLE)
            .is_some_and(|role| role.has_key_access(key, write))
    }

    /// Applies one write; a refused write changes nothing.
    pub(super) fn apply(&mut self, write: &V2AuthWrite) -> Result<V2AuthAnswer, V2AuthError> {
        match write {
            V2AuthWrite::Enable => self.enable(),
            V2AuthWrite::Disable => self.disable(),
            V2AuthWrite::UserPut {
                name,
                password_hash,
                roles,
                grant,
                revoke,
            } => self.put_user(
                name,
                password_hash.as_deref(),
                roles.as_deref(),
                grant,
                revoke,
            ),
            V2AuthWrite::UserDelete { name } => self.delete_user(name),
            V2AuthWrite::RoleCreate { role } => self.create_role(role),
            V2AuthWrite::RoleUpdate {
                name,
                grant,
                revoke,
            } => self.update_role(name, grant, revoke),
            V2AuthWrite::RoleDelete { name } => self.delete_role(name),
        }
    }

    fn enable(&mut self) -> Result<V2AuthAnswer, V2AuthError> {
        if self.enabled {
            return Err(refuse(CONFLICT, "already enabled".into()));
        }
        if !self.users.contains_key(ROOT_USER) {
            return Err(refuse(
                CONFLICT,
                "No root user available, please create one".into(),
            ));
        }
        self.roles
            .entry(GUEST_ROLE.to_owned())
            .or_insert_with(default_guest_role);
        self.enabled = true;
        Ok(V2AuthAnswer::Done)
    }

    fn disable(&mut self) -> Result<V2AuthAnswer, V2AuthError> {
        if !self.enabled {
            return Err(refuse(CONFLICT, "already disabled".into()));
        }
        self.enabled = false;
        Ok(V2AuthAnswer::Done)
    }

    /// etcd's `forUser` PUT: which of `CreateUser`, `CreateOrUpdateUser` and
    /// `UpdateUser` it calls.
    fn put_user(
        &mut self,
        name: &str,
        password_hash: Option<&str>,
        roles: Option<&[String]>,
        grant: &[String],
        revoke: &[String],
    ) -> Result<V2AuthAnswer, V2AuthError> {
        let has_roles = roles.is_some_and(|roles| !roles.is_empty());
        if !grant.is_empty() || !revoke.is_empty() {
            if has_roles {
                // The handler's own check (the server makes it first).
                return Err(V2AuthError {
                    status: BAD_REQUEST,
                    message: "User JSON contains both roles and grant/revoke".into(),
                });
            }
            return self.update_user(name, password_hash, grant, revoke);
        }
        if !has_roles && self.users.contains_key(name) {
            return self.update_user(name, password_hash, &[], &[]);
        }
        self.create_user(name, password_hash, roles, !has_roles)
    }

    fn create_user(
        &mut self,
        name: &str,
        password_hash: Option<&str>,
        roles: Option<&[String]>,
        created: bool,
    ) -> Result<V2AuthAnswer, V2AuthError> {
        let Some(password_hash) = password_hash.filter(|hash| !hash.is_empty()) else {
            return Err(refuse(
                BAD_REQUEST,
                format!("Cannot create user {name} with an empty password"),
            ));
        };
        if self.users.contains_key(name) {
            return Err(refuse(CONFLICT, format!("User {name} already exists.")));
        }
        let user = with_root_role(V2User {
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            roles: roles.map(<[String]>::to_vec),
        });
        let answer = V2AuthAnswer::User {
            name: user.name.clone(),
            roles: user.roles.clone(),
            created,
        };
        self.users.insert(name.to_owned(), user);
        Ok(answer)
    }

    /// etcd's `UpdateUser` with `User.merge`: a new password, roles granted
    /// (none already held) and revoked (all held), the roles then sorted.
    fn update_user(
        &mut self,
        name: &str,
        password_hash: Option<&str>,
        grant: &[String],
        revoke: &[String],
    ) -> Result<V2AuthAnswer, V2AuthError> {
        let Some(old) = self.user(name) else {
            // etcd's `getUser` error: `UpdateUser`'s own "doesn't exist" is
            // for a v2 store error that `getUser` never lets through.
            return Err(refuse(NOT_FOUND, format!("User {name} does not exist.")));
        };
        let mut roles = sorted_set(old.roles.iter().flatten());
        for role in grant {
            if let Err(at) = roles.binary_search(role) {
                roles.insert(at, role.clone());
            } else {
                return Err(refuse(
                    CONFLICT,
                    format!("Granting duplicate role {role} for user {name}"),
                ));
            }
        }
        for role in revoke {
            match roles.binary_search(role) {
                Ok(at) => {
                    roles.remove(at);
                }
                Err(_) => {
                    return Err(refuse(
                        CONFLICT,
                        format!("Revoking ungranted role {role} for user {name}"),
                    ))
                }
            }
        }
        let new = V2User {
            name: name.to_owned(),
            password_hash: password_hash
                .filter(|hash| !hash.is_empty())
                .unwrap_or(&old.password_hash)
                .to_owned(),
            roles: Some(roles),
        };
        if new == old {
            return Err(refuse(
                BAD_REQUEST,
                "User not updated. Use grant/revoke/password to update the user.".into(),
            ));
        }
        let answer = V2AuthAnswer::User {
            name: new.name.clone(),
            roles: new.roles.clone(),
            created: false,
        };
        self.users.insert(name.to_owned(), new);
        Ok(answer)
    }

    fn delete_user(&mut self, name: &str) -> Result<V2AuthAnswer, V2AuthError> {
        if self.enabled && name == ROOT_USER {
            return Err(refuse(
                FORBIDDEN,
                "Cannot delete root user while auth is enabled.".into(),
            ));
        }
        if self.users.remove(name).is_none() {
            return Err(refuse(NOT_FOUND, format!("User {name} does not exist")));
        }
        Ok(V2AuthAnswer::Done)
    }

    fn create_role(&mut self, role: &V2Role) -> Result<V2AuthAnswer, V2AuthError> {
        let name = &role.name;
        if name == ROOT_ROLE {
            return Err(is_root_role(name));
        }
        if self.roles.contains_key(name) {
            return Err(refuse(CONFLICT, format!("Role {name} already exists.")));
        }
        self.roles.insert(name.clone(), role.clone());
        Ok(V2AuthAnswer::Done)
    }

    /// etcd's `UpdateRole` with `Role.merge`: globs granted (none already
    /// there), globs revoked (missing ones ignored), then sorted.
    fn update_role(
        &mut self,
        name: &str,
        grant: &V2Permissions,
        revoke: &V2Permissions,
    ) -> Result<V2AuthAnswer, V2AuthError> {
        if name == ROOT_ROLE {
            return Err(is_root_role(name));
        }
        let Some(old) = self.roles.get(name) else {
            // `getRole`'s error, as for users.
            return Err(refuse(NOT_FOUND, format!("Role {name} does not exist.")));
        };
        let read = merge_globs(&old.permissions.read, &grant.read, &revoke.read, "read")?;
        let write = merge_globs(&old.permissions.write, &grant.write, &revoke.write, "write")?;
        let new = V2Role {
            name: name.to_owned(),
            permissions: V2Permissions {
                read: Some(read),
                write: Some(write),
            },
        };
        if &new == old {
            return Err(refuse(
                BAD_REQUEST,
                "Role not updated. Use grant/revoke to update the role.".into(),
            ));
        }
        self.roles.insert(name.to_owned(), new.clone());
        Ok(V2AuthAnswer::Role(new))
    }

    fn delete_role(&mut self, name: &str) -> Result<V2AuthAnswer, V2AuthError> {
        if name == ROOT_ROLE {
            return Err(is_root_role(name));
        }
        if self.roles.remove(name).is_none() {
            return Err(refuse(NOT_FOUND, format!("Role {name} doesn't exist.")));
        }
        Ok(V2AuthAnswer::Done)
    }
}

fn is_root_role(name: &str) -> V2AuthError {
    refuse(
        FORBIDDEN,
        format!("Cannot modify role {name}: is root role."),
    )
}

/// etcd's `RWPermission.Grant` then `Revoke` of one list. etcd grants to
/// both lists before it revokes from either; only a grant can be refused,
/// so merging the read list wholly before the write list refuses the same
/// glob first (a duplicate read glob before a duplicate write glob).
fn merge_globs(
    old: &Option<Vec<String>>,
    grant: &Option<Vec<String>>,
    revoke: &Option<Vec<String>>,
    kind: &str,
) -> Result<Vec<String>, V2AuthError> {
    let mut globs = sorted_set(old.iter().flatten());
    for glob in grant.iter().flatten() {
        match globs.binary_search(glob) {
            Ok(_) => {
                return Err(refuse(
                    CONFLICT,
                    format!("Granting duplicate {kind} permission {glob}"),
                ))
            }
            Err(at) => globs.insert(at, glob.clone()),
        }
    }
    for glob in revoke.iter().flatten() {
        if let Ok(at) = globs.binary_search(glob) {
            globs.remove(at);
        }
    }
    Ok(globs)
}
