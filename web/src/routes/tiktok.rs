//! Connecting TikTok accounts: the redirect to TikTok's consent page and the callback. The
//! `state` rules (random, single-use, short-lived, bound to the user) are
//! `jobs::domain::connect_account`'s.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::Redirect;
use jobs::domain::connect_account;
use serde::Deserialize;

/// `GET /auth/tiktok/connect` → 302 to TikTok's authorize page.
pub async fn connect(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Redirect, ApiError> {
    let url = connect_account::start(&state.jobs, user.user.id).await?;
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
    connect_account::take_state(&state.jobs, user.user.id, q.state.as_deref()).await?;
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
    let account = connect_account::complete(&state.jobs, user.user.id, code)
        .await
        .map_err(ApiError::from_connect)?;
    tracing::info!(account_id = %account.id, granted = q.scopes.as_deref().map(|s| s.split(',').count()).unwrap_or(0), "TikTok account connected");
    Ok(Redirect::to(&format!("/accounts?connected={}", account.id)))
}
