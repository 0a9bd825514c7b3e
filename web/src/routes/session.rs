//! Google sign-in → our session cookie; sign-out; who am I.

use crate::auth::{CurrentUser, SessionUser, cleared_session_cookie, session_cookie};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use jobs::identity::session::{COOKIE_NAME, token_hash};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct SignIn {
    id_token: String,
}

/// `POST /auth/session {id_token}`: verifies the Firebase ID token, upserts the user (Google uid,
/// email, name, picture: nothing else) and sets the session cookie.
pub async fn create(
    State(state): State<AppState>,
    jar: CookieJar,
    Json(body): Json<SignIn>,
) -> Result<impl IntoResponse, ApiError> {
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
    Ok((jar.add(session_cookie(&state, jwt)), Json(me_json(&user))))
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
