//! `POST /api/post-groups`: one compose sent to several accounts (`jobs::domain::post_groups`).
//! An `Idempotency-Key` makes a retry after a timeout or a half-way failure finish the group
//! instead of doubling it.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::routes::posts::idempotency_key;
use crate::state::AppState;
use crate::views::post_json;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use jobs::domain::campaigns::MAX_KEY;
use jobs::domain::post_groups::{self, NewGroup};
use serde_json::json;

/// `POST /api/post-groups` → 202 with the group's id and one post per target, in target order
/// (200 when an `Idempotency-Key` replays a group already made).
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Result<Json<NewGroup>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::Invalid {
        code: "invalid_body",
        message: e.body_text(),
    })?;
    let key = idempotency_key(&headers, MAX_KEY)?;
    let group = post_groups::create(&state.jobs, user.actor(), body, key).await?;
    let status = if group.created() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let accounts = state.store.list_accounts(user.workspace).await?;
    let posts: Vec<_> = group
        .posts
        .iter()
        .map(|p| {
            let username = accounts
                .iter()
                .find(|a| a.id == p.value.account_id)
                .and_then(|a| a.username.as_deref());
            post_json(&p.value, username)
        })
        .collect();
    Ok((status, Json(json!({ "id": group.id, "posts": posts }))))
}
