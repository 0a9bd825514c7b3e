//! Google sign-in → our session cookie; sign-out; who am I.

use crate::auth::{CurrentUser, cleared_session_cookie, session_cookie};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
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

/// `DELETE /auth/session`: clears the cookie.
pub async fn delete(State(state): State<AppState>, jar: CookieJar) -> impl IntoResponse {
    (
        jar.add(cleared_session_cookie(&state)),
        StatusCode::NO_CONTENT,
    )
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
