//! Google sign-in → our session cookie; sign-out; who am I.
//!
//! A sign-in is bound to the browser that started it (against login CSRF: a link carrying
//! someone else's ID token must not sign the visitor into that account). `POST
//! /auth/google/start` draws a random `state`, keeps it in a short-lived HttpOnly cookie and
//! returns the Google sign-in page's address carrying it; that page hands it back in the
//! fragment with the token, and `POST /auth/session` only accepts a token sent with the state
//! of the cookie, which it deletes whatever the outcome (one attempt per start). The login
//! page's script also checks the state against the copy it keeps in its tab's sessionStorage
//! before it sends anything.

use crate::auth::{CurrentUser, SessionUser, cleared_session_cookie, session_cookie};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use jobs::config::Config;
use jobs::identity::session::{COOKIE_NAME, token_hash};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// How long a started sign-in may take (choosing an account, a second factor) before its state
/// cookie lapses and the creator has to click "Sign in with Google" again.
pub const SIGNIN_STATE_TTL_MINUTES: i64 = 10;

/// The pending sign-in's cookie. In production it carries the `__Host-` prefix, so the browser
/// only accepts it from this host over HTTPS with `Path=/`: a sibling subdomain cannot plant a
/// state of its choosing ("cookie tossing"). Development runs on plain http, where browsers
/// refuse `__Host-` cookies off localhost.
pub fn signin_state_cookie_name(config: &Config) -> &'static str {
    if config.is_production() {
        "__Host-signin_state"
    } else {
        "signin_state"
    }
}

/// The pending-sign-in cookie: HttpOnly, SameSite=Lax (the login page's same-site `POST
/// /auth/session` carries it, another site's POST does not), Path=/, Secure in production.
fn signin_state_cookie(config: &Config, value: String) -> Cookie<'static> {
    Cookie::build((signin_state_cookie_name(config), value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(config.is_production())
        .max_age(time::Duration::minutes(SIGNIN_STATE_TTL_MINUTES))
        .build()
}

/// The Google sign-in page's address: `return_to` is our `/login`, whose script takes the ID
/// token and the state from the fragment; `state` comes back with them.
fn signin_url(config: &Config, signin_state: &str) -> Option<url::Url> {
    let mut url = config.identity.google_signin_url.clone()?;
    let back = config.server.public_url.join("/login").ok()?;
    url.query_pairs_mut()
        .append_pair("return_to", back.as_str())
        .append_pair("state", signin_state);
    Some(url)
}

/// `POST /auth/google/start` → `{signin_url, state}` and the pending-sign-in cookie. Public. A
/// new start replaces the browser's previous pending sign-in.
pub async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let signin_state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let url = signin_url(&state.config, &signin_state).ok_or_else(|| {
        ApiError::Unavailable("Google sign-in (GOOGLE_SIGNIN_URL is not set on this server)".into())
    })?;
    Ok((
        jar.add(signin_state_cookie(&state.config, signin_state.clone())),
        Json(json!({ "signin_url": url.as_str(), "state": signin_state })),
    ))
}

/// `POST /auth/session`'s body, as the login page's script sends it.
#[derive(Deserialize)]
pub struct SignIn {
    id_token: String,
    /// The state the sign-in page returned next to the token (see the module's doc).
    #[serde(default)]
    state: Option<String>,
}

/// Refuses a token that does not come back to the browser that started its sign-in.
fn check_signin_state(pending: Option<&str>, returned: Option<&str>) -> Result<(), ApiError> {
    let Some(pending) = pending.filter(|p| !p.is_empty()) else {
        return Err(ApiError::Invalid {
            code: "signin_not_started",
            message: format!(
                "This sign-in was not started in this browser (or it was already used, or took \
                 more than {SIGNIN_STATE_TTL_MINUTES} minutes), so you were not signed in. \
                 Click \"Sign in with Google\" to sign in to your own account."
            ),
        });
    };
    // Hashing both sides first makes the comparison's timing independent of the secret value.
    let same = returned.is_some_and(|r| Sha256::digest(r) == Sha256::digest(pending));
    if !same {
        return Err(ApiError::Invalid {
            code: "signin_state_mismatch",
            message: "This sign-in is not the one this browser started, so you were not signed \
                      in: a link can carry someone else's sign-in. Click \"Sign in with \
                      Google\" to sign in to your own account."
                .into(),
        });
    }
    Ok(())
}

/// `POST /auth/session {id_token, state}`: checks `state` against the pending-sign-in cookie
/// (and deletes that cookie, whatever the outcome), verifies the Firebase ID token, upserts the
/// user (Google uid, email, name, picture: nothing else) and sets the session cookie.
pub async fn create(
    State(state): State<AppState>,
    jar: CookieJar,
    Json(body): Json<SignIn>,
) -> Result<impl IntoResponse, (CookieJar, ApiError)> {
    let cookie_name = signin_state_cookie_name(&state.config);
    let pending = jar.get(cookie_name).map(|c| c.value().to_owned());
    let jar = if pending.is_some() {
        let mut used = signin_state_cookie(&state.config, String::new());
        used.make_removal();
        jar.add(used)
    } else {
        jar
    };
    match sign_in(&state, pending.as_deref(), &body).await {
        Ok((jwt, me)) => Ok((jar.add(session_cookie(&state, jwt)), Json(me))),
        Err(e) => Err((jar, e)),
    }
}

/// The checks and the user upsert of [`create`]; answers the session JWT and `/api/me`'s body.
async fn sign_in(
    state: &AppState,
    pending: Option<&str>,
    body: &SignIn,
) -> Result<(String, serde_json::Value), ApiError> {
    check_signin_state(pending, body.state.as_deref())?;
    let profile = state.id_tokens.verify(&body.id_token).await?;
    let user = state.store.upsert_user(&profile).await?;
    if user.erasing_since.is_some() {
        // No session for a user being erased; once the job is done, signing in starts afresh.
        return Err(ApiError::Conflict {
            code: "account_being_erased",
            message: "Your account is being erased as you asked. Sign in again in a few minutes \
                      to start afresh."
                .into(),
        });
    }
    let jwt = state
        .sessions
        .issue(&profile, chrono::Utc::now().timestamp());
    tracing::info!(user_id = %user.id, "signed in");
    Ok((jwt, me_json(&user)))
}

// ---- signing out (this session, or every session) ----

/// `DELETE /auth/session`: ends this session on the server, then clears the cookie. The
/// cookie's hash goes on the revocation list until the cookie's own expiry, so a copy of it
/// (another tab kept it, someone lifted it) is refused from now on, not just forgotten by this
/// browser. Without a valid cookie there is nothing to end: the cookie is cleared all the same.
pub async fn delete(
    State(state): State<AppState>,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(cookie) = jar.get(COOKIE_NAME)
        && let Ok(claims) = state.sessions.verify(cookie.value())
    {
        let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("session exp out of range")))?;
        // A failure is reported, not swallowed: the person must not believe they signed out
        // while the session still works.
        state
            .store
            .revoke_session(&token_hash(cookie.value()), expires_at)
            .await?;
    }
    Ok((
        jar.add(cleared_session_cookie(&state)),
        StatusCode::NO_CONTENT,
    ))
}

/// `DELETE /auth/sessions`: "sign out everywhere". Every session cookie of this user issued
/// until now is refused from now on (the user's `sessions_revoked_at`, checked against each
/// cookie's `iat`), this browser's included. API keys are not sessions and keep working;
/// they are revoked one by one on the Settings page. Browser session only.
pub async fn revoke_all(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    let user = state
        .store
        .revoke_user_sessions(user.user.id, chrono::Utc::now())
        .await?;
    tracing::info!(user_id = %user.id, "signed out everywhere");
    let sign_in_from = chrono::DateTime::from_timestamp(user.sessions_valid_from(), 0);
    Ok((
        jar.add(cleared_session_cookie(&state)),
        Json(json!({
            "status": "signed_out_everywhere",
            // Cookies carry whole seconds: a sign-in within the second of this request would
            // count as before it, so a new session works from this instant on.
            "sign_in_again_from": sign_in_from,
        })),
    ))
}

/// `GET /api/me`.
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> Json<serde_json::Value> {
    let mut body = me_json(&user.user);
    body["google_uid"] = json!(user.user.google_uid);
    body["is_ops"] = json!(crate::auth::is_ops(&state, &user.user));
    Json(body)
}

fn me_json(u: &jobs::model::User) -> serde_json::Value {
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "picture": u.picture,
        "created_at": u.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<(), ApiError>) -> Option<&'static str> {
        match r {
            Ok(()) => None,
            Err(ApiError::Invalid { code, .. }) => Some(code),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_token_is_only_taken_with_the_state_this_browser_is_waiting_for() {
        assert_eq!(code(check_signin_state(Some("abc"), Some("abc"))), None);
        assert_eq!(
            code(check_signin_state(None, Some("abc"))),
            Some("signin_not_started")
        );
        assert_eq!(
            code(check_signin_state(Some(""), Some(""))),
            Some("signin_not_started")
        );
        assert_eq!(
            code(check_signin_state(Some("abc"), None)),
            Some("signin_state_mismatch")
        );
        assert_eq!(
            code(check_signin_state(Some("abc"), Some("abd"))),
            Some("signin_state_mismatch")
        );
    }
}
