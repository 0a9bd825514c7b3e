//! Who a user is and what keeps their secrets: Google sign-in through Firebase, the session, the
//! key ring that seals stored tokens, and the operators.

use super::server::{Mode, ServerConfig};
use super::vars::{Vars, err};
use super::{ConfigError, Secret};
use crate::vault::KeyRing;
use std::time::Duration;
use url::Url;

/// The development key ring and secrets: public on purpose, refused in production.
pub const DEV_TOKEN_KEYS: &str = "dev1:bWt0cG9zdC1kZXZlbG9wbWVudC1rZXktMzJieXRlcyE=";
pub const DEV_SESSION_SECRET: &str = "development-session-secret-not-for-production-use";
pub const DEV_FIREBASE_PROJECT: &str = "mktpost-dev";

/// Sign-in, sessions, keys and operators.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// `TOKEN_KEYS` = `v2:<base64 32 bytes>,v1:…` (first is current).
    pub token_keys: KeyRing,
    /// `SESSION_SECRET`: HMAC key of the session JWT; ≥ 32 bytes in production.
    pub session_secret: Secret,
    /// `SESSION_TTL_HOURS`, default 168 (7 days).
    pub session_ttl: Duration,
    /// `FIREBASE_PROJECT_ID`, default `mktpost-dev`.
    pub firebase_project_id: String,
    /// `GOOGLE_CERTS_URL`: Google's x509 certificate map for Firebase ID tokens (the sandbox's by default).
    pub google_certs_url: Url,
    /// `GOOGLE_CERTS_REFETCH_SECS`, default 60: an unknown `kid` re-fetches the certificates at
    /// most this often (a flood of forged kids must not become a flood of requests to Google).
    pub google_certs_refetch: Duration,
    /// `GOOGLE_SIGNIN_URL`: the page "Sign in with Google" opens (with `?return_to=&state=`); it
    /// sends the browser back to `/login#id_token=…&state=…`. The sandbox's page in development;
    /// in production the hosted page in `deploy/firebase-signin` (required, https).
    pub google_signin_url: Option<Url>,
    /// `OPS_GOOGLE_UIDS`: comma-separated Google account ids (`google_uid` in `GET /api/me`) of
    /// the operators who may use `/ops` and `/api/ops/*`. Ids, not emails: an id cannot be
    /// claimed by another sign-in provider's unverified address. Empty: nobody.
    pub ops_google_uids: Vec<String>,
}

impl IdentityConfig {
    pub(super) fn from_vars(v: &Vars<'_>, server: &ServerConfig) -> Result<Self, ConfigError> {
        let token_keys = KeyRing::parse(&v.get_or("TOKEN_KEYS", DEV_TOKEN_KEYS))
            .map_err(|e| err("TOKEN_KEYS", e.to_string()))?;
        let sandbox_base = server.sandbox_base();
        let google_signin_url = match v.get("GOOGLE_SIGNIN_URL") {
            Some(s) if s.is_empty() => None,
            Some(s) => Some(
                Url::parse(&s).map_err(|e| err("GOOGLE_SIGNIN_URL", format!("not a URL: {e}")))?,
            ),
            None if server.mode == Mode::Development => Some(
                Url::parse(&format!("{sandbox_base}/_google/signin"))
                    .map_err(|e| err("SANDBOX_BIND", e.to_string()))?,
            ),
            None => None,
        };
        Ok(Self {
            token_keys,
            session_secret: Secret::new(v.get_or("SESSION_SECRET", DEV_SESSION_SECRET)),
            session_ttl: v.hours("SESSION_TTL_HOURS", "168")?,
            firebase_project_id: v.get_or("FIREBASE_PROJECT_ID", DEV_FIREBASE_PROJECT),
            google_certs_url: v.url(
                "GOOGLE_CERTS_URL",
                &format!(
                    "{sandbox_base}/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
                ),
            )?,
            google_certs_refetch: v.secs("GOOGLE_CERTS_REFETCH_SECS", "60")?,
            google_signin_url,
            ops_google_uids: v
                .get("OPS_GOOGLE_UIDS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}
