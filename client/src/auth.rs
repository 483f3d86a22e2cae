//! Authentication as etcd's clients do it: `Auth.Authenticate` with a name
//! and password once, then the token as `token` metadata on every request;
//! when a server answers "etcdserver: invalid auth token" (the token
//! expired, or the member restarted and forgot simple tokens), authenticate
//! again and repeat the request.

use std::sync::{Arc, RwLock};

use cairn_proto::etcdserverpb::auth_client::AuthClient;
use cairn_proto::etcdserverpb::AuthenticateRequest;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::Interceptor;
use tonic::transport::Channel;
use tonic::Status;

/// The metadata key etcd reads a token from.
pub const TOKEN_METADATA_KEY: &str = "token";

/// A name and password (`--user name:password`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub name: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("--user {0:?}: expected name:password")]
    NoPassword(String),
    #[error("authenticate as {name}: {}", status.message())]
    Refused { name: String, status: Status },
    #[error("the token for {0} is not ASCII")]
    TokenNotAscii(String),
}

impl Credentials {
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            name: name.into(),
            password: password.into(),
        }
    }

    /// `name:password`, split at the first colon as etcdctl does (a
    /// password may contain colons). etcdctl asks for a missing password on
    /// the terminal; a library cannot, so it is an error.
    pub fn parse(user: &str) -> Result<Credentials, AuthError> {
        match user.split_once(':') {
            Some((name, password)) => Ok(Credentials::new(name, password)),
            None => Err(AuthError::NoPassword(user.to_string())),
        }
    }

    /// One `Auth.Authenticate` over `channel`; the token it returns.
    pub async fn authenticate(&self, channel: Channel) -> Result<MetadataValue<Ascii>, AuthError> {
        let token = AuthClient::new(channel)
            .authenticate(AuthenticateRequest {
                name: self.name.clone(),
                password: self.password.clone(),
            })
            .await
            .map_err(|status| AuthError::Refused {
                name: self.name.clone(),
                status,
            })?
            .into_inner()
            .token;
        token
            .parse()
            .map_err(|_| AuthError::TokenNotAscii(self.name.clone()))
    }
}

/// The token every request carries, shared by all of a client's channels.
/// Each replacement bumps a generation, so that of several requests refused
/// with the same stale token only one authenticates again.
#[derive(Clone, Default)]
pub struct TokenCell(Arc<RwLock<TokenState>>);

/// Shows the generation, never the token.
impl std::fmt::Debug for TokenCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCell")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct TokenState {
    token: Option<MetadataValue<Ascii>>,
    generation: u64,
}

impl TokenCell {
    /// The generation of the token in use now.
    pub fn generation(&self) -> u64 {
        self.0.read().expect("token lock").generation
    }

    /// Replaces the token.
    pub fn set(&self, token: MetadataValue<Ascii>) {
        let mut state = self.0.write().expect("token lock");
        state.token = Some(token);
        state.generation += 1;
    }

    fn get(&self) -> Option<MetadataValue<Ascii>> {
        self.0.read().expect("token lock").token.clone()
    }
}

/// Puts the current token (if any) on every request.
#[derive(Clone, Debug, Default)]
pub struct AuthInterceptor {
    token: TokenCell,
}

impl AuthInterceptor {
    pub fn new(token: TokenCell) -> AuthInterceptor {
        AuthInterceptor { token }
    }
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(token) = self.token.get() {
            request.metadata_mut().insert(TOKEN_METADATA_KEY, token);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_flags_split_at_the_first_colon() {
        let credentials = Credentials::parse("alice:pa:ss").expect("valid");
        assert_eq!(credentials, Credentials::new("alice", "pa:ss"));
        assert!(matches!(
            Credentials::parse("alice"),
            Err(AuthError::NoPassword(_))
        ));
        assert!(!format!("{credentials:?}").contains("pa:ss"));
    }

    #[test]
    fn the_interceptor_sends_the_latest_token() {
        let cell = TokenCell::default();
        let mut interceptor = AuthInterceptor::new(cell.clone());
        let request = interceptor.call(tonic::Request::new(())).expect("passes");
        assert!(request.metadata().get(TOKEN_METADATA_KEY).is_none());
        cell.set("t1".parse().expect("ascii"));
        cell.set("t2".parse().expect("ascii"));
        assert_eq!(cell.generation(), 2);
        let request = interceptor.call(tonic::Request::new(())).expect("passes");
        assert_eq!(request.metadata().get(TOKEN_METADATA_KEY).unwrap(), "t2");
    }
}
