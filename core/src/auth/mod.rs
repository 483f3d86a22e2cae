//! Authentication and authorization state: users, roles, key-range
//! permissions, the auth revision, and simple tokens.
//!
//! Everything here is replicated through the log (an [`AuthOp`] is applied on
//! every member in the same order) except simple tokens' expiry, which each
//! member keeps by its own clock, as etcd does. Passwords arrive already
//! hashed: hashing needs an OS random salt and is slow on purpose, so the
//! server does it before proposing, and checks a password against the hash
//! it reads from here, off the member's loop.

pub(crate) mod codec;
mod perms;
mod store;

pub use perms::MergedPerms;
pub use store::{AuthStore, Identity};

/// The user that must exist, with the root role, before auth is enabled.
pub const ROOT_USER: &str = "root";
/// The role that may do everything.
pub const ROOT_ROLE: &str = "root";

/// What a permission grants, numbered as etcd's `authpb.Permission.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PermType {
    Read,
    Write,
    ReadWrite,
}

impl PermType {
    pub const fn to_byte(self) -> u8 {
        match self {
            PermType::Read => 0,
            PermType::Write => 1,
            PermType::ReadWrite => 2,
        }
    }

    pub const fn from_byte(byte: u8) -> Option<PermType> {
        match byte {
            0 => Some(PermType::Read),
            1 => Some(PermType::Write),
            2 => Some(PermType::ReadWrite),
            _ => None,
        }
    }
}

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A key, a range or a prefix, and what may be done there (see
/// [`perms`](self) for how `range_end` is read).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub perm_type: PermType,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// A bcrypt hash (`$2b$...`), empty for a user added with `--no-password`.
    pub password_hash: Vec<u8>,
    /// Sorted, without duplicates.
    pub roles: Vec<String>,
    /// Added with `--no-password`: it can only authenticate by certificate.
    pub no_password: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// Sorted by (key, range_end), one per (key, range_end).
    pub perms: Vec<Permission>,
}

/// A change to the auth state, proposed through the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOp {
    Enable,
    Disable,
    UserAdd {
        name: String,
        password_hash: Vec<u8>,
        no_password: bool,
    },
    UserDelete {
        name: String,
    },
    UserChangePassword {
        name: String,
        password_hash: Vec<u8>,
    },
    UserGrantRole {
        user: String,
        role: String,
    },
    UserRevokeRole {
        name: String,
        role: String,
    },
    RoleAdd {
        name: String,
    },
    RoleDelete {
        name: String,
    },
    RoleGrantPermission {
        name: String,
        perm: Permission,
    },
    RoleRevokePermission {
        role: String,
        key: Vec<u8>,
        range_end: Vec<u8>,
    },
    /// A password was checked against the hash read at auth revision
    /// `checked_revision`; every member learns the new simple token.
    Authenticate {
        name: String,
        token: String,
        checked_revision: u64,
    },
}

impl AuthOp {
    /// Whether only a root user may ask for it.
    pub fn needs_admin(&self) -> bool {
        !matches!(self, AuthOp::Authenticate { .. })
    }
}

/// A question about the auth state, answered after a linearizable read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthQuery {
    Status,
    UserGet {
        name: String,
    },
    UserList,
    RoleGet {
        name: String,
    },
    RoleList,
    /// The password hash to check a password against (the server's own
    /// question, on behalf of `Authenticate`).
    PasswordHash {
        name: String,
    },
}

/// What an auth request answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthResponse {
    Done,
    Status { enabled: bool, revision: u64 },
    User { roles: Vec<String> },
    Users(Vec<String>),
    Role { perms: Vec<Permission> },
    Roles(Vec<String>),
    PasswordHash { hash: Vec<u8>, revision: u64 },
}

/// Why an auth request or a permission check failed: etcd's texts, which
/// clients match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    #[error("etcdserver: user name already exists")]
    UserAlreadyExist,
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    #[error("etcdserver: user name not found")]
    UserNotFound,
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExist,
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    #[error("etcdserver: invalid auth token")]
    InvalidAuthToken,
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
    #[error("etcdserver: revision of auth store is old")]
    AuthOldRevision,
    /// A password was given for a user added with `--no-password` (etcd
    /// sends this one without an `etcdserver:` code of its own).
    #[error("auth: authentication failed, password was given for no password user")]
    NoPasswordUser,
}

/// Who sent a client request, as far as the server can tell before the
/// member checks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// A simple token (the `token` metadata of a gRPC call).
    Token(String),
    /// A user the server vouches for: the subject of a JWT it verified (with
    /// the auth revision the token was issued at), or the common name of a
    /// verified client certificate (`revision` None: the current one).
    User { name: String, revision: Option<u64> },
    /// The member's own server (health and corruption checks), never refused.
    System,
}
