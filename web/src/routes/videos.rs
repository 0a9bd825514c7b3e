//! Published videos of one connected account, read live from TikTok's `video.list`.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use jobs::model::AccountId;
use serde::Deserialize;
use serde_json::json;

/// TikTok's largest `video.list` page.
const PAGE_SIZE: u32 = 20;

#[derive(Deserialize)]
pub struct VideosQuery {
    /// The previous page's `cursor` (UTC milliseconds); absent for the newest videos.
    cursor: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/accounts/{id}/videos?cursor=&limit=` → `{videos:[{id,title,create_time,share_url,
/// duration}], cursor, has_more}`, newest first. Cover images are left out: they are signed
/// TikTok CDN URLs that our pages could not show without loading another origin.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<VideosQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = AccountId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let limit = q.limit.unwrap_or(PAGE_SIZE).clamp(1, PAGE_SIZE);
    let tiktok = state.jobs.tiktok.clone();
    let page =
        jobs::domain::accounts::with_fresh_token(&state.jobs, user.workspace, id, move |token| {
            let tiktok = tiktok.clone();
            async move { tiktok.video_list(&token, q.cursor, limit).await }
        })
        .await?;
    let videos: Vec<_> = page
        .videos
        .iter()
        .map(|v| {
            json!({
                "id": v.id,
                "title": v.title,
                "create_time": v.create_time,
                "share_url": v.share_url,
                "duration": v.duration,
            })
        })
        .collect();
    Ok(Json(json!({
        "videos": videos,
        "cursor": page.cursor,
        "has_more": page.has_more,
    })))
}
