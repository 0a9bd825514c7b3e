//! The OAuth token and revoke endpoints (tiktok-api.md §2): the authorization_code,
//! refresh_token and client_credentials grants, with TikTok's flat error body.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::v2::PostRequest;
use crate::ids::{log_id, random_string};
use crate::state::task::WebhookEvent;
use crate::state::{Inner, RefreshGrant};

/// The flat OAuth error: `{error, error_description, log_id}`.
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(inner: &Inner, error: &'static str, description: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(inner.knobs.oauth_error_status).unwrap_or(StatusCode::OK);
        Self {
            status,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body =
            json!({"error": self.error, "error_description": self.description, "log_id": log_id()});
        (self.status, axum::Json(body)).into_response()
    }
}

fn parse_form(
    headers: &HeaderMap,
    body: &[u8],
    inner: &Inner,
) -> Result<HashMap<String, String>, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::new(
            inner,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded.",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::new(
            inner,
            "invalid_request",
            "The request parameters are malformed.",
        )
    })?;
    Ok(pairs.into_iter().collect())
}

fn check_client(inner: &Inner, form: &HashMap<String, String>) -> Result<String, OAuthError> {
    let client_key = form
        .get("client_key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            OAuthError::new(
                inner,
                "invalid_request",
                "The request parameters are malformed: client_key is required.",
            )
        })?;
    let app = inner
        .tiktok
        .apps
        .get(client_key)
        .ok_or_else(|| OAuthError::new(inner, "invalid_client", "Client key is invalid."))?;
    if form.get("client_secret").map(String::as_str) != Some(app.client_secret.as_str()) {
        return Err(OAuthError::new(
            inner,
            "invalid_client",
            "Client secret is invalid.",
        ));
    }
    Ok(client_key.clone())
}

/// `POST /v2/oauth/token/` — authorization_code, refresh_token and client_credentials grants.
pub(crate) async fn token((State(s), headers, body): PostRequest) -> Response {
    let now = s.now();
    let mut inner = s.lock();
    match ClientRequest::read(&inner, now, &headers, &body)
        .and_then(|req| token_inner(&mut inner, &req))
    {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// A form a client posts with its key and secret (a token or revoke request), once checked.
struct ClientRequest {
    now: chrono::DateTime<chrono::Utc>,
    form: HashMap<String, String>,
    client_key: String,
}

impl ClientRequest {
    /// Reads the form and checks the client's key and secret.
    fn read(
        inner: &Inner,
        now: chrono::DateTime<chrono::Utc>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Self, OAuthError> {
        let form = parse_form(headers, body, inner)?;
        let client_key = check_client(inner, &form)?;
        Ok(Self {
            now,
            form,
            client_key,
        })
    }
}

fn token_inner(inner: &mut Inner, req: &ClientRequest) -> Result<Response, OAuthError> {
    let form = &req.form;
    let grant_type = field(form, "grant_type").ok_or_else(|| missing(inner, "grant_type"))?;
    match grant_type.as_str() {
        "authorization_code" => exchange_code(inner, req),
        "refresh_token" => refresh(inner, req),
        "client_credentials" => {
            let token = format!("clt.{}", random_string(48));
            Ok(axum::Json(
                json!({"access_token": token, "expires_in": 7200, "token_type": "Bearer"}),
            )
            .into_response())
        }
        other => Err(OAuthError::new(
            inner,
            "unsupported_grant_type",
            format!("The grant type {other} is not supported."),
        )),
    }
}

/// A non-empty form field.
fn field(form: &HashMap<String, String>, k: &str) -> Option<String> {
    form.get(k).filter(|v| !v.is_empty()).cloned()
}

fn missing(inner: &Inner, k: &str) -> OAuthError {
    OAuthError::new(
        inner,
        "invalid_request",
        format!("The request parameters are malformed: {k} is required."),
    )
}

/// The `authorization_code` grant: a fresh, unused code of this client, its redirect URI
/// and, when the code was issued with a challenge, the matching verifier.
fn exchange_code(inner: &mut Inner, req: &ClientRequest) -> Result<Response, OAuthError> {
    let (now, form, client_key) = (req.now, &req.form, req.client_key.as_str());
    let code = field(form, "code").ok_or_else(|| missing(inner, "code"))?;
    let Some(c) = inner.tiktok.codes.get(&code) else {
        return Err(OAuthError::new(
            inner,
            "invalid_grant",
            "Authorization code is invalid.",
        ));
    };
    if c.used {
        return Err(OAuthError::new(
            inner,
            "invalid_grant",
            "Authorization code has already been used.",
        ));
    }
    if c.expires_at <= now {
        return Err(OAuthError::new(
            inner,
            "invalid_grant",
            "Authorization code is expired.",
        ));
    }
    if c.client_key != *client_key {
        return Err(OAuthError::new(
            inner,
            "invalid_grant",
            "Authorization code was issued to another client.",
        ));
    }
    if field(form, "redirect_uri").as_deref() != Some(c.redirect_uri.as_str()) {
        return Err(OAuthError::new(
            inner,
            "invalid_request",
            "Redirect_uri is not matched with the uri when requesting code.",
        ));
    }
    check_verifier(
        inner,
        c.code_challenge.as_ref(),
        field(form, "code_verifier").as_ref(),
    )?;
    let (open_id, scopes) = (c.open_id.clone(), c.scopes.clone());
    if let Some(c) = inner.tiktok.codes.get_mut(&code) {
        c.used = true;
    }
    let resp = inner.issue_tokens(now, client_key, &open_id, &scopes, RefreshGrant::New(None));
    inner
        .tiktok
        .token_event(now, "issued", client_key, &open_id);
    Ok(axum::Json(resp).into_response())
}

/// PKCE: TikTok's desktop flow compares the hex SHA-256 of the verifier with the challenge.
fn check_verifier(
    inner: &Inner,
    challenge: Option<&String>,
    verifier: Option<&String>,
) -> Result<(), OAuthError> {
    let valid = match (challenge, verifier) {
        (Some(challenge), Some(v)) => {
            let valid_chars = v.len() >= 43
                && v.len() <= 128
                && v.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-._~".contains(ch));
            // TikTok's desktop PKCE uses the hex SHA-256, not RFC 7636's base64url.
            let hexed = hex::encode(Sha256::digest(v.as_bytes()));
            valid_chars && hexed.eq_ignore_ascii_case(challenge)
        }
        (Some(_), None) => false,
        (None, Some(_)) => !inner.knobs.reject_stray_code_verifier,
        (None, None) => true,
    };
    if valid {
        Ok(())
    } else {
        Err(OAuthError::new(
            inner,
            "invalid_request",
            "Code verifier or code challenge is invalid.",
        ))
    }
}

/// The `refresh_token` grant, with the knobs' rotation and revocation rules.
fn refresh(inner: &mut Inner, req: &ClientRequest) -> Result<Response, OAuthError> {
    let (now, form, client_key) = (req.now, &req.form, req.client_key.as_str());
    let token = field(form, "refresh_token").ok_or_else(|| missing(inner, "refresh_token"))?;
    let found = inner
        .tiktok
        .refresh
        .iter()
        .position(|t| t.token == token && t.client_key == *client_key);
    let refuse = |inner: &mut Inner, open_id: &str| {
        inner
            .tiktok
            .token_event(now, "refresh_refused", client_key, open_id);
        OAuthError::new(
            inner,
            "invalid_grant",
            "Refresh token is invalid or expired.",
        )
    };
    let Some(idx) = found else {
        return Err(refuse(inner, ""));
    };
    let old = &inner.tiktok.refresh[idx];
    let open_id = old.open_id.clone();
    if old.revoked || old.expires_at <= now || inner.knobs.refresh_always_invalid_grant {
        return Err(refuse(inner, &open_id));
    }
    let (scopes, old_expiry) = (old.scopes.clone(), old.expires_at);
    let knobs = inner.knobs.clone();
    if knobs.refresh_revokes_old_access_token {
        for t in inner
            .tiktok
            .access
            .iter_mut()
            .filter(|t| t.client_key == *client_key && t.open_id == open_id)
        {
            t.revoked = true;
        }
    }
    let resp = if knobs.rotate_refresh_tokens {
        if !knobs.keep_old_refresh_token {
            inner.tiktok.refresh[idx].revoked = true;
        }
        let expiry = if knobs.refresh_resets_window {
            None
        } else {
            Some(old_expiry)
        };
        inner.issue_tokens(
            now,
            client_key,
            &open_id,
            &scopes,
            RefreshGrant::New(expiry),
        )
    } else {
        inner.issue_tokens(
            now,
            client_key,
            &open_id,
            &scopes,
            RefreshGrant::Reuse(token, old_expiry),
        )
    };
    inner
        .tiktok
        .token_event(now, "refreshed", client_key, &open_id);
    Ok(axum::Json(resp).into_response())
}

/// `POST /v2/oauth/revoke/` — revokes the user's access (every token of that app + creator).
pub(crate) async fn revoke((State(s), headers, body): PostRequest) -> Response {
    let now = s.now();
    let (resp, events) = {
        let mut inner = s.lock();
        match ClientRequest::read(&inner, now, &headers, &body)
            .and_then(|req| revoke_inner(&mut inner, &req))
        {
            Ok(events) => (axum::Json(json!({})).into_response(), events),
            Err(e) => (e.into_response(), Vec::new()),
        }
    };
    s.emit(events);
    resp
}

fn revoke_inner(inner: &mut Inner, req: &ClientRequest) -> Result<Vec<WebhookEvent>, OAuthError> {
    let (now, client_key) = (req.now, &req.client_key);
    let token = req
        .form
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            OAuthError::new(
                inner,
                "invalid_request",
                "The request parameters are malformed: token is required.",
            )
        })?;
    let Some(t) = inner
        .tiktok
        .access
        .iter()
        .find(|t| &t.token == token && t.client_key == *client_key)
    else {
        return Err(OAuthError::new(
            inner,
            "invalid_request",
            "The access token is invalid or not found.",
        ));
    };
    if t.revoked {
        return Ok(Vec::new());
    }
    let open_id = t.open_id.clone();
    Ok(inner.tiktok.revoke_grant(now, client_key, &open_id))
}
