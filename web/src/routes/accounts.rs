//! Connected TikTok accounts: list, live posting options, disconnect.

use crate::auth::{CurrentUser, SessionUser};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::account_json;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jobs::domain::posts::unaudited;
use jobs::model::AccountId;
use serde_json::json;

fn parse_id(s: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(s).map_err(|_| ApiError::NotFound)
}

/// `GET /api/accounts`.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let accounts = state.store.list_accounts(user.workspace).await?;
    Ok(Json(
        json!({ "accounts": accounts.iter().map(account_json).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/accounts/{id}/creator-info`: live posting options (the compose form's source of truth).
/// While TikTok has not audited the app the options are only what it would accept
/// (`SELF_ONLY`), and `private_only_reason` says why (null otherwise).
pub async fn creator_info(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    let info = jobs::domain::paced::creator_info_paced(&state.jobs, user.workspace, id).await?;
    let audited = state.jobs.config.tiktok.app_audited;
    Ok(Json(json!({
        "creator_nickname": info.creator_nickname,
        "creator_username": info.creator_username,
        "creator_avatar_url": info.creator_avatar_url,
        "privacy_level_options": unaudited::offered_privacy(audited, &info),
        "private_only_reason": unaudited::private_only_reason(audited, &info),
        "comment_disabled": info.comment_disabled,
        "duet_disabled": info.duet_disabled,
        "stitch_disabled": info.stitch_disabled,
        "max_video_post_duration_sec": info.max_video_post_duration_sec,
    })))
}

/// `DELETE /api/accounts/{id}`: hides the account at once and queues revoke + delete.
/// Browser session only: losing an account is the person's decision, not a script's.
pub async fn disconnect(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    jobs::handlers::disconnect_account::request(&state.jobs, user.actor(), parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}
