//! Who calls: tokens (`--auth-token`: simple or JWT) read from a request's
//! metadata, or the common name of a verified client certificate; and what
//! issuing a token needs: bcrypt password hashes (`--bcrypt-cost`), simple
//! tokens, signed JWTs.
//!
//! Passwords are hashed here, on a blocking thread, before an `AuthUserAdd`
//! is proposed: the member only ever sees hashes. A password is checked here
//! too, against the hash read from the member, and only then is a token
//! issued: a simple token is made known to every member through the log; a
//! JWT is signed here and verified by whichever member receives it. Neither
//! passwords nor tokens are ever logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cairn_core::auth::{AuthError, Caller};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use tonic::{Request, Status};

use super::errors;
use crate::config::parse_duration;

/// The gRPC metadata key etcd's clients send their token under.
pub const TOKEN_METADATA: &str = "token";
/// The key etcd's gRPC gateway uses.
const GATEWAY_TOKEN_METADATA: &str = "authorization";

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
                .map_err(|_| errors::auth_error(AuthError::InvalidAuthToken))?;
            return match &self.kind {
                TokenKind::Simple => Ok(Caller::Token(token.to_string())),
                TokenKind::Jwt(jwt) => jwt.verify(token).map_err(errors::auth_error),
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
    pub async fn hash_password(&self, password: String) -> Result<Vec<u8>, Status> {
        let cost = self.bcrypt_cost;
        tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map(String::into_bytes)
            .map_err(|e| Status::internal(format!("failed to hash password: {e}")))
    }

    /// Whether `password` matches the bcrypt `hash` (checked off the async
    /// threads); a hash that is not bcrypt's matches nothing.
    pub async fn password_matches(&self, password: String, hash: Vec<u8>) -> Result<bool, Status> {
        tokio::task::spawn_blocking(move || {
            let hash = String::from_utf8(hash).unwrap_or_default();
            bcrypt::verify(password, &hash).unwrap_or(false)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))
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

    /// A JWT for `username` at auth revision `revision`; `None` for simple
    /// tokens, which are issued with [`TokenProvider::simple_token`] and
    /// made known through the log.
    pub(crate) fn sign_jwt(&self, username: &str, revision: u64) -> Option<Result<String, Status>> {
        match &self.kind {
            TokenKind::Simple => None,
            TokenKind::Jwt(jwt) => Some(jwt.sign(username, revision)),
        }
    }

    /// A fresh simple token: random, unguessable, and distinct per issue.
    pub(crate) fn simple_token(&self) -> Result<String, Status> {
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

    #[tokio::test]
    async fn passwords_are_hashed_and_checked_with_bcrypt() {
        let provider = TokenProvider::from_flags("simple", 4).unwrap();
        let hash = provider.hash_password("secret".into()).await.unwrap();
        assert!(hash.starts_with(b"$2b$04$"));
        assert!(provider
            .password_matches("secret".into(), hash.clone())
            .await
            .unwrap());
        assert!(!provider
            .password_matches("Secret".into(), hash)
            .await
            .unwrap());
        assert!(!provider
            .password_matches("secret".into(), b"not bcrypt".to_vec())
            .await
            .unwrap());
    }

    #[test]
    fn simple_tokens_differ() {
        let provider = TokenProvider::from_flags("simple", 10).unwrap();
        let a = provider.simple_token().unwrap();
        let b = provider.simple_token().unwrap();
        assert_ne!(a, b);
        assert!(a.len() > 16);
    }
}
