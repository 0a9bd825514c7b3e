//! Connecting TikTok accounts: the redirect to TikTok's consent page and the callback. The
//! `state` rules (random, single-use, short-lived, bound to the user) are
//! `jobs::domain::connect_account`'s.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::Redirect;
use jobs::domain::connect_account::{self, Connected};
use serde::Deserialize;

/// `GET /auth/tiktok/connect` → 302 to TikTok's authorize page.
pub async fn connect(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Redirect, ApiError> {
    let url = connect_account::start(&state.jobs, user.actor()).await?;
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
    let cb = connect_account::Callback {
        state: q.state.as_deref(),
        code: q.code.as_deref(),
        error: q.error.as_deref(),
    };
    let outcome = match connect_account::callback(&state.jobs, user.user.id, cb).await? {
        Connected::Account(account) => account,
        Connected::Denied => return Ok(Redirect::to("/accounts?error=access_denied")),
        Connected::Refused => return Ok(Redirect::to("/accounts?error=tiktok_refused")),
    };
    let granted = q.scopes.as_deref().map_or(0, |s| s.split(',').count());
    tracing::info!(account_id = %outcome.id, granted, "TikTok account connected");
    Ok(Redirect::to(&format!("/accounts?connected={}", outcome.id)))
}
