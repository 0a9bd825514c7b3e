//! Verifies Firebase ID tokens (Google sign-in) the way Firebase documents it:
//! RS256 only; `kid` looked up in Google's published x509 certificates (cached for the response's
//! `Cache-Control: max-age`, re-fetched on an unknown `kid` at most once a minute);
//! `iss = https://securetoken.google.com/<project>`, `aud = <project>`; `exp`, `iat` and
//! `auth_time` checked with a small leeway; a non-empty `sub`.

use crate::model::GoogleProfile;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use url::Url;

/// Clock skew we tolerate between Google and us.
const LEEWAY_SECS: u64 = 60;

/// Why an ID token was refused. Each has its own stable code (see [`IdTokenError::code`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdTokenError {
    #[error("the sign-in token is malformed")]
    Malformed,
    #[error("the sign-in token uses algorithm {0}; only RS256 is accepted")]
    Algorithm(String),
    #[error("the sign-in token was signed by an unknown key")]
    UnknownKid,
    #[error("the sign-in token's signature is invalid")]
    BadSignature,
    #[error("the sign-in token has expired; sign in again")]
    Expired,
    #[error("the sign-in token was issued for another project")]
    WrongAudience,
    #[error("the sign-in token was issued by someone else")]
    WrongIssuer,
    #[error("the sign-in token is dated in the future")]
    NotYetValid,
    #[error("the sign-in token has no subject")]
    MissingSubject,
    #[error("Google's signing certificates are unavailable: {0}")]
    CertsUnavailable(String),
}

impl IdTokenError {
    /// The machine-readable code for the API error body.
    pub fn code(&self) -> &'static str {
        match self {
            IdTokenError::Malformed => "id_token_malformed",
            IdTokenError::Algorithm(_) => "id_token_algorithm",
            IdTokenError::UnknownKid => "id_token_unknown_kid",
            IdTokenError::BadSignature => "id_token_bad_signature",
            IdTokenError::Expired => "id_token_expired",
            IdTokenError::WrongAudience => "id_token_wrong_audience",
            IdTokenError::WrongIssuer => "id_token_wrong_issuer",
            IdTokenError::NotYetValid => "id_token_not_yet_valid",
            IdTokenError::MissingSubject => "id_token_missing_subject",
            IdTokenError::CertsUnavailable(_) => "id_token_certs_unavailable",
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    picture: Option<String>,
    iat: i64,
    #[serde(default)]
    auth_time: Option<i64>,
}

struct CertCache {
    keys: HashMap<String, DecodingKey>,
    fresh_until: Instant,
    fetched_at: Instant,
}

/// Verifies ID tokens against one Firebase project. Cheap to share (`Arc`).
pub struct IdTokenVerifier {
    http: reqwest::Client,
    certs_url: Url,
    project_id: String,
    /// An unknown `kid` triggers at most one re-fetch per this interval (a flood of forged kids
    /// must not turn into a flood of requests to Google).
    refetch_interval: Duration,
    cache: Mutex<Option<CertCache>>,
}

impl IdTokenVerifier {
    /// A verifier with its own HTTP client: callers never hand in (or see) a `reqwest` type.
    pub fn new(certs_url: Url, project_id: String, refetch_interval: Duration) -> Self {
        Self {
            http: reqwest::Client::new(),
            certs_url,
            project_id,
            refetch_interval,
            cache: Mutex::new(None),
        }
    }

    /// Verifies the token and returns the profile it asserts.
    pub async fn verify(&self, token: &str) -> Result<GoogleProfile, IdTokenError> {
        let (alg, kid) = header_alg_kid(token)?;
        if alg != "RS256" {
            return Err(IdTokenError::Algorithm(alg));
        }
        let kid = kid.ok_or(IdTokenError::Malformed)?;
        let key = self.key_for(&kid).await?;

        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = LEEWAY_SECS;
        v.set_audience(&[&self.project_id]);
        v.set_issuer(&[format!(
            "https://securetoken.google.com/{}",
            self.project_id
        )]);
        v.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &v).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => IdTokenError::BadSignature,
            ErrorKind::ExpiredSignature => IdTokenError::Expired,
            ErrorKind::InvalidAudience => IdTokenError::WrongAudience,
            ErrorKind::InvalidIssuer => IdTokenError::WrongIssuer,
            ErrorKind::ImmatureSignature => IdTokenError::NotYetValid,
            ErrorKind::InvalidAlgorithm => IdTokenError::Algorithm("mismatch".into()),
            _ => IdTokenError::Malformed,
        })?;
        let c = data.claims;
        let now = chrono::Utc::now().timestamp();
        let latest = now + LEEWAY_SECS as i64;
        if c.iat > latest || c.auth_time.is_some_and(|t| t > latest) {
            return Err(IdTokenError::NotYetValid);
        }
        if c.sub.trim().is_empty() {
            return Err(IdTokenError::MissingSubject);
        }
        Ok(GoogleProfile {
            email: c.email.unwrap_or_default(),
            name: c
                .name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "TikTok creator".into()),
            picture: c.picture.filter(|p| !p.is_empty()),
            google_uid: c.sub,
        })
    }

    /// The decoding key for `kid`: from the cache while fresh; an unknown kid re-fetches once per
    /// minute (Google rotates keys, and a new kid may precede our cache expiry).
    async fn key_for(&self, kid: &str) -> Result<DecodingKey, IdTokenError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let need_fetch = match cache.as_ref() {
            None => true,
            Some(c) if now >= c.fresh_until => true,
            Some(c) => {
                !c.keys.contains_key(kid)
                    && now.duration_since(c.fetched_at) >= self.refetch_interval
            }
        };
        if need_fetch {
            match self.fetch().await {
                Ok(fresh) => *cache = Some(fresh),
                // A stale cache is better than refusing everyone while Google hiccups.
                Err(e) if cache.is_none() => return Err(e),
                Err(e) => tracing::warn!(error = %e, "keeping stale Google certificates"),
            }
        }
        cache
            .as_ref()
            .and_then(|c| c.keys.get(kid).cloned())
            .ok_or(IdTokenError::UnknownKid)
    }

    async fn fetch(&self) -> Result<CertCache, IdTokenError> {
        let unavailable = |e: String| IdTokenError::CertsUnavailable(e);
        let resp = self
            .http
            .get(self.certs_url.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("HTTP {}", resp.status())));
        }
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age)
            .unwrap_or(Duration::from_secs(300));
        let certs: HashMap<String, String> =
            resp.json().await.map_err(|e| unavailable(e.to_string()))?;
        let mut keys = HashMap::new();
        for (kid, pem) in certs {
            match DecodingKey::from_rsa_pem(pem.as_bytes()) {
                Ok(k) => {
                    keys.insert(kid, k);
                }
                Err(e) => {
                    tracing::warn!(%kid, error = %e, "skipping unreadable Google certificate")
                }
            }
        }
        let now = Instant::now();
        tracing::debug!(
            keys = keys.len(),
            max_age_secs = max_age.as_secs(),
            "fetched Google certificates"
        );
        Ok(CertCache {
            keys,
            fresh_until: now + max_age,
            fetched_at: now,
        })
    }
}

/// Reads `alg` and `kid` from the header ourselves: jsonwebtoken cannot even parse `alg: none`,
/// and we want to say "wrong algorithm" rather than "malformed" for it.
fn header_alg_kid(token: &str) -> Result<(String, Option<String>), IdTokenError> {
    #[derive(Deserialize)]
    struct H {
        alg: String,
        #[serde(default)]
        kid: Option<String>,
    }
    let head = token.split('.').next().ok_or(IdTokenError::Malformed)?;
    if token.split('.').count() != 3 {
        return Err(IdTokenError::Malformed);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| IdTokenError::Malformed)?;
    let h: H = serde_json::from_slice(&raw).map_err(|_| IdTokenError::Malformed)?;
    Ok((h.alg, h.kid))
}

/// `public, max-age=19204, must-revalidate, no-transform` → 19204 s.
pub fn parse_max_age(v: &str) -> Option<Duration> {
    v.split(',')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("max-age="))
        .and_then(|n| n.parse().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            parse_max_age("public, max-age=19204, must-revalidate, no-transform"),
            Some(Duration::from_secs(19204))
        );
        assert_eq!(parse_max_age("no-cache"), None);
    }

    #[test]
    fn headers_that_are_not_rs256_are_named() {
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(header_alg_kid(&none).unwrap().0, "none");
        assert_eq!(header_alg_kid("abc"), Err(IdTokenError::Malformed));
    }
}
