//! etcd's `Auth` service: users, roles, permissions, the enabled flag, and
//! `Authenticate`, which checks a password and issues a token. Tokens,
//! password hashes and who a request comes from are [`super::tokens`]'
//! business; changes and queries are typed calls to the member, which checks
//! that the caller may make them.

use cairn_core::auth::{AuthError, AuthOp, Caller, PermType, Permission};
use cairn_core::member::{calls, Call, ClientError, Header};
use cairn_proto::{authpb, etcdserverpb as pb};
use tonic::{Request, Response, Status};

use super::backend::Backend;
use super::{convert, errors};

/// Attempts at `Authenticate` when the auth state changes under it.
const AUTHENTICATE_ATTEMPTS: usize = 3;

/// The `Auth` service.
#[derive(Clone, Debug)]
pub struct AuthService {
    backend: Backend,
}

impl AuthService {
    pub fn new(backend: Backend) -> AuthService {
        AuthService { backend }
    }

    /// An auth change from the caller of `request`; answers its header.
    async fn change<T>(&self, request: &Request<T>, op: AuthOp) -> Result<Header, Status> {
        let caller = self.backend.caller(request)?;
        let (header, ()) = self.backend.call(caller, op).await?;
        Ok(header)
    }

    /// An auth query from the caller of `request`.
    async fn query<T, C: Call>(
        &self,
        request: &Request<T>,
        query: C,
    ) -> Result<(Header, C::Response), Status> {
        let caller = self.backend.caller(request)?;
        self.backend.call(caller, query).await
    }

    /// Checks a password and issues a token (etcd's `Authenticate`).
    async fn login(&self, name: String, password: String) -> Result<(Header, String), Status> {
        let tokens = self.backend.tokens();
        for _ in 0..AUTHENTICATE_ATTEMPTS {
            let query = calls::PasswordHash { name: name.clone() };
            let (read_header, stored) = self.backend.call(Caller::System, query).await?;
            if !tokens
                .password_matches(password.clone(), stored.hash)
                .await?
            {
                return Err(errors::auth_error(AuthError::AuthFailed));
            }
            if let Some(signed) = tokens.sign_jwt(&name, stored.revision) {
                // A JWT needs no log entry: answer with the header of the
                // linearizable read that fetched the password hash.
                return Ok((read_header, signed?));
            }
            let token = tokens.simple_token()?;
            let op = AuthOp::Authenticate {
                name: name.clone(),
                token: token.clone(),
                checked_revision: stored.revision,
            };
            match self.backend.try_call(Caller::System, op).await {
                Ok((header, ())) => return Ok((header, token)),
                // The auth state changed between the check and the log:
                // check the password again against the new state.
                Err((_, ClientError::Auth(AuthError::AuthOldRevision))) => continue,
                Err((_, error)) => return Err(errors::client_error(&error)),
            }
        }
        Err(errors::auth_error(AuthError::AuthOldRevision))
    }
}

fn header_of(header: &Header) -> Option<pb::ResponseHeader> {
    Some(convert::header(header))
}

fn perm_type(value: i32) -> Result<PermType, Status> {
    u8::try_from(value)
        .ok()
        .and_then(PermType::from_byte)
        .ok_or_else(|| {
            Status::invalid_argument(format!("etcdserver: invalid permission type {value}"))
        })
}

#[tonic::async_trait]
impl pb::auth_server::Auth for AuthService {
    async fn auth_enable(
        &self,
        request: Request<pb::AuthEnableRequest>,
    ) -> Result<Response<pb::AuthEnableResponse>, Status> {
        let header = self.change(&request, AuthOp::Enable).await?;
        Ok(Response::new(pb::AuthEnableResponse {
            header: header_of(&header),
        }))
    }

    async fn auth_disable(
        &self,
        request: Request<pb::AuthDisableRequest>,
    ) -> Result<Response<pb::AuthDisableResponse>, Status> {
        let header = self.change(&request, AuthOp::Disable).await?;
        Ok(Response::new(pb::AuthDisableResponse {
            header: header_of(&header),
        }))
    }

    async fn auth_status(
        &self,
        request: Request<pb::AuthStatusRequest>,
    ) -> Result<Response<pb::AuthStatusResponse>, Status> {
        let (header, state) = self.query(&request, calls::AuthStatus).await?;
        Ok(Response::new(pb::AuthStatusResponse {
            header: header_of(&header),
            enabled: state.enabled,
            auth_revision: state.revision,
        }))
    }

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        let request = request.into_inner();
        let (header, token) = self.login(request.name, request.password).await?;
        Ok(Response::new(pb::AuthenticateResponse {
            header: header_of(&header),
            token,
        }))
    }

    async fn user_add(
        &self,
        request: Request<pb::AuthUserAddRequest>,
    ) -> Result<Response<pb::AuthUserAddResponse>, Status> {
        let no_password = request
            .get_ref()
            .options
            .as_ref()
            .is_some_and(|o| o.no_password);
        let name = request.get_ref().name.clone();
        if name.is_empty() {
            return Err(errors::auth_error(AuthError::UserEmpty));
        }
        let password_hash = if no_password {
            Vec::new()
        } else {
            self.backend
                .tokens()
                .hash_password(request.get_ref().password.clone())
                .await?
        };
        let op = AuthOp::UserAdd {
            name,
            password_hash,
            no_password,
        };
        let header = self.change(&request, op).await?;
        Ok(Response::new(pb::AuthUserAddResponse {
            header: header_of(&header),
        }))
    }

    async fn user_get(
        &self,
        request: Request<pb::AuthUserGetRequest>,
    ) -> Result<Response<pb::AuthUserGetResponse>, Status> {
        let name = request.get_ref().name.clone();
        let (header, roles) = self.query(&request, calls::UserGet { name }).await?;
        Ok(Response::new(pb::AuthUserGetResponse {
            header: header_of(&header),
            roles,
        }))
    }

    async fn user_list(
        &self,
        request: Request<pb::AuthUserListRequest>,
    ) -> Result<Response<pb::AuthUserListResponse>, Status> {
        let (header, users) = self.query(&request, calls::UserList).await?;
        Ok(Response::new(pb::AuthUserListResponse {
            header: header_of(&header),
            users,
        }))
    }

    async fn user_delete(
        &self,
        request: Request<pb::AuthUserDeleteRequest>,
    ) -> Result<Response<pb::AuthUserDeleteResponse>, Status> {
        let name = request.get_ref().name.clone();
        let header = self.change(&request, AuthOp::UserDelete { name }).await?;
        Ok(Response::new(pb::AuthUserDeleteResponse {
            header: header_of(&header),
        }))
    }

    async fn user_change_password(
        &self,
        request: Request<pb::AuthUserChangePasswordRequest>,
    ) -> Result<Response<pb::AuthUserChangePasswordResponse>, Status> {
        let name = request.get_ref().name.clone();
        let password_hash = self
            .backend
            .tokens()
            .hash_password(request.get_ref().password.clone())
            .await?;
        let op = AuthOp::UserChangePassword {
            name,
            password_hash,
        };
        let header = self.change(&request, op).await?;
        Ok(Response::new(pb::AuthUserChangePasswordResponse {
            header: header_of(&header),
        }))
    }

    async fn user_grant_role(
        &self,
        request: Request<pb::AuthUserGrantRoleRequest>,
    ) -> Result<Response<pb::AuthUserGrantRoleResponse>, Status> {
        let pb::AuthUserGrantRoleRequest { user, role } = request.get_ref().clone();
        let header = self
            .change(&request, AuthOp::UserGrantRole { user, role })
            .await?;
        Ok(Response::new(pb::AuthUserGrantRoleResponse {
            header: header_of(&header),
        }))
    }

    async fn user_revoke_role(
        &self,
        request: Request<pb::AuthUserRevokeRoleRequest>,
    ) -> Result<Response<pb::AuthUserRevokeRoleResponse>, Status> {
        let pb::AuthUserRevokeRoleRequest { name, role } = request.get_ref().clone();
        let header = self
            .change(&request, AuthOp::UserRevokeRole { name, role })
            .await?;
        Ok(Response::new(pb::AuthUserRevokeRoleResponse {
            header: header_of(&header),
        }))
    }

    async fn role_add(
        &self,
        request: Request<pb::AuthRoleAddRequest>,
    ) -> Result<Response<pb::AuthRoleAddResponse>, Status> {
        let name = request.get_ref().name.clone();
        let header = self.change(&request, AuthOp::RoleAdd { name }).await?;
        Ok(Response::new(pb::AuthRoleAddResponse {
            header: header_of(&header),
        }))
    }

    async fn role_get(
        &self,
        request: Request<pb::AuthRoleGetRequest>,
    ) -> Result<Response<pb::AuthRoleGetResponse>, Status> {
        let name = request.get_ref().role.clone();
        let (header, perms) = self.query(&request, calls::RoleGet { name }).await?;
        Ok(Response::new(pb::AuthRoleGetResponse {
            header: header_of(&header),
            perm: perms
                .into_iter()
                .map(|p| authpb::Permission {
                    perm_type: i32::from(p.perm_type.to_byte()),
                    key: p.key.into(),
                    range_end: p.range_end.into(),
                })
                .collect(),
        }))
    }

    async fn role_list(
        &self,
        request: Request<pb::AuthRoleListRequest>,
    ) -> Result<Response<pb::AuthRoleListResponse>, Status> {
        let (header, roles) = self.query(&request, calls::RoleList).await?;
        Ok(Response::new(pb::AuthRoleListResponse {
            header: header_of(&header),
            roles,
        }))
    }

    async fn role_delete(
        &self,
        request: Request<pb::AuthRoleDeleteRequest>,
    ) -> Result<Response<pb::AuthRoleDeleteResponse>, Status> {
        let name = request.get_ref().role.clone();
        let header = self.change(&request, AuthOp::RoleDelete { name }).await?;
        Ok(Response::new(pb::AuthRoleDeleteResponse {
            header: header_of(&header),
        }))
    }

    async fn role_grant_permission(
        &self,
        request: Request<pb::AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<pb::AuthRoleGrantPermissionResponse>, Status> {
        let name = request.get_ref().name.clone();
        let perm = request
            .get_ref()
            .perm
            .clone()
            .ok_or_else(|| Status::invalid_argument("etcdserver: permission is not given"))?;
        let perm = Permission {
            perm_type: perm_type(perm.perm_type)?,
            key: perm.key.to_vec(),
            range_end: perm.range_end.to_vec(),
        };
        let header = self
            .change(&request, AuthOp::RoleGrantPermission { name, perm })
            .await?;
        Ok(Response::new(pb::AuthRoleGrantPermissionResponse {
            header: header_of(&header),
        }))
    }

    async fn role_revoke_permission(
        &self,
        request: Request<pb::AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<pb::AuthRoleRevokePermissionResponse>, Status> {
        let pb::AuthRoleRevokePermissionRequest {
            role,
            key,
            range_end,
        } = request.get_ref().clone();
        let op = AuthOp::RoleRevokePermission {
            role,
            key: key.to_vec(),
            range_end: range_end.to_vec(),
        };
        let header = self.change(&request, op).await?;
        Ok(Response::new(pb::AuthRoleRevokePermissionResponse {
            header: header_of(&header),
        }))
    }
}
