//! Connecting TikTok accounts: the redirect to TikTok's consent page and the callback.
//!
//! `state` is random (256 bits), single-use (taken from the store on the callback), short-lived
//! (10 minutes) and bound to the session's user: a callback from another user's browser, a
//! replayed or made-up state are all refused before the code is used.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::Redirect;
use base64::Engine;
use jobs::accounts::{self, SCOPES};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

const STATE_TTL_MINUTES: i64 = 10;

/// Only a hash of the state is stored: a database reader cannot complete someone's flow.
fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// `GET /auth/tiktok/connect` → 302 to TikTok's authorize page.
pub async fn connect(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Redirect, ApiError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let oauth_state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let expires = chrono::Utc::now() + chrono::Duration::minutes(STATE_TTL_MINUTES);
    state
        .store
        .put_oauth_state(&state_hash(&oauth_state), user.user.id, expires)
        .await?;
    let url =
        state
            .jobs
            .tiktok
            .authorize_url(&SCOPES, &state.config.tiktok_redirect_uri, &oauth_state);
    Ok(Redirect::to(url.as_str()))
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    scopes: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/tiktok/callback`: checks `state`, exchanges the code, stores the account, and
/// sends the browser back to the accounts page with the outcome in the query.
pub async fn callback(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<Callback>,
) -> Result<Redirect, ApiError> {
    let bad_state = || {
        ApiError::Invalid {
        code: "invalid_oauth_state",
        message: "this TikTok sign-in link is not valid (expired, already used, or not yours); start again from Accounts".into(),
    }
    };
    let given = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(bad_state)?;
    let owner = state
        .store
        .take_oauth_state(&state_hash(given), chrono::Utc::now())
        .await?
        .ok_or_else(bad_state)?;
    if owner != user.user.id {
        return Err(bad_state());
    }
    if let Some(err) = q.error.as_deref() {
        // access_denied: the creator clicked "Deny"; anything else is TikTok refusing the app.
        let code = if err == "access_denied" {
            "access_denied"
        } else {
            "tiktok_refused"
        };
        return Ok(Redirect::to(&format!("/accounts?error={code}")));
    }
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::BadRequest("the callback has no code".into()))?;
    let account = accounts::connect(&state.jobs, user.user.id, code)
        .await
        .map_err(ApiError::from_connect)?;
    tracing::info!(account_id = %account.id, granted = q.scopes.as_deref().map(|s| s.split(',').count()).unwrap_or(0), "TikTok account connected");
    Ok(Redirect::to(&format!("/accounts?connected={}", account.id)))
}
