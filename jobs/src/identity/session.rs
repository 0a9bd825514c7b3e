//! The session: an HS256 JWT in an HttpOnly cookie holding exactly `sub` (Google uid), `email`,
//! `name`, `picture`, `iat`, `exp`. Nothing else, so the cookie is not a profile.

use crate::model::GoogleProfile;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The cookie's name.
pub const COOKIE_NAME: &str = "session";

/// The claims, exactly.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub sub: String,
    pub email: String,
    pub name: String,
    pub picture: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

impl std::fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionClaims([redacted])")
    }
}

/// What the store keeps of a signed-out cookie: the hex SHA-256 of the whole JWT. The claims
/// stay exactly the promised six (no `jti`): the token's own bytes (signature included) already
/// tell one session from every other, and a database reader cannot rebuild the cookie from it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why a session cookie was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("the session has expired; sign in again")]
    Expired,
    #[error("the session cookie is not valid; sign in again")]
    Invalid,
}

/// Signs and verifies session JWTs with the configured secret.
#[derive(Clone)]
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl SessionKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a session for this profile.
    pub fn issue(&self, profile: &GoogleProfile, now: i64) -> String {
        let claims = SessionClaims {
            sub: profile.google_uid.clone(),
            email: profile.email.clone(),
            name: profile.name.clone(),
            picture: profile.picture.clone(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of a small struct cannot fail")
    }

    /// Verifies signature (HS256 only) and expiry.
    pub fn verify(&self, token: &str) -> Result<SessionClaims, SessionError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => SessionError::Expired,
                _ => SessionError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> GoogleProfile {
        GoogleProfile {
            google_uid: "uid-1".into(),
            email: "a@example.com".into(),
            name: "A".into(),
            picture: None,
        }
    }

    #[test]
    fn a_session_round_trips_and_another_secret_is_refused() {
        let keys = SessionKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let now = chrono::Utc::now().timestamp();
        let jwt = keys.issue(&profile(), now);
        let claims = keys.verify(&jwt).unwrap();
        assert_eq!(claims.sub, "uid-1");
        let other = SessionKeys::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        assert_eq!(other.verify(&jwt), Err(SessionError::Invalid));
        let old = keys.issue(&profile(), now - 3600);
        assert_eq!(keys.verify(&old), Err(SessionError::Expired));
    }

    #[test]
    fn a_tokens_hash_is_stable_and_tells_sessions_apart() {
        // Revocation is keyed by the token's hash. Without a `jti`, the same profile signed
        // in twice within one second gets the same token, so signing out one ends both: they
        // are indistinguishable anyway. Another second or another user is another hash.
        let keys = SessionKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let a = keys.issue(&profile(), 1_000);
        assert_eq!(token_hash(&a), token_hash(&keys.issue(&profile(), 1_000)));
        assert_ne!(token_hash(&a), token_hash(&keys.issue(&profile(), 1_001)));
        let mut other = profile();
        other.google_uid = "uid-2".into();
        assert_ne!(token_hash(&a), token_hash(&keys.issue(&other, 1_000)));
        assert_eq!(token_hash(&a).len(), 64);
        assert!(!token_hash(&a).contains(&a[..20]));
    }
}
