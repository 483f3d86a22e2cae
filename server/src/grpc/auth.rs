//! etcd's `Auth` service, and how the other services learn who calls them.
//!
//! Passwords are hashed with bcrypt here, on a blocking thread, before an
//! `AuthUserAdd` is proposed: the member only ever sees hashes. A password is
//! checked here too, against the hash read from the member, and only then is
//! a token issued: a simple token is made known to every member through the
//! log; a JWT is signed here and verified by whichever member receives it.
//! Neither passwords nor tokens are ever logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cairn_core::auth::{AuthError, AuthOp, AuthQuery, AuthResponse, Caller, PermType, Permission};
use cairn_core::member::{AuthRequest, ClientRequest, ClientResponse, Header};
use cairn_proto::{authpb, etcdserverpb as pb};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use tonic::{Request, Response, Status};

use super::services::Services;
use super::{convert, status};
use crate::config::parse_duration;

/// The gRPC metadata key etcd's clients send their token under.
pub const TOKEN_METADATA: &str = "token";
/// The key etcd's gRPC gateway uses.
const GATEWAY_TOKEN_METADATA: &str = "authorization";
/// Attempts at `Authenticate` when the auth state changes under it.
const AUTHENTICATE_ATTEMPTS: usize = 3;

/// How tokens are made and read: `--auth-token`.
pub struct TokenProvider {
    kind: TokenKind,
    bcrypt_cost: u32,
    next_simple: AtomicU64,
}

enum TokenKind {
    Simple,
    Jwt(Jwt),
}

struct Jwt {
    /// Absent: this member verifies tokens but cannot issue them.
    signing: Option<EncodingKey>,
    verifying: DecodingKey,
    algorithm: Algorithm,
    ttl: Duration,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            TokenKind::Simple => "simple",
            TokenKind::Jwt(_) => "jwt",
        };
        f.debug_struct("TokenProvider")
            .field("kind", &kind)
            .finish()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    username: String,
    revision: u64,
    exp: u64,
}

impl TokenProvider {
    /// Parses `--auth-token` (`simple`, or `jwt,pub-key=…,priv-key=…,
    /// sign-method=…,ttl=…`) and `--bcrypt-cost`, reading key files.
    pub fn from_flags(spec: &str, bcrypt_cost: u64) -> Result<TokenProvider, String> {
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(format!(
                "invalid bcrypt-cost {bcrypt_cost}: it must be between 4 and 31"
            ));
        }
        let mut parts = spec.split(',');
        let kind = match parts.next().unwrap_or_default() {
            "simple" => TokenKind::Simple,
            "jwt" => TokenKind::Jwt(Jwt::from_options(parts)?),
            other => return Err(format!("unknown token type: {other}")),
        };
        Ok(TokenProvider {
            kind,
            bcrypt_cost: bcrypt_cost as u32,
            next_simple: AtomicU64::new(1),
        })
    }

    /// A JWT provider that signs and verifies HS256 tokens with `secret`, read
    /// from no file: for the fuzz bodies ([`crate::fuzzing`]).
    pub(crate) fn jwt_hs256(secret: &[u8]) -> TokenProvider {
        TokenProvider {
            kind: TokenKind::Jwt(Jwt {
                signing: Some(EncodingKey::from_secret(secret)),
                verifying: DecodingKey::from_secret(secret),
                algorithm: Algorithm::HS256,
                ttl: Duration::from_secs(300),
            }),
            bcrypt_cost: bcrypt::DEFAULT_COST,
            next_simple: AtomicU64::new(1),
        }
    }

    /// A JWT for `username` at auth revision `revision`; `None` for simple tokens.
    pub(crate) fn sign_jwt(&self, username: &str, revision: u64) -> Option<Result<String, Status>> {
        match &self.kind {
            TokenKind::Simple => None,
            TokenKind::Jwt(jwt) => Some(jwt.sign(username, revision)),
        }
    }

    /// Who a request comes from: its token, else the verified client
    /// certificate's common name, else nobody.
    pub fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let metadata = request.metadata();
        let token = metadata
            .get(TOKEN_METADATA)
            .or_else(|| metadata.get(GATEWAY_TOKEN_METADATA));
        if let Some(token) = token {
            let token = token
                .to_str()
                .map_err(|_| status::auth_error(AuthError::InvalidAuthToken))?;
            return match &self.kind {
                TokenKind::Simple => Ok(Caller::Token(token.to_string())),
                TokenKind::Jwt(jwt) => jwt.verify(token).map_err(status::auth_error),
            };
        }
        if let Some(name) = request.extensions().get::<crate::tls::ClientCommonName>() {
            return Ok(Caller::User {
                name: name.0.clone(),
                revision: None,
            });
        }
        Ok(Caller::Anonymous)
    }

    /// A bcrypt hash of `password`, computed off the async threads.
    async fn hash(&self, password: String) -> Result<Vec<u8>, Status> {
        let cost = self.bcrypt_cost;
        tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map(String::into_bytes)
            .map_err(|e| Status::internal(format!("failed to hash password: {e}")))
    }

    /// A fresh simple token: random, unguessable, and distinct per issue.
    fn simple_token(&self) -> Result<String, Status> {
        const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| Status::internal(e.to_string()))?;
        let prefix: String = random
            .iter()
            .map(|b| LETTERS[*b as usize % LETTERS.len()] as char)
            .collect();
        let n = self.next_simple.fetch_add(1, Ordering::Relaxed);
        Ok(format!("{prefix}.{n}"))
    }
}

impl Jwt {
    fn from_options<'a>(options: impl Iterator<Item = &'a str>) -> Result<Jwt, String> {
        let mut public = None;
        let mut private = None;
        let mut method = None;
        let mut ttl = Duration::from_secs(300);
        for option in options {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| format!("invalid jwt option {option:?}: expected key=value"))?;
            match key {
                "pub-key" => public = Some(value.to_string()),
                "priv-key" => private = Some(value.to_string()),
                "sign-method" => method = Some(value.to_string()),
                "ttl" => ttl = parse_duration(value)?,
                other => return Err(format!("unknown jwt option {other:?}")),
            }
        }
        let method = method.ok_or("jwt: missing sign-method")?;
        let algorithm: Algorithm = method
            .parse()
            .map_err(|_| format!("jwt: unsupported sign-method {method:?}"))?;
        let read = |path: &str| {
            std::fs::read(path).map_err(|e| format!("jwt: cannot read key file {path:?}: {e}"))
        };
        let bad_key = |path: &str, e: jsonwebtoken::errors::Error| {
            format!("jwt: {path:?} is not a {method} key: {e}")
        };
        let (verifying, signing) = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let path = private.or(public).ok_or("jwt: missing priv-key")?;
                let secret = read(&path)?;
                (
                    DecodingKey::from_secret(&secret),
                    Some(EncodingKey::from_secret(&secret)),
                )
            }
            _ => {
                let public = public.ok_or("jwt: missing pub-key")?;
                let pem = read(&public)?;
                let verifying = match algorithm {
                    Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
                    _ => DecodingKey::from_rsa_pem(&pem),
                }
                .map_err(|e| bad_key(&public, e))?;
                let signing = match private {
                    None => None,
                    Some(path) => {
                        let pem = read(&path)?;
                        Some(
                            match algorithm {
                                Algorithm::ES256 | Algorithm::ES384 => {
                                    EncodingKey::from_ec_pem(&pem)
                                }
                                Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
                                _ => EncodingKey::from_rsa_pem(&pem),
                            }
                            .map_err(|e| bad_key(&path, e))?,
                        )
                    }
                };
                (verifying, signing)
            }
        };
        Ok(Jwt {
            signing,
            verifying,
            algorithm,
            ttl,
        })
    }

    fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 0;
        validation.required_spec_claims = ["exp".to_string()].into_iter().collect();
        let claims = jsonwebtoken::decode::<Claims>(token, &self.verifying, &validation)
            .map_err(|_| AuthError::InvalidAuthToken)?
            .claims;
        if claims.username.is_empty() {
            return Err(AuthError::InvalidAuthToken);
        }
        Ok(Caller::User {
            name: claims.username,
            revision: Some(claims.revision),
        })
    }

    fn sign(&self, username: &str, revision: u64) -> Result<String, Status> {
        let signing = self
            .signing
            .as_ref()
            .ok_or_else(|| Status::internal("jwt: this member has no priv-key to sign with"))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let claims = Claims {
            username: username.to_string(),
            revision,
            exp: (now + self.ttl).as_secs(),
        };
        jsonwebtoken::encode(&jsonwebtoken::Header::new(self.algorithm), &claims, signing)
            .map_err(|e| Status::internal(format!("jwt: signing failed: {e}")))
    }
}

impl Services {
    /// Submits an auth request from `caller`.
    async fn auth_call(
        &self,
        caller: Caller,
        request: AuthRequest,
    ) -> Result<(Header, AuthResponse), Status> {
        match self.call_as(caller, ClientRequest::Auth(request)).await? {
            (header, ClientResponse::Auth(response)) => Ok((header, response)),
            (_, other) => Err(Status::internal(format!(
                "etcdserver: unexpected response {other:?}"
            ))),
        }
    }

    /// An auth change from the caller of `request`; answers its header.
    async fn auth_change<T>(&self, request: &Request<T>, op: AuthOp) -> Result<Header, Status> {
        let caller = self.tokens.caller(request)?;
        let (header, _) = self.auth_call(caller, AuthRequest::Change(op)).await?;
        Ok(header)
    }

    async fn auth_query<T>(
        &self,
        request: &Request<T>,
        query: AuthQuery,
    ) -> Result<(Header, AuthResponse), Status> {
        let caller = self.tokens.caller(request)?;
        self.auth_call(caller, AuthRequest::Query(query)).await
    }

    /// Checks a password and issues a token (etcd's `Authenticate`).
    async fn login(&self, name: String, password: String) -> Result<(Header, String), Status> {
        let failed = || status::auth_error(AuthError::AuthFailed);
        for _ in 0..AUTHENTICATE_ATTEMPTS {
            let query = AuthQuery::PasswordHash { name: name.clone() };
            let (hash, revision) = match self
                .auth_call(Caller::System, AuthRequest::Query(query))
                .await?
            {
                (_, AuthResponse::PasswordHash { hash, revision }) => (hash, revision),
                _ => return Err(failed()),
            };
            let attempt = password.clone();
            let matches = tokio::task::spawn_blocking(move || {
                let hash = String::from_utf8(hash).unwrap_or_default();
                bcrypt::verify(attempt, &hash).unwrap_or(false)
            })
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
            if !matches {
                return Err(failed());
            }
            let token = match &self.tokens.kind {
                TokenKind::Jwt(jwt) => {
                    let (header, _) = self.call_as(Caller::System, ClientRequest::Status).await?;
                    return Ok((header, jwt.sign(&name, revision)?));
                }
                TokenKind::Simple => self.tokens.simple_token()?,
            };
            let op = AuthOp::Authenticate {
                name: name.clone(),
                token: token.clone(),
                checked_revision: revision,
            };
            match self
                .auth_call(Caller::System, AuthRequest::Change(op))
                .await
            {
                Ok((header, _)) => return Ok((header, token)),
                // The auth state changed between the check and the log:
                // check the password again against the new state.
                Err(error) if error.message() == status::AUTH_OLD_REVISION.message => continue,
                Err(error) => return Err(error),
            }
        }
        Err(status::auth_error(AuthError::AuthOldRevision))
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
impl pb::auth_server::Auth for Services {
    async fn auth_enable(
        &self,
        request: Request<pb::AuthEnableRequest>,
    ) -> Result<Response<pb::AuthEnableResponse>, Status> {
        let header = self.auth_change(&request, AuthOp::Enable).await?;
        Ok(Response::new(pb::AuthEnableResponse {
            header: header_of(&header),
        }))
    }

    async fn auth_disable(
        &self,
        request: Request<pb::AuthDisableRequest>,
    ) -> Result<Response<pb::AuthDisableResponse>, Status> {
        let header = self.auth_change(&request, AuthOp::Disable).await?;
        Ok(Response::new(pb::AuthDisableResponse {
            header: header_of(&header),
        }))
    }

    async fn auth_status(
        &self,
        request: Request<pb::AuthStatusRequest>,
    ) -> Result<Response<pb::AuthStatusResponse>, Status> {
        match self.auth_query(&request, AuthQuery::Status).await? {
            (header, AuthResponse::Status { enabled, revision }) => {
                Ok(Response::new(pb::AuthStatusResponse {
                    header: header_of(&header),
                    enabled,
                    auth_revision: revision,
                }))
            }
            (_, other) => Err(Status::internal(format!("unexpected {other:?}"))),
        }
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
            return Err(status::auth_error(AuthError::UserEmpty));
        }
        let password_hash = if no_password {
            Vec::new()
        } else {
            self.tokens.hash(request.get_ref().password.clone()).await?
        };
        let op = AuthOp::UserAdd {
            name,
            password_hash,
            no_password,
        };
        let header = self.auth_change(&request, op).await?;
        Ok(Response::new(pb::AuthUserAddResponse {
            header: header_of(&header),
        }))
    }

    async fn user_get(
        &self,
        request: Request<pb::AuthUserGetRequest>,
    ) -> Result<Response<pb::AuthUserGetResponse>, Status> {
        let name = request.get_ref().name.clone();
        match self
            .auth_query(&request, AuthQuery::UserGet { name })
            .await?
        {
            (header, AuthResponse::User { roles }) => Ok(Response::new(pb::AuthUserGetResponse {
                header: header_of(&header),
                roles,
            })),
            (_, other) => Err(Status::internal(format!("unexpected {other:?}"))),
        }
    }

    async fn user_list(
        &self,
        request: Request<pb::AuthUserListRequest>,
    ) -> Result<Response<pb::AuthUserListResponse>, Status> {
        match self.auth_query(&request, AuthQuery::UserList).await? {
            (header, AuthResponse::Users(users)) => Ok(Response::new(pb::AuthUserListResponse {
                header: header_of(&header),
                users,
            })),
            (_, other) => Err(Status::internal(format!("unexpected {other:?}"))),
        }
    }

    async fn user_delete(
        &self,
        request: Request<pb::AuthUserDeleteRequest>,
    ) -> Result<Response<pb::AuthUserDeleteResponse>, Status> {
        let name = request.get_ref().name.clone();
        let header = self
            .auth_change(&request, AuthOp::UserDelete { name })
            .await?;
        Ok(Response::new(pb::AuthUserDeleteResponse {
            header: header_of(&header),
        }))
    }

    async fn user_change_password(
        &self,
        request: Request<pb::AuthUserChangePasswordRequest>,
    ) -> Result<Response<pb::AuthUserChangePasswordResponse>, Status> {
        let name = request.get_ref().name.clone();
        let password_hash = self.tokens.hash(request.get_ref().password.clone()).await?;
        let op = AuthOp::UserChangePassword {
            name,
            password_hash,
        };
        let header = self.auth_change(&request, op).await?;
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
            .auth_change(&request, AuthOp::UserGrantRole { user, role })
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
            .auth_change(&request, AuthOp::UserRevokeRole { name, role })
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
        let header = self.auth_change(&request, AuthOp::RoleAdd { name }).await?;
        Ok(Response::new(pb::AuthRoleAddResponse {
            header: header_of(&header),
        }))
    }

    async fn role_get(
        &self,
        request: Request<pb::AuthRoleGetRequest>,
    ) -> Result<Response<pb::AuthRoleGetResponse>, Status> {
        let name = request.get_ref().role.clone();
        match self
            .auth_query(&request, AuthQuery::RoleGet { name })
            .await?
        {
            (header, AuthResponse::Role { perms }) => Ok(Response::new(pb::AuthRoleGetResponse {
                header: header_of(&header),
                perm: perms
                    .into_iter()
                    .map(|p| authpb::Permission {
                        perm_type: i32::from(p.perm_type.to_byte()),
                        key: p.key.into(),
                        range_end: p.range_end.into(),
                    })
                    .collect(),
            })),
            (_, other) => Err(Status::internal(format!("unexpected {other:?}"))),
        }
    }

    async fn role_list(
        &self,
        request: Request<pb::AuthRoleListRequest>,
    ) -> Result<Response<pb::AuthRoleListResponse>, Status> {
        match self.auth_query(&request, AuthQuery::RoleList).await? {
            (header, AuthResponse::Roles(roles)) => Ok(Response::new(pb::AuthRoleListResponse {
                header: header_of(&header),
                roles,
            })),
            (_, other) => Err(Status::internal(format!("unexpected {other:?}"))),
        }
    }

    async fn role_delete(
        &self,
        request: Request<pb::AuthRoleDeleteRequest>,
    ) -> Result<Response<pb::AuthRoleDeleteResponse>, Status> {
        let name = request.get_ref().role.clone();
        let header = self
            .auth_change(&request, AuthOp::RoleDelete { name })
            .await?;
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
            .auth_change(&request, AuthOp::RoleGrantPermission { name, perm })
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
        let header = self.auth_change(&request, op).await?;
        Ok(Response::new(pb::AuthRoleRevokePermissionResponse {
            header: header_of(&header),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_flags_are_checked() {
        assert!(TokenProvider::from_flags("simple", 10).is_ok());
        assert!(TokenProvider::from_flags("simple", 3)
            .unwrap_err()
            .contains("bcrypt-cost"));
        assert_eq!(
            TokenProvider::from_flags("paseto", 10).unwrap_err(),
            "unknown token type: paseto"
        );
        assert!(TokenProvider::from_flags("jwt,ttl=5m", 10)
            .unwrap_err()
            .contains("sign-method"));
        assert!(
            TokenProvider::from_flags("jwt,sign-method=RS256,pub-key=/nonexistent", 10)
                .unwrap_err()
                .contains("cannot read key file")
        );
        assert!(TokenProvider::from_flags("jwt,sign-method=XX1", 10)
            .unwrap_err()
            .contains("unsupported sign-method"));
    }

    #[test]
    fn jwt_tokens_verify_and_refuse_forgeries() {
        let dir = std::env::temp_dir().join(format!("cairn-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, b"a shared secret of some length").unwrap();
        let spec = format!("jwt,priv-key={},sign-method=HS256,ttl=1m", secret.display());
        let provider = TokenProvider::from_flags(&spec, 4).unwrap();
        let TokenKind::Jwt(jwt) = &provider.kind else {
            panic!("jwt expected");
        };
        let token = jwt.sign("alice", 7).unwrap();
        assert_eq!(
            jwt.verify(&token),
            Ok(Caller::User {
                name: "alice".into(),
                revision: Some(7)
            })
        );
        // A flipped signature byte, a truncated token, garbage: all refused.
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(jwt.verify(&forged), Err(AuthError::InvalidAuthToken));
        assert_eq!(
            jwt.verify(&token[..token.len() / 2]),
            Err(AuthError::InvalidAuthToken)
        );
        assert_eq!(jwt.verify("x.y.z"), Err(AuthError::InvalidAuthToken));
        // Signed with another key.
        std::fs::write(&secret, b"another secret entirely").unwrap();
        let other = TokenProvider::from_flags(&spec, 4).unwrap();
        let TokenKind::Jwt(other) = &other.kind else {
            panic!("jwt expected");
        };
        assert_eq!(other.verify(&token), Err(AuthError::InvalidAuthToken));
        std::fs::remove_dir_all(&dir).ok();
    }

    fn hs256(secret: &[u8]) -> TokenProvider {
        let dir = std::env::temp_dir().join(format!(
            "cairn-jwt-prop-{}-{}",
            std::process::id(),
            secret.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, secret).unwrap();
        let spec = format!("jwt,priv-key={},sign-method=HS256", path.display());
        let provider = TokenProvider::from_flags(&spec, 4).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        provider
    }

    proptest::proptest! {
        /// No string is accepted unless it is the token itself: random text
        /// and every single-character change of a real token are refused,
        /// and nothing panics.
        #[test]
        fn the_jwt_parser_accepts_only_what_it_signed(
            noise in "\\PC{0,200}",
            at in 0usize..1000,
            with in proptest::char::range('!', '~'),
        ) {
            let provider = hs256(b"a secret long enough for the test");
            let TokenKind::Jwt(jwt) = &provider.kind else { unreachable!() };
            proptest::prop_assert_eq!(jwt.verify(&noise), Err(AuthError::InvalidAuthToken));
            let token = jwt.sign("alice", 3).unwrap();
            let at = at % token.len();
            let mut changed: Vec<char> = token.chars().collect();
            if changed[at] != with {
                changed[at] = with;
                let changed: String = changed.into_iter().collect();
                let verdict = jwt.verify(&changed);
                // Base64 padding bits can absorb a change of the last
                // character of a part; anything else must be refused.
                if verdict.is_ok() {
                    proptest::prop_assert_eq!(verdict, jwt.verify(&token));
                }
            }
        }
    }

    #[test]
    fn simple_tokens_differ() {
        let provider = TokenProvider::from_flags("simple", 10).unwrap();
        let a = provider.simple_token().unwrap();
        let b = provider.simple_token().unwrap();
        assert_ne!(a, b);
        assert!(a.len() > 16);
    }

    #[test]
    fn client_errors_map_to_etcd_statuses() {
        use cairn_core::member::ClientError;
        let status = status::client_error(&ClientError::Auth(AuthError::PermissionDenied));
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert_eq!(status.message(), "etcdserver: permission denied");
    }
}
