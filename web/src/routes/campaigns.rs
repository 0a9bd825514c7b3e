//! `POST /api/campaigns`: many posts in one request (`jobs::domain::campaigns`), as JSON
//! (`{"posts": [row, …]}`) or CSV (`Content-Type: text/csv`, a header row, one row per post).
//! `Idempotency-Key` is required: it makes a retry after a timeout or a half-way failure finish
//! the campaign instead of doubling it.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::routes::posts::idempotency_key;
use crate::state::AppState;
use crate::views::post_json;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use jobs::domain::campaigns::{self, CampaignError, CampaignRow, MAX_KEY};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

/// 1,000 rows with long captions fit; the default 2 MB would not.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The route with its body limit.
pub fn route() -> MethodRouter<AppState> {
    post(create).layer(DefaultBodyLimit::max(BODY_LIMIT))
}

#[derive(Deserialize)]
struct JsonCampaign {
    posts: Vec<CampaignRow>,
}

/// `POST /api/campaigns` → 202 with one post per row (200 when every row already existed).
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers, MAX_KEY)?.ok_or_else(|| ApiError::Invalid {
        code: "idempotency_key_required",
        message: "send an Idempotency-Key header with a campaign, so that retrying it can never \
                  post twice"
            .into(),
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let rows = if content_type.starts_with("text/csv") {
        campaigns::parse_csv(&body)
    } else if content_type.starts_with("application/json") {
        serde_json::from_slice::<JsonCampaign>(&body)
            .map(|c| c.posts)
            .map_err(|e| {
                // serde quotes the offending value; a campaign can be megabytes, a message not.
                let why: String = e.to_string().chars().take(200).collect();
                CampaignError::Malformed(format!("the JSON body cannot be read: {why}"))
            })
    } else {
        return Err(ApiError::Invalid {
            code: "unsupported_content_type",
            message: "send the campaign as application/json ({\"posts\": [...]}) or text/csv"
                .into(),
        });
    };
    let posts = campaigns::create(&state.jobs, user.actor(), rows?, &key)
        .await?
        .posts;
    let accounts = state.store.list_accounts(user.workspace).await?;
    let usernames: HashMap<_, _> = accounts.into_iter().map(|a| (a.id, a.username)).collect();
    let created = posts.iter().filter(|p| p.created).count();
    let status = if created == 0 {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let body = json!({
        "created": created,
        "already_created": posts.len() - created,
        "posts": posts
            .iter()
            .map(|p| {
                let username = usernames.get(&p.value.account_id).cloned().flatten();
                post_json(&p.value, username.as_deref())
            })
            .collect::<Vec<_>>(),
    });
    Ok((status, Json(body)).into_response())
}
