//! [`AuthStore`]: the replicated auth state and the checks made against it.

use std::collections::BTreeMap;

use super::perms::MergedPerms;
use super::{
    Access, AuthError, AuthOp, AuthQuery, AuthResponse, Caller, Role, User, ROOT_ROLE, ROOT_USER,
};
use crate::time::Instant;

/// Who a request runs as, once its credentials were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// No credentials: refused everything once auth is enabled.
    Anonymous,
    User(String),
    /// The member itself or its server: never refused.
    System,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SimpleToken {
    user: String,
    expires: Instant,
}

/// Users, roles, the enabled flag and the auth revision (replicated), plus
/// this member's simple tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthStore {
    enabled: bool,
    /// Bumped by every change to users and roles; starts at 1, as etcd's.
    revision: u64,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
    /// Every user's permissions merged over its roles, rebuilt on change.
    merged: BTreeMap<String, MergedPerms>,
    tokens: BTreeMap<String, SimpleToken>,
    /// How long a simple token lives after its last use (`--auth-token-ttl`).
    token_ttl_ms: u64,
}

impl AuthStore {
    pub fn new(token_ttl_ms: u64) -> AuthStore {
        AuthStore {
            enabled: false,
            revision: 1,
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
            merged: BTreeMap::new(),
            tokens: BTreeMap::new(),
            token_ttl_ms,
        }
    }

    pub(super) fn from_parts(
        enabled: bool,
        revision: u64,
        users: Vec<User>,
        roles: Vec<Role>,
        token_ttl_ms: u64,
    ) -> AuthStore {
        let mut store = AuthStore::new(token_ttl_ms);
        store.enabled = enabled;
        store.revision = revision;
        store.users = users.into_iter().map(|u| (u.name.clone(), u)).collect();
        store.roles = roles.into_iter().map(|r| (r.name.clone(), r)).collect();
        store.refresh();
        store
    }

    /// The replicated part alone: users, roles, the flag and the revision,
    /// without this member's tokens.
    pub fn without_tokens(&self) -> AuthStore {
        let mut copy = self.clone();
        copy.tokens.clear();
        copy
    }

    /// Users, roles, the flag and the revision from elsewhere (an etcd
    /// database being imported). Users' roles and roles' permissions are
    /// sorted and deduplicated.
    pub fn import(
        enabled: bool,
        revision: u64,
        mut users: Vec<User>,
        mut roles: Vec<Role>,
        token_ttl_ms: u64,
    ) -> AuthStore {
        for user in &mut users {
            user.roles.sort();
            user.roles.dedup();
        }
        for role in &mut roles {
            role.perms.sort();
            role.perms
                .dedup_by(|a, b| (&a.key, &a.range_end) == (&b.key, &b.range_end));
        }
        AuthStore::from_parts(enabled, revision, users, roles, token_ttl_ms)
    }

    /// Sets how long simple tokens live after their last use.
    pub fn set_token_ttl_ms(&mut self, token_ttl_ms: u64) {
        self.token_ttl_ms = token_ttl_ms;
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// The same users, roles, flag and revision (tokens and their TTL aside).
    pub fn same_state(&self, other: &AuthStore) -> bool {
        self.enabled == other.enabled
            && self.revision == other.revision
            && self.users == other.users
            && self.roles == other.roles
    }

    /// Keeps this member's tokens across a snapshot installed from the leader
    /// (tokens are not part of the replicated image).
    pub fn adopt_tokens(&mut self, old: AuthStore) {
        self.tokens = old.tokens;
        let users = &self.users;
        self.tokens.retain(|_, t| users.contains_key(&t.user));
        if !self.enabled {
            self.tokens.clear();
        }
    }

    // ----- credentials and checks -----

    /// Resolves a caller's credentials. While auth is disabled nobody is
    /// checked, whatever they send.
    pub fn identify(&mut self, caller: &Caller, now: Instant) -> Result<Identity, AuthError> {
        match caller {
            Caller::System => Ok(Identity::System),
            _ if !self.enabled => Ok(Identity::Anonymous),
            Caller::Anonymous => Ok(Identity::Anonymous),
            Caller::Token(token) => {
                let ttl = self.token_ttl_ms;
                match self.tokens.get_mut(token) {
                    Some(found) if found.expires > now => {
                        // Each use keeps the token alive (etcd's TTL keeper).
                        found.expires = now + ttl;
                        Ok(Identity::User(found.user.clone()))
                    }
                    Some(_) => {
                        self.tokens.remove(token);
                        Err(AuthError::InvalidAuthToken)
                    }
                    None => Err(AuthError::InvalidAuthToken),
                }
            }
            Caller::User {
                revision: Some(revision),
                ..
            } if *revision < self.revision => Err(AuthError::AuthOldRevision),
            Caller::User { name, .. } => Ok(Identity::User(name.clone())),
        }
    }

    /// May `who` have `access` to `key` (empty `range_end`) or to the range?
    pub fn check(
        &self,
        who: &Identity,
        access: Access,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        match who {
            Identity::System => Ok(()),
            Identity::Anonymous => Err(AuthError::UserEmpty),
            Identity::User(name) => {
                let Some(user) = self.users.get(name) else {
                    return Err(AuthError::PermissionDenied);
                };
                if has_root_role(user)
                    || self
                        .merged
                        .get(name)
                        .is_some_and(|m| m.permits(access, key, range_end))
                {
                    Ok(())
                } else {
                    Err(AuthError::PermissionDenied)
                }
            }
        }
    }

    /// Only root may: auth management, hashes, snapshots, membership.
    pub fn check_admin(&self, who: &Identity) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        match who {
            Identity::System => Ok(()),
            Identity::Anonymous => Err(AuthError::UserEmpty),
            Identity::User(name) => match self.users.get(name) {
                None => Err(AuthError::UserNotFound),
                Some(user) if has_root_role(user) => Ok(()),
                Some(_) => Err(AuthError::PermissionDenied),
            },
        }
    }

    /// Refuses a request without credentials once auth is enabled.
    pub fn check_authenticated(&self, who: &Identity) -> Result<(), AuthError> {
        if self.enabled && *who == Identity::Anonymous {
            return Err(AuthError::UserEmpty);
        }
        Ok(())
    }

    // ----- reads -----

    /// Answers a question, with etcd's rules of who may ask it.
    pub fn query(&self, who: &Identity, query: &AuthQuery) -> Result<AuthResponse, AuthError> {
        match query {
            AuthQuery::Status => Ok(AuthResponse::Status {
                enabled: self.enabled,
                revision: self.revision,
            }),
            AuthQuery::UserGet { name } => {
                // A user may read itself.
                if !matches!(who, Identity::User(user) if user == name) {
                    self.check_admin(who)?;
                }
                let user = self.users.get(name).ok_or(AuthError::UserNotFound)?;
                Ok(AuthResponse::User {
                    roles: user.roles.clone(),
                })
            }
            AuthQuery::UserList => {
                self.check_admin(who)?;
                Ok(AuthResponse::Users(self.users.keys().cloned().collect()))
            }
            AuthQuery::RoleGet { name } => {
                // A user may read the roles it has.
                let has_it = match who {
                    Identity::User(user) => self
                        .users
                        .get(user)
                        .is_some_and(|u| u.roles.iter().any(|r| r == name)),
                    _ => false,
                };
                if !has_it {
                    self.check_admin(who)?;
                }
                if name == ROOT_ROLE && !self.roles.contains_key(name) {
                    return Ok(AuthResponse::Role { perms: Vec::new() });
                }
                let role = self.roles.get(name).ok_or(AuthError::RoleNotFound)?;
                Ok(AuthResponse::Role {
                    perms: role.perms.clone(),
                })
            }
            AuthQuery::RoleList => {
                self.check_admin(who)?;
                Ok(AuthResponse::Roles(self.roles.keys().cloned().collect()))
            }
            AuthQuery::PasswordHash { name } => {
                if *who != Identity::System {
                    return Err(AuthError::PermissionDenied);
                }
                if !self.enabled {
                    return Err(AuthError::AuthNotEnabled);
                }
                match self.users.get(name) {
                    Some(user) if user.no_password => Err(AuthError::NoPasswordUser),
                    Some(user) => Ok(AuthResponse::PasswordHash {
                        hash: user.password_hash.clone(),
                        revision: self.revision,
                    }),
                    None => Err(AuthError::AuthFailed),
                }
            }
        }
    }

    // ----- changes -----

    /// Applies a change from the log, as `who` (checked here, at apply time,
    /// so every member decides alike).
    pub fn apply(
        &mut self,
        who: &Identity,
        op: &AuthOp,
        now: Instant,
    ) -> Result<AuthResponse, AuthError> {
        if op.needs_admin() {
            self.check_admin(who)?;
        }
        match op {
            AuthOp::Enable => {
                if self.enabled {
                    return Ok(AuthResponse::Done);
                }
                let root = self
                    .users
                    .get(ROOT_USER)
                    .ok_or(AuthError::RootUserNotExist)?;
                if !has_root_role(root) {
                    return Err(AuthError::RootRoleNotExist);
                }
                self.enabled = true;
                Ok(AuthResponse::Done)
            }
            AuthOp::Disable => {
                self.enabled = false;
                self.tokens.clear();
                Ok(AuthResponse::Done)
            }
            AuthOp::UserAdd {
                name,
                password_hash,
                no_password,
            } => {
                if name.is_empty() {
                    return Err(AuthError::UserEmpty);
                }
                if self.users.contains_key(name) {
                    return Err(AuthError::UserAlreadyExist);
                }
                self.users.insert(
                    name.clone(),
                    User {
                        name: name.clone(),
                        password_hash: password_hash.clone(),
                        roles: Vec::new(),
                        no_password: *no_password,
                    },
                );
                self.changed()
            }
            AuthOp::UserDelete { name } => {
                if self.enabled && name == ROOT_USER {
                    return Err(AuthError::InvalidAuthMgmt);
                }
                self.users.remove(name).ok_or(AuthError::UserNotFound)?;
                self.tokens.retain(|_, t| t.user != *name);
                self.changed()
            }
            AuthOp::UserChangePassword {
                name,
                password_hash,
            } => {
                let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
                user.password_hash = password_hash.clone();
                self.tokens.retain(|_, t| t.user != *name);
                self.changed()
            }
            AuthOp::UserGrantRole { user, role } => {
                if role != ROOT_ROLE && !self.roles.contains_key(role) {
                    if !self.users.contains_key(user) {
                        return Err(AuthError::UserNotFound);
                    }
                    return Err(AuthError::RoleNotFound);
                }
                let found = self.users.get_mut(user).ok_or(AuthError::UserNotFound)?;
                match found.roles.binary_search(role) {
                    Ok(_) => Ok(AuthResponse::Done),
                    Err(at) => {
                        found.roles.insert(at, role.clone());
                        self.changed()
                    }
                }
            }
            AuthOp::UserRevokeRole { name, role } => {
                if self.enabled && name == ROOT_USER && role == ROOT_ROLE {
                    return Err(AuthError::InvalidAuthMgmt);
                }
                let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
                let at = user
                    .roles
                    .binary_search(role)
                    .map_err(|_| AuthError::RoleNotGranted)?;
                user.roles.remove(at);
                self.changed()
            }
            AuthOp::RoleAdd { name } => {
                if name.is_empty() {
                    return Err(AuthError::RoleEmpty);
                }
                if self.roles.contains_key(name) {
                    return Err(AuthError::RoleAlreadyExist);
                }
                self.roles.insert(
                    name.clone(),
                    Role {
                        name: name.clone(),
                        perms: Vec::new(),
                    },
                );
                self.changed()
            }
            AuthOp::RoleDelete { name } => {
                if self.enabled && name == ROOT_ROLE {
                    return Err(AuthError::InvalidAuthMgmt);
                }
                self.roles.remove(name).ok_or(AuthError::RoleNotFound)?;
                for user in self.users.values_mut() {
                    user.roles.retain(|r| r != name);
                }
                self.changed()
            }
            AuthOp::RoleGrantPermission { name, perm } => {
                let role = self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)?;
                // As etcd: only the first permission with this key can be
                // updated; otherwise the new one goes after those with the
                // same key (perms stay sorted by key alone, in grant
                // order), so `role get` lists them as etcd does.
                let at = role.perms.partition_point(|p| p.key < perm.key);
                match role.perms.get_mut(at) {
                    Some(first) if first.key == perm.key && first.range_end == perm.range_end => {
                        first.perm_type = perm.perm_type;
                    }
                    _ => {
                        let after = role.perms.partition_point(|p| p.key <= perm.key);
                        role.perms.insert(after, perm.clone());
                    }
                }
                self.changed()
            }
            AuthOp::RoleRevokePermission {
                role,
                key,
                range_end,
            } => {
                let found = self.roles.get_mut(role).ok_or(AuthError::RoleNotFound)?;
                let before = found.perms.len();
                found
                    .perms
                    .retain(|p| p.key != *key || p.range_end != *range_end);
                if found.perms.len() == before {
                    return Err(AuthError::PermissionNotGranted);
                }
                self.changed()
            }
            AuthOp::Authenticate {
                name,
                token,
                checked_revision,
            } => {
                if !self.enabled {
                    return Err(AuthError::AuthNotEnabled);
                }
                match self.users.get(name) {
                    Some(user) if !user.no_password => {}
                    _ => return Err(AuthError::AuthFailed),
                }
                if *checked_revision != self.revision {
                    // The password was checked against a hash that may have
                    // changed since: the server checks again.
                    return Err(AuthError::AuthOldRevision);
                }
                self.tokens.retain(|_, t| t.expires > now);
                self.tokens.insert(
                    token.clone(),
                    SimpleToken {
                        user: name.clone(),
                        expires: now + self.token_ttl_ms,
                    },
                );
                Ok(AuthResponse::Done)
            }
        }
    }

    fn changed(&mut self) -> Result<AuthResponse, AuthError> {
        self.revision += 1;
        self.refresh();
        Ok(AuthResponse::Done)
    }

    /// Rebuilds every user's merged permissions (etcd's range permission
    /// cache): auth changes are rare, checks are on every request.
    fn refresh(&mut self) {
        let roles = &self.roles;
        self.merged = self
            .users
            .values()
            .map(|user| {
                let perms = user
                    .roles
                    .iter()
                    .filter_map(|r| roles.get(r))
                    .flat_map(|r| r.perms.iter());
                (user.name.clone(), MergedPerms::merge(perms))
            })
            .collect();
    }
}

fn has_root_role(user: &User) -> bool {
    user.roles.iter().any(|r| r == ROOT_ROLE)
}

#[cfg(test)]
mod tests {
    use super::super::{PermType, Permission};
    use super::*;

    const T0: Instant = Instant::ZERO;

    fn root_store() -> AuthStore {
        let mut store = AuthStore::new(1_000);
        let sys = Identity::System;
        for op in [
            AuthOp::UserAdd {
                name: "root".into(),
                password_hash: b"h".to_vec(),
                no_password: false,
            },
            AuthOp::UserGrantRole {
                user: "root".into(),
                role: "root".into(),
            },
            AuthOp::UserAdd {
                name: "alice".into(),
                password_hash: b"h".to_vec(),
                no_password: false,
            },
            AuthOp::RoleAdd { name: "r".into() },
            AuthOp::RoleGrantPermission {
                name: "r".into(),
                perm: Permission {
                    key: b"a/".to_vec(),
                    range_end: b"a0".to_vec(),
                    perm_type: PermType::Read,
                },
            },
            AuthOp::UserGrantRole {
                user: "alice".into(),
                role: "r".into(),
            },
        ] {
            store.apply(&sys, &op, T0).expect("setup");
        }
        store
    }

    #[test]
    fn permissions_keep_etcds_order() {
        let mut store = root_store();
        let grant = |store: &mut AuthStore, key: &[u8], end: &[u8], perm_type| {
            let perm = Permission {
                key: key.to_vec(),
                range_end: end.to_vec(),
                perm_type,
            };
            let op = AuthOp::RoleGrantPermission {
                name: "r".into(),
                perm,
            };
            store.apply(&Identity::System, &op, T0).unwrap();
        };
        // Sorted by key; the same key in grant order; the first with a key
        // is updated in place.
        grant(&mut store, b"a/", b"a1", PermType::Write);
        grant(&mut store, b"a/", b"a/", PermType::Read);
        grant(&mut store, b"0", b"", PermType::Read);
        grant(&mut store, b"a/", b"a0", PermType::ReadWrite);
        let Ok(AuthResponse::Role { perms }) =
            store.query(&Identity::System, &AuthQuery::RoleGet { name: "r".into() })
        else {
            panic!("role r");
        };
        let listed: Vec<(&[u8], &[u8], PermType)> = perms
            .iter()
            .map(|p| (&p.key[..], &p.range_end[..], p.perm_type))
            .collect();
        assert_eq!(
            listed,
            [
                (&b"0"[..], &b""[..], PermType::Read),
                (b"a/", b"a0", PermType::ReadWrite),
                (b"a/", b"a1", PermType::Write),
                (b"a/", b"a/", PermType::Read),
            ]
        );
    }

    #[test]
    fn enabling_needs_root_with_the_root_role() {
        let mut store = AuthStore::new(1_000);
        let sys = Identity::System;
        assert_eq!(
            store.apply(&sys, &AuthOp::Enable, T0),
            Err(AuthError::RootUserNotExist)
        );
        let add = AuthOp::UserAdd {
            name: "root".into(),
            password_hash: Vec::new(),
            no_password: true,
        };
        store.apply(&sys, &add, T0).unwrap();
        assert_eq!(
            store.apply(&sys, &AuthOp::Enable, T0),
            Err(AuthError::RootRoleNotExist)
        );
        let grant = AuthOp::UserGrantRole {
            user: "root".into(),
            role: "root".into(),
        };
        store.apply(&sys, &grant, T0).unwrap();
        store.apply(&sys, &AuthOp::Enable, T0).unwrap();
        assert!(store.is_enabled());
        // Root's root role and root itself cannot go while enabled.
        let revoke = AuthOp::UserRevokeRole {
            name: "root".into(),
            role: "root".into(),
        };
        assert_eq!(
            store.apply(&sys, &revoke, T0),
            Err(AuthError::InvalidAuthMgmt)
        );
        let delete = AuthOp::UserDelete {
            name: "root".into(),
        };
        assert_eq!(
            store.apply(&sys, &delete, T0),
            Err(AuthError::InvalidAuthMgmt)
        );
    }

    #[test]
    fn checks_follow_roles_and_revisions() {
        let mut store = root_store();
        let alice = Identity::User("alice".into());
        // Disabled: nobody is checked.
        assert_eq!(
            store.check(&Identity::Anonymous, Access::Write, b"x", b""),
            Ok(())
        );
        store.apply(&Identity::System, &AuthOp::Enable, T0).unwrap();
        assert_eq!(
            store.check(&Identity::Anonymous, Access::Read, b"a/1", b""),
            Err(AuthError::UserEmpty)
        );
        assert_eq!(store.check(&alice, Access::Read, b"a/1", b""), Ok(()));
        assert_eq!(store.check(&alice, Access::Read, b"a/", b"a0"), Ok(()));
        assert_eq!(
            store.check(&alice, Access::Write, b"a/1", b""),
            Err(AuthError::PermissionDenied)
        );
        assert_eq!(
            store.check(&alice, Access::Read, b"b", b""),
            Err(AuthError::PermissionDenied)
        );
        let root = Identity::User("root".into());
        assert_eq!(store.check(&root, Access::Write, b"", b"\0"), Ok(()));
        // Only root manages.
        let add = AuthOp::RoleAdd { name: "x".into() };
        assert_eq!(
            store.apply(&alice, &add, T0),
            Err(AuthError::PermissionDenied)
        );
        // A revoked role takes its permissions with it.
        let revoke = AuthOp::UserRevokeRole {
            name: "alice".into(),
            role: "r".into(),
        };
        let before = store.revision();
        store.apply(&root, &revoke, T0).unwrap();
        assert_eq!(store.revision(), before + 1);
        assert_eq!(
            store.check(&alice, Access::Read, b"a/1", b""),
            Err(AuthError::PermissionDenied)
        );
        // A JWT issued before the change is stale.
        let stale = Caller::User {
            name: "alice".into(),
            revision: Some(before),
        };
        assert_eq!(store.identify(&stale, T0), Err(AuthError::AuthOldRevision));
    }

    #[test]
    fn simple_tokens_expire_and_die_with_their_user() {
        let mut store = root_store();
        store.apply(&Identity::System, &AuthOp::Enable, T0).unwrap();
        let revision = store.revision();
        let login = AuthOp::Authenticate {
            name: "alice".into(),
            token: "tok.1".into(),
            checked_revision: revision,
        };
        store.apply(&Identity::Anonymous, &login, T0).unwrap();
        let caller = Caller::Token("tok.1".into());
        assert_eq!(
            store.identify(&caller, T0 + 900),
            Ok(Identity::User("alice".into()))
        );
        // Used at 900 ms: alive until 1,900 ms.
        assert!(store.identify(&caller, T0 + 1_800).is_ok());
        assert_eq!(
            store.identify(&caller, T0 + 5_000),
            Err(AuthError::InvalidAuthToken)
        );
        assert_eq!(
            store.identify(&Caller::Token("forged".into()), T0),
            Err(AuthError::InvalidAuthToken)
        );
        // A stale password check is refused; a deleted user's token dies.
        let stale = AuthOp::Authenticate {
            name: "alice".into(),
            token: "tok.2".into(),
            checked_revision: revision - 1,
        };
        assert_eq!(
            store.apply(&Identity::Anonymous, &stale, T0),
            Err(AuthError::AuthOldRevision)
        );
        let again = AuthOp::Authenticate {
            name: "alice".into(),
            token: "tok.3".into(),
            checked_revision: revision,
        };
        store.apply(&Identity::Anonymous, &again, T0).unwrap();
        let delete = AuthOp::UserDelete {
            name: "alice".into(),
        };
        store
            .apply(&Identity::User("root".into()), &delete, T0)
            .unwrap();
        assert_eq!(
            store.identify(&Caller::Token("tok.3".into()), T0),
            Err(AuthError::InvalidAuthToken)
        );
    }

    #[test]
    fn users_read_themselves_and_their_roles_only() {
        let mut store = root_store();
        store.apply(&Identity::System, &AuthOp::Enable, T0).unwrap();
        let alice = Identity::User("alice".into());
        let own = AuthQuery::UserGet {
            name: "alice".into(),
        };
        assert!(store.query(&alice, &own).is_ok());
        let other = AuthQuery::UserGet {
            name: "root".into(),
        };
        assert_eq!(
            store.query(&alice, &other),
            Err(AuthError::PermissionDenied)
        );
        assert!(store
            .query(&alice, &AuthQuery::RoleGet { name: "r".into() })
            .is_ok());
        assert_eq!(
            store.query(&alice, &AuthQuery::UserList),
            Err(AuthError::PermissionDenied)
        );
        // Hashes go to the member's own server only.
        let hash = AuthQuery::PasswordHash {
            name: "alice".into(),
        };
        assert_eq!(store.query(&alice, &hash), Err(AuthError::PermissionDenied));
        assert!(store.query(&Identity::System, &hash).is_ok());
    }
}
