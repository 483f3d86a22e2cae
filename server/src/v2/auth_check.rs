//! Who a v2 request comes from, and whether it may do what it asks, as
//! etcd's `v2http/client_auth.go` decides (`hasKeyPrefixAccess`,
//! `hasRootAccess`, `hasWriteRootAccess`) when v2 auth is on: HTTP basic
//! credentials checked against the user's bcrypt hash, the key against the
//! globs of the user's roles (the guest role's without credentials).
//!
//! bcrypt runs off the async threads. A verified password is remembered by
//! user and SHA-256 of the password, with the hash it matched: a changed
//! password (or a user deleted and created again) has another hash, so the
//! memory never outlives the user record it was checked against.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method};
use cairn_core::auth::Caller;
use cairn_core::member::{V2Request, V2Result};
use cairn_core::v2store::{V2Auth, V2User};

use super::V2Shared;

/// How many verified credentials are remembered; past it, all are forgotten.
const VERIFIED_CREDENTIALS_MAX: usize = 1024;

/// `(user, SHA-256 of the password)`.
type CredentialKey = (String, [u8; 32]);

/// Hashes and checks v2 passwords (`--bcrypt-cost`, as the v3 auth).
#[derive(Clone, Debug)]
pub struct V2Passwords {
    bcrypt_cost: u32,
    /// Credentials that matched, with the hash they matched.
    verified: Arc<Mutex<BTreeMap<CredentialKey, String>>>,
}

impl V2Passwords {
    pub fn new(bcrypt_cost: u32) -> V2Passwords {
        V2Passwords {
            bcrypt_cost,
            verified: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// A bcrypt hash of `password`, computed off the async threads.
    pub async fn hash(&self, password: String) -> Result<String, String> {
        let cost = self.bcrypt_cost;
        tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// etcd's `CheckPassword`: whether `password` matches the user's hash.
    pub async fn matches(&self, user: &V2User, password: Vec<u8>) -> bool {
        let digest = ring::digest::digest(&ring::digest::SHA256, &password);
        let mut sha = [0u8; 32];
        sha.copy_from_slice(digest.as_ref());
        let key = (user.name.clone(), sha);
        if self.remembered(&key).as_deref() == Some(user.password_hash.as_str()) {
            return true;
        }
        let hash = user.password_hash.clone();
        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if matched {
            self.remember(key, user.password_hash.clone());
        }
        matched
    }

    fn remembered(&self, key: &CredentialKey) -> Option<String> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.get(key).cloned()
    }

    fn remember(&self, key: CredentialKey, hash: String) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CREDENTIALS_MAX {
            verified.clear();
        }
        verified.insert(key, hash);
    }
}

/// The member's v2 auth state; `None` if it could not answer.
pub async fn auth_state(shared: &V2Shared) -> Option<Box<V2Auth>> {
    match shared.handle.call(Caller::System, V2Request::AuthGet).await {
        Ok((_, answer)) => match answer.result {
            V2Result::AuthState(auth) => Some(auth),
            _ => None,
        },
        Err(_) => None,
    }
}

/// Go's `Request.BasicAuth`: `Basic ` (any case) and base64 of
/// `user:password`; the password as bytes.
fn basic_credentials(value: &[u8]) -> Option<(String, Vec<u8>)> {
    const PREFIX: &[u8] = b"basic ";
    if value.len() < PREFIX.len() || !value[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let decoded = base64_std_decode(&value[PREFIX.len()..])?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// Go's `base64.StdEncoding.DecodeString`: padded, `\r` and `\n` skipped.
fn base64_std_decode(text: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    if !digits.len().is_multiple_of(4) {
        return None;
    }
    let value = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(digits.len() / 4 * 3);
    let quads = digits.chunks(4).count();
    for (i, quad) in digits.chunks(4).enumerate() {
        let padding = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if padding > 2 || (padding > 0 && i + 1 != quads) {
            return None;
        }
        let mut bits = 0u32;
        for &b in &quad[..4 - padding] {
            bits = bits << 6 | value(b)?;
        }
        bits <<= 6 * padding as u32;
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        out.extend_from_slice(&bytes[..3 - padding]);
    }
    Some(out)
}

/// The `Authorization` header as Go's `Header.Get` gives it; `None` when
/// absent or empty (a request without credentials).
fn authorization(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|value| value.as_bytes())
        .filter(|value| !value.is_empty())
}

/// etcd's `userFromBasicAuth`: the user whose password the credentials give.
async fn basic_auth_user(shared: &V2Shared, auth: &V2Auth, headers: &HeaderMap) -> Option<V2User> {
    let (name, password) = basic_credentials(authorization(headers)?)?;
    let user = auth.user(&name)?;
    shared
        .passwords
        .matches(&user, password)
        .await
        .then_some(user)
}

/// etcd's `hasRootAccess`: auth off, or credentials of a user with the root
/// role.
pub async fn has_root_access(shared: &V2Shared, auth: &V2Auth, headers: &HeaderMap) -> bool {
    if !auth.enabled() {
        return true;
    }
    match basic_auth_user(shared, auth, headers).await {
        Some(user) => V2Auth::is_root(&user),
        None => false,
    }
}

/// etcd's `hasWriteRootAccess`: reads are free, changes need root.
pub async fn has_write_root_access(
    shared: &V2Shared,
    method: &Method,
    headers: &HeaderMap,
) -> bool {
    if *method == Method::GET || *method == Method::HEAD {
        return true;
    }
    match auth_state(shared).await {
        Some(auth) => has_root_access(shared, &auth, headers).await,
        None => false,
    }
}

/// The form's `recursive` (etcd's `Request.Recursive`, which it checks
/// access with whatever the method); `parse` already refused a bad one.
pub fn form_recursive(method: &Method, query: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let form_body = (matches!(*method, Method::POST | Method::PUT | Method::PATCH)
        && super::keys::is_urlencoded(headers))
    .then_some(body);
    let (form, _) = super::form::Form::parse(query, form_body);
    form.bool("recursive").unwrap_or(false)
}

/// etcd's `hasKeyPrefixAccess` for `key` (the URL path after `/v2/keys`,
/// as the client sent it): auth off; or without credentials, the guest
/// role grants the key; or the credentials' user has a role that grants it
/// (the subtree under it for a recursive request). Reads are GET and HEAD.
pub async fn has_key_access(
    shared: &V2Shared,
    method: &Method,
    headers: &HeaderMap,
    key: &str,
    recursive: bool,
) -> bool {
    let Some(auth) = auth_state(shared).await else {
        return false;
    };
    if !auth.enabled() {
        return true;
    }
    let write = *method != Method::GET && *method != Method::HEAD;
    if authorization(headers).is_none() {
        return auth.guest_may_access(key, write);
    }
    match basic_auth_user(shared, &auth, headers).await {
        Some(user) => auth.user_may_access(&user, key, recursive, write),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_parse_as_go_parses_them() {
        // "root:pa:ss"
        assert_eq!(
            basic_credentials(b"Basic cm9vdDpwYTpzcw=="),
            Some(("root".to_string(), b"pa:ss".to_vec()))
        );
        assert_eq!(
            basic_credentials(b"bAsIc cm9vdDpwYXNz"),
            Some(("root".to_string(), b"pass".to_vec()))
        );
        // "root:" (empty password), then "root" (no colon).
        assert_eq!(
            basic_credentials(b"Basic cm9vdDo="),
            Some(("root".to_string(), Vec::new()))
        );
        assert_eq!(basic_credentials(b"Basic cm9vdA=="), None);
        assert_eq!(basic_credentials(b"Basic  cm9vdDpwYXNz"), None);
        assert_eq!(basic_credentials(b"Basic cm9vdDpwYXNz="), None);
        assert_eq!(basic_credentials(b"Bearer cm9vdDpwYXNz"), None);
        assert_eq!(basic_credentials(b"Basic"), None);
    }

    #[test]
    fn base64_is_gos_standard_encoding() {
        assert_eq!(base64_std_decode(b"").as_deref(), Some(&b""[..]));
        assert_eq!(base64_std_decode(b"YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_std_decode(b"YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_std_decode(b"YW\nJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(base64_std_decode(b"YQ"), None);
        assert_eq!(base64_std_decode(b"YQ==YQ=="), None);
        assert_eq!(base64_std_decode(b"Y==="), None);
        assert_eq!(base64_std_decode(b"YQ-_"), None);
    }

    #[tokio::test]
    async fn verified_passwords_are_remembered_with_their_hash() {
        let passwords = V2Passwords::new(4);
        let hash = passwords.hash("secret".into()).await.unwrap();
        let user = V2User {
            name: "u".into(),
            password_hash: hash,
            roles: None,
        };
        assert!(!passwords.matches(&user, b"wrong".to_vec()).await);
        assert!(passwords.matches(&user, b"secret".to_vec()).await);
        assert_eq!(passwords.verified.lock().unwrap().len(), 1);
        assert!(passwords.matches(&user, b"secret".to_vec()).await);
        // A new password: the remembered match is for another hash.
        let changed = V2User {
            password_hash: passwords.hash("other".into()).await.unwrap(),
            ..user
        };
        assert!(!passwords.matches(&changed, b"secret".to_vec()).await);
        assert!(passwords.matches(&changed, b"other".to_vec()).await);
    }
}
